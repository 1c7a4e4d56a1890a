"""Figures of the recurrent weights: the matrix itself and its eigenvalues."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from . import _data as d
from ..network import spectral_radius
from ._spec import colorscale, figure
from .style import COLORS, DIVERGING_SCALE, base_layout

__all__ = ["weight_figure", "spectrum_figure"]


def weight_figure(weight, max_side: int = 250) -> go.Figure:
    """Heatmap of a square recurrent weight matrix, row = receiving neuron, column = sending.

    ``rec(S)[i] = Σ_j W[i, j]·S[j]`` (``nn.Linear``), so row ``i`` lists
    what neuron ``i`` receives.  The diverging scale is centred at zero:
    excitation red, inhibition blue.  Beyond ``max_side`` neurons, blocks of
    ``k × k`` weights are averaged into one cell (the title says so), which
    keeps a 1,000-neuron matrix to a few hundred kilobytes.
    """
    w = d.as_matrix(weight)
    n = w.shape[0]
    max_side = d.check_int("max_side", max_side, 1)
    bound = float(np.max(np.abs(w))) or 1.0
    k = -(-n // max_side)
    z = w
    if k > 1:
        pad = (-n) % k
        padded = np.pad(w.astype(np.float64), ((0, pad), (0, pad)), constant_values=np.nan)
        z = np.nanmean(padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k), axis=(1, 3))
    data = [dict(
        type="heatmap", z=z.astype(np.float32), x0=(k - 1) / 2, dx=k, y0=(k - 1) / 2, dy=k,
        colorscale=colorscale(DIVERGING_SCALE),
        zmid=0.0, zmin=-bound, zmax=bound, name="weight",
        colorbar=dict(title=dict(text="W[i, j]")),
        hovertemplate="to neuron %{y} from neuron %{x}<br>W = %{z:.4g}<extra></extra>")]
    title = f"Recurrent weights ({n} × {n}): row receives, column sends"
    if k > 1:
        title += f"<br><sup>each cell averages a {k} × {k} block of weights</sup>"
    layout = base_layout(title=title,
                         kind="weights", x_title="sending neuron j", y_title="receiving neuron i",
                         legend=False, height=520)
    layout["meta"] = {"merged": k}
    layout["yaxis"].update(autorange="reversed", scaleanchor="x", constrain="domain")
    layout["xaxis"]["constrain"] = "domain"
    return figure(data, layout)


def _circle(radius: float, points: int = 361) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(0.0, 2.0 * np.pi, points)
    return radius * np.cos(a), radius * np.sin(a)


def spectrum_figure(weight, eigenvalues=None) -> go.Figure:
    """Eigenvalues of ``weight`` in the complex plane, with the unit circle and the spectral radius.

    ``eigenvalues`` may be given when already known (they take seconds for a
    1,000-neuron matrix, so pages cache them).
    Trace names: "eigenvalues", "unit circle", "spectral radius".
    """
    w = d.as_matrix(weight)
    eig = np.linalg.eigvals(w) if eigenvalues is None else np.asarray(eigenvalues)
    rho = spectral_radius(w, eig)  # checks the eigenvalues' shape
    ux, uy = _circle(1.0)
    rx, ry = _circle(rho)
    data = [dict(type="scatter", x=ux, y=uy, name="unit circle", mode="lines",
                 line=dict(color=COLORS["reference"], dash="dot", width=1), hoverinfo="skip"),
            dict(type="scatter", x=rx, y=ry, name="spectral radius", mode="lines",
                 line=dict(color=COLORS["threshold"], dash="dash", width=1.5),
                 hovertemplate=f"|λ| = {rho:.4g}<extra>spectral radius</extra>"),
            dict(type="scatter", x=eig.real, y=eig.imag, name="eigenvalues", mode="markers",
                 marker=dict(color=COLORS["eigen"], size=6, opacity=0.8),
                 customdata=np.abs(eig),
                 hovertemplate="λ = %{x:.4g} %{y:+.4g}i<br>|λ| = %{customdata:.4g}"
                               "<extra></extra>")]
    layout = base_layout(title=f"Eigenvalues of the recurrent weights: spectral radius ρ = {rho:.4g}",
                         kind="spectrum", x_title="real part Re λ", y_title="imaginary part Im λ",
                         height=520)
    layout["yaxis"].update(scaleanchor="x", scaleratio=1, zeroline=True)
    layout["xaxis"]["zeroline"] = True
    layout["meta"] = {"spectral_radius": rho}
    return figure(data, layout)
