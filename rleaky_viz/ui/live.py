"""The live chart on a page: it follows β, θ, V and the input while they are dragged.

A thin wrapper around the ``st.components.v2`` component in ``live_assets/``
(``live.js``, ``live.css``, and plotly.js copied from the plotly package).
The frames come from ``ui.runner.run_live_frames`` (one batched run of the
core, cached); the data from ``figures.live.live_chart_payload`` (raw bytes).  On
release the component reports ``{field, value}``; the callback makes it the
page's config (``sidebar.apply_config``), so the rerun redraws the sidebar
and the URL with it and draws the authoritative run, the same frame again.
"""
from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Callable, Optional, Sequence

import plotly.graph_objects as go
import streamlit as st

from ..config import SimConfig, check_value
from ..figures._spec import trace_names
from ..figures.live import live_chart_payload
from ..live import live_fields, live_off_reason
from ..navigation import Page
from .charts import chart, chart_summary
from .runner import encoded_live_frames, run_live_frames
from .sidebar import apply_config, current_config

__all__ = ["live_chart", "COMPONENT_NAME", "ASSETS"]

COMPONENT_NAME = "rleaky-viz.live"  # "<project>.<component>" as pyproject.toml declares it
ASSETS = Path(__file__).with_name("live_assets")


def _plotly_js() -> None:
    """Put the plotly package's own plotly.js next to live.js (served by Streamlit from there)."""
    import plotly

    source = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
    target = ASSETS / "plotly.min.js"
    try:
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
    except OSError:  # a read-only install: make install copies it (Makefile)
        pass


@functools.lru_cache(maxsize=1)
def _component():
    _plotly_js()
    return st.components.v2.component(COMPONENT_NAME, js="live.js", css="live.css",
                                      isolate_styles=False)


def _released(page: Page, key: str, cfg: SimConfig, on_release) -> None:
    state = st.session_state.get(key) or {}
    release = state.get("release") if hasattr(state, "get") else None
    if not isinstance(release, dict):
        return
    field, value = release.get("field"), release.get("value")
    if field not in live_fields(cfg):
        return  # not a live control here (a stale or forged message): nothing changes
    try:
        value = check_value(field, value)
        if on_release is not None:
            on_release(field, value)
        else:
            apply_config(current_config(page).replace(**{field: value}), page)
    except (TypeError, ValueError) as e:
        st.session_state["_live_error"] = f"{field}: {e}"


def live_chart(page: Page, cfg: SimConfig, trace, *, key: str, neuron: int = 0, batch: int = 0,
               overlay: Optional[dict] = None, fig: Optional[go.Figure] = None,
               uploads: tuple = (None, None), allowed: Optional[Sequence[str]] = None,
               on_release: Optional[Callable[[str, float], None]] = None, alt: Optional[str] = None):
    """Draw ``trace``'s neuron figure with live controls; returns its ``LiveFrames``.

    Returns None where the chart cannot follow a drag (then the plain chart is drawn).

    ``allowed``: the live fields this page offers (default: every one that
    takes part in the run).  ``fig``: the figure to draw (default
    ``neuron_figure`` of the trace with ``overlay``).  Where the frames
    would be too large, the plain chart is drawn with a caption saying why.
    ``on_release(field, value)``: what a release does (default: the value
    becomes a field of ``page``'s config, so the sidebar and URL show it).
    ``alt``: the chart's text alternative (default ``describe.describe_trace``
    of the run), shown under it (``ui.charts``); while a control moves, the
    chart's own accessible name follows the frame (its title, in live.js).
    """
    if alt is None:
        from ..describe import describe_trace

        alt = describe_trace(trace, neuron, batch)
    error = st.session_state.pop("_live_error", None)
    if error:
        st.error(f"Not applied: {error}")
    fields = live_fields(cfg, allowed)
    reason = live_off_reason(cfg, fields)
    if reason is None:
        try:
            frames = run_live_frames(cfg, *uploads, neuron=neuron, batch=batch, fields=fields,
                                     overlay=overlay is not None)
        except ValueError as e:
            reason = str(e)
    if reason is not None:
        from ..figures import neuron_figure

        st.caption(f"The chart follows the controls after each release only: {reason}.")
        chart(fig if fig is not None else neuron_figure(trace, neuron=neuron, batch=batch,
                                                        overlay=overlay),
              f"{key}_plain", alt)
        return None
    if fig is None:
        from ..figures import neuron_figure

        fig = neuron_figure(trace, neuron=neuron, batch=batch, overlay=overlay)
    names = trace_names(fig)  # from the spec: the figure is sent, never built
    encoded = encoded_live_frames(frames, *uploads, overlay=overlay is not None, base_names=names)
    payload = live_chart_payload(trace, frames, overlay, fig=fig, encoded=encoded)
    _component()(data=payload, key=key, on_release_change=functools.partial(_released, page, key, cfg, on_release))
    # while a control is dragged the chart shows other runs: the summary says which it is
    chart_summary("At the sidebar's settings (what the chart shows when no control is being "
                  "dragged): " + alt, key)
    return frames
