"""Parameter sweeps: one batched run for a whole grid of parameter values.

``sweep(cfg, grid)`` runs every point of a grid of parameter values as ONE
batched simulation: grid point ``g`` is batch element ``g`` (times
``cfg.batch_size`` samples), with its own β, θ, V, graded-spike factor and
input current, and every point shares the recurrent weights that
``build_neuron(cfg)`` draws from ``cfg.seed`` and the random part of the
stimulus (same seed).  The time loop is ``core.unroll_chunks``: ``unroll`` in chunks of
steps with the spike and membrane state carried from chunk to chunk, so a
long sweep can report progress and its spike statistics are gathered chunk
by chunk instead of keeping every step of every point.

Statistics of a grid point pool its neurons and samples (see
:data:`rleaky_viz.statistics.STAT_COLUMNS`); for a single neuron (the usual
sweep) they are that neuron's own statistics, the same as
``statistics.spike_stats``; the regime is ``regimes.classify_regime``'s.

Pure PyTorch, numpy and pandas: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import functools
import itertools
import math
import numbers
import time
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from .budget import (SWEEP_CHUNK_ELEMENT_STEPS, SWEEP_FAST_CHUNK_ELEMENT_STEPS,
                     SWEEP_MAX_INPUT_ELEMENTS)
from .config import SWEEPABLE, SimConfig, check_value, control
from .core import unroll_chunks
from .core.quant import nearest_level, quant_levels
from .simulate import build_neuron, resolve_device
from .statistics import STAT_COLUMNS, SpikeStats
from .stimulus import make_input, make_inputs

__all__ = ["sweep", "point_rollout", "SWEEPABLE", "point_config", "value_range", "MAX_GRID_POINTS",
           "MAX_STATE_ELEMENTS", "MAX_INPUT_ELEMENTS", "sweep_elements"]

# The fields a sweep may vary are the schema's SWEEPABLE: those of the stimulus
# change the input current of a point, the neuron's are set as per-sample tensors.
INPUT_FIELDS = tuple(n for n in SWEEPABLE if control(n).group == "Stimulus")
_NEURON_TENSORS = tuple(n for n in SWEEPABLE if n not in INPUT_FIELDS)

MAX_GRID_POINTS = 64 * 64
# grid points x samples x neurons: the state updated every step (and what
# bounds the memory and time of a sweep).  64 x 64 points of 256 neurons each.
MAX_STATE_ELEMENTS = 2 ** 20
# input currents kept for a sweep of amplitude or offset (one per distinct value): 256 MB;
# element-steps kept at once while gathering statistics (memory of one chunk), and in each
# chunk after the first of a run that it shows to be fast (the budget's own limits)
MAX_INPUT_ELEMENTS = SWEEP_MAX_INPUT_ELEMENTS
_CHUNK_ELEMENT_STEPS = SWEEP_CHUNK_ELEMENT_STEPS
_FAST_CHUNK_ELEMENT_STEPS = SWEEP_FAST_CHUNK_ELEMENT_STEPS
_PROGRESS_AFTER_S = 0.5
# state elements x levels below which the per-sample quantiser takes every distance at once
_DIRECT_LEVEL_ELEMENTS = 2 ** 18  # temporaries of ~1 MB a step (within the sweep budget)


# ----------------------------------------------------------------------------- grid checks
def value_range(lo: float, hi: float, n: int) -> list[float]:
    """``n`` evenly spaced values from ``lo`` to ``hi``, rounded to 6 significant digits.

    Rounding keeps links short (``beta=0.3``, not ``0.30000000000000004``);
    duplicates that rounding would create are dropped.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    values = np.linspace(float(lo), float(hi), n) if n > 1 else np.array([float(lo)])
    return list(dict.fromkeys(float(f"{v:.6g}") for v in values))


def _check_grid(cfg: SimConfig, grid) -> dict[str, list[float]]:
    if not isinstance(cfg, SimConfig):
        raise TypeError(f"cfg must be a SimConfig, got {type(cfg).__name__}")
    if not isinstance(grid, Mapping) or not 1 <= len(grid) <= 2:
        raise ValueError("grid must map one or two of "
                         f"{', '.join(SWEEPABLE)} to lists of values, got {grid!r}")
    checked = {}
    for name, values in grid.items():
        if name not in SWEEPABLE:
            raise ValueError(f"grid: {name!r} cannot be swept; choose from {', '.join(SWEEPABLE)}")
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise ValueError(f"grid: {name} must be a list of numbers, got {values!r}")
        values = list(values)
        if not values:
            raise ValueError(f"grid: {name} has no values")
        out = []
        for v in values:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise ValueError(f"grid: {name} values must be numbers, got {v!r}")
            try:
                check_value(name, float(v))  # SimConfig's bounds, named in its message
            except ValueError as e:
                raise ValueError(f"grid: {e}") from None
            out.append(float(v))
        if len(set(out)) != len(out):
            raise ValueError(f"grid: {name} has repeated values")
        checked[name] = out
    points = math.prod(len(v) for v in checked.values())
    if points > MAX_GRID_POINTS:
        raise ValueError(f"grid has {points} points; at most {MAX_GRID_POINTS} (64 x 64) are allowed")
    elements = points * cfg.batch_size * cfg.neuron_count
    if elements > MAX_STATE_ELEMENTS:
        raise ValueError(f"grid points x batch_size x neurons = {elements:,}; at most "
                         f"{MAX_STATE_ELEMENTS:,} are allowed: use fewer points or neurons")
    currents = math.prod(len(v) for k, v in checked.items() if k in INPUT_FIELDS)
    if currents > 1 and currents * cfg.num_steps * cfg.batch_size * cfg.neuron_count > MAX_INPUT_ELEMENTS:
        raise ValueError(f"grid: the {currents} different input currents (amplitude, offset) of "
                         f"{cfg.num_steps} steps x {cfg.batch_size * cfg.neuron_count} neurons would "
                         "need over 256 MB: sweep the input with fewer values, steps or neurons")
    return checked


def sweep_elements(cfg: SimConfig, grid: Mapping) -> int:
    """Neuron-steps a sweep computes (points x samples x neurons x steps): a cost estimate."""
    points = math.prod(len(v) for v in grid.values())
    return points * cfg.batch_size * cfg.neuron_count * cfg.num_steps


def point_config(cfg: SimConfig, point: Mapping) -> SimConfig:
    """The config of one grid point: ``cfg`` with the swept fields set from ``point``.

    ``point`` is a row of :func:`sweep`'s frame (or any mapping); its keys
    that are not sweepable fields (the statistics) are ignored.
    """
    return cfg.replace(**{k: float(point[k]) for k in SWEEPABLE if k in point})


# ----------------------------------------------------------------------------- the batched run
class _PerSampleQuantizer:
    """State quantisation with each sample's own threshold (levels of shape (E, L)).

    The core's quantiser snaps to the levels of one threshold; a sweep over θ
    needs each batch element to snap to its own.  Same levels
    (``quant_levels``) and the same rule (``quant.nearest_level``: first level
    wins a tie), applied once per distinct row of levels, so memory stays
    proportional to the state (no (elements, levels) temporary).
    """

    def __init__(self, levels: torch.Tensor):
        self.levels = levels  # (E, L)
        self.rows, self.group = torch.unique(levels, dim=0, return_inverse=True)
        self.members = [torch.nonzero(self.group == g).reshape(-1) for g in range(len(self.rows))]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.rows) == 1:
            return nearest_level(x, self.rows[0])
        E, L = self.levels.shape
        if x.shape[0] == E and x.numel() * L <= _DIRECT_LEVEL_ELEMENTS:
            # small enough to hold every distance at once: levels[argmin |levels - x|] itself
            # (distances in x's dtype; argmin keeps the first of equal minima, as the reference)
            levels = self.levels.to(device=x.device, dtype=x.dtype)
            levels = levels.reshape(E, *([1] * (x.dim() - 1)), L).expand(*x.shape, L)
            idx = (levels - x.unsqueeze(-1)).abs().argmin(dim=-1, keepdim=True)
            return levels.gather(-1, idx).squeeze(-1)
        out = torch.empty_like(x)
        for row, idx in zip(self.rows, self.members):
            idx = idx.to(x.device)
            out[idx] = nearest_level(x[idx], row)
        return out


def _point_values(grid: dict[str, list[float]]) -> tuple[list[tuple], list[str]]:
    names = list(grid)
    return list(itertools.product(*(grid[n] for n in names))), names


def _inputs(cfg: SimConfig, points, names, upload) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The distinct input currents, ``(T, K, batch, *shape)``, and each point's index into K.

    Only amplitude and offset change a point's input; the distinct pairs are
    made in one pass by ``make_inputs``, each bit for bit the input
    ``simulate`` would make for it, with the same random draws (same seed).
    With neither swept, K = 1 and the index is None (broadcast).
    """
    swept = [n for n in names if n in INPUT_FIELDS]
    if not swept:
        return make_input(cfg, upload)[:, None], None
    keys = [tuple(p[names.index(n)] for n in swept) for p in points]
    distinct = list(dict.fromkeys(keys))
    where = {k: i for i, k in enumerate(distinct)}
    # each value checked alone (no rule across fields involves them), not a whole config
    column = {n: [_checked(n, k[j]) for k in distinct] for j, n in enumerate(swept)}
    currents = make_inputs(cfg, upload, **column)
    return currents, torch.tensor([where[k] for k in keys])


def _per_sample(values: Sequence[float], batch: int, ndim: int, device) -> torch.Tensor:
    """One value per grid point -> shape (points x batch, 1, ...): the batch dims lead."""
    t = torch.tensor(values, dtype=torch.float32, device=device).repeat_interleave(batch)
    return t.reshape(-1, *([1] * ndim))


def _batched(cfg: SimConfig, points: Sequence[tuple], names: Sequence[str], upload, state_dict,
             device, samples: Optional[Sequence[int]] = None):
    """The neuron and inputs of one batched run: point ``g`` is batch elements ``g*B .. g*B+B-1``.

    Returns ``(neuron, currents, index)`` as :func:`_inputs` makes them
    (``currents`` of shape ``(T, K, B, *shape)``).  ``samples``: run only
    these samples of each point (B = len(samples)), e.g. the one a chart shows.
    """
    B, shape = (cfg.batch_size if samples is None else len(samples)), cfg.neuron_shape
    neuron = build_neuron(cfg, state_dict).to(device)
    column = {n: [p[i] for p in points] for i, n in enumerate(names)}
    for name in _NEURON_TENSORS:
        if name not in column or (name == "V" and cfg.recurrence != "one_to_one"):
            continue
        setattr(neuron, name, _per_sample(column[name], B, len(shape), device))
    if "threshold" in column and cfg.state_quant_bits:
        levels = torch.stack([quant_levels(num_bits=cfg.state_quant_bits, threshold=th)
                              for th in column["threshold"]]).repeat_interleave(B, dim=0)
        neuron.state_quant = _PerSampleQuantizer(levels.to(device))
    currents, index = _inputs(cfg, points, names, upload)
    if samples is not None:
        currents = currents[:, :, list(samples)]
    return neuron, currents, index


@functools.lru_cache(maxsize=4096)
def _checked_cached(name: str, value: float):
    return check_value(name, value)


def _checked(name: str, value):
    """``check_value``, remembered for plain floats (a live chart's points repeat each value)."""
    if type(value) is float:
        return _checked_cached(name, value)
    return check_value(name, value)


def point_rollout(cfg: SimConfig, names: Sequence[str], points: Sequence[Sequence[float]], *,
                  upload: Optional[np.ndarray] = None,
                  state_dict: Optional[Mapping[str, torch.Tensor]] = None,
                  sample: int = 0):
    """Run each of ``points`` (values of the fields ``names``) as one batch element, recorded.

    Unlike :func:`sweep`, the points are listed (not a grid) and every step
    of every point is kept: ``(x, rollout)`` with ``x`` of shape
    ``(T, len(points), *shape)`` and the rollout's tensors likewise (only
    sample ``sample`` of ``cfg``'s batch runs).  Point ``g`` gives exactly
    the spikes of ``simulate(cfg.replace(**dict(zip(names, points[g]))))``,
    sample ``sample``.  The caller bounds the size (this records everything).
    """
    from .core import unroll

    names = list(names)
    for name in names:
        if name not in SWEEPABLE:
            raise ValueError(f"{name} cannot vary per batch element; the fields that can are "
                             f"{', '.join(SWEEPABLE)}")
    points = [tuple(_checked(n, v) for n, v in zip(names, p)) for p in points]
    if not points:
        raise ValueError("point_rollout needs at least one point")
    if not 0 <= int(sample) < cfg.batch_size:
        raise ValueError(f"sample must be in 0..{cfg.batch_size - 1}, got {sample!r}")
    device, _ = resolve_device(cfg.device)
    neuron, currents, index = _batched(cfg, points, names, upload, state_dict, device,
                                       samples=[int(sample)])
    G, shape = len(points), cfg.neuron_shape
    x = currents.expand(currents.shape[0], G, *currents.shape[2:]) if index is None else currents[:, index]
    x = x.reshape(x.shape[0], G, *shape).to(device)
    with torch.no_grad():
        out = unroll(neuron, x, record=True)
    return x, out, neuron


class _Fixed(dict):
    """A read-only dict that is its own deep copy.

    pandas deep-copies a frame's ``attrs`` into every column, row and view it
    hands out; a sweep's config and grid (some 130 values) made each of those
    cost more than the operation itself.  Read-only, they can be shared.
    """

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return _Fixed, (dict(self),)

    def _read_only(self, *args, **kwargs):
        raise TypeError("a sweep's attrs are read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only


def sweep(cfg: SimConfig, grid: Mapping[str, Sequence[float]],
          progress: Optional[Callable[[float, str], None]] = None, *,
          upload: Optional[np.ndarray] = None,
          state_dict: Optional[Mapping[str, torch.Tensor]] = None) -> pd.DataFrame:
    """Simulate every point of ``grid`` at once; one row of statistics per point.

    ``grid`` maps one or two fields of :data:`SWEEPABLE` to lists of values,
    e.g. ``{"beta": [0.8, 0.9], "amplitude": [0.1, 0.2, 0.3]}``; every other
    field comes from ``cfg``.  Rows follow ``itertools.product`` of the
    lists (the first field varies slowest).  Columns: one per swept field,
    then :data:`~rleaky_viz.statistics.STAT_COLUMNS`.  Point ``g`` gives exactly the spikes that
    ``simulate(point_config(cfg, row_g))`` gives.

    Notes:

    * ``V`` acts only with ``recurrence="one_to_one"`` (as in ``simulate``:
      the other recurrences have no V), so sweeping it elsewhere changes nothing.
    * ``cfg.batch_size`` samples run for every point (they differ only where
      the stimulus is random per sample); a point's statistics pool them.
    * ``progress(fraction, message)`` is called after each chunk of steps
      once the run has taken more than half a second, and with 1.0 at the end.
    * ``frame.attrs`` holds ``config`` (the base config as a dict), ``grid``
      (each field's values as a tuple), both read-only, and ``seconds`` (wall
      time of the run).

    Raises ``ValueError`` naming the field for a bad grid.
    """
    grid = _check_grid(cfg, grid)
    started = time.perf_counter()
    points, names = _point_values(grid)
    G, B, shape = len(points), cfg.batch_size, cfg.neuron_shape
    E, T = G * B, cfg.num_steps
    device, _ = resolve_device(cfg.device)
    neuron, currents, index = _batched(cfg, points, names, upload, state_dict, device)
    column = {n: [p[i] for p in points] for i, n in enumerate(names)}
    M = E * cfg.neuron_count
    chunk = max(1, min(T, _CHUNK_ELEMENT_STEPS // M, math.ceil(T / 20)))
    stats = SpikeStats(M)

    def blocks():
        # each grid point's input, made one chunk at a time (the whole grid's
        # input would not fit in memory for the largest sweeps); chunks of T/20
        # steps let progress be reported, so once the first shows that the whole
        # run ends well before progress would be (most runs), the rest goes in a
        # few larger chunks
        t0 = 0
        while t0 < T:
            size = chunk
            if t0 and (time.perf_counter() - started) * T / t0 < _PROGRESS_AFTER_S / 2:
                size = max(chunk, min(T - t0, _FAST_CHUNK_ELEMENT_STEPS // M))
            block = currents[t0:t0 + size]
            x = block.expand(block.shape[0], G, *block.shape[2:]) if index is None else block[:, index]
            yield x.reshape(x.shape[0], E, *shape).to(device)
            t0 += size

    reported = False
    with torch.no_grad():
        for out in unroll_chunks(neuron, blocks()):
            stats.update((out.spk != 0).reshape(out.spk.shape[0], M).cpu())
            done = stats.steps
            if progress is not None and (reported or time.perf_counter() - started > _PROGRESS_AFTER_S):
                reported = True
                progress(done / T, f"step {done:,} of {T:,} ({G:,} grid points)")
    if reported:
        progress(1.0, f"done: {G:,} grid points x {T:,} steps")

    data = {n: np.asarray(column[n], dtype=np.float64) for n in names}
    data.update(stats.points(G))
    frame = pd.DataFrame(data, columns=[*names, *STAT_COLUMNS])
    frame.attrs.update(config=_Fixed(cfg.to_dict()),
                       grid=_Fixed({n: tuple(v) for n, v in grid.items()}),
                       seconds=time.perf_counter() - started)
    return frame
