"""The surrogate gallery: curves equal the core's derivatives and autograd, oddities are marked."""
import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from snntorch import surrogate as ref_sg
from streamlit.testing.v1 import AppTest

from rleaky_viz.core.surrogate import SURROGATES, make_surrogate
from rleaky_viz.figures import surrogate_figure, surrogate_oddities, surrogate_table
from rleaky_viz.core.surrogate import REGISTRY
from rleaky_viz.figures.surrogates import TABLE_POINTS, surrogate_label
from _apptest import charts

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "4_Surrogate_gallery.py")
DEFAULT_LABELS = ["atan(alpha=2)", "fast_sigmoid(slope=25)", "sigmoid(slope=25)",
                  "triangular(threshold=1)"]

# Non-default parameters for every surrogate, so no default hides a mistake.
PARAMS = {
    "atan": {"alpha": 3.5},
    "fast_sigmoid": {"slope": 7.0},
    "sigmoid": {"slope": 12.0},
    "straight_through_estimator": {},
    "triangular": {"threshold": 0.6},
    "spike_rate_escape": {"beta": 2.0, "slope": 4.0},
    "heaviside": {},
    "SFS": {"slope": 9.0, "B": -0.4},
    "SSO": {"mean": 0.3, "variance": 0.5},
    "LSO": {"slope": 0.25},
}


# --------------------------------------------------------------------------- helpers

def trace(fig, name):
    for t in fig.data:
        if t.name == name:
            return t
    raise AssertionError(f"no trace {name!r}; have {[t.name for t in fig.data]}")


def xy(t):
    return np.asarray(t.x, dtype=np.float64), np.asarray(t.y, dtype=np.float64)


def shape_names(fig):
    return [s.name for s in fig.layout.shapes]


def seeded(fn, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()


def autograd(spike_fn, z):
    zz = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    spike_fn(zz).sum().backward()
    return zz.grad.numpy()


# --------------------------------------------------------------------------- the curves

@pytest.mark.parametrize("name", list(SURROGATES))
def test_backward_curve_is_the_derivative_and_autograd(name):
    fig = surrogate_figure([(name, PARAMS[name])], seed=3)
    surrogate = make_surrogate(name, PARAMS[name])
    z, y = xy(trace(fig, surrogate_label(name, PARAMS[name])))
    assert len(z) >= 801 and np.all(np.diff(z) > 0) and (z[0], z[-1]) == (-2.0, 2.0)
    zt = torch.tensor(z, dtype=torch.float64)
    np.testing.assert_array_equal(y, seeded(lambda: surrogate.derivative(zt).numpy(), 3))
    np.testing.assert_array_equal(y, seeded(lambda: autograd(surrogate, z), 3))


@pytest.mark.parametrize("name", [n for n in SURROGATES if n not in ("SSO", "LSO")])
@pytest.mark.parametrize("use_defaults", [True, False])
def test_backward_curve_is_snntorch_autograd(name, use_defaults):
    params = {} if use_defaults else PARAMS[name]
    fig = surrogate_figure([(name, params)])
    z, y = xy(trace(fig, surrogate_label(name, params)))
    reference = getattr(ref_sg, name)(**params)
    # the reference keeps some parameters in float32 tensors, hence the tolerance
    np.testing.assert_allclose(y, autograd(reference, z), rtol=1e-7, atol=1e-12)


def test_forward_is_the_strict_step_for_every_surrogate():
    fig = surrogate_figure([(n, None) for n in SURROGATES])
    z, s = xy(trace(fig, "forward H(z)"))
    assert set(np.unique(s)) == {0.0, 1.0}
    assert 0.0 in z and s[z == 0.0][0] == 0.0
    np.testing.assert_array_equal(s, (z > 0).astype(np.float64))
    for name in SURROGATES:  # one forward line stands for all: check that it may
        out = make_surrogate(name)(torch.tensor(z, dtype=torch.float64)).numpy()
        np.testing.assert_array_equal(out, s)
    hx, hy = xy(trace(fig, "H(0) = 0"))
    assert list(hx) == [0.0, 0.0] and list(hy) == [0.0, 1.0]


def test_grid_samples_zero_and_special_points_exactly():
    fig = surrogate_figure([("spike_rate_escape", None), ("SFS", {"B": 0.3333})],
                           z_range=(-1.7, 2.9), points=10)
    z, _ = xy(trace(fig, "spike_rate_escape(beta=1, slope=25)"))
    assert {0.0, 1.0, 0.3333, -1.7, 2.9} <= set(z)
    assert len(z) == 13


def test_one_line_per_surrogate_with_its_parameters_in_the_legend():
    chosen = [("atan", None), ("fast_sigmoid", {"slope": 5}), ("sigmoid", {}),
              ("triangular", {"threshold": 1.0}), ("fast_sigmoid", {"slope": 25})]
    fig = surrogate_figure(chosen)
    lines = [t for t in fig.data if t.mode == "lines" and t.yaxis == "y2"]
    assert [t.name for t in lines] == ["atan(alpha=2)", "fast_sigmoid(slope=5)",
                                       "sigmoid(slope=25)", "triangular(threshold=1)",
                                       "fast_sigmoid(slope=25)"]
    styles = {(t.line.color, t.line.dash) for t in lines}
    assert len(styles) == len(lines)
    assert trace(fig, "forward H(z)").yaxis == "y"
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"


def test_every_surrogate_gets_its_own_style():
    fig = surrogate_figure([(n, None) for n in SURROGATES])
    lines = [t for t in fig.data if t.mode == "lines" and t.yaxis == "y2"]
    assert len(lines) == 10
    assert len({(t.line.color, t.line.dash) for t in lines}) == 10


def test_threshold_line_on_both_panels():
    fig = surrogate_figure([("atan", None)])
    lines = [s for s in fig.layout.shapes if s.name == "threshold"]
    assert {s.yref for s in lines} == {"y domain", "y2 domain"}
    assert all(s.x0 == s.x1 == 0 for s in lines)
    assert not [s for s in surrogate_figure([("atan", None)], z_range=(0.5, 2)).layout.shapes
                if s.name == "threshold"]


# --------------------------------------------------------------------------- oddities

def test_spike_rate_escape_peak_is_marked_at_one():
    fig = surrogate_figure([("spike_rate_escape", {"slope": 4.0})])
    x, y = xy(trace(fig, "spike_rate_escape peak"))
    assert list(x) == [1.0] and list(y) == [4.0]
    z, g = xy(trace(fig, "spike_rate_escape(beta=1, slope=4)"))
    assert z[np.argmax(g)] == 1.0 and g.max() == 4.0
    assert any("peaks at z = 1" in a.text for a in fig.layout.annotations)


def test_triangular_sign_flip_is_marked():
    fig = surrogate_figure([("triangular", {"threshold": 0.6})])
    x, y = xy(trace(fig, "triangular sign flip"))
    assert list(x) == [0.0, 0.0] and list(y) == [0.6, -0.6]
    z, g = xy(trace(fig, "triangular(threshold=0.6)"))
    assert np.all(g[z < 0] == 0.6) and np.all(g[z >= 0] == -0.6)
    assert any("flips sign" in a.text for a in fig.layout.annotations)


@pytest.mark.parametrize("b", [1.0, -0.4])
def test_sfs_zero_region_is_shaded_up_to_b(b):
    fig = surrogate_figure([("SFS", {"B": b})])
    (band,) = [s for s in fig.layout.shapes if s.name == "SFS zero region"]
    assert (band.x0, band.x1) == (-2.0, b)
    z, g = xy(trace(fig, f"SFS(slope=25, B={b:g})"))
    assert np.all(g[z <= b] == 0) and np.all(g[z > b] > 0)


def test_sso_band_holds_the_noise_and_the_figure_is_seeded():
    params = {"mean": 0.3, "variance": 0.5}
    label = surrogate_label("SSO", params)
    state = torch.random.get_rng_state()
    a = xy(trace(surrogate_figure([("SSO", params)], seed=1), label))[1]
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    b = xy(trace(surrogate_figure([("SSO", params)], seed=1), label))[1]
    c = xy(trace(surrogate_figure([("SSO", params)], seed=2), label))[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    fig = surrogate_figure([("SSO", params)])
    (band,) = [s for s in fig.layout.shapes if s.name == "SSO noise range"]
    z, g = xy(trace(fig, label))
    below = g[z <= 0]
    assert (band.y0, band.y1) == pytest.approx(((0.3 - 0.5) * 0.5, (0.3 + 0.5) * 0.5))
    assert np.all((below >= band.y0) & (below < band.y1)) and np.all(g[z > 0] == 1)


def test_heaviside_and_lso_marks():
    fig = surrogate_figure([("heaviside", None), ("LSO", {"slope": 0.25})])
    x, y = xy(trace(fig, "heaviside no gradient"))
    assert list(x) == [0.0] and list(y) == [0.0]
    x, y = xy(trace(fig, "LSO documented"))
    assert x[0] < 0 and list(y) == [0.25]
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "no gradient" in texts and "raises" in texts


def test_sigmoid_nan_edge_is_marked_where_the_reference_overflows():
    fig = surrogate_figure([("sigmoid", None)], z_range=(-5, 2))
    (edge,) = [s for s in fig.layout.shapes if s.name == "sigmoid NaN edge"]
    # the claim itself: the reference gives NaN left of the edge (float32), ours does not
    for slope in (25.0, 100.0, 0.5):
        x = surrogate_figure([("sigmoid", {"slope": slope})], z_range=(-400, 1)).layout.shapes
        (x,) = [s.x0 for s in x if s.name == "sigmoid NaN edge"]
        z = torch.tensor([x * 1.0001, x * 0.9999], dtype=torch.float32, requires_grad=True)
        ref_sg.sigmoid(slope=slope)(z).sum().backward()
        assert math.isnan(z.grad[0]) and math.isfinite(z.grad[1]), slope
    assert edge.x0 == pytest.approx(-3.42, abs=0.01)
    z, g = xy(trace(fig, "sigmoid(slope=25)"))
    assert np.all(np.isfinite(g))
    assert "sigmoid NaN edge" not in shape_names(surrogate_figure([("sigmoid", None)]))


@pytest.mark.parametrize("z_range", [(-10, -3), (-0.4, -0.1), (-1, 0), (0, 1), (0.5, 9)])
def test_marks_stay_inside_any_z_range(z_range):
    fig = surrogate_figure([(n, None) for n in SURROGATES], z_range=z_range, points=51)
    lo, hi = z_range
    for t in fig.data:
        assert np.all((np.asarray(t.x) >= lo) & (np.asarray(t.x) <= hi)), t.name
    for s in fig.layout.shapes:
        assert lo <= s.x0 <= hi and lo <= s.x1 <= hi, s.name
    assert tuple(fig.layout.xaxis2.range) == z_range


def test_marks_only_for_the_surrogates_shown():
    fig = surrogate_figure([("atan", None), ("fast_sigmoid", None),
                            ("straight_through_estimator", None)], z_range=(-5, 3))
    assert [t.name for t in fig.data if t.mode == "markers"] == ["H(0) = 0"]
    assert set(shape_names(fig)) == {"threshold"}
    assert [a.text for a in fig.layout.annotations if "threshold" not in a.text
            and not a.text.startswith(("Forward", "Backward"))] == []


def test_marks_of_every_oddity_when_everything_is_shown():
    fig = surrogate_figure([(n, None) for n in SURROGATES], z_range=(-5, 3))
    markers = {t.name for t in fig.data if t.mode == "markers"}
    assert markers == {"H(0) = 0", "triangular sign flip", "spike_rate_escape peak",
                       "heaviside no gradient", "LSO documented"}
    assert set(shape_names(fig)) == {"threshold", "SFS zero region", "SSO noise range",
                                     "sigmoid NaN edge"}


def test_oddities_in_words():
    assert surrogate_oddities("atan") == []
    assert surrogate_oddities("fast_sigmoid", {"slope": 3}) == []
    assert surrogate_oddities("straight_through_estimator") == []
    assert "signed step" in surrogate_oddities("triangular")[0]
    assert "+0.6" in surrogate_oddities("triangular", {"threshold": 0.6})[0]
    assert "z ≤ 1" in surrogate_oddities("SFS")[0]
    assert "B < 0" in surrogate_oddities("SFS", {"B": -0.5})[0]
    assert "z = 1" in surrogate_oddities("spike_rate_escape")[0]
    assert "spiked" in surrogate_oddities("heaviside")[0]
    sso = surrogate_oddities("SSO", seed=5)[0]
    assert "random" in sso and "seed 5" in sso and "-0.1" in sso and "0.1" in sso
    assert "TypeError" in surrogate_oddities("LSO")[0]
    assert "NaN" in surrogate_oddities("sigmoid")[0] and "-3.42" in surrogate_oddities("sigmoid")[0]
    assert surrogate_oddities("sigmoid", {"slope": 0}) == []


def test_table_holds_the_derivative_at_fixed_points_and_the_peaks():
    chosen = [(n, PARAMS[n]) for n in SURROGATES]
    table = surrogate_table(chosen, seed=4)
    assert list(table.index) == [surrogate_label(n, p) for n, p in chosen]
    for name, params in chosen:
        row = table.loc[surrogate_label(name, params)]
        z = torch.tensor(TABLE_POINTS, dtype=torch.float64)
        want = seeded(lambda: make_surrogate(name, params).derivative(z).numpy(), 4)
        got = row[[f"z={p:g}" for p in TABLE_POINTS]].to_numpy(dtype=np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    peaks = table["peak z"]
    assert peaks["atan(alpha=3.5)"] == 0.0 and peaks["spike_rate_escape(beta=2, slope=4)"] == 1.0
    assert math.isnan(peaks["straight_through_estimator()"])
    assert math.isnan(peaks["triangular(threshold=0.6)"])
    assert table.loc["sigmoid(slope=12)", "peak dS/dz"] == pytest.approx(3.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(surrogates=[]), "surrogates"),
    (dict(surrogates="atan"), "surrogates"),
    (dict(surrogates=[("relu", {})]), r"surrogates\[0\].*relu"),
    (dict(surrogates=[("atan", None), ("atan", {"slope": 2})]), r"surrogates\[1\].*slope"),
    (dict(surrogates=[("atan", None), ("atan", {"alpha": 2.0})]), r"surrogates\[1\] repeats"),
    (dict(surrogates=[("atan", "alpha=2")]), r"surrogates\[0\].*params"),
    (dict(surrogates=[("atan", {"alpha": "2"})]), r"surrogates\[0\].*alpha"),
    (dict(surrogates=[("atan", {"alpha": math.nan})]), r"surrogates\[0\].*alpha"),
    (dict(surrogates=[("atan", None, 1)]), r"surrogates\[0\]"),
    (dict(z_range=(1, 1)), "z_range"),
    (dict(z_range=(2, -2)), "z_range"),
    (dict(z_range=(0, math.inf)), r"z_range\[1\]"),
    (dict(z_range="-2,2"), "z_range"),
    (dict(z_range=(-2, 0, 2)), "z_range"),
    (dict(points=2), "points"),
    (dict(points=10.5), "points"),
    (dict(points=True), "points"),
    (dict(points=10**7), "points"),
    (dict(seed=-1), "seed"),
    (dict(y_range=(1, 0)), "y_range"),
])
def test_bad_arguments_raise_naming_them(kwargs, match):
    args = dict(surrogates=[("atan", None)])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        surrogate_figure(**args)
    if "y_range" not in kwargs:
        with pytest.raises(ValueError, match=match):
            surrogate_table(**args)


def test_bad_oddity_arguments_raise():
    with pytest.raises(ValueError, match="relu"):
        surrogate_oddities("relu")
    with pytest.raises(ValueError, match="beta"):
        surrogate_oddities("atan", {"beta": 1})


def test_y_range_sets_the_backward_axis():
    fig = surrogate_figure([("atan", None)], y_range=(-1.5, 1.5))
    assert tuple(fig.layout.yaxis2.range) == (-1.5, 1.5)
    assert surrogate_figure([("atan", None)]).layout.yaxis2.range is None


def test_every_parameter_has_a_control_range_holding_its_default():
    PARAM_RANGES = {(n, p.name): (*p.widget, p.help) for n, info in REGISTRY.items() for p in info.params}
    assert {(n, p) for n, ps in SURROGATES.items() for p in ps} == set(PARAM_RANGES)
    for (name, param), (lo, hi, step, help_text) in PARAM_RANGES.items():
        assert lo <= SURROGATES[name][param] <= hi and 0 < step < hi - lo and help_text


# --------------------------------------------------------------------------- the page

def decode(value):
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=np.float64)


def page(query=None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def query(at, key):
    value = at.query_params[key]  # a list once the script has written it
    return value[-1] if isinstance(value, list) else value


def chart(at):
    (el,) = charts(at)
    return el.spec


def backward_lines(spec):
    return {t["name"]: (decode(t["x"]), decode(t["y"])) for t in spec["data"]
            if t.get("mode") == "lines" and t.get("yaxis") == "y2"}


def test_page_runs_with_the_default_surrogates():
    at = page()
    assert not at.exception and not at.error
    assert list(backward_lines(chart(at))) == DEFAULT_LABELS
    notes = " ".join(m.value for m in at.markdown)
    assert "signed step" in notes and "NaN" in notes  # triangular, sigmoid
    assert "surrogate" in notes.lower() and "forward" in notes
    assert len(at.dataframe) == 1 and list(at.dataframe[0].value.index) == DEFAULT_LABELS
    assert query(at, "gallery") == "atan,fast_sigmoid,sigmoid,triangular"
    assert {n.key for n in at.number_input} == {
        "gallery_atan_alpha", "gallery_fast_sigmoid_slope", "gallery_sigmoid_slope",
        "gallery_triangular_threshold"}


def test_a_parameter_widget_changes_its_curve():
    at = page()
    _, before = backward_lines(chart(at))["fast_sigmoid(slope=25)"]
    at.number_input(key="gallery_fast_sigmoid_slope").set_value(5.0).run()
    assert not at.exception
    lines = backward_lines(chart(at))
    assert "fast_sigmoid(slope=25)" not in lines
    z, after = lines["fast_sigmoid(slope=5)"]
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, 1 / (5 * np.abs(z) + 1) ** 2, rtol=1e-12)
    assert query(at, "gallery_fast_sigmoid_slope") == "5"


def test_adding_a_surrogate_adds_a_trace_and_its_oddity():
    at = page()
    n = len(chart(at)["data"])
    at.multiselect(key="gallery_surrogates").select("spike_rate_escape").run()
    assert not at.exception
    spec = chart(at)
    assert len(backward_lines(spec)) == 5
    assert "spike_rate_escape peak" in [t["name"] for t in spec["data"]]
    assert len(spec["data"]) == n + 2  # its line and its peak marker
    assert {"gallery_spike_rate_escape_beta", "gallery_spike_rate_escape_slope"} <= \
        {w.key for w in at.number_input}
    assert "peaks at z = 1" in " ".join(m.value for m in at.markdown)


def test_the_url_restores_the_view():
    at = page({"gallery": "SFS,SSO,nonsense", "gallery_SFS_B": "-0.5", "gallery_z": "-3,2.5",
               "gallery_seed": "7", "gallery_zoom": "1"})
    assert not at.exception
    spec = chart(at)
    lines = backward_lines(spec)
    assert list(lines) == ["SFS(slope=25, B=-0.5)", "SSO(mean=0, variance=0.2)"]
    z, g = lines["SSO(mean=0, variance=0.2)"]
    assert (z[0], z[-1]) == (-3.0, 2.5)
    np.testing.assert_array_equal(g, seeded(lambda: make_surrogate("SSO").derivative(
        torch.tensor(z, dtype=torch.float64)).numpy(), 7))
    assert spec["layout"]["yaxis2"]["range"] == [-1.5, 1.5]
    assert at.number_input(key="gallery_seed").value == 7
    assert query(at, "gallery") == "SFS,SSO"


def test_bad_url_values_fall_back_to_defaults():
    at = page({"gallery_z": "a,b", "gallery_atan_alpha": "1e9", "gallery_seed": "-3"})
    assert not at.exception and not at.error
    assert at.slider(key="gallery_z_range").value == (-2.0, 2.0)
    assert at.number_input(key="gallery_atan_alpha").value == 2.0
    assert list(backward_lines(chart(at))) == DEFAULT_LABELS


def test_no_surrogate_chosen_shows_a_hint_not_an_error():
    at = page()
    at.multiselect(key="gallery_surrogates").set_value([]).run()
    assert not at.exception and not at.error
    assert not charts(at) and at.info


def _derivative(name, params, z):
    z = torch.tensor(z, dtype=torch.float32, requires_grad=True)
    make_surrogate(name, params)(z).sum().backward()
    return z.grad.numpy()


@pytest.mark.parametrize("name, params, says", [
    ("triangular", {"threshold": 0.0}, "dS/dz = 0 everywhere"),
    ("SFS", {"B": 0.0}, "the full fast sigmoid just above it"),
    ("spike_rate_escape", {"beta": 0.0}, "is flat"),
    ("spike_rate_escape", {"beta": -1.0}, "minimum at z = 1"),
    ("SSO", {"variance": 0.0}, "not random"),
])
def test_the_oddity_words_follow_the_parameters(name, params, says):
    (text,) = surrogate_oddities(name, params)
    assert says in text
    z = np.linspace(-2, 2, 401)
    g = _derivative(name, params, z)
    if name == "triangular":
        assert np.all(g == 0)
    elif name == "SFS":
        assert np.all(g[z <= 0] == 0) and g[(z > 0) & (z < 0.02)].min() > 0.5  # full just above 0
    elif name == "spike_rate_escape" and params["beta"] == 0:
        assert np.allclose(g, 25.0) and "peaks at z = 1" not in text
    elif name == "spike_rate_escape":
        assert np.argmin(g) == np.argmin(np.abs(z - 1)) and g[0] > g[np.argmin(np.abs(z - 1))]
    else:  # SSO, variance 0: twice the same, 0 below, 1 above
        assert np.array_equal(g, _derivative(name, params, z))
        assert np.all(g[z <= 0] == 0) and np.all(g[z > 0] == 1)
    fig = surrogate_figure([(name, params)])
    assert not any(t.name == "spike_rate_escape peak" for t in fig.data) or params.get("beta", 1) > 0
