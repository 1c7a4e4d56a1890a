"""The live neuron chart: the explorer's figure plus one frame per position of each live control.

``live_chart_spec`` is what the browser component (``rleaky_viz.ui.live``)
holds: the figure of the authoritative run, and for every frame of
:class:`rleaky_viz.live.LiveFrames` the traces that differ from it, drawn by
the same code as :func:`~rleaky_viz.figures.neuron.neuron_figure`
(``neuron_traces``), so switching to a frame shows exactly what the figure
of that setting's own run shows.  Arrays travel as plotly.js typed-array
specs (``{"dtype", "bdata"}``, base64), which plotly.js reads directly.

``live_figure`` is the same for a standalone file or a notebook: a
``go.Figure`` with plotly's own slider and one frame per position of one
control (β by default), which needs no server.
"""
from __future__ import annotations

import base64
import math
from typing import Optional

import numpy as np
import plotly.graph_objects as go

from ..config import control
from ._spec import figure
from .neuron import _steady_state, neuron_changes, neuron_figure, neuron_series, neuron_traces

__all__ = ["live_chart_spec", "live_figure", "encode_arrays"]

_DTYPES = {np.dtype("float32"): "f4", np.dtype("float64"): "f8", np.dtype("int32"): "i4",
           np.dtype("uint8"): "u1", np.dtype("int16"): "i2", np.dtype("int8"): "i1",
           np.dtype("uint16"): "u2", np.dtype("uint32"): "u4"}


def _typed(a: np.ndarray):
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    elif a.dtype == np.int64:
        if a.size and (a.min() < -2**31 or a.max() >= 2**31):
            a = a.astype(np.float64)
        else:
            a = a.astype(np.int32)
    elif a.dtype not in _DTYPES:
        a = a.astype(np.float64)
    if a.dtype.kind in "iu" and a.size and a.min() >= 0 and a.max() < 256:
        a = a.astype(np.uint8)  # marker sizes and the like
    if a.dtype == np.float64:  # float32 where that loses nothing (the core's values are float32)
        narrow = a.astype(np.float32)
        if np.array_equal(narrow.astype(np.float64), a, equal_nan=True):
            a = narrow
    if a.ndim != 1:
        return [_typed(r) for r in a]
    a = np.ascontiguousarray(a)
    return {"dtype": _DTYPES[a.dtype], "bdata": base64.b64encode(a.tobytes()).decode("ascii")}


def _same(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, (str, int, float)) and isinstance(b, (str, int, float)):
        return type(a) is type(b) and a == b
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        eq = a == b
        if eq.all():
            return True
        return a.dtype.kind == "f" and b.dtype.kind == "f" and bool(
            np.all(eq | (np.isnan(a) & np.isnan(b))))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def encode_arrays(obj):
    """``obj`` with every numpy array as a typed-array spec and numpy scalars as numbers."""
    if isinstance(obj, np.ndarray):
        return _typed(obj)
    if isinstance(obj, dict):
        return {k: encode_arrays(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_arrays(v) for v in obj]
    if isinstance(obj, np.generic):
        value = obj.item()
        return None if isinstance(value, float) and not math.isfinite(value) else value
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _frame_patch(series: dict, steady: Optional[float], base_traces: dict, neuron: int,
                 batch: int) -> dict:
    """A frame as live.js applies it: per trace (in the figure's order) the values that differ
    from the base figure's (``neuron_changes``, the part of ``neuron_traces`` that follows
    the run); a trace the base figure lacks (the steady-state line) travels whole."""
    changes, title = neuron_changes(series, steady, neuron=neuron, batch=batch)
    traces = []
    for name, values in changes.items():
        old = base_traces.get(name)
        if old is None:
            full = next(t for t in neuron_traces(series, steady, neuron, batch)[0] if t["name"] == name)
            traces.append(encode_arrays(full))
            continue
        patch = {"name": name}
        for k, v in values.items():
            if not _same(v, old.get(k)):
                patch[k] = encode_arrays(v)
        traces.append(patch)
    return {"title": title, "traces": traces}


def live_chart_spec(trace, frames, overlay: Optional[dict] = None, *, fig: Optional[go.Figure] = None) -> dict:
    """The live chart's data: the figure, the controls and every frame's changes (JSON-ready).

    ``frames`` is :func:`rleaky_viz.live.live_frames` of the run ``trace``
    describes (same neuron and sample); ``overlay`` as for ``neuron_figure``;
    ``fig``: the figure to start from (default ``neuron_figure`` of the trace),
    e.g. with presentation fonts.
    """
    fig = fig if fig is not None else neuron_figure(trace, neuron=frames.neuron, batch=frames.batch,
                                                    overlay=overlay)
    spec = encode_arrays(fig.to_plotly_json())  # plotly encodes most arrays (not empty ones)
    raw, _ = neuron_traces(neuron_series(trace, frames.neuron, frames.batch), _steady_state(overlay),
                           neuron=frames.neuron, batch=frames.batch)
    base_traces = {t["name"]: t for t in raw}
    controls, patches = [], {}
    for name in frames.fields:
        c = control(name)
        controls.append({"field": name, "label": c.label, "symbol": c.symbol,
                         "values": frames.values[name], "index": frames.current[name]})
        patches[name] = [_frame_patch(frames.series(name, k, native=True), frames.steady(name, k), base_traces,
                                      frames.neuron, frames.batch)
                         for k in range(len(frames.values[name]))]
    return {"figure": {"data": spec["data"], "layout": spec["layout"]}, "controls": controls,
            "frames": patches, "varying": _varying(trace, frames)}


def _varying(trace, frames) -> dict:
    """The keys a frame may change, by trace name (what live.js restyles)."""
    changes, _ = neuron_changes(frames.series(frames.fields[0], 0), 0.0, frames.neuron, frames.batch)
    return {name: list(values) for name, values in changes.items()}


def live_figure(trace, frames, field: str = "beta", overlay: Optional[dict] = None) -> go.Figure:
    """``neuron_figure`` with plotly's own slider over the frames of ``field``: works offline.

    Each slider step shows that position's frame (computed by the core,
    ``rleaky_viz.live``); the figure starts at the config's own value.  For
    an exported HTML file or a notebook, where no server answers a drag.
    """
    if field not in frames.values:
        raise ValueError(f"{field} is not live here; the live fields are {', '.join(frames.fields)}")
    fig = neuron_figure(trace, neuron=frames.neuron, batch=frames.batch, overlay=overlay)
    base = fig.to_plotly_json()
    names = [t.get("name") for t in base["data"]]
    c = control(field)
    out_frames, steps = [], []
    for k, value in enumerate(frames.values[field]):
        data, title = neuron_traces(frames.series(field, k), frames.steady(field, k),
                                    neuron=frames.neuron, batch=frames.batch)
        by_name = {t["name"]: t for t in data}
        # a frame updates the figure's traces in order; one it lacks is emptied
        frame_data = [by_name.get(n, {"type": "scatter", "x": [], "y": [], "name": n}) for n in names]
        label = f"{value:g}"
        out_frames.append({"name": label, "data": frame_data, "layout": {"title": {"text": title}},
                           "traces": list(range(len(names)))})
        steps.append({"label": label, "method": "animate",
                      "args": [[label], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                         "transition": {"duration": 0}}]})
    layout = dict(base["layout"])
    layout["sliders"] = [{"active": frames.current[field], "steps": steps, "pad": {"t": 40},
                          "currentvalue": {"prefix": f"{c.symbol} = "}, "name": field}]
    layout["margin"] = dict(layout.get("margin") or {}, b=110)
    return figure(base["data"], layout, frames=out_frames)
