"""The one place that decides how figures look: palette, roles, layout defaults.

Colours come from the Okabe-Ito palette (Okabe & Ito, "Color Universal
Design", 2008), which stays distinguishable under the common forms of colour
blindness.  Each recorded quantity has one colour, the same in every figure,
so a reader who learnt "orange is input" on one page can rely on it on the
next.  No template is set: Streamlit applies its own light or dark theme and
keeps the explicit colours given here.
"""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go

__all__ = ["OKABE_ITO", "COLORS", "SEQUENCE", "SEQUENTIAL_SCALE", "DIVERGING_SCALE",
           "RASTER_SPIKE_RGB", "RASTER_BACKGROUND_RGB", "base_layout", "apply_layout", "with_alpha"]

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

# A role for each quantity; figures ask for roles, never for raw hex codes.
COLORS = {
    "input": OKABE_ITO["orange"],
    "leak": OKABE_ITO["sky_blue"],
    "membrane": OKABE_ITO["blue"],
    "base": OKABE_ITO["sky_blue"],
    "recurrent": OKABE_ITO["bluish_green"],
    "reset": OKABE_ITO["vermillion"],
    "threshold": OKABE_ITO["vermillion"],
    "spikes": OKABE_ITO["reddish_purple"],
    "rate": OKABE_ITO["blue"],
    "raw": OKABE_ITO["sky_blue"],
    "reference": "#7F7F7F",  # neutral grey: steady state, unit circle
    "eigen": OKABE_ITO["blue"],
}

# Colour cycle for several traces of the same kind (neurons side by side);
# yellow is left out (unreadable on white) and so is black (unreadable on the
# dark theme).
SEQUENCE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion",
                                   "reddish_purple", "sky_blue")]

SEQUENTIAL_SCALE = "Viridis"   # perceptually uniform, colour-blind safe
DIVERGING_SCALE = "RdBu_r"     # blue negative, red positive; centre it with zmid=0

# The spike raster is a 1-bit PNG: these are its two palette entries.
# Okabe-Ito blue on a transparent background: readable on the light and the
# dark theme alike (black spikes would vanish on dark).
RASTER_SPIKE_RGB = (0, 114, 178)
RASTER_BACKGROUND_RGB = (255, 255, 255)

_MARGIN = dict(l=70, r=30, t=70, b=55)


def with_alpha(hex_color: str, alpha: float) -> str:
    """``#RRGGBB`` as an ``rgba(...)`` string with the given opacity."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def base_layout(*, title: str, kind: str, x_title: Optional[str] = None,
                y_title: Optional[str] = None, height: Optional[int] = None,
                legend: bool = True) -> dict:
    """Shared layout as a plain dict: title, margins, legend at the right, and ``uirevision``.

    ``uirevision`` is a constant per figure kind, so Plotly keeps the user's
    zoom and legend clicks when Streamlit reruns the script and sends a new
    figure of the same kind.  ``x_title``/``y_title`` name the single
    ``xaxis``/``yaxis``; figures with subplots title their own axes.  The
    builders start from this dict (see :mod:`rleaky_viz.figures._spec`).
    """
    layout = {
        "title": {"text": title, "x": 0.0, "xanchor": "left"},
        "margin": dict(_MARGIN),
        "uirevision": kind,
        "showlegend": legend,
        # a vertical legend on the right never collides with the title, however
        # narrow the column (a wrapped horizontal legend on top does)
        "legend": {"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02,
                   "tracegroupgap": 6},
    }
    if height is not None:
        layout["height"] = height
    if x_title is not None:
        layout["xaxis"] = {"title": {"text": x_title}}
    if y_title is not None:
        layout["yaxis"] = {"title": {"text": y_title}}
    return layout


def apply_layout(fig: go.Figure, *, title: str, kind: str, x_title: Optional[str] = None,
                 y_title: Optional[str] = None, height: Optional[int] = None,
                 legend: bool = True) -> go.Figure:
    """:func:`base_layout` applied to an existing figure (axis titles on every x / y axis)."""
    layout = base_layout(title=title, kind=kind, height=height, legend=legend)
    fig.update_layout(layout)
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig
