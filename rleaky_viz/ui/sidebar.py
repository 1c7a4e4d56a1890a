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

from ..config import SURROGATE_PARAM, SimConfig, field_spec
from ..core.surrogate import SURROGATES
from ..navigation import Page
from .classroom import classroom, classroom_errors
from .panels import plain

__all__ = ["sidebar", "apply_config", "current_config", "NEURON_FIELDS", "RUN_FIELDS",
           "STIMULUS_FIELDS", "POPULATION_FIELDS", "CONV_FIELDS", "GRADIENT_FIELDS"]

NEURON_FIELDS = ("recurrence", "beta", "threshold", "V", "reset_mechanism", "reset_delay",
                 "graded_spikes_factor", "inhibition", "surrogate", "surrogate_param",
                 "state_quant_bits")
STIMULUS_FIELDS = ("stimulus", "amplitude", "offset", "onset", "period", "width", "rate",
                   "noise_std", "input_spread", "expression")
RUN_FIELDS = ("num_steps", "batch_size", "seed", "device")
GRADIENT_FIELDS = ("loss", "loss_target", "target_times", "learn_beta", "learn_threshold",
                   "learn_recurrent", "reset_grad")
POPULATION_FIELDS = ("num_neurons", "weight_init", "weight_gain", "weight_sparsity",
                     "excitatory_fraction")
CONV_FIELDS = ("conv2d_channels", "grid_size", "kernel_size", "kernel_init", "weight_gain")

# What a widget offers, where it is narrower than what the config accepts:
# (low, high, step).  A value outside (from a link) widens the widget to include it.
_WIDGET_RANGE = {
    "beta": (0.0, 1.0, 0.01), "threshold": (0.05, 3.0, 0.05), "V": (-2.0, 2.0, 0.05),
    "graded_spikes_factor": (0.1, 3.0, 0.1), "amplitude": (-2.0, 2.0, 0.01),
    "offset": (-1.0, 1.0, 0.01), "noise_std": (0.0, 1.0, 0.01), "rate": (0.0, 1.0, 0.01),
    "input_spread": (0.0, 1.0, 0.05), "weight_gain": (0.0, 5.0, 0.1),
    "weight_sparsity": (0.0, 0.99, 0.01), "excitatory_fraction": (0.0, 1.0, 0.05),
    "state_quant_bits": (0, 12, 1), "loss_target": (0.0, 50.0, 0.5), "batch_size": (1, 64, 1), "conv2d_channels": (1, 8, 1),
    "grid_size": (3, 64, 1), "kernel_size": (1, 9, 2), "onset": (0, 1000, 1),
    "period": (1, 500, 1), "width": (1, 200, 1),
}
_NUMBER_INPUTS = {"num_steps", "seed", "num_neurons", "surrogate_param"}
_LABELS = {
    "beta": "β (decay)", "threshold": "θ (threshold)", "V": "V (one-to-one weight)",
    "graded_spikes_factor": "graded spike factor g", "state_quant_bits": "state quantisation bits",
    "num_steps": "time steps T", "conv2d_channels": "channels",
    "reset_grad": "what-if: gradient through the reset (not snnTorch)",
}
_GROUPS = (("Neuron", NEURON_FIELDS), ("Gradients", GRADIENT_FIELDS), ("Network", tuple(dict.fromkeys(POPULATION_FIELDS + CONV_FIELDS))),
           ("Stimulus", STIMULUS_FIELDS), ("Run", RUN_FIELDS))


def _visible(name: str, cfg: SimConfig) -> bool:
    """Hide controls that do nothing for the current setting (the schema's ``when``)."""
    return cfg.is_used(name)


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
    st.session_state["_param_of"] = None


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


def _load_url_once(page: str, base: SimConfig, defaults: SimConfig) -> SimConfig:
    flag = f"_url_loaded:{page}"
    if st.session_state.get(flag):
        return base
    st.session_state[flag] = True
    query = {k: st.query_params.get(k) for k in st.query_params.keys()}
    if not query:
        return base
    errors: list[str] = []
    cfg = SimConfig.from_query(query, base=defaults, errors=errors)
    st.session_state["_url_errors"] = errors
    _store(cfg, page)
    return cfg


def _widget(name: str, cfg: SimConfig, choices: Optional[Sequence] = None):
    spec = field_spec(name)
    label = _LABELS.get(name, name.replace("_", " "))
    help_text = spec["help"]
    value = getattr(cfg, name)
    if name not in st.session_state:
        st.session_state[name] = value
    if name == "surrogate_param":
        pname = SURROGATE_PARAM[cfg.surrogate]
        if st.session_state.get("_param_of") != cfg.surrogate or st.session_state[name] is None:
            # a new surrogate starts from its own default, not the last one's parameter
            keep = st.session_state.get("_param_of") is None and st.session_state[name] is not None
            if not keep:
                st.session_state[name] = float(SURROGATES[cfg.surrogate][pname])
            st.session_state["_param_of"] = cfg.surrogate
        return st.number_input(f"{cfg.surrogate} {pname}", min_value=spec["lo"], max_value=spec["hi"],
                               key=name, help="the surrogate's parameter (reference default "
                               f"{SURROGATES[cfg.surrogate][pname]:g})")
    if name == "device":
        options = _devices()
        if st.session_state[name] not in options:
            options.append(st.session_state[name])  # asked for by a link; falls back with a notice
        return st.selectbox(label, options, key=name, help=help_text)
    if spec["choices"]:
        options = list(choices or spec["choices"])
        if st.session_state[name] not in options:
            st.session_state[name] = options[0]
        return st.selectbox(label, options, key=name, help=help_text)
    if "bool" in str(spec["type"]):
        return st.checkbox(label, key=name, help=help_text)
    if spec["kind"] in ("expression", "times"):
        return st.text_input(label, key=name, max_chars=200, help=help_text)
    is_int = "int" in str(spec["type"])
    if name in _NUMBER_INPUTS:
        return st.number_input(label, min_value=spec["lo"], max_value=spec["hi"],
                               step=1 if is_int else None, key=name, help=help_text)
    lo, hi, step = _WIDGET_RANGE.get(name, (spec["lo"], spec["hi"], 1 if is_int else 0.01))
    current = st.session_state[name]
    lo, hi = min(lo, current), max(hi, current)
    if name == "beta":
        help_text += ". The reference clamps β to [0, 1] in every step; a link may set it outside."
    return st.slider(label, min_value=lo, max_value=hi, step=step, key=name, help=help_text)


def sidebar(page: Page, fields: Iterable[str], *, fixed: Optional[Mapping] = None,
            choices: Optional[Mapping[str, Sequence]] = None,
            title: Optional[str] = None) -> SimConfig:
    """Draw the controls for ``fields`` and return the page's config.

    ``page`` says which page this is and its starting values (a link holds
    only what differs from them); ``fixed``
    pins fields the page does not let users change (the conv page's
    ``recurrence="conv2d"``); ``choices`` narrows a selectbox's options.
    """
    fields = list(dict.fromkeys(fields))
    fixed = dict(fixed or {})
    choices = dict(choices or {})
    page_defaults = page.default_config
    _enter_page(page.path)
    base = _load_url_once(page.path, current_config(page), page_defaults)
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
        for group, names in _GROUPS:
            names = [n for n in names if n in fields and n not in fixed and room.shows(n)]
            if not names:
                continue
            with st.expander(group, expanded=group in ("Neuron", "Stimulus", "Gradients")
                             or room.controls is not None):
                for name in names:
                    if not _visible(name, preview):
                        continue
                    values[name] = _widget(name, preview, choices.get(name))
                    try:
                        preview = preview.replace(**{name: values[name]})
                    except ValueError:
                        pass
        pname = SURROGATE_PARAM.get(values.get("surrogate", base.surrogate))
        if pname and values.get("surrogate_param") == SURROGATES[values.get("surrogate", base.surrogate)][pname]:
            values["surrogate_param"] = None  # the default: keep links short
        try:
            cfg = base.replace(**values)
        except ValueError as e:
            st.error(f"Not applied: {plain(e)}")
            cfg = base
    st.session_state[_cfg_key(page.path)] = cfg
    st.query_params.from_dict({**cfg.to_query(base=page_defaults), **room.query()})
    return cfg
