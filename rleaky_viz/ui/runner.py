"""Cached simulation runs for the pages.

``run_simulation`` is keyed on the config (a frozen dataclass of plain
values) and the bytes of any upload, bounded in entries, so moving a slider
back to where it was costs nothing.
"""
from __future__ import annotations

import io
import logging
import time
import os
from typing import Optional

import numpy as np
import streamlit as st
import torch

from ..config import SimConfig
from ..flows import FlowResult, LossError, gradient_flow, gradient_vs_distance
from ..simulate import StateDictError, Trace, build_neuron, simulate
from ..stimulus import StimulusError, parse_csv

__all__ = ["run_simulation", "run_gradient_flow", "run_gradient_distance", "estimate_bytes", "load_state_dict_bytes", "MemoryBudgetError",
           "MEMORY_BUDGET_BYTES", "PlantedFault", "FAULT_ENV"]

# Refuse runs whose recorded tensors would exceed this (bytes); set RLEAKY_VIZ_MEMORY_MB to change.
_log = logging.getLogger("rleaky_viz.runs")
if os.environ.get("RLEAKY_VIZ_LOG_RUNS") and not _log.handlers:  # set by the benchmarks
    _log.addHandler(logging.StreamHandler())
    _log.setLevel(logging.INFO)
MEMORY_BUDGET_BYTES = int(float(os.environ.get("RLEAKY_VIZ_MEMORY_MB", "1024")) * 2**20)
MAX_STATE_DICT_BYTES = 20 * 2**20


class MemoryBudgetError(ValueError):
    """A configuration that would need more memory than the server allows."""


# Fault injection for tests: RLEAKY_VIZ_FAULT=1 makes every run raise
# PlantedFault; RLEAKY_VIZ_FAULT=<field>=<value> (e.g. seed=424242) only the
# runs whose config has that value, as written in a URL, so the rest of the app
# keeps working.  Read at each run, outside the cache, so a test can set it late.
FAULT_ENV = "RLEAKY_VIZ_FAULT"


class PlantedFault(RuntimeError):
    """The failure asked for by ``RLEAKY_VIZ_FAULT`` (never raised unless it is set)."""


def _planted_fault(cfg: SimConfig) -> None:
    spec = os.environ.get(FAULT_ENV, "").strip()
    if spec in ("", "0"):
        return
    if spec not in ("1", "all"):
        name, _, text = spec.partition("=")
        if cfg.to_query(only_changed=False).get(name.strip()) != text.strip():
            return
    raise PlantedFault(f"a fault planted for testing ({FAULT_ENV}={spec})")


def estimate_bytes(cfg: SimConfig) -> int:
    """Memory of a run's recorded tensors: nine float32 tensors of (T, batch, neurons)."""
    return 9 * 4 * cfg.num_steps * cfg.batch_size * cfg.neuron_count


def load_state_dict_bytes(data: bytes) -> dict:
    """An uploaded ``.pt`` state dict, loaded with ``weights_only=True`` (no code runs)."""
    if len(data) > MAX_STATE_DICT_BYTES:
        raise StateDictError(f"the file is {len(data) / 2**20:.1f} MB; at most "
                             f"{MAX_STATE_DICT_BYTES // 2**20} MB are allowed")
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, or one holding more than tensors
        raise StateDictError(f"the file is not a PyTorch state dict that can be loaded safely "
                             f"({type(e).__name__})") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise StateDictError("the file does not hold a state dict (names mapped to tensors)")
    return obj


def _uploads(cfg: SimConfig, csv_bytes: Optional[bytes], pt_bytes: Optional[bytes]):
    upload = parse_csv(csv_bytes, cfg.neuron_count) if (cfg.stimulus == "csv" and csv_bytes) else None
    state = load_state_dict_bytes(pt_bytes) if (cfg.weight_init == "state_dict" and pt_bytes) else None
    if cfg.weight_init == "state_dict" and cfg.recurrence == "linear" and state is None:
        raise StateDictError("choose a .pt file holding an snnTorch RLeaky state dict to upload")
    return upload, state


# A resource cache, not a data cache: a data cache pickles the trace on the
# way in and copies it on every read, which for a 1,000 x 10,000 run is
# hundreds of megabytes each way. Pages only read traces, never change them.
@st.cache_resource(max_entries=12, show_spinner="Simulating…")
def _cached_run(cfg: SimConfig, csv_bytes: Optional[bytes], pt_bytes: Optional[bytes]) -> Trace:
    upload, state = _uploads(cfg, csv_bytes, pt_bytes)
    start = time.perf_counter()
    trace = simulate(cfg, upload=upload, state_dict=state)
    # benchmarks/bench_raster.py reads this line to know when the run ended
    _log.info("run finished at %.3f after %.3f s (%d neurons x %d steps)", time.time(),
              time.perf_counter() - start, cfg.neuron_count, cfg.num_steps)
    return trace


@st.cache_data(max_entries=12, show_spinner="Computing gradients…")
def _cached_flow(cfg: SimConfig, csv_bytes: Optional[bytes], pt_bytes: Optional[bytes]) -> FlowResult:
    upload, state = _uploads(cfg, csv_bytes, pt_bytes)
    return gradient_flow(cfg, upload=upload, state_dict=state)


@st.cache_data(max_entries=12, show_spinner="Sweeping…")
def run_gradient_distance(cfg: SimConfig, parameter: str, values: tuple) -> dict:
    """``flows.gradient_vs_distance`` (cached; ``values`` a tuple so it can be a key)."""
    _check_budget(cfg, factor=3.0)
    return gradient_vs_distance(cfg, parameter, values)


def _check_budget(cfg: SimConfig, factor: float = 1.0) -> None:
    need = estimate_bytes(cfg) * factor
    if need > MEMORY_BUDGET_BYTES:
        raise MemoryBudgetError(
            f"this run would need about {need / 2**20:.0f} MB for its recordings, over the "
            f"server's budget of {MEMORY_BUDGET_BYTES / 2**20:.0f} MB: reduce time steps, batch "
            "size or neurons")


def run_simulation(cfg: SimConfig, csv_bytes: Optional[bytes] = None,
                   pt_bytes: Optional[bytes] = None) -> Trace:
    """Simulate ``cfg`` (cached). Raises StimulusError, StateDictError or MemoryBudgetError."""
    _check_budget(cfg)
    _planted_fault(cfg)
    return _cached_run(cfg, csv_bytes, pt_bytes)


def run_gradient_flow(cfg: SimConfig, csv_bytes: Optional[bytes] = None,
                      pt_bytes: Optional[bytes] = None) -> FlowResult:
    """``flows.gradient_flow`` for ``cfg`` with its own loss settings (cached)."""
    _check_budget(cfg, factor=3.0)  # the autograd graph keeps every step's tensors
    _planted_fault(cfg)
    return _cached_flow(cfg, csv_bytes, pt_bytes)


USER_ERRORS = (StimulusError, StateDictError, MemoryBudgetError, LossError)


@st.cache_data(max_entries=16, show_spinner="Computing eigenvalues…")
def _cached_eigenvalues(weights_cfg: SimConfig, pt_bytes: Optional[bytes]):
    state = load_state_dict_bytes(pt_bytes) if pt_bytes else None
    weight = build_neuron(weights_cfg, state).recurrent.weight.detach().double().numpy()
    return np.linalg.eigvals(weight)


def recurrent_eigenvalues(cfg: SimConfig, pt_bytes: Optional[bytes] = None):
    """Eigenvalues of the linear recurrence's weights, cached on what decides the weights.

    Only the fields that shape the weight matrix are in the key, so moving
    β or the input does not recompute a 1,000 × 1,000 eigen-decomposition.
    """
    key = SimConfig(recurrence="linear", num_neurons=cfg.num_neurons, weight_init=cfg.weight_init,
                    weight_gain=cfg.weight_gain, weight_sparsity=cfg.weight_sparsity,
                    excitatory_fraction=cfg.excitatory_fraction, seed=cfg.seed)
    return _cached_eigenvalues(key, pt_bytes if cfg.weight_init == "state_dict" else None)
