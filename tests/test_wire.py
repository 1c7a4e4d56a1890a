"""figures.wire: a figure's JSON as the chart component sends it, against plotly's own export."""
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from _apptest import decode
from rleaky_viz import SimConfig, simulate
from rleaky_viz.figures import breakdown_figure, heatmap_figure, neuron_figure, raster_figure
from rleaky_viz.figures.wire import chart_payload, figure_json, read_chart_payload


def _values(obj):
    """``obj`` with every typed array decoded to a list (NaN as None), for comparison."""
    if isinstance(obj, dict) and "bdata" in obj:
        return [None if isinstance(v, float) and v != v else v for v in decode(obj).tolist()]
    if isinstance(obj, dict):
        return {k: _values(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_values(v) for v in obj]
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


@pytest.fixture(scope="module")
def trace():
    return simulate(SimConfig(num_steps=60, num_neurons=6, recurrence="linear"))


@pytest.mark.parametrize("build", [
    lambda t: neuron_figure(t), lambda t: breakdown_figure(t), lambda t: raster_figure(t),
    lambda t: heatmap_figure(t, "mem")])
def test_a_figure_travels_with_the_values_plotly_would_send(trace, build):
    fig = build(trace)
    ours = _values(figure_json(fig))
    theirs = _values(json.loads(fig.to_json()))
    assert ours == theirs


def test_two_d_arrays_keep_their_shape_and_ranges_stay_lists():
    z = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    fig = go.Figure({"data": [{"type": "heatmap", "z": z}],
                     "layout": {"xaxis": {"range": np.array([0.5, 2.5])}}})
    spec = figure_json(fig)
    assert spec["data"][0]["z"]["shape"] == "3,4"
    assert np.array_equal(decode(spec["data"][0]["z"]), z)
    assert spec["layout"]["xaxis"]["range"] == [0.5, 2.5]


def test_non_finite_values_become_null_and_the_payload_reads_back():
    fig = go.Figure({"data": [{"type": "scatter", "x": [0, 1, 2], "y": [1.0, float("nan"), float("inf")],
                               "text": np.array(["a", "b", "c"])}], "layout": {}})
    payload = read_chart_payload(chart_payload(fig, "three points"))
    assert payload["alt"] == "three points" and payload["theme"] == "streamlit"
    assert payload["figure"]["data"][0]["y"] == [1.0, None, None]
    assert payload["figure"]["data"][0]["text"] == ["a", "b", "c"]


def test_a_changed_figure_has_another_checksum(trace):
    one = chart_payload(neuron_figure(trace), "x")
    assert one == chart_payload(neuron_figure(trace), "x")  # the browser skips this redraw
    assert one[4:8] != chart_payload(neuron_figure(trace, neuron=1), "x")[4:8]


def test_something_json_cannot_carry_is_refused_with_type_error():
    fig = go.Figure({"data": [{"type": "scatter", "x": [0], "y": [0], "meta": object()}]}, _validate=False)
    with pytest.raises(TypeError):
        chart_payload(fig, "x")
