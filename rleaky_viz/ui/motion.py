"""Reduced motion and the page-wide accessibility styles.

The server cannot read the browser's ``prefers-reduced-motion`` media query,
so a tiny ``st.components.v2`` piece on every page (:func:`watch_motion`,
called by ``setup_page``) reads ``matchMedia('(prefers-reduced-motion:
reduce)')`` and reports it when it differs from what the session believes
(at most one extra rerun, only for a browser that asks for reduced motion,
and again only when the setting changes).  :func:`reduced_motion` is that
belief: Play on the time cursor then does not run by itself, the live
training chart is drawn once at the end, and the conv grid's animation has
no play button (its slider still scrubs).

:data:`A11Y_CSS` also turns off CSS animations and transitions under the
media query (Streamlit's spinners and progress bars, our own), and draws
captions with at least 4.5:1 contrast in both themes (Streamlit's faded
caption on white is 3.9:1).
"""
from __future__ import annotations

import functools

import streamlit as st

__all__ = ["A11Y_CSS", "MOTION_KEY", "watch_motion", "reduced_motion", "still_figure"]

MOTION_KEY = "_a11y_motion"        # the component's widget key
_BELIEF = "_reduced_motion"         # what the session believes (a plain key: survives page switches)

# Streamlit draws captions in the text colour at opacity 0.6: 3.9:1 on white.  At 0.8 the
# theme's text colour (light or dark) gives about 7:1 on white and 13:1 on the dark theme.
A11Y_CSS = """
<style>
[data-testid="stCaptionContainer"] { opacity: 0.8; }
.st-key-_a11y_motion { display: none; }
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after {
    animation-duration: 0.001ms !important; animation-iteration-count: 1 !important;
    transition-duration: 0.001ms !important; scroll-behavior: auto !important;
  }
}
</style>
"""

_MOTION_JS = """
export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const query = window.matchMedia("(prefers-reduced-motion: reduce)");
  const known = !!(data && data.known);
  parentElement.dataset.reducedMotion = String(query.matches);
  if (query.matches !== known) setStateValue("reduce", query.matches);
  if (!parentElement.__rvMotion) {
    parentElement.__rvMotion = true;
    query.addEventListener("change", (e) => setStateValue("reduce", e.matches));
  }
}
"""


@functools.lru_cache(maxsize=1)
def _component():
    return st.components.v2.component("rleaky_viz_motion", js=_MOTION_JS, isolate_styles=False)


def _reported() -> None:
    state = st.session_state.get(MOTION_KEY)
    value = state.get("reduce") if hasattr(state, "get") else None
    if isinstance(value, bool):
        st.session_state[_BELIEF] = value


def watch_motion() -> None:
    """The page-wide styles and the reduced-motion reporter (once per page run, from ``setup_page``)."""
    st.html(A11Y_CSS)
    _component()(data={"known": reduced_motion()}, key=MOTION_KEY, on_reduce_change=_reported)


def reduced_motion() -> bool:
    """Whether this session's browser asks for reduced motion (False until it has said so)."""
    return bool(st.session_state.get(_BELIEF, False))


def still_figure(fig):
    """``fig`` without Plotly's play/pause buttons when reduced motion is asked for (the slider stays)."""
    if reduced_motion() and fig.layout.updatemenus:
        import plotly.graph_objects as go

        fig = go.Figure(fig)  # a copy: the export keeps its buttons
        fig.layout.updatemenus = ()  # (update_layout(updatemenus=[]) would leave them)
    return fig
