"""A shared link that is the server's very first visit opens the app as declared.

Until some session has run ``app.py``'s ``st.navigation``, Streamlit serves a deep link
straight from ``pages/`` in its older multipage mode (the sidebar then lists the files,
with an "app" entry and no sections).  This module has a server of its own, so its first
request is the deep link (``ui.panels._leave_pages_folder_mode``).
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from rleaky_viz.devserver import IDLE_JS

pytestmark = pytest.mark.e2e

CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"


def test_a_deep_link_as_the_first_visit_gets_the_declared_navigation(page, app_server):
    page.goto(f"{app_server}/Neuron_explorer?beta=0.8")
    page.wait_for_selector(CONNECTED)
    page.wait_for_function(IDLE_JS)
    page.wait_for_selector("[data-testid='stSidebarNav']")
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    # the sections app.py declares, the first page "Home", and no entry for app.py itself
    assert "Explore" in nav and "Gradients and learning" in nav, nav
    assert "Home" in nav and "app" not in nav.split(), nav
    # the linked page with the link's value
    assert urlsplit(page.url).path.rstrip("/").endswith("Neuron_explorer")
    assert dict(parse_qsl(urlsplit(page.url).query)).get("beta") == "0.8"
    assert page.locator("h1").first.inner_text().strip().startswith("Neuron explorer")
    assert float(page.locator(".st-key-beta input").first.input_value()) == pytest.approx(0.8)
