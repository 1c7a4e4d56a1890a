"""The live chart in a real browser (issue "Live"): a drag with the mouse on a desktop
window and with touch on a phone-sized one; the frames the browser holds are the core's
runs; the value lands in the sidebar and the URL on release, with no rerun during the
drag; the exported HTML's β slider works offline from a file URL.
"""
from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from rleaky_viz import SimConfig
from rleaky_viz.devserver import IDLE_JS
from rleaky_viz.figures.neuron import neuron_series
from rleaky_viz.simulate import simulate

pytestmark = pytest.mark.e2e

CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
LIVE = "[data-live-chart]"
# counts the script runs that start from now on (the app's script-state attribute)
WATCH_RUNS_JS = """() => {
  window.rvRuns = 0;
  const app = document.querySelector("[data-testid='stApp']");
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.rvRuns += 1;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
LIVE_STATE_JS = """() => {
  const l = document.querySelector('[data-live-chart]').rleakyLive;
  const gd = document.querySelector('[data-live-chart]');
  const mem = gd._fullData.find(t => t.name === 'membrane');
  return {updates: l.updates, releases: l.releases, shown: gd.dataset.shown || '',
          membrane: Array.from(mem.y), title: gd.layout.title.text};
}"""


def open_explorer(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/Neuron_explorer{query}")
    page.wait_for_selector(CONNECTED)
    page.wait_for_function(IDLE_JS)
    page.wait_for_selector(f"{LIVE} .main-svg")
    page.wait_for_function("() => document.querySelector('[data-live-chart]').rleakyLive.updates > 0")
    page.wait_for_selector("[data-live-chart][data-frames=in]", state="attached")


def _query(page) -> dict:
    return dict(parse_qsl(urlsplit(page.url).query))


def test_the_frames_the_browser_holds_are_the_cores_runs(page, app_server):
    open_explorer(page, app_server)
    held = page.evaluate("""() => { const l = document.querySelector('[data-live-chart]').rleakyLive;
        return {controls: l.controls,
                frames: Object.fromEntries(l.controls.map(c => [c.field,
                    c.values.map((v, k) => l.frame(c.field, k))]))}; }""")
    cfg = SimConfig()
    fields = [c["field"] for c in held["controls"]]
    assert fields == ["beta", "threshold", "V", "amplitude"]
    for control in held["controls"]:
        name = control["field"]
        assert control["values"][control["index"]] == getattr(cfg, name)
        assert len(control["values"]) == len(held["frames"][name]) >= 30
        for k, value in enumerate(control["values"]):
            want = neuron_series(simulate(cfg.replace(**{name: value})))
            frame = held["frames"][name][k]
            traces = {t["name"]: t for t in frame["traces"]}
            mem = np.asarray(traces["membrane"]["y"], dtype=np.float64)
            assert np.max(np.abs(mem - want["mem"])) <= 1e-6, (name, value)
            fired = np.asarray(traces["spikes"]["x"], dtype=np.int64)
            assert np.array_equal(fired, np.flatnonzero(want["spk"] != 0)), (name, value)
            assert f"{int((want['spk'] != 0).sum())} spikes" in frame["title"]


def _settled(page, field: str) -> None:
    """Wait until plotly.js itself has drawn the frame of the control's current position
    (while the hand moves, live.js draws frames over the plot; when it rests, plotly.js)."""
    page.wait_for_function(
        "(f) => { const i = document.querySelector(`input[data-param=${f}]`);"
        " return document.querySelector('[data-live-chart]').dataset.settled === `${f}:${i.value}`; }",
        arg=field)


def _drag(page, selector: str, start: float, end: float, moves: int = 30,
          seconds: float = 1.0) -> None:
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(box["x"] + box["width"] * (start + (end - start) * i / moves), y)
        time.sleep(seconds / moves)


def test_a_mouse_drag_moves_the_chart_without_a_rerun_and_lands_in_the_url(page, app_server):
    open_explorer(page, app_server)
    page.evaluate(WATCH_RUNS_JS)
    before = page.evaluate(LIVE_STATE_JS)
    _drag(page, "input[data-param=beta]", 0.97, 0.2)
    _settled(page, "beta")
    during = page.evaluate(LIVE_STATE_JS)
    assert page.evaluate("window.rvRuns") == 0, "the server reran during the drag"
    assert during["updates"] - before["updates"] >= 5
    assert during["membrane"] != before["membrane"] and during["shown"].startswith("beta:")
    shown_value = float(page.locator("input[data-param=beta] + output").inner_text())
    page.mouse.up()
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('beta') !== null")
    page.wait_for_function("() => window.rvRuns >= 1")
    page.wait_for_function(IDLE_JS)
    page.wait_for_function("() => document.querySelector('[data-live-chart]').dataset.shown"
                           " === 'authoritative'")
    assert float(_query(page)["beta"]) == pytest.approx(shown_value)
    assert float(page.locator(".st-key-beta input").first.input_value()) == pytest.approx(shown_value)
    # the authoritative run draws the frame that was shown: no jump
    after = page.evaluate(LIVE_STATE_JS)
    assert after["shown"] == "authoritative"
    assert np.allclose(after["membrane"], during["membrane"], rtol=0, atol=1e-6)
    want = neuron_series(simulate(SimConfig(beta=shown_value)))
    assert np.max(np.abs(np.asarray(after["membrane"]) - want["mem"])) <= 1e-6


def test_arrow_keys_step_through_the_frames(page, app_server):
    open_explorer(page, app_server)
    thumb = page.locator("input[data-param=threshold]")
    thumb.focus()
    values = page.evaluate("() => document.querySelector('[data-live-chart]').rleakyLive"
                           ".controls.find(c => c.field === 'threshold').values")
    index = values.index(1.0)
    thumb.press("ArrowRight")
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('threshold') !== null")
    page.wait_for_function(IDLE_JS)
    page.wait_for_function("() => document.querySelector('[data-live-chart]').dataset.shown"
                           " === 'authoritative'")
    assert float(_query(page)["threshold"]) == pytest.approx(values[index + 1])
    state = page.evaluate(LIVE_STATE_JS)
    want = neuron_series(simulate(SimConfig(threshold=values[index + 1])))
    assert np.max(np.abs(np.asarray(state["membrane"]) - want["mem"])) <= 1e-6


def test_a_released_step_is_drawn_once_by_its_authoritative_run(page, app_server):
    # an arrow key sends its release before the frame is shown: the frame must not also be
    # drawn by plotly.js when the hand "rests" (a full redraw that delays the rerun's own)
    open_explorer(page, app_server)
    thumb = page.locator("input[data-param=beta]")
    thumb.focus()
    beta = None  # at the defaults the link has no beta
    for key in ("ArrowLeft", "ArrowRight"):
        thumb.press(key)
        page.wait_for_function(f"() => new URLSearchParams(location.search).get('beta') !== {json.dumps(beta)}")
        beta = _query(page).get("beta")
        page.wait_for_function(IDLE_JS)
        page.wait_for_function("() => document.querySelector('[data-live-chart]').dataset.shown"
                               " === 'authoritative'")
        time.sleep(0.5)  # past the rest delay (200 ms) of the frame shown before the rerun
    state = page.evaluate("() => document.querySelector('[data-live-chart]').rleakyLive")
    assert state["settles"] == 0
    assert page.evaluate("() => document.querySelector('[data-live-chart]').dataset.shown") == "authoritative"


def test_a_released_frame_whose_run_never_comes_is_drawn_by_plotly(page, app_server):
    # the release's rerun is lost on the way to the server (here: the page's messages to it
    # are dropped): the frame shown waits for that run, then plotly.js draws it itself, so
    # its hover reads that frame and not the run before it
    drop = {"on": False}

    def route(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda message: None if drop["on"] else server.send(message))

    page.route_web_socket(re.compile(r"/_stcore/stream"), route)
    open_explorer(page, app_server)
    page.evaluate(WATCH_RUNS_JS)
    thumb = page.locator("input[data-param=beta]")
    thumb.focus()
    drop["on"] = True
    thumb.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('[data-live-chart]').dataset.shown"
                           ".startsWith('beta:')")
    shown = page.evaluate("() => document.querySelector('[data-live-chart]').dataset.shown")
    k = int(shown.split(":")[1])
    frame_js = (f"() => document.querySelector('[data-live-chart]').rleakyLive"
                f".frame('beta', {k}).traces.find(t => t.name === 'membrane').y")
    frame = np.asarray(page.evaluate(frame_js), dtype=float)
    time.sleep(1.0)  # past the rest delay (200 ms): the released frame still waits for its run
    assert page.evaluate("() => document.querySelector('[data-live-chart]').rleakyLive.settles") == 0
    waiting = page.evaluate(LIVE_STATE_JS)  # plotly.js still holds the run before the release
    assert not np.array_equal(np.asarray(waiting["membrane"], dtype=float), frame)
    page.wait_for_function("() => document.querySelector('[data-live-chart]').rleakyLive.settles"
                           " === 1", timeout=10_000)
    assert page.evaluate("window.rvRuns") == 0  # no run came: plotly.js drew the frame
    state = page.evaluate(LIVE_STATE_JS)
    assert state["shown"] == shown
    assert np.array_equal(np.asarray(state["membrane"], dtype=float), frame)


def test_a_touch_drag_on_a_phone(browser, app_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        open_explorer(page, app_server)
        slider = page.locator("input[data-param=beta]").bounding_box()
        chart = page.locator(LIVE).bounding_box()
        # the control and the chart it drives on one phone screen, the sidebar closed
        assert slider["y"] + slider["height"] <= 844 and chart["y"] < 844 - 300
        assert chart["width"] >= 340
        plot_width = page.evaluate("() => document.querySelector('[data-live-chart]')"
                                   "._fullLayout.xaxis._length")
        assert plot_width >= 0.75 * chart["width"], "the legend takes the plot's width"
        page.evaluate(WATCH_RUNS_JS)
        before = page.evaluate(LIVE_STATE_JS)
        cdp = context.new_cdp_session(page)
        y = slider["y"] + slider["height"] / 2
        x0, x1 = slider["x"] + slider["width"] * 0.95, slider["x"] + slider["width"] * 0.3
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y}]})
        for i in range(1, 21):
            cdp.send("Input.dispatchTouchEvent",
                     {"type": "touchMove", "touchPoints": [{"x": x0 + (x1 - x0) * i / 20, "y": y}]})
            time.sleep(0.03)
        _settled(page, "beta")
        during = page.evaluate(LIVE_STATE_JS)
        assert page.evaluate("window.rvRuns") == 0
        assert during["updates"] - before["updates"] >= 5 and during["membrane"] != before["membrane"]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_function("() => new URLSearchParams(location.search).get('beta') !== null")
        page.wait_for_function(IDLE_JS)
        shown = float(page.locator("input[data-param=beta] + output").inner_text())
        assert float(_query(page)["beta"]) == pytest.approx(shown)
    finally:
        context.close()


def test_the_exported_html_keeps_a_live_beta_slider_offline(page, app_server, browser, tmp_path):
    open_explorer(page, app_server)
    with page.expect_download() as info:
        page.locator(".st-key-neuron_export_html button").click()
    path = tmp_path / "neuron.html"
    info.value.save_as(path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    offline = context.new_page()
    asked = []
    offline.route("**/*", lambda route: (asked.append(route.request.url), route.abort())
                  if not route.request.url.startswith("file:") else route.continue_())
    try:
        offline.goto(path.as_uri())
        offline.wait_for_selector(".js-plotly-plot .slider-container, .js-plotly-plot .slider-group")
        before = offline.evaluate("() => { const gd = document.querySelector('.js-plotly-plot');"
                                  " return Array.from(gd._fullData.find(t => t.name === 'membrane').y); }")
        start = offline.evaluate("() => document.querySelector('.js-plotly-plot')"
                                 "._fullLayout.sliders[0].active")
        rail = offline.locator(".slider-rail-rect").first.bounding_box()
        offline.mouse.click(rail["x"] + rail["width"] * 0.25, rail["y"] + rail["height"] / 2)
        offline.wait_for_function("(start) => { const gd = document.querySelector('.js-plotly-plot');"
                                  " return gd._fullLayout.sliders[0].active !== start; }", arg=start)
        time.sleep(0.5)
        value = float(offline.evaluate("() => { const s = document.querySelector('.js-plotly-plot')"
                                       "._fullLayout.sliders[0]; return s.steps[s.active].label; }"))
        after = offline.evaluate("() => { const gd = document.querySelector('.js-plotly-plot');"
                                 " return Array.from(gd._fullData.find(t => t.name === 'membrane').y); }")
        assert after != before
        want = neuron_series(simulate(SimConfig(beta=value)))["mem"]
        assert np.max(np.abs(np.asarray(after) - want)) <= 1e-6
        assert not asked, f"the file asked the network for {asked[:3]}"
    finally:
        context.close()


def test_the_lesson_chart_follows_a_drag_and_keeps_the_change_in_its_link(page, app_server):
    page.goto(f"{app_server}/Lesson?step=tonic")
    page.wait_for_selector(CONNECTED)
    page.wait_for_function(IDLE_JS)
    page.wait_for_selector(f"{LIVE} .main-svg")
    page.wait_for_function("() => document.querySelector('[data-live-chart]').rleakyLive.updates > 0")
    page.evaluate(WATCH_RUNS_JS)
    before = page.evaluate(LIVE_STATE_JS)
    _drag(page, "input[data-param=threshold]", 0.3, 0.6, moves=20, seconds=0.6)
    _settled(page, "threshold")
    during = page.evaluate(LIVE_STATE_JS)
    assert page.evaluate("window.rvRuns") == 0
    assert during["updates"] > before["updates"] and during["membrane"] != before["membrane"]
    shown = float(page.locator("input[data-param=threshold] + output").inner_text())
    page.mouse.up()
    page.wait_for_function("() => new URLSearchParams(location.search).get('threshold') !== null")
    page.wait_for_function(IDLE_JS)
    query = _query(page)
    assert query["step"] == "tonic" and float(query["threshold"]) == pytest.approx(shown)
    assert "Changed from the preset" in page.locator("[data-testid='stMain']").inner_text()
    page.wait_for_function("() => document.querySelector('[data-live-chart]').dataset.shown"
                           " === 'authoritative'")
    after = page.evaluate(LIVE_STATE_JS)
    assert np.allclose(after["membrane"], during["membrane"], rtol=0, atol=1e-6)


def _points(d: str) -> np.ndarray:
    """The vertices of an SVG path of M/L commands (what live.js writes for a linear line)."""
    import re

    return np.array([[float(x), float(y)] for x, y in re.findall(r"[ML]([-\d.]+),([-\d.]+)", d)])


def test_a_frame_between_plotly_draws_is_drawn_at_its_own_values(page, app_server):
    """While the hand moves, live.js draws the frame over the plot itself: the membrane
    it draws lies, point for point, on the held axes at the frame's (the core's) values."""
    open_explorer(page, app_server)
    got = page.evaluate("""async () => {
      const gd = document.querySelector('[data-live-chart]');
      const i = document.querySelector('input[data-param=beta]');
      i.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true}));  // the axes hold β's frames
      for (let n = 0; n < 200 && gd.dataset.settled !== 'authoritative'; n++)
        await new Promise(r => setTimeout(r, 20));
      await new Promise(r => setTimeout(r, 300));
      const k = 12;
      i.value = String(k);
      i.dispatchEvent(new Event('input', {bubbles: true}));
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      const m = gd._fullData.findIndex(t => t.name === 'membrane');
      const layer = gd.querySelector('svg.rl-layer');
      const xa = gd._fullLayout.xaxis2, ya = gd._fullLayout.yaxis2;
      return {shown: gd.dataset.shown, settled: gd.dataset.settled, k,
              d: layer ? layer.children[1 + m].querySelector('path').getAttribute('d') : '',
              value: gd.rleakyLive.controls[0].values[k],
              x: [xa._offset, xa._length, ...xa.range], y: [ya._offset, ya._length, ...ya.range]};
    }""")
    assert got["shown"] == f"beta:{got['k']}" and got["settled"] != got["shown"], got["settled"]
    want = neuron_series(simulate(SimConfig(beta=got["value"])))["mem"]
    pts = _points(got["d"])
    assert pts.shape == (want.size, 2)
    x0, xl, xlo, xhi = got["x"]
    y0, yl, ylo, yhi = got["y"]
    assert np.allclose(pts[:, 0], x0 + xl * (np.arange(want.size) - xlo) / (xhi - xlo), atol=0.06)
    assert np.allclose(pts[:, 1], y0 + yl * (yhi - want) / (yhi - ylo), atol=0.06)
