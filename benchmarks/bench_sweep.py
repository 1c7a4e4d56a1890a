#!/usr/bin/env python
"""Benchmark ``rleaky_viz.sweeps.sweep`` (one batched run) against one ``snntorch.RLeaky`` run per grid point.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sweep.py            # 32 x 32 grid, 1,000 steps
    PYTHONPATH=. .venv/bin/python benchmarks/bench_sweep.py --quick    # 8 x 8 grid

The workload: one neuron with a one-to-one recurrence (V = 0.5), a constant
input, β from 0.5 to 1.0 against the input amplitude from 0 to 1 (``--size``
values each), ``--steps`` steps.  Three ways to get every grid point's spike
count:

* ``sweep``: ``rleaky_viz.sweeps.sweep`` - the whole grid as one batch
  through ``core.unroll`` (median of ``--repeats`` runs);
* ``snntorch loop``: for each grid point, build ``snntorch.RLeaky`` and step
  it over the input in a Python loop (``spk, mem = layer(x[t], spk, mem)``),
  as one would without batching; timed once;
* ``core loop``: the same loop of separate runs with ``core.unroll``
  (one run per point), which separates the gain of batching from the gain
  of the implementation; timed once.

Before the table the script checks that the three agree on the spike count
of every grid point (PASS/FAIL; exit status 1 on FAIL).  Peak memory is
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, read right after the sweeps
(before any loop) and at the end.
"""
from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", module=r"snntorch(\..*)?$")

import torch  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import snntorch  # noqa: E402

from rleaky_viz import SimConfig  # noqa: E402
from rleaky_viz.core import unroll  # noqa: E402
from rleaky_viz.simulate import build_neuron  # noqa: E402
from rleaky_viz.stimulus import make_input  # noqa: E402
from rleaky_viz.sweeps import point_config, sweep, value_range  # noqa: E402


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def snntorch_counts(base: SimConfig, frame) -> list[int]:
    """One snntorch.RLeaky per grid point, stepped in Python; its spike count."""
    counts = []
    for _, row in frame.iterrows():
        cfg = point_config(base, row)
        x = make_input(cfg)  # (T, 1, 1)
        layer = snntorch.RLeaky(beta=cfg.beta, V=cfg.V, all_to_all=False, threshold=cfg.threshold)
        with torch.no_grad():
            spk, mem = layer.init_rleaky()
            total = torch.zeros(())
            for x_t in x:
                spk, mem = layer(x_t, spk, mem)
                total += spk.sum()
        counts.append(int(total))
        snntorch.SpikingNeuron.instances.clear()  # its class-level registry would grow by 1 per point
    return counts


def core_loop_counts(base: SimConfig, frame) -> list[int]:
    """One core.unroll run per grid point (no batching)."""
    counts = []
    with torch.no_grad():
        for _, row in frame.iterrows():
            cfg = point_config(base, row)
            spk, _ = unroll(build_neuron(cfg), make_input(cfg))
            counts.append(int((spk != 0).sum()))
    return counts


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=32, help="values per axis (default 32: 1,024 points)")
    p.add_argument("--steps", type=int, default=1000, help="time steps (default 1000)")
    p.add_argument("--quick", action="store_true", help="an 8 x 8 grid (64 points)")
    p.add_argument("--repeats", type=int, default=3, help="timed sweeps (median; default 3)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads (default 1, as the app sets it: a sweep's per-step "
                        "tensors are small, and a second thread only adds hand-offs)")
    p.add_argument("--no-core-loop", action="store_true", help="skip the core.unroll loop")
    args = p.parse_args(argv)
    if args.quick:
        args.size = 8
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    base = SimConfig(recurrence="one_to_one", V=0.5, stimulus="constant", num_steps=args.steps,
                     device="cpu")
    grid = {"beta": value_range(0.5, 1.0, args.size), "amplitude": value_range(0.0, 1.0, args.size)}
    points = args.size ** 2
    print(f"torch {torch.__version__}, snntorch {snntorch.__version__}, Python "
          f"{platform.python_version()}, {platform.machine()}, {args.threads} thread(s)")
    print(f"grid {args.size} x {args.size} = {points} points (beta x amplitude), {args.steps} steps, "
          f"one neuron, one-to-one recurrence V = {base.V}\n")

    sweep(base, {"beta": grid["beta"][:2]})  # warm-up: first-call costs of torch
    runs = [timed(lambda: sweep(base, grid)) for _ in range(max(1, args.repeats))]
    frame = runs[0][0]
    t_sweep = statistics.median(t for _, t in runs)
    rss_sweep = peak_rss_mib()

    ref, t_ref = timed(lambda: snntorch_counts(base, frame))
    results = [("sweep (one batched run)", t_sweep, f"median of {len(runs)}")]
    results.append(("snntorch.RLeaky loop", t_ref, f"{points} runs, once"))
    core = None
    if not args.no_core_loop:
        core, t_core = timed(lambda: core_loop_counts(base, frame))
        results.append(("core.unroll loop", t_core, f"{points} runs, once"))

    ours = frame["spike_count"].tolist()
    agree = ours == ref and (core is None or core == ours)
    bad = [i for i, (a, b) in enumerate(zip(ours, ref)) if a != b]
    print(f"[{'PASS' if agree else 'FAIL'}] spike counts of all {points} grid points: sweep vs "
          f"snntorch loop{'' if core is None else ' vs core loop'}"
          + (f" ({len(bad)} differ, first at row {bad[0]})" if bad else ""))
    n = args.size  # a few points spread over the grid (rows: β index * n + amplitude index)
    shown = frame.iloc[sorted({n // 4, (n // 2) * n + n // 2, (n - 1) * n + n // 4, (n // 3) * n + n - 1})]
    for (_, row), i in zip(shown.iterrows(), shown.index):
        print(f"    beta={row.beta:<7.4g} amplitude={row.amplitude:<7.4g} sweep {int(row.spike_count):4d}  "
              f"snntorch {ref[i]:4d}" + ("" if core is None else f"  core loop {core[i]:4d}"))

    print()
    print(f"| {'method':<24} | {'time (s)':>9} | {'vs sweep':>9} | {'points/s':>9} | note")
    print(f"|{'-' * 26}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 20}")
    for name, seconds, note in results:
        print(f"| {name:<24} | {seconds:9.3f} | {seconds / t_sweep:8.1f}x | {points / seconds:9.0f} | {note}")
    print(f"\nratio snnTorch loop / sweep: {t_ref / t_sweep:.0f}x")
    print(f"peak RSS (ru_maxrss): {rss_sweep:.0f} MiB after the sweeps, {peak_rss_mib():.0f} MiB at the end")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
