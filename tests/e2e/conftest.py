"""Fixtures for the real-browser tests: one app server and one Chromium per test module
(stopped when the module is done, so the rest of the suite does not share the machine
with them).

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make install-test``),
driven by the Playwright Python package; Playwright's own browser downloads are
never used.  Without Chromium the tests are skipped on a developer's machine
and fail under ``CI=true``, so CI can never pass without running them.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from rleaky_viz import devserver

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("RLEAKY_VIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
# A run matching this fails on purpose (rleaky_viz.ui.runner's fault hook), so the
# friendly error panel can be checked in the browser while other runs work.
FAULT_SEED = 424242
SERVER_START_S = 90


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"real-browser tests cannot run: {reason}. `make install-test` installs "
                    "Debian's chromium with apt-get when run as root; the test extra "
                    "installs the playwright package.", pytrace=False)
    pytest.skip(f"real-browser tests skipped: {reason} (they fail instead under CI=true)")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """Base URL of a live app (``streamlit run app.py``) on a free loopback port."""
    port = devserver.free_port()
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    proc = devserver.start(port, log_path, env={"RLEAKY_VIZ_FAULT": f"seed={FAULT_SEED}"})
    url = f"http://127.0.0.1:{port}"
    try:
        devserver.wait_healthy(url, proc, SERVER_START_S, log_path)
        yield url
    finally:
        devserver.stop(proc)


@pytest.fixture(scope="session")
def fault_seed() -> int:
    """Runs with this seed fail on purpose in ``app_server``."""
    return FAULT_SEED


@pytest.fixture(scope="module")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    pw = sync_playwright().start()
    try:
        # Playwright gives a non-persistent browser a fresh temporary profile
        # (--user-data-dir) and removes it on close: nothing is left in $HOME
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def browser_context(browser):
    """One context for the session, so the app's scripts are downloaded and cached once."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(60_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    """A fresh tab: its own websocket, so its own Streamlit session and session state."""
    pg = browser_context.new_page()
    yield pg
    pg.close()
