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
from plotly.subplots import make_subplots

from . import _data as d
from .style import COLORS, SEQUENCE, apply_layout, with_alpha

__all__ = ["gradient_norm_figure", "surrogate_trajectory_figure", "paths_figure",
           "param_grad_figure", "distance_figure", "loss_curve_figure", "param_trajectory_figure",
           "dead_stretches"]

PATH_COLORS = {"direct": COLORS["input"], "leak": COLORS["leak"],
               "recurrent": COLORS["recurrent"], "reset": COLORS["reset"]}
PATH_LABELS = {"direct": "direct (the loss looks at U[t] or S[t])",
               "leak": "leak: through β·U[t] into U[t+1]",
               "recurrent": "recurrent: S[t] → rec → U[t+1], via the surrogate",
               "reset": "reset: through R[t+1] (detached: zero)"}


def _flow(flow):
    d.check_trace(flow, "dL_dmem", "dL_dinput", "surrogate_grad")
    if getattr(flow, "trace", None) is None:
        raise ValueError("flow must be a FlowResult (it has no trace)")
    return flow


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
        title = ("Gradient norm per step (log scale)<br><sup>the input enters U[t] with weight 1, "
                 "so dL/dx[t] follows dL/dU[t] except where a zero reset drops it</sup>")
    fig = go.Figure()
    for name, tensor, color, dash in curves:
        T = tensor.shape[0]
        steps = np.arange(T)
        norms = d._array(name, tensor).reshape(T, -1).astype(np.float64)
        norms = np.sqrt((norms ** 2).sum(axis=1))
        # log axes cannot show 0: leave a gap there rather than invent a value
        fig.add_trace(go.Scatter(x=steps, y=np.where(norms > 0, norms, np.nan), name=name,
                                 mode="lines", line=dict(color=color, dash=dash)))
    apply_layout(fig, title=title, kind="grad-norm", x_title="time step", y_title="norm")
    fig.update_yaxes(type="log")
    return fig


def dead_stretches(surrogate_grad: np.ndarray, rel: float = 1e-3, min_len: int = 3) -> list[tuple[int, int]]:
    """Runs of steps (start, end inclusive) where |dS/dz| < rel·max: no gradient gets through."""
    g = np.abs(np.asarray(surrogate_grad, dtype=np.float64))
    top = g.max() if g.size else 0.0
    dead = g <= rel * top if top > 0 else np.ones_like(g, dtype=bool)
    runs, start = [], None
    for i, flag in enumerate(dead):
        if flag and start is None:
            start = i
        if (not flag or i == len(dead) - 1) and start is not None:
            end = i if flag else i - 1
            if end - start + 1 >= min_len:
                runs.append((start, end))
            start = None
    return runs


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
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.65, 0.35])
    runs = dead_stretches(sg)
    for start, end in runs:
        fig.add_vrect(x0=start - 0.5, x1=end + 0.5, fillcolor=with_alpha(COLORS["reference"], 0.18),
                      line_width=0, row="all", col=1)
    fig.add_trace(go.Scatter(x=steps, y=mem, name="membrane", mode="lines",
                             line=dict(color=with_alpha(COLORS["membrane"], 0.5))), row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=mem, name="dS/dz on the membrane", mode="markers",
                             marker=dict(color=sg, colorscale="Viridis", size=6,
                                         colorbar=dict(title=dict(text="dS/dz", side="top"),
                                                       len=0.6, y=0.75)),
                             hovertemplate="step %{x}<br>U = %{y:.4g}<br>dS/dz = %{marker.color:.3g}"
                                           "<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=sg, name="surrogate derivative", mode="lines",
                             line=dict(color=COLORS["spikes"])), row=2, col=1)
    title = f"Surrogate derivative along neuron {neuron}'s trajectory"
    if runs:
        dead = sum(e - s + 1 for s, e in runs)
        title += f"<br><sup>shaded: {len(runs)} dead stretch(es), {dead} steps where no gradient passes the spike</sup>"
    apply_layout(fig, title=title, kind="surrogate-trajectory", height=480, legend=False)
    fig.update_xaxes(title_text="time step", row=2, col=1)
    fig.update_yaxes(title_text="U", row=1, col=1)
    fig.update_yaxes(title_text="dS/dz", row=2, col=1)
    fig.update_layout(meta={"dead_stretches": runs})
    return fig


def paths_figure(flow, neuron: int = 0, batch: int = 0) -> go.Figure:
    """dL/dU[t] of one neuron split into the paths it arrives by (stacked), and the total."""
    _flow(flow)
    T, B, shape = d.check_trace(flow, "dL_dmem")
    batch = d.check_batch(batch, B)
    neuron = d.check_int("neuron", neuron, 0, int(np.prod(shape)) - 1)
    if not isinstance(getattr(flow, "paths", None), dict):
        raise ValueError("flow has no paths")
    steps = np.arange(T)
    fig = go.Figure()
    labels = dict(PATH_LABELS)
    if getattr(flow, "reset_grad", False):
        labels["reset"] = "reset: through R[t+1] (what-if: NOT detached)"
    for name in ("direct", "leak", "recurrent", "reset"):
        values = d._array(name, flow.paths[name])[:, batch].reshape(T, -1)[:, neuron]
        fig.add_trace(go.Bar(x=steps, y=values, name=labels[name],
                             marker=dict(color=PATH_COLORS[name], line_width=0)))
    total = d.neuron_series(flow, "dL_dmem", batch, neuron)
    fig.add_trace(go.Scatter(x=steps, y=total, name="dL/dU[t] (total)", mode="lines",
                             line=dict(color=COLORS["membrane"], width=1.5)))
    apply_layout(fig, title=f"Where neuron {neuron}'s gradient comes from, step by step",
                 kind="grad-paths", x_title="time step", y_title="contribution to dL/dU[t]")
    fig.update_layout(barmode="relative", bargap=0)
    return fig


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
    fig = go.Figure(go.Bar(x=names, y=values, text=text, textposition="auto",
                           marker=dict(color=[SEQUENCE[i % len(SEQUENCE)] for i in range(len(names))])))
    title = "Gradient of each learnable parameter" if names else \
        "No learnable parameters: switch on learn_beta, learn_threshold or learn_recurrent"
    apply_layout(fig, title=title, kind="param-grads", x_title="parameter", y_title="dL/dparameter",
                 legend=False)
    return fig


def distance_figure(result: dict, parameter: str) -> go.Figure:
    """||dL/dU|| against distance from the loss in time, one line per swept value (log scale)."""
    if not isinstance(result, dict) or "norms" not in result or "distance" not in result:
        raise ValueError("result must come from flows.gradient_vs_distance")
    distance = np.asarray(result["distance"])
    fig = go.Figure()
    for i, (value, norms) in enumerate(result["norms"].items()):
        norms = np.asarray(norms, dtype=np.float64)
        fig.add_trace(go.Scatter(x=distance, y=np.where(norms > 0, norms, np.nan), mode="lines",
                                 name=f"{parameter} = {value:g}",
                                 line=dict(color=SEQUENCE[i % len(SEQUENCE)])))
    apply_layout(fig, title=f"How far back the gradient reaches, as {parameter} varies",
                 kind="grad-distance", x_title="steps back from the loss", y_title="‖dL/dU‖")
    fig.update_yaxes(type="log")
    return fig


def loss_curve_figure(losses: Sequence[float]) -> go.Figure:
    losses = np.asarray(list(losses), dtype=np.float64)
    fig = go.Figure(go.Scatter(x=np.arange(len(losses)), y=losses, mode="lines+markers",
                               name="loss", line=dict(color=COLORS["membrane"])))
    apply_layout(fig, title="Training loss", kind="loss", x_title="epoch", y_title="loss",
                 legend=False)
    return fig


def param_trajectory_figure(params: dict) -> go.Figure:
    """Each learnable parameter over the epochs (tensors: their mean, with the range shaded)."""
    if not isinstance(params, dict):
        raise ValueError("params must map names to per-epoch values")
    fig = go.Figure()
    for i, (name, history) in enumerate(params.items()):
        if not len(history):
            continue
        arr = np.stack([np.asarray(h, dtype=np.float64).reshape(-1) for h in history])
        epochs = np.arange(arr.shape[0])
        color = SEQUENCE[i % len(SEQUENCE)]
        if arr.shape[1] > 1:
            fig.add_trace(go.Scatter(x=np.concatenate([epochs, epochs[::-1]]),
                                     y=np.concatenate([arr.max(1), arr.min(1)[::-1]]),
                                     fill="toself", fillcolor=with_alpha(color, 0.15),
                                     line=dict(width=0), name=f"{name} range", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=epochs, y=arr.mean(1), mode="lines",
                                 name=name if arr.shape[1] == 1 else f"{name} (mean)",
                                 line=dict(color=color)))
    apply_layout(fig, title="Parameters during training", kind="param-trajectory", x_title="epoch",
                 y_title="value")
    return fig
