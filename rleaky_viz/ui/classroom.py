"""Classroom mode's URL flags: presentation type and a sidebar cut down to a lesson's controls.

Two URL flags, kept for the rest of the session once given (Streamlit drops
the query when the page changes) and written back into every page's URL, so
a copied link keeps them:

* ``?present=1`` enlarges type (page and charts) for a projector;
  ``?present=0`` turns it off.
* ``?lesson_controls=beta,threshold`` draws only those controls in the
  sidebar (field names, or a group of the schema: neuron, learning,
  gradients, network, stimulus, run); every other setting stays at the link's value.
  ``?lesson_controls=all`` brings every control back.

This reduces what is on screen; it is not a lock: a student can edit the URL.
What ``present`` changes on screen is in :mod:`rleaky_viz.ui.present`; the
time cursor is :mod:`rleaky_viz.ui.time_cursor`, the lesson's content
:mod:`rleaky_viz.lessons`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import streamlit as st

from ..config import GROUPS, LEGACY_SURROGATE_PARAM, SURROGATE_FIELDS, SimConfig, fields_in

__all__ = ["Classroom", "PRESENT_PARAM", "CONTROLS_PARAM", "CONTROL_GROUPS", "parse_classroom",
           "classroom", "held_classroom", "classroom_errors"]

PRESENT_PARAM = "present"
CONTROLS_PARAM = "lesson_controls"
_STATE = "_classroom"
_ERRORS = "_classroom_errors"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Group names a lesson may give instead of listing fields: the schema's groups.
CONTROL_GROUPS = {group.lower(): fields_in(group) for group in GROUPS}
# A lesson link written before each surrogate parameter had its own field
# named ``surrogate_param``: it means every surrogate's parameters (the
# sidebar shows those of the chosen surrogate).
_LEGACY_CONTROLS = {LEGACY_SURROGATE_PARAM: tuple(n for f in SURROGATE_FIELDS.values() for n in f)}


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
                elif part in _LEGACY_CONTROLS:
                    chosen.extend(_LEGACY_CONTROLS[part])
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
    state = held_classroom()
    query = {k: st.query_params.get_all(k) for k in (PRESENT_PARAM, CONTROLS_PARAM)
             if k in st.query_params}
    if query:
        state, errors = parse_classroom(query, state)
        st.session_state[_STATE] = state
        if errors:
            st.session_state[_ERRORS] = errors
    return state


def held_classroom() -> Classroom:
    """The flags this session holds, without reading the URL (the sidebar has read it)."""
    return st.session_state.get(_STATE) or Classroom()


def classroom_errors() -> list[str]:
    """Problems with the classroom flags of the last URL (shown once)."""
    return st.session_state.pop(_ERRORS, None) or []
