"""Figures of a whole population: spike raster, population rate, quantity heatmap.

All three must stay light for 1,000 neurons x 10,000 steps: the raster is a
1-bit PNG, the heatmap averages time bins once it passes ``max_cells``.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from . import _data as d
from ._png import png_1bit, png_data_uri
from ._spec import colorscale, figure
from .style import (COLORS, RASTER_BACKGROUND_RGB, RASTER_SPIKE_RGB, SEQUENTIAL_SCALE, DIVERGING_SCALE,
                    base_layout, with_alpha)

__all__ = ["raster_figure", "rate_figure", "heatmap_figure", "raster_mask", "population_rate",
           "rate_windows"]


def _neuron_axis_title(shape) -> str:
    if len(shape) > 1:
        dims = " × ".join(str(s) for s in shape)
        return f"neuron (flat index of {dims})"
    return "neuron"


def _last_bin(num_steps: int, k: int) -> int:
    """How many steps the last of the bins of ``k`` steps holds (``k`` unless ``k`` does not divide T)."""
    return num_steps - (d.bin_starts(num_steps, k).size - 1) * k


def _merge_words(num_steps: int, k: int, verb: str) -> str:
    """'merges 4 steps' / 'merges 4 steps (the last one 2)': what the title says of the bins."""
    last = _last_bin(num_steps, k)
    return f"{verb} {k} steps" + (f" (the last one {last})" if last != k else "")


def _step_hover(num_steps: int, k: int, each: str, short: str) -> str:
    """The hover's first line: 'step 3', or 'steps around 5.5 (4 merged; 2 in the last column)'."""
    if k == 1:
        return "step %{x}"
    last = _last_bin(num_steps, k)
    words = each.format(k=k) + (f"; {short.format(last=last)}" if last != k else "")
    return f"steps around %{{x}} ({words})"


def raster_mask(trace, batch: int = 0, max_pixels: int = 2_000_000) -> tuple[np.ndarray, int]:
    """The raster's pixels: a boolean ``(neurons, columns)`` array and the steps per column.

    A pixel is set when its neuron spiked (``spk != 0``) at any step of its
    column's bin, so merging never hides a spike.
    """
    T, B, shape = d.check_trace(trace, "spk")
    batch = d.check_batch(batch, B)
    max_pixels = d.check_int("max_pixels", max_pixels, 1)
    fired = d.series(trace, "spk", batch) != 0  # (T, N)
    k = d.merge_factor(T, fired.shape[1], max_pixels)
    pooled = d.max_pool_time(fired.view(np.uint8), k).astype(bool)  # (ceil(T/k), N)
    return np.ascontiguousarray(pooled.T), k


def raster_figure(trace, batch: int = 0, max_pixels: int = 2_000_000) -> go.Figure:
    """Spike raster of every neuron (rows) over time (columns), drawn as a 1-bit image.

    When ``T × neurons`` exceeds ``max_pixels``, ``k`` consecutive steps
    share one pixel column (dark if any of them holds a spike); the title
    says so and ``fig.layout.meta["merged_steps"]`` is ``k``.
    """
    mask, k = raster_mask(trace, batch, max_pixels)
    T, _, shape = d.check_trace(trace, "spk")
    n, cols = mask.shape
    total = int(np.count_nonzero(d.series(trace, "spk", batch)))
    uri = png_data_uri(png_1bit(mask, off_rgb=RASTER_BACKGROUND_RGB, on_rgb=RASTER_SPIKE_RGB,
                                 transparent_off=True))
    step_hover = _step_hover(T, k, "{k} merged", "{last} in the last column")
    data = [dict(type="image", source=uri, x0=(k - 1) / 2.0, dx=k, y0=0, dy=1, name="spikes",
                 hovertemplate=f"{step_hover}<br>neuron %{{y}}<extra></extra>")]
    title = f"Spike raster (sample {batch}): {total} spikes, {n} neurons, {T} steps"
    if k > 1:
        title += (f"<br><sup>each pixel column {_merge_words(T, k, 'merges')}"
                  ", dark if any of them holds a spike</sup>")
    layout = base_layout(title=title, kind="raster", x_title="time step",
                         y_title=_neuron_axis_title(shape), legend=False,
                         height=int(min(700, max(260, 120 + 2 * n))))
    layout["xaxis"].update(range=[-0.5, cols * k - 0.5], autorange=False, showgrid=False)
    # an image trace pins square pixels by default; a raster wants the whole width
    layout["yaxis"].update(range=[n - 0.5, -0.5], autorange=False, showgrid=False,
                           scaleanchor=False)
    layout["meta"] = {"merged_steps": k}
    return figure(data, layout)


def rate_windows(num_steps: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The steps each smoothed rate averages: ``[lo[t], hi[t])`` for every step ``t``.

    ``window`` steps centred on ``t``, clipped at the ends of the run.
    """
    t = np.arange(num_steps)
    lo = np.clip(t - (window - 1) // 2, 0, num_steps)
    hi = np.clip(t + window // 2 + 1, 0, num_steps)
    return lo, hi


def population_rate(trace, window: int = 10, batch: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spikes per neuron per step, raw and smoothed by a centred moving average.

    The average covers ``window`` steps centred on each step, clipped at the
    ends of the run (where it averages fewer steps); a window longer than the
    run averages all of it.
    """
    T, B, _ = d.check_trace(trace, "spk")
    batch = d.check_batch(batch, B)
    window = d.check_int("window", window, 1)
    fired = d.series(trace, "spk", batch) != 0
    rate = fired.mean(axis=1)  # (T,)
    cs = np.concatenate([[0.0], np.cumsum(rate)])
    lo, hi = rate_windows(T, window)
    smooth = (cs[hi] - cs[lo]) / (hi - lo)
    return rate, smooth


def rate_figure(trace, window: int = 10, batch: int = 0) -> go.Figure:
    """Population firing rate over time: raw per step (faint) and smoothed over ``window`` steps.

    Trace names: "rate" (raw) and "smoothed".  Near the ends of the run the
    centred window holds fewer steps: each point's hover names the steps it
    averages, and the title says when they are fewer than ``window``.
    """
    rate, smooth = population_rate(trace, window, batch)
    T = rate.size
    steps = np.arange(T, dtype=np.int32)
    lo, hi = rate_windows(T, window)
    spans = np.stack([lo, hi - 1, hi - lo], axis=1).astype(np.int32)  # first, last, how many
    data = [dict(type="scatter", x=steps, y=rate, name="rate", mode="lines",
                 line=dict(color=with_alpha(COLORS["raw"], 0.6), width=1),
                 hovertemplate="step %{x}<br>%{y:.4g} spikes/neuron<extra>per step</extra>"),
            dict(type="scatter", x=steps, y=smooth, name="smoothed", mode="lines",
                 line=dict(color=COLORS["rate"], width=2.5),
                 customdata=spans,
                 hovertemplate="step %{x}<br>%{y:.4g} spikes/neuron/step<extra>mean of steps "
                               "%{customdata[0]}–%{customdata[1]} (%{customdata[2]})</extra>")]
    counts = hi - lo
    if counts.min() == T:
        span = f"mean over all {T} step{'s' if T != 1 else ''}"
    else:
        span = f"mean over {window} step{'s' if window != 1 else ''}"
        if counts.min() < window:
            span += f" centred on each (down to {int(counts.min())} at the ends)"
    layout = base_layout(title=f"Population firing rate (sample {batch}), {span}",
                         kind="rate", x_title="time step", y_title="spikes / neuron / step",
                         height=360)
    layout["yaxis"]["rangemode"] = "tozero"
    layout["hovermode"] = "x unified"
    return figure(data, layout)


def heatmap_figure(trace, quantity: str = "mem", batch: int = 0,
                   max_cells: int = 150_000) -> go.Figure:
    """Neurons × time heatmap of a recorded ``quantity`` (``mem``, ``input``, ``surrogate_grad``...).

    Beyond ``max_cells`` cells, ``k`` consecutive steps are averaged into one
    column; the title says so and ``fig.layout.meta["merged_steps"]`` is ``k``.
    """
    if not isinstance(quantity, str) or quantity not in d.QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(d.QUANTITIES)}; got {quantity!r}")
    T, B, shape = d.check_trace(trace, quantity)
    batch = d.check_batch(batch, B)
    max_cells = d.check_int("max_cells", max_cells, 1)
    data = d.series(trace, quantity, batch)  # (T, N)
    k = d.merge_factor(T, data.shape[1], max_cells)
    z = d.mean_pool_time(data, k).T.astype(np.float32)  # (N, columns)
    label = d.QUANTITY_LABELS[quantity]
    signed = quantity in d.SIGNED
    heat = dict(
        type="heatmap", z=z, x=d.bin_centres(T, k), y0=0, dy=1, name=quantity,
        colorscale=colorscale(DIVERGING_SCALE if signed else SEQUENTIAL_SCALE),
        colorbar=dict(title=dict(text=quantity)),
        hovertemplate=_step_hover(T, k, "mean of {k}", "of {last} in the last column")
                      + "<br>neuron %{y}<br>" + quantity + " = %{z:.4g}<extra></extra>")
    if signed:
        heat["zmid"] = 0
    title = f"{label[0].upper() + label[1:]} per neuron (sample {batch})"
    if k > 1:
        title += f"<br><sup>each column {_merge_words(T, k, 'averages')}</sup>"
    layout = base_layout(title=title, kind="heatmap", x_title="time step",
                         y_title=_neuron_axis_title(shape), legend=False,
                         height=int(min(700, max(300, 140 + 2 * z.shape[0]))))
    layout["yaxis"]["autorange"] = "reversed"
    layout["meta"] = {"merged_steps": k}
    return figure([heat], layout)
