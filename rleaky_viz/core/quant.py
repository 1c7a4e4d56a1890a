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

The snapping (:func:`nearest_level`) gives bit-for-bit the reference's
``levels[argmin |levels - x|]`` without building its ``(numel, 2**bits)``
distance tensor: memory proportional to ``x.numel()``, time to
``x.numel()·num_bits``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["StateQuantizer", "state_quant", "quant_levels", "nearest_level"]

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


# ---------------------------------------------------------------- nearest level
#
# The reference snaps each element x to ``levels[argmin_i |levels[i] - x|]``
# where the distances are rounded to x's dtype and ``torch.min`` picks the
# FIRST index among equal rounded distances.  Materialising all distances is
# a (numel, 2**bits) tensor (tens of GB for a conv grid with 12 bits), so the
# search below finds the same index with O(numel) memory and O(numel·bits)
# time:
#
# * Over the levels sorted by value, the rounded distance is non-increasing
#   for the levels below x and non-decreasing for those at or above it
#   (x - l and l - x are monotone in l, and rounding is monotone).  The
#   minimum m is therefore at one of x's two neighbours, and the levels whose
#   rounded distance equals m form one contiguous run of sorted positions.
#   In float32 that run can be long: far from the levels many distances
#   round to the same number (for x = ±inf all of them are inf).
# * The run's ends are found by a binary search on each side, done only for
#   the elements whose tie reaches past a neighbour.
# * The answer is the smallest ORIGINAL index inside the run.  For levels in
#   non-decreasing order (every uniform setting) that is the run's first
#   position.  Some non-uniform settings are not sorted (with
#   thr_centered=False and 11+ bits the last level below zero overshoots the
#   first ones above it by ~3e-16), so for those the levels are sorted
#   stably and a sparse table answers "smallest original index in a range".
# * NaN x: every distance is NaN and torch.min reports index 0.
# * Levels that are not all finite, or a non-floating dtype, take the
#   reference's own formula in bounded chunks (exact, just slower).

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_CHUNK_ELEMENTS = 1 << 22  # size of a distance block in the chunked fallback


def _distance(levels: torch.Tensor, pos: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """|levels[pos] - v| rounded exactly as the reference rounds it."""
    return (levels.index_select(0, pos) - v).abs_()


def _leftmost(levels, v, m, lo, hi, steps):
    """First position in [lo, hi] whose distance is <= m (distance non-increasing there, d(hi) <= m)."""
    for _ in range(steps):
        if not bool((lo < hi).any()):
            break
        mid = torch.div(lo + hi, 2, rounding_mode="floor")
        ok = _distance(levels, mid, v) <= m
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid + 1)
    return lo


def _rightmost(levels, v, m, lo, hi, steps):
    """Last position in [lo, hi] whose distance is <= m (distance non-decreasing there, d(lo) <= m)."""
    for _ in range(steps):
        if not bool((lo < hi).any()):
            break
        mid = torch.div(lo + hi + 1, 2, rounding_mode="floor")
        ok = _distance(levels, mid, v) <= m
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid - 1)
    return lo


def _range_min(order: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """min(order[a..b]) for each pair (a <= b), via a sparse table of powers of two."""
    tables = [order]
    width = 1
    while 2 * width <= order.numel():
        prev = tables[-1]
        tables.append(torch.minimum(prev[:-width], prev[width:]))
        width *= 2
    offsets = [0]
    for t in tables[:-1]:
        offsets.append(offsets[-1] + t.numel())
    flat = torch.cat(tables)
    offsets = torch.tensor(offsets, dtype=a.dtype, device=a.device)
    length = (b - a + 1).to(torch.float64)
    k = (torch.frexp(length).exponent - 1).to(a.dtype)  # floor(log2(length)), exact
    span = torch.bitwise_left_shift(torch.ones_like(k), k)
    base = offsets.index_select(0, k)
    left = flat.index_select(0, base + a)
    right = flat.index_select(0, base + b - span + 1)
    return torch.minimum(left, right)


def _nearest_index_fast(v: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Index of the nearest level for each element of the 1-D ``v`` (finite levels, same dtype)."""
    L = levels.numel()
    steps = max(L - 1, 1).bit_length()
    if L < 2 or bool((levels[1:] >= levels[:-1]).all()):
        ordered, order = levels, None  # already sorted: position == index
    else:
        ordered, order = torch.sort(levels, stable=True)
        order = order.to(torch.int32)

    p = torch.searchsorted(ordered, v, out_int32=True)  # how many levels lie below v
    has_below = p > 0
    has_above = p < L
    below = (p - 1).clamp_(min=0)
    above = p.clamp_(max=L - 1)
    del p
    d_lo = _distance(ordered, below, v)
    d_hi = _distance(ordered, above, v)
    m = torch.where(has_below & (~has_above | (d_lo <= d_hi)), d_lo, d_hi)
    lo_tie = has_below & (d_lo == m)
    hi_tie = has_above & (d_hi == m)
    del d_lo, d_hi, has_below, has_above
    a = torch.where(lo_tie, below, above)  # first sorted position with distance m
    b = torch.where(hi_tie, above, below)  # last one

    # where the tie run reaches beyond the lower neighbour, walk it to its start
    further = lo_tie & (below > 0)
    further &= _distance(ordered, (below - 1).clamp_(min=0), v) == m
    sel = further.nonzero().squeeze(1)
    del further, lo_tie
    if sel.numel():
        hi = below.index_select(0, sel) - 1
        a[sel] = _leftmost(ordered, v.index_select(0, sel), m.index_select(0, sel),
                           torch.zeros_like(hi), hi, steps)
    del below

    nan = torch.isnan(v)
    if order is None:
        a.masked_fill_(nan, 0)
        return a

    # unsorted levels: the run may also extend past the upper neighbour, and the
    # answer is the smallest original index inside the run
    further = hi_tie & (above < L - 1)
    further &= _distance(ordered, (above + 1).clamp_(max=L - 1), v) == m
    sel = further.nonzero().squeeze(1)
    del further, hi_tie
    if sel.numel():
        lo = above.index_select(0, sel) + 1
        b[sel] = _rightmost(ordered, v.index_select(0, sel), m.index_select(0, sel),
                            lo, torch.full_like(lo, L - 1), steps)
    del above, m
    a.masked_fill_(nan, 0)
    b.masked_fill_(nan, L - 1)
    idx = order.index_select(0, a)
    run = (b > a).nonzero().squeeze(1)
    if run.numel():
        idx[run] = _range_min(order, a.index_select(0, run), b.index_select(0, run))
    return idx


def _nearest_index_chunked(v: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """The reference's formula, a bounded block of rows at a time."""
    step = max(1, _CHUNK_ELEMENTS // max(levels.numel(), 1))
    idx = torch.empty(v.numel(), dtype=torch.int64, device=v.device)
    for start in range(0, v.numel(), step):
        block = v[start:start + step].reshape(-1, 1)
        idx[start:start + step] = torch.min(torch.abs(levels - block), dim=-1)[1]
    return idx


def nearest_level(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Each element of ``x`` snapped to the nearest of ``levels`` (first level wins a tie).

    Bit-for-bit the reference's ``levels[argmin |levels - x|]`` with the
    distances rounded in x's dtype (``levels`` is cast to x's dtype and
    device first), including its tie rule, for every input; memory stays
    proportional to ``x.numel()``.
    """
    levels = levels.to(device=x.device, dtype=x.dtype).reshape(-1).contiguous()
    v = x.reshape(-1).contiguous()  # a copy only for a strided 1-D view
    if x.dtype in _FLOAT_DTYPES and bool(torch.isfinite(levels).all()):
        idx = _nearest_index_fast(v, levels)
    else:
        idx = _nearest_index_chunked(v, levels)
    return levels.index_select(0, idx).reshape(x.shape)


class _NearestLevel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, levels):
        return nearest_level(x, levels)

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
