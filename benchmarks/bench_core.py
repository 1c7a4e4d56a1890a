#!/usr/bin/env python
"""Benchmark ``rleaky_viz.core.unroll`` against ``snntorch.RLeaky`` stepped in a Python loop.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_core.py            # default: 7 repeats, 2 threads
    PYTHONPATH=. .venv/bin/python benchmarks/bench_core.py --quick    # 3 repeats
    PYTHONPATH=. .venv/bin/python benchmarks/bench_core.py --json results.json

For every workload the two layers get the same weights
(``ours.load_state_dict(ref.state_dict())``) and the same input.  Before any
timing, the script checks that they agree (spikes exactly, membranes and input
gradients within 1e-5, parameter gradients within a relative 1e-4) and prints
PASS or FAIL.  Each (workload, mode) is then timed: warm-up calls, then
``--repeats`` timed calls of each implementation, interleaved, and both the
median and the best (minimum) are reported, each ratio from the same run.
Modes:

* ``fwd``: the whole sequence under ``torch.no_grad()``;
* ``fwd+bwd``: the sequence with autograd, ``loss = mem.sum() + spk.sum()``,
  ``loss.backward()`` (gradients for the input and every parameter).

The snnTorch side is the usual loop::

    spk, mem = layer.init_rleaky()
    for t in range(T):
        spk, mem = layer(x[t], spk, mem)
        (record spk, mem)
    torch.stack(...)

For the layers with a recurrent kernel (linear, conv) the script also times
that kernel alone: ``T`` bare calls of the layer's ``F.linear`` / ``F.conv2d``
on one step's input (fwd), plus ``T`` calls of its input gradient (fwd+bwd).
Both implementations must make those calls one step after another (step
t+1's input is step t's spikes), so snnTorch's time over that floor is the
highest ratio any implementation could reach.

Exit status: 0 when every check passed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field

# snnTorch's warnings (deprecations and the like) are noise here.
warnings.filterwarnings("ignore", module=r"snntorch(\..*)?$")

import torch  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import snntorch  # noqa: E402

from rleaky_viz.core import RLeaky, unroll  # noqa: E402

ATOL = 1e-5          # membranes and input gradients
PARAM_RTOL = 1e-4    # parameter gradients: relative to their largest magnitude


@dataclass
class Workload:
    key: str
    label: str
    kwargs: dict            # constructor arguments shared by both layers
    shape: tuple            # shape of one step of input, batch first
    steps: int
    extra: bool = False     # an additional row, skipped by --no-extra
    scale: float = 0.6      # input is uniform in [0, scale)
    recurrent_scale: float = 0.5  # factor on the default nn.Linear / nn.Conv2d weights
    compare_grads: bool = True    # False where BPTT overflows to inf/NaN in both libraries


# beta 0.8, V 0.2 and recurrent weights at half their default initialisation keep
# back-propagation through 1000 steps finite (input gradients of order 10-50).
# With beta 0.9 and the default weights the surrogate gradient grows step by step
# until it overflows to inf/NaN, in both implementations alike, and a gradient
# comparison would mean nothing.
WORKLOADS = [
    Workload("a", "1 neuron 1-to-1, T=1000, B=1",
             dict(beta=0.8, V=0.2, all_to_all=False), (1, 1), 1000),
    Workload("b", "linear 100, T=1000, B=1",
             dict(beta=0.8, linear_features=100), (1, 100), 1000),
    Workload("b32", "linear 100, T=1000, B=32",
             dict(beta=0.8, linear_features=100), (32, 100), 1000, extra=True),
    Workload("c", "conv 1x32x32 k3, T=500, B=1",
             dict(beta=0.8, conv2d_channels=1, kernel_size=3), (1, 1, 32, 32), 500),
    # the same map with beta 0.9 and the default weights: about as many spikes; with some
    # inputs the gradients overflow in both libraries, and then only the forward is compared
    Workload("c9", "conv 1x32x32 k3, beta 0.9, default weights, T=500, B=1",
             dict(beta=0.9, conv2d_channels=1, kernel_size=3), (1, 1, 32, 32), 500,
             extra=True, recurrent_scale=1.0, compare_grads=False),
]


@dataclass
class Check:
    workload: str
    passed: bool = True
    spikes_equal: bool = True
    mem_max_abs_diff: float = 0.0
    input_grad_max_abs_diff: float = 0.0
    param_grad_max_rel_diff: dict = field(default_factory=dict)
    spike_count: int = 0
    notes: list = field(default_factory=list)   # what made the check fail
    info: list = field(default_factory=list)    # remarks that do not


# -- the two ways of running a sequence ------------------------------------------

def run_snntorch(layer, x):
    spk, mem = layer.init_rleaky()
    spk_rec, mem_rec = [], []
    for t in range(x.shape[0]):
        spk, mem = layer(x[t], spk, mem)
        spk_rec.append(spk)
        mem_rec.append(mem)
    return torch.stack(spk_rec), torch.stack(mem_rec)


def run_ours(layer, x):
    spk, mem = unroll(layer, x)
    return spk, mem


def forward_only(run, layer, x):
    with torch.no_grad():
        return run(layer, x)


def forward_backward(run, layer, x):
    spk, mem = run(layer, x)
    loss = mem.sum() + spk.sum()
    loss.backward()
    return spk, mem


def clear_grads(layer, x):
    x.grad = None
    for p in layer.parameters():
        p.grad = None


# -- set-up and checks -----------------------------------------------------------

def build(w: Workload, seed: int):
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = snntorch.RLeaky(**w.kwargs)
    if ref.all_to_all:
        with torch.no_grad():
            ref.recurrent.weight.mul_(w.recurrent_scale)
    ours = RLeaky(**w.kwargs)
    ours.load_state_dict(ref.state_dict())
    x = torch.rand(w.steps, *w.shape) * w.scale
    return ref, ours, x


def max_abs(a, b) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0


def check(w: Workload, ref, ours, x) -> Check:
    c = Check(w.key)

    # forward only
    r_spk, r_mem = forward_only(run_snntorch, ref, x)
    o_spk, o_mem = forward_only(run_ours, ours, x)
    c.spike_count = int(r_spk.sum())
    c.spikes_equal = r_spk.shape == o_spk.shape and torch.equal(r_spk, o_spk)
    c.mem_max_abs_diff = max_abs(r_mem, o_mem) if r_mem.shape == o_mem.shape else float("inf")

    # forward + backward
    xr = x.clone().requires_grad_(True)
    xo = x.clone().requires_grad_(True)
    clear_grads(ref, xr)
    clear_grads(ours, xo)
    r_spk, r_mem = forward_backward(run_snntorch, ref, xr)
    o_spk, o_mem = forward_backward(run_ours, ours, xo)
    if not torch.equal(r_spk.detach(), o_spk.detach()):
        c.spikes_equal = False
        c.notes.append("spikes differ with autograd on")
    c.mem_max_abs_diff = max(c.mem_max_abs_diff, max_abs(r_mem.detach(), o_mem.detach()))
    overflow = not (xr.grad.isfinite().all() and xo.grad.isfinite().all())
    if overflow and not w.compare_grads:
        # expected for this workload with some seeds: compare the forward only
        c.info.append("gradients overflow (inf/NaN) in both: not compared")
        c.input_grad_max_abs_diff = float("nan")
        clear_grads(ref, xr)
        clear_grads(ours, xo)
        c.passed = c.spikes_equal and c.mem_max_abs_diff <= ATOL and not c.notes
        return c
    if xr.grad is None or xo.grad is None:
        c.input_grad_max_abs_diff = float("inf")
        c.notes.append("missing input gradient")
    else:
        c.input_grad_max_abs_diff = max_abs(xr.grad, xo.grad)
        if not (xr.grad.isfinite().all() and xo.grad.isfinite().all()):
            c.notes.append("non-finite input gradient (exploding BPTT): comparison meaningless")

    r_params = dict(ref.named_parameters())
    o_params = dict(ours.named_parameters())
    if set(r_params) != set(o_params):
        c.notes.append(f"parameter names differ: snnTorch {sorted(r_params)}, ours {sorted(o_params)}")
    param_ok = True
    for name in sorted(set(r_params) & set(o_params)):
        gr, go = r_params[name].grad, o_params[name].grad
        if gr is None and go is None:
            continue
        if gr is None or go is None:
            c.param_grad_max_rel_diff[name] = float("inf")
            param_ok = False
            continue
        scale = max(float(gr.abs().max()), 1e-12)
        rel = max_abs(gr, go) / scale
        c.param_grad_max_rel_diff[name] = rel
        param_ok &= rel <= PARAM_RTOL

    c.passed = (c.spikes_equal and c.mem_max_abs_diff <= ATOL
                and c.input_grad_max_abs_diff <= ATOL and param_ok and not c.notes)
    clear_grads(ref, xr)
    clear_grads(ours, xo)
    return c


# -- timing ----------------------------------------------------------------------

def time_pair(mode: str, ref, ours, x, repeats: int, warmup: int):
    """Median seconds of (snnTorch, ours), calls interleaved to share any drift."""
    if mode == "fwd":
        jobs = [(lambda: forward_only(run_snntorch, ref, x), None),
                (lambda: forward_only(run_ours, ours, x), None)]
    else:
        xr = x.clone().requires_grad_(True)
        xo = x.clone().requires_grad_(True)
        jobs = [(lambda: forward_backward(run_snntorch, ref, xr), lambda: clear_grads(ref, xr)),
                (lambda: forward_backward(run_ours, ours, xo), lambda: clear_grads(ours, xo))]

    for fn, setup in jobs:
        for _ in range(warmup):
            if setup:
                setup()
            fn()

    times = ([], [])
    for i in range(repeats):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for j in order:
            fn, setup = jobs[j]
            if setup:
                setup()
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[j].append(time.perf_counter() - t0)
    for _, setup in jobs:
        if setup:
            setup()
    return times


def kernel_floor(mode: str, layer, x, repeats: int) -> float:
    """Best seconds of T bare calls of the recurrent kernel (and, fwd+bwd, of its input gradient)."""
    if not layer.all_to_all:
        return float("nan")
    rec = layer.recurrent
    W, b = rec.weight.detach(), rec.bias.detach()
    s = (x[0] > 0.3).to(x.dtype)  # one step's spikes, in a fresh tensor
    g = torch.ones_like(s)
    if isinstance(rec, torch.nn.Linear):
        step = lambda: torch.nn.functional.linear(s, W, b)  # noqa: E731
        grad = lambda: g @ W  # noqa: E731
    else:
        step = lambda: torch.nn.functional.conv2d(s, W, b, padding=rec.padding)  # noqa: E731
        grad = lambda: torch.nn.grad.conv2d_input(s.shape, W, g, padding=rec.padding)  # noqa: E731
    T = x.shape[0]
    best = float("inf")
    with torch.no_grad():
        for _ in range(max(repeats, 3)):
            t0 = time.perf_counter()
            for _ in range(T):
                step()
                if mode != "fwd":
                    grad()
            best = min(best, time.perf_counter() - t0)
    return best


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# -- main ------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7, help="timed calls per implementation (default 7)")
    p.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up call")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default 2)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads (default 2, like the 2-core CI machine)")
    p.add_argument("--workloads", default=",".join(w.key for w in WORKLOADS),
                   help="comma-separated subset of: " + ", ".join(
                       f"{w.key} ({w.label})" for w in WORKLOADS))
    p.add_argument("--no-extra", action="store_true", help="skip the extra rows (b32, c9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results to PATH as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 3, 1
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        p.error("--repeats and --threads must be >= 1, --warmup >= 0")
    keys = [k.strip() for k in args.workloads.split(",") if k.strip()]
    known = {w.key for w in WORKLOADS}
    bad = [k for k in keys if k not in known]
    if bad:
        p.error(f"unknown workload(s) {bad}; choose from {sorted(known)}")
    args.selected = [w for w in WORKLOADS if w.key in keys and not (args.no_extra and w.extra)]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    print(f"torch {torch.__version__}, snntorch {snntorch.__version__}, "
          f"python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    print(f"repeats {args.repeats} (median), warm-up {args.warmup}, seed {args.seed}\n")

    checks, rows = [], []
    for i, w in enumerate(args.selected):
        snntorch.SpikingNeuron.instances.clear()
        ref, ours, x = build(w, args.seed + i)

        c = check(w, ref, ours, x)
        checks.append(c)
        grads = ", ".join(f"{k} {v:.1e}" for k, v in c.param_grad_max_rel_diff.items()) or "none"
        print(f"[{'PASS' if c.passed else 'FAIL'}] {w.label}: spikes "
              f"{'equal' if c.spikes_equal else 'DIFFER'} ({c.spike_count} in fwd), "
              f"mem max|diff| {c.mem_max_abs_diff:.1e}, input grad max|diff| "
              f"{c.input_grad_max_abs_diff:.1e}, param grad max rel diff: {grads}"
              + "".join(f"; {n}" for n in c.notes + c.info), flush=True)

        for mode in ("fwd", "fwd+bwd"):
            t_ref, t_ours = time_pair(mode, ref, ours, x, args.repeats, args.warmup)
            m_ref, m_ours = statistics.median(t_ref) * 1e3, statistics.median(t_ours) * 1e3
            b_ref, b_ours = min(t_ref) * 1e3, min(t_ours) * 1e3
            floor = kernel_floor(mode, ref, x, args.repeats) * 1e3
            rows.append(dict(workload=w.label, key=w.key, mode=mode, steps=w.steps,
                             input_shape=list(w.shape), snntorch_ms=m_ref, ours_ms=m_ours,
                             ratio=m_ref / m_ours, snntorch_best_ms=b_ref, ours_best_ms=b_ours,
                             best_ratio=b_ref / b_ours, kernel_floor_ms=floor,
                             ratio_ceiling=b_ref / floor,
                             snntorch_times_ms=[t * 1e3 for t in t_ref],
                             ours_times_ms=[t * 1e3 for t in t_ours]))
        del ref, ours, x
        gc.collect()
    snntorch.SpikingNeuron.instances.clear()

    peak = peak_rss_mib()
    elapsed = time.perf_counter() - started

    headers = ("key", "mode", "snnTorch ms", "ours ms", "ratio", "best: snnTorch", "ours",
               "ratio", "kernel floor ms", "ceiling")
    nan = lambda v, fmt: "-" if v != v else fmt.format(v)  # noqa: E731
    table = [(r["key"], r["mode"], f"{r['snntorch_ms']:.2f}", f"{r['ours_ms']:.2f}",
              f"{r['ratio']:.2f}x", f"{r['snntorch_best_ms']:.2f}", f"{r['ours_best_ms']:.2f}",
              f"{r['best_ratio']:.2f}x", nan(r["kernel_floor_ms"], "{:.2f}"),
              nan(r["ratio_ceiling"], "{:.2f}x")) for r in rows]
    widths = [max(len(h), *(len(t[k]) for t in table)) if table else len(h)
              for k, h in enumerate(headers)]
    align = ("<", "<") + (">",) * 8
    line = lambda cells: "  ".join(f"{c:{a}{wd}}" for c, a, wd in zip(cells, align, widths))  # noqa: E731
    print()
    print(line(headers))
    print(line(["-" * wd for wd in widths]))
    for t in table:
        print(line(t))
    print("\nratio = snnTorch / ours (above 1: ours is faster), of the medians and of the best "
          "runs;\nkernel floor = T bare calls of the recurrent kernel (+ T of its input gradient "
          "for fwd+bwd),\nceiling = snnTorch best / kernel floor, the most any step-by-step "
          "implementation could gain")
    for w in args.selected:
        print(f"  {w.key}: {w.label}")
    print(f"peak RSS (ru_maxrss, whole process): {peak:.1f} MiB")
    all_passed = all(c.passed for c in checks)
    print(f"checks: {'all PASS' if all_passed else 'FAIL in ' + ', '.join(c.workload for c in checks if not c.passed)}"
          f"; total time {elapsed:.1f} s")

    if args.json:
        out = dict(
            meta=dict(torch=torch.__version__, snntorch=snntorch.__version__,
                      python=platform.python_version(), machine=platform.machine(),
                      cpus=os.cpu_count(), threads=torch.get_num_threads(),
                      repeats=args.repeats, warmup=args.warmup, seed=args.seed,
                      tolerances=dict(mem=ATOL, input_grad=ATOL, param_grad_rel=PARAM_RTOL)),
            checks=[c.__dict__ for c in checks],
            results=rows,
            peak_rss_mib=peak,
            total_seconds=elapsed,
            all_passed=all_passed,
        )
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=float)
        print(f"wrote {args.json}")
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
