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

import dataclasses
import json
import math

import numpy as np
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .core.neuron import RESET_MECHANISMS
from .core.surrogate import SURROGATES

__all__ = ["SimConfig", "MAX_CONFIG_JSON_BYTES", "quote", "RECURRENCES", "STIMULI", "DEVICES", "WEIGHT_INITS", "KERNEL_INITS",
           "SURROGATE_PARAM", "field_spec"]

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

# The one parameter of each surrogate that the sidebar exposes (None: it has none).
SURROGATE_PARAM: dict[str, str | None] = {
    name: (next(iter(params)) if params else None) for name, params in SURROGATES.items()
}
SURROGATE_PARAM["spike_rate_escape"] = "slope"
SURROGATE_PARAM["SSO"] = "variance"


def _f(default, *, lo=None, hi=None, choices=None, kind=None, help="", when=None, min_abs=None):
    """A dataclass field whose metadata says what values are allowed.

    ``when(cfg)`` says whether the field takes part in the run ``cfg``
    describes (None: always).  A field that does not is hidden by the
    sidebar, left out of links, and reset to its base value when a link sets
    it, so nothing a run ignores rides along in a shared URL or an export.
    ``min_abs``: a non-zero value must be at least this large in magnitude.
    """
    return field(default=default, metadata={"lo": lo, "hi": hi, "choices": choices,
                                            "kind": kind, "help": help, "when": when,
                                            "min_abs": min_abs})


def _uses_amplitude(c) -> bool:
    return c.stimulus not in ("expression", "csv")


@dataclass(frozen=True)
class SimConfig:
    # --- neuron --------------------------------------------------------------
    beta: float = _f(0.9, lo=-1.0, hi=2.0, help="membrane decay per step; the reference clamps it to [0, 1]")
    threshold: float = _f(1.0, lo=0.01, hi=10.0, help="firing threshold θ (U must exceed it)")
    V: float = _f(0.5, lo=-5.0, hi=5.0, help="one-to-one recurrent weight (all_to_all=False)",
                  when=lambda c: c.recurrence == "one_to_one")
    reset_mechanism: str = _f("subtract", choices=RESET_MECHANISMS, help="what a spike does to U")
    reset_delay: bool = _f(True, help="True: reset applied at the next step (reference default)")
    recurrence: str = _f("one_to_one", choices=RECURRENCES,
                         help="one_to_one: V·S; linear: nn.Linear; conv2d: nn.Conv2d; none: no feedback")
    graded_spikes_factor: float = _f(1.0, lo=-10.0, hi=10.0, min_abs=1e-6,
                                      help="spike amplitude g (non-zero, |g| >= 1e-6)")
    inhibition: bool = _f(False, help="only the neuron with the largest U - θ may spike (dense only)",
                           when=lambda c: c.recurrence != "conv2d")
    surrogate: str = _f("atan", choices=tuple(SURROGATES), help="backward of the spike function")
    surrogate_param: float | None = _f(None, lo=-100.0, hi=100.0,
                                       help="the surrogate's parameter (None: its default)",
                                       when=lambda c: SURROGATE_PARAM[c.surrogate] is not None)
    state_quant_bits: int = _f(0, lo=0, hi=12, help="quantise U to 2**bits levels (0: off)")
    learn_beta: bool = _f(False, help="β is a trainable parameter (gets a gradient)")
    learn_threshold: bool = _f(False, help="θ is a trainable parameter (gets a gradient)")
    learn_recurrent: bool = _f(True, help="V or the recurrent weights and bias are trainable",
                                when=lambda c: c.recurrence != "none")
    # --- gradients -------------------------------------------------------------
    loss: str = _f("spike_count", choices=("spike_count", "membrane_mse", "cross_entropy", "spike_times"),
                   help="what the gradient views differentiate")
    loss_target: float = _f(5.0, lo=-10.0, hi=10_000.0,
                            help="spike_count: target spikes per neuron; membrane_mse: target U; "
                                 "cross_entropy: index of the correct neuron",
                            when=lambda c: c.loss != "spike_times")
    target_times: str = _f("20,60,100,140", kind="times",
                           help="spike_times: steps where a spike is wanted (comma-separated)",
                           when=lambda c: c.loss == "spike_times")
    reset_grad: bool = _f(False, help="what-if, not snnTorch: let gradient flow through the reset")
    # --- network -------------------------------------------------------------
    num_neurons: int = _f(1, lo=1, hi=1000, help="neurons (one_to_one, linear, none)",
                          when=lambda c: c.recurrence != "conv2d")
    weight_init: str = _f("default", choices=WEIGHT_INITS, help="linear recurrence weights",
                          when=lambda c: c.recurrence == "linear")
    weight_gain: float = _f(1.0, lo=0.0, hi=20.0, help="multiplies the initial weights",
                            when=lambda c: c.recurrence == "conv2d" or (
                                c.recurrence == "linear" and c.weight_init != "state_dict"))
    weight_sparsity: float = _f(0.0, lo=0.0, hi=0.99, help="fraction of weights set to zero",
                                when=lambda c: c.recurrence == "linear" and c.weight_init != "state_dict")
    excitatory_fraction: float = _f(0.8, lo=0.0, hi=1.0, help="share of excitatory neurons (ei)",
                                    when=lambda c: c.recurrence == "linear" and c.weight_init == "ei")
    conv2d_channels: int = _f(1, lo=1, hi=8, help="channels of the conv grid",
                              when=lambda c: c.recurrence == "conv2d")
    grid_size: int = _f(16, lo=3, hi=64, help="height and width of the conv grid",
                        when=lambda c: c.recurrence == "conv2d")
    kernel_size: int = _f(3, lo=1, hi=9, help="odd size of the recurrent kernel",
                          when=lambda c: c.recurrence == "conv2d")
    kernel_init: str = _f("default", choices=KERNEL_INITS, help="recurrent kernel",
                          when=lambda c: c.recurrence == "conv2d")
    # --- run -----------------------------------------------------------------
    num_steps: int = _f(200, lo=1, hi=10_000, help="time steps T")
    batch_size: int = _f(1, lo=1, hi=64, help="independent samples")
    seed: int = _f(0, lo=0, hi=2**31 - 1, help="seeds weights and random stimuli")
    device: str = _f("auto", choices=DEVICES, help="where torch runs")
    # --- stimulus ------------------------------------------------------------
    stimulus: str = _f("constant", choices=STIMULI, help="input current shape")
    amplitude: float = _f(0.3, lo=-10.0, hi=10.0, help="stimulus size", when=_uses_amplitude)
    offset: float = _f(0.0, lo=-10.0, hi=10.0, help="added to every step")
    onset: int = _f(20, lo=0, hi=10_000, help="step: first step of the step",
                    when=lambda c: c.stimulus == "step")
    period: int = _f(50, lo=1, hi=10_000, help="pulse and sine period (steps)",
                     when=lambda c: c.stimulus in ("pulse", "sine"))
    width: int = _f(5, lo=1, hi=10_000, help="pulse width (steps)", when=lambda c: c.stimulus == "pulse")
    noise_std: float = _f(0.0, lo=0.0, hi=5.0, help="Gaussian noise added to any stimulus")
    rate: float = _f(0.1, lo=0.0, hi=1.0, help="poisson: spike probability per step",
                     when=lambda c: c.stimulus == "poisson")
    input_spread: float = _f(0.0, lo=0.0, hi=1.0,
                             help="neuron i gets amplitude·(1 - spread + 2·spread·i/(N-1))",
                             when=lambda c: _uses_amplitude(c) and c.neuron_count > 1)
    expression: str = _f("0.3 + 0.2*sin(2*pi*t/50)", kind="expression",
                         help="current as a function of t (and n, the neuron index)",
                         when=lambda c: c.stimulus == "expression")

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _check(f, value))
        if self.graded_spikes_factor == 0:
            raise ValueError("graded_spikes_factor must be non-zero (|g| >= 1e-06)")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (1, 3, 5, 7 or 9), got {self.kernel_size}")
        if self.inhibition and self.recurrence == "conv2d":
            raise ValueError("inhibition works on dense layers only: choose recurrence "
                             "one_to_one, linear or none")
        if self.surrogate_param is not None and SURROGATE_PARAM[self.surrogate] is None:
            object.__setattr__(self, "surrogate_param", None)

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
        name = SURROGATE_PARAM[self.surrogate]
        if name is None or self.surrogate_param is None:
            return {}
        return {name: self.surrogate_param}

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

    # --- plain-value round trips ------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SimConfig":
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


def _too_long_json(n: int) -> str:
    return (f"config JSON is {n:,} characters long; at most {MAX_CONFIG_JSON_BYTES:,} are "
            "allowed (a config is one small object of field: value pairs)")


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


def _base_type(f) -> str:
    return str(f.type).replace(" ", "").split("|")[0]


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
