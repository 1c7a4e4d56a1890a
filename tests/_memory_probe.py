"""Measure the peak memory of a piece of work, as the app runs it, in child processes.

Used by ``tests/test_memory_budget.py`` (and by hand, to choose the constants
of ``rleaky_viz/budget.py``)::

    python tests/_memory_probe.py < specs.json > results.json

``specs.json`` is a list of specs, each a dict::

    {"id": "...", "cfg": {SimConfig fields}, "work": "run" | "flow" | "distance" | "sweep" | "train",
     "exports": ["csv", ...],            # run: written one after the other while the trace is held
     "grid": {"beta": [...], ...},       # sweep
     "parameter": "beta", "values": [...],  # distance
     "epochs": 3, "target": "spike_train"   # train
     "progress": true,                  # run: with a progress callback, as the CLI does
     "budget_mb": 256,                  # the budget checked (default: RLEAKY_VIZ_MEMORY_MB)
     "as_cap": true}                    # cap the address space at (now + budget + slack)

This process imports everything, sets one torch thread (as the app does) and
warms up with a tiny run of every kind; then each spec runs in a child forked
from it, so that every child starts from the same warmed-up memory and its
high-water mark is its own.  A child resets the high-water mark
(``/proc/self/clear_refs``), reads its RSS, runs the work through the same
entry points as the app (``service.run`` / ``service.run_flow``, which check
the budget of ``RLEAKY_VIZ_MEMORY_MB`` first), and reports the growth of the
high-water mark (the peak, freed memory that glibc keeps included).

Each result: ``{"id", "status": "ok" | "refused" | "memory_error" | "error",
"peak_bytes", "seconds", "message", "exit_code"}`` (the child's exit code
says the same: 0 ok, 3 refused by the budget, 4 out of memory, 1 error); with
``as_cap`` also ``"cap_bytes"``.  A child that dies (killed, crashed)
reports ``"status": "died"``.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback

import torch

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from rleaky_viz import budget, export, figures, flows, learn, service, sweeps  # noqa: E402
from rleaky_viz.config import SimConfig  # noqa: E402

# What the address-space cap allows on top of the budget: thread stacks, malloc
# arenas and mappings that reserve address space they never touch.
AS_SLACK_BYTES = 256 * 2**20
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def rss() -> int:
    return _status_kb("VmRSS")


def address_space() -> int:
    return _status_kb("VmSize")


def reset_peak() -> bool:
    """Set the high-water mark to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def release_free_heap() -> None:
    """Give the heap's free pages back (glibc), so that none of them hides an allocation."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak() -> int:
    try:
        return _status_kb("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def figure_for(trace):
    """The figure the app's page shows (and offers as HTML) for this run's config."""
    cfg = trace.config
    if cfg.recurrence == "conv2d":
        return figures.conv_frames_figure(trace)
    if cfg.neuron_count == 1:
        return figures.neuron_figure(trace)
    return figures.raster_figure(trace)


def run_export(trace, name: str):
    if name == "csv":
        return export.trace_csv(trace)
    if name == "parquet":
        return export.trace_parquet(trace)
    if name == "json":
        return export.config_json(trace.config)
    if name == "html":
        return export.figure_html(figure_for(trace))
    if name == "code":
        return export.snntorch_code(trace)
    raise ValueError(name)


def spec_points(spec: dict) -> dict:
    """The ``points`` (and ``inputs``) that the budget of ``spec``'s work counts."""
    work = spec.get("work", "run")
    if work == "sweep":
        grid = spec["grid"]
        return {"points": int(np.prod([len(v) for v in grid.values()])),
                "inputs": int(np.prod([len(v) for k, v in grid.items() if k in ("amplitude", "offset")]))}
    if work == "distance":
        return {"points": len(spec.get("values", [0.5, 0.9]))}
    if work == "train":
        return {"points": int(spec.get("epochs", 3))}
    return {}


def do_work(spec: dict):
    """``spec``'s work through the entry points the app uses, its budget checked first."""
    cfg = SimConfig.from_dict(spec.get("cfg", {}))
    work = spec.get("work", "run")
    limit = int(spec["budget_mb"] * 2**20) if spec.get("budget_mb") else None
    if work == "run":
        exports = tuple(spec.get("exports", ()))
        # the CLI passes a progress callback: the run goes in pieces, then one concatenation
        progress = (lambda done, total: None) if spec.get("progress") else None
        trace = service.run(cfg, exports=exports, progress=progress, budget=limit)
        for name in exports:
            out = run_export(trace, name)
            del out
        return trace
    if work == "flow":
        return service.run_flow(cfg, budget=limit)
    budget.check_budget(cfg, work, budget=limit, **spec_points(spec))
    if work == "distance":
        return flows.gradient_vs_distance(cfg, spec.get("parameter", "beta"),
                                          spec.get("values", [0.5, 0.9]))
    if work == "sweep":
        return sweeps.sweep(cfg, spec["grid"])
    if work == "train":
        epochs = int(spec.get("epochs", 3))
        kwargs = {"teacher": {"beta": 0.8}} if spec.get("target", "spike_train") == "spike_train" else {}
        return learn.train(cfg, spec.get("target", "spike_train"), epochs=epochs, **kwargs)
    raise ValueError(f"unknown work {work!r}")


def warm_up() -> None:
    """A tiny run of every kind, so that code, libraries and caches are loaded before measuring."""
    small = [
        {"cfg": {"num_steps": 20}, "exports": list(budget.EXPORTS)},
        {"cfg": {"num_steps": 20, "num_neurons": 3, "recurrence": "linear", "inhibition": True},
         "exports": list(budget.EXPORTS)},
        {"cfg": {"num_steps": 20, "recurrence": "conv2d", "grid_size": 4, "state_quant_bits": 4},
         "exports": list(budget.EXPORTS)},
        {"cfg": {"num_steps": 20, "stimulus": "poisson", "noise_std": 0.1, "reset_delay": False}},
        {"cfg": {"num_steps": 20, "stimulus": "expression", "expression": "0.3 + 0.1*sin(n + t)"}},
        {"cfg": {"num_steps": 20}, "work": "flow"},
        {"cfg": {"num_steps": 20, "state_quant_bits": 4}, "work": "flow"},
        {"cfg": {"num_steps": 20, "recurrence": "conv2d", "grid_size": 4}, "work": "flow"},
        {"cfg": {"num_steps": 20, "recurrence": "linear", "num_neurons": 3}, "work": "distance",
         "parameter": "spectral_radius", "values": [0.5]},
        {"cfg": {"num_steps": 20}, "work": "sweep", "grid": {"beta": [0.5, 0.9], "threshold": [1.0]}},
        {"cfg": {"num_steps": 20, "state_quant_bits": 4}, "work": "sweep",
         "grid": {"threshold": [0.9, 1.0], "amplitude": [0.2, 0.3]}},
        {"cfg": {"num_steps": 20}, "work": "train", "epochs": 2},
        {"cfg": {"num_steps": 20, "state_quant_bits": 4}, "work": "train", "epochs": 2, "target": "rate"},
    ]
    for spec in small:
        do_work(spec)


def tiny(spec: dict) -> dict:
    """``spec`` made tiny: the same kind of work on a few steps, samples and neurons."""
    cfg = dict(spec.get("cfg", {}))
    cfg.update(num_steps=min(int(cfg.get("num_steps", 200)), 5), batch_size=1)
    cfg["num_neurons"] = min(int(cfg.get("num_neurons", 1)), 3)
    cfg["grid_size"] = min(int(cfg.get("grid_size", 16)), 4)
    out = {k: v for k, v in spec.items() if k not in ("as_cap", "id")}
    out["cfg"] = cfg
    if "grid" in spec:
        out["grid"] = {k: v[:2] for k, v in spec["grid"].items()}
    if "epochs" in spec:
        out["epochs"] = 1
    return out


def measure(spec: dict) -> dict:
    """Run ``spec`` in this process (a fresh fork) and report its peak growth.

    A tiny run of the same kind comes first: a forked child shares the
    parent's pages of code and libraries but has to map them again, and
    that is no part of what a run allocates.
    """
    result = {"id": spec.get("id"), "status": "ok", "peak_bytes": 0, "message": ""}
    try:
        do_work(tiny(spec))
    except Exception:  # noqa: BLE001  (the real run reports it)
        pass
    release_free_heap()
    if spec.get("as_cap"):
        limit = int(spec["budget_mb"] * 2**20) if spec.get("budget_mb") else budget.MEMORY_BUDGET_BYTES
        cap = address_space() + limit + AS_SLACK_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        result["cap_bytes"] = cap
    exact = reset_peak()
    before = rss() if exact else peak()
    started = time.perf_counter()
    try:
        out = do_work(spec)
        del out
    except budget.MemoryBudgetError as e:
        result.update(status="refused", message=str(e))
    except MemoryError as e:
        result.update(status="memory_error", message=f"MemoryError: {e}")
    except Exception as e:  # noqa: BLE001  (reported to the parent, which fails the test)
        text = traceback.format_exc(limit=4)
        status = "memory_error" if "memory" in text.lower() and "alloc" in text.lower() else "error"
        result.update(status=status, message=f"{type(e).__name__}: {e}\n{text}")
    result["seconds"] = time.perf_counter() - started
    result["peak_bytes"] = max(0, peak() - before)
    return result


# The exit status of a child tells its parent how the work ended.
EXIT_CODES = {"ok": 0, "error": 1, "refused": 3, "memory_error": 4}


def run_forked(spec: dict) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        try:
            result = measure(spec)
        except BaseException as e:  # noqa: BLE001
            result = {"id": spec.get("id"), "status": "error", "peak_bytes": 0,
                      "message": f"{type(e).__name__}: {e}"}
        with os.fdopen(write_fd, "wb") as f:
            f.write(json.dumps(result).encode())
        os._exit(EXIT_CODES.get(result["status"], 1))
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if not data:
        return {"id": spec.get("id"), "status": "died", "peak_bytes": 0, "exit_code": code,
                "message": f"child ended with exit code {code} and no report"}
    result = json.loads(data)
    result["exit_code"] = code
    return result


def main() -> int:
    specs = json.load(sys.stdin)
    fork = "--no-fork" not in sys.argv
    warm_up()
    results = []
    for spec in specs:
        results.append(run_forked(spec) if fork else measure(spec))
        if "--verbose" in sys.argv:
            r = results[-1]
            print(f"{r['id']}: {r['status']} {r['peak_bytes'] / 2**20:.1f} MB "
                  f"{r.get('seconds', 0):.2f} s", file=sys.stderr, flush=True)
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
