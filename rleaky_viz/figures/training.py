"""Figures of a training run: the loss per epoch and each learnable parameter's path."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from ._spec import figure
from .style import COLORS, SEQUENCE, base_layout, with_alpha

__all__ = ["loss_curve_figure", "param_trajectory_figure"]


def loss_curve_figure(losses: Sequence[float]) -> go.Figure:
    losses = np.asarray(list(losses), dtype=np.float64)
    data = [dict(type="scatter", x=np.arange(len(losses)), y=losses, mode="lines+markers",
                 name="loss", line=dict(color=COLORS["membrane"]))]
    layout = base_layout(title="Training loss", kind="loss", x_title="epoch", y_title="loss",
                         legend=False)
    return figure(data, layout)


def param_trajectory_figure(params: dict) -> go.Figure:
    """Each learnable parameter over the epochs (tensors: their mean, with the range shaded)."""
    if not isinstance(params, dict):
        raise ValueError("params must map names to per-epoch values")
    data = []
    for i, (name, history) in enumerate(params.items()):
        if not len(history):
            continue
        arr = np.stack([np.asarray(h, dtype=np.float64).reshape(-1) for h in history])
        epochs = np.arange(arr.shape[0])
        color = SEQUENCE[i % len(SEQUENCE)]
        if arr.shape[1] > 1:
            data.append(dict(type="scatter", x=np.concatenate([epochs, epochs[::-1]]),
                             y=np.concatenate([arr.max(1), arr.min(1)[::-1]]),
                             fill="toself", fillcolor=with_alpha(color, 0.15),
                             line=dict(width=0), name=f"{name} range", hoverinfo="skip"))
        data.append(dict(type="scatter", x=epochs, y=arr.mean(1), mode="lines",
                         name=name if arr.shape[1] == 1 else f"{name} (mean)",
                         line=dict(color=color)))
    layout = base_layout(title="Parameters during training", kind="param-trajectory",
                         x_title="epoch", y_title="value")
    return figure(data, layout)
