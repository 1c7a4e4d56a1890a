"""Figures of sweeps: f-I curves, parameter maps, regime maps.

The sweep figures take the frame of ``rleaky_viz.sweeps.sweep`` (one row per
grid point).  The maps carry, above the heatmap, one invisible marker per
cell (trace name "cells", ``customdata`` = the frame's row index): a
heatmap cannot be selected in Plotly, a scatter point can, so a click on a
cell comes back from ``st.plotly_chart(..., on_select="rerun")`` as that
point, and the selected cell is outlined.
"""
from __future__ import annotations

import weakref
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from . import _data as d
from ..config import SWEEPABLE, control
from ._spec import axis_ids, colorscale, figure, subplot_layout
from .style import COLORS, OKABE_ITO, SEQUENTIAL_SCALE, base_layout, with_alpha

__all__ = ["fi_curve_figure", "sweep_map_figure", "regime_map_figure", "REGIME_COLORS", "STAT_LABELS",
           "MAP_VALUES"]

# Axis titles of the statistics (a swept field's title is its control's label).
STAT_LABELS = {
    "rate": "firing rate (spikes / step / neuron)", "isi_cv": "ISI CV", "first_spike": "first-spike latency (steps)",
    "spike_count": "spike count", "isi_mean": "mean ISI (steps)", "active_fraction": "active fraction",
}

# What each continuous map shows and how: (colour scale, reversed?, what NaN means, log?).
# Latencies and intervals span 1 to thousands of steps with most cells at the short
# end, so they are coloured by log(1 + value) (the colour bar is labelled in steps).
MAP_VALUES = {
    "rate": (SEQUENTIAL_SCALE, False, "no spikes", False),
    "isi_cv": ("Cividis", False, "no neuron has 3 spikes", False),
    "first_spike": (SEQUENTIAL_SCALE, True, "never fires", True),   # bright = fast response
    "isi_mean": (SEQUENTIAL_SCALE, True, "no neuron has 2 spikes", True),
    "spike_count": (SEQUENTIAL_SCALE, False, "", False),
    "active_fraction": (SEQUENTIAL_SCALE, False, "", False),
}
_LOG_TICKS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

# One colour per regime, in the order of regimes.REGIMES; grey for silence,
# blues for orderly firing, warm colours for trouble.
REGIME_COLORS = {
    "silent": "#E5E5E5",
    "sparse": OKABE_ITO["sky_blue"],
    "regular": OKABE_ITO["blue"],
    "irregular": OKABE_ITO["orange"],
    "runaway": OKABE_ITO["vermillion"],
}

def _label(name: str) -> str:
    """A column's title: a swept field's control label, or the statistic's."""
    if name in SWEEPABLE:
        return control(name).label
    return STAT_LABELS.get(name, name.replace("_", " "))


def _symbol(name: str) -> str:
    return control(name).symbol if name in SWEEPABLE else name


def _check_frame(frame, *columns: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be the DataFrame of sweeps.sweep, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError("frame has no rows")
    return frame


def _check_axes(frame, x, y) -> pd.DataFrame:
    if x == y:
        raise ValueError(f"x and y must be different columns, both are {x!r}")
    frame = _check_frame(frame, x, y)
    if frame.duplicated([x, y]).any():
        raise ValueError(f"frame has repeated ({x}, {y}) pairs: a map needs one row per cell")
    return frame


def _format(v) -> str:
    return f"{v:.4g}"


def fi_curve_figure(frame, x: str = "amplitude", by: Optional[str] = "beta",
                    value: str = "rate", theory: Optional[dict] = None) -> go.Figure:
    """Firing rate against ``x`` (the input amplitude: an f-I curve), one line per ``by`` value.

    Lines are coloured along the sequential scale in the order of ``by``, so
    a trend across β reads as a trend of colour.  Trace names: "β = 0.9", ...
    ``theory`` (from ``theory.fi_theory``, keyed by the ``by`` values) adds,
    in each curve's colour, a dashed line of the exact rate ("theory β = 0.9")
    where it has one, and a triangle on the axis at the least amplitude that
    fires within the run ("onset β = 0.9").
    """
    frame = _check_frame(frame, x, value, *([by] if by else []))
    theory = theory or {}
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=True))
    colors = sample_colorscale(SEQUENTIAL_SCALE, np.linspace(0.0, 0.9, max(len(groups), 2)))
    data = []
    for i, (key, part) in enumerate(groups):
        part = part.sort_values(x)
        name = value if key is None else f"{_symbol(by)} = {_format(key)}"
        data.append(dict(
            type="scatter", x=part[x].to_numpy(np.float64), y=part[value].to_numpy(np.float64),
            name=name, mode="lines+markers", line=dict(color=colors[i], width=2),
            marker=dict(size=5),
            hovertemplate=f"{_label(x)} %{{x:.4g}}<br>{_label(value)} %{{y:.4g}}<extra>{name}</extra>"))
        data += _fi_theory_traces(theory, key, part[x].to_numpy(np.float64), name, colors[i], x, value)
    title = "f-I curve: firing rate against input amplitude" if x == "amplitude" and value == "rate" \
        else f"{_label(value)} against {_label(x)}"
    layout = base_layout(title=title, kind="fi-curve", x_title=_label(x), y_title=_label(value),
                         height=440)
    layout["hovermode"] = "closest"
    return figure(data, layout)


def _fi_theory_traces(theory: dict, key, xs, name: str, color: str, x: str, value: str) -> list:
    """The theory's dashed rate line and onset triangle for the curve of ``key`` (see fi_curve_figure)."""
    traces = []
    key = None if key is None else float(key)
    rates = theory.get("exact_rate", {}).get(key)
    if rates is not None and len(rates) == len(xs):
        order = np.argsort(xs)
        traces.append(dict(
            type="scatter", x=xs[order], y=np.asarray(rates, np.float64)[order], name=f"theory {name}",
            mode="lines", line=dict(color=color, width=1.5, dash="dash"), legendgroup=name,
            hovertemplate=f"{_label(x)} %{{x:.4g}}<br>theory %{{y:.4g}}<extra>{name}</extra>"))
    onset = theory.get("least_amplitude", {}).get(key)
    if onset is not None and len(xs) and xs.min() <= onset <= xs.max():
        traces.append(dict(
            type="scatter", x=[float(onset)], y=[0.0], name=f"onset {name}", mode="markers",
            marker=dict(symbol="triangle-up", size=11, color=color, line=dict(color="white", width=1)),
            legendgroup=name, showlegend=False,
            hovertemplate=(f"least {_label(x)} that fires within the run: %{{x:.4g}}"
                           f"<extra>{name}</extra>")))
    return traces


def _shown(values: np.ndarray) -> np.ndarray:
    """A column's values as hover text: floats to 4 significant digits, NaN as "–"."""
    if values.dtype.kind == "f":
        text = np.char.mod("%.4g", values).astype(object)
        text[np.isnan(values)] = "–"
        return text
    return np.array([str(v) for v in values.tolist()], dtype=object)


# the hover data of the last frames drawn: the four maps of a sweep share one frame
_CELL_DATA: dict = {}


def _cell_data(frame, cols: list) -> np.ndarray:
    """``(rows, 1 + len(cols))`` objects: each row's index, then its statistics as text."""
    key = (id(frame), tuple(cols))
    hit = _CELL_DATA.get(key)
    if hit is not None and hit[0]() is frame:
        return hit[1]
    data = np.empty((len(frame), 1 + len(cols)), dtype=object)
    data[:, 0] = frame.index.tolist()
    for j, c in enumerate(cols, start=1):
        data[:, j] = _shown(frame[c].to_numpy())
    data.flags.writeable = False  # shared between the maps (and their figures)
    if len(_CELL_DATA) >= 8:
        _CELL_DATA.clear()
    _CELL_DATA[key] = (weakref.ref(frame), data)
    return data


def _cells(frame, x, y, selected: Optional[int]) -> dict:
    """Invisible markers at the cell centres: what a click selects (see module docstring).

    ``customdata[0]`` is the frame's row index; the rest are the statistics
    shown on hover.  A scatter trace spec (a dict).
    """
    cols = [c for c in ("spike_count", "rate", "isi_cv", "first_spike", "regime") if c in frame]
    lines = [f"{_label(x)} = %{{x:.4g}}", f"{_label(y)} = %{{y:.4g}}"]
    lines += [f"{'regime' if c == 'regime' else _label(c)}: %{{customdata[{i + 1}]}}"
              for i, c in enumerate(cols)]
    custom = _cell_data(frame, cols)
    cells = dict(
        type="scatter", x=frame[x].to_numpy(np.float64), y=frame[y].to_numpy(np.float64),
        mode="markers", name="cells", showlegend=False, customdata=custom,
        marker=dict(symbol="square-open", size=14, color=OKABE_ITO["vermillion"], opacity=0.0,
                    line=dict(width=2)),
        selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=0.0)),
        hovertemplate="<br>".join(lines) + "<br><i>click to select</i><extra></extra>")
    if selected is not None:
        cells["selectedpoints"] = [int(selected)]
    return cells


def _grid_layout(layout, frame, x, y):
    layout.update(hovermode="closest", hoverdistance=-1, clickmode="event+select")
    layout.setdefault("xaxis", {}).update(title={"text": _label(x)}, showgrid=False, zeroline=False)
    layout.setdefault("yaxis", {}).update(title={"text": _label(y)}, showgrid=False, zeroline=False)


def _position(frame, selected):
    if selected is None:
        return None
    if selected not in frame.index:
        raise ValueError(f"selected must be a row of the frame, got {selected!r}")
    return int(frame.index.get_loc(selected))


def sweep_map_figure(frame, x: str, y: str, value: str = "rate",
                     selected: Optional[int] = None) -> go.Figure:
    """A 2-D map of ``value`` (rate, ISI CV, first-spike latency, ...) over the swept ``x`` and ``y``.

    Cells where the value is undefined (NaN: no spikes, too few intervals)
    are left blank (the title says why).  Latencies and mean intervals are
    coloured on a log scale (see :data:`MAP_VALUES`); hover shows the values.  ``selected`` (a row index of the
    frame) is outlined.  Trace names: the value's name, "cells".
    """
    frame = _check_axes(frame, x, y)
    _check_frame(frame, value)
    pos = _position(frame, selected)
    scale, reverse, nan_means, log = MAP_VALUES.get(value, (SEQUENTIAL_SCALE, False, "", False))
    table = frame.pivot(index=y, columns=x, values=value).sort_index().sort_index(axis=1)
    z = table.to_numpy(np.float64)
    finite = z[np.isfinite(z)]
    hi = float(finite.max()) if finite.size else 1.0
    lo = float(finite.min()) if finite.size else 0.0
    if value in ("rate", "spike_count", "active_fraction", "isi_cv"):
        lo = 0.0
    colorbar = dict(title=dict(text=_label(value)))
    if log:
        # the values are counts of steps (>= 0): colour log(1 + v), label the bar in steps
        ticks = [t for t in _LOG_TICKS if lo <= t <= hi] or [lo, hi]
        colorbar.update(tickvals=np.log10(1.0 + np.asarray(ticks, dtype=np.float64)).tolist(),
                        ticktext=[f"{t:g}" for t in ticks])
        z, lo, hi = np.log10(1.0 + z), float(np.log10(1.0 + lo)), float(np.log10(1.0 + hi))
    heat = dict(
        type="heatmap", z=z, x=table.columns.to_numpy(np.float64),
        y=table.index.to_numpy(np.float64), name=value, colorscale=colorscale(scale),
        reversescale=reverse, zmin=lo, zmax=max(hi, lo + 1e-9), colorbar=colorbar,
        hoverinfo="skip")
    blank = f" · blank: {nan_means}" if nan_means and not np.isfinite(z).all() else ""
    layout = base_layout(title=f"{_label(value)}{blank}", kind=f"sweep-map-{value}", legend=False,
                         height=480)
    _grid_layout(layout, frame, x, y)
    return figure([heat, _cells(frame, x, y, pos)], layout)


def regime_map_figure(frame, x: str, y: str, selected: Optional[int] = None) -> go.Figure:
    """The regime of every grid point (``sweeps.classify_regime``) as a categorical map.

    One colour per regime (:data:`REGIME_COLORS`), named on the colour bar.
    Trace names: "regime", "cells".
    """
    from ..regimes import REGIMES  # the figure follows the rule's own list

    frame = _check_axes(frame, x, y)
    _check_frame(frame, "regime")
    pos = _position(frame, selected)
    unknown = set(frame["regime"]) - set(REGIMES)
    if unknown:
        raise ValueError(f"frame['regime'] has unknown labels {sorted(unknown)}")
    codes = frame.assign(_code=frame["regime"].map({r: i for i, r in enumerate(REGIMES)}))
    table = codes.pivot(index=y, columns=x, values="_code").sort_index().sort_index(axis=1)
    n = len(REGIMES)
    # a stepped colour scale: code i fills [i/n, (i+1)/n]
    scale = []
    for i, r in enumerate(REGIMES):
        scale += [[i / n, REGIME_COLORS[r]], [(i + 1) / n, REGIME_COLORS[r]]]
    heat = dict(
        type="heatmap", z=table.to_numpy(np.float64), x=table.columns.to_numpy(np.float64),
        y=table.index.to_numpy(np.float64), name="regime", colorscale=scale, zmin=-0.5,
        zmax=n - 0.5, hoverinfo="skip",
        colorbar=dict(title=dict(text="regime"), tickvals=list(range(n)), ticktext=list(REGIMES)))
    counts = frame["regime"].value_counts()
    summary = ", ".join(f"{r} {counts[r]}" for r in REGIMES if r in counts)
    layout = base_layout(title=f"Regimes ({summary})", kind="sweep-regime", legend=False,
                         height=480)
    _grid_layout(layout, frame, x, y)
    return figure([heat, _cells(frame, x, y, pos)], layout)


# ----------------------------------------------------------------------------- A/B
