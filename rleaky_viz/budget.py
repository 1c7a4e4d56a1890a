"""The memory budget: an upper bound of what a piece of work allocates, before it starts.

:func:`estimate_bytes` bounds the peak memory of a run, a gradient flow, a
sweep or a training (and of an export of a run's trace) from the config
alone; :func:`check_budget` refuses work over ``RLEAKY_VIZ_MEMORY_MB`` with a
message that says how to make it fit.  The constants are measured:
``tests/test_memory_budget.py`` runs a grid of configurations in child
processes and checks that the measured peak never exceeds the estimate.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

from .config import SimConfig

__all__ = ["MemoryBudgetError", "MEMORY_BUDGET_BYTES", "WORKS", "EXPORTS", "estimate_bytes",
           "export_bytes", "check_budget", "elements", "env_mb"]


def env_mb(name: str, default: float) -> int:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        value = default
    return int(max(1.0, value) * 2**20)


# What one run may allocate, recordings and the export of them included.
MEMORY_BUDGET_BYTES = env_mb("RLEAKY_VIZ_MEMORY_MB", 1024)


class MemoryBudgetError(ValueError):
    """A configuration that would need more memory than the server allows."""


# Bytes per recorded element (one step of one neuron of one sample) that each
# kind of work allocates at its peak, and a fixed part; measured by
# tests/test_memory_budget.py (a child process per configuration), with margin.
WORKS = ("run", "flow", "distance", "sweep", "train")
_PER_ELEMENT = {"run": 96, "flow": 320, "distance": 320, "sweep": 48, "train": 400}
EXPORTS = ("csv", "parquet", "json", "html", "code")
_EXPORT_PER_ELEMENT = {"csv": 420, "parquet": 260, "json": 0, "html": 0, "code": 16}
_FIXED_BYTES = 8 * 2**20


def _weights_bytes(cfg: SimConfig) -> int:
    if cfg.recurrence == "linear":
        # the weight matrix, its gradient, the optimiser's state, an eigen-decomposition
        return 8 * 8 * cfg.num_neurons ** 2
    if cfg.recurrence == "conv2d":
        return 8 * 4 * cfg.conv2d_channels ** 2 * cfg.kernel_size ** 2
    return 0


def _expression_bytes(cfg: SimConfig) -> int:
    # evaluated over (T, N) in float64; a tree of depth d holds at most d + 2 partial results
    if cfg.stimulus != "expression":
        return 0
    from .stimulus import MAX_EXPRESSION_DEPTH

    return 8 * (MAX_EXPRESSION_DEPTH + 3) * cfg.num_steps * cfg.neuron_count


def elements(cfg: SimConfig, points: int = 1) -> int:
    """Recorded elements of a run: steps x samples x neurons (x grid points)."""
    return cfg.num_steps * cfg.batch_size * cfg.neuron_count * max(1, int(points))


def export_bytes(cfg: SimConfig, export: str) -> int:
    """What writing one export of a run's trace allocates on top of the trace."""
    if export not in _EXPORT_PER_ELEMENT:
        raise ValueError(f"export must be one of {', '.join(EXPORTS)}, got {export!r}")
    extra = {"html": 16 * 2**20, "json": 0}.get(export, 0)
    return _EXPORT_PER_ELEMENT[export] * elements(cfg) + extra


def estimate_bytes(cfg: SimConfig, work: str = "run", *, points: int = 1,
                   exports: Sequence[str] = ()) -> int:
    """An upper bound of the memory that ``work`` on ``cfg`` allocates at its peak.

    ``points``: grid points of a sweep or values of a distance sweep (each is a
    batch element, or a run, of its own).  ``exports``: the trace exports that
    may follow the run while it is held (the largest one counts: one runs at a
    time).
    """
    if work not in _PER_ELEMENT:
        raise ValueError(f"work must be one of {', '.join(WORKS)}, got {work!r}")
    n = elements(cfg, points if work == "sweep" else 1)
    need = _PER_ELEMENT[work] * n + _weights_bytes(cfg) + _FIXED_BYTES + _expression_bytes(cfg)
    if exports:
        need += max(export_bytes(cfg, e) for e in exports)
    return need


def _advice(cfg: SimConfig) -> str:
    parts = [f"time steps ({cfg.num_steps:,})"]
    if cfg.batch_size > 1:
        parts.append(f"batch size ({cfg.batch_size})")
    parts.append(f"neurons ({cfg.neuron_count:,})")
    return "reduce " + ", ".join(parts[:-1]) + " or " + parts[-1]


def check_budget(cfg: SimConfig, work: str = "run", *, points: int = 1,
                 exports: Sequence[str] = (), budget: Optional[int] = None) -> int:
    """The estimate of :func:`estimate_bytes`, or MemoryBudgetError if it is over the budget."""
    budget = MEMORY_BUDGET_BYTES if budget is None else budget
    need = estimate_bytes(cfg, work, points=points, exports=exports)
    if need > budget:
        fit = max(1, int(cfg.num_steps * (budget - _FIXED_BYTES - _weights_bytes(cfg))
                         / max(1, need - _FIXED_BYTES - _weights_bytes(cfg))))
        what = {"run": "this run", "flow": "the gradients of this run",
                "distance": "this gradient sweep", "sweep": "this sweep",
                "train": "training this network"}[work]
        raise MemoryBudgetError(
            f"{what} would need about {need / 2**20:,.0f} MB, over the server's budget of "
            f"{budget / 2**20:,.0f} MB: {_advice(cfg)}" +
            (f" (about {fit:,} time steps would fit)" if 0 < fit < cfg.num_steps else "")
            + (", or sweep fewer points" if work in ("sweep", "distance") and points > 1 else ""))
    return need


