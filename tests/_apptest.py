"""Shared helpers for the AppTest page tests: run a page, read its Plotly figures."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from rleaky_viz.figures.live import read_live_payload
from rleaky_viz.figures.wire import read_chart_payload

ROOT = Path(__file__).resolve().parent.parent


def app(file: str, query: dict | None = None, timeout: float = 90) -> AppTest:
    """Run the page ``file`` (relative to the repository) once, with URL ``query``."""
    at = AppTest.from_file(str(ROOT / file), default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def decode(value):
    """A figure array as numpy: Plotly >= 6 writes arrays as {"dtype", "bdata"} blocks."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(s) for s in shape.split(",")]
        return arr.reshape(shape) if shape else arr
    return np.asarray(value)


LIVE_COMPONENT = "rleaky-viz.live"
CHART_COMPONENT = "rleaky-viz.chart"


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def figures(at: AppTest) -> list[dict]:
    """Every Plotly figure on the page, as its JSON, in page order (a live chart's included)."""
    out = []
    for node in _walk(at._tree):
        if node.type == "plotly_chart":
            out.append(json.loads(node.proto.spec))
        elif node.type == "bidi_component" and node.proto.component_name == CHART_COMPONENT:
            out.append(read_chart_payload(node.proto.bytes)["figure"])
        elif node.type == "bidi_component" and node.proto.component_name == LIVE_COMPONENT:
            out.append(read_live_payload(node.proto.bytes)["figure"])
    return out


class Chart:
    """One chart on the page, however it is drawn: its figure (``spec``) and its theme."""

    def __init__(self, spec: dict, theme: str, proto=None):
        self.spec, self.theme, self.proto = spec, theme, proto


def charts(at: AppTest) -> list[Chart]:
    """Every chart on the page but the live ones, in page order: ``ui.charts.chart``'s
    component and ``st.plotly_chart`` (the charts that report a selection)."""
    out = []
    for node in _walk(at._tree):
        if node.type == "plotly_chart":
            out.append(Chart(json.loads(node.proto.spec), node.proto.theme, node.proto))
        elif node.type == "bidi_component" and node.proto.component_name == CHART_COMPONENT:
            payload = read_chart_payload(node.proto.bytes)
            out.append(Chart(payload["figure"], payload["theme"]))
    return out


def live_specs(at: AppTest) -> list[dict]:
    """The data of every live chart on the page (``figures.live.live_chart_payload``, read back)."""
    return [read_live_payload(n.proto.bytes) for n in _walk(at._tree)
            if n.type == "bidi_component" and n.proto.component_name == LIVE_COMPONENT]


def trace_named(fig: dict, name: str) -> dict:
    for t in fig["data"]:
        if t.get("name") == name:
            return t
    raise AssertionError(f"no trace {name!r}; have {[t.get('name') for t in fig['data']]}")
