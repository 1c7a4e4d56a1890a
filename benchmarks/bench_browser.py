#!/usr/bin/env python
"""What a user sees in a real browser: the live drag, the release, a keyboard step, a cold page.

Run from the repository root (Debian's Chromium, /usr/bin/chromium)::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_browser.py
    PYTHONPATH=. .venv/bin/python benchmarks/bench_browser.py --drags 3 --presses 5 --pages Neuron_explorer

It starts its own server (``streamlit run app.py``) and reports, side by side
with the goals of issue "Live":

* **drag** (Neuron explorer, β): 60 pointer moves over 2 s across the live
  control; chart updates per second (the membrane path redrawn), the time
  from a pointer move to the chart's change (median, p95; from the first
  move not yet answered), the server's script runs during the drag (the
  app's script-state attribute), the bytes of the frame set (the websocket
  message that brings the live chart's data) and the server's CPU per
  release (its /proc utime + stime across a release and the rerun it starts);
* **release**: from the release to the authoritative chart drawn (live.js
  sets ``data-shown="authoritative"`` when plotly.js has drawn the rerun's
  figure), and to the whole rerun done (the script's end reached the browser
  and the chart's last redraw, whichever is later: the charts below it too);
* **keyboard step**, every page: from an ArrowRight on the page's first
  sidebar slider to the first chart's change (median of ``--presses``), each
  press once no chart has changed for 300 ms (the last rerun's draws done);
* **cold page**, every page: a new browser context (empty cache) from
  navigation to the first chart drawn.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rleaky_viz import devserver  # noqa: E402
from rleaky_viz.devserver import IDLE_JS  # noqa: E402
from rleaky_viz.navigation import PAGES  # noqa: E402

CHROMIUM = os.environ.get("RLEAKY_VIZ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
# In the page: script runs, pointer moves and chart redraws, with their times.
PROBE_JS = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  const gd = document.querySelector('[data-live-chart]');
  const p = window.rvProbe = {runs: 0, redraws: 0, lat: [], pending: null, lastRedraw: 0, runEnd: 0,
                              authAt: 0};
  // the live chart marks the authoritative run's drawing done (live.js: data-shown)
  new MutationObserver(() => {
    if (gd.dataset.shown === 'authoritative' && p.runs > 0) p.authAt = performance.now();
  }).observe(gd, {attributes: true, attributeFilter: ['data-shown']});
  new MutationObserver(() => {
    const s = app.getAttribute('data-test-script-state');
    if (s === 'running') p.runs += 1;
    if (s === 'notRunning') p.runEnd = performance.now();
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  document.addEventListener('pointermove', () => { if (p.pending === null) p.pending = performance.now(); }, true);
  const watch = () => {
    const path = gd.querySelector('.scatterlayer .trace:nth-of-type(3) path.js-line');
    return path;
  };
  new MutationObserver(() => {
    const now = performance.now();
    p.redraws += 1; p.lastRedraw = now;
    if (p.pending !== null) { p.lat.push(now - p.pending); p.pending = null; }
  }).observe(gd, {subtree: true, attributes: true, attributeFilter: ['d'], childList: true});
}"""
GOALS = {"updates_per_s": ">= 30", "move_p95_ms": "< 50", "reruns": "0",
         "release_ms": "< 150 (median)", "cold_ms": "< 1500 every page"}


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open(page, url):
    page.goto(url)
    page.wait_for_function(IDLE_JS, timeout=120_000)


def bench_drag(browser, url: str, pid: int, drags: int) -> dict:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    frames_bytes = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames_bytes.append(
        len(payload) if isinstance(payload, (bytes, str)) else 0)))
    _open(page, f"{url}/Neuron_explorer")
    page.wait_for_selector("[data-live-chart] .main-svg")
    rates, lats, reruns, releases, cpus, sizes, moves, charts = [], [], [], [], [], [], [], []
    for d in range(drags):
        page.evaluate(PROBE_JS)
        box = page.locator("input[data-param=beta]").bounding_box()
        y = box["y"] + box["height"] / 2
        a, b = (0.98, 0.02) if d % 2 == 0 else (0.02, 0.98)
        page.mouse.move(box["x"] + box["width"] * a, y)
        page.mouse.down()
        start = time.perf_counter()
        for i in range(1, 61):
            page.mouse.move(box["x"] + box["width"] * (a + (b - a) * i / 60), y)
            target = start + 2.0 * i / 60
            time.sleep(max(0.0, target - time.perf_counter()))
        elapsed = time.perf_counter() - start
        probe = page.evaluate("() => window.rvProbe")
        rates.append(probe["redraws"] / elapsed)
        moves.append(60 / elapsed)
        lats += probe["lat"]
        reruns.append(probe["runs"])
        cpu0, n0 = _cpu_s(pid), len(frames_bytes)
        t_release = page.evaluate("() => performance.now()")
        page.mouse.up()
        page.wait_for_function("() => window.rvProbe.runs >= 1 && window.rvProbe.runEnd > 0")
        page.wait_for_function(IDLE_JS)
        time.sleep(0.3)
        probe = page.evaluate("() => window.rvProbe")
        releases.append(max(probe["runEnd"], probe["lastRedraw"]) - t_release)
        charts.append((probe["authAt"] or float("nan")) - t_release)
        cpus.append(_cpu_s(pid) - cpu0)
        sizes.append(max(frames_bytes[n0:] or [0]))
    ctx.close()
    return {"moves_per_s": statistics.median(moves), "updates_per_s": statistics.median(rates), "move_median_ms": _pct(lats, 0.5),
            "move_p95_ms": _pct(lats, 0.95), "reruns_during_drag": max(reruns),
            "release_ms": statistics.median(releases), "release_chart_ms": statistics.median(charts),
            "frame_set_bytes": statistics.median(sizes),
            "server_cpu_per_release_ms": 1000 * statistics.median(cpus)}


KEY_STEP_JS = """() => {
  const charts = document.querySelectorAll('.js-plotly-plot');
  const p = window.rvStep = {changed: 0, at: 0};
  for (const gd of charts) {
    new MutationObserver(() => { if (!p.changed) { p.changed = 1; p.at = performance.now(); } })
      .observe(gd, {subtree: true, attributes: true, attributeFilter: ['d', 'transform'], childList: true});
  }
}"""


# the charts have finished drawing: none has changed for 300 ms (after a rerun the chart
# component draws one chart a task, so the last may come well after the script's end)
QUIET_JS = """() => {
  const q = window.rvQuiet = {last: performance.now()};
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    new MutationObserver(() => { q.last = performance.now(); })
      .observe(gd, {subtree: true, attributes: true, attributeFilter: ['d', 'transform'], childList: true});
  }
}"""


def _quiet(page) -> None:
    page.wait_for_function(IDLE_JS)
    page.evaluate(QUIET_JS)
    page.wait_for_function("() => performance.now() - window.rvQuiet.last > 300", timeout=30_000)


def bench_keyboard(browser, url: str, path: str, presses: int) -> float:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    _open(page, f"{url}/{path}")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)
    slider = page.locator("[data-testid='stSidebar'] [data-testid='stSlider'] input[type=range]").first
    times = []
    if slider.count():
        for i in range(presses):
            _quiet(page)
            page.evaluate(KEY_STEP_JS)
            slider.focus()
            t0 = page.evaluate("() => performance.now()")
            slider.press("ArrowLeft" if i % 2 else "ArrowRight")
            try:
                page.wait_for_function("() => window.rvStep.changed === 1", timeout=15_000)
            except Exception:  # noqa: BLE001  (the step changed nothing drawn)
                continue
            times.append(page.evaluate("() => window.rvStep.at") - t0)
    ctx.close()
    return statistics.median(times) if times else float("nan")


def bench_cold(browser, url: str, path: str) -> float:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(f"{url}/{path}")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)
    dt = time.perf_counter() - t0
    ctx.close()
    return 1000 * dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drags", type=int, default=3)
    ap.add_argument("--presses", type=int, default=5)
    ap.add_argument("--pages", nargs="*", default=None, help="URL paths (default: every page)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = devserver.free_port()
    log = Path(tempfile.mkdtemp()) / "streamlit.log"
    proc = devserver.start(port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        devserver.wait_healthy(url, proc, 90, log)
        paths = args.pages or [p.path for p in PAGES.values() if p.path]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            bench_cold(browser, url, "Neuron_explorer")  # warm the server's imports and caches
            drag = bench_drag(browser, url, proc.pid, args.drags)
            print("drag on the Neuron explorer (β, 60 moves in 2 s)      measured   goal")
            print(f"  pointer moves per second the driver achieved      {drag['moves_per_s']:8.1f}   (30 asked)")
            print(f"  chart updates per second                          {drag['updates_per_s']:8.1f}   >= 30")
            print(f"  pointer move -> chart, median / p95 (ms)      {drag['move_median_ms']:6.1f} / {drag['move_p95_ms']:5.1f}   p95 < 50")
            print(f"  server script runs during the drag                {drag['reruns_during_drag']:8d}   0")
            print(f"  release -> authoritative chart drawn, median (ms) {drag['release_chart_ms']:8.1f}   < 150")
            print(f"  release -> whole rerun done and drawn (ms)        {drag['release_ms']:8.1f}")
            print(f"  frame set sent per release (bytes)                {drag['frame_set_bytes']:8.0f}")
            print(f"  server CPU per release (ms)                       {drag['server_cpu_per_release_ms']:8.1f}")
            print()
            print(f"{'page':<22}{'keyboard step -> chart (ms)':>30}{'cold page -> first chart (ms)':>32}")
            for path in paths:
                step = bench_keyboard(browser, url, path, args.presses)
                cold = bench_cold(browser, url, path)
                print(f"{path:<22}{step:>30.0f}{cold:>32.0f}{'' if cold < 1500 else '   (goal < 1500)':>18}")
            browser.close()
    finally:
        devserver.stop(proc)


if __name__ == "__main__":
    main()
