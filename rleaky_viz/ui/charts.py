"""A chart and its text alternative, drawn together: every page draws its charts through :func:`chart`.

The chart itself is our ``st.components.v2`` component ``rleaky-viz.chart``
(``live_assets/chart.js``): the figure travels as its JSON with typed arrays
(``figures.wire.chart_payload``, no deep copy of the figure on the server)
and the browser draws it once per change, after the live chart.  Streamlit's
``st.plotly_chart`` copies and serialises each figure on every rerun and
draws it twice in the browser; it is used only where a chart reports a
selection back (``on_select``, the sweep maps), or where a figure holds
something our encoder cannot write.

The text (from :mod:`rleaky_viz.describe`, computed from the run) is shown
right under the chart as a short "Chart summary" caption: a screen reader
reaches it in reading order, and everyone gets the chart's key numbers in
words.  It sits in a container keyed ``chart_summary_<key>`` so the browser
tests can find the summary of every chart.
"""
from __future__ import annotations

import functools

import streamlit as st

from ..figures.wire import chart_payload
from .panels import plain

__all__ = ["chart", "chart_summary", "SUMMARY_PREFIX", "CHART_COMPONENT"]

SUMMARY_PREFIX = "chart_summary_"
CHART_COMPONENT = "rleaky-viz.chart"  # "<project>.<component>" as pyproject.toml declares it


@functools.lru_cache(maxsize=1)
def _component():
    from .live import _plotly_js

    _plotly_js()
    return st.components.v2.component(CHART_COMPONENT, js="chart.js", css="live.css",
                                      isolate_styles=False)


def chart_summary(alt: str, key: str, where=None) -> None:
    """The text alternative ``alt`` of the chart keyed ``key`` (markdown made inert)."""
    box = (where or st).container(key=f"{SUMMARY_PREFIX}{key}")
    box.caption(f"**Chart summary:** {plain(alt)}")


def chart(fig, key: str, alt: str, *, where=None, **options):
    """Draw ``fig`` (a ``go.Figure``) keyed ``key``, full width, with ``alt`` below it.

    ``where``: a column or container to draw into (default: the page).
    ``options`` (``on_select``, ``selection_mode``...) go to
    ``st.plotly_chart``, which then draws the chart; the return value is
    what it returns (the selection with ``on_select``), otherwise None.
    """
    target = where or st
    payload = None
    if not options:
        try:
            payload = chart_payload(fig, alt)
        except (TypeError, ValueError):  # something JSON cannot carry: plotly's own export
            payload = None
    if payload is not None:
        if where is None:
            _component()(data=payload, key=key)
        else:
            with where:  # a component is mounted where the `with` block points
                _component()(data=payload, key=key)
        event = None
    else:
        options.setdefault("width", "stretch")
        # the same text is the chart's accessible name (Streamlit sets it on the chart itself)
        options.setdefault("alt", alt)
        event = target.plotly_chart(fig, key=key, **options)
    chart_summary(alt, key, where)
    return event
