"""Numbers beside the figures: per-neuron spike statistics and the constant-input theory.

For a lone neuron (no recurrent input yet) driven by a constant current
``I`` from ``U[0] = 0``, with ``β`` clamped to [0, 1] as in the update::

    U[t] = β·U[t-1] + I   =>   U[t] = I·(1 - β^t)/(1 - β)  ->  I/(1 - β)

``U`` approaches the steady state from below without reaching it, and the
spike test is strict (``U > θ``), so the neuron fires exactly when
``I/(1 - β) > θ``, that is ``I > θ·(1 - β)``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import _data as d

__all__ = ["spike_stats", "analytic_overlay"]

_STATS_COLUMNS = ["spike_count", "rate", "first_spike", "isi_mean", "isi_cv"]


def spike_stats(trace, batch: int = 0) -> pd.DataFrame:
    """Per-neuron spike statistics of one sample, indexed by flat neuron index.

    Columns: ``spike_count``; ``rate`` (spikes per step); ``first_spike``
    (step, NaN if none); ``isi_mean`` (mean inter-spike interval in steps,
    NaN with fewer than 2 spikes); ``isi_cv`` (standard deviation (ddof=0) /
    mean of the intervals, NaN with fewer than 3 spikes).  A spike is any
    non-zero ``spk`` (graded spikes count once).
    """
    T, B, _ = d.check_trace(trace, "spk")
    batch = d.check_batch(batch, B)
    fired = d.series(trace, "spk", batch) != 0  # (T, N)
    n = fired.shape[1]
    count = fired.sum(axis=0)
    first = np.where(count > 0, fired.argmax(axis=0), np.nan).astype(np.float64)

    # all spikes, ordered by neuron then time; intervals only within a neuron
    who, when = np.nonzero(fired.T)
    same = who[1:] == who[:-1]
    isi = np.diff(when)[same].astype(np.float64)
    owner = who[1:][same]
    isi_n = np.bincount(owner, minlength=n)
    isi_sum = np.bincount(owner, weights=isi, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        isi_mean = np.where(isi_n >= 1, isi_sum / np.maximum(isi_n, 1), np.nan)
        dev2 = (isi - isi_mean[owner]) ** 2 if isi.size else isi
        var = np.bincount(owner, weights=dev2, minlength=n) / np.maximum(isi_n, 1)
        cv = np.where(isi_n >= 2, np.sqrt(var) / isi_mean, np.nan)
    frame = pd.DataFrame({
        "spike_count": count.astype(np.int64),
        "rate": count / T,
        "first_spike": first,
        "isi_mean": isi_mean,
        "isi_cv": cv,
    }, columns=_STATS_COLUMNS)
    frame.index.name = "neuron"
    return frame


def analytic_overlay(cfg) -> dict:
    """Constant-input theory for ``cfg`` (a ``SimConfig``): what a lone neuron should do.

    Returns a dict of floats and one bool:

    * ``input_current``: ``I = amplitude + offset``;
    * ``beta``: ``β`` clamped to [0, 1], as the update uses it;
    * ``steady_state``: ``I/(1 - β)``, where ``U`` settles without spiking
      (±inf for ``β = 1`` and ``I ≠ 0``, 0 for ``I = 0``);
    * ``rheobase``: ``θ·(1 - β)``; the neuron fires iff ``I`` is strictly greater;
    * ``fires``: ``I > rheobase``;
    * ``tau``: membrane time constant ``-1/ln β`` in steps (inf for ``β >= 1``,
      0 for ``β <= 0``);
    * ``exact``: whether the formulas describe this config's input exactly
      (a constant stimulus with no noise and no spread across neurons).

    The recurrence is ignored (it is silent before the first spike, except
    for the bias of a linear layer).
    """
    for name in ("amplitude", "offset", "beta", "threshold"):
        value = getattr(cfg, name, None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"cfg.{name} must be a finite number, got {value!r}")
    current = float(cfg.amplitude) + float(cfg.offset)
    beta = min(1.0, max(0.0, float(cfg.beta)))
    theta = float(cfg.threshold)
    if beta < 1.0:
        steady = current / (1.0 - beta)
    else:
        steady = math.copysign(math.inf, current) if current != 0 else 0.0
    if beta >= 1.0:
        tau = math.inf
    elif beta <= 0.0:
        tau = 0.0
    else:
        tau = -1.0 / math.log(beta)
    rheobase = theta * (1.0 - beta)
    exact = (getattr(cfg, "stimulus", "constant") == "constant"
             and getattr(cfg, "noise_std", 0.0) == 0.0
             and (getattr(cfg, "input_spread", 0.0) == 0.0 or getattr(cfg, "neuron_count", 1) == 1))
    return {
        "input_current": current,
        "beta": beta,
        "steady_state": steady,
        "rheobase": rheobase,
        "fires": current > rheobase,
        "tau": tau,
        "exact": bool(exact),
    }
