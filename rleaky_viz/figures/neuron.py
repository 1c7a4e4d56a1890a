"""Figures of single neurons: the full recording, the membrane update term by term, overlays.

The update these figures take apart (see ``rleaky_viz.core.rule``)::

    U[t] = β·U[t-1] + I[t] + rec(S[t-1])  -  reset  (then quantisation, if on)
           \\_ leak _/   input  recurrent

They draw the recorded fields of the trace (``core.RECORDABLE``); the
arithmetic of the update stays in ``rleaky_viz.core.rule``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from . import _data as d
from ._spec import axis_ids, figure, subplot_layout
from .style import COLORS, SEQUENCE, base_layout, with_alpha

__all__ = ["neuron_figure", "neuron_series", "neuron_traces", "neuron_changes", "frame_changes", "breakdown_figure", "traces_figure", "return_map_figure"]

_NEURON_FIELDS = ("input", "spk", "mem", "reset", "recurrent", "base", "decision")


def _check_neuron_args(trace, neuron, batch, fields):
    T, B, shape = d.check_trace(trace, *fields)
    batch = d.check_batch(batch, B)
    count = int(np.prod(shape))
    neuron = d.check_int("neuron", neuron, 0, count - 1)
    return T, batch, neuron, count


def _steady_state(overlay) -> Optional[float]:
    if overlay is None:
        return None
    if not isinstance(overlay, dict) or "steady_state" not in overlay:
        raise ValueError("overlay must be a dict from analytic_overlay() (with a 'steady_state' "
                         f"key) or None, got {overlay!r}")
    value = overlay["steady_state"]
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"overlay['steady_state'] must be a number, got {value!r}") from None
    return value if math.isfinite(value) else None


def _reset_applied(trace, batch: int, neuron: int) -> np.ndarray:
    """Where a reset acted on this neuron: the rule's own answer (none without a reset
    mechanism, the spike steps with reset_delay=False), not merely where R is 1."""
    module = getattr(trace, "neuron", None)
    if module is None:
        return d.neuron_series(trace, "reset", batch, neuron) != 0
    from ..core.rule import StepRule  # the one update rule knows what its reset does

    applied = StepRule(module).reset_applied(trace.spk, trace.reset)
    return applied[:, batch].reshape(applied.shape[0], -1)[:, neuron].numpy()


def neuron_series(trace, neuron: int = 0, batch: int = 0) -> dict:
    """What :func:`neuron_figure` draws of one neuron, as numpy arrays of length T (and θ).

    Keys: ``input``, ``spk``, ``mem``, ``recurrent``, ``base`` (pre-reset
    membrane), ``decision`` (the membrane each spike was decided on),
    ``reset_applied`` (bool: where a reset acted) and ``threshold`` (a float).
    The live charts (``rleaky_viz.live``) make the same dict for each of
    their frames and draw it with the same code.
    """
    T, batch, neuron, count = _check_neuron_args(trace, neuron, batch, _NEURON_FIELDS)
    series = {name: d.neuron_series(trace, name, batch, neuron)
              for name in ("input", "spk", "mem", "recurrent", "base", "decision")}
    series["reset_applied"] = _reset_applied(trace, batch, neuron)
    series["threshold"] = float(d.per_neuron(trace, "threshold", count, 1.0)[neuron])
    return series


def neuron_figure(trace, neuron: int = 0, batch: int = 0,
                  overlay: Optional[dict] = None) -> go.Figure:
    """One neuron's run: input, membrane (with threshold, spikes, resets), recurrence, output.

    Four rows sharing the time axis.  ``neuron`` indexes the flattened
    neuron dimensions, ``batch`` the sample.  ``overlay`` (from
    :func:`rleaky_viz.theory.analytic_overlay`) adds the no-spike steady state as a dotted line.
    Trace names: "input", "pre-reset membrane", "membrane", "threshold",
    "spikes", "reset", ("steady state"), "recurrent", "output spikes".
    """
    T, batch, neuron, _ = _check_neuron_args(trace, neuron, batch, _NEURON_FIELDS)
    data, title = neuron_traces(neuron_series(trace, neuron, batch), _steady_state(overlay),
                                neuron=neuron, batch=batch)
    layout = base_layout(title=title, kind="neuron", height=720)
    layout.update(subplot_layout(4, [0.18, 0.42, 0.2, 0.2], 0.035), hovermode="closest")
    for r in range(1, 5):
        layout[f"xaxis{'' if r == 1 else r}"]["range"] = [-0.5, T - 0.5]
    layout["xaxis4"]["title"] = {"text": "time step"}
    for r, text in enumerate(("input I", "membrane U", "recurrent", "spike S"), start=1):
        layout[f"yaxis{'' if r == 1 else r}"]["title"] = {"text": text}
    return figure(data, layout)


class Rows:
    """A value that differs per frame, one row each: frame ``k``'s value is ``values[k]``."""

    __slots__ = ("values", "as_list")

    def __init__(self, values: np.ndarray, as_list: bool = False):
        self.values, self.as_list = values, as_list

    def pick(self, k: int):
        row = self.values[k]
        return [float(v) for v in row] if self.as_list else row


class Ragged:
    """Per-frame arrays of different lengths, end to end: frame ``k``'s is
    ``values[offsets[k]:offsets[k + 1]]``."""

    __slots__ = ("values", "offsets")

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        self.values, self.offsets = values, offsets

    def pick(self, k: int):
        return self.values[self.offsets[k]:self.offsets[k + 1]]


class Each:
    """A plain value per frame (a string, a number), as a list."""

    __slots__ = ("values",)

    def __init__(self, values: list):
        self.values = values

    def pick(self, k: int):
        return self.values[k]


def pick_frame(value, k: int):
    """Frame ``k`` of a value of :func:`frame_changes`: a row, a slice, an item or the value itself."""
    if isinstance(value, (Rows, Ragged, Each)):
        return value.pick(k)
    if isinstance(value, dict):
        return {key: pick_frame(v, k) for key, v in value.items()}
    return value


def _ragged(mask: np.ndarray, per: int = 1):
    """Frame and step of every true entry of ``mask`` (frames x steps), frame by frame,
    and the offsets of each frame's entries (times ``per`` where each makes ``per`` values)."""
    frame, step = np.nonzero(mask)
    counts = mask.sum(axis=1)
    offsets = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts * per, out=offsets[1:])
    return frame, step, counts, offsets


def frame_changes(series: dict, steady: Sequence[Optional[float]], neuron: int = 0,
                  batch: int = 0) -> tuple[dict, Each, Optional[np.ndarray]]:
    """What of :func:`neuron_traces` follows the run, for many runs (frames) at once.

    ``series`` holds :func:`neuron_series`'s arrays with a leading frame axis
    (``(F, T)``, and ``threshold`` of shape ``(F,)``); ``steady[k]`` is frame
    ``k``'s no-spike steady state or None.  Returns ``(changes, titles,
    steady_present)``: ``changes`` maps a trace name to ``{key: value}`` where
    a value is :class:`Rows`, :class:`Ragged` or :class:`Each` (per frame,
    see :func:`pick_frame`) or the same for every frame; ``steady_present``
    says in which frames the steady-state line exists (None: in none).
    Everything else about a trace (colours, modes, axes) is fixed.  The
    live chart sends these values for its frames; :func:`neuron_changes`
    is frame 0 of a single run, so both draw with this code.
    """
    x, spk, mem = series["input"], series["spk"], series["mem"]
    rec, base = series["recurrent"], series["base"]
    F, T = mem.shape
    theta = np.asarray(series["threshold"], dtype=np.float64).reshape(F)
    out = {"input": {"y": Rows(x)}, "pre-reset membrane": {"y": Rows(base)}, "membrane": {"y": Rows(mem)},
           "threshold": {"y": Rows(np.repeat(theta[:, None], 2, axis=1), as_list=True),
                         "hovertemplate": Each([f"θ = {t:.4g}<extra>threshold</extra>" for t in theta])}}
    present = np.array([s is not None for s in steady], dtype=bool)
    level = np.array([np.nan if s is None else float(s) for s in steady], dtype=np.float64)
    if present.any():
        out["steady state"] = {
            "y": Rows(np.repeat(level[:, None], 2, axis=1), as_list=True),
            "hovertemplate": Each([None if s is None else f"I/(1-β) = {s:.4g}"
                                   "<extra>steady state without spikes</extra>" for s in steady])}
    frame, fired, counts, offsets = _ragged(spk != 0)
    fired = fired.astype(np.int32)
    # markers sit on the membrane the spike was decided on (with reset_delay=False
    # U[t] itself is already reset), as the core recorded it
    out["spikes"] = {"x": Ragged(fired, offsets), "y": Ragged(series["decision"][frame, fired], offsets),
                     "customdata": Ragged(spk[frame, fired], offsets)}
    # resets as one marker trace along the bottom of the panel, not one shape per event
    with_steady = np.where(present, level, np.inf)
    lo = np.minimum.reduce([mem.min(axis=1).astype(np.float64), base.min(axis=1).astype(np.float64),
                            theta, np.zeros(F), with_steady])
    hi = np.maximum.reduce([mem.max(axis=1).astype(np.float64), base.max(axis=1).astype(np.float64),
                            theta, np.zeros(F), np.where(present, level, -np.inf)])
    span = hi - lo
    floor = lo - 0.08 * np.where(span == 0, 1.0, span)
    r_frame, resets, _, r_offsets = _ragged(np.asarray(series["reset_applied"], dtype=bool))
    out["reset"] = {"x": Ragged(resets.astype(np.int32), r_offsets),
                    "y": Ragged(floor[r_frame].astype(np.float32), r_offsets)}
    out["recurrent"] = {"y": Rows(rec)}
    # stems: one trace, (t, 0) -> (t, S[t]) segments separated by gaps, a dot on each tip
    stem_x = np.repeat(fired, 3).astype(np.float64)
    stem_x[2::3] = np.nan
    stem_y = np.column_stack([np.zeros(fired.size), spk[frame, fired],
                              np.full(fired.size, np.nan)]).reshape(-1)
    stems = offsets * 3
    out["output spikes"] = {"x": Ragged(stem_x, stems), "y": Ragged(stem_y, stems),
                            "marker": dict(color=COLORS["spikes"],
                                           size=Ragged(np.tile(np.array([0, 7, 0]), fired.size), stems))}
    titles = Each([f"Neuron {neuron} (sample {batch}): {int(c)} spikes in {T} steps" for c in counts])
    return out, titles, (present if present.any() else None)


def neuron_changes(series: dict, steady: Optional[float], neuron: int = 0,
                   batch: int = 0) -> tuple[dict, str]:
    """What of :func:`neuron_traces` follows the run: ``({trace name: {key: value}}, title)``.

    One run's frame of :func:`frame_changes`.  The steady-state line is
    present only where ``steady`` is a number.
    """
    frames = {k: (np.asarray(v)[None] if k != "threshold" else np.array([float(v)]))
              for k, v in series.items()}
    changes, titles, present = frame_changes(frames, [steady], neuron, batch)
    if present is None:
        changes.pop("steady state", None)
    return {name: pick_frame(values, 0) for name, values in changes.items()}, titles.pick(0)


def neuron_traces(series: dict, steady: Optional[float], neuron: int = 0,
                  batch: int = 0) -> tuple[list, str]:
    """The traces and the title of :func:`neuron_figure` for one neuron's ``series``."""
    changes, title = neuron_changes(series, steady, neuron, batch)
    T = series["mem"].shape[0]
    steps = np.arange(T, dtype=np.int32)
    row = [dict(zip(("xaxis", "yaxis"), axis_ids(r))) for r in range(1, 5)]
    fixed = [dict(type="scatter", x=steps, name="input", mode="lines",
                  line=dict(color=COLORS["input"], shape="hv"),
                  hovertemplate="step %{x}<br>I = %{y:.4g}<extra>input</extra>", **row[0]),
             dict(type="scatter", x=steps, name="pre-reset membrane", mode="lines",
                  line=dict(color=with_alpha(COLORS["base"], 0.55), width=1),
                  hovertemplate="step %{x}<br>leak + input + recurrent = %{y:.4g}"
                                "<extra>pre-reset</extra>", **row[1]),
             dict(type="scatter", x=steps, name="membrane", mode="lines",
                  line=dict(color=COLORS["membrane"], width=2),
                  hovertemplate="step %{x}<br>U = %{y:.4g}<extra>membrane</extra>", **row[1]),
             dict(type="scatter", x=[0, T - 1], name="threshold", mode="lines",
                  line=dict(color=COLORS["threshold"], dash="dash", width=1.5), **row[1]),
             dict(type="scatter", x=[0, T - 1], name="steady state", mode="lines",
                  line=dict(color=COLORS["reference"], dash="dot", width=1.5), **row[1]),
             dict(type="scatter", name="spikes", mode="markers",
                  marker=dict(color=COLORS["spikes"], size=8, symbol="circle",
                              line=dict(width=1, color="white")),
                  hovertemplate="step %{x}<br>U = %{y:.4g}<br>S = %{customdata:.4g}"
                                "<extra>spike</extra>", **row[1]),
             dict(type="scatter", name="reset", mode="markers",
                  marker=dict(color=COLORS["reset"], size=7, symbol="x-thin",
                              line=dict(width=2, color=COLORS["reset"])),
                  hovertemplate="step %{x}<extra>reset applied</extra>", **row[1]),
             dict(type="scatter", x=steps, name="recurrent", mode="lines",
                  line=dict(color=COLORS["recurrent"], shape="hv"),
                  hovertemplate="step %{x}<br>rec(S[t-1]) = %{y:.4g}<extra>recurrent</extra>",
                  **row[2]),
             dict(type="scatter", name="output spikes", mode="lines+markers", connectgaps=False,
                  line=dict(color=COLORS["spikes"], width=1.5),
                  hovertemplate="step %{x}<br>S = %{y:.4g}<extra>output spike</extra>", **row[3])]
    data = [dict(t, **changes[t["name"]]) for t in fixed if t["name"] in changes]
    return data, title


def breakdown_figure(trace, neuron: int = 0, batch: int = 0) -> go.Figure:
    """U[t] taken apart: stacked bars of leak, input, recurrent and reset, and the line of U[t].

    ``reset`` is ``U[t] - (leak + input + recurrent)``: everything the reset
    (and the quantiser, if on) did at that step.  It is computed from the
    three other terms in float64, so the four bars of a step add up to U[t].
    """
    fields = ("input", "mem", "recurrent", "leak")
    T, batch, neuron, _ = _check_neuron_args(trace, neuron, batch, fields)
    steps = np.arange(T, dtype=np.int32)
    terms = {
        "leak": d.neuron_series(trace, "leak", batch, neuron),
        "input": d.neuron_series(trace, "input", batch, neuron),
        "recurrent": d.neuron_series(trace, "recurrent", batch, neuron),
    }
    mem = d.neuron_series(trace, "mem", batch, neuron)
    terms["reset"] = mem - (terms["leak"] + terms["input"] + terms["recurrent"])
    explain = {
        "leak": "β·U[t-1]",
        "input": "I[t]",
        "recurrent": "rec(S[t-1])",
        "reset": "U[t] − (leak + input + recurrent)",
    }

    data = [dict(type="bar", x=steps, y=values, name=name,
                 marker=dict(color=COLORS[name], line=dict(width=0)),
                 hovertemplate=f"{explain[name]} = %{{y:.4g}}<extra>{name}</extra>")
            for name, values in terms.items()]
    data.append(dict(type="scatter", x=steps, y=mem, name="membrane",
                     mode="lines+markers" if T <= 400 else "lines",
                     line=dict(color=COLORS["membrane"], width=2), marker=dict(size=4),
                     hovertemplate="U[t] = %{y:.4g}<extra>membrane</extra>"))
    layout = base_layout(title=f"Membrane update of neuron {neuron} (sample {batch}), term by term",
                         kind="breakdown", x_title="time step", y_title="contribution to U[t]",
                         height=420)
    layout.update(barmode="relative", bargap=0.1 if T <= 200 else 0.0, hovermode="x unified")
    return figure(data, layout)


def traces_figure(trace, neurons: Sequence[int], batch: int = 0) -> go.Figure:
    """Membrane traces of the chosen neurons over one another, with the threshold.

    Trace names: "neuron <i>" for each neuron, and one "threshold" trace
    (one segment per distinct threshold when thresholds differ per neuron).
    """
    T, B, shape = d.check_trace(trace, "mem")
    batch = d.check_batch(batch, B)
    count = int(np.prod(shape))
    is_list = isinstance(neurons, (Sequence, np.ndarray)) and not isinstance(neurons, (str, bytes))
    if not is_list:
        raise ValueError(f"neurons must be a list of neuron indices, got {neurons!r}")
    if len(neurons) == 0:
        raise ValueError("neurons must name at least one neuron")
    chosen = []
    for i, n in enumerate(neurons):
        n = d.check_int(f"neurons[{i}]", n, 0, count - 1)
        if n not in chosen:
            chosen.append(n)
    mem = d.series(trace, "mem", batch)
    thresholds = d.per_neuron(trace, "threshold", count, 1.0)
    steps = np.arange(T, dtype=np.int32)

    data = [dict(type="scatter", x=steps, y=mem[:, n], name=f"neuron {n}", mode="lines",
                 line=dict(color=SEQUENCE[k % len(SEQUENCE)], width=1.5),
                 hovertemplate=f"step %{{x}}<br>U = %{{y:.4g}}<extra>neuron {n}</extra>")
            for k, n in enumerate(chosen)]
    levels = sorted({float(thresholds[n]) for n in chosen})
    tx, ty = [], []
    for level in levels:
        tx += [0, T - 1, None]
        ty += [level, level, None]
    data.append(dict(type="scatter", x=tx[:-1], y=ty[:-1], name="threshold", mode="lines",
                     line=dict(color=COLORS["threshold"], dash="dash", width=1.5),
                     hovertemplate="θ = %{y:.4g}<extra>threshold</extra>"))
    layout = base_layout(title=f"Membrane potential of {len(chosen)} neuron"
                               f"{'s' if len(chosen) != 1 else ''} (sample {batch})",
                         kind="traces", x_title="time step", y_title="membrane U", height=420)
    layout["hovermode"] = "x unified"
    return figure(data, layout)


def return_map_figure(trace, rmap: dict, neuron: int = 0, batch: int = 0) -> go.Figure:
    """The return map U[t] -> U[t+1] (``dynamics.return_map``) with the run's cobweb on it.

    The map's graph (broken where the reset makes it jump), the diagonal
    U[t+1] = U[t], the threshold, the fixed point where there is one, and the
    trajectory as a cobweb: from (U[t], U[t]) up to (U[t], U[t+1]), across to
    (U[t+1], U[t+1]).  Trace names: "map", "U[t+1] = U[t]", "threshold",
    "cobweb", ("fixed point").
    """
    T, batch, neuron, _ = _check_neuron_args(trace, neuron, batch, ("mem",))
    if not isinstance(rmap, dict) or not rmap.get("applies"):
        raise ValueError("rmap must be a dynamics.return_map() result that applies")
    u, nxt = np.asarray(rmap["u"], dtype=np.float64), np.asarray(rmap["next"], dtype=np.float64)
    theta = float(rmap["threshold"])
    # break the line where the map jumps (at the threshold, where the reset acts)
    jump = np.abs(np.diff(nxt)) > 10 * max(float(np.median(np.abs(np.diff(nxt)))), 1e-12)
    # (a NaN is a gap in the line, as None would be, and keeps the arrays numeric)
    cut = np.flatnonzero(jump) + 1
    xs, ys = np.insert(u, cut, np.nan), np.insert(nxt, cut, np.nan)
    mem = d.neuron_series(trace, "mem", batch, neuron).astype(np.float64)
    # from rest (U[-1] = 0): (U[t-1], U[t]) up, then (U[t], U[t]) across, for every step
    prev = np.concatenate(([0.0], mem[:-1]))
    cx = np.concatenate(([0.0], np.column_stack((prev, mem)).reshape(-1)))
    cy = np.concatenate(([0.0], np.repeat(mem, 2)))
    lo = float(min(np.min(u), np.min(nxt)))
    hi = float(max(np.max(u), np.max(nxt)))
    data = [
        dict(type="scatter", x=xs, y=ys, name="map", mode="lines",
             line=dict(color=COLORS["membrane"], width=2),
             hovertemplate="U[t] = %{x:.4g}<br>U[t+1] = %{y:.4g}<extra>map</extra>"),
        dict(type="scatter", x=[lo, hi], y=[lo, hi], name="U[t+1] = U[t]", mode="lines",
             line=dict(color=COLORS["reference"], dash="dot", width=1), hoverinfo="skip"),
        dict(type="scatter", x=[theta, theta], y=[lo, hi], name="threshold", mode="lines",
             line=dict(color=COLORS["threshold"], dash="dash", width=1.5),
             hovertemplate="θ = %{x:.4g}<extra>threshold</extra>"),
        dict(type="scatter", x=cx, y=cy, name="cobweb", mode="lines",
             line=dict(color=with_alpha(COLORS["input"], 0.7), width=1),
             hovertemplate="%{x:.4g} → %{y:.4g}<extra>cobweb</extra>"),
    ]
    if rmap.get("fixed_point") is not None:
        fp = float(rmap["fixed_point"])
        data.append(dict(type="scatter", x=[fp], y=[fp], name="fixed point", mode="markers",
                         marker=dict(color=COLORS["membrane"], size=10, symbol="circle-open",
                                     line=dict(width=2)),
                         hovertemplate="U* = %{x:.4g}<extra>fixed point</extra>"))
    layout = base_layout(title=f"Return map of neuron {neuron}: U[t+1] against U[t], "
                               f"input I = {rmap['current']:.4g}",
                         kind="return-map", x_title="U[t]", y_title="U[t+1]", height=460)
    layout["yaxis"].update(scaleanchor="x", scaleratio=1)
    return figure(data, layout)
