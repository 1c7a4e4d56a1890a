"""Stimuli: shapes, determinism, the safe expression evaluator, CSV uploads."""
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from rleaky_viz import SimConfig
from rleaky_viz.config import STIMULI
from rleaky_viz.stimulus import (StimulusError, evaluate_expression, make_input, make_inputs,
                                 parse_csv)


@pytest.mark.parametrize("kind", [k for k in STIMULI if k != "csv"])
def test_every_stimulus_has_the_right_shape(kind):
    cfg = SimConfig(stimulus=kind, num_neurons=4, num_steps=30, batch_size=2)
    x = make_input(cfg)
    assert x.shape == (30, 2, 4) and x.dtype == torch.float32
    assert torch.isfinite(x).all()


def test_stimulus_shapes_follow_their_parameters():
    x = make_input(SimConfig(stimulus="step", onset=10, amplitude=0.5, num_steps=20))[:, 0, 0]
    assert torch.all(x[:10] == 0) and torch.all(x[10:] == 0.5)
    x = make_input(SimConfig(stimulus="pulse", period=10, width=3, amplitude=1.0, num_steps=30))[:, 0, 0]
    assert x.tolist()[:10] == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    x = make_input(SimConfig(stimulus="poisson", rate=0.3, amplitude=0.7, num_steps=2000))[:, 0, 0]
    assert x.unique().tolist() == pytest.approx([0.0, 0.7])
    assert 0.25 < float((x > 0).float().mean()) < 0.35
    x = make_input(SimConfig(stimulus="constant", amplitude=1.0, input_spread=0.5, num_neurons=3))
    assert x[0, 0].tolist() == pytest.approx([0.5, 1.0, 1.5])


def _by_hand(cfg: SimConfig) -> np.ndarray:
    """The stimulus from its definition, one step and neuron at a time, in float64."""
    T, B, N = cfg.num_steps, cfg.batch_size, cfg.neuron_count
    rng = np.random.default_rng(cfg.seed)
    a = cfg.amplitude
    drawn = rng.random((T, B, N)) if cfg.stimulus == "poisson" else None
    noise = rng.normal(0.0, cfg.noise_std, size=(T, B, N)) if cfg.noise_std > 0 else None
    out = np.empty((T, B, N))
    for t in range(T):
        shape = {"constant": a, "noise": a, "step": a if t >= cfg.onset else 0.0,
                 "pulse": a if t % cfg.period < cfg.width else 0.0,
                 "ramp": a * float(t) / max(T - 1, 1),
                 "sine": a * np.sin(2 * np.pi * float(t) / cfg.period)}.get(cfg.stimulus)
        for b in range(B):
            for n in range(N):
                v = a * (drawn[t, b, n] < cfg.rate) if drawn is not None else shape
                if cfg.input_spread > 0 and N > 1:
                    v = v * (1 - cfg.input_spread + 2 * cfg.input_spread * n / (N - 1))
                v = v + cfg.offset
                if noise is not None:
                    v = v + noise[t, b, n]
                out[t, b, n] = v
    return out.astype(np.float32)


STIMULUS_CASES = [dict(stimulus=k, **extra) for k in ("constant", "step", "pulse", "ramp", "sine",
                                                      "noise", "poisson")
                  for extra in ({}, {"num_neurons": 3, "batch_size": 2, "input_spread": 0.4,
                                     "noise_std": 0.3, "offset": -0.2, "seed": 7})]


@pytest.mark.parametrize("case", STIMULUS_CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_make_input_is_its_definition_bit_for_bit(case):
    cfg = SimConfig(num_steps=40, amplitude=0.83, period=7, width=3, onset=5, rate=0.3, **case)
    assert np.array_equal(make_input(cfg).reshape(40, cfg.batch_size, -1).numpy(), _by_hand(cfg))


@pytest.mark.parametrize("case", STIMULUS_CASES + [dict(stimulus="expression", expression="0.1*t + n"),
                                                   dict(stimulus="csv")],
                         ids=lambda c: "-".join(map(str, c.values())))
def test_make_inputs_gives_each_setting_as_make_input_does(case):
    cfg = SimConfig(**{"num_steps": 30, "period": 5, "width": 2, "onset": 4, "rate": 0.4,
                       "noise_std": 0.1, **case, "num_neurons": 2, "batch_size": 3})
    upload = np.array([[0.1, 0.2], [0.5, -0.3], [1.0, 0.0]]) if cfg.stimulus == "csv" else None
    amplitudes = [0.0, 0.37, 1.0, 2.5, -0.6]
    offsets = [0.0, 0.1, -0.25, 0.3, 0.0]
    got = make_inputs(cfg, upload, amplitude=amplitudes, offset=offsets)
    assert got.shape == (30, 5, 3, 2) and got.dtype == torch.float32
    for k, (a, o) in enumerate(zip(amplitudes, offsets)):
        one = make_input(cfg.replace(amplitude=a, offset=o), upload)
        assert torch.equal(got[:, k], one), (k, a, o)


def test_make_inputs_in_chunks_is_the_same(monkeypatch):
    from rleaky_viz import stimulus

    cfg = SimConfig(stimulus="poisson", num_steps=50, num_neurons=3, noise_std=0.2, rate=0.5)
    amplitudes, offsets = [0.1 * k for k in range(7)], [0.01 * k for k in range(7)]
    whole = make_inputs(cfg, amplitude=amplitudes, offset=offsets)
    monkeypatch.setattr(stimulus, "_CHUNK", 2 * 50 * 3)  # two settings a chunk
    assert torch.equal(make_inputs(cfg, amplitude=amplitudes, offset=offsets), whole)


def test_make_inputs_refuses_mismatched_lists():
    with pytest.raises(ValueError, match="as many amplitudes as offsets"):
        make_inputs(SimConfig(), amplitude=[0.1, 0.2], offset=[0.0])
    with pytest.raises(ValueError, match="not \\['beta'\\]"):
        make_inputs(SimConfig(), amplitude=[0.1], beta=[0.5])
    only = make_inputs(SimConfig(amplitude=0.4), offset=[0.0, 0.2])
    assert torch.equal(only[:, 1], make_input(SimConfig(amplitude=0.4, offset=0.2)))


def test_expression_matches_numpy():
    got = evaluate_expression("0.3 + 0.2*sin(2*pi*t/50)", 100)
    t = np.arange(100.0)
    assert np.allclose(got[:, 0], 0.3 + 0.2 * np.sin(2 * np.pi * t / 50))
    got = evaluate_expression("0.1*n + (t > 5)", 10, 3)
    assert got.shape == (10, 3) and got[6, 2] == pytest.approx(1.2) and got[0, 1] == pytest.approx(0.1)


@pytest.mark.parametrize("text, words", [
    ("t.__class__", "attribute"),
    ("__import__('os')", "functions may be called"),
    ("open('/etc/passwd')", "functions may be called"),
    ("(lambda: 1)()", "functions may be called"),
    ("(lambda: 1)", "Lambda"),
    ("[x for x in t]", "not allowed"),
    ("'a' * 10", "only numbers"),
    ("9**9**9", "exponents"),
    ("2**t", "exponents"),
    ("x + 1", "unknown name"),
    ("__builtins__", "not allowed"),
    ("sin(t)[0]", "indexing"),
    ("exp(t)", "not finite"),
    ("1/0", "not finite"),
    ("sin(" * 30 + "t" + ")" * 30, "nested too deeply"),
    ("t" * 300, "characters long"),
    ("", "empty"),
    ("1 +", "not valid"),
    ("sin(t, out=t)", "keyword"),
])
def test_expression_refusals_are_clear(text, words):
    with pytest.raises(StimulusError, match=words):
        evaluate_expression(text, 1000)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=250))
def test_expression_fuzz_never_escapes_and_answers_fast(text):
    start = time.perf_counter()
    try:
        out = evaluate_expression(text, 200)
        assert out.shape == (200, 1) and np.isfinite(out).all()
    except StimulusError as e:
        assert str(e)
    assert time.perf_counter() - start < 1.0


def test_csv_one_column_or_one_per_neuron():
    one = parse_csv(b"current\n0.1\n0.2\n0.3\n", num_neurons=4)
    assert one.shape == (3, 1)
    many = parse_csv(b"0.1,0.2\n0.3,0.4\n", num_neurons=2)
    assert many.shape == (2, 2)
    x = make_input(SimConfig(stimulus="csv", num_steps=7, num_neurons=2), upload=many)
    assert x[:, 0, 1].tolist() == pytest.approx([0.2, 0.4] * 3 + [0.2])


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"a,b\n", "no numbers"),
    (b"0.1,0.2\n0.3,abc\n", "row 2, column 2 is not a number"),
    (b"0.1\nnan\n", "NaN or infinite"),
    (b"0.1\ninf\n", "NaN or infinite"),
    (b"0.1,0.2,0.3\n", "columns"),
    (b"0.1,0.2\n0.3\n", "row 2 has 1 columns"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text CSV"),
    (b"1\n" * 10_001, "rows"),
    (b"0" * 2_000_001, "MB"),
    (",".join(["1"] * 1001).encode(), "columns"),
])
def test_bad_csv_gets_a_clear_message(data, words):
    with pytest.raises(StimulusError, match=words):
        parse_csv(data, num_neurons=2)


def test_csv_stimulus_without_upload_asks_for_one():
    with pytest.raises(StimulusError, match="upload"):
        make_input(SimConfig(stimulus="csv"))
