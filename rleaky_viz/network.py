"""The recurrent weight matrix as a matrix: its check and its spectral radius.

The spectral radius ρ (the largest eigenvalue modulus) says whether the
linear recurrence can feed activity back on itself (ρ > 1) or lets it die
out; the Population page shows it, ``explain.odd_corners`` warns about it and
``flows.gradient_vs_distance`` rescales the weights to a chosen ρ.

Pure numpy: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["as_matrix", "spectral_radius"]


def as_matrix(weight, name: str = "weight") -> np.ndarray:
    """A finite, real, square, non-empty 2-D matrix as float64 numpy."""
    if weight is None:
        raise ValueError(f"{name} must be a square matrix, got None")
    try:
        arr = np.asarray(weight.detach().cpu().numpy() if hasattr(weight, "detach") else weight)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name} must be a square matrix of numbers: {e}") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square 2-D matrix, got shape {arr.shape}")
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def spectral_radius(weight, eigenvalues: Optional[np.ndarray] = None) -> float:
    """The largest eigenvalue modulus of the square matrix ``weight`` (numpy or a tensor).

    ``eigenvalues`` may be given when already known (they take seconds for a
    1,000-neuron matrix, so pages cache them); otherwise they are computed
    here, in float64.
    """
    w = as_matrix(weight)
    if eigenvalues is None:
        eigenvalues = np.linalg.eigvals(w)
    eigenvalues = np.asarray(eigenvalues)
    if eigenvalues.shape != (w.shape[0],):
        raise ValueError(f"eigenvalues must have {w.shape[0]} values, got shape {eigenvalues.shape}")
    return float(np.max(np.abs(eigenvalues)))
