"""Comparing two runs: where their spikes first differ, and how alike two spike trains are.

Used by the Compare page (A/B) and by the mystery neuron's score
(:mod:`rleaky_viz.mystery`).

Pure numpy: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["first_divergence", "van_rossum_similarity", "neuron_divergence", "neuron_membrane_gap",
           "forward_identical", "gradient_gap", "gradient_words"]


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


# ----------------------------------------------------------------------------- A/B in words
def _flat(tensor, batch: int, neuron: int) -> np.ndarray:
    a = np.asarray(tensor.detach().cpu() if hasattr(tensor, "detach") else tensor)
    return a.reshape(a.shape[0], a.shape[1], -1)[:, batch, neuron]


def neuron_divergence(spk_a, spk_b, neuron: int, batch: int = 0) -> Optional[int]:
    """:func:`first_divergence` of one neuron of one sample (recordings ``(T, batch, *neurons)``)."""
    return first_divergence(_flat(spk_a, batch, neuron), _flat(spk_b, batch, neuron))


def neuron_membrane_gap(mem_a, mem_b, neuron: int, batch: int = 0) -> float:
    """max |U_A − U_B| over the steps of one neuron of one sample."""
    return float(np.abs(_flat(mem_a, batch, neuron).astype(np.float64)
                        - _flat(mem_b, batch, neuron).astype(np.float64)).max())


def forward_identical(trace_a, trace_b) -> bool:
    """Whether two runs have bit-identical spikes and membranes everywhere."""
    import torch  # the traces' tensors

    return bool(torch.equal(trace_a.spk, trace_b.spk) and torch.equal(trace_a.mem, trace_b.mem))


def gradient_gap(flow_a, flow_b) -> float:
    """max |dL/dU_A − dL/dU_B| over every step, neuron and sample of two gradient flows."""
    return float((flow_a.dL_dmem.double() - flow_b.dL_dmem.double()).abs().max())


def gradient_words(cfg, flow_a, flow_b) -> str:
    """The Compare page's sentence on the two gradients: what the loss is and whether they differ.

    Computed from the flows: it says that the gradients differ (and by how
    much) only where they do; where they are identical, it says whether the
    runs are too (then B's change reaches neither), or differ (a change that
    moves the run but not what flows back, say under a surrogate whose value
    is a sign).  With the what-if ``reset_grad`` (which a link may carry) it
    says so: snnTorch detaches the reset.
    """
    target = (f"target times {cfg.target_times}" if cfg.loss == "spike_times"
              else f"target {cfg.loss_target:g}")
    how = ("with the what-if reset_grad on (the reset R passes gradient too; snnTorch detaches "
           "it)" if cfg.reset_grad else "as snnTorch would")
    text = f"Loss {cfg.loss!r} ({target}), differentiated through each run {how}: "
    gap = gradient_gap(flow_a, flow_b)
    if gap == 0.0:
        if forward_identical(flow_a.trace, flow_b.trace):
            return text + ("here the runs of A and B and their dL/dU are identical, step by step: "
                           "what B changes reaches neither in this run.")
        return text + ("here dL/dU of A and B are identical, step by step, though the runs "
                       "differ: what B changes moves the run, not the gradient that flows back "
                       "through it.")
    return text + f"dL/dU of A and B differ by up to {gap:.3g}."
