"""Every figure builder's output is valid Plotly, as full validation would have made it.

The builders write figures as plain specs and wrap them with
``go.Figure(spec, _validate=False)`` (``rleaky_viz.figures._spec``), so a
misspelt property or an invalid value no longer raises while a figure is
built.  Here each builder exported by ``rleaky_viz.figures`` is built on
representative inputs (the branches that add traces, shapes, annotations or
frames included), and its ``to_dict()`` must pass plotly's full validation
(``go.Figure(fig.to_dict())``) and come out of it unchanged: validation
neither raised nor had anything to coerce (a named colour scale, say).
"""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots
from plotly.utils import PlotlyJSONEncoder

from rleaky_viz import figures as F
from rleaky_viz.config import SimConfig
from rleaky_viz.core.surrogate import SURROGATES
from rleaky_viz.figures._spec import colorscale, figure, subplot_layout
from rleaky_viz.simulate import simulate


def _canonical(spec: dict) -> str:
    # JSON with sorted keys: NaN compares equal to NaN (both null), arrays by their bytes
    return json.dumps(spec, cls=PlotlyJSONEncoder, sort_keys=True)


def assert_valid_plotly(fig: go.Figure) -> None:
    """``fig`` survives plotly's full validation unchanged (raises AssertionError/ValueError)."""
    assert isinstance(fig, go.Figure)
    spec = fig.to_dict()
    validated = go.Figure(spec)  # full validation: raises ValueError on a bad property or value
    assert _canonical(validated.to_dict()) == _canonical(spec), \
        "validation changed the figure: the spec is not what plotly would have built"
    for frame in fig.frames:  # the frames' own traces are readable
        assert all(trace.type for trace in frame.data)


# --- inputs --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inputs():
    from rleaky_viz.flows import gradient_flow, gradient_vs_distance
    from rleaky_viz.sweeps import sweep, value_range

    single = simulate(SimConfig(num_steps=80, amplitude=0.3, recurrence="one_to_one", V=0.2))
    other = simulate(SimConfig(num_steps=80, amplitude=0.35, recurrence="one_to_one", V=0.2,
                               beta=0.8))
    linear = simulate(SimConfig(recurrence="linear", num_neurons=12, num_steps=60, batch_size=2,
                                amplitude=0.4, noise_std=0.2, seed=3))
    conv = simulate(SimConfig(recurrence="conv2d", conv2d_channels=2, grid_size=6, num_steps=40,
                              amplitude=0.5, noise_std=0.3, seed=1))
    flow = gradient_flow(SimConfig(num_steps=60, amplitude=0.3, recurrence="one_to_one", V=0.2,
                                   learn_beta=True))
    # the heaviside surrogate leaves dead stretches (shaded bands) between spikes
    dead = gradient_flow(SimConfig(num_steps=60, recurrence="one_to_one", V=0.2,
                                   surrogate="heaviside"))
    flow_lin = gradient_flow(SimConfig(recurrence="linear", num_neurons=6, num_steps=40,
                                       amplitude=0.4, learn_recurrent=True))
    frame = sweep(SimConfig(num_steps=60), {"beta": value_range(0.5, 0.95, 4),
                                            "amplitude": value_range(0.0, 1.0, 5)})
    distance = gradient_vs_distance(SimConfig(num_steps=40), "beta", [0.5, 0.9])
    settling = simulate(SimConfig(num_steps=40, amplitude=0.05, recurrence="none"))
    return dict(settling=settling, single=single, other=other, linear=linear, conv=conv, flow=flow, dead=dead,
                flow_lin=flow_lin, frame=frame, distance=distance,
                weight=linear.neuron.recurrent.weight.detach().numpy())


def return_map(trace):
    from rleaky_viz.dynamics import return_map as compute

    return compute(trace)


def _live_frames(trace, positions):
    from rleaky_viz.live import live_frames

    return live_frames(trace.config, positions=positions)


def _cases(i):
    """(builder name, call) pairs; several per builder where branches add different parts."""
    single, linear, conv, frame = i["single"], i["linear"], i["conv"], i["frame"]
    cell = int(frame.index[3])
    return [
        ("neuron_figure", lambda: F.neuron_figure(single)),
        ("neuron_figure", lambda: F.neuron_figure(single, overlay={"steady_state": 2.0})),
        ("neuron_figure", lambda: F.neuron_figure(linear, neuron=3, batch=1)),
        ("breakdown_figure", lambda: F.breakdown_figure(single)),
        ("live_figure", lambda: F.live_figure(single, _live_frames(single, 5), "beta")),
        ("traces_figure", lambda: F.traces_figure(linear, [0, 3, 5], batch=1)),
        ("raster_figure", lambda: F.raster_figure(linear)),
        ("raster_figure", lambda: F.raster_figure(linear, max_pixels=100)),
        ("rate_figure", lambda: F.rate_figure(linear, window=5)),
        ("heatmap_figure", lambda: F.heatmap_figure(linear)),
        ("heatmap_figure", lambda: F.heatmap_figure(linear, "input", max_cells=100)),
        ("heatmap_figure", lambda: F.heatmap_figure(i["flow"], "dL_dmem")),
        ("weight_figure", lambda: F.weight_figure(i["weight"])),
        ("weight_figure", lambda: F.weight_figure(i["weight"], max_side=5)),
        ("spectrum_figure", lambda: F.spectrum_figure(i["weight"])),
        ("conv_frames_figure", lambda: F.conv_frames_figure(conv, channel=1, max_frames=9)),
        ("rate_map_figure", lambda: F.rate_map_figure(conv, channel=1)),
        ("surrogate_figure", lambda: F.surrogate_figure([(n, None) for n in SURROGATES])),
        ("surrogate_figure", lambda: F.surrogate_figure([("atan", None)], z_range=(0.5, 2))),
        ("surrogate_figure", lambda: F.surrogate_figure(
            [("sigmoid", {"slope": 5.0}), ("SFS", {"B": -0.5}), ("SSO", None)],
            z_range=(-400, 1), points=101, y_range=(-1.5, 1.5))),
        ("gradient_norm_figure", lambda: F.gradient_norm_figure(i["flow"])),
        ("jacobian_figure", lambda: F.jacobian_figure(i["flow"])),
        ("gradient_norm_figure", lambda: F.gradient_norm_figure({"A": i["flow"],
                                                                 "B": i["flow_lin"]})),
        ("surrogate_trajectory_figure", lambda: F.surrogate_trajectory_figure(i["flow"])),
        ("surrogate_trajectory_figure", lambda: F.surrogate_trajectory_figure(i["dead"])),
        ("paths_figure", lambda: F.paths_figure(i["flow_lin"], neuron=1)),
        ("param_grad_figure", lambda: F.param_grad_figure(i["flow"])),
        ("param_grad_figure", lambda: F.param_grad_figure(i["flow_lin"])),
        ("distance_figure", lambda: F.distance_figure(i["distance"], "beta")),
        ("loss_curve_figure", lambda: F.loss_curve_figure([3.0, 2.0, 1.5])),
        ("param_trajectory_figure", lambda: F.param_trajectory_figure(
            {"beta": [0.9, 0.85, 0.8], "w": [np.ones(3), np.zeros(3), np.arange(3.0)]})),
        ("fi_curve_figure", lambda: F.fi_curve_figure(frame)),
        ("fi_curve_figure", lambda: F.fi_curve_figure(frame, by=None)),
        *[("sweep_map_figure", lambda v=v: F.sweep_map_figure(frame, "amplitude", "beta", value=v))
          for v in ("rate", "isi_cv", "first_spike", "isi_mean", "spike_count")],
        ("sweep_map_figure", lambda: F.sweep_map_figure(frame, "amplitude", "beta", selected=cell)),
        ("regime_map_figure", lambda: F.regime_map_figure(frame, "amplitude", "beta",
                                                          selected=cell)),
        ("compare_figure", lambda: F.compare_figure(single, i["other"])),
        ("compare_figure", lambda: F.compare_figure(single, i["other"], neuron=0,
                                                    names=("left", "right"))),
        ("mystery_figure", lambda: F.mystery_figure(single, i["other"])),
        ("return_map_figure", lambda: F.return_map_figure(single, return_map(single))),
        ("return_map_figure", lambda: F.return_map_figure(i["settling"], return_map(i["settling"]))),
    ]


def builders() -> list[str]:
    return sorted(n for n in F.__all__ if n.endswith("_figure"))


def test_every_exported_builder_has_a_case(inputs):
    covered = {name for name, _ in _cases(inputs)}
    missing = sorted(set(builders()) - covered)
    assert not missing, f"add cases to tests/test_figure_specs.py for {missing}"


@pytest.mark.parametrize("name", builders())
def test_builder_output_is_what_full_validation_makes(inputs, name):
    calls = [call for n, call in _cases(inputs) if n == name]
    if not calls:
        pytest.fail(f"no case for {name}")
    for call in calls:
        assert_valid_plotly(call())


def test_a_chart_reads_an_unbuilt_figure_as_the_built_one(inputs):
    from rleaky_viz.figures._spec import trace_names, unbuilt_spec
    from rleaky_viz.figures.wire import figure_json

    lazy_seen = 0
    for name, call in _cases(inputs):
        fig = call()
        lazy = unbuilt_spec(fig) is not None
        got, as_dict, names = figure_json(fig), fig.to_dict(), trace_names(fig)
        assert (unbuilt_spec(fig) is not None) == lazy, f"{name}: reading its JSON built it"
        fig.layout  # noqa: B018  (builds it)
        assert unbuilt_spec(fig) is None
        assert names == tuple(t.name for t in fig.data), name
        assert _canonical(got) == _canonical(figure_json(fig)), name
        assert _canonical(as_dict) == _canonical(fig.to_dict()), name
        lazy_seen += lazy
    assert lazy_seen >= 20  # most builders hand over their spec unbuilt


def test_an_unbuilt_figure_is_a_whole_figure():
    import copy
    import pickle

    from rleaky_viz.figures._spec import unbuilt_spec

    def make():
        return figure([{"type": "scatter", "y": np.arange(3.0), "name": "a"}],
                      {"title": {"text": "t"}, **subplot_layout(2, [0.5, 0.5], 0.1)})

    uses = [(lambda f: f.data[0].name, "a"), (lambda f: f.layout.title.text, "t"),
            (lambda f: f.update_layout(height=300).layout.height, 300),
            (lambda f: copy.deepcopy(f).data[0].name, "a"),
            (lambda f: pickle.loads(pickle.dumps(f)).layout.title.text, "t"),
            (lambda f: go.Figure(f).layout.xaxis2.anchor, "y2"),
            (lambda f: f.update_yaxes(title_text="u", row=2, col=1).layout.yaxis2.title.text, "u")]
    for use, want in uses:
        fig = make()
        assert isinstance(fig, go.Figure) and unbuilt_spec(fig) is not None
        assert use(fig) == want
        assert unbuilt_spec(fig) is None  # used: built
    fig = make()
    assert fig.to_dict()["layout"]["yaxis2"]["domain"] == [0.0, 0.45]
    assert unbuilt_spec(fig) is not None  # to_dict answers from the spec
    assert type(copy.copy(make())) is go.Figure
    fig = make()
    spec = fig.to_dict()  # a copy: changing it changes nothing of the figure
    spec["data"][0]["name"] = "changed"
    spec["layout"]["title"]["text"] = "changed"
    spec["layout"]["template"]["layout"]["font"] = {"size": 99}
    assert fig.to_dict()["data"][0]["name"] == "a" and fig.layout.title.text == "t"
    assert fig.layout.template.layout.font.size != 99
    assert make().to_dict()["layout"]["template"] == go.Figure().to_dict()["layout"]["template"]
    with pytest.raises(AttributeError):
        make().no_such_thing  # noqa: B018


def test_dead_stretches_are_shaded_on_both_panels(inputs):
    fig = F.surrogate_trajectory_figure(inputs["dead"])
    runs = fig.layout.meta["dead_stretches"]
    assert runs, "the heaviside fixture should have dead stretches"
    assert len(fig.layout.shapes) == 2 * len(runs)
    assert {s.yref for s in fig.layout.shapes} == {"y domain", "y2 domain"}


# --- the check itself can fail ----------------------------------------------------------

@pytest.mark.parametrize("trace, layout", [
    ({"type": "scatter", "x": [0, 1], "nmae": "misspelt"}, {}),              # unknown property
    ({"type": "scatter", "x": [0, 1], "line": {"dash": "dahs"}}, {}),        # invalid value
    ({"type": "scatter", "x": [0, 1]}, {"xaxis": {"titel": {"text": "t"}}}),  # layout typo
])
def test_the_check_rejects_an_invalid_spec(trace, layout):
    fig = figure([trace], layout)  # built without complaint...
    with pytest.raises(ValueError):  # ...caught by the check
        assert_valid_plotly(fig)


def test_an_unknown_trace_type_fails_even_unvalidated():
    with pytest.raises(ValueError):
        figure([{"type": "scater", "x": [0, 1]}], {})


def test_the_check_rejects_a_spec_validation_would_rewrite():
    # a named scale is expanded by validation ("RdBu_r" means nothing to plotly.js)
    fig = figure([{"type": "heatmap", "z": [[0, 1]], "colorscale": "RdBu_r"}], {})
    with pytest.raises(AssertionError, match="validation changed"):
        assert_valid_plotly(fig)
    assert_valid_plotly(figure([{"type": "heatmap", "z": [[0, 1]],
                                 "colorscale": colorscale("RdBu_r")}], {}))


# --- the helpers agree with plotly ------------------------------------------------------

@pytest.mark.parametrize("rows, heights, spacing", [
    (4, [0.18, 0.42, 0.2, 0.2], 0.035), (4, [0.4, 0.16, 0.22, 0.22], 0.04),
    (3, [0.2, 0.55, 0.25], 0.05), (2, [0.65, 0.35], 0.08), (2, [0.28, 0.72], 0.1), (1, [1.0], 0.1),
])
def test_subplot_layout_is_make_subplots(rows, heights, spacing):
    ref = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=spacing,
                        row_heights=heights).to_dict()["layout"]
    ref.pop("template", None)
    assert subplot_layout(rows, heights, spacing) == ref


def test_unvalidated_figures_read_and_export_like_validated_ones(inputs):
    fig = F.neuron_figure(inputs["single"])
    membrane = next(t for t in fig.data if t.name == "membrane")
    assert membrane.line.color and membrane.yaxis == "y2"
    assert fig.layout.xaxis4.title.text == "time step"
    assert json.loads(fig.to_json())["data"][0]["name"] == "input"
    html = fig.to_html(include_plotlyjs=False, full_html=False)
    assert "pre-reset membrane" in html
    copy = go.Figure(fig)  # a validated copy, as the presenting mode makes
    copy.update_layout(font=dict(size=20))
    assert copy.layout.font.size == 20 and fig.layout.font.size is None


def test_subplot_figures_keep_the_make_subplots_api(inputs):
    fig = F.neuron_figure(inputs["single"])
    assert fig.layout.xaxis2.matches == "x4" and fig.layout.yaxis3.anchor == "x3"
    assert len(list(fig.select_xaxes())) == 4
    fig.update_yaxes(title_text="changed", row=2, col=1)
    assert fig.layout.yaxis2.title.text == "changed"
    assert fig.to_dict()["layout"]["yaxis2"]["title"]["text"] == "changed"
    fig.update_layout(xaxis3=dict(range=[0, 5]))
    assert tuple(fig.layout.xaxis3.range) == (0, 5) and fig.layout.xaxis3.anchor == "y3"
    fig.add_vline(x=3, row="all", col=1)
    assert [s.xref for s in fig.layout.shapes] == ["x", "x2", "x3", "x4"]
    fig.add_trace(go.Scatter(x=[1], y=[2], name="added"), row=3, col=1)
    assert (fig.data[-1].xaxis, fig.data[-1].yaxis) == ("x3", "y3")
    go.Figure(fig.to_dict())  # still valid (add_vline leaves an empty annotations list behind)
