#!/usr/bin/env python
"""Big rasters: 1,000 neurons x 10,000 steps on the Population page, in headless Chromium.

Run from the repository root (needs Debian's chromium at /usr/bin/chromium and
playwright from the test extra)::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_raster.py
    PYTHONPATH=. .venv/bin/python benchmarks/bench_raster.py --neurons 1000 --steps 10000

It starts the app on a free loopback port, opens the Population page once at
its default size (so imports and the first run are out of the way), then
opens it with a link that sets the size, and measures:

* the simulation's own time, in this process and in the server (which logs
  when each run ends, with ``RLEAKY_VIZ_LOG_RUNS=1``);
* the time from opening the page until the raster image is drawn;
* how long after the server's run ended the raster appears (bar: 2 s);
* the bytes the browser received over the app's websocket during the load
  (bar: under 5 MB), and the raster figure's own JSON size.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from rleaky_viz import devserver  # noqa: E402
from rleaky_viz.figures import raster_figure  # noqa: E402
from rleaky_viz.navigation import PAGES  # noqa: E402
from rleaky_viz.simulate import simulate  # noqa: E402

LOG = Path(os.environ.get("TMPDIR", "/tmp")) / "rleaky_viz_bench_raster.log"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--neurons", type=int, default=1000)
    p.add_argument("--steps", type=int, default=10000)
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    page_info = PAGES["population"]
    cfg = page_info.default_config.replace(num_neurons=args.neurons, num_steps=args.steps)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    trace = simulate(cfg)
    sim_s = time.perf_counter() - t0
    fig = raster_figure(trace)
    raster_json = len(fig.to_json())
    merged = fig.layout.meta["merged_steps"]
    del trace

    port = devserver.free_port()
    server = devserver.start(port, LOG, env={"PYTHONPATH": str(ROOT), "RLEAKY_VIZ_LOG_RUNS": "1"})
    try:
        devserver.wait_healthy(f"http://127.0.0.1:{port}", server, 60, LOG)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            received = {"bytes": 0}

            def on_ws(ws):
                ws.on("framereceived", lambda payload: received.__setitem__(
                    "bytes", received["bytes"] + len(payload)))
            page.on("websocket", on_ws)
            # warm the server first (imports, first page run) so that only this run is timed
            page.goto(f"http://127.0.0.1:{port}/{page_info.path}")
            page.wait_for_selector("[data-test-script-state='notRunning']", timeout=180_000)
            page.wait_for_selector(".js-plotly-plot", timeout=180_000)
            received["bytes"] = 0
            url = f"http://127.0.0.1:{port}{page_info.url(cfg)}"
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_selector(".js-plotly-plot .layer-above image, .js-plotly-plot image",
                                   timeout=180_000, state="attached")
            shown_at = time.time()
            shown = time.perf_counter() - start
            page.wait_for_selector("[data-test-script-state='notRunning']", timeout=180_000)
            page.wait_for_timeout(500)
            total = time.perf_counter() - start
            exceptions = page.locator("[data-testid='stException']").count()
            browser.close()
    finally:
        devserver.stop(server)
    ended = [line for line in LOG.read_text().splitlines()
             if "run finished at" in line and f"{args.neurons} neurons x {args.steps} steps" in line]
    if not ended:
        print("the server did not log the run's end; see", LOG)
        return 1
    run_ended_at = float(ended[-1].split("run finished at ")[1].split()[0])
    server_run_s = float(ended[-1].split(" after ")[1].split()[0])
    after = shown_at - run_ended_at
    print(f"raster {args.neurons} neurons x {args.steps} steps (Population page, CPU, 1 thread)\n")
    print(f"simulation alone (this process)        {sim_s:8.2f} s")
    print(f"simulation in the server               {server_run_s:8.2f} s")
    print(f"page opened -> raster drawn            {shown:8.2f} s")
    print(f"raster drawn after the run ended       {after:8.2f} s   (bar 2 s: {'PASS' if after < 2 else 'over'})")
    print(f"page opened -> script finished         {total:8.2f} s")
    print(f"websocket bytes received by the page   {received['bytes'] / 1e6:8.2f} MB (bar 5 MB: "
          f"{'PASS' if received['bytes'] < 5e6 else 'over'})")
    print(f"raster figure JSON                     {raster_json / 1e6:8.2f} MB, each pixel column "
          f"merges {merged} steps (max-pooled: no spike hidden)")
    print(f"exceptions shown                       {exceptions}")
    print(f"peak RSS of this process               "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.0f} MiB")
    return 0 if exceptions == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
