#!/usr/bin/env python
"""Streamlit's own floor in a browser on this machine, beside which bench_browser's figures read.

Run from the repository root (Debian's Chromium, /usr/bin/chromium)::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_floor.py
    PYTHONPATH=. .venv/bin/python benchmarks/bench_floor.py --presses 9

It serves ``benchmarks/floor_app.py`` (a title, one sidebar slider, one chart
of three points) and measures it exactly as ``bench_browser.py`` measures the
app's pages:

* **cold page**: a new browser context (empty cache) from navigation to the
  first chart drawn (plotly's ``.main-svg``), or to the text for ``text``;
* **keyboard step**: an ArrowRight on the slider to the chart's (or the
  text's) change, median of ``--presses``;

for each way of drawing: ``text`` (no chart at all), ``plotly``
(``st.plotly_chart``) and ``chart`` (the app's component).  Whatever a page
of the app adds to these is the app's; the rest is Streamlit, plotly.js and
the browser on this machine.  ``--extra N`` repeats the table with N more
elements on the page (every third a sidebar slider, the others captions; the
Neuron explorer has about 80): what the number of elements costs by itself.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_browser import ARGS, CHROMIUM  # noqa: E402
from rleaky_viz import devserver  # noqa: E402
from rleaky_viz.devserver import IDLE_JS  # noqa: E402

DRAWN = {"text": "[data-testid='stMain'] [data-testid='stMarkdownContainer'] p",
         "plotly": ".js-plotly-plot .main-svg", "chart": ".js-plotly-plot .main-svg"}
CHANGE_JS = """() => {
  const p = window.rvStep = {changed: 0, at: 0};
  const root = document.querySelector("[data-testid='stMain']");
  new MutationObserver(() => { if (!p.changed) { p.changed = 1; p.at = performance.now(); } })
    .observe(root, {subtree: true, attributes: true, attributeFilter: ['d', 'transform'],
                    childList: true, characterData: true});
}"""


def cold(browser, url: str, draw: str, extra: int = 0) -> float:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(f"{url}/?draw={draw}&extra={extra}")
    page.wait_for_selector(DRAWN[draw], timeout=120_000)
    dt = time.perf_counter() - t0
    ctx.close()
    return 1000 * dt


def step(browser, url: str, draw: str, presses: int, extra: int = 0) -> float:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{url}/?draw={draw}&extra={extra}")
    page.wait_for_function(IDLE_JS, timeout=120_000)
    page.wait_for_selector(DRAWN[draw], timeout=120_000)
    slider = page.locator("[data-testid='stSidebar'] [data-testid='stSlider'] input[type=range]").first
    times = []
    for i in range(presses):
        page.wait_for_function(IDLE_JS)
        time.sleep(0.3)
        page.evaluate(CHANGE_JS)
        slider.focus()
        t0 = page.evaluate("() => performance.now()")
        slider.press("ArrowLeft" if i % 2 else "ArrowRight")
        page.wait_for_function("() => window.rvStep.changed === 1", timeout=15_000)
        times.append(page.evaluate("() => window.rvStep.at") - t0)
    ctx.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presses", type=int, default=7)
    ap.add_argument("--colds", type=int, default=3, help="cold loads per way of drawing (median)")
    ap.add_argument("--extra", type=int, default=80, help="a second table with this many more "
                    "elements (0: none)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = devserver.free_port()
    log = Path(tempfile.mkdtemp()) / "streamlit.log"
    proc = devserver.start(port, log, app="benchmarks/floor_app.py")
    url = f"http://127.0.0.1:{port}"
    try:
        devserver.wait_healthy(url, proc, 90, log)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            cold(browser, url, "text")  # the server's first run imports everything
            print(f"{'floor page':<26}{'cold page -> first drawn (ms)':>32}{'keyboard step -> change (ms)':>32}")
            for extra in sorted({0, args.extra}):
                for draw in ("text", "plotly", "chart"):
                    c = statistics.median(cold(browser, url, draw, extra) for _ in range(args.colds))
                    s = step(browser, url, draw, args.presses, extra)
                    name = draw + (f" + {extra} elements" if extra else "")
                    print(f"{name:<26}{c:>32.0f}{s:>32.0f}")
            browser.close()
    finally:
        devserver.stop(proc)


if __name__ == "__main__":
    main()
