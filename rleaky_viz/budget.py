"""The memory budget: an upper bound of what a piece of work allocates, before it starts.

:func:`estimate_bytes` bounds the peak memory of a run, a gradient flow, a
gradient-vs-distance sweep, a parameter sweep or a training (and of an
export of a run's trace) from the config alone; :func:`check_budget` refuses
work over ``RLEAKY_VIZ_MEMORY_MB`` with a message that says how to make it
fit.

The constants are measured: ``tests/_memory_probe.py`` runs each piece of
work in a child process forked from a warmed-up parent (one torch thread, as
the app runs) and reports the growth of its resident-set high-water mark;
``tests/test_memory_budget.py`` checks on a grid of configurations that the
measured peak never exceeds the estimate.  Each constant's comment gives the
largest value measured (CPU, torch 2.13, numpy 2.4, pandas 3, glibc malloc);
the constants leave a margin of about 10-60% above it (more where a
measurement was seen to vary), so that the estimate stays an upper bound
without refusing much more than it must.  To measure again, feed specs to
``python tests/_memory_probe.py --verbose`` (see its docstring).

An element is one step of one neuron of one sample: ``T x batch x neurons``.
"""
from __future__ import annotations

import ast
import functools
import math
import os
from typing import Optional, Sequence

from .config import SimConfig

__all__ = ["MemoryBudgetError", "MEMORY_BUDGET_BYTES", "WORKS", "EXPORTS", "estimate_bytes",
           "export_bytes", "check_budget", "elements", "env_mb", "steps_that_fit"]

_MB = 2**20
_KB = 2**10


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


WORKS = ("run", "flow", "distance", "sweep", "train")
EXPORTS = ("csv", "parquet", "json", "html", "code")

# Every piece of work: Python objects, small tensors, allocator slack (a tiny run: < 1 MB).
_FIXED_BYTES = 16 * _MB

# --- making the input (stimulus.make_input) --------------------------------------
# A float64 (T, batch, N) copy, Poisson draws and noise in float64, the float32 cast:
# freed before the simulation starts, so it counts only where it is larger.
_INPUT_PER_ELEMENT = 40
# An expression is evaluated over (T, N) in float64 (see _expression_elements); on top
# of what the tree holds, np.abs, two masks and a contiguous copy of the result.
_EXPRESSION_AFTER = 2          # in (T, N) float64 arrays

# --- run: simulate() ------------------------------------------------------------------
# Fast engine (core/engine.py): the input, the working arrays of the whole run, the
# surrogate derivative; measured 48-49 B/element (52 with reset_delay=False), and 68-72
# with a progress callback (the CLI: the run goes in 50 pieces, then every recording is
# concatenated once).
_RUN_FAST = 80
_RUN_FAST_LATE = 4             # reset_delay=False: two more working arrays (measured +4)
_RUN_FAST_INHIBITION = 2       # the winner mask
# The step loop (state quantisation, SSO, a custom surrogate, a GPU): every step's tensors
# kept in lists, then stacked; measured 83-88 B/element and 8.2 kB per step of Python objects.
_RUN_STEP = 100
_RUN_STEP_PER_STEP = 10 * _KB

# --- flow: flows.gradient_flow (autograd / the hand-written BPTT) ---------------------------
# The path split and the per-step Jacobian (FlowResult.paths, .jacobian) add a dozen
# tensors of the run's size to the BPTT's: measured 93-101 B/element in all (105 linear,
# weights included), and 109-122 with reset_delay=False (three more paths and the
# same-step reset's derivatives), inhibition or not, in repeated runs of the same spec.
_FLOW_FAST = 120
_FLOW_FAST_LATE = 24
_FLOW_FAST_INHIBITION = 4
_FLOW_FAST_LINEAR = 16         # the weight gradient in float64 (measured 93 in all)
# conv2d: measured 100 B/element with 8 channels, 108 with 4, 137 with 2 and 205 with one
# (any kernel size): 85 per element and 120 per pixel-step (T x batch x H x W).
_FLOW_FAST_CONV = 100
_FLOW_FAST_CONV_PER_PIXEL = 144
# The step loop (quantisation, SSO, the reset_grad what-if): autograd's graph of every step;
# measured 116-145 B/element (157 conv2d) and 18-20 kB per step.  Runs of the same linear
# configuration were also seen at 1.8 times that (246 B/element), now and then, in a
# process otherwise the same: the margin covers them.
_FLOW_STEP = 250
_FLOW_STEP_CONV = 250
_FLOW_STEP_PER_STEP = 24 * _KB

# --- distance: flows.gradient_vs_distance -------------------------------------------------
# One flow per value, one after the other (the loss: the last step's membranes); the
# previous FlowResult (trace, gradients, paths: 64 B/element) is still held while the next
# is computed, and the heap grows a little with every value: measured 96 (1 value), 196
# (4), 204 (12) B/element with flows of 68-72.
_DISTANCE_FIRST = 32
_DISTANCE_HELD = 100
_DISTANCE_PER_VALUE = 4

# --- sweep: sweeps.sweep ---------------------------------------------------------------
# The time loop goes in chunks of at most 2**21 element-steps (SWEEP_CHUNK_ELEMENT_STEPS):
# the engine's arrays and the spike statistics' temporaries of one chunk, and the
# statistics of every state element (points x samples x neurons); then the per-point frame.
# Measured: 285 MB for 64 x 64 points of 256 neurons (40 steps, 2 a chunk), 290 MB for
# 64 x 64 points of 64 neurons (800 steps, 8 a chunk), 144 MB for one step of 2**20 state
# elements.
_SWEEP_CHUNK = 180             # per element-step of a chunk
_SWEEP_STATS = 128             # per state element, while the loop runs (and heap growth)
_SWEEP_FRAME = 160             # per state element, when the statistics become the frame
_SWEEP_STATE_QUANT = 256       # the quantiser's temporaries at every step (measured 182)
# The input currents kept (float32, one per distinct amplitude/offset pair: a list and
# the stack of it; measured 547 MB for 2**26 elements), and one make_input at a time.
_SWEEP_INPUT = 8
_SWEEP_MAKE_INPUT = 40
# With state quantisation and a threshold swept: the levels of every sample,
# (points x samples, 2**bits) float32, and torch.unique of them (measured 7.7 B per level).
_SWEEP_LEVELS = 10
# The sweep's own limits, defined here once (sweeps.py imports them) so that the bound
# and the run cannot drift apart: element-steps of one chunk; after a first chunk that
# shows the run to be fast, of each later one (~24 MB); input currents kept (256 MB).
SWEEP_CHUNK_ELEMENT_STEPS = 2**21
SWEEP_FAST_CHUNK_ELEMENT_STEPS = 2**17
SWEEP_MAX_INPUT_ELEMENTS = 2**26

# --- train: learn.train -----------------------------------------------------------------
# Per epoch the BPTT of the whole run plus smooth_spikes' graph; measured 53-79 B/element
# (69-85 conv2d with 8 channels: counted as the flow's), 4.8 kB per step (fast engine) and
# 33 kB per step (step loop).  The teacher's run comes before, and is smaller.
_TRAIN = 96
_TRAIN_STEP = 130              # the step loop's graph (measured 100 B/element)
_TRAIN_FAST_PER_STEP = 6 * _KB
_TRAIN_STEP_PER_STEP = 40 * _KB
# Per learnable parameter: its gradient and Adam's two moments; and a numpy copy of every
# learnable parameter kept per epoch (TrainResult.params; measured 4.5 B per value).
_TRAIN_PER_PARAMETER = 16
_TRAIN_PER_PARAMETER_EPOCH = 6
_MAX_EPOCHS = 2000  # learn.train's bound: counted when a training's epochs are not given

# --- recurrent weights: bytes per weight (linear: N**2) ----------------------------------
# the matrix, its initialisation (sparsity mask), gradients, an eigen-decomposition
_WEIGHT_BYTES = {"run": 16, "flow": 32, "distance": 64, "sweep": 16, "train": 32}

# --- exports of a run's trace, written while the trace is held ---------------------------
# csv: Trace.to_frame (12 columns), the text and its bytes: measured 267-275 B/element in
# all (run included); parquet: measured 135-159 in all, and pyarrow's ~10 MB; html: plotly.js
# inlined (4.6 MB) and the figure's JSON, measured 27-40 MB, plus the neuron figure's
# 10,000-point series; code: the input and the weights as base64 text, wrapped.
_EXPORT_PER_ELEMENT = {"csv": 250, "parquet": 110, "json": 0, "html": 0, "code": 48}
_EXPORT_FIXED = {"csv": 4 * _MB, "parquet": 16 * _MB, "json": 0, "html": 56 * _MB, "code": 1 * _MB}
_EXPORT_PER_STEP = {"html": 2 * _KB}
_EXPORT_PER_WEIGHT = {"code": 48}


# ----------------------------------------------------------------------------- parts
def elements(cfg: SimConfig, points: int = 1) -> int:
    """Recorded elements of a run: steps x samples x neurons (x grid points)."""
    return cfg.num_steps * cfg.batch_size * cfg.neuron_count * max(1, int(points))


def _weights(cfg: SimConfig) -> int:
    """Recurrent weights of the layer (linear: N**2, conv2d: C**2 x k**2)."""
    if cfg.recurrence == "linear":
        return cfg.num_neurons ** 2
    if cfg.recurrence == "conv2d":
        return cfg.conv2d_channels ** 2 * cfg.kernel_size ** 2
    return 0


def _learnable(cfg: SimConfig) -> int:
    """Values a training updates (an upper bound: every flag counted as on)."""
    n = 2  # beta and threshold
    if cfg.recurrence == "linear":
        n += cfg.num_neurons ** 2 + cfg.num_neurons
    elif cfg.recurrence == "conv2d":
        n += _weights(cfg) + cfg.conv2d_channels
    else:
        n += 1
    return n


def _on_cpu(cfg: SimConfig) -> bool:
    if cfg.device == "cpu":
        return True
    try:
        from .simulate import resolve_device

        return resolve_device(cfg.device)[0].type == "cpu"
    except Exception:  # noqa: BLE001  (no torch device query: count the slower path)
        return False


def _fast_engine(cfg: SimConfig) -> bool:
    """Whether unroll takes the fast whole-sequence engine (core.engine.fast_path_applies)."""
    return (not cfg.state_quant_bits and cfg.surrogate not in ("SSO", "custom_surrogate")
            and _on_cpu(cfg))


class _Unknown(Exception):
    pass


def _array_elements(axes: frozenset, T: int, N: int) -> int:
    return (T if "t" in axes else 1) * (N if "n" in axes else 1) if axes else 0


def _walk(node, T: int, N: int) -> tuple[frozenset, int]:
    """(axes of the node's value, peak float64 elements alive while it is evaluated)."""
    if isinstance(node, ast.Expression):
        return _walk(node.body, T, N)
    if isinstance(node, ast.Constant):
        return frozenset(), 0
    if isinstance(node, ast.Name):
        return frozenset({node.id}) & {"t", "n"}, 0
    if isinstance(node, ast.BinOp):
        children = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        children = [node.operand]
    elif isinstance(node, ast.Compare):
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.Call):
        if node.keywords:
            raise _Unknown
        children = list(node.args)
    else:
        raise _Unknown
    held = peak = 0
    axes: frozenset = frozenset()
    for child in children:  # evaluated in order, each result held until the operation
        a, p = _walk(child, T, N)
        peak = max(peak, held + p)
        held += _array_elements(a, T, N)
        axes = axes | a
    # the result and one temporary of the operation (a mask, a cast, np.abs of an exponent)
    return axes, max(peak, held + 2 * _array_elements(axes, T, N))


@functools.lru_cache(maxsize=512)
def _expression_elements(text: str, T: int, N: int) -> int:
    """An upper bound of the float64 elements that evaluating ``text`` over (T, N) holds at once.

    Walks the tree the evaluator walks (simpleeval evaluates the operands of
    an operation, or the arguments of a call, one after the other and holds
    them all): ``t`` is (T, 1), ``n`` (1, N), and an operation's result has
    the axes of its operands.  Text that does not parse is refused by the
    evaluator before it allocates anything.
    """
    from .stimulus import MAX_EXPRESSION_DEPTH

    if not isinstance(text, str):
        return 0
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0
    try:
        _, peak = _walk(tree, T, N)
    except (_Unknown, RecursionError):  # refused by the evaluator's checks; count the worst
        peak = 2 * (MAX_EXPRESSION_DEPTH + 1) * T * N
    return peak + _EXPRESSION_AFTER * T * N


def _input_bytes(cfg: SimConfig) -> int:
    """The peak of making the input, before the simulation starts."""
    need = _INPUT_PER_ELEMENT * elements(cfg)
    if cfg.stimulus == "expression":
        need = max(need, 8 * _expression_elements(cfg.expression, cfg.num_steps, cfg.neuron_count))
    return need


def _run_bytes(cfg: SimConfig) -> int:
    n, T = elements(cfg), cfg.num_steps
    if _fast_engine(cfg):
        per = (_RUN_FAST + _RUN_FAST_LATE * (not cfg.reset_delay)
               + _RUN_FAST_INHIBITION * cfg.inhibition)
        sim = per * n
    else:
        sim = _RUN_STEP * n + _RUN_STEP_PER_STEP * T
    return max(sim, _input_bytes(cfg))


def _flow_bytes(cfg: SimConfig) -> int:
    n, T = elements(cfg), cfg.num_steps
    if _fast_engine(cfg) and not cfg.reset_grad:
        if cfg.recurrence == "conv2d":
            sim = _FLOW_FAST_CONV * n + _FLOW_FAST_CONV_PER_PIXEL * (n // cfg.conv2d_channels)
        else:
            per = (_FLOW_FAST + _FLOW_FAST_LINEAR * (cfg.recurrence == "linear")
                   + _FLOW_FAST_LATE * (not cfg.reset_delay)
                   + _FLOW_FAST_INHIBITION * cfg.inhibition)
            sim = per * n
    else:
        per = _FLOW_STEP_CONV if cfg.recurrence == "conv2d" else _FLOW_STEP
        sim = per * n + _FLOW_STEP_PER_STEP * T
    return max(sim, _input_bytes(cfg))


def _distance_bytes(cfg: SimConfig, values: int) -> int:
    n = elements(cfg)
    held = _DISTANCE_HELD if values > 1 else 0
    return _flow_bytes(cfg) + (_DISTANCE_FIRST + held + _DISTANCE_PER_VALUE * values) * n


def _sweep_bytes(cfg: SimConfig, points: int, inputs: Optional[int]) -> int:
    T, B, N = cfg.num_steps, cfg.batch_size, cfg.neuron_count
    state = points * B * N  # the state updated every step
    # chunk = max(1, min(T, 2**21 // state, ceil(T / 20))) steps, or in a fast run up to
    # 2**17 element-steps a chunk after the first: a bound monotone in T and state
    chunk_elements = max(state, min(SWEEP_CHUNK_ELEMENT_STEPS, math.ceil(T / 20) * state),
                         min(T * state, SWEEP_FAST_CHUNK_ELEMENT_STEPS))
    need = max(_SWEEP_CHUNK * chunk_elements + _SWEEP_STATS * state, _SWEEP_FRAME * state)
    if not _fast_engine(cfg):
        need += _SWEEP_STATE_QUANT * state + _RUN_STEP_PER_STEP * min(T, 64)
    if cfg.state_quant_bits:
        need += _SWEEP_LEVELS * points * B * 2 ** cfg.state_quant_bits
    run = T * B * N
    distinct = points if inputs is None else min(points, max(1, int(inputs)))
    currents = min(distinct * run, max(SWEEP_MAX_INPUT_ELEMENTS, run))
    return need + _SWEEP_INPUT * currents + max(_SWEEP_MAKE_INPUT * run, _input_bytes(cfg))


def _train_bytes(cfg: SimConfig, epochs: int) -> int:
    n, T = elements(cfg), cfg.num_steps
    per_step = _TRAIN_FAST_PER_STEP if _fast_engine(cfg) else _TRAIN_STEP_PER_STEP
    if cfg.recurrence == "conv2d":  # as the flow's BPTT
        bptt = _FLOW_FAST_CONV * n + _FLOW_FAST_CONV_PER_PIXEL * (n // cfg.conv2d_channels)
    else:
        bptt = (_TRAIN if _fast_engine(cfg) else _TRAIN_STEP) * n
    sim = max(bptt + per_step * T, _run_bytes(cfg), _input_bytes(cfg))
    params = _learnable(cfg) * (_TRAIN_PER_PARAMETER + _TRAIN_PER_PARAMETER_EPOCH * epochs)
    return sim + params


def _work_bytes(cfg: SimConfig, work: str, points: int, inputs: Optional[int] = None) -> int:
    part = {"run": lambda: _run_bytes(cfg), "flow": lambda: _flow_bytes(cfg),
            "distance": lambda: _distance_bytes(cfg, points),
            "sweep": lambda: _sweep_bytes(cfg, points, inputs),
            "train": lambda: _train_bytes(cfg, points)}
    return part[work]() + _WEIGHT_BYTES[work] * _weights(cfg)


def export_bytes(cfg: SimConfig, export: str) -> int:
    """What writing one export of a run's trace allocates on top of the run."""
    if export not in _EXPORT_PER_ELEMENT:
        raise ValueError(f"export must be one of {', '.join(EXPORTS)}, got {export!r}")
    return (_EXPORT_PER_ELEMENT[export] * elements(cfg) + _EXPORT_FIXED[export]
            + _EXPORT_PER_STEP.get(export, 0) * cfg.num_steps
            + _EXPORT_PER_WEIGHT.get(export, 0) * _weights(cfg))


def _points(work: str, points: Optional[int]) -> int:
    if points is None:  # a training whose epochs are not given: the most learn.train runs
        return _MAX_EPOCHS if work == "train" else 1
    return max(1, int(points))


def estimate_bytes(cfg: SimConfig, work: str = "run", *, points: Optional[int] = None,
                   exports: Sequence[str] = (), inputs: Optional[int] = None) -> int:
    """An upper bound of the memory that ``work`` on ``cfg`` allocates at its peak.

    ``points``: for ``"sweep"`` the grid points (each is a batch element of
    one run), for ``"distance"`` the values (one gradient flow each, one
    after the other), for ``"train"`` the epochs (each keeps a copy of every
    learnable parameter; not given: the most ``learn.train`` allows, 2,000;
    elsewhere not given means 1).  ``exports``: the trace
    exports that may follow the run while it is held (the largest one
    counts: one is written at a time).  ``inputs``: for a sweep, the distinct
    input currents it makes (the distinct amplitude/offset pairs of the grid,
    1 when neither is swept); by default every point counts as one.

    ``"distance"`` counts the flow of ``cfg`` and of the recurrences the
    sweep may switch to (``V``: one_to_one, ``spectral_radius``: linear).
    """
    if work not in WORKS:
        raise ValueError(f"work must be one of {', '.join(WORKS)}, got {work!r}")
    points = _points(work, points)
    need = _work_bytes(cfg, work, points, inputs)
    if work == "distance":
        for recurrence in ("one_to_one", "linear"):
            if cfg.recurrence != recurrence:
                try:
                    other = cfg.replace(recurrence=recurrence)
                except ValueError:
                    continue
                need = max(need, _work_bytes(other, work, points))
    need += _FIXED_BYTES
    if exports:
        need += max(export_bytes(cfg, e) for e in exports)
    return need


def steps_that_fit(cfg: SimConfig, work: str = "run", *, points: Optional[int] = None,
                   exports: Sequence[str] = (), budget: Optional[int] = None,
                   inputs: Optional[int] = None) -> int:
    """The most time steps (at most ``cfg.num_steps``) whose estimate fits; 0 if none does."""
    budget = MEMORY_BUDGET_BYTES if budget is None else budget

    def fits(steps: int) -> bool:
        try:
            other = cfg.replace(num_steps=steps)
        except ValueError:
            return False
        return estimate_bytes(other, work, points=points, exports=exports, inputs=inputs) <= budget

    lo, hi = 0, cfg.num_steps  # fits(lo) (or lo == 0), and the answer is <= hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _advice(cfg: SimConfig, work: str, points: int) -> str:
    parts = [f"time steps ({cfg.num_steps:,})"]
    if cfg.batch_size > 1:
        parts.append(f"batch size ({cfg.batch_size})")
    if cfg.recurrence == "conv2d":
        parts.append(f"channels or grid size ({cfg.conv2d_channels} x {cfg.grid_size} x "
                     f"{cfg.grid_size})")
        if work in ("flow", "distance", "train") and cfg.kernel_size > 3:
            parts.append(f"kernel size ({cfg.kernel_size})")
    elif cfg.neuron_count > 1:
        parts.append(f"neurons ({cfg.neuron_count:,})")
    if work == "sweep" and cfg.state_quant_bits > 4:
        parts.append(f"state_quant_bits ({cfg.state_quant_bits})")
    if work == "sweep" and points > 1:
        parts.append(f"grid points ({points:,})")
    if work == "distance" and points > 1:
        parts.append(f"values ({points})")
    if work == "train" and points > 1:
        parts.append(f"epochs ({points:,})")
    if len(parts) == 1:
        return "reduce " + parts[0]
    return "reduce " + ", ".join(parts[:-1]) + " or " + parts[-1]


def check_budget(cfg: SimConfig, work: str = "run", *, points: Optional[int] = None,
                 exports: Sequence[str] = (), budget: Optional[int] = None,
                 inputs: Optional[int] = None) -> int:
    """The estimate of :func:`estimate_bytes`, or MemoryBudgetError if it is over the budget."""
    budget = MEMORY_BUDGET_BYTES if budget is None else budget
    points = _points(work, points)
    need = estimate_bytes(cfg, work, points=points, exports=exports, inputs=inputs)
    if need > budget:
        fit = steps_that_fit(cfg, work, points=points, exports=exports, budget=budget,
                             inputs=inputs)
        what = {"run": "this run", "flow": "the gradients of this run",
                "distance": "this gradient sweep", "sweep": "this sweep",
                "train": "training this network"}[work]
        if exports and work == "run":
            what += " and its " + "/".join(exports) + " export"
        raise MemoryBudgetError(
            f"{what} would need about {need / 2**20:,.0f} MB, over the server's budget of "
            f"{budget / 2**20:,.0f} MB: {_advice(cfg, work, points)}"
            + (f" (about {fit:,} time steps would fit)" if 0 < fit < cfg.num_steps else ""))
    return need
