"""AppTest for the gradient-flow and learn pages."""
import json

import numpy as np

from _apptest import app, decode, figures, trace_named




def by_title(at, words):
    for fig in figures(at):
        if words in json.dumps(fig["layout"].get("title", "")):
            return fig
    raise AssertionError(f"no figure titled {words!r}")


def test_gradient_page_shows_every_view():
    at = app("pages/5_Gradient_flow.py")
    assert not at.exception and not at.error
    for words in ("Gradient norm per step", "Surrogate derivative along", "learnable parameter",
                  "Where neuron", "How far back"):
        by_title(at, words)
    assert at.metric[0].label == "loss"


def test_what_if_switch_is_labelled_and_fills_the_reset_path():
    at = app("pages/5_Gradient_flow.py", {"loss": "membrane_mse"})
    reset_off = decode(trace_named(by_title(at, "Where neuron"), "reset: through R[t+1] (detached: zero)")["y"])
    assert np.abs(reset_off).max() < 1e-4
    at.checkbox(key="reset_grad").check().run()
    assert not at.exception
    assert any("not" in w.value and "snnTorch" in w.value for w in at.warning)
    paths = by_title(at, "Where neuron")
    reset_on = decode(trace_named(paths, "reset: through R[t+1] (what-if: NOT detached)")["y"])
    assert np.abs(reset_on).max() > 1e-3
    assert at.query_params["reset_grad"] == "true"


def test_changing_the_loss_changes_the_gradients():
    at = app("pages/5_Gradient_flow.py")
    before = at.metric[0].value
    at.selectbox(key="loss").set_value("membrane_mse").run()
    assert not at.exception and at.metric[0].value != before
    at.selectbox(key="loss").set_value("spike_times").run()
    assert not at.exception
    assert at.text_input(key="target_times").value == "20,60,100,140"


def test_bad_sweep_values_get_a_message():
    at = app("pages/5_Gradient_flow.py")
    at.text_input(key="gradients_values_beta").input("0.5, lots").run()
    assert not at.exception
    assert any("values" in e.value for e in at.error)


def test_learn_page_lowers_the_loss():
    at = app("pages/6_Learn.py")
    assert not at.exception
    at.number_input(key="learn_epochs").set_value(25).run()
    at.button(key="learn_train").click().run()
    assert not at.exception and not at.error
    first, last = float(at.metric[0].value), float(at.metric[1].value)
    assert last < 0.5 * first
    titles = " ".join(json.dumps(f["layout"].get("title", "")) for f in figures(at))
    assert "Training loss" in titles and "Parameters during training" in titles
    # a rerun without pressing Train shows the same result, not a new run
    at.run()
    assert float(at.metric[1].value) == last


def test_learn_page_with_nothing_to_learn_says_so():
    at = app("pages/6_Learn.py", {"learn_beta": "false", "learn_threshold": "false",
                                  "recurrence": "none"})
    at.button(key="learn_train").click().run()
    assert not at.exception
    assert any("nothing to learn" in e.value for e in at.error)


def test_the_distance_view_sweeps_the_surrogates_slope():
    at = app("pages/5_Gradient_flow.py", {"surrogate": "fast_sigmoid", "num_steps": "60"})
    assert "fast sigmoid slope" in at.selectbox(key="gradients_sweep").options
    at.selectbox(key="gradients_sweep").set_value("fast_sigmoid_slope").run()
    assert not at.exception and not at.error
    lines = by_title(at, "How far back")["data"]
    assert [t["name"] for t in lines] == [f"fast_sigmoid_slope = {v:g}" for v in (6.25, 12.5, 25, 50, 100)]
    # another surrogate: its own parameters are offered, the old choice is dropped without an error
    at.selectbox(key="surrogate").set_value("atan").run()
    assert not at.exception and at.selectbox(key="gradients_sweep").value == "beta"
    assert "atan alpha" in at.selectbox(key="gradients_sweep").options
