"""Classroom mode: presentation type, a sidebar cut down to a lesson's controls, a time cursor.

Two URL flags, kept for the rest of the session once given (Streamlit drops
the query when the page changes) and written back into every page's URL, so
a copied link keeps them:

* ``?present=1`` enlarges type (page and charts) for a projector;
  ``?present=0`` turns it off.
* ``?lesson_controls=beta,threshold`` draws only those controls in the
  sidebar (field names, or a group: neuron, gradients, network, stimulus,
  run); every other setting stays at the link's value.
  ``?lesson_controls=all`` brings every control back.

This reduces what is on screen; it is not a lock: a student can edit the URL.

The time cursor (:func:`time_cursor`) shows a run up to step ``t`` with
Play/Pause, Step +1 and Reset; Play advances ``t`` by rerunning the page
(:func:`advance_time_cursor`, called last on the page).  The lesson helpers
(:data:`LESSON_NOTES`, :func:`lesson_presets`) feed ``pages/10_Lesson.py``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ..config import SimConfig
from ..core import RECORDABLE
from ..presets import PRESETS, Preset

__all__ = ["Classroom", "PRESENT_PARAM", "CONTROLS_PARAM", "CONTROL_GROUPS", "parse_classroom",
           "classroom", "classroom_errors", "apply_presentation", "present_figure", "upto", "freeze_ranges",
           "time_cursor", "advance_time_cursor", "LESSON_ORDER", "LESSON_NOTES", "lesson_presets"]

PRESENT_PARAM = "present"
CONTROLS_PARAM = "lesson_controls"
_STATE = "_classroom"
_ERRORS = "_classroom_errors"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Group names a lesson may give instead of listing fields (as in the sidebar's groups).
CONTROL_GROUPS = {
    "neuron": ("recurrence", "beta", "threshold", "V", "reset_mechanism", "reset_delay",
               "graded_spikes_factor", "inhibition", "surrogate", "surrogate_param",
               "state_quant_bits"),
    "gradients": ("loss", "loss_target", "target_times", "learn_beta", "learn_threshold",
                  "learn_recurrent", "reset_grad"),
    "network": ("num_neurons", "weight_init", "weight_gain", "weight_sparsity",
                "excitatory_fraction", "conv2d_channels", "grid_size", "kernel_size",
                "kernel_init"),
    "stimulus": ("stimulus", "amplitude", "offset", "onset", "period", "width", "rate",
                 "noise_std", "input_spread", "expression"),
    "run": ("num_steps", "batch_size", "seed", "device"),
}


@dataclass(frozen=True)
class Classroom:
    """The classroom flags of a session."""

    present: bool = False
    controls: Optional[tuple[str, ...]] = None  # None: every control

    def shows(self, name: str) -> bool:
        return self.controls is None or name in self.controls

    def query(self) -> dict[str, str]:
        """The URL parameters that reproduce these flags (none when all are off)."""
        out = {}
        if self.present:
            out[PRESENT_PARAM] = "1"
        if self.controls is not None:
            out[CONTROLS_PARAM] = ",".join(self.controls)
        return out


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value).strip()


def parse_classroom(query: Mapping[str, str], previous: Classroom = Classroom()
                    ) -> tuple[Classroom, list[str]]:
    """Read the classroom flags from URL parameters; a flag that is absent keeps ``previous``.

    Returns the flags and a list of problems (each names the parameter and
    what it accepts); a bad value leaves that flag as it was.
    """
    errors: list[str] = []
    present, controls = previous.present, previous.controls
    if PRESENT_PARAM in query:
        text = _text(query[PRESENT_PARAM]).lower()
        if text in _TRUE:
            present = True
        elif text in _FALSE:
            present = False
        else:
            errors.append(f"{PRESENT_PARAM}: use 1 (on) or 0 (off), got {text!r}")
    if CONTROLS_PARAM in query:
        text = _text(query[CONTROLS_PARAM])
        if text.lower() in ("", "all"):
            controls = None
        else:
            known = set(SimConfig().to_dict())
            chosen: list[str] = []
            unknown: list[str] = []
            for part in (p.strip() for p in text.split(",")):
                if not part:
                    continue
                if part.lower() in CONTROL_GROUPS:
                    chosen.extend(CONTROL_GROUPS[part.lower()])
                elif part in known:
                    chosen.append(part)
                else:
                    unknown.append(part)
            if unknown:
                errors.append(f"{CONTROLS_PARAM}: unknown control(s) {', '.join(map(repr, unknown))}; "
                              f"use field names (as in the URL, e.g. beta, threshold) or the groups "
                              f"{', '.join(CONTROL_GROUPS)}, or 'all'")
            if chosen:
                controls = tuple(dict.fromkeys(chosen))
    return Classroom(present, controls), errors


def classroom() -> Classroom:
    """This session's classroom flags: the URL's when it has them, else those given before."""
    state = st.session_state.get(_STATE) or Classroom()
    query = {k: st.query_params.get_all(k) for k in (PRESENT_PARAM, CONTROLS_PARAM)
             if k in st.query_params}
    if query:
        state, errors = parse_classroom(query, state)
        st.session_state[_STATE] = state
        if errors:
            st.session_state[_ERRORS] = errors
    return state


def classroom_errors() -> list[str]:
    """Problems with the classroom flags of the last URL (shown once)."""
    return st.session_state.pop(_ERRORS, None) or []


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
    room = room or st.session_state.get(_STATE) or Classroom()
    if room.present:
        fig = go.Figure(fig)  # a copy: the caller may also export the original
        fig.update_layout(font=dict(size=PRESENT_FONT), title_font_size=PRESENT_FONT + 6,
                          hoverlabel_font_size=PRESENT_FONT)
        if fig.layout.height:
            fig.update_layout(height=int(fig.layout.height * 1.15))
    return fig


# ----------------------------------------------------------------------------- the time cursor
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
    """Draw "show up to step t" with Play/Pause, Step +1 and Reset; return ``t``.

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

    def play():
        ss[k["playing"]] = not ss.get(k["playing"], False)
        if ss[k["playing"]] and ss[k["t"]] >= last:
            ss[k["t"]] = 0  # play from the start again

    def step():
        ss[k["playing"]] = False
        ss[k["t"]] = min(last, ss[k["t"]] + 1)

    def reset():
        ss[k["playing"]] = False
        ss[k["t"]] = 0

    playing = ss.get(k["playing"], False)
    cols = st.columns([5, 1, 1, 1], vertical_alignment="bottom")
    cols[0].slider("show up to step t", 0, last, key=k["t"],
                   help="Time cursor: the charts show steps 0 to t. Play runs it forward.")
    cols[1].button("⏸ Pause" if playing else "▶ Play", key=f"{key}_t_play", on_click=play,
                   width="stretch")
    cols[2].button("Step +1", key=f"{key}_t_step", on_click=step, width="stretch",
                   disabled=ss[k["t"]] >= last)
    cols[3].button("Reset", key=f"{key}_t_reset", on_click=reset, width="stretch",
                   help="Back to step 0")
    return ss[k["t"]]


def advance_time_cursor(num_steps: int, key: str = "explorer") -> None:
    """While playing: wait a frame, move ``t`` on and rerun; stop at the last step."""
    k = _keys(key)
    ss = st.session_state
    if not ss.get(k["playing"]):
        return
    t, last = ss.get(k["t"], 0), num_steps - 1
    if t >= last:
        ss[k["playing"]] = False
        st.rerun()  # redraw the button as Play
    time.sleep(PLAY_INTERVAL_S)
    ss[k["next"]] = min(last, t + _stride(num_steps))
    st.rerun()


# ----------------------------------------------------------------------------- the lesson
# A teaching order: one neuron first (integrate, fire, the strict test, the
# clamp, the reset), then feedback, then populations and grids.  Presets
# missing here come at the end, so a new preset is never left out.
LESSON_ORDER = ("tonic", "strict_threshold", "beta_clamped", "zero_reset_drops_input",
                "runaway_v_equals_threshold", "recurrent_bias", "winner_take_all",
                "self_sustained", "centre_surround")

# What to point at on the chart, and a question for the class.
LESSON_NOTES = {
    "tonic": ("Watch the membrane climb towards θ, cross it, drop by θ and climb again: the "
              "same rise every time, so the spikes are evenly spaced.",
              "Lower the input below θ·(1-β) = 0.1 in the explorer. What happens, and why?"),
    "strict_threshold": ("The membrane reaches θ exactly and stays there: no spike, because the "
                         "test is U > θ, not U ≥ θ.",
                         "What is the smallest input that makes it fire?"),
    "beta_clamped": ("β = 1.5 would make U grow by half every step; instead it climbs in a "
                     "straight line, exactly as with β = 1.",
                     "Why would a library clamp β instead of refusing it?"),
    "zero_reset_drops_input": ("After each spike the next step's membrane is 0: the input of that "
                               "step is thrown away, so the neuron fires more slowly than with "
                               "subtract.",
                               "Switch reset_mechanism to subtract: how much faster does it fire?"),
    "runaway_v_equals_threshold": ("After the pulse ends the input is 0, yet the neuron keeps "
                                   "firing: each spike feeds back V = θ, exactly what the reset "
                                   "takes away.",
                                   "Lower V a little, or β below 1: does the activity die out?"),
    "recurrent_bias": ("The input is zero and some neurons still fire: the nn.Linear of the "
                       "recurrence adds its bias every step.",
                       "Which neurons fire: what do their biases have in common?"),
    "winner_take_all": ("With inhibition only one neuron of the sample spikes on a step: the one "
                        "driven hardest wins.",
                        "Turn inhibition off in the explorer: how many neurons fire then?"),
    "self_sustained": ("A short kick, then the raster keeps going: the activity circulates in the "
                       "recurrent weights.",
                       "Lower the weight gain step by step: where does the activity stop "
                       "sustaining itself?"),
    "centre_surround": ("Press ▶ on the spike maps: spots of activity with quiet rings around "
                        "them, shaped by the kernel.",
                        "What happens with lateral_excitation instead?"),
}


def lesson_presets() -> list[Preset]:
    """Every preset, in :data:`LESSON_ORDER` first, then any others in their own order."""
    ordered = [PRESETS[n] for n in LESSON_ORDER if n in PRESETS]
    return ordered + [p for n, p in PRESETS.items() if n not in LESSON_ORDER]
