"""The live neuron chart: the explorer's figure plus one frame per position of each live control.

``live_chart_payload`` is what the browser component (``rleaky_viz.ui.live``)
holds: the figure of the authoritative run, and for every frame of
:class:`rleaky_viz.live.LiveFrames` the values of the traces that follow the
run, made by the same code as :func:`~rleaky_viz.figures.neuron.neuron_figure`
(``neuron.frame_changes``, all frames of a control at once), so switching to
a frame shows exactly what the figure of that setting's own run shows.  It
travels as raw bytes: a JSON header and the frames' arrays as they are in
memory (no base64, no JSON numbers); :func:`read_live_payload` and
:func:`live_frame` read it back as ``live.js`` does.

``live_figure`` is the same for a standalone file or a notebook: a
``go.Figure`` with plotly's own slider and one frame per position of one
control (β by default), which needs no server.
"""
from __future__ import annotations

import json
import struct
import zlib
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..config import control
from ._spec import figure
from .wire import DTYPES as _DTYPES, encode_arrays, figure_json, narrow as _narrow
from .neuron import Each, Ragged, Rows, frame_changes, neuron_figure, neuron_traces

__all__ = ["live_chart_payload", "encode_frames", "read_live_payload", "live_frame", "live_figure",
           "encode_arrays", "MAGIC"]

try:  # zlib-ng: the same zlib format, 2-7 times faster than zlib's level 1 at level 2's size
    from zlib_ng import zlib_ng as _deflate
    _LEVEL = 2
except ImportError:  # pragma: no cover - a dependency (pyproject.toml); the stdlib's zlib is slower
    _deflate, _LEVEL = zlib, 1

# The live chart's payload: raw bytes (Streamlit sends them as they are, with no JSON or
# base64 step):  MAGIC, the header's length (uint32, little-endian), the header (JSON, UTF-8),
# zero padding to a multiple of 8, then the arrays, zlib-compressed (header["compressed"]).
# Uncompressed, each array starts at a multiple of 8; the header names each by its index in
# header["arrays"] ({dtype, offset, length}, offset counted from the first array).
MAGIC = b"RLV1"


class _Arrays:
    def __init__(self):
        self.parts, self.index, self.size = [], [], 0

    def add(self, a: np.ndarray) -> int:
        a = _narrow(a).reshape(-1)
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        self.index.append({"dtype": _DTYPES[a.dtype], "offset": self.size, "length": int(a.size)})
        pad = -len(raw) % 8
        self.parts.append(raw + b"\0" * pad)
        self.size += len(raw) + pad
        return len(self.index) - 1


def _encode_value(value, arrays: _Arrays):
    """A value of ``neuron.frame_changes`` as the header holds it (see ``live.js``)."""
    if isinstance(value, Rows):
        rows = np.asarray(value.values)
        if len(rows) and (rows == rows[:1]).all() and not np.isnan(rows.astype(np.float64)).any():
            return {"value": encode_arrays(value.pick(0))}  # the same in every frame
        return {"rows": arrays.add(rows), "width": int(rows.shape[1])}
    if isinstance(value, Ragged):
        return {"ragged": arrays.add(value.values), "offsets": arrays.add(value.offsets)}
    if isinstance(value, Each):
        first = value.values[0] if value.values else None
        if all(v == first for v in value.values):
            return {"value": encode_arrays(first)}
        return {"each": encode_arrays(list(value.values))}
    if isinstance(value, dict):
        return {"dict": {k: _encode_value(v, arrays) for k, v in value.items()}}
    return {"value": encode_arrays(value)}


def _stack(frames, name: str) -> tuple[dict, list]:
    """Field ``name``'s frames as one series dict with a leading frame axis, and their steady states."""
    rows = slice(frames.first[name], frames.first[name] + len(frames.values[name]))
    series = {key: a[rows] for key, a in frames.arrays.items()}
    series["threshold"] = frames.thresholds[rows]
    return series, frames.steadies[rows]


def encode_frames(frames, base_names: Sequence[str]) -> tuple[str, bytes]:
    """Every frame of ``frames`` as the live chart holds it: ``(header part, array bytes)``.

    The header part is already JSON (an object): a cached encoding is sized
    and sent as it is, without walking or serialising its many small parts again.

    ``base_names``: the traces of the figure the chart starts from (a trace
    not among them travels once, whole, in ``templates``).  Independent of
    the figure's styling, so it can be cached with the frames.
    """
    arrays = _Arrays()
    out, sample, varying = {}, None, {}
    for name in frames.fields:
        series, steadies = _stack(frames, name)
        changes, titles, present = frame_changes(series, steadies, frames.neuron, frames.batch)
        if present is None:
            changes.pop("steady state", None)
        elif sample is None or sample[2] is None:
            sample = (name, int(np.argmax(present)), True)
        if sample is None:
            sample = (name, 0, None)
        entry = {"count": len(frames.values[name]), "titles": _encode_value(titles, arrays),
                 "changes": {t: _encode_value(v, arrays)["dict"] for t, v in changes.items()}}
        if present is not None and not present.all():
            entry["present"] = {"steady state": [bool(p) for p in present]}
        out[name] = entry
        for t, v in changes.items():
            varying.setdefault(t, set()).update(v)
    # every trace a frame may have, in the figure's order; those the figure lacks travel once
    name, k, _ = sample
    traces, _ = neuron_traces(frames.series(name, k, native=True), frames.steady(name, k),
                              neuron=frames.neuron, batch=frames.batch)
    templates = {t["name"]: encode_arrays({key: v for key, v in t.items() if key not in varying[t["name"]]})
                 for t in traces if t["name"] not in base_names}
    order = [t["name"] for t in traces]
    header = {"order": order, "templates": templates, "frames": out, "arrays": arrays.index,
              "compressed": "deflate"}
    part = json.dumps(header, allow_nan=False, separators=(",", ":"))
    # zlib's format (what the browser's DecompressionStream("deflate") reads): the frames
    # shrink 5-14 times (runs of zeros, repeated values), which a lecture hall's Wi-Fi feels
    return part, _deflate.compress(b"".join(arrays.parts), _LEVEL)


def live_chart_payload(trace, frames, overlay: Optional[dict] = None, *, fig: Optional[go.Figure] = None,
                       encoded: Optional[tuple[str, bytes]] = None) -> bytes:
    """The live chart's data as the browser component reads it (raw bytes, see ``MAGIC``).

    The figure of the authoritative run, the controls, and every frame's
    changes to it (:func:`encode_frames`, or ``encoded`` where it was
    cached).  ``frames`` is :func:`rleaky_viz.live.live_frames` of the run
    ``trace`` describes (same neuron and sample); ``overlay`` as for
    ``neuron_figure``; ``fig``: the figure to start from (default
    ``neuron_figure`` of the trace), e.g. with presentation fonts.
    """
    fig = fig if fig is not None else neuron_figure(trace, neuron=frames.neuron, batch=frames.batch,
                                                    overlay=overlay)
    spec = figure_json(fig)
    if encoded is None:
        encoded = encode_frames(frames, [t.get("name") for t in spec["data"]])
    part, blob = encoded
    controls = []
    for name in frames.fields:
        c = control(name)
        controls.append({"field": name, "label": c.label, "symbol": c.symbol,
                         "values": frames.values[name], "index": frames.current[name]})
    rest = json.dumps({"figure": {"data": spec["data"], "layout": spec["layout"]}, "controls": controls},
                      allow_nan=False, separators=(",", ":"))
    text = (part[:-1] + "," + rest[1:]).encode("utf-8")  # one object: the frames' part and the rest
    head = MAGIC + struct.pack("<I", len(text)) + text
    return head + b"\0" * (-len(head) % 8) + blob


_NUMPY = {v: k for k, v in _DTYPES.items()}


def read_live_payload(data: bytes) -> dict:
    """:func:`live_chart_payload`'s bytes back as its header, each array reference a numpy array."""
    data = bytes(data)
    if data[:4] != MAGIC:
        raise ValueError("not a live chart payload (it starts with "
                         f"{data[:4]!r}, not {MAGIC!r})")
    (n,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    start = 8 + n + (-(8 + n) % 8)
    blob = zlib.decompress(data[start:]) if header.get("compressed") == "deflate" else data[start:]
    arrays = [np.frombuffer(blob, dtype=_NUMPY[a["dtype"]].newbyteorder("<"), count=a["length"],
                            offset=a["offset"]) for a in header["arrays"]]
    header["arrays"] = arrays
    return header


def _decoded(enc: dict, arrays: list, k: int, count: int):
    if "value" in enc:
        return enc["value"]
    if "rows" in enc:
        w = enc["width"]
        return arrays[enc["rows"]][k * w:(k + 1) * w]
    if "ragged" in enc:
        o = arrays[enc["offsets"]]
        return arrays[enc["ragged"]][o[k]:o[k + 1]]
    if "each" in enc:
        return enc["each"][k]
    return {key: _decoded(v, arrays, k, count) for key, v in enc["dict"].items()}


def _merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, v in changes.items():
        out[key] = _merged(base.get(key) or {}, v) if isinstance(v, dict) else v
    return out


def live_frame(header: dict, name: str, k: int) -> tuple[list, str]:
    """Frame ``k`` of control ``name`` as the browser draws it: its traces (the figure's,
    with the frame's changes) and its title.  ``header``: :func:`read_live_payload`'s."""
    entry = header["frames"][name]
    if not 0 <= k < entry["count"]:
        raise IndexError(f"{name} has {entry['count']} frames, not {k}")
    arrays = header["arrays"]
    base = {t.get("name"): t for t in header["figure"]["data"]}
    base.update(header["templates"])
    traces = []
    for trace in header["order"]:
        present = entry.get("present", {}).get(trace)
        if trace not in entry["changes"] or (present is not None and not present[k]):
            continue
        changes = {key: _decoded(v, arrays, k, entry["count"])
                   for key, v in entry["changes"].get(trace, {}).items()}
        traces.append(_merged(base.get(trace, {}), changes))
    return traces, _decoded(entry["titles"], arrays, k, entry["count"])


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
