"""A chart and its text alternative, drawn together: every page draws its charts through :func:`chart`.

The text (from :mod:`rleaky_viz.describe`, computed from the run) is shown
right under the chart as a short "Chart summary" caption: a screen reader
reaches it in reading order, and everyone gets the chart's key numbers in
words.  It sits in a container keyed ``chart_summary_<key>`` so the browser
tests can find the summary of every chart.
"""
from __future__ import annotations

import streamlit as st

from .panels import plain

__all__ = ["chart", "chart_summary", "SUMMARY_PREFIX"]

SUMMARY_PREFIX = "chart_summary_"


def chart_summary(alt: str, key: str, where=None) -> None:
    """The text alternative ``alt`` of the chart keyed ``key`` (markdown made inert)."""
    box = (where or st).container(key=f"{SUMMARY_PREFIX}{key}")
    box.caption(f"**Chart summary:** {plain(alt)}")


def chart(fig, key: str, alt: str, *, where=None, **options):
    """``st.plotly_chart(fig, key=key, width="stretch", alt=alt, **options)`` and ``alt`` below it.

    ``where``: a column or container to draw into (default: the page).
    Returns what ``st.plotly_chart`` returns (the selection with ``on_select``).
    """
    options.setdefault("width", "stretch")
    # the same text is the chart's accessible name (Streamlit sets it on the chart itself)
    options.setdefault("alt", alt)
    target = where or st
    event = target.plotly_chart(fig, key=key, **options)
    chart_summary(alt, key, where)
    return event
