"""Figures of sweeps and comparisons: f-I curves, parameter maps, regime maps, A/B, mystery.

The sweep figures take the frame of ``rleaky_viz.sweeps.sweep`` (one row per
grid point).  The maps carry, above the heatmap, one invisible marker per
cell (trace name "cells", ``customdata`` = the frame's row index): a
heatmap cannot be selected in Plotly, a scatter point can, so a click on a
cell comes back from ``st.plotly_chart(..., on_select="rerun")`` as that
point, and the selected cell is outlined.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from . import _data as d
from .style import COLORS, OKABE_ITO, SEQUENTIAL_SCALE, apply_layout, with_alpha

__all__ = ["fi_curve_figure", "sweep_map_figure", "regime_map_figure", "compare_figure",
           "mystery_figure", "REGIME_COLORS", "SWEEP_LABELS", "MAP_VALUES"]

# Axis titles of the sweepable fields and the statistics.
SWEEP_LABELS = {
    "beta": "β (decay)", "threshold": "θ (threshold)", "V": "V (one-to-one weight)",
    "amplitude": "input amplitude", "offset": "input offset",
    "graded_spikes_factor": "graded spike factor g",
    "rate": "firing rate (spikes / step)", "isi_cv": "ISI CV", "first_spike": "first-spike latency (steps)",
    "spike_count": "spike count", "isi_mean": "mean ISI (steps)", "active_fraction": "active fraction",
}

# What each continuous map shows and how: (colour scale, reversed?, what NaN means, log?).
# Latencies and intervals span 1 to thousands of steps with most cells at the short
# end, so they are coloured by log(1 + value) (the colour bar is labelled in steps).
MAP_VALUES = {
    "rate": (SEQUENTIAL_SCALE, False, "no spikes", False),
    "isi_cv": ("Cividis", False, "fewer than 3 spikes", False),
    "first_spike": (SEQUENTIAL_SCALE, True, "never fires", True),   # bright = fast response
    "isi_mean": (SEQUENTIAL_SCALE, True, "fewer than 2 spikes", True),
    "spike_count": (SEQUENTIAL_SCALE, False, "", False),
    "active_fraction": (SEQUENTIAL_SCALE, False, "", False),
}
_LOG_TICKS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

# One colour per regime, in the order of sweeps.REGIMES; grey for silence,
# blues for orderly firing, warm colours for trouble.
REGIME_COLORS = {
    "silent": "#E5E5E5",
    "sparse": OKABE_ITO["sky_blue"],
    "regular": OKABE_ITO["blue"],
    "irregular": OKABE_ITO["orange"],
    "runaway": OKABE_ITO["vermillion"],
}

# The two configurations of a comparison.
_A_COLOR, _B_COLOR = OKABE_ITO["blue"], OKABE_ITO["orange"]
_TARGET_COLOR, _GUESS_COLOR = OKABE_ITO["orange"], OKABE_ITO["blue"]


def _label(name: str) -> str:
    return SWEEP_LABELS.get(name, name.replace("_", " "))


def _check_frame(frame, *columns: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be the DataFrame of sweeps.sweep, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError("frame has no rows")
    return frame


def _check_axes(frame, x, y):
    if x == y:
        raise ValueError(f"x and y must be different columns, both are {x!r}")
    _check_frame(frame, x, y)
    if frame.duplicated([x, y]).any():
        raise ValueError(f"frame has repeated ({x}, {y}) pairs: a map needs one row per cell")


def _format(v) -> str:
    return f"{v:.4g}"


def fi_curve_figure(frame, x: str = "amplitude", by: Optional[str] = "beta",
                    value: str = "rate") -> go.Figure:
    """Firing rate against ``x`` (the input amplitude: an f-I curve), one line per ``by`` value.

    Lines are coloured along the sequential scale in the order of ``by``, so
    a trend across β reads as a trend of colour.  Trace names: "β = 0.9", ...
    """
    _check_frame(frame, x, value, *([by] if by else []))
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=True))
    colors = sample_colorscale(SEQUENTIAL_SCALE, np.linspace(0.0, 0.9, max(len(groups), 2)))
    fig = go.Figure()
    sym = {"beta": "β", "threshold": "θ", "V": "V", "offset": "offset", "amplitude": "I",
           "graded_spikes_factor": "g"}
    for i, (key, part) in enumerate(groups):
        part = part.sort_values(x)
        name = value if key is None else f"{sym.get(by, by)} = {_format(key)}"
        fig.add_trace(go.Scatter(
            x=part[x].to_numpy(np.float64), y=part[value].to_numpy(np.float64), name=name,
            mode="lines+markers", line=dict(color=colors[i], width=2), marker=dict(size=5),
            hovertemplate=f"{_label(x)} %{{x:.4g}}<br>{_label(value)} %{{y:.4g}}<extra>{name}</extra>"))
    title = "f-I curve: firing rate against input amplitude" if (x, value) == ("amplitude", "rate") \
        else f"{_label(value)} against {_label(x)}"
    apply_layout(fig, title=title, kind="fi-curve", x_title=_label(x), y_title=_label(value),
                 height=440)
    fig.update_layout(hovermode="closest")
    return fig


def _shown(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "–" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def _cells(frame, x, y, selected: Optional[int]) -> go.Scatter:
    """Invisible markers at the cell centres: what a click selects (see module docstring).

    ``customdata[0]`` is the frame's row index; the rest are the statistics
    shown on hover.
    """
    cols = [c for c in ("spike_count", "rate", "isi_cv", "first_spike", "regime") if c in frame]
    lines = [f"{_label(x)} = %{{x:.4g}}", f"{_label(y)} = %{{y:.4g}}"]
    lines += [f"{'regime' if c == 'regime' else _label(c)}: %{{customdata[{i + 1}]}}"
              for i, c in enumerate(cols)]
    # column-wise: iterrows would copy frame.attrs (the sweep's config) for every row
    columns = [[_shown(v) for v in frame[c].tolist()] for c in cols]
    custom = [[int(i), *values] for i, *values in zip(frame.index.tolist(), *columns)]
    return go.Scatter(
        x=frame[x].to_numpy(np.float64), y=frame[y].to_numpy(np.float64), mode="markers",
        name="cells", showlegend=False, customdata=custom,
        marker=dict(symbol="square-open", size=14, color=OKABE_ITO["vermillion"], opacity=0.0,
                    line=dict(width=2)),
        selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=0.0)),
        selectedpoints=None if selected is None else [int(selected)],
        hovertemplate="<br>".join(lines) + "<br><i>click to open in the explorer</i><extra></extra>")


def _grid_layout(fig, frame, x, y):
    fig.update_layout(hovermode="closest", hoverdistance=-1, clickmode="event+select")
    fig.update_xaxes(title_text=_label(x), showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=_label(y), showgrid=False, zeroline=False)


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
    _check_axes(frame, x, y)
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
    fig = go.Figure(go.Heatmap(
        z=z, x=table.columns.to_numpy(np.float64), y=table.index.to_numpy(np.float64),
        name=value, colorscale=scale, reversescale=reverse, zmin=lo, zmax=max(hi, lo + 1e-9),
        colorbar=colorbar, hoverinfo="skip"))
    fig.add_trace(_cells(frame, x, y, pos))
    blank = f" · blank: {nan_means}" if nan_means and not np.isfinite(z).all() else ""
    apply_layout(fig, title=f"{_label(value)}{blank}", kind=f"sweep-map-{value}", legend=False,
                 height=480)
    _grid_layout(fig, frame, x, y)
    return fig


def regime_map_figure(frame, x: str, y: str, selected: Optional[int] = None) -> go.Figure:
    """The regime of every grid point (``sweeps.classify_regime``) as a categorical map.

    One colour per regime (:data:`REGIME_COLORS`), named on the colour bar.
    Trace names: "regime", "cells".
    """
    from ..sweeps import REGIMES  # the figure follows the rule's own list

    _check_axes(frame, x, y)
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
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(np.float64), x=table.columns.to_numpy(np.float64),
        y=table.index.to_numpy(np.float64), name="regime", colorscale=scale, zmin=-0.5,
        zmax=n - 0.5, hoverinfo="skip",
        colorbar=dict(title=dict(text="regime"), tickvals=list(range(n)), ticktext=list(REGIMES))))
    fig.add_trace(_cells(frame, x, y, pos))
    counts = frame["regime"].value_counts()
    summary = ", ".join(f"{r} {counts[r]}" for r in REGIMES if r in counts)
    apply_layout(fig, title=f"Regimes ({summary})", kind="sweep-regime", legend=False, height=480)
    _grid_layout(fig, frame, x, y)
    return fig


# ----------------------------------------------------------------------------- A/B
def _running_rate(spk: np.ndarray, window: int) -> np.ndarray:
    """Spikes per step over the last ``window`` steps (fewer at the start)."""
    c = np.concatenate([[0.0], np.cumsum(spk != 0)])
    t = np.arange(1, spk.size + 1)
    start = np.maximum(t - window, 0)
    return (c[t] - c[start]) / (t - start)


def compare_figure(trace_a, trace_b, neuron: int = 0, batch: int = 0, window: int = 20,
                   divergence: Optional[int] = None, names: Sequence[str] = ("A", "B")) -> go.Figure:
    """Configurations A and B overlaid: membranes, spikes, mem_A - mem_B and running rates.

    Four rows sharing the time axis.  ``divergence`` (the first step where
    the spikes differ) is marked on every row.  Trace names: "A membrane",
    "B membrane", "A threshold", "B threshold", "A spikes", "B spikes",
    "A - B", "A rate", "B rate".
    """
    Ta, Ba, shape_a = d.check_trace(trace_a, "spk", "mem")
    Tb, Bb, shape_b = d.check_trace(trace_b, "spk", "mem")
    if Ta != Tb:
        raise ValueError(f"A and B must have the same number of steps, got {Ta} and {Tb}")
    count = min(int(np.prod(shape_a)), int(np.prod(shape_b)))
    neuron = d.check_int("neuron", neuron, 0, count - 1)
    batch = d.check_int("batch", batch, 0, min(Ba, Bb) - 1)
    window = d.check_int("window", window, 1)
    if len(names) != 2:
        raise ValueError(f"names must be two labels, got {names!r}")
    T, steps = Ta, np.arange(Ta)
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.4, 0.16, 0.22, 0.22])
    for trace, name, color in ((trace_a, names[0], _A_COLOR), (trace_b, names[1], _B_COLOR)):
        mem = d.neuron_series(trace, "mem", batch, neuron)
        theta = float(d.per_neuron(trace, "threshold", int(np.prod(trace.spk.shape[2:])), 1.0)[neuron])
        fig.add_trace(go.Scatter(x=steps, y=mem, name=f"{name} membrane", mode="lines",
                                 line=dict(color=color, width=2),
                                 hovertemplate=f"step %{{x}}<br>U = %{{y:.4g}}<extra>{name}</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=[0, T - 1], y=[theta, theta], name=f"{name} threshold",
                                 mode="lines", line=dict(color=color, dash="dash", width=1),
                                 hovertemplate=f"θ = {theta:.4g}<extra>{name} threshold</extra>"),
                      row=1, col=1)
    row_of = {names[0]: 1.0, names[1]: 0.0}
    for trace, name, color in ((trace_a, names[0], _A_COLOR), (trace_b, names[1], _B_COLOR)):
        spk = d.neuron_series(trace, "spk", batch, neuron)
        fired = np.flatnonzero(spk != 0)
        fig.add_trace(go.Scatter(x=fired, y=np.full(fired.size, row_of[name]), name=f"{name} spikes",
                                 mode="markers", marker=dict(color=color, symbol="line-ns-open",
                                                             size=14, line=dict(width=2, color=color)),
                                 hovertemplate=f"step %{{x}}<extra>{name} spike</extra>"),
                      row=2, col=1)
        fig.add_trace(go.Scatter(x=steps, y=_running_rate(spk, window), name=f"{name} rate",
                                 mode="lines", line=dict(color=color, width=2),
                                 hovertemplate=f"step %{{x}}<br>%{{y:.3f}} spikes/step<extra>{name} "
                                               "rate</extra>"),
                      row=4, col=1)
    diff = d.neuron_series(trace_a, "mem", batch, neuron) - d.neuron_series(trace_b, "mem", batch, neuron)
    fig.add_trace(go.Scatter(x=steps, y=diff, name=f"{names[0]} - {names[1]}", mode="lines",
                             line=dict(color=COLORS["reference"], width=1.5, shape="hv"),
                             fill="tozeroy", fillcolor=with_alpha(COLORS["reference"], 0.25),
                             hovertemplate="step %{x}<br>U_A − U_B = %{y:.4g}<extra></extra>"),
                  row=3, col=1)
    if divergence is not None:
        divergence = d.check_int("divergence", divergence, 0, T - 1)
        for row in range(1, 5):
            fig.add_vline(x=divergence, line=dict(color=COLORS["threshold"], dash="dot", width=1.5),
                          row=row, col=1)
    said = "spikes never diverge" if divergence is None else f"spikes first differ at step {divergence}"
    apply_layout(fig, title=f"{names[0]} and {names[1]} overlaid, neuron {neuron}: {said}",
                 kind="compare", height=720)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(range=[-0.5, T - 0.5])
    fig.update_xaxes(title_text="time step", row=4, col=1)
    fig.update_yaxes(title_text="membrane U", row=1, col=1)
    fig.update_yaxes(title_text="spikes", row=2, col=1, tickvals=[0, 1], ticktext=[names[1], names[0]],
                     range=[-0.6, 1.6])
    fig.update_yaxes(title_text=f"U_{names[0]} − U_{names[1]}", row=3, col=1)
    fig.update_yaxes(title_text=f"rate ({window} steps)", row=4, col=1)
    return fig


# ----------------------------------------------------------------------------- mystery
def mystery_figure(target, guess, neuron: int = 0, batch: int = 0) -> go.Figure:
    """The hidden neuron's trace and the student's guess, overlaid, under the same input.

    Three rows: input, membranes, spikes (target row on top).  No threshold
    line is drawn: it would give θ away.  Trace names: "input", "target
    membrane", "your membrane", "target spikes", "your spikes".
    """
    T, _, _ = d.check_trace(target, "input", "spk", "mem")
    Tg, _, _ = d.check_trace(guess, "spk", "mem")
    if T != Tg:
        raise ValueError(f"target and guess must have the same number of steps, got {T} and {Tg}")
    steps = np.arange(T)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.2, 0.55, 0.25])
    fig.add_trace(go.Scatter(x=steps, y=d.neuron_series(target, "input", batch, neuron), name="input",
                             mode="lines", line=dict(color=COLORS["input"], shape="hv"),
                             hovertemplate="step %{x}<br>I = %{y:.4g}<extra>input</extra>"),
                  row=1, col=1)
    rows = (("target", target, _TARGET_COLOR, 1.0, 1.5), ("your", guess, with_alpha(_GUESS_COLOR, 0.75), 0.0, 2.5))
    for who, trace, color, level, width in rows:
        fig.add_trace(go.Scatter(x=steps, y=d.neuron_series(trace, "mem", batch, neuron),
                                 name=f"{who} membrane", mode="lines",
                                 line=dict(color=color, width=width),
                                 hovertemplate=f"step %{{x}}<br>U = %{{y:.4g}}<extra>{who}</extra>"),
                      row=2, col=1)
        fired = np.flatnonzero(d.neuron_series(trace, "spk", batch, neuron) != 0)
        fig.add_trace(go.Scatter(x=fired, y=np.full(fired.size, level), name=f"{who} spikes",
                                 mode="markers", marker=dict(color=color, symbol="line-ns-open", size=14,
                                                             line=dict(width=2, color=color)),
                                 hovertemplate=f"step %{{x}}<extra>{who} spike</extra>"),
                      row=3, col=1)
    apply_layout(fig, title="Target (orange) and your neuron (blue)", kind="mystery", height=600)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(range=[-0.5, T - 0.5])
    fig.update_xaxes(title_text="time step", row=3, col=1)
    fig.update_yaxes(title_text="input I", row=1, col=1)
    fig.update_yaxes(title_text="membrane U", row=2, col=1)
    fig.update_yaxes(title_text="spikes", row=3, col=1, tickvals=[0, 1], ticktext=["yours", "target"],
                     range=[-0.6, 1.6])
    return fig
