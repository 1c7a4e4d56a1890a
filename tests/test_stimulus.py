"""Stimuli: shapes, determinism, the safe expression evaluator, CSV uploads."""
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from rleaky_viz import SimConfig
from rleaky_viz.config import STIMULI
from rleaky_viz.stimulus import StimulusError, evaluate_expression, make_input, parse_csv


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
