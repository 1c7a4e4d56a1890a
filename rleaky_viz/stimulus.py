"""Input currents: the stimulus a :class:`SimConfig` describes, as a tensor.

``make_input(cfg)`` returns ``(T, batch, *neuron_shape)``.  Random stimuli
(noise, Poisson) draw from a generator seeded by ``cfg.seed``, so the same
config gives the same input.

Two stimuli come from users and are treated as untrusted:

* a math expression of ``t`` (and ``n``, the neuron index), parsed and
  checked against an allow-list of syntax, names and functions, then
  evaluated by ``simpleeval`` with numpy arrays: never Python's ``eval``;
* an uploaded CSV, checked for type, size, shape and finite numbers.

Both raise :class:`StimulusError`, whose message says what is wrong and what
is allowed, for the page to show in place.
"""
from __future__ import annotations

import ast
import math
import re
from typing import Sequence

import numpy as np
import torch
from simpleeval import SimpleEval

from .config import SimConfig

__all__ = ["StimulusError", "make_input", "make_inputs", "evaluate_expression", "parse_csv", "EXPRESSION_HELP",
           "MAX_EXPRESSION_LENGTH", "MAX_CSV_BYTES", "MAX_CURRENT"]

MAX_EXPRESSION_LENGTH = 200
MAX_EXPRESSION_DEPTH = 12
MAX_EXPONENT = 16
MAX_CSV_BYTES = 2_000_000
MAX_CSV_ROWS = 10_000
MAX_CSV_COLUMNS = 1_000
# Input currents from an expression or a CSV must stay within this (typed stimuli
# stay within ±30): checked in float32, the dtype of the run, so that nothing that
# is finite here becomes infinite there, and membranes stay finite for 10,000 steps.
MAX_CURRENT = 10_000.0


class StimulusError(ValueError):
    """A stimulus that cannot be built, with a message for the user."""


def _power(a, b):
    if np.any(np.abs(b) > MAX_EXPONENT):
        raise StimulusError(f"exponents are limited to ±{MAX_EXPONENT}")
    return np.power(np.asarray(a, dtype=float), b)


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(a, b)


def _cmp(op):
    return lambda a, b: op(a, b).astype(float)


_OPERATORS = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: _div,
    ast.Pow: _power, ast.Mod: np.mod, ast.USub: np.negative, ast.UAdd: np.positive,
    ast.Gt: _cmp(np.greater), ast.Lt: _cmp(np.less), ast.GtE: _cmp(np.greater_equal),
    ast.LtE: _cmp(np.less_equal),
}
_FUNCTIONS = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "abs": np.abs, "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil,
    "sign": np.sign, "minimum": np.minimum, "maximum": np.maximum,
    "clip": np.clip, "where": np.where,
    "step": lambda x: (np.asarray(x) > 0).astype(float),
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Name,
                  ast.Load, ast.Constant, *(_OPERATORS))

EXPRESSION_HELP = (
    "Use t (step 0..T-1), n (neuron index 0..N-1), numbers, + - * / % **, comparisons "
    "(they give 1 or 0), pi, e and the functions " + ", ".join(sorted(_FUNCTIONS)) + ". "
    f"At most {MAX_EXPRESSION_LENGTH} characters; exponents within ±{MAX_EXPONENT}; values "
    f"within ±{MAX_CURRENT:g}."
)


def _check_tree(tree: ast.AST, names: set[str]) -> None:
    def walk(node, depth):
        if depth > MAX_EXPRESSION_DEPTH:
            raise StimulusError(f"expression is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)")
        if isinstance(node, ast.Attribute):
            raise StimulusError("attribute access (a.b) is not allowed in expressions")
        if isinstance(node, ast.Subscript):
            raise StimulusError("indexing (a[i]) is not allowed in expressions")
        if not isinstance(node, _ALLOWED_NODES):
            raise StimulusError(f"'{type(node).__name__}' is not allowed in expressions. {EXPRESSION_HELP}")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                               or not isinstance(node.value, (int, float))):
            raise StimulusError("only numbers are allowed as constants in expressions")
        if isinstance(node, ast.Name) and node.id not in names:
            if node.id.startswith("_"):
                raise StimulusError(f"names starting with '_' are not allowed ({node.id!r})")
            raise StimulusError(f"unknown name {node.id!r}. {EXPRESSION_HELP}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                raise StimulusError(f"only these functions may be called: {', '.join(sorted(_FUNCTIONS))}")
            if node.keywords:
                raise StimulusError("keyword arguments are not allowed in expressions")
        for child in ast.iter_child_nodes(node):
            walk(child, depth + 1)
    walk(tree, 0)


def evaluate_expression(text: str, num_steps: int, num_neurons: int = 1) -> np.ndarray:
    """The expression's value for every step and neuron, shape ``(T, N)``."""
    if not isinstance(text, str) or not text.strip():
        raise StimulusError(f"expression is empty. {EXPRESSION_HELP}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise StimulusError(f"expression is {len(text)} characters long; at most "
                            f"{MAX_EXPRESSION_LENGTH} are allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise StimulusError(f"expression is not valid: {e.msg} (column {e.offset})") from None
    except (ValueError, RecursionError, MemoryError):
        raise StimulusError("expression could not be read") from None
    t = np.arange(num_steps, dtype=float)[:, None]
    n = np.arange(num_neurons, dtype=float)[None, :]
    names = {"t": t, "n": n, **_CONSTANTS}
    _check_tree(tree, set(names) | set(_FUNCTIONS))
    evaluator = SimpleEval(operators=_OPERATORS, functions=_FUNCTIONS, names=names)
    try:
        with np.errstate(all="ignore"):
            value = evaluator.eval(text.strip(), previously_parsed=tree.body)
    except StimulusError:
        raise
    except Exception as e:  # the evaluator's own refusals and numpy errors
        raise StimulusError(f"expression could not be evaluated: {e}") from None
    try:
        value = np.broadcast_to(np.asarray(value, dtype=float), (num_steps, num_neurons))
    except (TypeError, ValueError):
        raise StimulusError("expression must give a number for each step") from None
    finite = np.isfinite(value)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise StimulusError(f"expression is not finite at t = {bad} (division by zero, log of a "
                            "negative number or an overflow?)")
    too_big = np.abs(value) > MAX_CURRENT
    if too_big.any():
        bad = int(np.flatnonzero(too_big.any(axis=1))[0])
        raise StimulusError(f"expression reaches {float(np.abs(value[bad]).max()):.3g} at t = {bad}; "
                            f"input currents must stay within ±{MAX_CURRENT:g}")
    return np.ascontiguousarray(value)


def parse_csv(data: bytes, num_neurons: int, name: str = "upload") -> np.ndarray:
    """An uploaded CSV as ``(rows, columns)`` floats: one column, or one per neuron.

    A header row is allowed (detected when the first row is not numeric).
    """
    if not isinstance(data, (bytes, bytearray)):
        raise StimulusError("the upload must be a file")
    if len(data) == 0:
        raise StimulusError(f"{name} is empty")
    if len(data) > MAX_CSV_BYTES:
        raise StimulusError(f"{name} is {len(data) / 1e6:.1f} MB; at most "
                            f"{MAX_CSV_BYTES / 1e6:.0f} MB are allowed")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StimulusError(f"{name} is not a text CSV file (it is not UTF-8)") from None
    if "\x00" in text:
        raise StimulusError(f"{name} is not a text CSV file")
    # records end at line breaks only: \r\n, \n or \r (str.splitlines would also split
    # at form feeds, \x1c-\x1e, U+2028 ...)
    lines = [ln for ln in re.split(r"\r\n|\r|\n", text) if ln.strip()]
    if not lines:
        raise StimulusError(f"{name} has no rows")
    rows = [ln.split(",") for ln in lines]
    if not _numeric_row(rows[0]):
        rows = rows[1:]  # a header
    if not rows:
        raise StimulusError(f"{name} has a header but no numbers")
    if len(rows) > MAX_CSV_ROWS:
        raise StimulusError(f"{name} has {len(rows)} rows; at most {MAX_CSV_ROWS} are allowed")
    width = len(rows[0])
    if width > MAX_CSV_COLUMNS:
        raise StimulusError(f"{name} has {width} columns; at most {MAX_CSV_COLUMNS} are allowed")
    values = np.empty((len(rows), width))
    for i, row in enumerate(rows):
        if len(row) != width:
            raise StimulusError(f"{name}: row {i + 1} has {len(row)} columns, the first has {width}")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise StimulusError(f"{name}: row {i + 1}, column {j + 1} is not a number "
                                    f"({cell.strip()[:20]!r})") from None
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise StimulusError(f"{name}: row {i + 1}, column {j + 1} is NaN or infinite; "
                            "only finite numbers are allowed")
    if (np.abs(values) > MAX_CURRENT).any():  # includes what float32 would turn into inf
        i, j = np.argwhere(np.abs(values) > MAX_CURRENT)[0]
        raise StimulusError(f"{name}: row {i + 1}, column {j + 1} is {values[i, j]:.3g}; input "
                            f"currents must lie within ±{MAX_CURRENT:g}")
    if width not in (1, num_neurons):
        raise StimulusError(f"{name} has {width} columns: give one column (the same current "
                            f"for every neuron) or {num_neurons} (one per neuron)")
    return values


def _numeric_row(row) -> bool:
    try:
        [float(c) for c in row]
        return True
    except ValueError:
        return False


def make_input(cfg: SimConfig, upload: np.ndarray | None = None) -> torch.Tensor:
    """The input current of ``cfg``, shape ``(T, batch, *neuron_shape)``, float32, CPU.

    ``upload`` (from :func:`parse_csv`) is used when ``cfg.stimulus == "csv"``;
    it is repeated or cut to ``T`` rows.
    """
    current = _currents(cfg, np.array([cfg.amplitude], dtype=float),
                        np.array([cfg.offset], dtype=float), upload)[0]
    return torch.from_numpy(current).reshape(cfg.num_steps, cfg.batch_size, *cfg.neuron_shape)


def make_inputs(cfg: SimConfig, upload: np.ndarray | None = None,
                **values: Sequence[float]) -> torch.Tensor:
    """The currents of ``cfg`` for K settings of its amplitude and offset, ``(T, K, batch, *shape)``.

    ``values``: ``amplitude=[...]`` and/or ``offset=[...]``, K values each (a
    field not given keeps ``cfg``'s value).  Element ``[:, k]`` is bit for
    bit ``make_input(cfg.replace(amplitude=..., offset=...))`` of setting k:
    one pass does, for all k at once, the same float64 operations in the
    same order (the random draws, the same for every k, are made once).
    The values must already be checked (``check_value``).
    """
    amplitudes, offsets = values.pop("amplitude", None), values.pop("offset", None)
    if values:
        raise ValueError(f"make_inputs varies the amplitude and the offset, not {sorted(values)}")
    given = amplitudes if amplitudes is not None else offsets if offsets is not None else ()
    a = np.asarray(amplitudes if amplitudes is not None else [cfg.amplitude] * len(given), dtype=float)
    o = np.asarray(offsets if offsets is not None else [cfg.offset] * len(given), dtype=float)
    if a.ndim != 1 or a.shape != o.shape or not len(a):
        raise ValueError("make_inputs needs as many amplitudes as offsets, at least one")
    T, K, B = cfg.num_steps, len(a), cfg.batch_size
    out = torch.empty((T, K, B, *cfg.neuron_shape), dtype=torch.float32)
    view = out.numpy().reshape(T, K, B, cfg.neuron_count)
    # a few settings at a time: the float64 work stays near _CHUNK elements however many
    # settings a sweep has (each chunk draws the same random numbers again)
    step = max(1, _CHUNK // (T * B * cfg.neuron_count))
    for k in range(0, K, step):
        view[:, k:k + step] = _currents(cfg, a[k:k + step], o[k:k + step], upload).transpose(1, 0, 2, 3)
    return out


_CHUNK = 1 << 21


def _currents(cfg: SimConfig, a: np.ndarray, offset: np.ndarray,
              upload: np.ndarray | None) -> np.ndarray:
    """``(K, T, batch, N)`` float32: the stimulus of ``cfg`` for each amplitude ``a[k]``
    and offset ``offset[k]`` (one K = make_input's own case)."""
    T, B = cfg.num_steps, cfg.batch_size
    N, K = cfg.neuron_count, len(a)
    rng = np.random.default_rng(cfg.seed)
    t = np.arange(T, dtype=float)[:, None]
    kind = cfg.stimulus
    a = a[:, None, None]  # (K, 1, 1) against (T, 1) or, for Poisson, (T, B, N)
    if kind == "constant":
        base = np.broadcast_to(a, (K, T, 1))
    elif kind == "step":
        base = np.where(t >= cfg.onset, a, 0.0)
    elif kind == "pulse":
        base = np.where((t % cfg.period) < cfg.width, a, 0.0)
    elif kind == "ramp":
        base = a * t / max(T - 1, 1)
    elif kind == "sine":
        base = a * np.sin(2 * np.pi * t / cfg.period)
    elif kind == "noise":
        base = np.broadcast_to(a, (K, T, 1))
    elif kind == "poisson":
        base = a[..., None] * (rng.random((T, B, N)) < cfg.rate)
    elif kind == "expression":
        base = evaluate_expression(cfg.expression, T, N)[None]
    elif kind == "csv":
        if upload is None:
            raise StimulusError("choose a CSV file to upload (stimulus = csv)")
        reps = -(-T // upload.shape[0])
        base = np.tile(upload, (reps, 1))[:T][None]
    else:  # SimConfig has already refused anything else
        raise StimulusError(f"unknown stimulus {kind!r}")
    base = np.asarray(base, dtype=float)
    if base.ndim == 3:
        base = base[:, :, None, :]  # (K or 1, T, 1, 1 or N)
    current = np.broadcast_to(base, (K, T, B, N)).copy()
    if cfg.input_spread > 0 and N > 1 and kind not in ("expression", "csv"):
        scale = 1 - cfg.input_spread + 2 * cfg.input_spread * np.arange(N) / (N - 1)
        current *= scale
    current += offset[:, None, None, None]
    if cfg.noise_std > 0:  # "noise" is amplitude plus this; any other shape can add it too
        current += rng.normal(0.0, cfg.noise_std, size=(T, B, N))
    current = current.astype(np.float32)
    if not np.isfinite(current).all():  # a last guard: every source above is bounded
        raise StimulusError("the input current is not finite in float32")
    return current
