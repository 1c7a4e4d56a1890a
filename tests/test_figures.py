"""Structural tests of rleaky_viz.figures: what the figures hold, not how they look.

Figures are read through ``fig.data[i].x/.y/.z`` (numpy arrays or tuples),
not through ``to_dict()``, where Plotly >= 6 base64-encodes arrays.
"""
from __future__ import annotations

import math
import pathlib
import struct
import zlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from rleaky_viz.config import SimConfig
from rleaky_viz.simulate import simulate
from rleaky_viz import figures as F
from rleaky_viz.network import spectral_radius
from rleaky_viz.statistics import spike_stats
from rleaky_viz.theory import analytic_overlay

FIGURES_DIR = pathlib.Path(F.__file__).parent


# --- helpers -----------------------------------------------------------------------

def by_name(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace named {name!r}; have {[t.name for t in fig.data]}"
    assert len(found) == 1, f"several traces named {name!r}"
    return found[0]


def arr(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def decode_png_1bit(uri: str) -> np.ndarray:
    """Decode the raster's 1-bit palette PNG (independently of the encoder) to palette indices."""
    import base64

    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix):])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        payload = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IDAT":
            idat += payload
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert (depth, colour, interlace) == (1, 3, 0)
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all(), "every row should use filter 0"
    return np.unpackbits(raw[:, 1:], axis=1)[:, :width]


@pytest.fixture(scope="module")
def single():
    return simulate(SimConfig(num_steps=80, amplitude=0.3, recurrence="one_to_one", V=0.2))


@pytest.fixture(scope="module")
def linear():
    return simulate(SimConfig(recurrence="linear", num_neurons=12, num_steps=60, batch_size=2,
                              amplitude=0.4, noise_std=0.2, seed=3))


@pytest.fixture(scope="module")
def conv():
    return simulate(SimConfig(recurrence="conv2d", conv2d_channels=2, grid_size=6, num_steps=40,
                              amplitude=0.5, noise_std=0.3, seed=1))


def fake_spike_trace(spk: np.ndarray) -> SimpleNamespace:
    """A stand-in trace holding only spikes, shape (T, batch, N)."""
    return SimpleNamespace(spk=torch.as_tensor(spk), config=None)


# --- neuron_figure -------------------------------------------------------------------

def test_neuron_figure_holds_every_recorded_series(single):
    T = single.num_steps
    fig = F.neuron_figure(single)
    assert isinstance(fig, go.Figure)
    for name in ("input", "membrane", "threshold", "spikes", "reset", "recurrent",
                 "output spikes", "pre-reset membrane"):
        by_name(fig, name)
    for name, field in (("input", "input"), ("membrane", "mem"), ("recurrent", "recurrent"),
                        ("pre-reset membrane", "base")):
        t = by_name(fig, name)
        assert len(t.x) == len(t.y) == T
        np.testing.assert_allclose(arr(t.y), single.flat(field)[:, 0, 0], rtol=0, atol=1e-6)

    spk = single.flat("spk")[:, 0, 0]
    mem = single.flat("mem")[:, 0, 0]
    fired = np.flatnonzero(spk)
    assert fired.size > 0, "the fixture should spike"
    spikes = by_name(fig, "spikes")
    np.testing.assert_array_equal(arr(spikes.x), fired)
    np.testing.assert_allclose(arr(spikes.y), mem[fired], atol=1e-6)
    assert (arr(spikes.y) > single.config.threshold).all()

    theta = by_name(fig, "threshold")
    assert set(arr(theta.y)) == {single.config.threshold}
    assert theta.line.dash == "dash"

    resets = np.flatnonzero(single.flat("reset")[:, 0, 0] == 1)
    np.testing.assert_array_equal(arr(by_name(fig, "reset").x), resets)

    stems = by_name(fig, "output spikes")
    tips = arr(stems.y)[1::3]
    np.testing.assert_allclose(tips, spk[fired])
    np.testing.assert_array_equal(arr(stems.x)[0::3], fired)

    assert fig.layout.uirevision is not None
    assert fig.layout.title.text
    assert any(ax.title.text == "time step" for ax in (fig.layout.xaxis4,))


def test_neuron_figure_shows_graded_spike_values():
    tr = simulate(SimConfig(num_steps=40, amplitude=0.5, graded_spikes_factor=2.5))
    stems = by_name(F.neuron_figure(tr), "output spikes")
    tips = arr(stems.y)[1::3]
    assert tips.size > 0 and np.allclose(tips, 2.5)


@pytest.mark.parametrize("mechanism", ["subtract", "zero"])
def test_spike_markers_sit_where_the_spike_was_decided_without_reset_delay(mechanism):
    tr = simulate(SimConfig(num_steps=60, amplitude=0.4, reset_delay=False,
                            reset_mechanism=mechanism))
    spikes = by_name(F.neuron_figure(tr), "spikes")
    assert len(spikes.x) > 0
    # U[t] itself is already reset here; the marker shows the value that crossed θ
    assert (arr(spikes.y) > tr.config.threshold).all()


def test_neuron_figure_flat_index_into_conv_and_batch(conv, linear):
    fig = F.neuron_figure(conv, neuron=40)
    np.testing.assert_allclose(arr(by_name(fig, "membrane").y), conv.flat("mem")[:, 0, 40],
                               atol=1e-6)
    fig = F.neuron_figure(linear, neuron=5, batch=1)
    np.testing.assert_allclose(arr(by_name(fig, "input").y), linear.flat("input")[:, 1, 5],
                               atol=1e-6)


def test_neuron_figure_overlay_draws_the_steady_state():
    cfg = SimConfig(num_steps=50, amplitude=0.05, beta=0.8, recurrence="none")
    tr = simulate(cfg)
    overlay = analytic_overlay(cfg)
    fig = F.neuron_figure(tr, overlay=overlay)
    line = by_name(fig, "steady state")
    assert line.line.dash == "dot"
    assert np.allclose(arr(line.y), 0.05 / 0.2)
    # no spikes (0.05 < rheobase 0.2): the membrane climbs towards the line from below
    mem = arr(by_name(fig, "membrane").y)
    assert (mem < 0.25).all() and mem[-1] == pytest.approx(0.25, abs=1e-3)
    assert "steady state" not in [t.name for t in F.neuron_figure(tr).data]
    # an infinite steady state (β = 1) is left out rather than drawn
    unbounded = analytic_overlay(cfg.replace(beta=1.0))
    assert "steady state" not in [t.name for t in F.neuron_figure(tr, overlay=unbounded).data]


# --- breakdown_figure ----------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    dict(recurrence="one_to_one", V=0.3),
    dict(recurrence="linear", num_neurons=5, reset_mechanism="zero"),
    dict(recurrence="linear", num_neurons=5, reset_delay=False),
    dict(recurrence="one_to_one", state_quant_bits=4),
])
def test_breakdown_bars_add_up_to_the_membrane(changes):
    tr = simulate(SimConfig(num_steps=60, amplitude=0.4, noise_std=0.2, **changes))
    neuron = tr.flat("mem").shape[2] - 1
    fig = F.breakdown_figure(tr, neuron=neuron)
    assert fig.layout.barmode == "relative"
    bars = {n: arr(by_name(fig, n).y) for n in ("leak", "input", "recurrent", "reset")}
    for n in bars:
        assert isinstance(by_name(fig, n), go.Bar)
        assert len(bars[n]) == tr.num_steps
    mem = arr(by_name(fig, "membrane").y)
    np.testing.assert_allclose(sum(bars.values()), mem, rtol=0, atol=1e-5)
    np.testing.assert_allclose(mem, tr.flat("mem")[:, 0, neuron], atol=1e-6)
    np.testing.assert_allclose(bars["leak"], tr.flat("leak")[:, 0, neuron], atol=1e-6)
    np.testing.assert_allclose(bars["reset"],
                               (tr.flat("mem") - tr.flat("base"))[:, 0, neuron], atol=1e-5)


# --- raster_figure -------------------------------------------------------------------

def test_raster_small_is_exact(linear):
    fig = F.raster_figure(linear, batch=1)
    assert fig.layout.meta == {"merged_steps": 1}
    assert "merges" not in fig.layout.title.text
    image = fig.data[0]
    assert isinstance(image, go.Image)
    pixels = decode_png_1bit(image.source)
    np.testing.assert_array_equal(pixels, (linear.flat("spk")[:, 1, :] != 0).T.astype(np.uint8))
    assert image.x0 == 0 and image.dx == 1
    assert fig.layout.yaxis.scaleanchor is False  # the raster fills the width, pixels need not be square
    assert fig.layout.xaxis.title.text == "time step"


def test_raster_merges_large_runs_without_hiding_a_spike():
    T, N = 10_000, 1_000
    rng = np.random.default_rng(0)
    spk = (rng.random((T, 1, N)) < 0.0005).astype(np.float32)
    spk[:, :, 100:200] = 0.0
    spk[7, 0, 150] = 1.0        # a lone spike inside a merged bin
    spk[T - 1, 0, 151] = -2.0   # a graded, negative spike in the (short) last bin
    trace = fake_spike_trace(spk)

    fig = F.raster_figure(trace, max_pixels=2_000_000)
    k = fig.layout.meta["merged_steps"]
    assert k == 5
    assert f"merges {k} steps" in fig.layout.title.text
    pixels = decode_png_1bit(fig.data[0].source)
    cols = math.ceil(T / k)
    assert pixels.shape == (N, cols)
    assert pixels.size <= 2_000_000

    fired = spk[:, 0, :] != 0
    has_spike = fired.any(axis=0)
    assert (pixels.any(axis=1) == has_spike).all(), "every spiking neuron must show in its row"
    # exactly a max-pool over bins of k steps
    padded = np.zeros((cols * k, N), dtype=bool)
    padded[:T] = fired
    np.testing.assert_array_equal(pixels.astype(bool), padded.reshape(cols, k, N).any(axis=1).T)
    assert pixels[150, 7 // k] == 1 and pixels[151, (T - 1) // k] == 1

    # axes in real units: pixel column c is centred on the middle of its bin
    assert fig.data[0].dx == k and fig.data[0].x0 == (k - 1) / 2
    assert len(fig.to_json()) < 1_000_000


def test_raster_with_a_tiny_budget_keeps_one_column():
    spk = np.zeros((50, 1, 4), dtype=np.float32)
    spk[49, 0, 3] = 1
    fig = F.raster_figure(fake_spike_trace(spk), max_pixels=1)
    assert fig.layout.meta == {"merged_steps": 50}
    np.testing.assert_array_equal(decode_png_1bit(fig.data[0].source)[:, 0], [0, 0, 0, 1])


# --- rate_figure ---------------------------------------------------------------------

def test_rate_figure_raw_and_smoothed(linear):
    fired = (linear.flat("spk")[:, 0, :] != 0).mean(axis=1)
    fig = F.rate_figure(linear, window=5)
    raw, smooth = arr(by_name(fig, "rate").y), arr(by_name(fig, "smoothed").y)
    assert len(raw) == len(smooth) == linear.num_steps
    np.testing.assert_allclose(raw, fired)
    interior = np.convolve(fired, np.ones(5) / 5, mode="valid")  # centred on steps 2..T-3
    np.testing.assert_allclose(smooth[2:-2], interior)
    np.testing.assert_allclose(arr(by_name(F.rate_figure(linear, window=1), "smoothed").y), fired)
    whole = arr(by_name(F.rate_figure(linear, window=10_000), "smoothed").y)
    assert whole[len(whole) // 2] == pytest.approx(fired.mean())
    assert fig.layout.yaxis.title.text == "spikes / neuron / step"


# --- heatmap_figure ------------------------------------------------------------------

def test_heatmap_exact_when_small(linear):
    fig = F.heatmap_figure(linear, "surrogate_grad", batch=1)
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z, linear.flat("surrogate_grad")[:, 1, :].T, rtol=1e-6)
    assert fig.layout.meta == {"merged_steps": 1}


def test_heatmap_averages_time_bins_when_too_big(linear):
    T, N = linear.num_steps, linear.flat("mem").shape[2]
    fig = F.heatmap_figure(linear, "mem", max_cells=N * 7)
    k = fig.layout.meta["merged_steps"]
    assert k == math.ceil(T / 7) and f"averages {k} steps" in fig.layout.title.text
    z = np.asarray(fig.data[0].z)
    assert z.shape == (N, math.ceil(T / k))
    mem = linear.flat("mem")[:, 0, :]
    np.testing.assert_allclose(z[:, 0], mem[:k].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z[:, -1], mem[(z.shape[1] - 1) * k:].mean(axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arr(fig.data[0].x)[0], (k - 1) / 2)


# --- weights -------------------------------------------------------------------------

def test_weight_figure_is_centred_at_zero(linear):
    w = linear.neuron.recurrent.weight.detach().numpy()
    fig = F.weight_figure(w)
    hm = fig.data[0]
    np.testing.assert_allclose(np.asarray(hm.z), w, rtol=1e-6)
    assert hm.zmid == 0 and hm.zmin == -hm.zmax
    assert fig.layout.yaxis.title.text.startswith("receiving")
    F.weight_figure(linear.neuron.recurrent.weight)  # a tensor with grad is accepted too


def test_spectral_radius_matches_an_independent_computation(linear):
    w = linear.neuron.recurrent.weight.detach().double()
    expected = torch.linalg.eigvals(w).abs().max().item()
    assert spectral_radius(w.numpy()) == pytest.approx(expected, rel=1e-9)
    rotation = 0.5 * np.array([[0.0, -1.0], [1.0, 0.0]])  # eigenvalues ±0.5i
    assert spectral_radius(rotation) == pytest.approx(0.5)
    assert spectral_radius(np.diag([0.1, -3.0, 2.0])) == pytest.approx(3.0)

    fig = F.spectrum_figure(w.numpy())
    eig = by_name(fig, "eigenvalues")
    assert len(eig.x) == w.shape[0]
    np.testing.assert_allclose(np.max(np.hypot(arr(eig.x), arr(eig.y))), expected, rtol=1e-9)
    np.testing.assert_allclose(np.hypot(arr(by_name(fig, "unit circle").x),
                                        arr(by_name(fig, "unit circle").y)), 1.0)
    np.testing.assert_allclose(np.hypot(arr(by_name(fig, "spectral radius").x),
                                        arr(by_name(fig, "spectral radius").y)), expected)
    assert f"{expected:.4g}" in fig.layout.title.text
    assert fig.layout.yaxis.scaleanchor == "x"


# --- traces_figure -------------------------------------------------------------------

def test_traces_figure_overlays_chosen_neurons(linear):
    fig = F.traces_figure(linear, [3, 0, 3], batch=1)
    names = [t.name for t in fig.data]
    assert names == ["neuron 3", "neuron 0", "threshold"]
    np.testing.assert_allclose(arr(by_name(fig, "neuron 0").y), linear.flat("mem")[:, 1, 0],
                               atol=1e-6)
    assert len(by_name(fig, "neuron 3").y) == linear.num_steps
    assert set(arr(by_name(fig, "threshold").y)) == {1.0}


# --- conv figures --------------------------------------------------------------------

def test_conv_frames_subsample_evenly_and_show_their_step(conv):
    fig = F.conv_frames_figure(conv, channel=1, max_frames=9)
    T = conv.num_steps
    steps = [int(f.name) for f in fig.frames]
    assert 1 < len(steps) <= 9 and steps[0] == 0 and steps[-1] == T - 1
    assert steps == sorted(set(steps))
    assert f"of {T} steps" in fig.layout.title.text
    spk = conv.spk[:, 0, 1].numpy()
    for frame in fig.frames:
        z = np.asarray(frame.data[0].z)
        assert z.shape == spk.shape[1:] == (6, 6)
        np.testing.assert_array_equal(z, (spk[int(frame.name)] != 0).astype(np.uint8))
    labels = [s.label for s in fig.layout.sliders[0].steps]
    assert labels == [str(s) for s in steps]
    buttons = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert any("play" in b for b in buttons) and any("pause" in b for b in buttons)

    every = F.conv_frames_figure(conv, max_frames=1000)
    assert len(every.frames) == T and "all" in every.layout.title.text


def test_rate_map_is_the_mean_firing_rate(conv):
    fig = F.rate_map_figure(conv, channel=0)
    expected = (conv.spk[:, 0, 0].numpy() != 0).mean(axis=0)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), expected, rtol=1e-6)


# --- spike_stats ---------------------------------------------------------------------

def test_spike_stats_on_a_hand_made_train():
    T = 20
    spk = np.zeros((T, 1, 5), dtype=np.float32)
    spk[[2, 5, 11], 0, 0] = 1      # intervals 3, 6
    spk[0, 0, 2] = 1               # one spike
    spk[[4, 6], 0, 3] = 2.0        # graded spikes, interval 2
    spk[[1, 5, 9, 13], 0, 4] = 1   # regular: intervals 4, 4, 4
    stats = spike_stats(fake_spike_trace(spk))
    assert isinstance(stats, pd.DataFrame)
    assert list(stats.columns) == ["spike_count", "rate", "first_spike", "isi_mean", "isi_cv"]
    assert list(stats.index) == [0, 1, 2, 3, 4]
    assert list(stats.spike_count) == [3, 0, 1, 2, 4]
    np.testing.assert_allclose(stats.rate, np.array([3, 0, 1, 2, 4]) / T)
    np.testing.assert_array_equal(stats.first_spike, [2, np.nan, 0, 4, 1])
    np.testing.assert_allclose(stats.isi_mean, [4.5, np.nan, np.nan, 2.0, 4.0])
    np.testing.assert_allclose(stats.isi_cv, [1.5 / 4.5, np.nan, np.nan, np.nan, 0.0])


def test_spike_stats_of_a_simulation_agree_with_the_spikes(linear):
    stats = spike_stats(linear, batch=1)
    fired = linear.flat("spk")[:, 1, :] != 0
    assert len(stats) == fired.shape[1]
    np.testing.assert_array_equal(stats.spike_count, fired.sum(axis=0))


# --- analytic_overlay ----------------------------------------------------------------

def test_analytic_overlay_values():
    o = analytic_overlay(SimConfig(beta=0.9, threshold=1.0, amplitude=0.3, offset=0.1))
    assert o["input_current"] == pytest.approx(0.4)
    assert o["steady_state"] == pytest.approx(4.0)
    assert o["rheobase"] == pytest.approx(0.1)
    assert o["fires"] is True
    assert o["tau"] == pytest.approx(-1 / math.log(0.9))
    assert o["exact"] is True

    flat = analytic_overlay(SimConfig(beta=1.0, amplitude=0.3))
    assert flat["steady_state"] == math.inf and flat["tau"] == math.inf and flat["rheobase"] == 0
    clamped = analytic_overlay(SimConfig(beta=1.7, amplitude=-0.3))
    assert clamped["beta"] == 1.0 and clamped["steady_state"] == -math.inf
    memoryless = analytic_overlay(SimConfig(beta=-0.5, amplitude=0.3, threshold=2.0))
    assert memoryless["beta"] == 0.0 and memoryless["tau"] == 0.0
    assert memoryless["steady_state"] == pytest.approx(0.3) and memoryless["rheobase"] == 2.0
    assert analytic_overlay(SimConfig(stimulus="sine"))["exact"] is False


@pytest.mark.parametrize("factor, fires", [(1.05, True), (0.95, False)])
def test_rheobase_predicts_whether_a_lone_neuron_fires(factor, fires):
    cfg = SimConfig(beta=0.9, threshold=1.0, recurrence="none", num_steps=200)
    cfg = cfg.replace(amplitude=analytic_overlay(cfg)["rheobase"] * factor)
    assert analytic_overlay(cfg)["fires"] is fires
    assert bool(simulate(cfg).spk.any()) is fires


# --- argument checks -----------------------------------------------------------------

@pytest.mark.parametrize("call, argument", [
    (lambda t: F.neuron_figure(t, neuron=12), "neuron"),
    (lambda t: F.neuron_figure(t, neuron=True), "neuron"),
    (lambda t: F.neuron_figure(t, batch=2), "batch"),
    (lambda t: F.neuron_figure(t, batch=-1), "batch"),
    (lambda t: F.neuron_figure(t, overlay={"x": 1}), "overlay"),
    (lambda t: F.neuron_figure(None), "trace"),
    (lambda t: F.breakdown_figure(t, neuron=-1), "neuron"),
    (lambda t: F.raster_figure(t, max_pixels=0), "max_pixels"),
    (lambda t: F.raster_figure(t, batch=5), "batch"),
    (lambda t: F.rate_figure(t, window=0), "window"),
    (lambda t: F.rate_figure(t, window=2.5), "window"),
    (lambda t: F.heatmap_figure(t, quantity="voltage"), "quantity"),
    (lambda t: F.heatmap_figure(t, max_cells=0), "max_cells"),
    (lambda t: F.traces_figure(t, []), "neurons"),
    (lambda t: F.traces_figure(t, [0, 99]), "neurons[1]"),
    (lambda t: F.traces_figure(t, "0"), "neurons"),
    (lambda t: F.conv_frames_figure(t), "conv2d"),
    (lambda t: F.rate_map_figure(t), "conv2d"),
    (lambda t: spike_stats(t, batch=9), "batch"),
    (lambda t: spike_stats(SimpleNamespace(spk=None)), "spk"),
])
def test_bad_arguments_raise_value_error_naming_them(linear, call, argument):
    with pytest.raises(ValueError, match=argument.replace("[", r"\[").replace("]", r"\]")):
        call(linear)


@pytest.mark.parametrize("call, argument", [
    (lambda t: F.conv_frames_figure(t, channel=2), "channel"),
    (lambda t: F.conv_frames_figure(t, max_frames=0), "max_frames"),
    (lambda t: F.rate_map_figure(t, channel=-1), "channel"),
])
def test_bad_conv_arguments(conv, call, argument):
    with pytest.raises(ValueError, match=argument):
        call(conv)


@pytest.mark.parametrize("weight", [
    np.zeros((3, 4)), np.zeros((0, 0)), np.zeros(3), np.array([[np.nan]]), None,
    np.array([[1 + 1j]]), [["a"]],
])
def test_bad_weights_raise(weight):
    for fn in (F.weight_figure, F.spectrum_figure, spectral_radius):
        with pytest.raises(ValueError, match="weight"):
            fn(weight)


def test_analytic_overlay_refuses_a_non_config():
    with pytest.raises(ValueError, match="amplitude"):
        analytic_overlay(SimpleNamespace(beta=0.9, threshold=1.0, offset=0.0))


# --- conventions ---------------------------------------------------------------------

def test_every_figure_has_a_title_axis_labels_and_uirevision(single, linear, conv):
    w = linear.neuron.recurrent.weight.detach().numpy()
    figs = [F.neuron_figure(single), F.breakdown_figure(single), F.raster_figure(linear),
            F.rate_figure(linear), F.heatmap_figure(linear), F.weight_figure(w),
            F.spectrum_figure(w), F.traces_figure(linear, [0]), F.conv_frames_figure(conv),
            F.rate_map_figure(conv)]
    for fig in figs:
        assert fig.layout.title.text, fig
        assert fig.layout.uirevision is not None
        assert fig.layout.xaxis.title.text or fig.layout.xaxis4.title.text
        assert fig.layout.yaxis.title.text


def test_figures_never_import_streamlit():
    for path in FIGURES_DIR.glob("*.py"):
        text = path.read_text()
        assert "import streamlit" not in text and "from streamlit" not in text, path.name
