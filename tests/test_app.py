"""AppTest: every page runs, widgets move charts, links reproduce views, bad input is contained."""
import json

import numpy as np
import pytest
import torch

from _apptest import app, decode, figures, trace_named

from rleaky_viz import PRESETS, SimConfig
from rleaky_viz.navigation import PAGES

PAGE_FILES = ["app.py", "pages/1_Neuron_explorer.py", "pages/2_Population.py", "pages/3_Conv_grid.py"]






@pytest.mark.parametrize("file", PAGE_FILES)
def test_page_runs_without_exception(file):
    at = app(file)
    assert not at.exception
    assert not at.error
    if file != "app.py":
        assert len(figures(at)) >= 2


def test_home_equation_follows_controls():
    at = app("app.py")
    latex = " ".join(el.proto.body for el in at.get("latex"))
    assert r"R[t]\,\theta" in latex and r"V \odot S[t-1]" in latex
    at.selectbox(key="reset_mechanism").set_value("zero").run()
    at.checkbox(key="reset_delay").uncheck().run()
    at.selectbox(key="recurrence").set_value("linear").run()
    latex = " ".join(el.proto.body for el in at.get("latex"))
    assert r"R[t]\,B[t]" in latex and r"D[t]" in latex and r"W\,S[t-1] + b" in latex
    assert not at.exception


def test_home_has_a_button_per_preset():
    at = app("app.py")
    keys = {b.key for b in at.button}
    assert {f"preset_{name}" for name in PRESETS} <= keys


def test_moving_a_slider_changes_the_membrane():
    at = app("pages/1_Neuron_explorer.py")
    before = decode(trace_named(figures(at)[0], "membrane")["y"])
    at.slider(key="beta").set_value(0.5).run()
    after = decode(trace_named(figures(at)[0], "membrane")["y"])
    assert not at.exception
    assert len(before) == len(after) == SimConfig().num_steps
    assert not np.allclose(before, after)
    # β = 0.5, constant 0.3, no spikes reached: U tends to 0.3 / (1 - 0.5) = 0.6
    assert after[50] == pytest.approx(0.6, abs=1e-4)
    assert at.query_params["beta"] == "0.5"


def test_threshold_changes_spike_count_as_it_should():
    at = app("pages/1_Neuron_explorer.py")
    count = lambda: int(at.metric[0].value)  # noqa: E731
    at.selectbox(key="recurrence").set_value("none").run()
    low = count()
    at.slider(key="threshold").set_value(2.0).run()
    assert count() < low
    assert not at.exception


def test_url_round_trip_reproduces_the_view():
    query = {"beta": "0.8", "threshold": "1.5", "reset_mechanism": "zero", "seed": "42",
             "stimulus": "noise", "noise_std": "0.2"}
    at = app("pages/1_Neuron_explorer.py", query)
    assert not at.exception
    assert at.slider(key="beta").value == 0.8
    assert at.selectbox(key="reset_mechanism").value == "zero"
    mem = decode(trace_named(figures(at)[0], "membrane")["y"])
    again = app("pages/1_Neuron_explorer.py", {k: v for k, v in at.query_params.items()})
    assert np.array_equal(mem, decode(trace_named(figures(again)[0], "membrane")["y"]))
    for key, value in query.items():
        assert at.query_params[key] == value


def test_bad_link_values_are_reported_and_the_rest_kept():
    at = app("pages/1_Neuron_explorer.py", {"beta": "lots", "threshold": "1.5"})
    assert not at.exception
    assert any("beta" in w.value for w in at.warning)
    assert at.slider(key="threshold").value == 1.5


def test_preset_button_opens_its_page_with_its_config():
    at = app("app.py")
    at.button(key="preset_strict_threshold").click().run()
    assert not at.exception
    at.switch_page(PRESETS["strict_threshold"].page_file).run()
    assert not at.exception
    assert at.slider(key="beta").value == 0.0
    assert int(at.metric[0].value) == 0


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_link_renders(name):
    preset = PRESETS[name]
    query = dict(q.split("=", 1) for q in preset.url().split("?", 1)[1].split("&"))
    from urllib.parse import unquote_plus
    query = {k: unquote_plus(v) for k, v in query.items()}
    at = app(preset.page_file, query)
    assert not at.exception and not at.error


def test_bad_expression_gets_a_message_in_place():
    at = app("pages/1_Neuron_explorer.py", {"stimulus": "expression"})
    at.text_input(key="expression").input("__import__('os').system('echo hi')").run()
    assert not at.exception
    assert any("functions may be called" in e.value or "attribute" in e.value for e in at.error)
    at.text_input(key="expression").input("0.5 + 0.1*sin(t/3)").run()
    assert not at.error and len(figures(at)) >= 2


def test_too_big_a_run_is_refused_with_a_message():
    at = app("pages/2_Population.py", {"num_neurons": "1000", "num_steps": "10000", "batch_size": "64"})
    assert not at.exception
    assert any("budget" in e.value for e in at.error)


def test_population_weight_init_options():
    for init in ("gain", "sparse", "ei"):
        at = app("pages/2_Population.py", {"weight_init": init, "num_neurons": "30",
                                           "weight_sparsity": "0.5"})
        assert not at.exception and not at.error
        spectrum = [f for f in figures(at) if "spectral radius" in json.dumps(f["layout"].get("title", ""))]
        assert spectrum


def test_conv_page_has_frames_and_rate_map():
    at = app("pages/3_Conv_grid.py", {"grid_size": "8", "num_steps": "40"})
    assert not at.exception
    frames = figures(at)[0]
    assert len(frames.get("frames", [])) > 1
    assert frames["layout"].get("sliders")


def test_device_fallback_notice():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the fallback cannot be shown")
    at = app("pages/1_Neuron_explorer.py", {"device": "cuda"})
    assert not at.exception
    assert any("CUDA was asked for" in i.value for i in at.info)


def test_population_spectrum_is_of_the_shown_weights():
    from rleaky_viz.simulate import build_neuron
    at = app("pages/2_Population.py", {"num_neurons": "40", "weight_init": "ei", "seed": "5"})
    assert not at.exception
    spectrum = [f for f in figures(at) if "spectral radius" in json.dumps(f["layout"].get("title", ""))][0]
    shown = spectrum["layout"]["meta"]["spectral_radius"]
    cfg = PAGES["population"].default_config.replace(num_neurons=40, weight_init="ei", seed=5)
    w = build_neuron(cfg).recurrent.weight.detach().double().numpy()
    assert shown == pytest.approx(float(np.abs(np.linalg.eigvals(w)).max()), rel=1e-9)
