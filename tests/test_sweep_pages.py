"""AppTest of the Sweeps, Compare and Mystery neuron pages."""
import json

import numpy as np
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState

from _apptest import app, charts, decode, figures
from streamlit.testing.v1 import AppTest

from rleaky_viz import SimConfig, simulate
from rleaky_viz.navigation import PAGES
from rleaky_viz.mystery import mystery_challenge
from rleaky_viz.regimes import REGIMES

SWEEPS, COMPARE, MYSTERY = PAGES["sweeps"].file, PAGES["compare"].file, PAGES["mystery"].file





def figure_titled(at: AppTest, words: str) -> dict:
    for fig in figures(at):
        if words in fig["layout"]["title"]["text"]:
            return fig
    raise AssertionError(f"no figure titled {words!r}")


def click_cell(at: AppTest, chart: int, point: int) -> AppTest:
    """What the browser sends when a map cell is clicked: the chart's selection state.

    AppTest has no wrapper for a Plotly chart's selection, so the widget
    state is written as the frontend writes it (a JSON string) and the
    script is rerun with it.
    """
    element = charts(at)[chart]
    cells = element.spec["data"][1]
    x, y = decode(cells["x"])[point], decode(cells["y"])[point]
    selection = {"selection": {"points": [{"curve_number": 1, "point_number": point,
                                           "point_index": point, "x": float(x), "y": float(y),
                                           "customdata": cells["customdata"][point]}],
                               "point_indices": [point], "box": [], "lasso": []}}
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=element.proto.id, string_value=json.dumps(selection)))
    at._run(states)
    return at


# ----------------------------------------------------------------------------- sweeps
@pytest.fixture(scope="module")
def sweeps_page():
    return app(SWEEPS)


def test_sweeps_page_draws_the_curves_and_maps(sweeps_page):
    at = sweeps_page
    assert not at.exception and not at.error
    assert len(charts(at)) == 5
    fi = figure_titled(at, "f-I curve")
    curves = [t for t in fi["data"] if t["name"].startswith("β = ")]
    onsets = [t for t in fi["data"] if t["name"].startswith("onset β = ")]
    assert len(curves) == 5 and len(onsets) == 5 and len(fi["data"]) == 10  # subtract: no dashed line
    regimes = figure_titled(at, "Regimes")
    assert decode(regimes["data"][0]["z"]).shape == (32, 32)
    assert regimes["data"][0]["colorbar"]["ticktext"] == list(REGIMES)
    # no recurrence, constant input: β = 0.95 fires above I = θ(1 - β) = 0.05 and not below,
    # and its onset triangle sits between the last silent and the first firing amplitude
    rate = decode(curves[-1]["y"])
    amps = decode(curves[-1]["x"])
    assert (rate[amps <= 0.05] == 0).all() and (rate[amps > 0.06] > 0).all()
    onset = decode(onsets[-1]["x"])[0]
    assert amps[rate == 0].max() < onset < amps[rate > 0].min()
    assert "Triangles" in " ".join(c.value for c in at.caption)


def test_the_f_i_chart_draws_exact_rates_for_the_zero_reset():
    at = app(SWEEPS, {"reset_mechanism": "zero"})
    assert not at.exception and not at.error
    fi = figure_titled(at, "f-I curve")
    dashed = [t for t in fi["data"] if t["name"].startswith("theory β = ")]
    assert len(dashed) == 5 and all(t["line"]["dash"] == "dash" for t in dashed)
    for curve, line in zip([t for t in fi["data"] if t["name"].startswith("β = ")], dashed):
        simulated, exact = decode(curve["y"]), decode(line["y"])
        assert (simulated == exact).mean() > 0.95  # all but the points where rounding decides


def test_sweeps_widgets_change_the_charts():
    at = app(SWEEPS)
    at.slider(key="sweeps_resolution").set_value(8).run()
    assert decode(figure_titled(at, "Regimes")["data"][0]["z"]).shape == (8, 8)
    at.slider(key="sweeps_fi_curves").set_value(3).run()
    assert sum(t["name"].startswith("β = ") for t in figure_titled(at, "f-I curve")["data"]) == 3
    before = decode(figure_titled(at, "Regimes")["data"][0]["z"])
    at.selectbox(key="sweeps_y").set_value("threshold").run()
    assert not at.exception
    regimes = figure_titled(at, "Regimes")
    assert regimes["layout"]["yaxis"]["title"]["text"] == "θ (threshold)"
    assert not np.array_equal(before, decode(regimes["data"][0]["z"]))
    at.slider(key="beta").set_value(0.5).run()  # the sidebar is the rest of the config
    assert not at.exception and at.query_params["beta"] == "0.5"


def test_clicking_a_cell_gives_its_link_and_opens_the_explorer():
    at = app("app.py")
    at.switch_page(SWEEPS).run()
    at.slider(key="sweeps_resolution").set_value(6).run()
    click_cell(at, chart=1, point=9)  # the regime map; row 1, column 3 of 6 x 6
    assert not at.exception
    links = [m.value for m in at.markdown if "/Neuron_explorer?" in m.value]
    assert links, "the clicked cell's link is missing"
    frame_beta, frame_amp = 0.6, 0.6  # β from 0.5 to 1.0 and I from 0 to 1 in 6 values
    cell = SimConfig.from_query(dict(p.split("=") for p in
                                     links[0].split("/Neuron_explorer?")[1].split(")")[0].split("&")))
    assert (cell.beta, cell.amplitude, cell.recurrence) == (frame_beta, frame_amp, "none")
    at.button(key="sweeps_open_cell").click().run()
    assert not at.exception
    assert at.title[0].value == "Neuron explorer"
    assert at.slider(key="beta").value == frame_beta and at.slider(key="amplitude").value == frame_amp


# ----------------------------------------------------------------------------- compare
def test_compare_page_starts_with_b_equal_to_a():
    at = app(COMPARE)
    assert not at.exception and not at.error
    assert len(charts(at)) == 4  # overlay, A, B, gradient norms
    assert {m.label: m.value for m in at.metric}["first spike divergence"] == "never"


@pytest.mark.parametrize("button, field, expected", [
    ("compare_contrast_reset", "reset_mechanism", "zero"),
    ("compare_contrast_delay", "reset_delay", False),
    ("compare_contrast_recurrence", "recurrence", "linear"),
    ("compare_contrast_surrogate", "surrogate", "fast_sigmoid"),
])
def test_contrast_buttons_set_b(button, field, expected):
    at = app(COMPARE)
    at.button(key=button).click().run()
    assert not at.exception and not at.error
    widget = at.checkbox if isinstance(expected, bool) else at.selectbox
    assert widget(key=f"compare_b_{field}").value == expected
    text = "false" if expected is False else str(expected)
    assert at.query_params[f"b_{field}"] == text
    overlay = figure_titled(at, "overlaid")
    diff = decode(next(t for t in overlay["data"] if t["name"] == "A - B")["y"])
    if field == "surrogate":  # backward only: the forward run is the same
        assert not diff.any() and any("backward" in i.value for i in at.info)
    else:
        assert diff.any()
        assert {m.label: m.value for m in at.metric}["first spike divergence"].startswith("step")


def test_b_follows_a_again_where_a_moves_onto_its_override():
    """'B is A with the changes below': B's surrogate override, once A has the same surrogate
    (with its own slope), is no change, so B keeps A's slope and the runs' gradients agree."""
    at = app(COMPARE)
    at.button(key="compare_contrast_surrogate").click().run()
    line = next(m.value for m in at.markdown if "Configuration B" in m.value)
    assert "surrogate = fast_sigmoid" in line and "fast_sigmoid slope = 25" in line
    at.selectbox(key="surrogate").set_value("fast_sigmoid").run()
    at.number_input(key="fast_sigmoid_slope").set_value(50.0).run()
    assert not at.exception and not at.error
    line = next(m.value for m in at.markdown if "Configuration B" in m.value)
    assert "the same as A" in line and "b_surrogate" not in at.query_params
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["‖dL/dU‖ at step 0, A"] == metrics["‖dL/dU‖ at step 0, B"]


def test_b_follows_a_except_where_overridden():
    at = app(COMPARE)
    at.number_input(key="compare_b_threshold").set_value(1.5).run()
    assert at.query_params["b_threshold"] == "1.5"
    at.slider(key="beta").set_value(0.7).run()  # A changes in the sidebar
    assert at.number_input(key="compare_b_beta").value == 0.7  # B follows A
    assert at.number_input(key="compare_b_threshold").value == 1.5  # ... but keeps its override
    at.number_input(key="compare_b_threshold").set_value(1.0).run()  # back to A's θ
    assert "b_threshold" not in at.query_params
    at.button(key="compare_contrast_reset").click().run()
    at.button(key="compare_b_same").click().run()
    assert not any(k.startswith("b_") for k in at.query_params)


def test_b_url_parameters_round_trip():
    query = {"beta": "0.8", "b_reset_mechanism": "zero", "b_reset_delay": "false", "b_threshold": "1.5"}
    at = app(COMPARE, query)
    assert not at.exception and not at.error
    assert at.slider(key="beta").value == 0.8
    assert at.selectbox(key="compare_b_reset_mechanism").value == "zero"
    assert at.checkbox(key="compare_b_reset_delay").value is False
    assert at.number_input(key="compare_b_beta").value == 0.8  # not overridden: A's value
    assert {k: at.query_params[k] for k in query} == query
    mem_b = decode(figure_titled(at, "overlaid")["data"][2]["y"])
    expected = simulate(SimConfig(beta=0.8, num_steps=150, reset_mechanism="zero", reset_delay=False,
                                  threshold=1.5))
    assert np.allclose(mem_b, expected.mem[:, 0, 0].numpy(), atol=1e-6)
    again = app(COMPARE, {k: at.query_params[k] for k in at.query_params})
    assert np.array_equal(mem_b, decode(figure_titled(again, "overlaid")["data"][2]["y"]))


def test_bad_b_parameter_is_reported():
    at = app(COMPARE, {"b_beta": "lots", "b_reset_mechanism": "zero"})
    assert not at.exception
    assert any("b_beta" in w.value for w in at.warning)
    assert at.selectbox(key="compare_b_reset_mechanism").value == "zero"


# ----------------------------------------------------------------------------- mystery
def test_mystery_page_scores_reveals_and_takes_new_challenges():
    at = app(MYSTERY, {"challenge": "3"})
    assert not at.exception and not at.error
    assert len(charts(at)) == 1 and at.query_params["challenge"] == "3"
    score = lambda: float(at.metric[0].value.split("/")[0])  # noqa: E731
    assert score() < 100
    hidden = mystery_challenge(3)
    assert not any("β =" in i.value for i in at.info)  # hidden until revealed
    at.button(key="mystery_reveal").click().run()
    shown = " ".join(i.value for i in at.info)
    assert f"β = {hidden.beta:g}" in shown and f"θ = {hidden.threshold:g}" in shown
    assert f"V = {hidden.V:g}" in shown
    for name in ("beta", "threshold", "V"):
        at.slider(key=f"mystery_{name}").set_value(getattr(hidden, name)).run()
    assert score() == 100.0 and at.success
    at.button(key="mystery_new").click().run()
    assert not at.exception
    assert at.query_params["challenge"] != "3"
    assert not any("β =" in i.value for i in at.info)  # a new challenge is hidden again


def test_compare_shows_gradient_norms_that_differ_where_only_the_surrogate_does():
    at = app(COMPARE)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["loss A"] == metrics["loss B"]
    at.button(key="compare_contrast_surrogate").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # the forward run is the same, so is the loss; the gradients are not
    assert metrics["loss A"] == metrics["loss B"]
    assert metrics["‖dL/dU‖ at step 0, A"] != metrics["‖dL/dU‖ at step 0, B"]
    fig = next(f for f in figures(at) if "vs" in str(f["layout"].get("title", ""))
               and "Gradient norm" in str(f["layout"]["title"]))
    a, b = (decode(t["y"]) for t in fig["data"])
    assert a.shape == b.shape and not np.allclose(a, b, equal_nan=True)
