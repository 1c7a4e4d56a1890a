"""Sweeps: the batched grid run equals one simulate() per point; regimes, scores, figures."""
import json
import pickle
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import rleaky_viz.mystery as mystery
import rleaky_viz.regimes as regimes
import rleaky_viz.sweeps as sweeps
from rleaky_viz import SimConfig, simulate
from rleaky_viz.compare import first_divergence, van_rossum_similarity
from rleaky_viz.figures import (compare_figure, fi_curve_figure, mystery_figure, regime_map_figure,
                                sweep_map_figure)
from rleaky_viz.mystery import MYSTERY_BASE, mystery_challenge, mystery_score
from rleaky_viz.regimes import REGIMES, classify_regime
from rleaky_viz.statistics import STAT_COLUMNS, spike_stats, spike_train_stats
from rleaky_viz.sweeps import point_config, sweep, value_range

RECURRENCES = ("one_to_one", "linear", "conv2d", "none")
GRIDS = {
    "beta x amplitude": {"beta": [0.5, 0.8, 0.95], "amplitude": [0.1, 0.3, 0.6]},
    "threshold x V": {"threshold": [0.5, 1.0, 1.5], "V": [-0.5, 0.3, 1.0]},
}


def base_config(recurrence: str, **changes) -> SimConfig:
    # noise makes the input random: every point must share the same draws
    fields = dict(recurrence=recurrence, num_steps=80, seed=3, stimulus="noise", noise_std=0.2,
                  grid_size=4, num_neurons=3 if recurrence == "linear" else 1)
    return SimConfig(**{**fields, **changes})


def spikes_alone(cfg: SimConfig) -> int:
    return int((simulate(cfg).spk != 0).sum())


def assert_same_stats(row, cfg):
    """A single neuron's statistics equal those the explorer shows for the same config."""
    alone = spike_stats(simulate(cfg)).iloc[0]
    for name in ("rate", "first_spike", "isi_mean", "isi_cv"):
        assert row[name] == pytest.approx(alone[name], nan_ok=True, abs=1e-9), name


# ----------------------------------------------------------------------------- equality
@pytest.mark.parametrize("recurrence", RECURRENCES)
@pytest.mark.parametrize("grid_name", list(GRIDS))
def test_batched_sweep_equals_each_point_alone(recurrence, grid_name):
    cfg = base_config(recurrence)
    frame = sweep(cfg, GRIDS[grid_name])
    assert len(frame) == 9
    assert frame["spike_count"].sum() > 0, "a grid with no spikes at all would prove nothing"
    for _, row in frame.iterrows():
        point = point_config(cfg, row)
        assert int(row["spike_count"]) == spikes_alone(point), dict(row)
        if point.neuron_count == 1:
            assert_same_stats(row, point)


@pytest.mark.parametrize("changes, grid", [
    # state quantisation: each point snaps to the levels of its own threshold
    (dict(recurrence="one_to_one", state_quant_bits=4, stimulus="sine", amplitude=0.5),
     {"threshold": [0.5, 0.9, 1.3], "beta": [0.7, 0.9]}),
    (dict(recurrence="none", reset_mechanism="zero", reset_delay=False, stimulus="constant"),
     {"graded_spikes_factor": [-1.0, 0.5, 2.0], "offset": [0.0, 0.4]}),
    (dict(recurrence="linear", num_neurons=5, inhibition=True, input_spread=0.4, amplitude=0.5),
     {"beta": [0.5, 0.9], "offset": [0.0, 0.3]}),
    # several samples per point, Poisson input that scales with the amplitude
    (dict(recurrence="one_to_one", batch_size=3, stimulus="poisson", rate=0.3),
     {"amplitude": [0.3, 0.6, 0.9]}),
    (dict(recurrence="conv2d", grid_size=3, conv2d_channels=2, state_quant_bits=3),
     {"threshold": [0.4, 1.0], "graded_spikes_factor": [1.0, 2.0]}),
])
def test_batched_sweep_equals_alone_in_odd_corners(changes, grid):
    cfg = base_config(changes.pop("recurrence"), **changes)
    frame = sweep(cfg, grid)
    for _, row in frame.iterrows():
        assert int(row["spike_count"]) == spikes_alone(point_config(cfg, row)), dict(row)


def test_the_whole_grid_is_one_batched_unroll(monkeypatch):
    batches = []
    loop = sys.modules["rleaky_viz.core.unroll"]  # the module; core.unroll is the function
    real = loop.unroll

    def spy(neuron, x, *args, **kwargs):
        batches.append(x.shape[1])
        return real(neuron, x, *args, **kwargs)

    monkeypatch.setattr(loop, "unroll", spy)
    cfg = base_config("one_to_one", num_steps=200, batch_size=2)
    sweep(cfg, {"beta": value_range(0.5, 0.95, 8), "amplitude": value_range(0.0, 1.0, 8)})
    assert set(batches) == {64 * 2}  # every call carries every grid point and sample
    assert len(batches) < 200  # chunks of many steps, not a call per step


def test_chunked_run_carries_state_across_chunks():
    cfg = base_config("one_to_one", num_steps=333, stimulus="sine", amplitude=0.6)
    whole = sweep(cfg, {"beta": [0.6, 0.9], "V": [0.0, 0.5]})
    assert sweeps._CHUNK_ELEMENT_STEPS // 4 > 333  # so the run was split by the T/20 rule
    for _, row in whole.iterrows():
        assert int(row["spike_count"]) == spikes_alone(point_config(cfg, row))


def test_rows_columns_and_attrs():
    cfg = base_config("none")
    frame = sweep(cfg, {"threshold": [0.5, 1.0], "amplitude": [0.1, 0.2, 0.3]})
    assert list(frame.columns) == ["threshold", "amplitude", *STAT_COLUMNS]
    assert frame["threshold"].tolist() == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]  # first field slowest
    assert frame["amplitude"].tolist() == [0.1, 0.2, 0.3] * 2
    assert frame["spike_count"].dtype == np.int64
    assert set(frame["regime"]) <= set(REGIMES)
    assert frame.attrs["config"] == cfg.to_dict() and frame.attrs["seconds"] >= 0
    one = sweep(cfg, {"beta": [0.9]})
    assert list(one.columns) == ["beta", *STAT_COLUMNS] and len(one) == 1


def test_a_fast_run_in_two_chunks_is_the_run_in_twenty(monkeypatch):
    # a run projected to end well before progress would show takes its steps after the
    # first chunk at once; with progress due at once it keeps the T/20 chunks: same rows
    cfg = base_config("linear", num_steps=333, amplitude=0.6, noise_std=0.3)
    grid = {"beta": [0.6, 0.9], "threshold": [0.5, 1.0]}
    fast = sweep(cfg, grid)
    chunks = []
    monkeypatch.setattr(sweeps, "_PROGRESS_AFTER_S", 0.0)
    every = sweep(cfg, grid, progress=lambda f, m: chunks.append(f))
    assert len(chunks) > 10
    pd.testing.assert_frame_equal(fast, every)


def test_the_attrs_are_read_only_and_shared_by_copies():
    frame = sweep(base_config("none", num_steps=20), {"beta": [0.5, 0.9]})
    assert frame.attrs["grid"] == {"beta": (0.5, 0.9)}
    with pytest.raises(TypeError):
        frame.attrs["config"]["beta"] = 0.1
    with pytest.raises(TypeError):
        frame.attrs["grid"].update(beta=[0.1])
    column = frame["beta"]  # pandas deep-copies attrs into what it hands out: no walk here
    assert column.attrs["config"] is frame.attrs["config"]
    assert pickle.loads(pickle.dumps(frame)).attrs == frame.attrs


def test_pooled_statistics_of_several_neurons():
    cfg = base_config("linear", num_neurons=4, batch_size=2)
    frame = sweep(cfg, {"beta": [0.6, 0.9]})
    for _, row in frame.iterrows():
        trace = simulate(point_config(cfg, row))
        fired = (trace.spk != 0).numpy().reshape(cfg.num_steps, -1)
        assert row["spike_count"] == fired.sum()
        assert row["rate"] == pytest.approx(fired.sum() / fired.size)
        assert row["active_fraction"] == pytest.approx(fired.any(0).mean())
        first = np.flatnonzero(fired.any(1))
        assert row["first_spike"] == (first[0] if first.size else np.nan) or np.isnan(row["first_spike"])


def test_progress_is_reported_for_slow_runs_only(monkeypatch):
    calls = []
    cfg = base_config("one_to_one", num_steps=100)
    sweep(cfg, {"beta": [0.5, 0.9]}, progress=lambda f, m: calls.append(f))
    assert calls == []  # far under half a second
    monkeypatch.setattr(sweeps, "_PROGRESS_AFTER_S", 0.0)
    sweep(cfg, {"beta": [0.5, 0.9]}, progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 2
    assert all(isinstance(m, str) and m for _, m in calls)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("grid, field", [
    ({"tau": [1, 2]}, "tau"),
    ({"reset_mechanism": [0.1]}, "reset_mechanism"),
    ({"beta": []}, "beta"),
    ({"beta": "0.5"}, "beta"),
    ({"beta": 0.5}, "beta"),
    ({"threshold": [1.0, "high"]}, "threshold"),
    ({"threshold": [1.0, True]}, "threshold"),
    ({"threshold": [0.0]}, "threshold"),
    ({"amplitude": [0.1, float("nan")]}, "amplitude"),
    ({"beta": [0.5, 3.0]}, "beta"),
    ({"graded_spikes_factor": [0.0]}, "graded_spikes_factor"),
    ({"V": [0.1, 0.1]}, "V"),
])
def test_bad_grid_is_refused_naming_the_field(grid, field):
    with pytest.raises(ValueError, match=field):
        sweep(SimConfig(num_steps=10), grid)


def test_bad_grid_shapes_are_refused():
    cfg = SimConfig(num_steps=10)
    with pytest.raises(ValueError, match="one or two"):
        sweep(cfg, {})
    with pytest.raises(ValueError, match="one or two"):
        sweep(cfg, {"beta": [0.5], "threshold": [1.0], "V": [0.1]})
    with pytest.raises(ValueError, match="one or two"):
        sweep(cfg, [("beta", [0.5])])
    with pytest.raises(ValueError, match="4096"):
        sweep(cfg, {"beta": value_range(0, 1, 65), "amplitude": value_range(0, 1, 64)})
    with pytest.raises(ValueError, match="neurons"):
        sweep(cfg.replace(recurrence="linear", num_neurons=1000), {"beta": value_range(0, 1, 64),
                                                                    "amplitude": value_range(0, 1, 64)})
    with pytest.raises(ValueError, match="input currents"):
        sweep(cfg.replace(num_steps=10_000, recurrence="linear", num_neurons=100),
              {"amplitude": value_range(0, 1, 64), "offset": value_range(0, 1, 2)})
    with pytest.raises(TypeError, match="SimConfig"):
        sweep({"beta": 0.9}, {"beta": [0.5]})


def test_value_range_and_point_config():
    assert value_range(0.0, 1.0, 11)[3] == 0.3  # not 0.30000000000000004
    assert value_range(0.5, 0.5, 1) == [0.5]
    assert value_range(1.0, 1.0000001, 5) == [1.0]  # rounding duplicates are dropped
    with pytest.raises(ValueError):
        value_range(0, 1, 0)
    cfg = SimConfig()
    row = pd.Series({"beta": 0.7, "V": -0.2, "rate": 0.5, "regime": "regular"})
    assert point_config(cfg, row) == cfg.replace(beta=0.7, V=-0.2)


# ----------------------------------------------------------------------------- regimes
def train(T=200, times=()):
    spk = np.zeros(T)
    spk[list(times)] = 1
    return spk


def regime_of(spk) -> str:
    return spike_train_stats(np.asarray(spk)[:, None])["regime"].iloc[0]


def test_regimes_of_hand_made_trains():
    assert regime_of(train()) == "silent"
    assert regime_of(train(times=[40, 120])) == "sparse"  # one interval: no CV
    assert regime_of(train(times=range(5, 200, 7))) == "regular"  # period 7 exactly
    # a period of 3.5 steps in discrete time: intervals 3, 4, 3, 4 (std 0.5): still regular
    assert regime_of(train(times=np.cumsum([3, 4] * 28))) == "regular"
    bursts = [b + k for b in range(10, 200, 40) for k in (0, 1, 2)]  # 3 spikes, 38-step pause
    assert regime_of(train(times=bursts)) == "irregular"
    assert regime_of(np.ones(200)) == "runaway"
    assert regime_of(train(times=[t for t in range(200) if t % 20])) == "runaway"  # 95 %


def test_regime_rule_thresholds_and_vectorised():
    labels = classify_regime(spike_count=[0, 5, 5, 5, 5, 180],
                             rate=[0.0, 0.1, 0.1, 0.1, 0.1, 0.9],
                             isi_cv=[np.nan, np.nan, 0.05, 0.3, 0.3, 0.0],
                             isi_std=[np.nan, np.nan, 2.0, 0.5, 0.51, 0.0])
    assert labels.tolist() == ["silent", "sparse", "regular", "regular", "irregular", "runaway"]
    assert set(regimes.REGIME_RULES) == set(REGIMES)


def test_train_stats_match_the_explorer():
    rng = np.random.default_rng(0)
    spk = (rng.random((300, 4)) < 0.2).astype(np.float32)
    frame = spike_train_stats(spk)

    class Fake:
        pass

    for p in range(4):
        fake = Fake()
        fake.spk = torch.as_tensor(spk[:, p])[:, None, None]
        alone = spike_stats(fake).iloc[0]
        for name in ("spike_count", "rate", "first_spike", "isi_mean", "isi_cv"):
            assert frame[name].iloc[p] == pytest.approx(alone[name])


# ----------------------------------------------------------------------------- compare, mystery
def test_first_divergence():
    a = torch.zeros(50, 1, 3)
    assert first_divergence(a, a.clone()) is None
    b = a.clone()
    b[17, 0, 2] = 1.0
    b[30, 0, 0] = 2.0
    assert first_divergence(a, b) == 17
    assert first_divergence(a * 0 + (a != 0), b[:10]) is None  # over the common steps
    with pytest.raises(ValueError, match="shape"):
        first_divergence(a, torch.zeros(50, 1, 2))


def test_van_rossum_similarity():
    s = train(times=range(3, 200, 9))
    assert van_rossum_similarity(s, s) == pytest.approx(1.0)
    assert van_rossum_similarity(train(), train()) == 1.0
    assert van_rossum_similarity(s, train()) == 0.0
    shifted = van_rossum_similarity(s, np.roll(s, 1))
    far = van_rossum_similarity(s, np.roll(s, 4))
    assert 0 < far < shifted < 1
    with pytest.raises(ValueError):
        van_rossum_similarity(s, s[:-1])


def test_mystery_score_perfect_is_100_and_worse_is_lower():
    hidden = mystery_challenge(1)
    target = simulate(hidden)
    one = lambda t: (t.spk[:, 0, 0], t.mem[:, 0, 0])  # noqa: E731
    perfect = mystery_score(*one(target), *one(target))
    assert perfect["score"] == pytest.approx(100.0) and perfect["membrane_rmse"] == 0.0
    near = mystery_score(*one(target), *one(simulate(hidden.replace(beta=hidden.beta - 0.02))))
    far = mystery_score(*one(target), *one(simulate(hidden.replace(beta=0.5, threshold=2.0, V=-1.0))))
    assert 0 <= far["score"] < near["score"] < 100
    assert far["membrane_rmse"] > near["membrane_rmse"] > 0


def test_mystery_challenges_are_deterministic_and_readable():
    for seed in range(5):
        cfg = mystery_challenge(seed)
        assert cfg == mystery_challenge(seed)
        assert cfg.replace(beta=MYSTERY_BASE.beta, threshold=MYSTERY_BASE.threshold,
                           V=MYSTERY_BASE.V) == MYSTERY_BASE
        for name, (lo, hi, _) in mystery.MYSTERY_RANGES.items():
            assert lo <= getattr(cfg, name) <= hi
        assert 3 <= int((simulate(cfg).spk != 0).sum()) <= cfg.num_steps // 2
    assert len({mystery_challenge(s) for s in range(5)}) > 1


# ----------------------------------------------------------------------------- figures
@pytest.fixture(scope="module")
def frame():
    cfg = SimConfig(recurrence="none", num_steps=100)
    return sweep(cfg, {"beta": [0.6, 0.8, 0.95], "amplitude": value_range(0.0, 1.0, 6)})


def decode(fig, trace, axis):
    return np.asarray(fig.data[trace][axis], dtype=np.float64)


def test_fi_curve_figure(frame):
    fig = fi_curve_figure(frame)
    assert [t.name for t in fig.data] == ["β = 0.6", "β = 0.8", "β = 0.95"]
    part = frame[frame.beta == 0.8].sort_values("amplitude")
    assert np.array_equal(decode(fig, 1, "y"), part["rate"].to_numpy())
    assert fig.layout.xaxis.title.text == "input amplitude"
    with pytest.raises(ValueError, match="tau"):
        fi_curve_figure(frame, by="tau")


def test_map_figures_have_a_clickable_cell_per_point(frame):
    fig = sweep_map_figure(frame, "amplitude", "beta", "rate")
    heat, cells = fig.data
    assert heat.type == "heatmap" and np.asarray(heat.z).shape == (3, 6)
    assert np.asarray(heat.z)[2, 5] == frame.query("beta == 0.95 and amplitude == 1.0")["rate"].iloc[0]
    assert cells.name == "cells" and len(cells.x) == len(frame)
    assert [c[0] for c in cells.customdata] == list(frame.index)
    assert fig.layout.clickmode == "event+select"
    regimes = regime_map_figure(frame, "amplitude", "beta", selected=4)
    assert list(regimes.data[0].colorbar.ticktext) == list(REGIMES)
    assert regimes.data[1].selectedpoints == (4,)
    json.loads(regimes.to_json())  # serialisable
    with pytest.raises(ValueError, match="different"):
        sweep_map_figure(frame, "beta", "beta")
    with pytest.raises(ValueError, match="threshold"):
        sweep_map_figure(frame, "threshold", "beta")
    with pytest.raises(ValueError, match="selected"):
        regime_map_figure(frame, "amplitude", "beta", selected=999)


def test_compare_and_mystery_figures():
    a = simulate(SimConfig(recurrence="none", num_steps=60))
    b = simulate(SimConfig(recurrence="none", num_steps=60, reset_mechanism="zero"))
    fig = compare_figure(a, b)
    names = [t.name for t in fig.data]
    assert {"A membrane", "B membrane", "A spikes", "B spikes", "A - B", "A rate", "B rate"} <= set(names)
    diff = decode(fig, names.index("A - B"), "y")
    assert np.allclose(diff, (a.mem - b.mem)[:, 0, 0].numpy())
    assert f"first differ at step {first_divergence(a.spk, b.spk)}" in fig.layout.title.text
    with pytest.raises(ValueError, match="steps"):
        compare_figure(a, simulate(SimConfig(num_steps=61)))
    fig = mystery_figure(a, b)
    assert [t.name for t in fig.data] == ["input", "target membrane", "target spikes",
                                          "your membrane", "your spikes"]
    assert "threshold" not in " ".join(t.name for t in fig.data)  # θ stays hidden
