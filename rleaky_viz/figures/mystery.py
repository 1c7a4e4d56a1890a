"""The figure of the mystery neuron: the target's trace and the guess's, one above the other."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from . import _data as d
from ._spec import axis_ids, figure, subplot_layout
from .style import COLORS, OKABE_ITO, base_layout, with_alpha

__all__ = ["mystery_figure"]

_TARGET_COLOR, _GUESS_COLOR = OKABE_ITO["orange"], OKABE_ITO["blue"]


def mystery_figure(target, guess, neuron: int = 0, batch: int = 0) -> go.Figure:
    """The hidden neuron's trace and the student's guess, overlaid, under the same input.

    Three rows: input, membranes, spikes (target row on top).  No threshold
    line is drawn: it would give θ away.  Trace names: "input", "target
    membrane", "your membrane", "target spikes", "your spikes".
    """
    T, _, _ = d.check_trace(target, "input", "spk", "mem")
    Tg, _, _ = d.check_trace(guess, "spk", "mem")
    if T != Tg:
        raise ValueError(f"target and guess must have the same number of steps, got {T} and {Tg}")
    steps = np.arange(T)
    row = [dict(zip(("xaxis", "yaxis"), axis_ids(r))) for r in range(1, 4)]
    data = [dict(type="scatter", x=steps, y=d.neuron_series(target, "input", batch, neuron),
                 name="input", mode="lines", line=dict(color=COLORS["input"], shape="hv"),
                 hovertemplate="step %{x}<br>I = %{y:.4g}<extra>input</extra>", **row[0])]
    rows = (("target", target, _TARGET_COLOR, 1.0, 1.5), ("your", guess, with_alpha(_GUESS_COLOR, 0.75), 0.0, 2.5))
    for who, trace, color, level, width in rows:
        data.append(dict(type="scatter", x=steps, y=d.neuron_series(trace, "mem", batch, neuron),
                         name=f"{who} membrane", mode="lines", line=dict(color=color, width=width),
                         hovertemplate=f"step %{{x}}<br>U = %{{y:.4g}}<extra>{who}</extra>",
                         **row[1]))
        fired = np.flatnonzero(d.neuron_series(trace, "spk", batch, neuron) != 0)
        data.append(dict(type="scatter", x=fired, y=np.full(fired.size, level),
                         name=f"{who} spikes", mode="markers",
                         marker=dict(color=color, symbol="line-ns-open", size=14,
                                     line=dict(width=2, color=color)),
                         hovertemplate=f"step %{{x}}<extra>{who} spike</extra>", **row[2]))
    layout = base_layout(title="Target (orange) and your neuron (blue)", kind="mystery", height=600)
    layout.update(subplot_layout(3, [0.2, 0.55, 0.25], 0.05), hovermode="closest")
    for r in range(1, 4):
        layout[f"xaxis{'' if r == 1 else r}"]["range"] = [-0.5, T - 0.5]
    layout["xaxis3"]["title"] = {"text": "time step"}
    layout["yaxis"]["title"] = {"text": "input I"}
    layout["yaxis2"]["title"] = {"text": "membrane U"}
    layout["yaxis3"].update(title={"text": "spikes"}, tickvals=[0, 1], ticktext=["yours", "target"],
                            range=[-0.6, 1.6])
    return figure(data, layout)
