"""Argument checks and data access shared by the figure builders.

Every public builder checks its arguments here first, so a bad argument
fails with a ``ValueError`` that names it, before any drawing starts.  A
trace is duck-typed: anything with the recorded tensors (or numpy arrays)
of shape ``(T, batch, *neuron_shape)`` will do.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np

from ..network import as_matrix  # noqa: F401  (the weight check, beside spectral_radius)

QUANTITIES = ("input", "spk", "mem", "reset", "recurrent", "leak", "base", "surrogate_grad",
              "dL_dmem", "dL_dinput")
# signed quantities centred on zero get a diverging colour scale
SIGNED = ("dL_dmem", "dL_dinput")

QUANTITY_LABELS = {
    "input": "input current",
    "spk": "spikes",
    "mem": "membrane potential U",
    "reset": "reset signal",
    "recurrent": "recurrent current",
    "leak": "leak term β·U[t-1]",
    "base": "pre-reset membrane",
    "surrogate_grad": "surrogate gradient ∂S/∂U",
    "dL_dmem": "gradient dL/dU[t]",
    "dL_dinput": "gradient dL/dx[t]",
}


def check_int(name: str, value, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    """``value`` as an int in ``[lo, hi]`` (inclusive); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def _array(name: str, value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check_trace(trace, *names: str) -> tuple[int, int, tuple[int, ...]]:
    """Check ``trace`` holds ``names`` of one shape ``(T, batch, *neuron_shape)``.

    Returns ``(T, batch_size, neuron_shape)``.
    """
    if trace is None:
        raise ValueError("trace must be a simulation Trace, got None")
    shape = None
    for n in names:
        t = getattr(trace, n, None)
        if t is None or not hasattr(t, "shape"):
            raise ValueError(f"trace has no recorded '{n}' (got {type(trace).__name__})")
        if len(t.shape) < 3:
            raise ValueError(f"trace.{n} must have shape (T, batch, *neuron_shape), "
                             f"got {tuple(t.shape)}")
        if shape is None:
            shape = tuple(t.shape)
        elif tuple(t.shape) != shape:
            raise ValueError(f"trace.{n} has shape {tuple(t.shape)}, expected {shape}")
    if shape[0] < 1:
        raise ValueError("trace must have at least one time step")
    return shape[0], shape[1], shape[2:]


def check_batch(batch, batch_size: int) -> int:
    return check_int("batch", batch, 0, batch_size - 1)


def series(trace, name: str, batch: int) -> np.ndarray:
    """One sample of a recorded quantity as numpy ``(T, neurons)``."""
    t = getattr(trace, name)
    one = t[:, batch]
    arr = _array(name, one)
    return arr.reshape(arr.shape[0], -1)


def neuron_series(trace, name: str, batch: int, neuron: int) -> np.ndarray:
    """One neuron of one sample as float64 numpy ``(T,)``."""
    return series(trace, name, batch)[:, neuron].astype(np.float64)


def per_neuron(trace, attr: str, count: int, fallback: float) -> np.ndarray:
    """A neuron parameter (``threshold``, ``beta``) for each flat neuron, float64 ``(count,)``.

    Read from ``trace.neuron`` when present (it may be per neuron, or loaded
    from a state dict), else from ``trace.config``, else ``fallback``.
    """
    neuron = getattr(trace, "neuron", None)
    value = getattr(neuron, attr, None) if neuron is not None else None
    if value is None:
        cfg = getattr(trace, "config", None)
        value = getattr(cfg, attr, fallback) if cfg is not None else fallback
    arr = _array(attr, value).astype(np.float64)
    if arr.size == 1:
        return np.full(count, float(arr.reshape(-1)[0]))
    shape = getattr(trace, "spk").shape[2:]
    try:
        return np.broadcast_to(arr, shape).reshape(-1).astype(np.float64)
    except ValueError:
        return np.full(count, float(arr.reshape(-1)[0]))


def config_value(trace, attr: str, default):
    cfg = getattr(trace, "config", None)
    return getattr(cfg, attr, default) if cfg is not None else default


def merge_factor(num_steps: int, rows: int, budget: int) -> int:
    """Smallest number of steps per column so that ``rows x columns <= budget``.

    Never more than ``num_steps`` (one column), even if that is still over.
    """
    k = max(1, math.ceil(num_steps * rows / budget))
    return min(k, num_steps)


def bin_starts(num_steps: int, k: int) -> np.ndarray:
    return np.arange(0, num_steps, k)


def bin_centres(num_steps: int, k: int) -> np.ndarray:
    """The mean step of each bin of ``k`` steps (the last bin may be shorter)."""
    starts = bin_starts(num_steps, k)
    ends = np.minimum(starts + k, num_steps) - 1
    return (starts + ends) / 2.0


def max_pool_time(data: np.ndarray, k: int) -> np.ndarray:
    """``(T, N)`` -> ``(ceil(T/k), N)``, the max over each bin of ``k`` steps."""
    if k == 1:
        return data
    return np.maximum.reduceat(data, bin_starts(data.shape[0], k), axis=0)


def mean_pool_time(data: np.ndarray, k: int) -> np.ndarray:
    """``(T, N)`` -> ``(ceil(T/k), N)``, the mean over each bin (a short last bin is averaged over its own length)."""
    if k == 1:
        return data.astype(np.float64)
    starts = bin_starts(data.shape[0], k)
    sums = np.add.reduceat(data.astype(np.float64), starts, axis=0)
    counts = np.minimum(starts + k, data.shape[0]) - starts
    return sums / counts[:, None]
