"""Faults: an exception inside a run gives a friendly panel (what failed, a link that
reproduces it), never a raw traceback, and the rest of the app keeps working.

The fault is planted with ``RLEAKY_VIZ_FAULT`` (read by ``rleaky_viz.ui.runner`` at each
run, outside the cache): ``1`` fails every run, ``seed=424242`` only runs with that seed.
"""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rleaky_viz import SimConfig
from _apptest import figures
from rleaky_viz.ui.runner import FAULT_ENV, PlantedFault, run_gradient_flow, run_simulation

ROOT = Path(__file__).resolve().parent.parent
FAULT_SEED = "424242"
# Every page whose run goes through the runner (found by reading the pages, so a new
# page is covered without editing this list).
# pages that run a simulation as they load (Learn's training failures are checked below,
# in test_sweep_and_training_failures_get_the_friendly_panel)
RUN_PAGES = sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")
                   if re.search(r"\b(run_simulation|run_gradient_flow|simulate_with_uploads)\(",
                                p.read_text()))


def app(file: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / file), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [m.value for m in at.markdown] + [c.value for c in at.code]
    return "\n".join(str(p) for p in parts)


def assert_friendly_panel(at: AppTest) -> str:
    """The panel: no exception element, an error naming what failed, a reproducing link."""
    assert not at.exception, at.exception[0].message if at.exception else ""
    panel = [e.value for e in at.error if "Something went wrong" in e.value]
    assert panel, [e.value for e in at.error]
    assert "PlantedFault" in panel[0]
    links = [m.value for m in at.markdown if "Open the configuration that failed" in m.value]
    assert links, [m.value for m in at.markdown]
    assert "Traceback" not in texts(at) and 'File "' not in texts(at)
    return re.search(r"\]\(([^)]*)\)", links[0]).group(1)


def test_the_hook_is_off_unless_asked_for(monkeypatch):
    monkeypatch.delenv(FAULT_ENV, raising=False)
    cfg = SimConfig(num_steps=5, seed=int(FAULT_SEED))
    assert run_simulation(cfg).spk.shape[0] == 5
    monkeypatch.setenv(FAULT_ENV, "0")
    assert run_simulation(cfg).spk.shape[0] == 5


def test_the_hook_fails_only_matching_runs_even_when_cached(monkeypatch):
    cfg = SimConfig(num_steps=7, seed=int(FAULT_SEED))
    monkeypatch.delenv(FAULT_ENV, raising=False)
    run_simulation(cfg)  # now cached: the hook must still fire
    monkeypatch.setenv(FAULT_ENV, f"seed={FAULT_SEED}")
    with pytest.raises(PlantedFault, match=FAULT_ENV):
        run_simulation(cfg)
    with pytest.raises(PlantedFault):
        run_gradient_flow(cfg)
    assert run_simulation(cfg.replace(seed=1)).spk.shape[0] == 7
    monkeypatch.setenv(FAULT_ENV, "1")
    with pytest.raises(PlantedFault):
        run_simulation(cfg.replace(seed=1))


def test_run_pages_are_found():
    assert {"pages/1_Neuron_explorer.py", "pages/2_Population.py",
            "pages/5_Gradient_flow.py"} <= set(RUN_PAGES)


@pytest.mark.parametrize("file", RUN_PAGES)
def test_a_failing_run_shows_the_friendly_panel_then_recovers(monkeypatch, file):
    monkeypatch.setenv(FAULT_ENV, "1")
    at = app(file)
    link = assert_friendly_panel(at)
    assert link.startswith("/")
    assert not figures(at)
    # the same session works again once runs stop failing
    monkeypatch.delenv(FAULT_ENV)
    at.run()
    assert not at.exception
    assert not [e for e in at.error if "Something went wrong" in e.value]
    assert figures(at)


def test_the_link_reproduces_the_failing_config_and_other_pages_work(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, f"seed={FAULT_SEED}")
    query = {"seed": FAULT_SEED, "beta": "0.7", "stimulus": "sine"}
    at = app("pages/1_Neuron_explorer.py", query)
    link = assert_friendly_panel(at)
    path, _, q = link.partition("?")
    assert path == "/Neuron_explorer"
    reproduced = SimConfig.from_query(dict(p.split("=", 1) for p in q.split("&")))
    assert (reproduced.seed, reproduced.beta, reproduced.stimulus) == (int(FAULT_SEED), 0.7, "sine")
    # following the link fails the same way
    again = app("pages/1_Neuron_explorer.py", dict(p.split("=", 1) for p in q.split("&")))
    assert assert_friendly_panel(again) == link
    # the same session: another seed works
    at.number_input(key="seed").set_value(1).run()
    assert not at.exception and not at.error
    assert len(figures(at)) >= 2
    # and another page, in another session, is unaffected
    other = app("pages/2_Population.py")
    assert not other.exception and not other.error
    assert figures(other)


def test_an_unexpected_exception_in_the_simulation_itself_is_contained(monkeypatch):
    """Not the hook: the real ``simulate`` raising, as a bug in the core would."""
    import rleaky_viz.service as service

    def broken(cfg, **kwargs):
        raise ZeroDivisionError("a bug deep in the core")

    monkeypatch.setattr(service, "simulate", broken)
    at = app("pages/2_Population.py", {"seed": "31337"})  # a config no other test caches
    assert not at.exception
    panel = [e.value for e in at.error if "Something went wrong" in e.value]
    assert panel and "ZeroDivisionError" in panel[0] and "a bug deep in the core" in panel[0]
    assert "Traceback" not in texts(at)
    assert any("seed=31337" in m.value for m in at.markdown)
    # nothing was cached for the failing config: it works once the bug is gone
    monkeypatch.undo()
    at.run()
    assert not at.exception and not at.error and figures(at)


@pytest.mark.parametrize("file, module, name", [
    ("pages/7_Sweeps.py", "rleaky_viz.sweeps", "sweep"),
    ("pages/6_Learn.py", "rleaky_viz.learn", "train"),
])
def test_sweep_and_training_failures_get_the_friendly_panel(monkeypatch, file, module, name):
    import importlib

    def broken(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(importlib.import_module(module), name, broken)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / file), default_timeout=60)
    at.run()
    if file.endswith("6_Learn.py"):
        at.button(key="learn_train").click().run()
    assert not at.exception
    assert any("planted failure" in e.value and "still works" in e.value for e in at.error)
