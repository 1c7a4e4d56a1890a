"""Presentation mode (``?present=1``): projector-sized type for the page and its charts."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go
import streamlit as st

from .classroom import Classroom, classroom, held_classroom

__all__ = ["PRESENT_FONT", "apply_presentation", "present_figure"]

# Larger type for a projector.  Streamlit sizes its text, widgets and spacing
# in rem, so the root font size scales the whole page; the rules after it
# only give headings and metrics more room.
_PRESENT_CSS = """
<style>
html { font-size: 22px; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding-left: 2.5rem; padding-right: 2.5rem; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { line-height: 1.5; }
[data-testid="stMetricValue"] { font-size: 2.2rem; }
[data-testid="stCaptionContainer"] { font-size: 0.95rem; }
</style>
"""
PRESENT_FONT = 18  # Plotly font size (px) in presentation mode; Plotly's default is 12


def apply_presentation(room: Optional[Classroom] = None) -> None:
    """Inject the presentation styles when ``?present=1`` is on (call once per page run)."""
    room = room or classroom()
    if room.present:
        st.html(_PRESENT_CSS)


def present_figure(fig: go.Figure, room: Optional[Classroom] = None) -> go.Figure:
    """``fig`` with projector-sized fonts when presenting (a copy); otherwise ``fig`` itself."""
    room = room or held_classroom()
    if room.present:
        fig = go.Figure(fig)  # a copy: the caller may also export the original
        fig.update_layout(font=dict(size=PRESENT_FONT), title_font_size=PRESENT_FONT + 6,
                          hoverlabel_font_size=PRESENT_FONT)
        if fig.layout.height:
            fig.update_layout(height=int(fig.layout.height * 1.15))
    return fig
