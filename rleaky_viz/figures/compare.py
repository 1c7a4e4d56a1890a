"""The figure of an A/B comparison: both runs of one neuron overlaid, and where they part."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from . import _data as d
from ._spec import axis_ids, figure, subplot_layout
from .style import COLORS, OKABE_ITO, base_layout, with_alpha

__all__ = ["compare_figure"]

# The two configurations of a comparison.
_A_COLOR, _B_COLOR = OKABE_ITO["blue"], OKABE_ITO["orange"]


def _running_rate(spk: np.ndarray, window: int) -> np.ndarray:
    """Spikes per step over the last ``window`` steps (fewer at the start)."""
    c = np.concatenate([[0.0], np.cumsum(spk != 0)])
    t = np.arange(1, spk.size + 1)
    start = np.maximum(t - window, 0)
    return (c[t] - c[start]) / (t - start)


def compare_figure(trace_a, trace_b, neuron: int = 0, batch: int = 0, window: int = 20,
                   names: Sequence[str] = ("A", "B")) -> go.Figure:
    """Configurations A and B overlaid: membranes, spikes, mem_A - mem_B and running rates.

    Four rows sharing the time axis.  The first step where this neuron's
    spikes differ (in this sample) is named in the title and marked on every
    row, computed from the two series drawn.  Trace names: "A membrane",
    "B membrane", "A threshold", "B threshold", "A spikes", "B spikes",
    "A - B", "A rate", "B rate".
    """
    Ta, Ba, shape_a = d.check_trace(trace_a, "spk", "mem")
    Tb, Bb, shape_b = d.check_trace(trace_b, "spk", "mem")
    if Ta != Tb:
        raise ValueError(f"A and B must have the same number of steps, got {Ta} and {Tb}")
    count = min(int(np.prod(shape_a)), int(np.prod(shape_b)))
    neuron = d.check_int("neuron", neuron, 0, count - 1)
    batch = d.check_int("batch", batch, 0, min(Ba, Bb) - 1)
    window = d.check_int("window", window, 1)
    if len(names) != 2:
        raise ValueError(f"names must be two labels, got {names!r}")
    T, steps = Ta, np.arange(Ta)
    row = [dict(zip(("xaxis", "yaxis"), axis_ids(r))) for r in range(1, 5)]
    data = []
    for trace, name, color in ((trace_a, names[0], _A_COLOR), (trace_b, names[1], _B_COLOR)):
        mem = d.neuron_series(trace, "mem", batch, neuron)
        theta = float(d.per_neuron(trace, "threshold", int(np.prod(trace.spk.shape[2:])), 1.0)[neuron])
        data.append(dict(type="scatter", x=steps, y=mem, name=f"{name} membrane", mode="lines",
                         line=dict(color=color, width=2),
                         hovertemplate=f"step %{{x}}<br>U = %{{y:.4g}}<extra>{name}</extra>",
                         **row[0]))
        data.append(dict(type="scatter", x=[0, T - 1], y=[theta, theta], name=f"{name} threshold",
                         mode="lines", line=dict(color=color, dash="dash", width=1),
                         hovertemplate=f"θ = {theta:.4g}<extra>{name} threshold</extra>",
                         **row[0]))
    row_of = {names[0]: 1.0, names[1]: 0.0}
    for trace, name, color in ((trace_a, names[0], _A_COLOR), (trace_b, names[1], _B_COLOR)):
        spk = d.neuron_series(trace, "spk", batch, neuron)
        fired = np.flatnonzero(spk != 0)
        data.append(dict(type="scatter", x=fired, y=np.full(fired.size, row_of[name]),
                         name=f"{name} spikes", mode="markers",
                         marker=dict(color=color, symbol="line-ns-open", size=14,
                                     line=dict(width=2, color=color)),
                         hovertemplate=f"step %{{x}}<extra>{name} spike</extra>", **row[1]))
        data.append(dict(type="scatter", x=steps, y=_running_rate(spk, window), name=f"{name} rate",
                         mode="lines", line=dict(color=color, width=2),
                         hovertemplate=f"step %{{x}}<br>%{{y:.3f}} spikes/step<extra>{name} "
                                       "rate</extra>", **row[3]))
    diff = d.neuron_series(trace_a, "mem", batch, neuron) - d.neuron_series(trace_b, "mem", batch, neuron)
    data.append(dict(type="scatter", x=steps, y=diff, name=f"{names[0]} - {names[1]}", mode="lines",
                     line=dict(color=COLORS["reference"], width=1.5, shape="hv"),
                     fill="tozeroy", fillcolor=with_alpha(COLORS["reference"], 0.25),
                     hovertemplate="step %{x}<br>U_A − U_B = %{y:.4g}<extra></extra>", **row[2]))
    differs = np.flatnonzero((d.neuron_series(trace_a, "spk", batch, neuron) != 0)
                             != (d.neuron_series(trace_b, "spk", batch, neuron) != 0))
    divergence = int(differs[0]) if differs.size else None
    said = "spikes never diverge" if divergence is None else f"spikes first differ at step {divergence}"
    layout = base_layout(title=f"{names[0]} and {names[1]} overlaid, neuron {neuron}: {said}",
                         kind="compare", height=720)
    layout.update(subplot_layout(4, [0.4, 0.16, 0.22, 0.22], 0.04), hovermode="closest")
    if divergence is not None:
        layout["shapes"] = [dict(type="line", x0=divergence, x1=divergence, xref=x_id, y0=0, y1=1,
                                 yref=f"{y_id} domain",
                                 line=dict(color=COLORS["threshold"], dash="dot", width=1.5))
                            for x_id, y_id in map(axis_ids, range(1, 5))]
    for r in range(1, 5):
        layout[f"xaxis{'' if r == 1 else r}"]["range"] = [-0.5, T - 0.5]
    layout["xaxis4"]["title"] = {"text": "time step"}
    layout["yaxis"]["title"] = {"text": "membrane U"}
    layout["yaxis2"].update(title={"text": "spikes"}, tickvals=[0, 1], ticktext=[names[1], names[0]],
                            range=[-0.6, 1.6])
    layout["yaxis3"]["title"] = {"text": f"U_{names[0]} − U_{names[1]}"}
    layout["yaxis4"]["title"] = {"text": f"rate ({window} steps)"}
    return figure(data, layout)


# ----------------------------------------------------------------------------- mystery
