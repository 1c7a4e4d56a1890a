"""Cached runs for the pages: thin wrappers around :mod:`rleaky_viz.service`.

Runs and gradient flows are kept in the service's :class:`ResultCache`, shared
by every session and bounded in bytes (``RLEAKY_VIZ_CACHE_MB``), not in
entries: a dozen worst-case links cannot pin a dozen budgets' worth of
memory.  Keys are the config (a frozen dataclass of plain values) and the
digests of any uploads, so moving a slider back to where it was costs nothing.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Optional

import numpy as np
import streamlit as st

from .. import service
from ..config import SimConfig, fields_in
from ..flows import FlowResult, LossError, gradient_vs_distance
from ..service import (MAX_STATE_DICT_BYTES, MEMORY_BUDGET_BYTES, MemoryBudgetError,
                       estimate_bytes, load_state_dict_bytes)
from ..simulate import Trace, build_neuron

__all__ = ["run_simulation", "run_gradient_flow", "run_gradient_distance", "estimate_bytes",
           "load_state_dict_bytes", "MemoryBudgetError", "MEMORY_BUDGET_BYTES",
           "MAX_STATE_DICT_BYTES", "PlantedFault", "FAULT_ENV", "USER_ERRORS",
           "recurrent_eigenvalues", "RESULTS", "run_training", "run_sweep", "run_trained"]

_log = logging.getLogger("rleaky_viz.runs")
if os.environ.get("RLEAKY_VIZ_LOG_RUNS") and not _log.handlers:  # set by the benchmarks
    _log.addHandler(logging.StreamHandler())
    _log.setLevel(logging.INFO)

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


# One cache for the whole process (every session shares it; nothing in it is mutated).
RESULTS = service.ResultCache(service.CACHE_BYTES)


def run_simulation(cfg: SimConfig, csv_bytes: Optional[bytes] = None,
                   pt_bytes: Optional[bytes] = None) -> Trace:
    """Simulate ``cfg`` (cached). Raises one of ``USER_ERRORS`` for what the user can fix."""
    service.check_budget(cfg, "run")
    service.check_compute(cfg, "run")
    _planted_fault(cfg)

    def compute() -> Trace:
        start = time.perf_counter()
        trace = service.run(cfg, csv_bytes, pt_bytes)
        # benchmarks/bench_raster.py reads this line to know when the run ended
        _log.info("run finished at %.3f after %.3f s (%d neurons x %d steps)", time.time(),
                  time.perf_counter() - start, cfg.neuron_count, cfg.num_steps)
        return trace

    key = ("run", cfg, service.digest(csv_bytes), service.digest(pt_bytes))
    if RESULTS.holds(key):
        return RESULTS.get_or_compute(key, compute)
    with st.spinner("Simulating…"):
        return RESULTS.get_or_compute(key, compute)


def _live_key(cfg, csv_bytes, pt_bytes, neuron, batch, fields, overlay) -> tuple:
    return (cfg, neuron, batch, tuple(fields), bool(overlay), service.digest(csv_bytes),
            service.digest(pt_bytes))


def run_live_frames(cfg: SimConfig, csv_bytes: Optional[bytes] = None,
                    pt_bytes: Optional[bytes] = None, *, neuron: int = 0, batch: int = 0,
                    fields: tuple = (), overlay: bool = False):
    """``service.run_live``: the frames of the live chart (cached with the other results)."""
    key = ("live",) + _live_key(cfg, csv_bytes, pt_bytes, neuron, batch, fields, overlay)
    uploads = (service.digest(csv_bytes), service.digest(pt_bytes))
    last = st.session_state.get(_LAST_LIVE)
    # this session's frames before (say, before a release): a control's own frames are reused
    reuse = last[1] if isinstance(last, tuple) and last[0] == uploads else None
    frames = RESULTS.get_or_compute(key, lambda: service.run_live(
        cfg, csv_bytes, pt_bytes, neuron=neuron, batch=batch, fields=fields, overlay=overlay,
        reuse=reuse))
    # kept for the next run only while small (it is outside the cache's byte bound)
    if service.nbytes(frames) <= _LAST_LIVE_BYTES:
        st.session_state[_LAST_LIVE] = (uploads, frames)
    else:
        st.session_state.pop(_LAST_LIVE, None)
    return frames


_LAST_LIVE = "_live_last_frames"
_LAST_LIVE_BYTES = 8 << 20


def encoded_live_frames(frames, csv_bytes: Optional[bytes] = None, pt_bytes: Optional[bytes] = None,
                        *, overlay: bool = False, base_names: tuple = ()) -> tuple:
    """``figures.live.encode_frames`` of ``frames`` (cached: a rerun of the same setting,
    say after a release that came back, sends them without encoding them again)."""
    from ..figures.live import encode_frames

    key = ("live-encoded",) + _live_key(frames.cfg, csv_bytes, pt_bytes, frames.neuron, frames.batch,
                                        frames.fields, overlay) + (tuple(base_names),)
    return RESULTS.get_or_compute(key, lambda: encode_frames(frames, base_names))


def run_gradient_flow(cfg: SimConfig, csv_bytes: Optional[bytes] = None,
                      pt_bytes: Optional[bytes] = None) -> FlowResult:
    """``flows.gradient_flow`` for ``cfg`` with its own loss settings (cached)."""
    service.check_budget(cfg, "flow")
    service.check_compute(cfg, "flow")
    _planted_fault(cfg)
    key = ("flow", cfg, service.digest(csv_bytes), service.digest(pt_bytes))
    compute = lambda: service.run_flow(cfg, csv_bytes, pt_bytes)  # noqa: E731
    if RESULTS.holds(key):
        return RESULTS.get_or_compute(key, compute)
    with st.spinner("Computing gradients…"):
        return RESULTS.get_or_compute(key, compute)


def run_gradient_distance(cfg: SimConfig, parameter: str, values: tuple) -> dict:
    """``flows.gradient_vs_distance`` (cached; ``values`` a tuple so it can be a key)."""
    need = service.check_budget(cfg, "distance", points=len(values))
    service.check_compute(cfg, "distance", points=len(values))
    key = ("distance", cfg, parameter, tuple(values))

    def compute() -> dict:
        with service.admit(need):
            return gradient_vs_distance(cfg, parameter, values)

    if RESULTS.holds(key):
        return RESULTS.get_or_compute(key, compute)
    with st.spinner("Sweeping…"):
        return RESULTS.get_or_compute(key, compute)


def run_trained(cfg: SimConfig, state_dict: dict) -> Trace:
    """The run of ``cfg`` with a training's parameters (``TrainResult.state_dict``), cached."""
    service.check_budget(cfg, "run")
    key = ("trained", cfg, service.state_digest(state_dict))
    return RESULTS.get_or_compute(key, lambda: service.run_trusted(cfg, state_dict))


def run_training(cfg: SimConfig, **options):
    """``learn.train(cfg, **options)`` inside the memory budget (not cached: it draws as it goes)."""
    from .. import learn

    epochs = int(options.get("epochs", 50))
    need = service.check_budget(cfg, "train", points=epochs)  # every epoch keeps the parameters
    service.check_compute(cfg, "train", epochs=epochs)
    with service.admit(need):
        return learn.train(cfg, **options)


def run_sweep(cfg: SimConfig, grid, *, progress: bool = True):
    """``sweeps.sweep(cfg, grid)`` inside the memory budget, cached with the other results.

    A sweep that is not cached draws a progress bar while it runs (``progress``).
    """
    import math

    from .. import sweeps

    grid = {name: tuple(float(v) for v in values) for name, values in grid.items()}
    points = math.prod(len(v) for v in grid.values())
    # each distinct (amplitude, offset) pair of the grid keeps an input current of its own
    inputs = math.prod(len(v) for k, v in grid.items() if k in sweeps.INPUT_FIELDS)
    need = service.check_budget(cfg, "sweep", points=points, inputs=inputs)
    service.check_compute(cfg, "sweep", points=points)
    key = ("sweep", cfg, tuple(grid.items()))
    if RESULTS.holds(key) or not progress:
        bar = None
        report = None
    else:
        bar = st.empty()
        report = lambda fraction, text: bar.progress(fraction, text=text)  # noqa: E731

    def compute():
        with service.admit(need):
            return sweeps.sweep(cfg, {k: list(v) for k, v in grid.items()}, progress=report)

    try:
        return RESULTS.get_or_compute(key, compute)
    finally:
        if bar is not None:
            bar.empty()


USER_ERRORS = service.USER_ERRORS + (LossError,)


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
    key = SimConfig(recurrence="linear", seed=cfg.seed,
                    **{name: getattr(cfg, name) for name in fields_in("Network")})
    return _cached_eigenvalues(key, pt_bytes if cfg.weight_init == "state_dict" else None)
