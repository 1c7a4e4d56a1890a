#!/usr/bin/env python
"""Server-side latency of a rerun after a slider change, per page (Streamlit AppTest).

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_app.py            # 15 reruns per page
    PYTHONPATH=. .venv/bin/python benchmarks/bench_app.py --reruns 5 --pages Neuron_explorer
    PYTHONPATH=. .venv/bin/python benchmarks/bench_app.py --pages Neuron_explorer --profile 25

Each page is loaded once at its default configuration (which also warms
imports and caches), then a slider is moved ``--reruns`` times to values it
has not had before (so no run is served from the cache) and each rerun is
timed from ``set_value(...).run()`` to its return.  The bar: median under
100 ms for the neuron explorer and under 250 ms for every other page.
This measures the script on the server; the browser's drawing is not in it.
The column CPU is the median of the process's CPU time over the same reruns:
on a shared machine, where other guests take the processor for a while, it
varies less than the wall-clock median, which is what the bar judges.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

# page file, widget kind, widget key, values to step through (each new)
PAGES = {
    "Home": ("app.py", "slider", "beta", None),
    "Neuron_explorer": ("pages/1_Neuron_explorer.py", "slider", "beta", None),
    "Population": ("pages/2_Population.py", "slider", "beta", None),
    "Conv_grid": ("pages/3_Conv_grid.py", "slider", "beta", None),
    "Surrogate_gallery": ("pages/4_Surrogate_gallery.py", "number_input", "gallery_atan_alpha",
                          [1.0 + 0.05 * i for i in range(1, 60)]),
    "Gradient_flow": ("pages/5_Gradient_flow.py", "slider", "beta", None),
    "Learn": ("pages/6_Learn.py", "slider", "beta", None),
    "Sweeps": ("pages/7_Sweeps.py", "slider", "threshold", [0.5 + 0.02 * i for i in range(1, 60)]),
    "Compare": ("pages/8_Compare.py", "slider", "beta", None),
    "Mystery_neuron": ("pages/9_Mystery_neuron.py", "slider", "mystery_beta", None),
    # the lesson has no slider of its own: step through its presets instead
    "Lesson": ("pages/10_Lesson.py", "selectbox", "lesson_step", list(range(1, 9))),
}
BARS = {"Neuron_explorer": 0.100}
DEFAULT_BAR = 0.250


def betas():
    # 0.50, 0.51, ... 0.99: each a configuration the cache has not seen
    return [round(0.5 + 0.01 * i, 2) for i in range(50)]


class _ScriptProfiler:
    """A cProfile of the page script alone: AppTest runs it in a thread of its own,
    which a profiler enabled in this thread would not see."""

    def __init__(self):
        import cProfile

        self.profile = cProfile.Profile()
        self.active = False

    def enable(self):
        self.active = True

    def disable(self):
        self.active = False


def _profile_script_thread() -> _ScriptProfiler:
    from streamlit.runtime.scriptrunner import script_runner

    profiler = _ScriptProfiler()
    inner = script_runner.exec_func_with_error_handling

    def profiled(func, ctx):
        if not profiler.active:
            return inner(func, ctx)
        profiler.profile.enable()
        try:
            return inner(func, ctx)
        finally:
            profiler.profile.disable()

    script_runner.exec_func_with_error_handling = profiled
    return profiler


def measure(name: str, reruns: int, profiler=None) -> dict:
    file, kind, key, values = PAGES[name]
    if not (ROOT / file).exists():
        return {"page": name, "skipped": f"{file} not found"}
    at = AppTest.from_file(str(ROOT / file), default_timeout=120)
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    if at.exception:
        return {"page": name, "error": str(at.exception[0].value)[:200]}
    widget = getattr(at, kind)(key=key)
    values = list(values or betas())
    current = widget.value
    values = [v for v in values if v != current][:reruns]
    times, cpus = [], []
    for v in values:
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        getattr(at, kind)(key=key).set_value(v).run()
        if profiler is not None:
            profiler.disable()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if at.exception:
            return {"page": name, "error": str(at.exception[0].value)[:200]}
    med = statistics.median(times)
    bar = BARS.get(name, DEFAULT_BAR)
    return {"page": name, "first_run_s": first, "median_s": med,
            "p90_s": sorted(times)[int(0.9 * (len(times) - 1))], "reruns": len(times),
            "cpu_median_s": statistics.median(cpus),
            "bar_s": bar, "meets_bar": med < bar}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reruns", type=int, default=15)
    p.add_argument("--pages", default=",".join(PAGES), help="comma-separated page names")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the app uses 1)")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--profile", type=int, metavar="N", default=0,
                   help="cProfile the timed reruns (not the first run) and print the N costliest "
                        "functions by cumulative time; the medians then include the profiler's "
                        "overhead")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    profiler = None
    if args.profile:
        profiler = _profile_script_thread()
    rows = [measure(name, args.reruns, profiler) for name in args.pages.split(",") if name]
    print(f"torch {torch.__version__}, threads {args.threads}, {args.reruns} reruns per page\n")
    print(f"{'page':<20} {'first run':>10} {'median':>9} {'p90':>9} {'CPU':>9} {'bar':>7}  result")
    ok = True
    for r in rows:
        if "skipped" in r or "error" in r:
            print(f"{r['page']:<20} {r.get('skipped') or 'ERROR ' + r['error']}")
            ok = ok and "skipped" in r
            continue
        ok = ok and r["meets_bar"]
        print(f"{r['page']:<20} {r['first_run_s'] * 1e3:>8.0f}ms {r['median_s'] * 1e3:>7.1f}ms "
              f"{r['p90_s'] * 1e3:>7.1f}ms {r['cpu_median_s'] * 1e3:>7.1f}ms {r['bar_s'] * 1e3:>5.0f}ms  "
              f"{'PASS' if r['meets_bar'] else 'over'}")
    print(f"\npeak RSS (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if profiler is not None:
        import pstats
        print(f"\nprofile of the page script in the timed reruns ({args.pages}), "
              "by cumulative time:")
        pstats.Stats(profiler.profile).sort_stats("cumulative").print_stats(args.profile)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
