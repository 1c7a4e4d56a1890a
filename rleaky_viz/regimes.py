"""Firing regimes: the one rule that names a spike train silent, sparse, regular, irregular or runaway.

The rule reads the statistics of :mod:`rleaky_viz.statistics` (spike count,
rate, ISI CV and std); the Sweeps page lists :data:`REGIME_RULES` in words
and its regime map colours :data:`REGIMES`.

Pure numpy: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import numpy as np

__all__ = ["REGIMES", "REGIME_RULES", "classify_regime", "REGULAR_CV", "REGULAR_JITTER",
           "RUNAWAY_RATE"]

REGIMES = ("silent", "sparse", "regular", "irregular", "runaway")
REGULAR_CV = 0.1        # below this CV the intervals are regular
REGULAR_JITTER = 0.5    # ... and so are intervals whose std is at most half a step
RUNAWAY_RATE = 0.9      # spikes per step: firing on (nearly) every step

REGIME_RULES = {
    "silent": "no spike at all",
    "runaway": f"rate ≥ {RUNAWAY_RATE} spikes per step: firing on (nearly) every step",
    "sparse": "spikes, but no neuron has the 3 spikes an ISI CV needs",
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

    Arguments are scalars or arrays of one length (columns of
    :func:`rleaky_viz.sweeps.sweep`'s frame).
    """
    count, rate, cv, std = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (spike_count, rate, isi_cv, isi_std)))
    with np.errstate(invalid="ignore"):
        regular = (cv < REGULAR_CV) | (std <= REGULAR_JITTER)
    conditions = [count == 0, rate >= RUNAWAY_RATE, np.isnan(cv), regular]
    return np.select(conditions, ["silent", "runaway", "sparse", "regular"], "irregular")
