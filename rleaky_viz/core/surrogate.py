"""Surrogate spike functions.

Every surrogate here has the same forward pass, the Heaviside step
``H(z) = 1 if z > 0 else 0`` (strict: ``z == 0`` gives no spike), and differs
only in the derivative ``dS/dz`` that autograd uses on the way back, where
``z = U - threshold``.

Each factory (``atan()``, ``fast_sigmoid(slope=...)`` ...) returns a
:class:`Surrogate`: a callable that maps ``z`` to spikes with the chosen
backward, which also exposes ``derivative(z)`` so that the visualisation can
draw the curve and record it along a trajectory without running autograd.

The names, parameters and defaults follow ``snntorch.surrogate`` (1.0.0), and
so do the derivatives, including the reference's odd ones, which are facts
worth showing rather than bugs to fix silently:

* ``triangular`` is a signed step (``+threshold`` below zero, ``-threshold``
  at and above), not a triangle;
* ``SFS`` is zero for ``z <= B``, so with the default ``B=1`` it gives no
  gradient near the threshold at all;
* ``spike_rate_escape`` peaks at ``z = 1``, one unit above the threshold;
* ``heaviside`` passes gradient only where the neuron spiked;
* ``SSO`` draws fresh uniform noise on every backward pass (from torch's
  global generator, as the reference does, or from a private generator
  when built with ``seed=``);
* ``LSO`` raises a ``TypeError`` in the reference (its factory passes the
  wrong number of arguments); here it does what its documentation says.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, Optional

import torch

__all__ = [
    "Surrogate",
    "SURROGATES",
    "REGISTRY",
    "SurrogateInfo",
    "SurrogateParam",
    "atan",
    "fast_sigmoid",
    "sigmoid",
    "straight_through_estimator",
    "triangular",
    "spike_rate_escape",
    "heaviside",
    "SFS",
    "SSO",
    "LSO",
    "custom_surrogate",
    "make_surrogate",
    "surrogate_derivative",
]


def _step(z: torch.Tensor) -> torch.Tensor:
    # The spike itself: strictly greater than zero, in the input's dtype.
    return (z > 0).to(z.dtype)


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward; the surrogate's derivative backward."""

    @staticmethod
    def forward(ctx, z, surrogate):
        out = _step(z)
        ctx.save_for_backward(z, out)
        ctx.surrogate = surrogate
        return out

    @staticmethod
    def backward(ctx, grad_out):
        z, out = ctx.saved_tensors
        return ctx.surrogate.backward(z, out, grad_out), None


class Surrogate:
    """A spike function with a chosen surrogate derivative.

    ``name`` and ``params`` say which one it is (they are what the app shows
    and what the snnTorch code export writes); ``derivative(z)`` is the
    factor ``dS/dz`` that the backward pass multiplies the incoming gradient
    by.  ``seed`` is ``None`` except for an ``SSO`` built with a seed, whose
    noise then comes from a private generator; it is not one of ``params``
    (snnTorch's ``SSO`` has no such argument).  Instances are immutable
    values: two with the same name, parameters and seed compare equal.
    """

    __slots__ = ("name", "params", "seed", "_derivative", "_backward")

    def __init__(self, name: str, params: dict, derivative: Optional[Callable] = None,
                 backward: Optional[Callable] = None, seed: Optional[int] = None):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", dict(params))
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "_derivative", derivative)
        object.__setattr__(self, "_backward", backward)

    def __setattr__(self, key, value):
        raise AttributeError("Surrogate objects are immutable; build a new one")

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return _SpikeFunction.apply(z, self)

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        """dS/dz at ``z`` (same shape), the factor used by the backward pass."""
        if self._derivative is None:
            # custom surrogate: ask it for the gradient of a unit upstream gradient
            return self._backward(z, _step(z), torch.ones_like(z))
        return self._derivative(z)

    def backward(self, z, out, grad_out):
        if self._backward is not None:
            return self._backward(z, out, grad_out)
        return grad_out * self._derivative(z)

    def __repr__(self):
        args = [f"{k}={v!r}" for k, v in self.params.items()]
        if self.seed is not None:
            args.append(f"seed={self.seed!r}")
        return f"{self.name}({', '.join(args)})"

    def __eq__(self, other):
        return (isinstance(other, Surrogate) and other.name == self.name
                and other.params == self.params and other.seed == self.seed
                and self.name != "custom_surrogate")

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.params.items())), self.seed))

    def __reduce__(self):
        # picklable when it is one of the named surrogates; a seeded SSO comes
        # back with a fresh generator from the same seed
        if self.name == "custom_surrogate":
            raise TypeError("a custom surrogate holds a user function and cannot be pickled")
        if self.seed is not None:
            return (make_surrogate, (self.name, self.params, self.seed))
        return (make_surrogate, (self.name, self.params))


def _number(name: str, value, *, positive: bool = False, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise TypeError(f"surrogate parameter '{name}' must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"surrogate parameter '{name}' must be finite, got {value!r}")
    if positive and value < 0:
        raise ValueError(f"surrogate parameter '{name}' must be >= 0, got {value!r}")
    if not allow_zero and value == 0:
        raise ValueError(f"surrogate parameter '{name}' must be non-zero")
    return value


def atan(alpha=2.0) -> Surrogate:
    """Arctangent surrogate (the default): ``dS/dz = (α/2) / (1 + (π/2·α·z)²)``."""
    alpha = _number("alpha", alpha)
    return Surrogate("atan", {"alpha": alpha},
                     lambda z: alpha / 2 / (1 + (torch.pi / 2 * alpha * z).pow(2)))


def fast_sigmoid(slope=25) -> Surrogate:
    """Fast sigmoid: ``dS/dz = 1 / (k|z| + 1)²``."""
    slope = _number("slope", slope)
    return Surrogate("fast_sigmoid", {"slope": slope},
                     lambda z: 1 / (slope * torch.abs(z) + 1.0) ** 2)


def sigmoid(slope=25) -> Surrogate:
    """Logistic sigmoid: ``dS/dz = k·e^(-kz) / (e^(-kz) + 1)²``.

    That is ``k·g(kz)`` with ``g(a) = e^(-a) / (1 + e^(-a))²``, and ``g`` is
    even, so it is computed as ``k·g(|kz|)`` with ``e = exp(-|kz|) <= 1``.
    Where the reference's exponent ``-kz`` is <= 0 (``z >= 0`` for a
    positive slope, ``z <= 0`` for a negative one) the numbers are the
    reference's, bit for bit; on the other side they are the same function,
    finite for every ``z`` and slope, where the reference's ``exp(-kz)``
    grows: its gradient rounds to 0 once ``(e^(-kz) + 1)²`` overflows and
    becomes NaN once ``e^(-kz)`` itself does.
    """
    slope = _number("slope", slope)

    def derivative(z):
        e = torch.exp(-torch.abs(slope * z))
        return slope * e / ((e + 1) ** 2)

    return Surrogate("sigmoid", {"slope": slope}, derivative)


def straight_through_estimator() -> Surrogate:
    """Straight-through estimator: ``dS/dz = 1`` everywhere."""
    return Surrogate("straight_through_estimator", {}, lambda z: torch.ones_like(z))


def triangular(threshold=1) -> Surrogate:
    """The reference's "triangular" surrogate.

    Despite the name it is a signed step: ``+threshold`` for ``z < 0`` and
    ``-threshold`` for ``z >= 0``.
    """
    threshold = _number("threshold", threshold)
    return Surrogate("triangular", {"threshold": threshold},
                     lambda z: torch.where(z >= 0, -threshold * torch.ones_like(z),
                                           threshold * torch.ones_like(z)))


def spike_rate_escape(beta=1, slope=25) -> Surrogate:
    """Escape-noise surrogate: ``dS/dz = k·exp(-β|z - 1|)``, largest at ``z = 1``."""
    beta = _number("beta", beta)
    slope = _number("slope", slope)
    return Surrogate("spike_rate_escape", {"beta": beta, "slope": slope},
                     lambda z: slope * torch.exp(-beta * torch.abs(z - 1)))


def heaviside() -> Surrogate:
    """Heaviside backward: ``dS/dz = H(z)``, gradient only where a spike happened."""
    return Surrogate("heaviside", {}, _step)


def SFS(slope=25, B=1) -> Surrogate:
    """Sparse fast sigmoid: the fast sigmoid's derivative, kept only where ``z > B``.

    With the default ``B = 1`` it is zero in the whole band around the
    threshold where a fast sigmoid would be largest.
    """
    slope = _number("slope", slope)
    B = _number("B", B)
    return Surrogate("SFS", {"slope": slope, "B": B},
                     lambda z: 1 / (slope * torch.abs(z) + 1.0) ** 2 * (z > B).to(z.dtype))


def _check_seed(seed) -> Optional[int]:
    if seed is None:
        return None
    if isinstance(seed, bool):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an integer or None, got {seed!r}") from None
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed must be from 0 to 2**64 - 1, got {seed}")
    return seed


def SSO(mean=0, variance=0.2, seed=None) -> Surrogate:
    """Stochastic spike operator: ``1`` where spiking, else ``(u - 0.5 + mean)·variance``.

    ``u`` is drawn uniformly from [0, 1) on every call, so two backward passes
    differ; the derivative is not deterministic.  Without ``seed`` the noise
    comes from torch's global generator (``torch.rand_like``), as in the
    reference.  With ``seed`` the surrogate owns a ``torch.Generator`` seeded
    with it when it is built: the draws are the same from run to run, and
    torch's global random state is neither read nor advanced.  The noise is
    drawn on the CPU in z's dtype and moved to z's device, so the sequence
    does not depend on the device.  ``seed`` is not one of ``params``.
    """
    mean = _number("mean", mean)
    variance = _number("variance", variance)
    seed = _check_seed(seed)

    if seed is None:
        def uniform(z):
            return torch.rand_like(z)
    else:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(seed)

        def uniform(z):
            u = torch.rand(z.shape, generator=generator, dtype=z.dtype, device="cpu")
            return u.to(z.device)

    def derivative(z):
        out = _step(z)
        return out + (1 - out) * ((uniform(z) - 0.5 + mean) * variance)

    return Surrogate("SSO", {"mean": mean, "variance": variance}, derivative, seed=seed)


def LSO(slope=0.1) -> Surrogate:
    """Leaky spike operator: ``dS/dz = 1`` where spiking, ``slope`` elsewhere.

    This is the behaviour the reference documents; the reference's own
    ``LSO()`` raises a ``TypeError`` when called.
    """
    slope = _number("slope", slope)

    def derivative(z):
        out = _step(z)
        return out + (1 - out) * slope

    return Surrogate("LSO", {"slope": slope}, derivative)


def custom_surrogate(custom_surrogate_function: Callable) -> Surrogate:
    """A user-defined backward.

    ``custom_surrogate_function(z, grad_output, spikes)`` receives the
    membrane minus threshold, the incoming gradient and the spikes of the
    forward pass, and returns the gradient with respect to ``z``, exactly as
    in the reference.
    """
    if not callable(custom_surrogate_function):
        raise TypeError("custom_surrogate expects a function (z, grad_output, spikes) -> grad")
    fn = custom_surrogate_function
    return Surrogate("custom_surrogate", {"function": getattr(fn, "__name__", "function")},
                     None, lambda z, out, grad: fn(z, grad.clone(), out))


# --------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class SurrogateParam:
    """One parameter of a named surrogate, as the app offers it.

    ``default`` is the reference's; ``lo``..``hi`` is what a configuration
    accepts; ``widget`` is ``(low, high, step)`` of the control that offers it
    (narrower: a readable scale, away from poles); ``help`` says what it does.
    """

    name: str
    default: float
    lo: float
    hi: float
    widget: tuple[float, float, float]
    help: str


@dataclass(frozen=True)
class SurrogateInfo:
    """A named surrogate: its factory, parameters, formula and its oddity (if any)."""

    name: str
    factory: Callable[..., Surrogate]
    params: tuple[SurrogateParam, ...]
    formula: str
    oddity: Optional[str] = None

    def param(self, name: str) -> SurrogateParam:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}")

    @property
    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


def _param(name, default, widget, help, lo=-100.0, hi=100.0) -> SurrogateParam:
    # a configuration accepts at least what the control offers
    return SurrogateParam(name, float(default), min(lo, widget[0]), max(hi, widget[1]),
                          tuple(float(v) for v in widget), help)


def _info(factory, params=(), *, formula, oddity=None) -> SurrogateInfo:
    return SurrogateInfo(factory.__name__, factory, tuple(params), formula, oddity)


# Every named surrogate, in gallery order: the one list the core, the
# configuration (one field per parameter), the sidebar and the gallery read.
REGISTRY: dict[str, SurrogateInfo] = {info.name: info for info in (
    _info(atan, [_param("alpha", 2.0, (0.1, 50.0, 0.5), "α: the peak is α/2, the width about 2/(πα)")],
          formula="(α/2) / (1 + (π/2·α·z)²)"),
    _info(fast_sigmoid, [_param("slope", 25.0, (0.1, 500.0, 1.0),
                                "k > 0: larger is narrower; the peak is always 1")],
          formula="1 / (k|z| + 1)²"),
    _info(sigmoid, [_param("slope", 25.0, (0.1, 500.0, 1.0),
                           "k: larger is narrower and taller (peak k/4)")],
          formula="k·e^(−kz) / (e^(−kz) + 1)²"),
    _info(straight_through_estimator, formula="1"),
    _info(triangular, [_param("threshold", 1.0, (-10.0, 10.0, 0.1), "the height of the signed step")],
          formula="+thr for z < 0, −thr for z ≥ 0",
          oddity="a signed step, not a triangle"),
    _info(spike_rate_escape, [_param("beta", 1.0, (0.0, 50.0, 0.1), "β > 0: how fast it falls away from z = 1 (β = 0: flat)"),
                              _param("slope", 25.0, (0.1, 500.0, 1.0), "k: the height of the peak")],
          formula="k·exp(−β|z − 1|)", oddity="peaks one unit above the threshold"),
    _info(heaviside, formula="H(z): 1 for z > 0, else 0",
          oddity="gradient only where the neuron spiked"),
    _info(SFS, [_param("slope", 25.0, (0.1, 500.0, 1.0), "k of the fast sigmoid it keeps"),
                _param("B", 1.0, (-10.0, 10.0, 0.1), "B: no gradient at all for z ≤ B")],
          formula="1 / (k|z| + 1)² for z > B, else 0", oddity="zero for z ≤ B"),
    _info(SSO, [_param("mean", 0.0, (-10.0, 10.0, 0.1), "shifts the noise below threshold"),
                _param("variance", 0.2, (0.0, 10.0, 0.05), "scales the noise below threshold")],
          formula="1 for z > 0, else (u − 0.5 + mean)·variance, u ~ U[0, 1)",
          oddity="random: fresh noise on every backward pass"),
    _info(LSO, [_param("slope", 0.1, (-10.0, 10.0, 0.05), "the gradient where the neuron did not spike")],
          formula="1 for z > 0, else k", oddity="the reference's LSO() raises a TypeError"),
)}

# Every named surrogate with its parameters' defaults (derived from the registry).
SURROGATES: dict[str, dict] = {name: info.defaults for name, info in REGISTRY.items()}


def make_surrogate(name: str, params: Optional[dict] = None,
                   seed: Optional[int] = None) -> Surrogate:
    """Build a named surrogate from plain values (as stored in a config).

    ``seed`` goes to ``SSO`` (its private noise generator, see :func:`SSO`);
    the other surrogates are deterministic and ignore it.
    """
    if name not in REGISTRY:
        allowed = ", ".join(REGISTRY)
        raise ValueError(f"unknown surrogate {name!r}; allowed: {allowed}")
    params = dict(params or {})
    unknown = set(params) - set(SURROGATES[name])
    if unknown:
        raise ValueError(f"surrogate {name!r} has no parameter(s) {sorted(unknown)}; "
                         f"it takes {sorted(SURROGATES[name]) or 'none'}")
    seed = _check_seed(seed)
    if name == "SSO":
        return SSO(**params, seed=seed)
    return REGISTRY[name].factory(**params)


def surrogate_derivative(spike_fn: Callable, z: torch.Tensor) -> torch.Tensor:
    """dS/dz of any spike function at ``z``.

    Uses :meth:`Surrogate.derivative` when it can; for a foreign callable
    (for example a function from ``snntorch.surrogate``) asks autograd.
    """
    if isinstance(spike_fn, Surrogate):
        return spike_fn.derivative(z)
    with torch.enable_grad():
        zz = z.detach().clone().requires_grad_(True)
        s = spike_fn(zz)
        if not s.requires_grad:
            return torch.zeros_like(z)
        (g,) = torch.autograd.grad(s.sum(), zz, allow_unused=True)
    return torch.zeros_like(z) if g is None else g
