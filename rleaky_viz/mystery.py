"""The mystery neuron: a hidden β, θ and V to find from the trace; the challenge and its score.

Pure numpy: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import math

import numpy as np

from .compare import van_rossum_similarity
from .config import MYSTERY_FIELDS, SimConfig, control

__all__ = ["mystery_score", "mystery_challenge", "MYSTERY_BASE", "MYSTERY_RANGES", "guess_slider",
           "PERFECT_SCORE", "perfect_fit"]

# The fixed stimulus of every challenge: a slow sine above zero, so the target
# shows subthreshold integration, regular firing and pauses within one trace.
MYSTERY_BASE = SimConfig(recurrence="one_to_one", stimulus="sine", amplitude=0.3, offset=0.35,
                         period=80, num_steps=240)
# Where the hidden values lie (the schema's MYSTERY_FIELDS), on their controls' steps.
MYSTERY_RANGES = {name: (lo, hi, control(name).step) for name, (lo, hi, _) in MYSTERY_FIELDS.items()}


def guess_slider(name: str) -> tuple[float, float, float, float]:
    """``(low, high, step, start)`` of the slider for guessing ``name``.

    The hidden range widened by a quarter of its span on each side (so the
    answer is not given away by the slider's ends), on the control's step
    grid (so a perfect fit is reachable) and inside the control's range.
    """
    lo, hi, start = MYSTERY_FIELDS[name]
    c = control(name)
    margin = (hi - lo) / 4
    low = c.lo + math.floor((lo - margin - c.lo) / c.step + 1e-9) * c.step
    high = c.lo + math.ceil((hi + margin - c.lo) / c.step - 1e-9) * c.step
    return round(max(c.lo, low), 6), round(min(c.hi, high), 6), c.step, start


def mystery_score(target_spk, target_mem, guess_spk, guess_mem, tau: float = 3.0) -> dict:
    """Score of a guessed neuron against the target, 0 to 100 (100: the same trace).

    ``score = 100 · spike similarity · membrane similarity`` (a product, so
    both must be good: a random guess scores about 30-40, one slider step
    off about 60-80):

    * spike similarity: :func:`~rleaky_viz.compare.van_rossum_similarity` of the spike trains;
    * membrane similarity: ``max(0, 1 - RMSE / range)``, the root-mean-square
      difference of the membranes relative to the target membrane's range
      (max - min; 1 if the target is flat).

    Returns ``score``, ``spike_similarity``, ``membrane_rmse``,
    ``membrane_similarity`` and ``same_spikes`` (the two trains spike on
    exactly the same steps).
    """
    tm = np.asarray(target_mem, dtype=np.float64).reshape(-1)
    gm = np.asarray(guess_mem, dtype=np.float64).reshape(-1)
    if tm.shape != gm.shape:
        raise ValueError(f"membranes must have the same length, got {tm.size} and {gm.size}")
    spike = van_rossum_similarity(target_spk, guess_spk, tau)
    same = bool(np.array_equal(np.asarray(target_spk, dtype=np.float64).reshape(-1) != 0,
                               np.asarray(guess_spk, dtype=np.float64).reshape(-1) != 0))
    rmse = float(np.sqrt(np.mean((tm - gm) ** 2)))
    span = float(np.ptp(tm)) or 1.0
    membrane = max(0.0, 1.0 - rmse / span)
    return {"score": 100.0 * spike * membrane, "spike_similarity": spike,
            "membrane_rmse": rmse, "membrane_similarity": membrane, "same_spikes": same}


# The page says "A perfect fit: same spikes, same membrane." where the spikes are the
# target's, step for step, and the score reaches this: with the same spikes the score is
# 100·(1 − RMSE/range), so the membranes are within an RMSE of 0.0005 of the target's range.
# (The score alone would not do: two dense trains that differ in their last step score
# above it.)
PERFECT_SCORE = 99.95


def perfect_fit(score: dict) -> bool:
    """Whether :func:`mystery_score`'s result earns the page's "perfect fit" message."""
    return bool(score["same_spikes"]) and score["score"] >= PERFECT_SCORE


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
