"""Gradient views: how dL/dU travels back through time, and by which paths.

Builders take a ``flows.FlowResult`` (duck-typed: ``dL_dmem``, ``dL_dinput``,
``paths``, ``param_grads``, ``surrogate_grad`` and its ``trace``) or the dict
from ``flows.gradient_vs_distance``, and return Plotly figures.  The
gradient heatmap itself is ``heatmap_figure(flow, "dL_dmem")``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from . import _data as d
from ..flows import PATHS, dead_stretches
from ._spec import axis_ids, colorscale, figure, subplot_layout
from .style import COLORS, SEQUENCE, base_layout, with_alpha

__all__ = ["input_gradient_note", "jacobian_figure", "gradient_norm_figure", "surrogate_trajectory_figure", "paths_figure",
           "param_grad_figure", "distance_figure"]

PATH_COLORS = {"direct": COLORS["input"], "leak": COLORS["leak"],
               "recurrent": COLORS["recurrent"], "same_step_reset": with_alpha(COLORS["reset"], 0.45),
               "next_spike": COLORS["spikes"], "reset": COLORS["reset"]}
PATH_LABELS = {"direct": "direct (the loss looks at U[t] or S[t])",
               "leak": "leak: through β·U[t] into U[t+1]",
               "recurrent": "recurrent: S[t] → rec → U[t+1], via the surrogate",
               "same_step_reset": "same-step reset: D = S[t+1]/g − R in U[t+1], via the surrogate",
               "next_spike": "next spike: β·U[t] → S[t+1] (decided before its reset)",
               "reset": "reset: through R[t+1] (detached: zero)"}


def _flow(flow):
    d.check_trace(flow, "dL_dmem", "dL_dinput", "surrogate_grad")
    if getattr(flow, "trace", None) is None:
        raise ValueError("flow must be a FlowResult (it has no trace)")
    return flow


def input_gradient_note(flow) -> str:
    """How dL/dx[t] relates to dL/dU[t] in this run's setting (``tests/test_claims.py`` checks it)."""
    if getattr(flow, "late_reset", False):
        return ("with reset_delay=False each step's own reset comes after the input: "
                "dL/dx[t] is the gradient before that reset, not dL/dU[t]")
    if flow.trace.config.reset_mechanism == "zero":
        return ("the input enters U[t] with weight 1, so dL/dx[t] equals dL/dU[t], "
                "except at steps where a zero reset set U to 0 (there it is 0)")
    return "the input enters U[t] with weight 1, so dL/dx[t] equals dL/dU[t]"


def gradient_norm_figure(flow) -> go.Figure:
    """||dL/dU[t]|| and ||dL/dx[t]|| per step on a log scale.

    ``flow`` may also be a mapping ``{label: flow}`` (say ``{"A": ..., "B": ...}``):
    then ||dL/dU[t]|| of each is drawn, one colour per label, to compare them.
    """
    if isinstance(flow, dict):
        if not flow:
            raise ValueError("flow must be a FlowResult or a non-empty {label: FlowResult}")
        curves = [(f"‖dL/dU[t]‖ {label}", _flow(f).dL_dmem, SEQUENCE[i % len(SEQUENCE)], "solid")
                  for i, (label, f) in enumerate(flow.items())]
        title = "Gradient norm per step (log scale): " + " vs ".join(map(str, flow))
    else:
        _flow(flow)
        curves = [("‖dL/dU[t]‖", flow.dL_dmem, COLORS["membrane"], "solid"),
                  ("‖dL/dx[t]‖", flow.dL_dinput, COLORS["input"], "dash")]
        title = f"Gradient norm per step (log scale)<br><sup>{input_gradient_note(flow)}</sup>"
    data = []
    for name, tensor, color, dash in curves:
        T = tensor.shape[0]
        steps = np.arange(T)
        norms = d._array(name, tensor).reshape(T, -1).astype(np.float64)
        norms = np.sqrt((norms ** 2).sum(axis=1))
        # log axes cannot show 0: leave a gap there rather than invent a value
        data.append(dict(type="scatter", x=steps, y=np.where(norms > 0, norms, np.nan), name=name,
                         mode="lines", line=dict(color=color, dash=dash)))
    layout = base_layout(title=title, kind="grad-norm", x_title="time step", y_title="norm")
    layout["yaxis"]["type"] = "log"
    return figure(data, layout)


def surrogate_trajectory_figure(flow, neuron: int = 0, batch: int = 0) -> go.Figure:
    """The membrane coloured by the surrogate derivative, with "dead" stretches shaded."""
    _flow(flow)
    trace = flow.trace
    T, B, shape = d.check_trace(trace, "mem")
    batch = d.check_batch(batch, B)
    neuron = d.check_int("neuron", neuron, 0, int(np.prod(shape)) - 1)
    mem = d.neuron_series(trace, "mem", batch, neuron)
    sg = d.neuron_series(flow, "surrogate_grad", batch, neuron)
    steps = np.arange(T)
    runs = dead_stretches(sg)
    shade = with_alpha(COLORS["reference"], 0.18)
    # one band per dead stretch on both panels, as add_vrect(row="all") draws them
    shapes = [dict(type="rect", x0=start - 0.5, x1=end + 0.5, xref=x_id, y0=0, y1=1,
                   yref=f"{y_id} domain", fillcolor=shade, line=dict(width=0))
              for start, end in runs for x_id, y_id in (axis_ids(1), axis_ids(2))]
    row1, row2 = (dict(zip(("xaxis", "yaxis"), axis_ids(r))) for r in (1, 2))
    data = [dict(type="scatter", x=steps, y=mem, name="membrane", mode="lines",
                 line=dict(color=with_alpha(COLORS["membrane"], 0.5)), **row1),
            dict(type="scatter", x=steps, y=mem, name="dS/dz on the membrane", mode="markers",
                 marker=dict(color=sg, colorscale=colorscale("Viridis"), size=6,
                             colorbar=dict(title=dict(text="dS/dz", side="top"), len=0.6, y=0.75)),
                 hovertemplate="step %{x}<br>U = %{y:.4g}<br>dS/dz = %{marker.color:.3g}"
                               "<extra></extra>", **row1),
            dict(type="scatter", x=steps, y=sg, name="surrogate derivative", mode="lines",
                 line=dict(color=COLORS["spikes"]), **row2)]
    title = f"Surrogate derivative along neuron {neuron}'s trajectory"
    if runs:
        dead = sum(e - s + 1 for s, e in runs)
        title += f"<br><sup>shaded: {len(runs)} dead stretch(es), {dead} steps where no gradient passes the spike</sup>"
    layout = base_layout(title=title, kind="surrogate-trajectory", height=480, legend=False)
    layout.update(subplot_layout(2, [0.65, 0.35], 0.08), meta={"dead_stretches": runs})
    if shapes:
        layout["shapes"] = shapes
    layout["xaxis2"]["title"] = {"text": "time step"}
    layout["yaxis"]["title"] = {"text": "U"}
    layout["yaxis2"]["title"] = {"text": "dS/dz"}
    return figure(data, layout)


def paths_figure(flow, neuron: int = 0, batch: int = 0) -> go.Figure:
    """dL/dU[t] of one neuron split into the paths it arrives by (stacked), and the total."""
    _flow(flow)
    T, B, shape = d.check_trace(flow, "dL_dmem")
    batch = d.check_batch(batch, B)
    neuron = d.check_int("neuron", neuron, 0, int(np.prod(shape)) - 1)
    if not isinstance(getattr(flow, "paths", None), dict):
        raise ValueError("flow has no paths")
    steps = np.arange(T)
    labels = dict(PATH_LABELS)
    if getattr(flow, "reset_grad", False):
        labels["reset"] = "reset: through R[t+1] (what-if: NOT detached)"
    data = []
    for name in PATHS:
        if name not in flow.paths:
            continue
        values = d._array(name, flow.paths[name])[:, batch].reshape(T, -1)[:, neuron]
        data.append(dict(type="bar", x=steps, y=values, name=labels[name],
                         marker=dict(color=PATH_COLORS[name], line=dict(width=0))))
    total = d.neuron_series(flow, "dL_dmem", batch, neuron)
    data.append(dict(type="scatter", x=steps, y=total, name="dL/dU[t] (total)", mode="lines",
                     line=dict(color=COLORS["membrane"], width=1.5)))
    layout = base_layout(title=f"Where neuron {neuron}'s gradient comes from, step by step",
                         kind="grad-paths", x_title="time step", y_title="contribution to dL/dU[t]")
    layout.update(barmode="relative", bargap=0)
    return figure(data, layout)


def param_grad_figure(flow) -> go.Figure:
    """Gradient of every learnable parameter: the value for scalars, the norm otherwise."""
    grads = getattr(flow, "param_grads", None)
    if not isinstance(grads, dict):
        raise ValueError("flow has no param_grads")
    names, values, text = [], [], []
    for name, g in grads.items():
        arr = d._array(name, g).astype(np.float64)
        if arr.size == 1:
            values.append(float(arr.reshape(-1)[0]))
            text.append(f"{values[-1]:.3g}")
            names.append(name)
        else:
            values.append(float(np.sqrt((arr ** 2).sum())))
            text.append(f"‖·‖ = {values[-1]:.3g} ({arr.size} values)")
            names.append(f"‖{name}‖")
    data = [dict(type="bar", x=names, y=values, text=text, textposition="auto",
                 marker=dict(color=[SEQUENCE[i % len(SEQUENCE)] for i in range(len(names))]))]
    title = "Gradient of each learnable parameter" if names else \
        "No learnable parameters: switch on learn_beta, learn_threshold or learn_recurrent"
    layout = base_layout(title=title, kind="param-grads", x_title="parameter",
                         y_title="dL/dparameter", legend=False)
    return figure(data, layout)


def distance_figure(result: dict, parameter: str) -> go.Figure:
    """||dL/dU|| against distance from the loss in time, one line per swept value (log scale)."""
    if not isinstance(result, dict) or "norms" not in result or "distance" not in result:
        raise ValueError("result must come from flows.gradient_vs_distance")
    distance = np.asarray(result["distance"])
    data = []
    for i, (value, norms) in enumerate(result["norms"].items()):
        norms = np.asarray(norms, dtype=np.float64)
        data.append(dict(type="scatter", x=distance, y=np.where(norms > 0, norms, np.nan),
                         mode="lines", name=f"{parameter} = {value:g}",
                         line=dict(color=SEQUENCE[i % len(SEQUENCE)])))
    layout = base_layout(title=f"How far back the gradient reaches, as {parameter} varies",
                         kind="grad-distance", x_title="steps back from the loss", y_title="‖dL/dU‖")
    layout["yaxis"]["type"] = "log"
    return figure(data, layout)


def jacobian_figure(flow, neuron: int = 0, batch: int = 0) -> go.Figure:
    """|∂U[t+1]/∂U[t]| of one neuron per step (``FlowResult.jacobian``), log scale, with the line 1.

    Where it is below 1 a gradient travelling back shrinks, above 1 it grows;
    their product from t to the end is what is left of a gradient at the last
    step (drawn too).  Trace names: "|∂U[t+1]/∂U[t]|", "product to the end", "1".
    """
    _flow(flow)
    if getattr(flow, "jacobian", None) is None:
        raise ValueError("flow has no per-step Jacobian (U[t] alone is not the neuron's state here)")
    T, B, shape = d.check_trace(flow, "jacobian")
    batch = d.check_batch(batch, B)
    neuron = d.check_int("neuron", neuron, 0, int(np.prod(shape)) - 1)
    jac = np.abs(d.neuron_series(flow, "jacobian", batch, neuron).astype(np.float64))[:-1]
    steps = np.arange(T - 1)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        product = np.cumprod(jac[::-1])[::-1]
    data = [dict(type="scatter", x=steps, y=np.where(jac > 0, jac, np.nan), name="|∂U[t+1]/∂U[t]|",
                 mode="lines", line=dict(color=COLORS["leak"], shape="hv")),
            dict(type="scatter", x=steps, y=np.where(product > 0, product, np.nan),
                 name="product to the end", mode="lines",
                 line=dict(color=COLORS["membrane"], dash="dash")),
            dict(type="scatter", x=[0, max(T - 2, 0)], y=[1.0, 1.0], name="1", mode="lines",
                 line=dict(color=COLORS["reference"], dash="dot", width=1), hoverinfo="skip")]
    layout = base_layout(title=f"Per-step Jacobian of neuron {neuron} (log scale)<br><sup>below 1 "
                               "a gradient going back shrinks, above 1 it grows</sup>",
                         kind="jacobian", x_title="time step t", y_title="|∂U[t+1]/∂U[t]|")
    layout["yaxis"]["type"] = "log"
    return figure(data, layout)
