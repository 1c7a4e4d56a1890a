"""The time cursor: show a run up to step ``t``, with Play, Pause, Step +1 and Reset.

Play can always be paused (Pause, next to it), and it is off where the browser
asks for reduced motion (``ui.motion.reduced_motion``): Step +1 and the
slider still move through time.

:func:`time_cursor` draws the cursor and returns ``t``; :func:`upto` cuts a
trace to its first ``t + 1`` steps and :func:`freeze_ranges` gives the cut
chart the axes of the whole run, so it grows instead of rescaling.  Play
advances ``t`` by rerunning the page (:func:`advance_time_cursor`, called
last on the page); :func:`reset_time_cursor` forgets a cursor.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ..core import RECORDABLE
from .motion import reduced_motion

__all__ = ["upto", "freeze_ranges", "time_cursor", "advance_time_cursor", "reset_time_cursor",
           "PLAY_FRAMES", "PLAY_INTERVAL_S"]

_TIME_FIELDS = ("input", "spk", "mem", *RECORDABLE)  # every per-step field of a Trace
PLAY_FRAMES = 40      # a whole run plays in about this many frames...
PLAY_INTERVAL_S = 0.05  # ...at least this far apart (each is also a rerun of the page)


def upto(trace, t: int):
    """The first ``t + 1`` steps of a :class:`~rleaky_viz.simulate.Trace` (a new Trace; views, no copies)."""
    t = int(t)
    if not 0 <= t < trace.num_steps:
        raise ValueError(f"t must be from 0 to {trace.num_steps - 1}, got {t}")
    return dataclasses.replace(trace, **{n: getattr(trace, n)[:t + 1] for n in _TIME_FIELDS})


def _extents(fig: go.Figure) -> dict[str, tuple[float, float]]:
    """Data extent of every y-axis of ``fig`` (stacked bars summed as they are drawn)."""
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    stacks: dict[str, dict[str, np.ndarray]] = {}
    relative = fig.layout.barmode in ("relative", "stack")
    for trace in fig.data:
        if getattr(trace, "y", None) is None:
            continue
        axis = trace.yaxis or "y"
        y = np.asarray(trace.y, dtype=np.float64)
        if trace.type == "bar" and relative:
            pos, neg = stacks.setdefault(axis, {}).get("pos"), stacks[axis].get("neg")
            stacks[axis]["pos"] = np.where(y > 0, y, 0) + (0 if pos is None else pos)
            stacks[axis]["neg"] = np.where(y < 0, y, 0) + (0 if neg is None else neg)
            continue
        finite = y[np.isfinite(y)]
        if finite.size:
            lo[axis] = min(lo.get(axis, np.inf), float(finite.min()))
            hi[axis] = max(hi.get(axis, -np.inf), float(finite.max()))
    for axis, parts in stacks.items():
        lo[axis] = min(lo.get(axis, np.inf), float(parts["neg"].min()), 0.0)
        hi[axis] = max(hi.get(axis, -np.inf), float(parts["pos"].max()), 0.0)
    return {a: (lo[a], hi[a]) for a in lo}


def freeze_ranges(partial: go.Figure, full: go.Figure, num_steps: int) -> go.Figure:
    """Give ``partial`` (a run up to step t) the axes of ``full`` (the whole run).

    The x axis spans every step and each y axis the whole run's data, so
    the chart grows to the right as ``t`` moves instead of rescaling.
    """
    partial.update_xaxes(range=[-0.5, num_steps - 0.5])
    for axis, (lo, hi) in _extents(full).items():
        pad = 0.06 * (hi - lo) if hi > lo else 0.5
        name = "yaxis" + axis[1:]  # "y2" -> "yaxis2"
        partial.layout[name].range = [lo - pad, hi + pad]
        partial.layout[name].autorange = False
    return partial


def _keys(key: str) -> dict[str, str]:
    return {"t": f"{key}_t", "next": f"_{key}_t_next", "steps": f"_{key}_steps",
            "playing": f"_{key}_playing"}


def _stride(num_steps: int) -> int:
    return max(1, math.ceil(num_steps / PLAY_FRAMES))


def time_cursor(num_steps: int, key: str = "explorer") -> int:
    """Draw "show up to step t" with Play, Pause, Step +1 and Reset; return ``t``.

    ``t`` starts at the last step (the whole run), stays where it is when
    the run changes (clamped to the new length), and follows the end if it
    was there.  Call :func:`advance_time_cursor` at the end of the page so
    Play moves on.
    """
    k = _keys(key)
    ss = st.session_state
    last = num_steps - 1
    if last < 1:
        return 0
    if k["next"] in ss:  # Play's next frame (a widget's value may only be set before it is drawn)
        ss[k["t"]] = ss.pop(k["next"])
    before = ss.get(k["steps"])
    if k["t"] not in ss or (before is not None and before != num_steps and ss[k["t"]] >= before - 1):
        ss[k["t"]] = last
    ss[k["t"]] = min(max(0, int(ss[k["t"]])), last)
    ss[k["steps"]] = num_steps

    # Play and Pause are two buttons, each with a callback that sets what it says: a click
    # on one keyed button whose label changed reaches a callback with the first drawing's
    # arguments, and one that lands while Play's own rerun runs sees older state
    def play():
        ss[k["playing"]] = True
        if ss[k["t"]] >= last:
            ss[k["t"]] = 0  # play from the start again

    def pause():
        ss[k["playing"]] = False

    def step():
        ss[k["playing"]] = False
        ss[k["t"]] = min(last, ss[k["t"]] + 1)

    def reset():
        ss[k["playing"]] = False
        ss[k["t"]] = 0

    still = reduced_motion()  # the browser asks for reduced motion: nothing moves by itself
    if still:
        ss[k["playing"]] = False
    playing = ss.get(k["playing"], False)
    cols = st.columns([5, 1, 1, 1, 1], vertical_alignment="bottom")
    cols[0].slider("show up to step t", 0, last, key=k["t"],
                   help="Time cursor: the charts show steps 0 to t. Play runs it forward.")
    cols[1].button("▶ Play", key=f"{key}_t_play", on_click=play, width="stretch",
                   disabled=still or playing,
                   help=("Your browser asks for reduced motion, so Play is off: move through "
                         "time with Step +1 or the slider." if still else
                         "Runs the cursor forward by itself; Pause stops it."))
    cols[2].button("⏸ Pause", key=f"{key}_t_pause", on_click=pause, width="stretch",
                   disabled=not playing, help="Stops the cursor where it is.")
    cols[3].button("Step +1", key=f"{key}_t_step", on_click=step, width="stretch",
                   disabled=ss[k["t"]] >= last)
    cols[4].button("Reset", key=f"{key}_t_reset", on_click=reset, width="stretch",
                   help="Back to step 0")
    return ss[k["t"]]


def reset_time_cursor(key: str = "explorer") -> None:
    """Forget the cursor ``key``'s position and playing state: the next run shows its whole length."""
    for name in _keys(key).values():
        st.session_state.pop(name, None)


def advance_time_cursor(num_steps: int, key: str = "explorer") -> None:
    """While playing: wait a frame, move ``t`` on and rerun; stop at the last step."""
    k = _keys(key)
    ss = st.session_state
    if not ss.get(k["playing"]) or reduced_motion():
        return
    t, last = ss.get(k["t"], 0), num_steps - 1
    if t >= last:
        ss[k["playing"]] = False
        st.rerun()  # redraw Play on and Pause off
    time.sleep(PLAY_INTERVAL_S)
    ss[k["next"]] = min(last, t + _stride(num_steps))
    st.rerun()
