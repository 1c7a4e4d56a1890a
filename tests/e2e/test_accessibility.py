"""Accessibility in a real browser: an axe-core audit of every page, the charts' text
alternatives, the keyboard alone, and motion that can be paused and respects the browser's
reduced-motion setting.

* **axe** (axe-core, bundled by the axe-playwright-python package) runs on every page
  the navigation declares, after its first chart is drawn (the Learn page after a short
  training): no critical or serious violation may remain, except those in
  :data:`STREAMLIT_OWNED`, each a rule and the element of Streamlit's own markup it is
  found on, with the reason it cannot be fixed here.  A violation on any other element
  fails the test, and so does an allowance that no longer matches anything (it would
  hide the next one).  The per-page results are written to ``axe-results.json`` in the
  test's temporary folder and printed (``pytest -s``), for the README.
* Every chart on every page has its "Chart summary" (``rleaky_viz.ui.charts``) under it;
  the explorer's is the sentence ``describe_trace`` gives for the run.
* Keyboard only: from Home, Tab to a preset's Open button, Enter; in the Neuron explorer
  Tab to the sidebar's β, the arrow keys change it (the URL and the widget follow), Tab
  on to the export buttons and Enter downloads the traces.
* Motion: Play advances the time cursor and Pause should stop it (a known bug: it does not
  while Play reruns; the test is marked xfail, strict, until it is fixed); with
  ``prefers-reduced-motion: reduce`` (Playwright's ``reduced_motion``) Play is off, the
  conv grid's animation has no play button, and CSS transitions are off.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from rleaky_viz import SimConfig, simulate
from rleaky_viz.describe import describe_trace
from rleaky_viz.devserver import IDLE_JS
from rleaky_viz.navigation import PAGES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
CHART = ".js-plotly-plot"
BLOCKING = ("critical", "serious")


@dataclass(frozen=True)
class Allowed:
    rule: str       # the axe rule id
    element: str    # a CSS selector: the violating node is this element or inside it
    reason: str     # why it cannot be fixed in this project


# Critical/serious violations that come from Streamlit's own markup (Streamlit 1.67).
STREAMLIT_OWNED = (
    Allowed("list", "[data-testid='stSidebarNavItems']",
            "st.navigation with sections draws the sidebar navigation as one <ul> whose direct "
            "children are <div> section wrappers (header + items), which a <ul> may not hold. "
            "The markup is Streamlit's; st.navigation has no option for it, and replacing it "
            "with our own links would lose the built-in active page and section headers."),
    Allowed("listitem", "[data-testid='stSidebarNavItems']",
            "the same navigation: its <li> items sit inside those <div> wrappers, not directly "
            "inside a <ul> or <ol>."),
)


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(CONNECTED)
    _idle(page)


# the page-wide styles (ui.motion.A11Y_CSS) are in force: st.html's renderer is loaded
# lazily by Streamlit's frontend, so on a first visit they arrive a moment after the page
STYLED_JS = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
  .every(c => getComputedStyle(c).opacity === '0.8')"""


def _idle(page) -> None:
    page.wait_for_function(IDLE_JS)
    page.wait_for_function(STYLED_JS)


def _train_a_little(page) -> None:
    epochs = page.locator(".st-key-learn_epochs input")
    epochs.fill("3")
    epochs.press("Enter")
    page.wait_for_function("() => document.querySelector('.st-key-learn_epochs input').value === '3'")
    _idle(page)
    page.locator(".st-key-learn_train button").click()
    page.wait_for_selector(".st-key-learn_loss .js-plotly-plot")
    _idle(page)


ACTIONS = {"learn": _train_a_little}

# Each chart's keyed element container (st-key-<key>) and whether its summary is there.
SUMMARIES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
  const box = gd.closest('[data-testid="stElementContainer"]');
  const key = box && [...box.classList].find(c => c.startsWith('st-key-'));
  const summary = key && document.querySelector('.st-key-chart_summary_' + key.slice(7));
  return {key: key ? key.slice(7) : null, summary: summary ? summary.innerText.trim() : null};
})"""

# For each axe node: is it (inside) an element of the given selector?
INSIDE_JS = """([target, selector]) => {
  const el = document.querySelector(target);
  return !!el && !!el.closest(selector);
}"""

RESULTS: dict[str, dict] = {}


def _counts(entries: list[dict]) -> dict:
    out: dict[str, int] = {}
    for e in entries:
        out[f"{e['rule']} ({e['impact']})"] = out.get(f"{e['rule']} ({e['impact']})", 0) + 1
    return out


def _owned_by_streamlit(page, violation: dict, node: dict) -> bool:
    target = node["target"]
    if len(target) != 1 or not isinstance(target[0], str):  # inside a frame or shadow root: ours
        return False
    return any(a.rule == violation["id"] and page.evaluate(INSIDE_JS, [target[0], a.element])
               for a in STREAMLIT_OWNED)


@pytest.fixture(scope="module")
def axe():
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        pytest.fail("axe-playwright-python is not installed (it is in the test extra)", pytrace=False)
    return Axe()


@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_serious_violation_of_ours_and_every_chart_has_its_summary(
        page, app_server, axe, name, tmp_path_factory):
    target = PAGES[name]
    _open(page, f"{app_server}/{target.path}")
    ACTIONS.get(name, lambda p: None)(page)
    source = (ROOT / target.file).read_text()
    if re.search(r"\b(plotly_)?chart\(", source):
        page.wait_for_selector(CHART)
        page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')]"
                               ".every(gd => gd._fullLayout)")  # drawn, not just mounted
    _idle(page)

    # the text alternative of every chart
    charts = page.evaluate(SUMMARIES_JS)
    missing = [c["key"] for c in charts if not (c["summary"] or "").startswith("Chart summary:")]
    assert not missing, f"charts without a summary on {name}: {missing}"

    results = axe.run(page, options={"resultTypes": ["violations"]}).response
    ours, streamlit, other = [], [], []
    for v in results["violations"]:
        for node in v["nodes"]:
            entry = {"rule": v["id"], "impact": v["impact"], "target": node["target"],
                     "html": node["html"][:160], "why": (node.get("failureSummary") or "")[:300]}
            if v["impact"] not in BLOCKING:
                other.append(entry)
            elif _owned_by_streamlit(page, v, node):
                streamlit.append(entry)
            else:
                ours.append(entry)
    used = {e["rule"] for e in streamlit}
    RESULTS[name] = {"charts": len(charts), "ours": ours, "streamlit": streamlit, "minor": other}
    out = tmp_path_factory.getbasetemp() / "axe-results.json"
    out.write_text(json.dumps(RESULTS, indent=1, ensure_ascii=False))
    print(f"\naxe {name}: {len(charts)} charts, each with its summary; critical/serious of ours "
          f"{_counts(ours)}; Streamlit's {_counts(streamlit)}; moderate/minor {_counts(other)}")
    assert not ours, json.dumps(ours, indent=1, ensure_ascii=False)
    assert used <= {a.rule for a in STREAMLIT_OWNED}
    assert not other, f"moderate or minor violations on {name}: {json.dumps(other, ensure_ascii=False)}"


def test_every_streamlit_allowance_still_matches(page, app_server, axe):
    """An allowance that matches nothing any more would hide the next real violation."""
    _open(page, f"{app_server}/Mystery_neuron")
    found = set()
    for v in axe.run(page).response["violations"]:
        for node in v["nodes"]:
            if _owned_by_streamlit(page, v, node):
                found.add(v["id"])
    assert found == {a.rule for a in STREAMLIT_OWNED}


def test_the_explorers_summary_is_the_runs_own_sentence(page, app_server):
    _open(page, f"{app_server}/Neuron_explorer?num_steps=120&amplitude=0.25&seed=4")
    page.wait_for_selector("[data-live-chart].js-plotly-plot")
    _idle(page)
    cfg = PAGES["neuron"].default_config.replace(num_steps=120, amplitude=0.25, seed=4)
    summary = page.locator(".st-key-chart_summary_explorer_live").inner_text().strip()
    assert summary == ("Chart summary: At the sidebar's settings (what the chart shows when no "
                       "control is being dragged): " + describe_trace(simulate(cfg)))
    # the live chart itself is named, from the frame it shows
    label = page.locator("[data-live-chart]").get_attribute("aria-label")
    spikes = int((simulate(cfg).spk != 0).sum())
    assert page.locator("[data-live-chart]").get_attribute("role") == "figure"
    assert f"{spikes} spikes in 120 steps" in label, label


def _tab_to(page, selector: str, limit: int = 200) -> int:
    """Press Tab until the focused element is (inside) ``selector``; the number of presses."""
    for n in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement && !!document.activeElement.closest(s)", selector):
            return n
    raise AssertionError(f"{selector} not reached with {limit} presses of Tab")


def _query(page) -> dict:
    return dict(parse_qsl(urlsplit(page.url).query))


def test_keyboard_alone_preset_beta_and_export(page, app_server, tmp_path):
    _open(page, f"{app_server}/")
    # a preset control on Home: its Open button, by Tab and Enter
    _tab_to(page, ".st-key-preset_tonic button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/Neuron_explorer"))
    _idle(page)
    page.wait_for_selector("[data-live-chart].js-plotly-plot")
    assert _query(page).get("recurrence") == "none" and _query(page).get("num_steps") == "100"

    # β in the sidebar: Tab to it, then the arrow keys
    page.locator("body").focus()
    _tab_to(page, ".st-key-beta input[type=range]")
    before = float(page.locator(".st-key-beta input[type=range]").input_value())
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    want = round(before - 0.05, 2)
    page.wait_for_function("(w) => Math.abs(parseFloat(new URLSearchParams(location.search).get('beta')) - w) < 1e-9",
                           arg=want)
    _idle(page)
    assert float(page.locator(".st-key-beta input[type=range]").input_value()) == pytest.approx(want)

    # on to the export buttons; Enter on the first one downloads the traces
    _tab_to(page, "[class*='st-key-neuron_export_'] button", limit=300)
    focused = page.evaluate("() => [...document.activeElement.closest(\"[class*='st-key-neuron_export_']\")"
                            ".classList].find(c => c.startsWith('st-key-'))")
    assert focused == "st-key-neuron_export_csv"
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    path = tmp_path / "neuron.csv"
    info.value.save_as(path)
    assert path.read_text().splitlines()[0].startswith("t,")
    for export in ("parquet", "json", "html", "code"):  # every export button is reachable
        page.keyboard.press("Tab")
        assert page.evaluate("(k) => !!document.activeElement.closest('.st-key-neuron_export_' + k)", export), export


def _cursor(page) -> int:
    return int(page.locator(".st-key-explorer_t input[type=range]").input_value())


def test_play_can_be_paused(page, app_server):
    _open(page, f"{app_server}/Neuron_explorer?num_steps=400")
    play = page.locator(".st-key-explorer_t_play button:visible")
    assert play.is_enabled()
    page.locator(".st-key-explorer_t_reset button:visible").click()
    page.wait_for_function("() => document.querySelector('.st-key-explorer_t input[type=range]')"
                           ".value === '0'")
    _idle(page)
    play.click()
    page.wait_for_function("() => +document.querySelector('.st-key-explorer_t input[type=range]').value >= 30")
    page.locator(".st-key-explorer_t_pause button:visible").focus()
    page.keyboard.press("Space")
    _idle(page)
    page.wait_for_function("() => [...document.querySelectorAll('.st-key-explorer_t_play button')]"
                           ".every(b => !b.disabled)")
    stopped = _cursor(page)
    assert 30 <= stopped < 399
    page.wait_for_timeout(1500)
    _idle(page)
    assert _cursor(page) == stopped  # paused: nothing moves


def test_reduced_motion_is_respected(browser, app_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        _open(page, f"{app_server}/Neuron_explorer?num_steps=100")
        page.wait_for_selector(".st-key-_a11y_motion [data-reduced-motion='true']", state="attached")
        # a new tab is a new session: its first run cannot know yet, the report reruns it
        page.wait_for_function("() => { const b = document.querySelector('.st-key-explorer_t_play button');"
                               " return !!b && b.disabled; }")
        _idle(page)
        # the page-wide rule: every transition and animation lasts a microsecond (0s without it)
        assert 0 < page.evaluate("() => parseFloat(getComputedStyle(document.querySelector("
                                 "'[data-testid=stApp]')).transitionDuration)") < 0.001
        # the conv grid's spike maps: a slider to scrub, no play button
        _open(page, f"{app_server}/Conv_grid")
        page.get_by_text("your browser asks for reduced motion").wait_for()
        _idle(page)
        page.wait_for_function("() => { const gd = document.querySelector('.st-key-conv_frames .js-plotly-plot');"
                               " return !!gd && !!gd._fullLayout && (gd.layout.sliders || []).length === 1; }")
        assert page.evaluate("() => (document.querySelector('.st-key-conv_frames .js-plotly-plot')"
                             ".layout.updatemenus || []).length") == 0
    finally:
        context.close()
    # and without the setting, the play button is there
    normal = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = normal.new_page()
        _open(page, f"{app_server}/Conv_grid")
        page.wait_for_selector(".st-key-conv_frames .js-plotly-plot")
        page.wait_for_function("() => { const gd = document.querySelector('.st-key-conv_frames .js-plotly-plot');"
                               " return gd._fullLayout && (gd.layout.updatemenus || []).length === 1; }")
    finally:
        normal.close()
