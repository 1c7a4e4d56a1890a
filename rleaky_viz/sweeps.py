"""Parameter sweeps, regimes, A/B comparison and the mystery-neuron score.

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
:data:`STAT_COLUMNS`); for a single neuron (the usual sweep) they are that
neuron's own statistics, the same as ``figures.spike_stats``.

Pure PyTorch, numpy and pandas: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import itertools
import math
import numbers
import time
import warnings
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from .config import SimConfig
from .core import unroll_chunks
from .core.quant import nearest_level, quant_levels
from .simulate import build_neuron, resolve_device
from .stimulus import make_input

__all__ = ["sweep", "SWEEPABLE", "STAT_COLUMNS", "REGIMES", "REGIME_RULES", "classify_regime",
           "point_config", "value_range", "spike_train_stats", "first_divergence", "van_rossum_similarity",
           "mystery_score", "mystery_challenge", "MYSTERY_BASE", "MAX_GRID_POINTS",
           "MAX_STATE_ELEMENTS", "MAX_INPUT_ELEMENTS", "sweep_elements"]

# Fields a sweep may vary: per-neuron parameters set as per-sample tensors,
# and the two stimulus fields that change the input current of a point.
SWEEPABLE = ("beta", "threshold", "V", "amplitude", "offset", "graded_spikes_factor")
_NEURON_TENSORS = ("beta", "threshold", "V", "graded_spikes_factor")
INPUT_FIELDS = ("amplitude", "offset")

MAX_GRID_POINTS = 64 * 64
# grid points x samples x neurons: the state updated every step (and what
# bounds the memory and time of a sweep).  64 x 64 points of 256 neurons each.
MAX_STATE_ELEMENTS = 2 ** 20
# input currents kept for a sweep of amplitude or offset (one per distinct value): 256 MB
MAX_INPUT_ELEMENTS = 2 ** 26
# element-steps kept at once while gathering statistics (memory of one chunk)
_CHUNK_ELEMENT_STEPS = 2 ** 21
_PROGRESS_AFTER_S = 0.5

# One row per grid point; a point's neurons and samples are pooled:
STAT_COLUMNS = (
    "spike_count",      # all spikes of the point (every neuron, every sample): an integer
    "rate",             # spike_count / (steps x neurons x samples): spikes per step per neuron
    "first_spike",      # the earliest step at which any neuron of the point spikes (NaN: never)
    "isi_mean",         # mean inter-spike interval (steps), averaged over neurons with >= 2 spikes
    "isi_std",          # standard deviation (ddof=0) of the intervals, averaged over neurons with >= 3 spikes
    "isi_cv",           # isi std / isi mean per neuron, averaged over neurons with >= 3 spikes
    "active_fraction",  # share of the point's neurons (and samples) that spiked at all
    "regime",           # classify_regime's label
)

# ----------------------------------------------------------------------------- regimes
REGIMES = ("silent", "sparse", "regular", "irregular", "runaway")
REGULAR_CV = 0.1        # below this CV the intervals are regular
REGULAR_JITTER = 0.5    # ... and so are intervals whose std is at most half a step
RUNAWAY_RATE = 0.9      # spikes per step: firing on (nearly) every step

REGIME_RULES = {
    "silent": "no spike at all",
    "runaway": f"rate ≥ {RUNAWAY_RATE} spikes per step: firing on (nearly) every step",
    "sparse": "spikes, but fewer than 3 per neuron: too few intervals for a CV",
    "regular": (f"ISI CV < {REGULAR_CV}, or ISI std ≤ {REGULAR_JITTER} step (in discrete time a "
                "periodic train whose period is not a whole number of steps alternates between "
                "two neighbouring intervals, a std of at most half a step)"),
    "irregular": "everything else: variable intervals, bursts",
}


def classify_regime(spike_count, rate, isi_cv, isi_std) -> np.ndarray:
    """The regime of each grid point, an array of labels from :data:`REGIMES`.

    The one rule, checked in this order (see :data:`REGIME_RULES`):

    * ``silent``: ``spike_count == 0``;
    * ``runaway``: ``rate >= RUNAWAY_RATE`` (0.9 spikes per step);
    * ``sparse``: ``isi_cv`` is NaN (no neuron has the 3 spikes a CV needs);
    * ``regular``: ``isi_cv < 0.1`` or ``isi_std <= 0.5`` steps;
    * ``irregular``: the rest (high CV: irregular firing or bursts).

    Arguments are scalars or arrays of one length (columns of :func:`sweep`'s
    frame).
    """
    count, rate, cv, std = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (spike_count, rate, isi_cv, isi_std)))
    with np.errstate(invalid="ignore"):
        regular = (cv < REGULAR_CV) | (std <= REGULAR_JITTER)
    conditions = [count == 0, rate >= RUNAWAY_RATE, np.isnan(cv), regular]
    return np.select(conditions, ["silent", "runaway", "sparse", "regular"], "irregular")


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
                cfg.replace(**{name: float(v)})  # SimConfig's bounds, named in its message
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
        out = torch.empty_like(x)
        for row, idx in zip(self.rows, self.members):
            idx = idx.to(x.device)
            out[idx] = nearest_level(x[idx], row)
        return out


class _SpikeStats:
    """Spike statistics gathered chunk by chunk over ``M`` flat neurons."""

    def __init__(self, M: int):
        self.count = torch.zeros(M, dtype=torch.int64)
        self.first = torch.full((M,), -1, dtype=torch.int64)
        self.last = torch.full((M,), -1, dtype=torch.int64)
        self.isi_n = torch.zeros(M, dtype=torch.int64)
        self.isi_sum = torch.zeros(M, dtype=torch.float64)
        self.isi_sq = torch.zeros(M, dtype=torch.float64)

    def update(self, fired: torch.Tensor, t0: int) -> None:
        """``fired``: bool ``(Tc, M)`` for steps ``t0 .. t0 + Tc - 1``."""
        Tc = fired.shape[0]
        t = torch.arange(t0, t0 + Tc, dtype=torch.int64)[:, None]
        marks = torch.where(fired, t, torch.tensor(-1, dtype=torch.int64))
        # the latest spike at or before each step, counting earlier chunks
        upto = torch.maximum(torch.cummax(marks, dim=0).values, self.last[None])
        before = torch.cat([self.last[None], upto[:-1]])  # latest spike strictly before each step
        has_isi = fired & (before >= 0)
        isi = torch.where(has_isi, t - before, torch.zeros((), dtype=torch.int64)).to(torch.float64)
        self.isi_n += has_isi.sum(0)
        self.isi_sum += isi.sum(0)
        self.isi_sq += (isi * isi).sum(0)
        n = fired.sum(0)
        newly = (self.first < 0) & (n > 0)
        self.first = torch.where(newly, fired.to(torch.int8).argmax(0) + t0, self.first)
        self.count += n
        self.last = upto[-1]

    def frame(self, points: int, num_steps: int) -> dict[str, np.ndarray]:
        """Per-point statistics (the neurons of each point pooled as in STAT_COLUMNS)."""
        per = lambda t: t.reshape(points, -1).numpy()  # noqa: E731  (points, neurons x samples)
        count, first = per(self.count), per(self.first)
        n, s, sq = per(self.isi_n).astype(np.float64), per(self.isi_sum), per(self.isi_sq)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a row of NaN is NaN: wanted
            mean = np.where(n >= 1, s / np.maximum(n, 1), np.nan)
            var = np.maximum(sq / np.maximum(n, 1) - mean ** 2, 0.0)
            std = np.where(n >= 2, np.sqrt(var), np.nan)
            earliest = np.where(first >= 0, first, np.inf).min(axis=1)
            total = count.sum(1)
            return {
                "spike_count": total.astype(np.int64),
                "rate": total / (num_steps * count.shape[1]),
                "first_spike": np.where(np.isinf(earliest), np.nan, earliest),
                "isi_mean": np.nanmean(mean, axis=1),
                "isi_std": np.nanmean(std, axis=1),
                "isi_cv": np.nanmean(std / mean, axis=1),
                "active_fraction": (count > 0).mean(1),
            }


def spike_train_stats(spk) -> pd.DataFrame:
    """The statistics (and regime) of recorded spikes, as :func:`sweep` computes them per point.

    ``spk``: array or tensor ``(T, points)`` or ``(T, points, neurons...)``;
    non-zero is a spike.  One row per point, columns :data:`STAT_COLUMNS`.
    """
    t = torch.as_tensor(np.asarray(spk.detach().cpu() if hasattr(spk, "detach") else spk))
    if t.dim() < 2 or t.shape[0] < 1 or t.shape[1] < 1:
        raise ValueError(f"spk must have shape (T, points, ...) with T, points >= 1, got {tuple(t.shape)}")
    T, P = t.shape[:2]
    stats = _SpikeStats(t[0].numel())
    stats.update((t != 0).reshape(T, -1), 0)
    data = stats.frame(P, T)
    data["regime"] = classify_regime(data["spike_count"], data["rate"], data["isi_cv"], data["isi_std"])
    return pd.DataFrame(data, columns=list(STAT_COLUMNS))


def _point_values(grid: dict[str, list[float]]) -> tuple[list[tuple], list[str]]:
    names = list(grid)
    return list(itertools.product(*(grid[n] for n in names))), names


def _inputs(cfg: SimConfig, points, names, upload) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The distinct input currents, ``(T, K, batch, *shape)``, and each point's index into K.

    Only amplitude and offset change a point's input; each distinct pair is
    made by ``make_input`` itself (so a point's input is bit for bit the one
    ``simulate`` would use), and points share the random draws (same seed).
    With neither swept, K = 1 and the index is None (broadcast).
    """
    swept = [n for n in names if n in INPUT_FIELDS]
    if not swept:
        return make_input(cfg, upload)[:, None], None
    keys = [tuple(p[names.index(n)] for n in swept) for p in points]
    distinct = list(dict.fromkeys(keys))
    where = {k: i for i, k in enumerate(distinct)}
    currents = torch.stack([make_input(cfg.replace(**dict(zip(swept, k))), upload)
                            for k in distinct], dim=1)
    return currents, torch.tensor([where[k] for k in keys])


def _per_sample(values: Sequence[float], batch: int, ndim: int, device) -> torch.Tensor:
    """One value per grid point -> shape (points x batch, 1, ...): the batch dims lead."""
    t = torch.tensor(values, dtype=torch.float32, device=device).repeat_interleave(batch)
    return t.reshape(-1, *([1] * ndim))


def sweep(cfg: SimConfig, grid: Mapping[str, Sequence[float]],
          progress: Optional[Callable[[float, str], None]] = None, *,
          upload: Optional[np.ndarray] = None,
          state_dict: Optional[Mapping[str, torch.Tensor]] = None) -> pd.DataFrame:
    """Simulate every point of ``grid`` at once; one row of statistics per point.

    ``grid`` maps one or two fields of :data:`SWEEPABLE` to lists of values,
    e.g. ``{"beta": [0.8, 0.9], "amplitude": [0.1, 0.2, 0.3]}``; every other
    field comes from ``cfg``.  Rows follow ``itertools.product`` of the
    lists (the first field varies slowest).  Columns: one per swept field,
    then :data:`STAT_COLUMNS`.  Point ``g`` gives exactly the spikes that
    ``simulate(point_config(cfg, row_g))`` gives.

    Notes:

    * ``V`` acts only with ``recurrence="one_to_one"`` (as in ``simulate``:
      the other recurrences have no V), so sweeping it elsewhere changes nothing.
    * ``cfg.batch_size`` samples run for every point (they differ only where
      the stimulus is random per sample); a point's statistics pool them.
    * ``progress(fraction, message)`` is called after each chunk of steps
      once the run has taken more than half a second, and with 1.0 at the end.
    * ``frame.attrs`` holds ``config`` (the base config as a dict), ``grid``
      and ``seconds`` (wall time of the run).

    Raises ``ValueError`` naming the field for a bad grid.
    """
    grid = _check_grid(cfg, grid)
    started = time.perf_counter()
    points, names = _point_values(grid)
    G, B, shape = len(points), cfg.batch_size, cfg.neuron_shape
    E, T = G * B, cfg.num_steps
    device, _ = resolve_device(cfg.device)

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

    currents, index = _inputs(cfg, points, names, upload)  # (T, K, B, *shape)
    M = E * cfg.neuron_count
    chunk = max(1, min(T, _CHUNK_ELEMENT_STEPS // M, math.ceil(T / 20)))
    stats = _SpikeStats(M)

    def blocks():
        # each grid point's input, made one chunk at a time (the whole grid's
        # input would not fit in memory for the largest sweeps)
        for t0 in range(0, T, chunk):
            block = currents[t0:t0 + chunk]
            x = block.expand(block.shape[0], G, *block.shape[2:]) if index is None else block[:, index]
            yield x.reshape(x.shape[0], E, *shape).to(device)

    reported = False
    with torch.no_grad():
        t0 = 0
        for out in unroll_chunks(neuron, blocks()):
            steps = out.spk.shape[0]
            stats.update((out.spk != 0).reshape(steps, M).cpu(), t0)
            t0 += steps
            done = t0
            if progress is not None and (reported or time.perf_counter() - started > _PROGRESS_AFTER_S):
                reported = True
                progress(done / T, f"step {done:,} of {T:,} ({G:,} grid points)")
    if reported:
        progress(1.0, f"done: {G:,} grid points x {T:,} steps")

    data = {n: np.asarray(column[n], dtype=np.float64) for n in names}
    data.update(stats.frame(G, T))
    data["regime"] = classify_regime(data["spike_count"], data["rate"], data["isi_cv"], data["isi_std"])
    frame = pd.DataFrame(data, columns=[*names, *STAT_COLUMNS])
    frame.attrs.update(config=cfg.to_dict(), grid=grid, seconds=time.perf_counter() - started)
    return frame


# ----------------------------------------------------------------------------- A/B comparison
def first_divergence(spk_a, spk_b) -> Optional[int]:
    """The first step at which two spike recordings ``(T, ...)`` differ anywhere; None: never.

    Spikes are compared as fired / not fired (graded spike sizes ignored);
    recordings of different lengths are compared over the common steps.
    """
    a = np.asarray(spk_a.detach().cpu() if hasattr(spk_a, "detach") else spk_a) != 0
    b = np.asarray(spk_b.detach().cpu() if hasattr(spk_b, "detach") else spk_b) != 0
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"spike recordings must have the same shape per step, got "
                         f"{a.shape[1:]} and {b.shape[1:]}")
    T = min(a.shape[0], b.shape[0])
    differs = (a[:T] != b[:T]).reshape(T, -1).any(axis=1)
    return int(np.argmax(differs)) if differs.any() else None


# ----------------------------------------------------------------------------- mystery neuron
def van_rossum_similarity(spk_a, spk_b, tau: float = 5.0) -> float:
    """How alike two spike trains ``(T,)`` are, from 0 (no overlap) to 1 (identical).

    Each train is filtered with a causal exponential kernel ``exp(-k/tau)``
    (van Rossum, 2001); the similarity is ``2<fa, fb> / (|fa|² + |fb|²)``,
    that is ``1 - D² / (|fa|² + |fb|²)`` with ``D`` the van Rossum distance.
    Two empty trains are identical (1.0); one empty train against any spikes gives 0.
    """
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    a = (np.asarray(spk_a, dtype=np.float64).reshape(-1) != 0).astype(np.float64)
    b = (np.asarray(spk_b, dtype=np.float64).reshape(-1) != 0).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"spike trains must have the same length, got {a.size} and {b.size}")
    kernel = np.exp(-np.arange(min(a.size, int(10 * tau) + 1)) / tau)
    fa, fb = np.convolve(a, kernel)[:a.size], np.convolve(b, kernel)[:b.size]
    norm = fa @ fa + fb @ fb
    return 1.0 if norm == 0 else float(2 * (fa @ fb) / norm)


def mystery_score(target_spk, target_mem, guess_spk, guess_mem, tau: float = 3.0) -> dict:
    """Score of a guessed neuron against the target, 0 to 100 (100: the same trace).

    ``score = 100 · spike similarity · membrane similarity`` (a product, so
    both must be good: a random guess scores about 30-40, one slider step
    off about 60-80):

    * spike similarity: :func:`van_rossum_similarity` of the spike trains;
    * membrane similarity: ``max(0, 1 - RMSE / range)``, the root-mean-square
      difference of the membranes relative to the target membrane's range
      (max - min; 1 if the target is flat).

    Returns ``score``, ``spike_similarity``, ``membrane_rmse`` and
    ``membrane_similarity``.
    """
    tm = np.asarray(target_mem, dtype=np.float64).reshape(-1)
    gm = np.asarray(guess_mem, dtype=np.float64).reshape(-1)
    if tm.shape != gm.shape:
        raise ValueError(f"membranes must have the same length, got {tm.size} and {gm.size}")
    spike = van_rossum_similarity(target_spk, guess_spk, tau)
    rmse = float(np.sqrt(np.mean((tm - gm) ** 2)))
    span = float(np.ptp(tm)) or 1.0
    membrane = max(0.0, 1.0 - rmse / span)
    return {"score": 100.0 * spike * membrane, "spike_similarity": spike,
            "membrane_rmse": rmse, "membrane_similarity": membrane}


# The fixed stimulus of every challenge: a slow sine above zero, so the target
# shows subthreshold integration, regular firing and pauses within one trace.
MYSTERY_BASE = SimConfig(recurrence="one_to_one", stimulus="sine", amplitude=0.3, offset=0.35,
                         period=80, num_steps=240)
MYSTERY_RANGES = {"beta": (0.6, 0.97, 0.01), "threshold": (0.5, 1.5, 0.05), "V": (-0.6, 0.6, 0.05)}


def mystery_challenge(seed: int) -> SimConfig:
    """The hidden neuron of challenge ``seed``: :data:`MYSTERY_BASE` with drawn β, θ and V.

    Values are drawn from :data:`MYSTERY_RANGES` on their slider steps, and
    redrawn (deterministically) until the target fires between 3 spikes and
    half the steps, so that every challenge can be read from its trace.
    """
    from .simulate import simulate  # the target is one plain run

    rng = np.random.default_rng(int(seed))
    for _ in range(100):
        values = {}
        for name, (lo, hi, step) in MYSTERY_RANGES.items():
            k = int(rng.integers(0, round((hi - lo) / step) + 1))
            values[name] = round(lo + k * step, 2)
        cfg = MYSTERY_BASE.replace(**values)
        count = int((simulate(cfg).spk != 0).sum())
        if 3 <= count <= cfg.num_steps // 2:
            return cfg
    return MYSTERY_BASE.replace(beta=0.9, threshold=1.0, V=0.2)
