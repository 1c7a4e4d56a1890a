"""The surrogate gallery: each spike function's forward step and backward derivative.

Every surrogate in :mod:`rleaky_viz.core.surrogate` spikes the same way on
the way forward, ``S = H(z)`` with ``z = U - θ`` and ``H(0) = 0``; only the
factor ``dS/dz`` that autograd uses on the way back differs.  The curves
drawn here are what autograd returns through the real spike function, so
the figure shows what training sees, including the reference's oddities,
which are marked on the chart and put into words by
:func:`surrogate_oddities`.

``SSO`` draws fresh noise on every backward pass; to keep the figure a pure
function of its arguments the noise is drawn from a forked copy of torch's
global generator seeded with ``seed``, which leaves the caller's random
state untouched.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from ..core.surrogate import SURROGATES, Surrogate, make_surrogate
from ..simulate import seeded_global_rng
from . import _data as d
from ._spec import figure, subplot_layout
from .style import COLORS, SEQUENCE, base_layout, with_alpha

__all__ = ["surrogate_figure", "surrogate_oddities", "surrogate_table", "surrogate_label",
           "surrogate_formula", "PARAM_RANGES", "TABLE_POINTS"]

# Bounds, step and help for every parameter's control in the gallery:
# (min, max, step, help).  Wider values are legal in the core; these keep the
# curves on a readable scale and away from divisions by zero (a negative
# fast-sigmoid slope has a pole at |z| = 1/|k|).
PARAM_RANGES: dict[tuple[str, str], tuple[float, float, float, str]] = {
    ("atan", "alpha"): (0.1, 50.0, 0.5, "α: the peak is α/2, the width about 2/(πα)"),
    ("fast_sigmoid", "slope"): (0.1, 500.0, 1.0, "k: larger is narrower; the peak is always 1"),
    ("sigmoid", "slope"): (0.1, 500.0, 1.0, "k: larger is narrower and taller (peak k/4)"),
    ("triangular", "threshold"): (-10.0, 10.0, 0.1, "the height of the signed step"),
    ("spike_rate_escape", "beta"): (0.0, 50.0, 0.1, "β: how fast it falls away from z = 1"),
    ("spike_rate_escape", "slope"): (0.1, 500.0, 1.0, "k: the height of the peak"),
    ("SFS", "slope"): (0.1, 500.0, 1.0, "k of the fast sigmoid it keeps"),
    ("SFS", "B"): (-10.0, 10.0, 0.1, "B: no gradient at all for z ≤ B"),
    ("SSO", "mean"): (-10.0, 10.0, 0.1, "shifts the noise below threshold"),
    ("SSO", "variance"): (0.0, 10.0, 0.05, "scales the noise below threshold"),
    ("LSO", "slope"): (-10.0, 10.0, 0.05, "the gradient where the neuron did not spike"),
}

# Where surrogate_table samples the derivative.
TABLE_POINTS = (-1.0, -0.5, 0.0, 0.5, 1.0)

# ln of the largest float32: exp(x) overflows beyond it.
_FLOAT32_LOG_MAX = math.log(float(torch.finfo(torch.float32).max))

_FORMULAS = {
    "atan": "(α/2) / (1 + (π/2·α·z)²)",
    "fast_sigmoid": "1 / (k|z| + 1)²",
    "sigmoid": "k·e^(−kz) / (e^(−kz) + 1)²",
    "straight_through_estimator": "1",
    "triangular": "+thr for z < 0, −thr for z ≥ 0",
    "spike_rate_escape": "k·exp(−β|z − 1|)",
    "heaviside": "H(z): 1 for z > 0, else 0",
    "SFS": "1 / (k|z| + 1)² for z > B, else 0",
    "SSO": "1 for z > 0, else (u − 0.5 + mean)·variance, u ~ U[0, 1)",
    "LSO": "1 for z > 0, else k",
}

_DASHES = ("solid", "dash", "dot")
# The curves' colours: the palette less the threshold's and the spikes' own colours,
# which mark the threshold line and the forward step here as everywhere else.
_CURVE_COLORS = [c for c in SEQUENCE if c not in (COLORS["threshold"], COLORS["spikes"])]
_MAX_POINTS = 100_001


# --------------------------------------------------------------------------- checks

def _check_one(index: int, item) -> tuple[str, dict, Surrogate]:
    where = f"surrogates[{index}]"
    if isinstance(item, str):
        name, params = item, None
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        name, params = item
    else:
        raise ValueError(f"{where} must be a (name, params) pair, got {item!r}")
    if name not in SURROGATES:
        raise ValueError(f"{where}: unknown surrogate {name!r}; allowed: {', '.join(SURROGATES)}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"{where}: params must be a dict, got {params!r}")
    merged = {**SURROGATES[name], **params}
    try:
        surrogate = make_surrogate(name, merged)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    return name, dict(surrogate.params), surrogate


def _check_surrogates(surrogates) -> list[tuple[str, dict, Surrogate]]:
    if isinstance(surrogates, (str, dict)) or not isinstance(surrogates, Sequence):
        raise ValueError("surrogates must be a list of (name, params) pairs, "
                         f"got {surrogates!r}")
    if len(surrogates) == 0:
        raise ValueError("surrogates must name at least one surrogate")
    checked, seen = [], {}
    for i, item in enumerate(surrogates):
        name, params, surrogate = _check_one(i, item)
        label = surrogate_label(name, params)
        if label in seen:
            raise ValueError(f"surrogates[{i}] repeats surrogates[{seen[label]}] ({label})")
        seen[label] = i
        checked.append((name, params, surrogate))
    return checked


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _check_range(pair, name: str) -> tuple[float, float]:
    if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {pair!r}")
    lo, hi = _real(f"{name}[0]", pair[0]), _real(f"{name}[1]", pair[1])
    if not lo < hi:
        raise ValueError(f"{name} must have low < high, got {pair!r}")
    return lo, hi


def _check_args(surrogates, z_range, points, seed):
    checked = _check_surrogates(surrogates)
    lo, hi = _check_range(z_range, "z_range")
    points = d.check_int("points", points, 3, _MAX_POINTS)
    seed = d.check_int("seed", seed, 0, 2**63 - 1)
    return checked, lo, hi, points, seed


# --------------------------------------------------------------------------- numbers

def surrogate_label(name: str, params: Optional[dict] = None) -> str:
    """The legend name of a surrogate, every parameter shown: ``fast_sigmoid(slope=25)``."""
    shown = {**SURROGATES.get(name, {}), **(params or {})}
    return f"{name}({', '.join(f'{k}={v:g}' for k, v in shown.items())})"


def surrogate_formula(name: str) -> str:
    """``dS/dz`` of the named surrogate in plain text, as the reference computes it."""
    if name not in _FORMULAS:
        raise ValueError(f"name: unknown surrogate {name!r}; allowed: {', '.join(SURROGATES)}")
    return _FORMULAS[name]


def _sigmoid_nan_edge(slope: float) -> float:
    """Below this z the reference's sigmoid gradient is NaN in float32 (unit upstream gradient).

    The reference computes ``grad·k·exp(-kz) / (exp(-kz) + 1)²`` left to
    right: once ``k·exp(-kz)`` overflows, numerator and denominator are both
    infinite and their quotient is NaN.  (``exp`` alone overflows first when
    ``k < 1``.)
    """
    if slope <= 0:
        return -math.inf
    return -(_FLOAT32_LOG_MAX - math.log(max(slope, 1.0))) / slope


def _grid(lo: float, hi: float, points: int, features: list[float]) -> np.ndarray:
    """An even grid over [lo, hi], plus z = 0 and the shown surrogates' special points.

    The threshold and each kink or peak are sampled exactly, so the steps at
    z = 0 and the peak of ``spike_rate_escape`` are drawn where they are.
    """
    z = np.linspace(lo, hi, points)
    z[np.abs(z) < 1e-9 * (hi - lo)] = 0.0  # linspace may miss 0 by a rounding error
    extra = [f for f in [0.0, *features] if lo <= f <= hi]
    return np.unique(np.concatenate([z, np.asarray(extra, dtype=np.float64)]))


def _features(checked) -> list[float]:
    out = []
    for name, params, _ in checked:
        if name == "spike_rate_escape":
            out.append(1.0)
        elif name == "SFS":
            out.append(float(params["B"]))
    return out


def _forward_backward(surrogate: Surrogate, z: np.ndarray, seed: int):
    """``S(z)`` and autograd's ``dS/dz`` through the real spike function.

    An unseeded ``SSO``'s noise comes from a forked, seeded copy of torch's
    generator (one thread at a time), so the result depends only on ``seed``
    and no caller's RNG is touched.
    """
    with seeded_global_rng(seed), torch.enable_grad():
        zz = torch.as_tensor(z, dtype=torch.float64).clone().requires_grad_(True)
        s = surrogate(zz)
        (g,) = torch.autograd.grad(s.sum(), zz)
    return s.detach().numpy(), g.detach().numpy()


def surrogate_table(surrogates: list[tuple[str, dict]], z_range=(-2, 2), points: int = 801,
                    seed: int = 0) -> pd.DataFrame:
    """``dS/dz`` of each surrogate at a few points, and where it is largest.

    One row per surrogate, indexed by its label (``fast_sigmoid(slope=25)``).
    Columns: ``formula``; ``z=-1`` ... ``z=1`` (the derivative at those
    ``z``); ``peak z`` and ``peak dS/dz``, the largest value on the figure's
    grid and where it is, with ``peak z`` NaN when that value is reached at
    more than one grid point (a plateau: no single peak).  ``SSO`` uses the
    same seeded noise as the figure.
    """
    checked, lo, hi, points, seed = _check_args(surrogates, z_range, points, seed)
    z = _grid(lo, hi, points, _features(checked))
    at = np.asarray(TABLE_POINTS, dtype=np.float64)
    rows = {}
    for name, params, surrogate in checked:
        _, grad_at = _forward_backward(surrogate, at, seed)
        _, grad = _forward_backward(surrogate, z, seed)
        peak = float(np.max(grad))
        where = np.flatnonzero(np.isclose(grad, peak, rtol=1e-12, atol=1e-12))
        row = {"formula": surrogate_formula(name)}
        row.update({f"z={p:g}": float(v) for p, v in zip(TABLE_POINTS, grad_at)})
        row["peak z"] = float(z[where[0]]) if len(where) == 1 else math.nan
        row["peak dS/dz"] = peak
        rows[surrogate_label(name, params)] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "surrogate"
    return frame


# --------------------------------------------------------------------------- words

def surrogate_oddities(name: str, params: Optional[dict] = None, seed: int = 0) -> list[str]:
    """What this surrogate does that a reader would not expect, in plain words.

    Empty for the surrogates that behave as their formula suggests (atan,
    fast_sigmoid, straight_through_estimator).  ``params`` may be partial;
    the defaults fill the rest.  ``seed`` is the one the figure drew SSO's
    noise with.
    """
    name, p, _ = _check_one(0, (name, params))
    seed = d.check_int("seed", seed, 0, 2**63 - 1)
    if name == "triangular":
        t = p["threshold"]
        if t == 0:
            return ["With threshold 0 `triangular` passes no gradient at all: dS/dz = 0 everywhere."]
        return [f"Despite its name, `triangular` is not a triangle: dS/dz is a signed step, "
                f"{t:+g} below the threshold (z < 0) and {-t:+g} at and above it (z ≥ 0). "
                "It has the same size at any distance from the threshold, and above the "
                "threshold it points the opposite way."]
    if name == "SFS":
        b = p["B"]
        if b > 0:
            where = ("so it passes no gradient at the threshold and just above it, where a fast "
                     "sigmoid is largest")
        elif b == 0:
            where = "so it passes none on the silent side and the full fast sigmoid just above it"
        else:
            where = "so it does pass gradient at the threshold (B < 0), but none below z = B"
        return [f"SFS keeps the fast sigmoid's derivative only where z > B = {b:g}: it is "
                f"exactly zero for z ≤ {b:g}, {where}. A neuron whose membrane stays at or below "
                f"θ + {b:g} gets no gradient through its spikes."]
    if name == "spike_rate_escape" and p["beta"] == 0:
        return [f"With β = 0 spike_rate_escape is flat: dS/dz = the slope, {p['slope']:g}, at "
                "every z, with no peak; it is on a very different scale from the other "
                "surrogates."]
    if name == "spike_rate_escape" and p["beta"] < 0:
        return [f"With β = {p['beta']:g} < 0 spike_rate_escape has its minimum at z = 1 and grows "
                "without bound away from it."]
    if name == "spike_rate_escape":
        return [f"spike_rate_escape peaks at z = 1 (U = θ + 1), one unit above the threshold, "
                f"not at it, whatever θ is; the peak height is the slope, {p['slope']:g}, so "
                "it is on a very different scale from the other surrogates. At the threshold "
                f"itself it is {p['slope'] * math.exp(-abs(p['beta'])):.3g}."]
    if name == "heaviside":
        return ["The backward is the forward: dS/dz = H(z), 1 where the neuron spiked "
                "(z > 0) and 0 everywhere else, the threshold included. A neuron that stays "
                "silent never receives a gradient that could teach it to fire."]
    if name == "SSO" and p["variance"] == 0:
        return ["With variance 0 SSO is not random: dS/dz is exactly 0 where the neuron did not "
                "spike (z ≤ 0) and 1 where it spiked."]
    if name == "SSO":
        a, b = sorted(((p["mean"] - 0.5) * p["variance"], (p["mean"] + 0.5) * p["variance"]))
        a, b = a + 0.0, b + 0.0  # no "-0"
        return [f"SSO is random: where the neuron did not spike (z ≤ 0) dS/dz = "
                f"(u − 0.5 + mean)·variance with u drawn uniformly from [0, 1) afresh on every "
                f"backward pass, so anywhere from {a:.3g} to {b:.3g}, a different value at "
                "each point and on each pass; where it spiked it is 1. The curve shown is one "
                f"draw (seed {seed}); the shaded band is the range of the noise."]
    if name == "LSO":
        return [f"The reference's `LSO()` raises a TypeError when it is called (its factory "
                f"passes the wrong number of arguments), so it cannot be used there. This is "
                f"the behaviour its documentation describes: 1 where the neuron spiked, the "
                f"slope ({p['slope']:g}) everywhere else."]
    if name == "sigmoid":
        edge = _sigmoid_nan_edge(p["slope"])
        if not math.isfinite(edge):
            return []
        return [f"Ours stays finite everywhere. The reference computes k·e^(−kz), which "
                f"overflows in float32 for z below about {edge:.3g} (at slope {p['slope']:g}); "
                "its gradient there is NaN (infinity over infinity), which then spreads "
                "through training. Where the reference is finite the two agree to float32 "
                "rounding, except in the far tail, where the reference's value rounds to 0 "
                "and ours keeps a tiny positive one."]
    return []


# --------------------------------------------------------------------------- figure

def _style(i: int) -> tuple[str, str]:
    n = len(_CURVE_COLORS)
    return _CURVE_COLORS[i % n], _DASHES[(i // n) % len(_DASHES)]


def _marker(spec, x, y, name, label, color, text, symbol="circle"):
    spec["data"].append(dict(
        type="scatter", x=np.asarray(x, dtype=np.float64), y=np.asarray(y, dtype=np.float64),
        name=name, mode="markers", legendgroup=label, showlegend=False,
        marker=dict(color=color, size=10, symbol=symbol, line=dict(color=color, width=2)),
        hovertemplate=f"{text}<br>z = %{{x:.4g}}, dS/dz = %{{y:.4g}}<extra>{label}</extra>",
        xaxis="x2", yaxis="y2"))


def _note(spec, x, y, text, color, ax, ay, **kw):
    spec["annotations"].append(dict(
        x=x, y=y, xref="x2", yref=kw.pop("yref", "y2"), text=text,
        showarrow=kw.pop("showarrow", True), arrowhead=2, arrowcolor=color, ax=ax, ay=ay,
        font=dict(size=11, color=color), bgcolor="rgba(255,255,255,0.8)", **kw))


def _mark_oddities(spec, name, params, label, color, lo, hi):
    """The marks for one shown surrogate's oddity, on the backward panel.

    ``spec`` collects them: ``{"data": [...], "shapes": [...], "annotations": [...]}``.
    """
    if name == "triangular" and lo <= 0 <= hi:
        t = params["threshold"]
        _marker(spec, [0.0, 0.0], [t, -t], "triangular sign flip", label, color,
                "triangular: sign flips at z = 0", symbol="diamond")
        _note(spec, 0.0, -t, "triangular: a signed step,<br>flips sign at z = 0", color, 70, 25)
    elif name == "spike_rate_escape" and lo <= 1 <= hi and params["beta"] > 0:
        _marker(spec, [1.0], [params["slope"]], "spike_rate_escape peak", label, color,
                "spike_rate_escape: peak at z = 1", symbol="star")
        _note(spec, 1.0, params["slope"], "spike_rate_escape<br>peaks at z = 1", color, 60, 10)
    elif name == "SFS" and lo <= params["B"]:
        b = min(params["B"], hi)
        spec["shapes"].append(dict(type="rect", x0=lo, x1=b, xref="x2", y0=0, y1=1,
                                   yref="y2 domain", name="SFS zero region", layer="below",
                                   fillcolor=with_alpha(color, 0.12), line=dict(width=0)))
        _note(spec, lo, 0.98, f"SFS: zero for z ≤ B = {params['B']:g}", color, 0, 0,
              yref="y2 domain", showarrow=False, xanchor="left", yanchor="top")
    elif name == "heaviside" and lo <= 0 <= hi:
        _marker(spec, [0.0], [0.0], "heaviside no gradient", label, color,
                "heaviside: no gradient until it spikes", symbol="circle-open")
        _note(spec, 0.0, 0.0, "heaviside: no gradient<br>until it spikes", color, -80, -35)
    elif name == "SSO" and lo <= 0:
        a, b = sorted(((params["mean"] - 0.5) * params["variance"],
                       (params["mean"] + 0.5) * params["variance"]))
        spec["shapes"].append(dict(type="rect", x0=lo, x1=min(0.0, hi), y0=a, y1=b, xref="x2",
                                   yref="y2", name="SSO noise range", layer="below",
                                   line=dict(width=0), fillcolor=with_alpha(color, 0.15)))
        _note(spec, lo, a, "SSO: random below threshold,<br>fresh on every backward pass",
              color, 0, 0, showarrow=False, xanchor="left", yanchor="top")
    elif name == "LSO" and lo < 0:
        x = lo + 0.6 * (min(0.0, hi) - lo)  # clear of the sigmoid NaN edge
        _marker(spec, [x], [params["slope"]], "LSO documented", label, color,
                "LSO: documented behaviour (the reference's raises TypeError)",
                symbol="square-open")
        _note(spec, x, params["slope"], "LSO as documented<br>(the reference's raises)",
              color, 0, -80)
    elif name == "sigmoid":
        edge = _sigmoid_nan_edge(params["slope"])
        if lo <= edge <= hi:
            spec["shapes"].append(dict(type="line", x0=edge, x1=edge, xref="x2", y0=0, y1=1,
                                       yref="y2 domain", name="sigmoid NaN edge",
                                       line=dict(color=color, dash="dot", width=1.5)))
            _note(spec, edge, 0.88, "← reference's sigmoid<br>gives NaN here", color, 0, 0,
                  yref="y2 domain", showarrow=False, xanchor="left")


def surrogate_figure(surrogates: list[tuple[str, dict]], z_range=(-2, 2), points: int = 801,
                     seed: int = 0, y_range: Optional[tuple[float, float]] = None) -> go.Figure:
    """Forward ``H(z)`` above, each surrogate's backward ``dS/dz`` below, on a shared z axis.

    ``surrogates``: ``(name, params)`` pairs (``params`` may be partial or
    ``None``; the defaults of ``SURROGATES`` fill the rest), drawn in order,
    no two alike.  ``z_range``: ``(low, high)`` of ``z = U - θ``.
    ``points``: the even grid (3 to 100,001 points), to which ``z = 0`` and
    each shown surrogate's peak or edge are added so they are sampled
    exactly.  ``seed``: SSO's noise (the figure is deterministic).
    ``y_range``: ``(low, high)`` of the backward panel, or ``None`` to fit
    every curve (``spike_rate_escape``'s peak of 25 then flattens the rest).

    Trace names: "forward H(z)", "H(0) = 0" (top panel); one line per
    surrogate named by :func:`surrogate_label` (bottom panel), and, for the
    surrogates that have them, oddity markers ("triangular sign flip",
    "spike_rate_escape peak", "heaviside no gradient", "LSO documented")
    grouped with their line.  Shapes: "threshold" (z = 0, both panels),
    "SFS zero region", "SSO noise range", "sigmoid NaN edge".
    """
    checked, lo, hi, points, seed = _check_args(surrogates, z_range, points, seed)
    if y_range is not None:
        y_range = _check_range(y_range, "y_range")
    z = _grid(lo, hi, points, _features(checked))

    axes = subplot_layout(2, [0.28, 0.72], 0.1)
    titles = ("Forward: S = H(z), the same for every surrogate",
              "Backward: dS/dz, the factor autograd uses instead")
    # the panel titles as make_subplots(subplot_titles=...) places them
    annotations = [dict(font=dict(size=16), showarrow=False, text=text, x=0.5, xanchor="center",
                        xref="paper", y=axes[key]["domain"][1], yanchor="bottom", yref="paper")
                   for text, key in zip(titles, ("yaxis", "yaxis2"))]
    spec = {"data": [], "shapes": [], "annotations": annotations}
    curves = []
    for i, (name, params, surrogate) in enumerate(checked):
        spikes, grad = _forward_backward(surrogate, z, seed)
        curves.append((name, params, surrogate_label(name, params), grad))
        if i == 0:
            forward = spikes

    spec["data"].append(dict(type="scatter", x=z, y=forward, name="forward H(z)", mode="lines",
                             line=dict(color=COLORS["spikes"], width=2.5),
                             hovertemplate="z = %{x:.4g}<br>S = %{y:g}<extra>forward</extra>",
                             xaxis="x", yaxis="y"))
    if lo <= 0 <= hi:
        # strict step: the threshold itself gives no spike
        spec["data"].append(dict(type="scatter", x=[0.0, 0.0], y=[0.0, 1.0], name="H(0) = 0",
                                 mode="markers", showlegend=False,
                                 marker=dict(color=COLORS["spikes"], size=9,
                                             symbol=["circle", "circle-open"],
                                             line=dict(color=COLORS["spikes"], width=2)),
                                 hovertemplate="H(0) = 0: U = θ does not spike<extra></extra>",
                                 xaxis="x", yaxis="y"))

    for i, (name, params, label, grad) in enumerate(curves):
        color, dash = _style(i)
        spec["data"].append(dict(type="scatter", x=z, y=grad, name=label, mode="lines",
                                 legendgroup=label, line=dict(color=color, dash=dash, width=2),
                                 hovertemplate="z = %{x:.4g}<br>dS/dz = %{y:.4g}"
                                               f"<extra>{label}</extra>",
                                 xaxis="x2", yaxis="y2"))
        _mark_oddities(spec, name, params, label, color, lo, hi)

    if lo <= 0 <= hi:
        spec["shapes"] += [dict(type="line", x0=0.0, x1=0.0, xref=x_id, y0=0, y1=1,
                                yref=f"{y_id} domain", name="threshold", layer="below",
                                line=dict(color=COLORS["threshold"], dash="dash", width=1.5))
                           for x_id, y_id in (("x", "y"), ("x2", "y2"))]
        spec["annotations"].append(dict(x=0.0, y=0.5, xref="x", yref="y domain",
                                        text="threshold (z = 0)", showarrow=False,
                                        xanchor="left", yanchor="middle", xshift=6,
                                        font=dict(size=11, color=COLORS["threshold"])))

    layout = base_layout(title="Surrogate gradients: one forward step, many backward curves",
                         kind="surrogates", height=680)
    layout.update(axes, annotations=spec["annotations"], hovermode="x unified")
    if spec["shapes"]:
        layout["shapes"] = spec["shapes"]
    layout["xaxis"]["range"] = [lo, hi]
    layout["xaxis2"].update(range=[lo, hi],
                            title={"text": "z = U − θ (membrane minus threshold)"})
    layout["yaxis"].update(title={"text": "S"}, range=[-0.15, 1.2], tickvals=[0, 1])
    layout["yaxis2"].update(title={"text": "dS/dz"}, zeroline=True)
    if y_range is not None:
        layout["yaxis2"]["range"] = list(y_range)
    return figure(spec["data"], layout)
