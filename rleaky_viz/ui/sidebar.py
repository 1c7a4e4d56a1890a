"""The one sidebar: widgets built from ``SimConfig``'s field metadata, kept in the URL.

Widget keys are the ``SimConfig`` field names, and so are the URL query
parameters, so a copied link reproduces the view (seed included).  Each
page keeps its own config in ``st.session_state["_cfg:<page>"]``, so a
page's URL always describes that page, and coming back to a page finds it
as it was left.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import streamlit as st
import torch

from ..config import GROUPS, SimConfig, control, fields_in
from ..navigation import Page
from .classroom import classroom, classroom_errors
from .panels import plain
from .url import UrlSection

__all__ = ["sidebar", "apply_config", "current_config", "GROUPS"]

# The groups drawn open; the others start folded.
_OPEN = ("Neuron", "Learning", "Gradients", "Stimulus")


def _devices() -> list[str]:
    options = ["auto", "cpu"]
    if torch.cuda.is_available():
        options.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        options.append("mps")
    return options


def _cfg_key(page: str) -> str:
    return f"_cfg:{page}"


def current_config(page: Page) -> SimConfig:
    """The page's current config: its last state in this session, else its defaults."""
    return st.session_state.get(_cfg_key(page.path)) or page.default_config


def _clear_widgets() -> None:
    for name in SimConfig().to_dict():
        st.session_state.pop(name, None)


def apply_config(cfg: SimConfig, page: Page) -> None:
    """Make ``cfg`` the page's config: its widgets are rebuilt from it on the next run."""
    _store(cfg, page.path)


def _store(cfg: SimConfig, path: str) -> None:
    st.session_state[_cfg_key(path)] = cfg
    st.session_state[f"_url_loaded:{path}"] = True
    _clear_widgets()


def _enter_page(page: str) -> None:
    # Each page keeps its own config (its URL describes it); widgets share
    # keys across pages, so rebuild them from this page's config on arrival.
    if st.session_state.get("_page") != page:
        st.session_state["_page"] = page
        _clear_widgets()


def _load_url_once(page: str, base: SimConfig, defaults: SimConfig,
                   sections: Sequence[UrlSection]) -> SimConfig:
    flag = f"_url_loaded:{page}"
    if st.session_state.get(flag):
        return base
    st.session_state[flag] = True
    query = {k: st.query_params.get(k) for k in st.query_params.keys()}
    errors: list[str] = [e for section in sections for e in section.load(query)]
    if not query:
        return base
    cfg = SimConfig.from_query(query, base=defaults, errors=errors)
    st.session_state["_url_errors"] = errors
    _store(cfg, page)
    return cfg


def _widget(name: str, cfg: SimConfig, choices: Optional[Sequence] = None):
    """The widget of field ``name``, built from its schema entry (``config.control``)."""
    c = control(name)
    if name not in st.session_state:
        st.session_state[name] = getattr(cfg, name)
    current = st.session_state[name]
    if c.control == "select":
        if name == "device":
            options = _devices()
            if current not in options:
                options.append(current)  # asked for by a link; falls back with a notice
        else:
            options = list(choices or c.choices)
            if current not in options:
                st.session_state[name] = options[0]
        return st.selectbox(c.label, options, key=name, help=c.help)
    if c.control == "checkbox":
        return st.checkbox(c.label, key=name, help=c.help)
    if c.control == "text":
        return st.text_input(c.label, key=name, max_chars=200, help=c.help)
    # a value from a link may lie outside what the widget offers: widen it to include it
    lo, hi = min(c.lo, current), max(c.hi, current)
    if c.control == "number":
        return st.number_input(c.label, min_value=lo, max_value=hi, step=c.step, key=name, help=c.help)
    # the value given (the one the state holds, which Streamlit uses) spares the slider a
    # pass over the whole session state to learn whether it is a range
    return st.slider(c.label, min_value=lo, max_value=hi, value=current, step=c.step, key=name,
                     help=c.help)


def sidebar(page: Page, groups: Iterable[str], *, fixed: Optional[Mapping] = None,
            choices: Optional[Mapping[str, Sequence]] = None,
            title: Optional[str] = None, sections: Sequence[UrlSection] = (),
            uploads: bool = True) -> SimConfig:
    """Draw the controls of the schema's ``groups`` and return the page's config.

    ``groups`` are names from :data:`config.GROUPS` (drawn in that order,
    each in an expander); a control shows when its field takes part in the
    current setting (``cfg.is_used``).  ``page`` says which page this is and
    its starting values (a link holds only what differs from them);
    ``fixed`` pins fields the page does not let users change (the conv
    page's ``recurrence="conv2d"``); ``choices`` narrows a selectbox's options;
    ``sections`` are the page's own parts of the URL (:class:`UrlSection`),
    read on arrival and written back with the sidebar's fields; a page with
    ``uploads=False`` has no uploaders, so the choices that need a file
    (a CSV input, a state dict) are not offered.
    """
    groups = set(groups)
    unknown = groups - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown sidebar group(s) {sorted(unknown)}; the groups are {', '.join(GROUPS)}")
    fixed = dict(fixed or {})
    choices = dict(choices or {})
    if not uploads:
        for name in fields_in(*groups):
            c = control(name)
            if c.uploads:
                choices[name] = tuple(v for v in choices.get(name, c.choices) if v not in c.uploads)
    page_defaults = page.default_config
    _enter_page(page.path)
    base = _load_url_once(page.path, current_config(page), page_defaults, sections)
    for key, allowed in choices.items():
        if key not in fixed and getattr(base, key) not in allowed:
            fixed[key] = allowed[0]  # e.g. coming from a page that allowed more
    if fixed:
        try:
            base = base.replace(**fixed)
        except ValueError:
            base = SimConfig().replace(**fixed)
    values: dict = {}
    room = classroom()  # ?lesson_controls=...: draw only the lesson's controls
    with st.sidebar:
        if title:
            st.header(title)
        for errors in [st.session_state.pop("_url_errors", None), classroom_errors()]:
            if errors:
                st.warning("Some link parameters were ignored:\n\n"
                           + "\n\n".join(f"- {plain(e)}" for e in errors))
        if room.controls is not None:
            st.caption("Lesson mode: only the lesson's controls are shown; every other setting "
                       "is fixed by the link.")
        preview = base
        for group in (g for g in GROUPS if g in groups):
            names = [n for n in fields_in(group) if n not in fixed and room.shows(n)]
            if not names:
                continue
            with st.expander(group, expanded=group in _OPEN or room.controls is not None):
                for name in names:
                    if not preview.is_used(name):
                        continue  # a control that does nothing in this setting
                    values[name] = _widget(name, preview, choices.get(name))
                    if values[name] == getattr(preview, name):
                        continue  # the usual case: a rerun changes one control, if any
                    try:  # later controls show or hide by the value just chosen
                        preview = preview.replace(**{name: values[name]})
                    except ValueError:
                        pass
        changed = {k: v for k, v in values.items() if v != getattr(base, k)}
        try:
            cfg = base.replace(**changed) if changed else base
        except ValueError as e:
            st.error(f"Not applied: {plain(e)}")
            cfg = base
    st.session_state[_cfg_key(page.path)] = cfg
    extra = {k: v for section in sections for k, v in section.query().items()}
    st.query_params.from_dict({**cfg.to_query(base=page_defaults), **room.query(), **extra})
    return cfg
