"""The live chart's frames: each is the core's own run of its setting (issue "Live", item 2).

``live.live_frames`` runs every position of every live control as one batched
run; each frame must be what ``simulate(cfg.replace(field=value))`` gives for
the neuron and sample the chart shows: spikes equal, membranes within 1e-6
(relative to the membrane's size where a linear recurrence's matrix product
rounds differently for a batch of another size).  The figure data built from a
frame must be the figure ``neuron_figure`` draws for that setting, key for key,
so that the authoritative run after a release shows exactly the frame.
"""
from __future__ import annotations

import base64
import itertools
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from rleaky_viz import SimConfig
from rleaky_viz.config import LIVE_FIELDS, control
from rleaky_viz.figures.live import MAGIC, live_chart_payload, live_figure, live_frame, read_live_payload
from rleaky_viz.figures.neuron import neuron_figure, neuron_series
from rleaky_viz.live import (LIVE_POSITIONS, live_fields, live_frames, live_off_reason,
                             live_values, positions_for)
from rleaky_viz.simulate import simulate
from rleaky_viz.theory import analytic_overlay, overlay_applies

GRID = [
    SimConfig(),
    SimConfig(recurrence="none", amplitude=0.25),
    SimConfig(reset_mechanism="zero", reset_delay=False),
    SimConfig(reset_mechanism="none", V=-0.4),
    SimConfig(inhibition=True, num_neurons=4, input_spread=0.5),
    SimConfig(recurrence="linear", num_neurons=5, input_spread=0.5, batch_size=2,
              stimulus="noise", noise_std=0.2),
    SimConfig(state_quant_bits=4),
    SimConfig(surrogate="SSO", graded_spikes_factor=1.5),
    SimConfig(stimulus="sine", amplitude=0.6, num_steps=120),
    SimConfig(stimulus="poisson", amplitude=0.5, batch_size=3, seed=7),
]


def _close(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference, relative to the membrane's size above 1."""
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a)))) if a.size else 0.0


@pytest.mark.parametrize("cfg", GRID, ids=lambda c: f"{c.recurrence}-{c.reset_mechanism}-"
                         f"d{int(c.reset_delay)}-q{c.state_quant_bits}-{c.stimulus}-{c.surrogate}")
def test_every_frame_is_the_cores_run_of_its_setting(cfg):
    neuron, batch = cfg.neuron_count - 1, cfg.batch_size - 1
    frames = live_frames(cfg, neuron, batch, positions=9)
    assert frames.fields == live_fields(cfg)
    for name in frames.fields:
        assert frames.values[name][frames.current[name]] == getattr(cfg, name)
        for k in range(len(frames.values[name])):
            want = neuron_series(simulate(frames.config(name, k)), neuron, batch)
            got = frames.series(name, k)
            assert np.array_equal(want["spk"], got["spk"]), (name, k)
            assert np.array_equal(want["reset_applied"], got["reset_applied"]), (name, k)
            for key in ("mem", "base", "decision", "recurrent", "input"):
                assert _close(want[key], got[key]) <= 1e-6, (name, k, key)
            assert got["threshold"] == pytest.approx(want["threshold"], abs=1e-7)


def test_the_current_frame_is_the_run_itself_bit_for_bit():
    cfg = SimConfig()
    frames = live_frames(cfg)
    want = neuron_series(simulate(cfg))
    for name in frames.fields:
        got = frames.series(name, frames.current[name])
        for key in ("spk", "mem", "base", "recurrent", "input", "decision"):
            assert np.array_equal(want[key], got[key]), (name, key)


def _decode(v):
    if isinstance(v, dict) and "bdata" in v:
        dtype = {"f4": "<f4", "f8": "<f8", "i4": "<i4", "u1": "u1", "i1": "i1", "i2": "<i2",
                 "u2": "<u2", "u4": "<u4"}[v["dtype"]]
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=dtype).astype(np.float64)
    if isinstance(v, dict):
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list) and v and isinstance(v[0], (dict, list)):
        return [_decode(x) for x in v]
    return v


def _equal(a, b) -> bool:
    a, b = _decode(a), _decode(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, list)) or isinstance(b, (np.ndarray, list)):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return a == b


@pytest.mark.parametrize("cfg", [SimConfig(), SimConfig(threshold=0.3, amplitude=0.6),
                                 SimConfig(beta=0.5),  # silent: empty spike traces
                                 SimConfig(reset_delay=False, recurrence="none")])
def test_a_frame_drawn_in_the_browser_is_the_figure_of_its_setting(cfg):
    """No jump on release: each frame's traces, read from the bytes the browser gets as
    live.js reads them, are neuron_figure's of that frame's own setting."""
    trace, overlay = simulate(cfg), analytic_overlay(cfg)
    frames = live_frames(cfg, overlay=True, positions=7)
    payload = live_chart_payload(trace, frames, overlay)
    assert isinstance(payload, bytes) and payload[:4] == MAGIC
    header = read_live_payload(payload)
    for name in frames.fields:
        for k in range(len(frames.values[name])):
            other = frames.config(name, k)
            want = neuron_figure(simulate(other), overlay=analytic_overlay(other)
                                 if overlay_applies(other) else None).to_plotly_json()
            got, title = live_frame(header, name, k)
            assert title == want["layout"]["title"]["text"]
            assert [t["name"] for t in got] == [t["name"] for t in want["data"]], (name, k)
            for g, w in zip(got, want["data"]):
                for key in w:
                    if key in ("x", "y", "customdata", "marker", "hovertemplate", "mode", "line"):
                        ok = _equal(g[key], w[key]) if key != "y" or g["name"] not in (
                            "membrane", "pre-reset membrane") else np.allclose(
                                _decode(g[key]), _decode(w[key]), rtol=0, atol=1e-6)
                        assert ok, (name, k, g["name"], key)


def test_the_payload_is_compact_and_refuses_what_it_is_not():
    """The frames travel deflated (far below their raw float32 size), and a bad payload
    is refused by name."""
    cfg = SimConfig()
    trace = simulate(cfg)
    frames = live_frames(cfg)
    payload = live_chart_payload(trace, frames)
    header = read_live_payload(payload)
    raw = sum(a.nbytes for a in header["arrays"])
    assert raw > 4 * len(payload) / 2, (raw, len(payload))
    with pytest.raises(ValueError, match="not a live chart payload"):
        read_live_payload(b"{}" + payload)
    with pytest.raises(IndexError, match="beta has"):
        live_frame(header, "beta", len(frames.values["beta"]))


def test_the_offline_figure_has_a_slider_over_the_beta_frames():
    cfg = SimConfig()
    frames = live_frames(cfg, fields=["beta"], positions=11)
    fig = live_figure(simulate(cfg), frames, "beta")
    slider = fig.layout.sliders[0]
    assert [s.label for s in slider.steps] == [f"{v:g}" for v in frames.values["beta"]]
    assert slider.active == frames.current["beta"]
    assert len(fig.frames) == len(frames.values["beta"])
    names = [t.name for t in fig.data]
    for k, frame in enumerate(fig.frames):
        want = neuron_series(simulate(frames.config("beta", k)))
        mem = np.asarray(frame.data[names.index("membrane")].y)
        assert np.array_equal(mem, want["mem"])
        assert f"{int((want['spk'] != 0).sum())} spikes" in frame.layout.title.text


def test_the_values_of_a_live_control():
    for name in LIVE_FIELDS:
        c = control(name)
        for cfg in (SimConfig(), SimConfig(**{name: c.lo}), SimConfig(**{name: c.hi})):
            values = live_values(cfg, name, 61)
            assert values == sorted(set(values)) and getattr(cfg, name) in values
            assert len(values) <= 62 and values[0] >= c.lo - 1e-12 and values[-1] <= c.hi + 1e-12
            steps = np.round((np.asarray(values) - c.lo) / c.step, 6)
            assert np.allclose(steps, np.round(steps)), name  # on the slider's grid
    # a value from a link outside the widget's range widens it, as the sidebar's slider does
    assert live_values(SimConfig(beta=1.5), "beta")[-1] == 1.5


@settings(max_examples=25, deadline=None)
@given(beta=st.floats(0.0, 1.0), count=st.integers(2, 120))
def test_live_values_hold_the_current_value_and_every_end(beta, count):
    cfg = SimConfig(beta=round(beta, 4))
    values = live_values(cfg, "beta", count)
    assert cfg.beta in values and values[0] == 0.0 and values[-1] == 1.0
    assert len(values) <= max(count, 2) + 1


def test_large_runs_get_fewer_positions_or_a_reason():
    assert positions_for(SimConfig(), live_fields(SimConfig())) == LIVE_POSITIONS == 81
    long = SimConfig(num_steps=2000)
    assert 5 <= positions_for(long, live_fields(long)) < LIVE_POSITIONS
    big = SimConfig(recurrence="linear", num_neurons=1000, num_steps=2000)
    reason = live_off_reason(big, live_fields(big))
    assert reason and "reduce" in reason
    with pytest.raises(ValueError, match="no live frames"):
        live_frames(big)
    assert live_off_reason(SimConfig(num_steps=200), ()) == "no live control takes part in this setting"


def test_only_fields_without_cross_rules_skip_the_checks():
    cfg = SimConfig()
    assert cfg.with_checked(beta=0.5).beta == 0.5 and cfg.beta == 0.9
    with pytest.raises(ValueError, match="with_checked"):
        cfg.with_checked(kernel_size=4)


def test_the_per_sample_quantiser_snaps_as_the_core_does():
    """The sweeps' quantiser (a threshold per sample) against the core's nearest_level."""
    from rleaky_viz.core.quant import nearest_level, quant_levels
    from rleaky_viz.sweeps import _PerSampleQuantizer

    thresholds = [0.5, 1.0, 1.7]
    levels = torch.stack([quant_levels(num_bits=3, threshold=t) for t in thresholds])
    q = _PerSampleQuantizer(levels)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 50, generator=g) * 2
    x[:, :len(levels[0])] = levels  # every level itself
    mid = (levels[:, 1:] + levels[:, :-1]) / 2  # ties: the first level wins
    x[:, 10:10 + mid.shape[1]] = mid
    x[0, -3:] = torch.tensor([float("inf"), float("-inf"), float("nan")])
    got = q(x)
    for i in range(3):
        want = nearest_level(x[i], levels[i])
        assert torch.equal(torch.nan_to_num(got[i], nan=123.0), torch.nan_to_num(want, nan=123.0))


def test_bad_requests_name_what_is_allowed():
    with pytest.raises(ValueError, match="not a live field"):
        live_values(SimConfig(), "num_steps")
    with pytest.raises(ValueError, match="neuron must be"):
        live_frames(SimConfig(), neuron=3)
    frames = live_frames(SimConfig(), positions=5)
    with pytest.raises(KeyError, match="not live here"):
        frames.series("offset", 0)
    with pytest.raises(IndexError):
        frames.series("beta", 99)
    assert list(itertools.islice(frames.fields, 1)) == ["beta"]


@pytest.mark.parametrize("cfg", [SimConfig(num_steps=80),
                                 SimConfig(num_steps=60, recurrence="linear", num_neurons=3),
                                 SimConfig(num_steps=60, stimulus="poisson", amplitude=0.6)])
def test_after_a_release_the_moved_controls_frames_are_reused_and_equal_a_fresh_run(cfg, monkeypatch):
    import rleaky_viz.live as live_module

    before = live_frames(cfg, overlay=True)
    moved = before.values["beta"][3]
    after_cfg = cfg.replace(beta=moved)
    ran = []
    real = live_module.point_rollout
    monkeypatch.setattr(live_module, "point_rollout",
                        lambda *a, **k: ran.append(len(a[2])) or real(*a, **k))
    reused = live_frames(after_cfg, overlay=True, reuse=before)
    fresh = live_frames(after_cfg, overlay=True)
    # β's frames came from the earlier setting: only the other controls ran
    assert ran[0] == fresh.frame_count - len(fresh.values["beta"])
    assert reused.values == fresh.values and reused.current == fresh.current
    assert reused.first == fresh.first and reused.steadies == fresh.steadies
    assert np.array_equal(reused.thresholds, fresh.thresholds)
    for key in fresh.arrays:
        assert np.array_equal(reused.arrays[key], fresh.arrays[key]), key
    # a value off β's positions (a sidebar slider moved): it alone of β's frames is run
    off = next(v for v in np.arange(0.5, 0.99, 0.001).round(3) if v not in before.values["beta"])
    ran.clear()
    off_frames = live_frames(cfg.replace(beta=float(off)), overlay=True, reuse=before)
    assert ran[0] == off_frames.frame_count - len(off_frames.values["beta"]) + 1
    again = live_frames(cfg.replace(beta=float(off)), overlay=True)
    for key in again.arrays:
        assert np.array_equal(off_frames.arrays[key], again.arrays[key]), key
    assert off_frames.steadies == again.steadies
    # the frames of β at its new position are still the run of that setting
    run = simulate(after_cfg)
    series = reused.series("beta", reused.current["beta"])
    assert np.array_equal(series["spk"], run.spk[:, 0, 0].numpy())


def test_frames_of_another_setting_are_not_reused(monkeypatch):
    import rleaky_viz.live as live_module

    cfg = SimConfig(num_steps=50)
    before = live_frames(cfg)
    ran = []
    real = live_module.point_rollout
    monkeypatch.setattr(live_module, "point_rollout",
                        lambda *a, **k: ran.append(len(a[2])) or real(*a, **k))
    # two fields changed (θ and the seed): no control's frames are those of the old setting
    other = live_frames(cfg.replace(threshold=0.8, seed=5), reuse=before)
    assert ran == [other.frame_count]
    # the overlay asked for now but not then: run again
    live_frames(cfg, overlay=True, reuse=before)
    assert ran[-1] == other.frame_count
