"""How a figure travels to the browser: its JSON, with numpy arrays as typed arrays.

Both of our chart components (``rleaky_viz.ui.charts`` for every chart,
``rleaky_viz.ui.live`` for the live one) send a figure this way.  plotly's
own ``fig.to_json()`` deep-copies the whole figure first (``to_dict``),
then walks the copy to base64 its arrays; on a page of four charts that was
a good part of a rerun.  :func:`figure_json` reads the figure's own stores
instead (nothing copied: a new structure is built as it is encoded) and
writes each numeric numpy array as plotly.js's typed-array spec
(``{"dtype", "bdata"}``, with ``"shape"`` for 2-D: what plotly.js itself
decodes), in the smallest dtype that holds its values exactly.  The keys
plotly leaves as lists (an axis ``range``, ``geojson``...) stay lists.
"""
from __future__ import annotations

import base64
import functools
import json
import math
import struct
import zlib

import numpy as np

from ._spec import template_named, unbuilt_dict

__all__ = ["encode_arrays", "narrow", "DTYPES", "figure_json", "chart_payload",
           "read_chart_payload", "CHART_MAGIC"]

DTYPES = {np.dtype("float32"): "f4", np.dtype("float64"): "f8", np.dtype("int32"): "i4",
          np.dtype("uint8"): "u1", np.dtype("int16"): "i2", np.dtype("int8"): "i1",
          np.dtype("uint16"): "u2", np.dtype("uint32"): "u4"}

# keys whose arrays plotly.js reads as plain lists (plotly's own list: _plotly_utils.utils)
_PLAIN_KEYS = frozenset(("geojson", "layer", "layers", "range"))


def narrow(a: np.ndarray) -> np.ndarray:
    """``a`` (numeric or boolean) in the smallest typed-array dtype that holds its values exactly."""
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    elif a.dtype.kind in "iu" and a.dtype not in DTYPES:  # int64, uint64
        if a.size and (a.min() < -2**31 or a.max() >= 2**31):
            a = a.astype(np.float64)
        else:
            a = a.astype(np.int32)
    elif a.dtype not in DTYPES:
        a = a.astype(np.float64)
    if a.dtype.kind in "iu" and a.size and a.min() >= 0 and a.max() < 256:
        a = a.astype(np.uint8)  # marker sizes and the like
    if a.dtype == np.float64:  # float32 where that loses nothing (the core's values are float32)
        low = a.astype(np.float32)
        if np.array_equal(low.astype(np.float64), a, equal_nan=True):
            a = low
    return np.ascontiguousarray(a)


def _typed(a: np.ndarray):
    a = narrow(a)
    spec = {"dtype": DTYPES[a.dtype], "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        spec["shape"] = ",".join(str(n) for n in a.shape)
    return spec


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def encode_arrays(obj, _key: str = ""):
    """``obj`` with every numeric numpy array as a typed-array spec and numpy scalars as numbers.

    Non-finite floats become None (JSON has no NaN); an empty array, a
    non-numeric one and any array under a key plotly.js reads as a list
    (``range``...) become lists.
    """
    if isinstance(obj, np.ndarray):
        if obj.size == 0 or obj.dtype.kind not in "biuf" or _key in _PLAIN_KEYS:
            return [encode_arrays(v) for v in obj.tolist()] if obj.ndim else _finite(obj.item())
        return _typed(obj)
    if isinstance(obj, dict):
        return {k: encode_arrays(v, k) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_arrays(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    if isinstance(obj, float):
        return _finite(obj)
    if hasattr(obj, "to_numpy"):  # a pandas Series or Index left in an unvalidated figure
        return encode_arrays(obj.to_numpy(), _key)
    return obj


def figure_json(fig) -> dict:
    """``fig`` (a ``go.Figure``) as the dict plotly.js draws, arrays encoded, nothing deep-copied.

    Equal to ``fig.to_plotly_json()`` but for the arrays' dtypes (narrowed
    where no value changes) and NaN written as null.  A figure of our
    builders not built yet (``_spec.SpecFigure``) is read from its spec,
    with the default template plotly would have put in its layout, and is
    left unbuilt.
    """
    out = unbuilt_dict(fig, encode_arrays, _encoded_template)
    if out is not None:
        return out
    try:
        data, layout = fig._data, fig._layout
        frames = [f._props for f in fig._frame_objs]
    except AttributeError:  # plotly's internals moved: its own (copying) export
        spec = fig.to_plotly_json()
        data, layout, frames = spec["data"], spec["layout"], spec.get("frames") or []
    out = {"data": encode_arrays(list(data)), "layout": encode_arrays(dict(layout))}
    if frames:
        out["frames"] = encode_arrays(list(frames))
    return out


@functools.lru_cache(maxsize=8)
def _encoded_template(name: str):
    return encode_arrays(template_named(name), "template")  # shared: never changed by anyone


# A chart's payload: CHART_MAGIC, the CRC-32 of the JSON (uint32, little-endian: the browser
# skips a redraw when it has already drawn that figure), then the JSON, UTF-8:
# {"figure": {...}, "alt": "...", "theme": "streamlit"}.  Raw bytes travel as they are.
CHART_MAGIC = b"RLC1"


def chart_payload(fig, alt: str, theme: str = "streamlit") -> bytes:
    """The chart component's data for ``fig`` with the text alternative ``alt``.

    Raises TypeError where the figure holds something JSON cannot carry.
    """
    text = json.dumps({"figure": figure_json(fig), "alt": alt, "theme": theme},
                      allow_nan=False, separators=(",", ":")).encode("utf-8")
    return CHART_MAGIC + struct.pack("<I", zlib.crc32(text)) + text


def read_chart_payload(data: bytes) -> dict:
    """:func:`chart_payload`'s bytes back as ``{"figure", "alt", "theme"}``."""
    data = bytes(data)
    if data[:4] != CHART_MAGIC:
        raise ValueError(f"not a chart payload (it starts with {data[:4]!r}, not {CHART_MAGIC!r})")
    return json.loads(data[8:].decode("utf-8"))
