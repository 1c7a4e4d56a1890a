"""The run service: from a config and its uploads to a result, with every check on the way.

Free of Streamlit, so that the app (``ui/runner``: cache wrappers around it)
and the command line (``cli``) run a configuration the same way:

* **uploads** are untrusted: a CSV of input currents (:func:`read_csv_upload`)
  and an snnTorch state dict (:func:`load_state_dict_bytes`), each bounded in
  size before it is parsed, checked value by value in the dtype the run uses
  (float32), and refused with a message that names the field and what is
  allowed;
* the **memory budget**: :func:`estimate_bytes` is an upper bound of what a run
  (and an export of it) allocates, measured by ``tests/test_memory_budget.py``
  in child processes; :func:`check_budget` refuses a run over
  ``RLEAKY_VIZ_MEMORY_MB`` before it starts and says how to make it fit;
* **admission**: :func:`admit` holds a run until the memory of the runs in
  flight in this process fits ``RLEAKY_VIZ_SERVER_MEMORY_MB``, so a handful of
  worst-case links at once cannot add up to more than the server has;
* the **run** itself (:func:`run`, :func:`run_flow`), whose result is checked
  to be finite before anyone sees it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import stat
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterator, Mapping, Optional, Sequence, TypeVar

import numpy as np
import torch

from .budget import (EXPORTS, MEMORY_BUDGET_BYTES, WORKS, MemoryBudgetError, check_budget, env_mb,
                     estimate_bytes, export_bytes)
from .config import SimConfig, quote
from .simulate import StateDictError, Trace, simulate
from .stimulus import MAX_CSV_BYTES, StimulusError, parse_csv

__all__ = ["MemoryBudgetError", "ServerBusyError", "UploadError", "StateDictError", "StimulusError",
           "USER_ERRORS", "MEMORY_BUDGET_BYTES", "SERVER_MEMORY_BYTES", "MAX_STATE_DICT_BYTES",
           "MAX_CONFIG_BYTES", "WORKS", "EXPORTS", "estimate_bytes", "export_bytes",
           "check_budget", "admit", "read_bounded", "read_csv_upload", "load_state_dict_bytes",
           "prepare_uploads", "uses_state_dict", "run_config", "open_nir", "NIR_READ_BYTES", "run", "run_flow", "check_finite", "ResultCache", "CACHE_BYTES", "run_trusted", "work_units",
           "check_compute", "TooMuchWorkError", "MAX_WORK_UNITS",
           "state_digest",
           "digest", "nbytes"]


# What all the runs in flight in this process may allocate together.
SERVER_MEMORY_BYTES = env_mb("RLEAKY_VIZ_SERVER_MEMORY_MB", 2048)
# What the shared cache of results may hold, all sessions together.
CACHE_BYTES = env_mb("RLEAKY_VIZ_CACHE_MB", 512)
MAX_STATE_DICT_BYTES = 20 * 2**20       # the .pt file, and what it unpacks to
MAX_STATE_DICT_MEMBERS = 4096
MAX_CONFIG_BYTES = 65_536


class UploadError(ValueError):
    """An uploaded or named file that cannot be used, with a message for the user."""


class ServerBusyError(MemoryBudgetError):
    """Too many large runs at once: this one waited and did not get its memory."""


class RunError(ValueError):
    """A run whose result is not finite (a guard: the checks above should prevent it)."""


USER_ERRORS = (StimulusError, StateDictError, MemoryBudgetError, UploadError, RunError)

# ----------------------------------------------------------------------------- compute
# Memory is not the only thing one link can take: a sweep the memory budget allows
# could hold a core for minutes.  Work is counted in neuron-steps (one neuron of one
# sample for one step, ~0.1 us of element-wise work here) plus the recurrent
# multiply-adds, which BLAS and the conv kernels do about a hundred times faster
# each.  RLEAKY_VIZ_MAX_WORK caps one request (default 4e8: about 15 s on one core
# of the 2-core machine this was measured on; a 1,000-neuron linear population over
# 10,000 steps is 1.1e8).
MAX_WORK_UNITS = float(os.environ.get("RLEAKY_VIZ_MAX_WORK", "4e8") or "4e8")
_MAC_WEIGHT = 0.01
_WORK_FACTOR = {"run": 1.0, "flow": 3.0, "distance": 3.0, "sweep": 1.0, "train": 3.0}


class TooMuchWorkError(MemoryBudgetError):
    """A request that would keep a core of the shared server busy for too long."""


def _recurrent_macs(cfg: SimConfig) -> int:
    if cfg.recurrence == "linear":
        return cfg.num_neurons ** 2
    if cfg.recurrence == "conv2d":
        return cfg.conv2d_channels ** 2 * cfg.kernel_size ** 2 * cfg.grid_size ** 2
    return 0


def work_units(cfg: SimConfig, work: str = "run", *, points: int = 1, epochs: int = 1) -> float:
    """The computation a request asks for, in neuron-steps (see MAX_WORK_UNITS)."""
    per_step = cfg.neuron_count + _MAC_WEIGHT * _recurrent_macs(cfg)
    repeats = max(1, int(points)) * (max(1, int(epochs)) if work == "train" else 1)
    return _WORK_FACTOR[work] * cfg.num_steps * cfg.batch_size * per_step * repeats


def check_compute(cfg: SimConfig, work: str = "run", *, points: int = 1, epochs: int = 1,
                  limit: Optional[float] = None) -> float:
    """The work of a request, or TooMuchWorkError (saying what to reduce) if it is over the cap."""
    limit = MAX_WORK_UNITS if limit is None else limit
    units = work_units(cfg, work, points=points, epochs=epochs)
    if units > limit:
        what = {"run": "this run", "flow": "the gradients of this run",
                "distance": "this gradient sweep", "sweep": "this sweep",
                "train": "this training"}[work]
        extra = {"sweep": ", or sweep fewer points", "distance": ", or fewer values",
                 "train": ", or train for fewer epochs"}.get(work, "")
        raise TooMuchWorkError(
            f"{what} is too much computation for a shared server ({units:.2g} neuron-steps; "
            f"at most {limit:.2g}): reduce time steps ({cfg.num_steps:,}), batch size "
            f"({cfg.batch_size}) or neurons ({cfg.neuron_count:,}){extra}. The command line "
            "(rleaky-viz simulate) has no such limit.")
    return units


class _Admission:
    """Memory reserved by the runs in flight in this process (shared by every session)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._held = 0

    @contextmanager
    def hold(self, need: int, capacity: int, wait_s: float) -> Iterator[None]:
        need = min(need, capacity)  # a run under the per-run budget always gets in eventually
        deadline = time.monotonic() + wait_s
        with self._cond:
            while self._held + need > capacity:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerBusyError(
                        "the server is busy with other large runs just now: try again in a "
                        "moment, or make this run smaller")
                self._cond.wait(left)
            self._held += need
        try:
            yield
        finally:
            with self._cond:
                self._held -= need
                self._cond.notify_all()

    @property
    def held(self) -> int:
        return self._held


_ADMISSION = _Admission()


def admit(need: int, *, wait_s: float = 30.0, capacity: Optional[int] = None):
    """A context that holds ``need`` bytes of the server's run memory while it lasts."""
    return _ADMISSION.hold(need, SERVER_MEMORY_BYTES if capacity is None else capacity, wait_s)


# ----------------------------------------------------------------------------- files
def read_bounded(path: str | os.PathLike, limit: int, option: str) -> bytes:
    """A regular file's bytes, at most ``limit`` of them (a device or a pipe is refused)."""
    try:
        info = os.stat(path)
    except OSError as e:
        raise UploadError(f"{option}: cannot read {quote(path)}: {e.strerror or e}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UploadError(f"{option}: {quote(path)} is not a regular file")
    if info.st_size > limit:
        raise UploadError(f"{option}: {Path(path).name} is {info.st_size / 2**20:.1f} MB; at most "
                          f"{_size(limit)} are allowed")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise UploadError(f"{option}: cannot read {quote(path)}: {e.strerror or e}") from None
    if len(data) > limit:  # it grew while we looked
        raise UploadError(f"{option}: {Path(path).name} is over {_size(limit)}")
    return data


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n / 1024:g} kB"


def read_csv_upload(data: bytes, cfg: SimConfig, name: str = "upload") -> np.ndarray:
    """An input-current CSV for ``cfg`` (see :func:`stimulus.parse_csv`)."""
    return parse_csv(data, cfg.neuron_count, name=name)


# ----------------------------------------------------------------------------- state dicts
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_MAX_TENSOR_ELEMENTS = 4 * 1000 * 1000  # far more than a 1,000-neuron layer holds


def _check_archive(data: bytes) -> None:
    """Refuse a .pt archive before torch reads it: size, members, and what they unpack to."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile, and NotImplementedError for a version it cannot read
        raise StateDictError("state dict: the file is not a PyTorch state dict that can be loaded "
                             "safely (with weights_only=True, from the zip archive torch.save "
                             "writes)") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_STATE_DICT_MEMBERS:
            raise StateDictError(f"state dict: the archive has {len(members):,} members; at most "
                                 f"{MAX_STATE_DICT_MEMBERS:,} are allowed")
        declared = sum(m.file_size for m in members)
        if declared > MAX_STATE_DICT_BYTES:
            raise StateDictError(f"state dict: the archive unpacks to {declared / 2**20:,.1f} MB; "
                                 f"at most {_size(MAX_STATE_DICT_BYTES)} are allowed")
        # Inflate the compressed members, counting: zipfile stops at each member's
        # declared size and checks its CRC, so a member that holds more than it
        # declares is refused here as damaged, before torch reads a byte of it.
        total = 0
        for m in members:
            if m.compress_type == zipfile.ZIP_STORED:
                total += m.compress_size
                continue
            try:
                with archive.open(m) as f:
                    while chunk := f.read(1 << 20):
                        total += len(chunk)
                        if total > MAX_STATE_DICT_BYTES:
                            raise StateDictError(
                                "state dict: the archive unpacks to more than "
                                f"{_size(MAX_STATE_DICT_BYTES)}; a state dict saved by "
                                "torch.save is not compressed")
            except StateDictError:
                raise
            except Exception:
                raise StateDictError("state dict: the archive is damaged "
                                     f"(member {m.filename[:60]!r} cannot be read)") from None
        if total > MAX_STATE_DICT_BYTES:
            raise StateDictError(f"state dict: the archive unpacks to more than "
                                 f"{_size(MAX_STATE_DICT_BYTES)}")


def _check_tensor(key: str, value: torch.Tensor) -> None:
    where = f"state dict '{key[:60]}'"
    if getattr(value, "is_nested", False):
        raise StateDictError(f"{where} is a nested tensor; only dense (strided) tensors are allowed")
    if value.layout != torch.strided or value.is_sparse:
        raise StateDictError(f"{where} is a {str(value.layout).replace('torch.', '')} tensor; only "
                             "dense (strided) tensors are allowed")
    if value.device.type != "cpu" or value.is_meta:
        raise StateDictError(f"{where} is on the {value.device.type} device (no data); only "
                             "tensors with their values saved are allowed")
    if value.is_quantized:
        raise StateDictError(f"{where} is a quantised tensor; only plain tensors are allowed")
    if value.numel() > _MAX_TENSOR_ELEMENTS:
        raise StateDictError(f"{where} has {value.numel():,} elements; at most "
                             f"{_MAX_TENSOR_ELEMENTS:,} are allowed")
    if value.numel() and value.untyped_storage().nbytes() < value.element_size():
        raise StateDictError(f"{where} has no values saved")


def upload_bytes(data, limit: int, what: str, error: type = None) -> bytes:
    """An upload as ``bytes``, or ``error`` (default :class:`UploadError`) naming ``what`` when
    it is not a file's content or is larger than ``limit`` bytes."""
    error = error or UploadError
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"{what}: the upload must be a file")
    data = bytes(data)
    if len(data) > limit:
        raise error(f"{what}: the file is {len(data) / 2**20:.1f} MB; at most {_size(limit)} "
                    "are allowed")
    return data


def load_state_dict_bytes(data: bytes) -> dict:
    """An uploaded ``.pt`` state dict, checked before, while and after ``torch.load``.

    Before: its size and the archive's members (what they unpack to, read
    and checked against their CRCs).  While: ``weights_only=True``, so no code
    in the file runs.  After: a mapping of names, every tensor dense, on the
    CPU with its values, and of a bounded size.  Values are checked against
    the layer they go into by ``simulate.load_recurrent_state``.
    """
    data = upload_bytes(data, MAX_STATE_DICT_BYTES, "state dict", StateDictError)
    _check_archive(data)
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, or one holding more than tensors
        raise StateDictError(f"state dict: the file is not a PyTorch state dict that can be "
                             f"loaded safely with weights_only=True ({type(e).__name__})") from None
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise StateDictError("state dict: the file does not hold a state dict (names mapped to "
                             "tensors)")
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            _check_tensor(key, value)
    return dict(obj)


def uses_state_dict(cfg: SimConfig) -> bool:
    """Whether ``cfg``'s run takes its recurrent weights from an uploaded state dict."""
    return cfg.weight_init == "state_dict" and cfg.recurrence == "linear"


def run_config(cfg: SimConfig, trace: Trace) -> Optional[SimConfig]:
    """``cfg`` as ``trace``'s run had it: where a state dict was uploaded (:func:`uses_state_dict`)
    its β, θ, V and g replace the sidebar's, as they did in the run.  None where one of them
    differs across neurons (no one config then describes the run); ``cfg`` itself otherwise."""
    if not uses_state_dict(cfg):
        return cfg
    values = {}
    from .core.neuron import STATE_TENSORS  # what a state dict sets besides the weights

    for name in STATE_TENSORS:
        value = getattr(trace.neuron, name, None)
        if not isinstance(value, torch.Tensor):
            continue
        flat = value.detach().double().reshape(-1)
        if flat.numel() == 0 or not bool((flat == flat[0]).all()):
            return None
        values[name] = float(flat[0])
    try:
        return cfg.with_checked(**values)
    except (TypeError, ValueError):  # a value the sidebar could not hold: no one config
        return None


# Reading a NIR graph here: the file (at most nirgraph.MAX_NIR_BYTES), the child reader's
# answer and a few float64 copies of its values (at most hdf5_reader.MAX_TOTAL_ELEMENTS), plus
# the state dict it makes.  The child's own memory is capped in it (hdf5_reader), two at a time.
from .hdf5_reader import MAX_TOTAL_ELEMENTS as _NIR_VALUES  # noqa: E402

NIR_READ_BYTES = 2 * 20 * 2**20 + 6 * 8 * _NIR_VALUES


def open_nir(data: bytes) -> tuple[SimConfig, Optional[bytes]]:
    """A NIR graph's config and, where the config cannot hold them, its weights as state-dict
    bytes (for ``run(cfg, pt_bytes=...)``, which checks them as any upload), read inside the
    server's memory gate.  Raises ``nirgraph.NIRImportError`` naming the node or parameter."""
    from .nirgraph import from_nir, state_dict_bytes

    with admit(NIR_READ_BYTES):
        cfg, state = from_nir(data)
        return cfg, (state_dict_bytes(state) if state else None)


def prepare_uploads(cfg: SimConfig, csv_bytes: Optional[bytes] = None,
                    pt_bytes: Optional[bytes] = None):
    """The parsed uploads a config needs: ``(input array or None, state dict or None)``."""
    upload = (read_csv_upload(csv_bytes, cfg)
              if (cfg.stimulus == "csv" and csv_bytes is not None) else None)
    uses_state = uses_state_dict(cfg)
    state = load_state_dict_bytes(pt_bytes) if (uses_state and pt_bytes is not None) else None
    if uses_state and state is None:
        raise StateDictError("choose a .pt file holding an snnTorch RLeaky state dict to upload")
    return upload, state


# ----------------------------------------------------------------------------- runs
def check_finite(trace: Trace) -> Trace:
    """``trace`` if its membranes and inputs are finite, else RunError (never shown as inf)."""
    for name in ("input", "mem"):
        t = getattr(trace, name)
        if not bool(torch.isfinite(t).all()):
            raise RunError(f"this run's {'membrane' if name == 'mem' else 'input'} left the range "
                           "of float32 (it became infinite): lower the input, the weights or the "
                           "graded spike factor")
    return trace


def run(cfg: SimConfig, csv_bytes: Optional[bytes] = None, pt_bytes: Optional[bytes] = None, *,
        progress: Optional[Callable[[int, int], None]] = None,
        exports: Sequence[str] = (), budget: Optional[int] = None,
        max_work: Optional[float] = None, wait_s: float = 30.0) -> Trace:
    """Check, admit and simulate ``cfg`` with its uploads: the one way a run starts.

    ``budget`` and ``max_work`` default to the server's limits
    (RLEAKY_VIZ_MEMORY_MB, RLEAKY_VIZ_MAX_WORK); the CLI passes its own.
    """
    need = check_budget(cfg, "run", exports=exports, budget=budget)
    check_compute(cfg, "run", limit=max_work)
    upload, state = prepare_uploads(cfg, csv_bytes, pt_bytes)
    with admit(need, wait_s=wait_s):
        trace = simulate(cfg, upload=upload, state_dict=state, progress=progress)
    return check_finite(trace)


def run_live(cfg: SimConfig, csv_bytes: Optional[bytes] = None, pt_bytes: Optional[bytes] = None,
             *, neuron: int = 0, batch: int = 0, fields: Optional[Sequence[str]] = None,
             overlay: bool = False, reuse=None, wait_s: float = 30.0):
    """The live chart's frames of ``cfg`` (``live.live_frames``) with its uploads.

    Their size is bounded by ``live.MAX_LIVE_ELEMENT_STEPS`` (about 10 float32
    recordings of at most that many neuron-steps, ~80 MB), so a run that the
    budget admitted can always show them or gets ``live.live_off_reason``.
    ``reuse``: earlier frames with the same uploads (``live.live_frames``).
    """
    from . import live

    need = check_budget(cfg, "run")
    upload, state = prepare_uploads(cfg, csv_bytes, pt_bytes)
    with admit(need, wait_s=wait_s):
        return live.live_frames(cfg, neuron, batch, fields=fields, upload=upload,
                                state_dict=state, overlay=overlay, reuse=reuse)


def run_trusted(cfg: SimConfig, state_dict: Mapping[str, torch.Tensor], *,
                budget: Optional[int] = None, wait_s: float = 30.0) -> Trace:
    """Run ``cfg`` with parameters this program made (a training's result), admitted.

    Shapes and finiteness are checked as for an upload; the controls' bounds
    are not, since training may carry β or θ past them.
    """
    need = check_budget(cfg, "run", budget=budget)
    with admit(need, wait_s=wait_s):
        trace = simulate(cfg, state_dict=state_dict, trusted_state=True)
    return check_finite(trace)


def state_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A cache key for a state dict: its names, shapes, dtypes and values."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key]
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{tuple(t.shape)}{t.dtype}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def run_flow(cfg: SimConfig, csv_bytes: Optional[bytes] = None, pt_bytes: Optional[bytes] = None,
             *, budget: Optional[int] = None, wait_s: float = 30.0):
    """``flows.gradient_flow`` for ``cfg`` with its uploads, checked and admitted."""
    from .flows import gradient_flow

    need = check_budget(cfg, "flow", budget=budget)
    check_compute(cfg, "flow")
    upload, state = prepare_uploads(cfg, csv_bytes, pt_bytes)
    with admit(need, wait_s=wait_s):
        return gradient_flow(cfg, upload=upload, state_dict=state)


# ----------------------------------------------------------------------------- results cache
R = TypeVar("R")


def digest(data: Optional[bytes]) -> Optional[str]:
    """A cache key for an upload's bytes (None stays None)."""
    return None if data is None else hashlib.sha256(bytes(data)).hexdigest()


_SCALARS = frozenset((float, int, bool, type(None)))


def nbytes(obj: Any, _depth: int = 0) -> int:
    """The bytes held by the tensors and arrays inside a result (dataclass, dict, list)."""
    if _depth > 6 or type(obj) is SimConfig:  # a config holds plain values only
        return 0
    if isinstance(obj, torch.Tensor):
        return obj.untyped_storage().nbytes() if obj.layout == torch.strided else 0
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (bytes, bytearray, str)):
        return len(obj)
    if isinstance(obj, torch.nn.Module):
        return sum(nbytes(t, _depth + 1) for t in obj.state_dict().values())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(nbytes(getattr(obj, f.name), _depth + 1) for f in dataclasses.fields(obj))
    if isinstance(obj, Mapping):
        return sum(nbytes(v, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        if all(type(v) in _SCALARS for v in obj):  # numbers (a run's values, positions): no walk
            return 0
        return sum(nbytes(v, _depth + 1) for v in obj)
    if hasattr(obj, "memory_usage") and hasattr(obj, "columns"):  # a pandas DataFrame
        return int(obj.memory_usage(index=True, deep=False).sum())
    return 0


class ResultCache:
    """A least-recently-used cache of results, bounded in bytes, safe to share between threads.

    Two sessions asking for the same key at once compute it once: the second
    waits for the first.  A failure is not cached.  A result larger than the
    whole cache is returned but not kept.  Results are shared, never copied:
    callers must not change them.
    """

    def __init__(self, max_bytes: int, max_entries: int = 64):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._items: "OrderedDict[Hashable, tuple[Any, int]]" = OrderedDict()
        self._pending: dict = {}
        self._bytes = 0

    def holds(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], R]) -> R:
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
                event = self._pending.get(key)
                if event is None:
                    event = self._pending[key] = threading.Event()
                    break
            event.wait()  # someone else is computing it; then look again
        try:
            value = compute()
        except BaseException:
            with self._lock:
                self._pending.pop(key, None)
            event.set()
            raise
        size = nbytes(value)
        with self._lock:
            self._pending.pop(key, None)
            if size <= self.max_bytes:
                self._items[key] = (value, size)
                self._bytes += size
                while self._items and (self._bytes > self.max_bytes
                                       or len(self._items) > self.max_entries):
                    _, (_, old) = self._items.popitem(last=False)
                    self._bytes -= old
        event.set()
        return value
