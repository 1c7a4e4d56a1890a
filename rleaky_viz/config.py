"""One configuration type for every simulation: :class:`SimConfig`.

A frozen dataclass of plain values (no tensors), so it can be hashed by the
cache, written to a URL query and to JSON, and read back exactly.  Every
field carries its bounds in its metadata; :meth:`SimConfig.__post_init__`
checks them all in one place, and the sidebar builds its widgets from the
same metadata, so a control can never offer a value the config refuses.

Field names follow snnTorch's where a user knows them (``beta``,
``threshold``, ``V``, ``reset_mechanism``, ``reset_delay``,
``graded_spikes_factor``, ``inhibition``, ``conv2d_channels``,
``kernel_size``).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .core.neuron import RESET_MECHANISMS
from .core.surrogate import REGISTRY

__all__ = ["SimConfig", "MAX_CONFIG_JSON_BYTES", "quote", "RECURRENCES", "STIMULI", "DEVICES",
           "WEIGHT_INITS", "KERNEL_INITS", "GROUPS", "CONTROLS", "Control", "control", "field_spec",
           "check_value",
           "fields_in", "SWEEPABLE", "LIVE_FIELDS", "DISTANCE_FIELDS", "COMPARE_FIELDS", "MYSTERY_FIELDS", "surrogate_field",
           "SURROGATE_FIELDS", "LEGACY_SURROGATE_PARAM"]

# a config written by to_json is about 1.5 kB; anything much longer is not one
MAX_CONFIG_JSON_BYTES = 65_536
# the dtype every run computes in: values are checked as they will be there
_F32_MAX = float(np.finfo(np.float32).max)
_F32_TINY = float(np.finfo(np.float32).tiny)

RECURRENCES = ("one_to_one", "linear", "conv2d", "none")
STIMULI = ("constant", "step", "pulse", "ramp", "sine", "noise", "poisson", "expression", "csv")
DEVICES = ("auto", "cpu", "cuda", "mps")
WEIGHT_INITS = ("default", "gain", "sparse", "ei", "state_dict")
KERNEL_INITS = ("default", "centre_surround", "lateral_excitation")

# The groups a control belongs to, in the order the sidebar draws them.
GROUPS = ("Neuron", "Learning", "Gradients", "Network", "Stimulus", "Run")
CONTROLS = ("slider", "number", "select", "checkbox", "text")


def _f(default, *, group, lo=None, hi=None, choices=None, kind=None, help="", when=None,
       min_abs=None, label=None, widget=None, control=None, sweep=None, compare=False,
       mystery=None, distance=None, symbol=None, uploads=(), nonzero=False, live=False):
    """A dataclass field whose metadata says all a control needs to know about it.

    ``lo``/``hi``/``choices``/``kind``/``min_abs``: what values the config
    accepts.  ``when(cfg)``: whether the field takes part in the run ``cfg``
    describes (None: always); a field that does not is hidden by the sidebar,
    left out of links, and reset to its base value when a link sets it, so
    nothing a run ignores rides along in a shared URL or an export.
    ``group``, ``label``, ``help``: where the sidebar draws it and what it
    says.  ``widget``: ``(low, high, step)`` of the control, where it is
    narrower than what is accepted (a value from a link widens it).
    ``control``: the widget kind (see :data:`CONTROLS`; by default from the
    type).  ``sweep``: the starting ``(low, high)`` of a Sweeps axis, for
    the fields a batched sweep can vary per grid point.  ``compare``: B may
    override it on the Compare page.  ``mystery``: ``(low, high, start)`` of
    the hidden value's range and the guess slider's start, for the fields the
    Mystery neuron hides.  ``distance``: the values the gradient-distance view
    (vanishing and exploding) starts with, for the fields it can vary.
    ``live``: the one-neuron charts follow this control while it is dragged
    (``rleaky_viz.live``: frames of a batched run, one per position; the
    field must be sweepable).  ``symbol``: the short name in equations and legends (β, θ).  ``uploads``:
    the choices that need a file the user uploads (a page without uploaders
    leaves them out).
    """
    return field(default=default, metadata={
        "lo": lo, "hi": hi, "choices": choices, "kind": kind, "help": help, "when": when,
        "min_abs": min_abs, "group": group, "label": label, "widget": widget,
        "control": control, "sweep": sweep, "compare": compare, "mystery": mystery,
        "distance": distance, "symbol": symbol, "uploads": tuple(uploads), "nonzero": nonzero,
        "live": live})


def _uses_amplitude(c) -> bool:
    return c.stimulus not in ("expression", "csv")


def _surrogate_field(surrogate: str, param: str):
    """The field of one surrogate parameter: bounds, control and help from the registry."""
    p = REGISTRY[surrogate].param(param)
    return _f(p.default, group="Neuron", lo=p.lo, hi=p.hi, widget=p.widget, control="number",
              label=f"{surrogate} {param}", help=f"{p.help} (reference default {p.default:g})",
              when=lambda c: c.surrogate == surrogate)


@dataclass(frozen=True)
class SimConfig:
    # --- neuron ----------------------------------------------------------------
    recurrence: str = _f("one_to_one", group="Neuron", choices=RECURRENCES, compare=True,
                         help="one_to_one: V·S; linear: nn.Linear; conv2d: nn.Conv2d; none: no feedback")
    beta: float = _f(0.9, group="Neuron", lo=-1.0, hi=2.0, widget=(0.0, 1.0, 0.01), label="β (decay)",
                     help="membrane decay per step. The reference clamps β to [0, 1] in every "
                          "step; a link may set it outside",
                     sweep=(0.5, 1.0), compare=True, mystery=(0.6, 0.97, 0.75),
                     distance=(0.5, 0.8, 0.9, 0.95, 1.0), symbol="β", live=True)
    threshold: float = _f(1.0, group="Neuron", lo=0.01, hi=10.0, widget=(0.05, 3.0, 0.05),
                          label="θ (threshold)", help="firing threshold θ (U must exceed it)",
                          sweep=(0.25, 2.0), compare=True, mystery=(0.5, 1.5, 1.0), symbol="θ",
                          live=True)
    V: float = _f(0.5, group="Neuron", lo=-5.0, hi=5.0, widget=(-2.0, 2.0, 0.05),
                  label="V (one-to-one weight)", help="one-to-one recurrent weight (all_to_all=False)",
                  when=lambda c: c.recurrence == "one_to_one",
                  sweep=(-1.0, 1.0), compare=True, mystery=(-0.6, 0.6, 0.0),
                  distance=(0.0, 0.5, 1.0, 2.0), symbol="V", live=True)
    reset_mechanism: str = _f("subtract", group="Neuron", choices=RESET_MECHANISMS, compare=True,
                              help="what a spike does to U")
    reset_delay: bool = _f(True, group="Neuron", compare=True,
                           help="True: reset applied at the next step (reference default)")
    graded_spikes_factor: float = _f(1.0, group="Neuron", lo=-10.0, hi=10.0, min_abs=1e-6, nonzero=True,
                                      widget=(0.1, 3.0, 0.1), label="graded spike factor g",
                                      help="spike amplitude g (non-zero, |g| >= 1e-6); with inhibition "
                                           "a spike is 1, as in snnTorch",
                                      sweep=(0.5, 2.0), symbol="g")
    inhibition: bool = _f(False, group="Neuron",
                          help="only the neuron with the largest U - θ may spike (dense only)",
                          when=lambda c: c.recurrence != "conv2d")
    surrogate: str = _f("atan", group="Neuron", choices=tuple(REGISTRY), compare=True,
                        help="backward of the spike function")
    # one field per surrogate parameter (core.surrogate.REGISTRY), shown with its surrogate
    atan_alpha: float = _surrogate_field("atan", "alpha")
    fast_sigmoid_slope: float = _surrogate_field("fast_sigmoid", "slope")
    sigmoid_slope: float = _surrogate_field("sigmoid", "slope")
    triangular_threshold: float = _surrogate_field("triangular", "threshold")
    spike_rate_escape_beta: float = _surrogate_field("spike_rate_escape", "beta")
    spike_rate_escape_slope: float = _surrogate_field("spike_rate_escape", "slope")
    SFS_slope: float = _surrogate_field("SFS", "slope")
    SFS_B: float = _surrogate_field("SFS", "B")
    SSO_mean: float = _surrogate_field("SSO", "mean")
    SSO_variance: float = _surrogate_field("SSO", "variance")
    LSO_slope: float = _surrogate_field("LSO", "slope")
    state_quant_bits: int = _f(0, group="Neuron", lo=0, hi=12, widget=(0, 12, 1),
                               label="state quantisation bits",
                               help="quantise U to 2**bits levels (0: off); with reset_delay=False the "
                                    "same-step reset comes after the snap, so where it acts (a "
                                    "spike, or a pending reset it undoes, as on a neuron "
                                    "inhibition suppressed) U need not be a level")
    # --- learning ----------------------------------------------------------------
    learn_beta: bool = _f(False, group="Learning", help="β is a trainable parameter (gets a gradient)")
    learn_threshold: bool = _f(False, group="Learning",
                               help="θ is a trainable parameter (gets a gradient)")
    learn_recurrent: bool = _f(True, group="Learning",
                               help="V or the recurrent weights and bias are trainable",
                               when=lambda c: c.recurrence != "none")
    # --- gradients ---------------------------------------------------------------
    loss: str = _f("spike_count", group="Gradients",
                   choices=("spike_count", "membrane_mse", "cross_entropy", "spike_times"),
                   help="what the gradient views differentiate")
    loss_target: float = _f(5.0, group="Gradients", lo=-10.0, hi=10_000.0, widget=(0.0, 50.0, 0.5),
                            help="spike_count: target of each neuron's ΣS[t], its spike count × g (with "
                                 "inhibition a spike is 1); membrane_mse: target U; "
                                 "cross_entropy: index of the correct neuron",
                            when=lambda c: c.loss != "spike_times")
    target_times: str = _f("20,60,100,140", group="Gradients", kind="times",
                           help="spike_times: steps where a spike is wanted (comma-separated)",
                           when=lambda c: c.loss == "spike_times")
    reset_grad: bool = _f(False, group="Gradients",
                          label="what-if: gradient through the reset (not snnTorch)",
                          help="what-if, not snnTorch: let gradient flow through the reset")
    # --- network -----------------------------------------------------------------
    num_neurons: int = _f(1, group="Network", lo=1, hi=1000, control="number",
                          help="neurons (one_to_one, linear, none)",
                          when=lambda c: c.recurrence != "conv2d")
    weight_init: str = _f("default", group="Network", choices=WEIGHT_INITS, uploads=("state_dict",),
                          help="linear recurrence weights",
                          when=lambda c: c.recurrence == "linear")
    weight_gain: float = _f(1.0, group="Network", lo=0.0, hi=20.0, widget=(0.0, 5.0, 0.1),
                            help="multiplies the initial weights",
                            when=lambda c: c.recurrence == "conv2d" or (
                                c.recurrence == "linear" and c.weight_init != "state_dict"))
    weight_sparsity: float = _f(0.0, group="Network", lo=0.0, hi=0.99, widget=(0.0, 0.99, 0.01),
                                help="each weight is set to zero with this probability",
                                when=lambda c: c.recurrence == "linear" and c.weight_init != "state_dict")
    excitatory_fraction: float = _f(0.8, group="Network", lo=0.0, hi=1.0, widget=(0.0, 1.0, 0.05),
                                    help="share of excitatory neurons (ei)",
                                    when=lambda c: c.recurrence == "linear" and c.weight_init == "ei")
    conv2d_channels: int = _f(1, group="Network", lo=1, hi=8, widget=(1, 8, 1), label="channels",
                              help="channels of the conv grid",
                              when=lambda c: c.recurrence == "conv2d")
    grid_size: int = _f(16, group="Network", lo=3, hi=64, widget=(3, 64, 1),
                        help="height and width of the conv grid",
                        when=lambda c: c.recurrence == "conv2d")
    kernel_size: int = _f(3, group="Network", lo=1, hi=9, widget=(1, 9, 2),
                          help="odd size of the recurrent kernel",
                          when=lambda c: c.recurrence == "conv2d")
    kernel_init: str = _f("default", group="Network", choices=KERNEL_INITS, help="recurrent kernel",
                          when=lambda c: c.recurrence == "conv2d")
    # --- stimulus ----------------------------------------------------------------
    stimulus: str = _f("constant", group="Stimulus", choices=STIMULI, uploads=("csv",),
                       help="input current shape")
    amplitude: float = _f(0.3, group="Stimulus", lo=-10.0, hi=10.0, widget=(-2.0, 2.0, 0.01),
                          label="input amplitude", help="stimulus size", when=_uses_amplitude,
                          sweep=(0.0, 1.0), compare=True, symbol="I", live=True)
    offset: float = _f(0.0, group="Stimulus", lo=-10.0, hi=10.0, widget=(-1.0, 1.0, 0.01),
                       label="input offset", help="added to every step", sweep=(0.0, 0.5),
                       symbol="offset")
    onset: int = _f(20, group="Stimulus", lo=0, hi=10_000, widget=(0, 1000, 1),
                    help="step: first step of the step",
                    when=lambda c: c.stimulus == "step")
    period: int = _f(50, group="Stimulus", lo=1, hi=10_000, widget=(1, 500, 1),
                     help="pulse and sine period (steps)",
                     when=lambda c: c.stimulus in ("pulse", "sine"))
    width: int = _f(5, group="Stimulus", lo=1, hi=10_000, widget=(1, 200, 1), help="pulse width (steps)",
                    when=lambda c: c.stimulus == "pulse")
    rate: float = _f(0.1, group="Stimulus", lo=0.0, hi=1.0, widget=(0.0, 1.0, 0.01),
                     help="poisson: spike probability per step",
                     when=lambda c: c.stimulus == "poisson")
    noise_std: float = _f(0.0, group="Stimulus", lo=0.0, hi=5.0, widget=(0.0, 1.0, 0.01),
                          help="Gaussian noise added to any stimulus")
    input_spread: float = _f(0.0, group="Stimulus", lo=0.0, hi=1.0, widget=(0.0, 1.0, 0.05),
                             help="neuron i gets amplitude·(1 - spread + 2·spread·i/(N-1))",
                             when=lambda c: _uses_amplitude(c) and c.neuron_count > 1)
    expression: str = _f("0.3 + 0.2*sin(2*pi*t/50)", group="Stimulus", kind="expression",
                         help="current as a function of t (and n, the neuron index)",
                         when=lambda c: c.stimulus == "expression")
    # --- run ---------------------------------------------------------------------
    num_steps: int = _f(200, group="Run", lo=1, hi=10_000, control="number", label="time steps T",
                        help="time steps T")
    batch_size: int = _f(1, group="Run", lo=1, hi=64, widget=(1, 64, 1), help="independent samples")
    seed: int = _f(0, group="Run", lo=0, hi=2**31 - 1, control="number",
                   help="seeds weights and random stimuli")
    device: str = _f("auto", group="Run", choices=DEVICES, help="where torch runs")

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            checked = _check(f, value)
            if checked is not value:
                object.__setattr__(self, f.name, checked)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (1, 3, 5, 7 or 9), got {self.kernel_size}")
        if self.inhibition and self.recurrence == "conv2d":
            raise ValueError("inhibition works on dense layers only: choose recurrence "
                             "one_to_one, linear or none")

    # --- derived values --------------------------------------------------------
    @property
    def neuron_shape(self) -> tuple[int, ...]:
        if self.recurrence == "conv2d":
            return (self.conv2d_channels, self.grid_size, self.grid_size)
        return (self.num_neurons,)

    @property
    def neuron_count(self) -> int:
        return math.prod(self.neuron_shape)

    @property
    def spike_times(self) -> list[int]:
        """``target_times`` as step numbers inside the run."""
        return [t for t in (int(p) for p in self.target_times.split(",") if p) if t < self.num_steps]

    @property
    def surrogate_params(self) -> dict:
        """The chosen surrogate's parameters that differ from the reference's defaults."""
        return {p.name: getattr(self, f"{self.surrogate}_{p.name}")
                for p in REGISTRY[self.surrogate].params
                if getattr(self, f"{self.surrogate}_{p.name}") != p.default}

    def is_used(self, name: str) -> bool:
        """Whether field ``name`` takes part in the run this config describes."""
        when = _FIELDS[name].metadata.get("when")
        return True if when is None else bool(when(self))

    def used_fields(self) -> tuple[str, ...]:
        return tuple(name for name in _FIELDS if self.is_used(name))

    def without_unused(self, base: "SimConfig | None" = None) -> "SimConfig":
        """This config with every field the run ignores set back to ``base``'s value."""
        base = base or SimConfig()
        changes = {name: getattr(base, name) for name in _FIELDS
                   if not self.is_used(name) and getattr(self, name) != getattr(base, name)}
        if not changes:
            return self
        try:
            return dataclasses.replace(self, **changes)
        except ValueError:  # a base value that does not fit this config: the default does
            return dataclasses.replace(self, **{k: _FIELDS[k].default for k in changes})

    def replace(self, **changes) -> "SimConfig":
        return dataclasses.replace(self, **changes)

    def with_checked(self, **changes) -> "SimConfig":
        """:meth:`replace` for values that ``check_value`` already accepted, without
        checking every field again (a live chart or a sweep makes a config per point).
        Only fields that no rule across fields involves (those of ``SWEEPABLE``, which
        ``LIVE_FIELDS`` are among) may change here."""
        bad = set(changes) - set(SWEEPABLE)
        if bad:
            raise ValueError(f"with_checked changes only {', '.join(SWEEPABLE)}, not {sorted(bad)}")
        new = copy.copy(self)
        for name, value in changes.items():
            object.__setattr__(new, name, value)
        return new

    # --- plain-value round trips ------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SimConfig":
        data = _upgrade_legacy(data, data.get("surrogate", _FIELDS["surrogate"].default))
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str | bytes) -> "SimConfig":
        """A config from JSON text (what :meth:`to_json` writes), at most 64 kB."""
        if isinstance(text, (bytes, bytearray)):
            if len(text) > MAX_CONFIG_JSON_BYTES:
                raise ValueError(_too_long_json(len(text)))
            try:
                text = bytes(text).decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValueError("config JSON is not UTF-8 text") from None
        if not isinstance(text, str):
            raise ValueError("config JSON must be text")
        if len(text) > MAX_CONFIG_JSON_BYTES:
            raise ValueError(_too_long_json(len(text)))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"config JSON is not valid JSON: {e.msg} (line {e.lineno})") from None
        except RecursionError:
            raise ValueError("config JSON is nested too deeply: it must be one object of "
                             "field: value pairs") from None
        if not isinstance(data, dict):
            raise ValueError("config JSON must be an object of field: value")
        return cls.from_dict(data)

    def to_query(self, base: "SimConfig | None" = None, only_changed: bool = True) -> dict[str, str]:
        """URL query parameters (strings): the fields that differ from ``base`` (the defaults)."""
        base = base or SimConfig()
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if only_changed and (value == getattr(base, f.name) or not self.is_used(f.name)):
                continue
            out[f.name] = _to_text(value)
        return out

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, base: "SimConfig | None" = None,
                   errors: list | None = None) -> "SimConfig":
        """Parse URL query strings; unknown keys are ignored.

        With ``errors`` (a list) a bad value is reported there and the field
        keeps its base value, so one bad parameter does not lose the rest;
        without it the first bad value raises ``ValueError``.  Fields that
        the resulting run does not use keep their base value (a link cannot
        smuggle, say, an expression into a run with a constant stimulus).
        """
        base = base or cls()
        changes = {}
        by_name = {f.name: f for f in fields(cls)}
        query = _upgrade_legacy_query(query, base, errors)
        for key, text in query.items():
            f = by_name.get(key)
            if f is None:
                continue
            try:
                value = _parse(f, text)
                cls(**{**base.to_dict(), **changes, key: value})  # validate in context
                changes[key] = value
            except ValueError as e:
                if errors is None:
                    raise
                errors.append(f"{key}: {e}")
        cfg = dataclasses.replace(base, **changes)
        return cfg.without_unused(base)


_FIELDS = {f.name: f for f in fields(SimConfig)}


# --------------------------------------------------------------------------- the schema, read
@dataclass(frozen=True)
class Control:
    """What a widget for one field needs, read from the field's metadata."""

    name: str
    group: str
    label: str
    help: str
    control: str               # one of CONTROLS
    default: Any
    lo: Any = None             # what the widget offers (slider / number input)
    hi: Any = None
    step: Any = None
    choices: tuple = ()
    integer: bool = False
    symbol: str = ""           # the short name in equations and legends (β); else the label
    uploads: tuple = ()        # the choices that need an uploaded file


def control(name: str) -> Control:
    """The widget description of field ``name``."""
    f = _FIELDS[name]
    meta, typ = f.metadata, _base_type(f)
    kind = meta["control"] or ("select" if meta["choices"] else "checkbox" if typ == "bool"
                               else "text" if meta["kind"] else "slider")
    integer = typ == "int"
    lo, hi, step = meta["widget"] or (meta["lo"], meta["hi"], 1 if integer else 0.01)
    if kind == "number" and not meta["widget"]:
        step = 1 if integer else None
    return Control(name, meta["group"], meta["label"] or name.replace("_", " "), meta["help"], kind,
                   f.default, lo, hi, step, tuple(meta["choices"] or ()), integer,
                   meta["symbol"] or meta["label"] or name.replace("_", " "), meta["uploads"])


def fields_in(*groups: str) -> tuple[str, ...]:
    """The fields of these groups (see :data:`GROUPS`), in schema order."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise KeyError(f"unknown group(s) {unknown}; the groups are {', '.join(GROUPS)}")
    return tuple(n for n, f in _FIELDS.items() if f.metadata["group"] in groups)


# The fields a batched sweep varies per grid point, each with its axis's starting range.
SWEEPABLE = tuple(n for n, f in _FIELDS.items() if f.metadata["sweep"])
# the controls the one-neuron charts follow while they are dragged (rleaky_viz.live)
LIVE_FIELDS = tuple(n for n, f in _FIELDS.items() if f.metadata["live"])
assert set(LIVE_FIELDS) <= set(SWEEPABLE), "a live field is run per batch element, as a sweep's"
# The fields the gradient-distance view can vary, with the values it starts with.
DISTANCE_FIELDS = {n: f.metadata["distance"] for n, f in _FIELDS.items() if f.metadata["distance"]}
# The fields Compare's configuration B may override.
COMPARE_FIELDS = tuple(n for n, f in _FIELDS.items() if f.metadata["compare"])
# The fields the Mystery neuron hides: name -> (low, high, slider start).
MYSTERY_FIELDS = {n: f.metadata["mystery"] for n, f in _FIELDS.items() if f.metadata["mystery"]}


def surrogate_field(surrogate: str, param: str) -> str:
    """The field that holds ``param`` of ``surrogate`` (``atan``, ``alpha`` -> ``atan_alpha``)."""
    name = f"{surrogate}_{param}"
    if name not in _FIELDS:
        raise KeyError(f"{surrogate!r} has no parameter {param!r}")
    return name


# Each surrogate's parameter fields, in its registry order.
SURROGATE_FIELDS = {s: tuple(surrogate_field(s, p.name) for p in info.params)
                    for s, info in REGISTRY.items()}

# Before each surrogate parameter had its own field, links and JSON carried one
# ``surrogate_param``: the first parameter, or these.  Still read, never written.
LEGACY_SURROGATE_PARAM = "surrogate_param"
_LEGACY_PARAM_OF = {"spike_rate_escape": "slope", "SSO": "variance"}


def _legacy_target(surrogate) -> "str | None":
    info = REGISTRY.get(surrogate) if isinstance(surrogate, str) else None
    if info is None or not info.params:
        return None
    return surrogate_field(surrogate, _LEGACY_PARAM_OF.get(surrogate, info.params[0].name))


def _upgrade_legacy(data: Mapping[str, Any], surrogate) -> Mapping[str, Any]:
    if LEGACY_SURROGATE_PARAM not in data:
        return data
    data = dict(data)
    value, target = data.pop(LEGACY_SURROGATE_PARAM), _legacy_target(surrogate)
    if value is not None and target is not None:
        data.setdefault(target, value)
    return data


def _upgrade_legacy_query(query: Mapping[str, str], base: "SimConfig", errors) -> Mapping[str, str]:
    if LEGACY_SURROGATE_PARAM not in query:
        return query
    surrogate = query.get("surrogate", base.surrogate)
    surrogate = surrogate[-1] if isinstance(surrogate, (list, tuple)) and surrogate else surrogate
    query = dict(query)
    text = query.pop(LEGACY_SURROGATE_PARAM)
    text = text[-1] if isinstance(text, (list, tuple)) and text else text
    target = _legacy_target(surrogate)
    if target is None or str(text).lower() in ("", "none") or target in query:
        return query
    try:
        _check(_FIELDS[target], _parse(_FIELDS[target], text))
    except ValueError as e:
        if errors is None:
            raise ValueError(f"{LEGACY_SURROGATE_PARAM} (now {target}): {e}") from None
        errors.append(f"{LEGACY_SURROGATE_PARAM} (now {target}): {e}")
        return query
    query[target] = text
    return query


def _too_long_json(n: int) -> str:
    return (f"config JSON is {n:,} characters long; at most {MAX_CONFIG_JSON_BYTES:,} are "
            "allowed (a config is one small object of field: value pairs)")


def check_value(name: str, value):
    """``value`` as field ``name`` would hold it, or ``ValueError`` naming the field and its bounds.

    The field's own checks only (what a sweep needs for each of its values);
    a whole config also checks the fields against each other.
    """
    return _check(_FIELDS[name], value)


def field_spec(name: str) -> dict:
    """Bounds, choices and help of a field (what the sidebar builds from)."""
    for f in fields(SimConfig):
        if f.name == name:
            return {"default": f.default, "type": f.type, **f.metadata}
    raise KeyError(name)


_BOOL_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _to_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_TYPE_OF: dict[str, str] = {}  # field name -> "int", "float", "bool", "str" (filled on first use)


def _base_type(f) -> str:
    typ = _TYPE_OF.get(f.name)
    if typ is None:
        typ = _TYPE_OF[f.name] = str(f.type).replace(" ", "").split("|")[0]
    return typ


def _short(value, limit: int = 40) -> str:
    """A bounded repr for messages: user values can be huge or deeply nested."""
    if isinstance(value, str):
        text = repr(value[:limit]) + ("…" if len(value) > limit else "")
    elif isinstance(value, (bool, int, float)) or value is None:
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"
    else:
        text = f"a {type(value).__name__}"
    return text


def quote(text, limit: int = 60) -> str:
    """A bounded repr of text a user gave (a path, an argument), for one-line messages."""
    text = str(text)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def _parse(f, text) -> Any:
    if isinstance(text, (list, tuple)):
        text = text[-1] if text else ""
    text = str(text)
    typ = _base_type(f)
    if "None" in str(f.type) and text.lower() in ("none", ""):
        return None
    try:
        if typ == "bool":
            return _BOOL_TEXT[text.lower()]
        if typ == "int":
            return int(text)
        if typ == "float":
            return float(text)
    except (KeyError, ValueError):
        raise ValueError(f"{f.name} must be a {typ}, got {_short(text)}") from None
    return text


def _check_float32(name: str, value: float, meta) -> None:
    # float64 on the way in, float32 in the run: refuse what the cast would change
    # into something else (inf, or zero / a denormal from a tiny non-zero value)
    if abs(value) > _F32_MAX:
        raise ValueError(f"{name} must be between {meta.get('lo')} and {meta.get('hi')}, got {value!r}")
    min_abs = max(meta.get("min_abs") or 0.0, _F32_TINY)
    if value != 0 and abs(value) < min_abs:
        raise ValueError(f"{name}: a non-zero value must be at least {min_abs:.2g} in magnitude "
                         f"(runs compute in float32), got {value!r}")


def _check(f, value):
    """Coerce and bound-check one field; the error names the field and what is allowed."""
    meta, typ, name = f.metadata, _base_type(f), f.name
    if value is None and "None" in str(f.type):
        return None
    if typ == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {_short(value)}")
        return value
    if typ in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {_short(value)}")
        lo, hi = meta.get("lo"), meta.get("hi")
        if typ == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{name} must be a whole number, got {_short(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
            value = int(value)
        else:
            try:
                value = float(value)
            except OverflowError:  # an int too large for a float
                raise ValueError(f"{name} must be between {lo} and {hi}, "
                                 f"got a number too large to represent") from None
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{name} must be between {lo} and {hi}, got {_short(value)}")
        if typ == "float":
            _check_float32(name, value, meta)
        if value == 0 and meta.get("nonzero"):
            raise ValueError(f"{name} must be non-zero (|{name}| >= {meta.get('min_abs') or 0:g})")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {_short(value)}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {_short(value)}")
    if meta.get("kind") == "expression" and len(value) > 200:
        raise ValueError(f"{name} must be at most 200 characters, got {len(value)}")
    if meta.get("kind") == "times":
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if len(value) > 400 or len(parts) > 100 or not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(f"{name} must be up to 100 comma-separated step numbers, got {_short(value)}")
        value = ",".join(str(int(p)) for p in parts)
    return value
