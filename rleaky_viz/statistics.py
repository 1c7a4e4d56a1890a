"""Spike-train statistics: counts, rates, first spikes and inter-spike intervals.

One implementation, :class:`SpikeStats`, gathers them chunk by chunk of
steps over flat neurons, so a long run never needs its whole recording at
once.  It serves:

* :func:`spike_stats`: per neuron, one sample of a trace (the Neuron
  explorer's and Compare's tables);
* :func:`spike_train_stats` and :func:`rleaky_viz.sweeps.sweep`: per grid
  point, its neurons and samples pooled (:data:`STAT_COLUMNS`), with the
  regime of :func:`rleaky_viz.regimes.classify_regime`.

A spike is any non-zero ``spk`` (graded spikes count once).  For a single
neuron the pooled statistics are that neuron's own.

Pure PyTorch, numpy and pandas: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
import torch

from .regimes import classify_regime

__all__ = ["SpikeStats", "spike_stats", "spike_train_stats", "spike_words", "STAT_COLUMNS", "NEURON_STAT_COLUMNS"]

# One row per neuron (spike_stats):
NEURON_STAT_COLUMNS = (
    "spike_count",      # spikes of the neuron: an integer
    "rate",             # spikes per step
    "first_spike",      # the step of its first spike (NaN: never)
    "isi_mean",         # mean inter-spike interval (steps); NaN with fewer than 2 spikes
    "isi_cv",           # std (ddof=0) / mean of the intervals; NaN with fewer than 3 spikes
)

# One row per grid point (spike_train_stats, sweep); a point's neurons and samples are pooled:
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

# element-steps gathered at once by SpikeStats.of (its temporaries are ~7 int64 per element-step)
_GATHER_ELEMENT_STEPS = 2 ** 18


class SpikeStats:
    """Spike statistics of ``M`` flat neurons, gathered chunk by chunk of steps.

    Call :meth:`update` with each chunk of a recording, in order; then
    :meth:`neurons` (one value per neuron) or :meth:`points` (pooled per
    grid point).
    """

    def __init__(self, M: int):
        self.steps = 0
        self.count = torch.zeros(M, dtype=torch.int64)
        self.first = torch.full((M,), -1, dtype=torch.int64)
        self.last = torch.full((M,), -1, dtype=torch.int64)
        self.isi_n = torch.zeros(M, dtype=torch.int64)
        self.isi_sum = torch.zeros(M, dtype=torch.float64)
        self.isi_sq = torch.zeros(M, dtype=torch.float64)

    @classmethod
    def of(cls, fired: torch.Tensor) -> "SpikeStats":
        """The statistics of a whole recording ``fired``: bool ``(T, M)`` (gathered in chunks)."""
        T, M = fired.shape
        stats = cls(M)
        step = max(1, _GATHER_ELEMENT_STEPS // max(M, 1))
        for t0 in range(0, T, step):
            stats.update(fired[t0:t0 + step])
        return stats

    def update(self, fired: torch.Tensor) -> None:
        """``fired``: bool ``(Tc, M)``, the next ``Tc`` steps (on the CPU)."""
        Tc, t0 = fired.shape[0], self.steps
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
        self.steps += Tc

    def neurons(self) -> dict[str, np.ndarray]:
        """Per neuron, ``(M,)`` each: :data:`NEURON_STAT_COLUMNS` and ``isi_std``."""
        count, first = self.count.numpy(), self.first.numpy()
        n, s, sq = self.isi_n.numpy().astype(np.float64), self.isi_sum.numpy(), self.isi_sq.numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n >= 1, s / np.maximum(n, 1), np.nan)
            var = np.maximum(sq / np.maximum(n, 1) - mean ** 2, 0.0)
            std = np.where(n >= 2, np.sqrt(var), np.nan)
            return {
                "spike_count": count,
                "rate": count / max(self.steps, 1),
                "first_spike": np.where(first >= 0, first, np.nan),
                "isi_mean": mean,
                "isi_std": std,
                "isi_cv": std / mean,
            }

    def points(self, points: int) -> dict[str, np.ndarray]:
        """Per grid point, ``(points,)`` each: :data:`STAT_COLUMNS`, the neurons of a point pooled.

        The flat neurons are grouped point by point (``points`` equal runs).
        """
        per = {k: v.reshape(points, -1) for k, v in self.neurons().items()}
        count = per["spike_count"]
        total = count.sum(1)
        earliest = np.where(np.isnan(per["first_spike"]), np.inf, per["first_spike"]).min(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a row of NaN is NaN: wanted
            data = {
                "spike_count": total.astype(np.int64),
                "rate": total / (max(self.steps, 1) * count.shape[1]),
                "first_spike": np.where(np.isinf(earliest), np.nan, earliest),
                "isi_mean": np.nanmean(per["isi_mean"], axis=1),
                "isi_std": np.nanmean(per["isi_std"], axis=1),
                "isi_cv": np.nanmean(per["isi_cv"], axis=1),
                "active_fraction": (count > 0).mean(1),
            }
        data["regime"] = classify_regime(data["spike_count"], data["rate"], data["isi_cv"],
                                         data["isi_std"])
        return data


def _tensor(x) -> torch.Tensor:
    return x.detach().cpu() if hasattr(x, "detach") else torch.as_tensor(np.asarray(x))


def spike_stats(trace, batch: int = 0) -> pd.DataFrame:
    """Per-neuron spike statistics of one sample, indexed by flat neuron index.

    Columns :data:`NEURON_STAT_COLUMNS`: ``spike_count``; ``rate`` (spikes
    per step); ``first_spike`` (step, NaN if none); ``isi_mean`` (mean
    inter-spike interval in steps, NaN with fewer than 2 spikes); ``isi_cv``
    (standard deviation (ddof=0) / mean of the intervals, NaN with fewer
    than 3 spikes).
    """
    if trace is None:
        raise ValueError("trace must be a simulation Trace, got None")
    spk = getattr(trace, "spk", None)
    if spk is None or not hasattr(spk, "shape") or len(spk.shape) < 3 or spk.shape[0] < 1:
        raise ValueError(f"trace has no recorded 'spk' of shape (T, batch, *neuron_shape) "
                         f"(got {type(trace).__name__})")
    B = spk.shape[1]
    if isinstance(batch, (bool, np.bool_)) or not isinstance(batch, numbers.Integral) or not 0 <= batch < B:
        raise ValueError(f"batch must be an integer from 0 to {B - 1}, got {batch!r}")
    fired = _tensor(spk[:, int(batch)]) != 0
    per = SpikeStats.of(fired.reshape(fired.shape[0], -1)).neurons()
    frame = pd.DataFrame({c: per[c] for c in NEURON_STAT_COLUMNS}, columns=list(NEURON_STAT_COLUMNS))
    frame.index.name = "neuron"
    return frame


def spike_train_stats(spk) -> pd.DataFrame:
    """The statistics (and regime) of recorded spikes, as :func:`~rleaky_viz.sweeps.sweep` computes them per point.

    ``spk``: array or tensor ``(T, points)`` or ``(T, points, neurons...)``;
    non-zero is a spike.  One row per point, columns :data:`STAT_COLUMNS`.
    """
    t = _tensor(spk)
    if t.dim() < 2 or t.shape[0] < 1 or t.shape[1] < 1:
        raise ValueError(f"spk must have shape (T, points, ...) with T, points >= 1, got {tuple(t.shape)}")
    T, P = t.shape[:2]
    data = SpikeStats.of((t != 0).reshape(T, -1)).points(P)
    return pd.DataFrame(data, columns=list(STAT_COLUMNS))


def spike_words(trace) -> str:
    """"N spikes, r spikes per step per neuron" of a whole run (all samples), counting each spike once.

    A spike's value is the graded factor g, so counts come from ``spk != 0``,
    not from the sum of the values.
    """
    fired = (_tensor(trace.spk) != 0)
    return (f"{int(fired.sum())} spikes, {float(fired.double().mean()):.3g} spikes per step "
            "per neuron")
