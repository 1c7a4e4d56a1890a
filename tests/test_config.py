"""SimConfig: validation in one place, URL and JSON round trips, determinism of simulate."""
import dataclasses

import pytest
import torch

from rleaky_viz import PRESETS, SimConfig, simulate
from rleaky_viz.config import RECURRENCES


def test_defaults_are_valid_and_hashable():
    cfg = SimConfig()
    assert hash(cfg) == hash(SimConfig())
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.beta = 0.5


@pytest.mark.parametrize("field, value, words", [
    ("beta", 3.0, "beta must be between"),
    ("threshold", 0.0, "threshold must be between"),
    ("num_neurons", 1001, "num_neurons must be between"),
    ("num_steps", 0, "num_steps must be between"),
    ("reset_mechanism", "halfway", "reset_mechanism must be one of"),
    ("recurrence", "dense", "recurrence must be one of"),
    ("surrogate", "relu", "surrogate must be one of"),
    ("kernel_size", 4, "kernel_size must be odd"),
    ("graded_spikes_factor", 0.0, "graded_spikes_factor must be non-zero"),
    ("beta", float("nan"), "beta must be finite"),
    ("reset_delay", "yes", "reset_delay must be true or false"),
    ("num_steps", 10.5, "num_steps must be a whole number"),
    ("expression", "t" * 201, "at most 200 characters"),
])
def test_bad_values_name_the_field(field, value, words):
    with pytest.raises(ValueError, match=words):
        SimConfig(**{field: value})


def test_inhibition_needs_dense_layer():
    with pytest.raises(ValueError, match="inhibition"):
        SimConfig(recurrence="conv2d", inhibition=True)


def test_query_round_trip_reproduces_config():
    cfg = SimConfig(beta=0.73, threshold=1.4, reset_mechanism="zero", reset_delay=False,
                    recurrence="linear", num_neurons=17, seed=1234, stimulus="expression",
                    expression="0.2 + 0.1*sin(t/5)", surrogate="fast_sigmoid", fast_sigmoid_slope=10.0)
    query = cfg.to_query()
    assert all(isinstance(v, str) for v in query.values())
    assert query["seed"] == "1234" and "threshold" in query
    assert SimConfig.from_query(query) == cfg
    assert SimConfig.from_query({}) == SimConfig()


def test_query_reports_bad_values_and_keeps_the_rest():
    errors = []
    cfg = SimConfig.from_query({"beta": "abc", "threshold": "2.5", "num_steps": "-3",
                                "unknown": "1"}, errors=errors)
    assert cfg.threshold == 2.5 and cfg.beta == SimConfig().beta
    assert len(errors) == 2 and errors[0].startswith("beta")
    with pytest.raises(ValueError, match="beta"):
        SimConfig.from_query({"beta": "abc"})


def test_json_round_trip_and_unknown_fields():
    cfg = SimConfig(beta=0.5, inhibition=True, num_neurons=5)
    assert SimConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown config field"):
        SimConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="not valid JSON"):
        SimConfig.from_json("{beta: 1")


@pytest.mark.parametrize("recurrence", RECURRENCES)
def test_same_config_same_trace(recurrence):
    cfg = SimConfig(recurrence=recurrence, num_neurons=6, grid_size=5, num_steps=40,
                    stimulus="noise", noise_std=0.3, batch_size=2, seed=7)
    a, b = simulate(cfg), simulate(cfg)
    assert torch.equal(a.spk, b.spk) and torch.equal(a.mem, b.mem)
    assert torch.equal(a.input, b.input)
    c = simulate(cfg.replace(seed=8))
    assert not torch.equal(a.input, c.input)
    expected = (40, 2, *cfg.neuron_shape)
    for name in ("input", "spk", "mem", "reset", "recurrent", "leak", "base", "surrogate_grad"):
        assert tuple(getattr(a, name).shape) == expected, name


def test_trace_frame_is_tidy():
    trace = simulate(SimConfig(num_neurons=3, recurrence="linear", num_steps=10, batch_size=2))
    frame = trace.to_frame()
    assert len(frame) == 10 * 2 * 3
    assert {"t", "batch", "neuron", "input", "mem", "spk", "reset", "surrogate_grad"} <= set(frame)
    row = frame[(frame.t == 4) & (frame.batch == 1) & (frame.neuron == 2)].iloc[0]
    assert row["mem"] == pytest.approx(float(trace.mem[4, 1, 2]))


def test_trace_neuron_state_dict_replays_in_snntorch():
    snn = pytest.importorskip("snntorch")
    cfg = SimConfig(recurrence="linear", num_neurons=8, num_steps=50, amplitude=0.2)
    trace = simulate(cfg)
    ref = snn.RLeaky(beta=cfg.beta, linear_features=8, threshold=cfg.threshold)
    ref.load_state_dict(trace.neuron.state_dict())
    from _oracle import run_steps

    assert torch.equal(run_steps(ref, trace.input)[0], trace.spk)


def test_each_preset_is_valid_and_runs():
    assert len(PRESETS) >= 7
    for preset in PRESETS.values():
        cfg = preset.config
        assert SimConfig.from_query(cfg.to_query()) == cfg
        assert preset.url().startswith("/")
        trace = simulate(cfg.replace(num_steps=min(cfg.num_steps, 60)))
        assert trace.spk.shape[0] == min(cfg.num_steps, 60)


def test_presets_show_their_idea():
    # strict threshold: U == θ exactly, and no spike
    t = simulate(PRESETS["strict_threshold"].config)
    assert torch.all(t.mem == 1.0) and t.spk.sum() == 0
    assert simulate(PRESETS["strict_threshold"].config.replace(amplitude=1.001)).spk.sum() == 20
    # V = θ runaway: still firing long after the input pulse ended
    t = simulate(PRESETS["runaway_v_equals_threshold"].config)
    assert t.input[50:].abs().sum() == 0 and t.spk[50:].sum() == 70
    # zero input, yet the recurrent bias makes some neurons fire
    t = simulate(PRESETS["recurrent_bias"].config)
    assert t.input.abs().sum() == 0 and t.spk.sum() > 0
    # winner-take-all: at most one spike per step
    t = simulate(PRESETS["winner_take_all"].config)
    assert t.spk.sum(dim=-1).max() <= 1 and t.spk.sum() > 0
    # beta 1.5 behaves as beta 1
    a = simulate(PRESETS["beta_clamped"].config)
    b = simulate(PRESETS["beta_clamped"].config.replace(beta=1.0))
    assert torch.equal(a.spk, b.spk) and torch.equal(a.mem, b.mem)
    # reset to zero: the step after each spike is exactly zero despite input
    t = simulate(PRESETS["zero_reset_drops_input"].config)
    spikes = t.spk[:-1, 0, 0].nonzero().flatten()
    assert len(spikes) > 0 and torch.all(t.mem[spikes + 1, 0, 0] == 0)
