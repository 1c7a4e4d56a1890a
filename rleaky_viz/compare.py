"""Comparing two runs: where their spikes first differ, and how alike two spike trains are.

Used by the Compare page (A/B) and by the mystery neuron's score
(:mod:`rleaky_viz.mystery`).

Pure numpy: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["first_divergence", "van_rossum_similarity"]


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
