"""State quantisation: snap the membrane to a finite set of levels.

``state_quant(...)`` returns a :class:`StateQuantizer`, a callable that maps
every element of a tensor to the nearest of ``2**num_bits`` levels (the first
level wins a tie) and passes gradients straight through.  The levels are the
same as those of ``snntorch.functional.quant.state_quant`` (1.0.0):

* uniform: evenly spaced from ``-threshold·(1 + lower_limit)`` to
  ``threshold·(1 + upper_limit)``;
* non-uniform: the range is split at the threshold (``thr_centered=True``)
  or at zero, each part gets a share of the levels in proportion to its
  length, and the spacing inside a part grows or shrinks geometrically with
  ``multiplier`` so that levels crowd towards the split point.
"""
from __future__ import annotations

import math

import torch

__all__ = ["StateQuantizer", "state_quant", "quant_levels"]

# Default geometric ratio of the non-uniform spacing, by bit count.
_DEFAULT_MULTIPLIER = {1: 0.05, 2: 0.1, 3: 0.3, 4: 0.5, 5: 0.7, 6: 0.9, 7: 0.925}


def _geometric_part(start: float, span: float, count: int, multiplier: float,
                    upward_from_split: bool) -> list[float]:
    """``count`` levels covering ``span``, steps shrinking towards the split point.

    The step sizes are ``multiplier**j`` scaled so they add up to ``span``.
    Below the split the levels start at the bottom of the range (``start``)
    and steps shrink as they approach the split; above it they start just
    above the split (``start``) with the smallest step.  The order of the
    floating-point sums matters for identical levels, hence the loops.
    """
    if count == 0:
        return []
    total = 0
    for j in reversed(range(count)):
        total += multiplier ** j
    per_unit = total / span
    levels = []
    value = start
    if upward_from_split:
        for j in reversed(range(count)):
            value += multiplier ** j / per_unit
            levels.append(value)
    else:
        for j in range(count):
            levels.append(value)
            value += multiplier ** j / per_unit
    return levels


def quant_levels(num_bits=8, uniform=True, thr_centered=True, threshold=1,
                 lower_limit=0, upper_limit=0.2, multiplier=None) -> torch.Tensor:
    """The sorted-by-construction tensor of valid membrane levels."""
    if isinstance(num_bits, bool) or not isinstance(num_bits, int) or not 1 <= num_bits <= 16:
        raise ValueError(f"num_bits must be an integer from 1 to 16, got {num_bits!r}")
    for name, value in (("threshold", threshold), ("lower_limit", lower_limit),
                        ("upper_limit", upper_limit)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    num_levels = 2 ** num_bits
    top = threshold + threshold * upper_limit
    bottom = -threshold - threshold * lower_limit
    if uniform:
        return torch.linspace(bottom, top, num_levels)
    if threshold <= 0:
        raise ValueError("non-uniform state quantisation needs threshold > 0")
    if multiplier is None:
        multiplier = _DEFAULT_MULTIPLIER.get(num_bits, 0.95)
    split = threshold if thr_centered else 0
    bottom = -(threshold + threshold * lower_limit)
    below = split - bottom
    above = top - split
    n_below = math.floor(num_levels * (below / (top - bottom)))
    n_above = num_levels - n_below
    levels = _geometric_part(bottom, below, n_below, multiplier, upward_from_split=False)
    levels += _geometric_part(split, above, n_above, multiplier, upward_from_split=True)
    return torch.tensor(levels)


class _NearestLevel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, levels):
        levels = levels.to(device=x.device, dtype=x.dtype)
        flat = x.reshape(-1, 1)
        # torch.min picks the first index among equal distances, like the reference
        idx = torch.min(torch.abs(levels - flat), dim=-1)[1]
        return levels[idx].reshape(x.shape)

    @staticmethod
    def backward(ctx, grad_out):
        # straight-through: quantisation is invisible to the gradient
        return grad_out.clone(), None


class StateQuantizer:
    """Callable that snaps a membrane tensor to the nearest valid level."""

    def __init__(self, levels: torch.Tensor, settings: dict):
        self.levels = levels
        self.settings = dict(settings)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _NearestLevel.apply(x, self.levels)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"state_quant({args})"


def state_quant(num_bits=8, uniform=True, thr_centered=True, threshold=1,
                lower_limit=0, upper_limit=0.2, multiplier=None) -> StateQuantizer:
    """Quantiser of the membrane to ``2**num_bits`` levels (see module docstring)."""
    settings = dict(num_bits=num_bits, uniform=uniform, thr_centered=thr_centered,
                    threshold=threshold, lower_limit=lower_limit, upper_limit=upper_limit,
                    multiplier=multiplier)
    return StateQuantizer(quant_levels(**settings), settings)
