"""The app in a real browser (Debian's Chromium through Playwright): every page, a slider
moved by keyboard, a preset link, the CSV download, an upload through the file chooser,
the device fallback and the friendly error panel.

The server (``conftest.app_server``) runs with ``RLEAKY_VIZ_FAULT=seed=424242``: runs
with that seed fail on purpose, every other run is normal.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest

from rleaky_viz import PRESETS, SimConfig
from rleaky_viz.devserver import IDLE_JS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "assets" / "screenshots"
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
EXCEPTION = "[data-testid='stException']"
CHART = ".js-plotly-plot"
# Helpers installed in every page (``install_helpers``): the explorer's main chart (its
# title and membrane trace, from Plotly's decoded data) and what a keyed widget shows (a
# slider's or number input's value, a checkbox's state, a selectbox's chosen option).
HELPERS_JS = """
window.rvMainChart = () => {
  const gd = document.querySelector('.st-key-explorer_main .js-plotly-plot')
          || document.querySelector('[data-live-chart].js-plotly-plot')
          || document.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullData) return null;
  const mem = gd._fullData.find(t => t.name === 'membrane');
  const title = gd.layout && gd.layout.title;
  return {title: title ? (title.text || String(title)) : '', membrane: mem ? Array.from(mem.y) : null};
};
window.rvWidget = (key) => {
  const box = document.querySelector('.st-key-' + key);
  if (!box) return null;
  const check = box.querySelector('input[type=checkbox]');
  if (check) return check.checked ? 'true' : 'false';
  const input = box.querySelector('input');
  return input ? input.value : null;
};
"""
MAIN_CHART_JS = "() => window.rvMainChart()"
WIDGET_JS = "(key) => window.rvWidget(key)"


def _pages() -> list[tuple[str, str]]:
    """(file, URL path) of every page the app's navigation declares (rleaky_viz.navigation)."""
    from rleaky_viz.navigation import PAGES as REGISTRY

    listed = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")}
    declared = [(page.file, page.path) for page in REGISTRY.values()]
    assert listed == {file for file, _ in declared}, "a file in pages/ is not in the navigation"
    return declared


PAGES = _pages()


@pytest.fixture(autouse=True)
def install_helpers(page):
    page.add_init_script(HELPERS_JS)


def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(CONNECTED)
    page.wait_for_function(IDLE_JS)


def wait_idle(page) -> None:
    page.wait_for_function(IDLE_JS)


def wait_charts(page, at_least: int = 1) -> int:
    page.wait_for_function(f"document.querySelectorAll('{CHART}').length >= {at_least}")
    return page.locator(CHART).count()


def assert_no_exception(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()


# What a page's picture shows when its top is not the interesting part (the conv grid's
# spike map starts at step 0, before anything fires): this element, scrolled into view.
SHOT_FOCUS = {"Conv_grid": ".st-key-conv_rate_map"}


def screenshot(page, name: str, tmp_path: Path, focus: str | None = None) -> Path:
    """Every page is photographed; the README's copies in assets/screenshots are written
    when missing or when RLEAKY_VIZ_SCREENSHOTS=update (``make screenshots``), so a test
    run does not leave changed images in the working tree."""
    target = SHOTS / f"{name}.png"
    if os.environ.get("RLEAKY_VIZ_SCREENSHOTS") != "update" and target.exists():
        target = tmp_path / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    if focus and page.locator(focus).count():
        page.locator(focus).first.scroll_into_view_if_needed()
    page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000  # a real picture, not a blank page
    return target


def _train_a_little(page) -> None:
    """The Learn page draws its charts after training: train three epochs."""
    epochs = page.locator(".st-key-learn_epochs input")
    epochs.fill("3")
    epochs.press("Enter")
    page.wait_for_function("() => window.rvWidget('learn_epochs') === '3'")
    wait_idle(page)
    page.locator(".st-key-learn_train button").click()
    wait_charts(page, 2)
    wait_idle(page)


ACTIONS = {"Learn": _train_a_little}


@pytest.mark.parametrize("file, path", PAGES, ids=[p or "home" for _, p in PAGES])
def test_every_page_loads_and_shows_its_charts(page, app_server, file, path, tmp_path):
    open_app(page, f"{app_server}/{path}")
    ACTIONS.get(path, lambda p: None)(page)
    if re.search(r"\b(plotly_)?chart\(", (ROOT / file).read_text()):  # st.plotly_chart or ui.charts.chart
        wait_charts(page, 1)
    assert_no_exception(page)
    assert page.locator("[data-testid='stSidebar']").count() == 1
    screenshot(page, (path or "home").lower(), tmp_path, SHOT_FOCUS.get(path))


def test_moving_a_slider_by_keyboard_changes_the_chart(page, app_server):
    open_app(page, f"{app_server}/Neuron_explorer")
    wait_charts(page, 2)
    before = page.evaluate(MAIN_CHART_JS)
    assert before["membrane"] and len(before["membrane"]) == SimConfig().num_steps
    thumb = page.locator(".st-key-beta input[type=range]")  # role=slider
    thumb.focus()
    for _ in range(10):  # step 0.01: from β = 0.9 to 0.8
        thumb.press("ArrowLeft")
    page.wait_for_function("() => Math.abs(parseFloat(new URLSearchParams(location.search)"
                           ".get('beta')) - 0.8) < 1e-9")
    page.wait_for_function("(old) => { const now = window.rvMainChart(); return !!now && !!now.membrane"
                           " && JSON.stringify(now.membrane) !== JSON.stringify(old); }",
                           arg=before["membrane"])
    wait_idle(page)
    # the chart is redrawn after the script ends (in the browser): wait for the last run's
    page.wait_for_function("() => { const now = window.rvMainChart();"
                           " return !!now && !!now.membrane && Math.abs(now.membrane[1] - 0.54) < 1e-6; }")
    after = page.evaluate(MAIN_CHART_JS)
    assert after["membrane"] != before["membrane"]
    assert float(page.evaluate(WIDGET_JS, "beta")) == pytest.approx(0.8)
    # one_to_one, V = 0.5, constant 0.3: below threshold U[1] = 0.8·0.3 + 0.3 exactly
    assert after["membrane"][1] == pytest.approx(0.8 * 0.3 + 0.3, abs=1e-6)
    assert_no_exception(page)


def test_a_preset_link_reproduces_its_state(page, app_server):
    preset = PRESETS["strict_threshold"]  # β = 0, input 1.0 = θ: U sits at θ and never fires
    open_app(page, f"{app_server}{preset.url()}")
    wait_charts(page, 2)
    query = dict(parse_qsl(urlsplit(preset.url()).query))
    for key, text in query.items():
        shown = page.evaluate(WIDGET_JS, key)
        assert shown is not None, f"no widget for {key}"
        try:
            assert float(shown) == pytest.approx(float(text)), key
        except ValueError:
            assert shown == text, key
    assert dict(parse_qsl(urlsplit(page.url).query)) == query  # the URL still describes it
    chart = page.evaluate(MAIN_CHART_JS)
    cfg = preset.config
    assert len(chart["membrane"]) == cfg.num_steps
    assert all(u == pytest.approx(1.0) for u in chart["membrane"])
    assert re.search(r"\b0 spikes", chart["title"]), chart["title"]
    assert_no_exception(page)


def test_traces_csv_download(page, app_server, tmp_path):
    open_app(page, f"{app_server}/Neuron_explorer?num_steps=50&seed=7")
    wait_charts(page, 2)
    with page.expect_download() as info:
        page.locator(".st-key-neuron_export_csv button").click()
    download = info.value
    assert download.suggested_filename == "neuron.csv"
    path = tmp_path / "neuron.csv"
    download.save_as(path)
    frame = pd.read_csv(path)
    assert {"t", "mem", "spk"} <= set(frame.columns)
    assert len(frame) == 50 and frame["t"].tolist() == list(range(50))
    assert frame["mem"].notna().all()


def _upload(page, name: str, data: bytes, mime: str = "text/csv") -> None:
    # the dropzone's "Upload" button, or "add" once a file is listed (not its remove button)
    button = page.locator(".st-key-explorer_csv button").filter(has_text=re.compile("upload|add", re.I))
    with page.expect_file_chooser() as chooser:
        button.first.click()
    chooser.value.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_bad_upload_gets_a_message_in_place_and_the_page_keeps_working(page, app_server):
    open_app(page, f"{app_server}/Neuron_explorer?stimulus=csv&num_steps=30")
    assert "choose a CSV file" in page.locator("[data-testid='stAlert']").first.inner_text()
    _upload(page, "current.txt", b"0.1\n0.2\n", mime="text/plain")  # refused by the uploader
    page.get_by_text(re.compile("not allowed|not supported", re.I)).first.wait_for()

    _upload(page, "bad.csv", b"current\n0.1\nabc\n0.3\n")
    page.get_by_text("row 2, column 1 is not a number").wait_for()
    wait_idle(page)
    assert_no_exception(page)
    assert page.locator(CHART).count() == 0

    _upload(page, "nan.csv", b"0.1\nnan\n")
    page.get_by_text("NaN or infinite").wait_for()
    assert_no_exception(page)

    _upload(page, "good.csv", b"current\n" + b"0.5\n" * 10)  # the page still works
    wait_charts(page, 2)
    wait_idle(page)
    assert page.locator("[data-testid='stAlert']").filter(has_text="not a number").count() == 0
    membrane = page.evaluate(MAIN_CHART_JS)["membrane"]
    assert len(membrane) == 30 and membrane[0] == pytest.approx(0.5)
    assert_no_exception(page)


def test_a_failing_run_shows_a_friendly_panel_and_other_pages_work(page, app_server, fault_seed):
    open_app(page, f"{app_server}/Neuron_explorer?seed={fault_seed}")
    alert = page.locator("[data-testid='stAlert']").filter(has_text="Something went wrong")
    alert.wait_for()
    assert "PlantedFault" in alert.inner_text()
    link = page.get_by_role("link", name="Open the configuration that failed")
    assert f"seed={fault_seed}" in link.get_attribute("href")
    assert_no_exception(page)
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()
    # the same session: another seed runs again
    page.locator("[data-testid='stSidebar'] [data-testid='stExpander'] summary").filter(
        has_text="Run").click()  # the Run group starts folded
    seed = page.locator(".st-key-seed input")
    seed.fill("3")
    seed.press("Enter")
    wait_charts(page, 2)
    wait_idle(page)
    assert alert.count() == 0
    open_app(page, f"{app_server}/Population")
    wait_charts(page, 3)
    assert_no_exception(page)


def test_cuda_asked_for_falls_back_with_a_notice(page, app_server):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the fallback cannot be shown")
    open_app(page, f"{app_server}/Neuron_explorer?device=cuda&num_steps=30")
    page.get_by_text("CUDA was asked for").wait_for()
    wait_charts(page, 2)
    assert_no_exception(page)
    assert math.isfinite(page.evaluate(MAIN_CHART_JS)["membrane"][-1])
