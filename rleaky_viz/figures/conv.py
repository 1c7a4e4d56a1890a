"""Figures of a convolutional (conv2d) recurrence: spike maps over time, firing-rate maps.

These need a trace of shape ``(T, batch, channels, H, W)``.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from . import _data as d
from ._spec import colorscale, figure
from .style import COLORS, SEQUENTIAL_SCALE, base_layout

__all__ = ["conv_frames_figure", "rate_map_figure", "frame_steps"]

_SPIKE_SCALE = [[0.0, "rgba(0,0,0,0)"], [1.0, COLORS["spikes"]]]


def _check_conv(trace, channel, batch):
    T, B, shape = d.check_trace(trace, "spk")
    if len(shape) != 3:
        raise ValueError("trace must come from a conv2d recurrence (spk of shape "
                         f"(T, batch, channels, H, W)); got neuron shape {shape}")
    batch = d.check_batch(batch, B)
    channel = d.check_int("channel", channel, 0, shape[0] - 1)
    return T, batch, channel, shape


def _channel_spikes(trace, batch, channel) -> np.ndarray:
    spk = trace.spk[:, batch, channel]
    if hasattr(spk, "detach"):
        spk = spk.detach().cpu().numpy()
    return np.asarray(spk)  # (T, H, W)


def frame_steps(num_steps: int, max_frames: int) -> np.ndarray:
    """The steps shown as frames: all of them, or ``max_frames`` spread evenly from first to last."""
    num_steps = d.check_int("num_steps", num_steps, 1)
    max_frames = d.check_int("max_frames", max_frames, 1)
    if num_steps <= max_frames:
        return np.arange(num_steps)
    return np.unique(np.linspace(0, num_steps - 1, max_frames).round().astype(int))


def _grid_axes(layout, h, w):
    layout.setdefault("xaxis", {}).update(range=[-0.5, w - 0.5], constrain="domain", showgrid=False,
                                          zeroline=False)
    layout.setdefault("yaxis", {}).update(range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain",
                                          showgrid=False, zeroline=False)


def conv_frames_figure(trace, channel: int = 0, batch: int = 0, max_frames: int = 60) -> go.Figure:
    """Spike map of one channel (H × W) per step, as an animation with play/pause and a slider.

    With more than ``max_frames`` steps the frames sample time evenly (the
    title says so); each frame shows the spikes of exactly its own step.
    Frames are named by their step.
    """
    T, batch, channel, shape = _check_conv(trace, channel, batch)
    max_frames = d.check_int("max_frames", max_frames, 1)
    h, w = shape[1], shape[2]
    spikes = _channel_spikes(trace, batch, channel) != 0  # (T, H, W)
    steps = frame_steps(T, max_frames)
    note = (f"showing {steps.size} of {T} steps, evenly spaced" if steps.size < T
            else f"all {T} steps")
    head = f"Spikes of channel {channel} (sample {batch}), {note}"

    def heatmap(t):
        return dict(type="heatmap", z=spikes[t].astype(np.uint8), x0=0, dx=1, y0=0, dy=1, zmin=0,
                    zmax=1, colorscale=_SPIKE_SCALE, showscale=False, xgap=1, ygap=1,
                    name="spikes",
                    hovertemplate="row %{y}, column %{x}<br>spike: %{z}<extra></extra>")

    def frame_title(t):
        return f"{head}<br><sup>step {t}: {int(spikes[t].sum())} of {h * w} neurons spike</sup>"

    frames = [dict(data=[heatmap(t)], name=str(t), layout=dict(title=dict(text=frame_title(t))))
              for t in steps]
    layout = base_layout(title=frame_title(steps[0]), kind="conv-frames", x_title="column",
                         y_title="row", legend=False, height=560)
    layout["margin"]["b"] = 120
    _grid_axes(layout, h, w)
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=150, redraw=True), fromcurrent=True,
                                 transition=dict(duration=0), mode="immediate")])
    pause = dict(label="❚❚ pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate",
                                    transition=dict(duration=0))])
    layout.update(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, buttons=[play, pause],
                          x=0.0, xanchor="left", y=-0.08, yanchor="top", pad=dict(r=10, t=0))],
        sliders=[dict(active=0, x=0.2, len=0.8, y=-0.05, yanchor="top",
                      currentvalue=dict(prefix="step ", visible=True),
                      pad=dict(t=10),
                      steps=[dict(method="animate", label=str(t),
                                  args=[[str(t)], dict(frame=dict(duration=0, redraw=True),
                                                       mode="immediate",
                                                       transition=dict(duration=0))])
                             for t in steps])],
        meta={"frame_steps": [int(t) for t in steps]},
    )
    return figure([heatmap(steps[0])], layout, frames)


def rate_map_figure(trace, channel: int = 0, batch: int = 0) -> go.Figure:
    """Mean firing rate (spikes per step, ``spk != 0`` counted) of each cell of one channel."""
    T, batch, channel, shape = _check_conv(trace, channel, batch)
    h, w = shape[1], shape[2]
    rate = (_channel_spikes(trace, batch, channel) != 0).mean(axis=0)  # (H, W)
    data = [dict(
        type="heatmap", z=rate.astype(np.float32), x0=0, dx=1, y0=0, dy=1,
        colorscale=colorscale(SEQUENTIAL_SCALE), zmin=0,
        zmax=max(float(rate.max()), 1e-9), name="rate",
        colorbar=dict(title=dict(text="spikes / step")),
        hovertemplate="row %{y}, column %{x}<br>%{z:.3f} spikes/step<extra></extra>")]
    layout = base_layout(title=f"Mean firing rate of channel {channel} (sample {batch}) over {T} steps",
                         kind="rate-map", x_title="column", y_title="row", legend=False, height=480)
    _grid_axes(layout, h, w)
    return figure(data, layout)
