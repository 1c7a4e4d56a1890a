""""Safe to share": each attack that was found by hand, reproduced, and refused.

One test (or a few) per item of the issue, named after it; the fuzzers in
tests/test_fuzz_*.py look for the rest of each class, and
tests/test_memory_budget.py measures the memory budget in child processes.
"""
from __future__ import annotations

import ast
import io
import os
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rleaky_viz import SimConfig, simulate
from rleaky_viz import service
from rleaky_viz.cli import main
from rleaky_viz.export import snntorch_code
from rleaky_viz.service import (MemoryBudgetError, StateDictError, StimulusError, UploadError,
                                load_state_dict_bytes, prepare_uploads)
from rleaky_viz.stimulus import evaluate_expression, parse_csv

ROOT = Path(__file__).resolve().parent.parent
LINEAR4 = SimConfig(recurrence="linear", num_neurons=4, weight_init="state_dict", num_steps=20)


def pt(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def good_state(**changes):
    state = {"recurrent.weight": torch.zeros(4, 4), "recurrent.bias": torch.zeros(4)}
    state.update(changes)
    return state


# ----------------------------------------------------------------------------- 1. code injection
INJECTION = '0.3"""\nopen("CANARY", "w").write("pwned")\n"""'


def test_an_unused_expression_does_not_ride_along_in_a_link():
    cfg = SimConfig.from_query({"stimulus": "constant", "expression": INJECTION})
    assert cfg.expression == SimConfig().expression
    assert "expression" not in cfg.to_query()
    # a used one stays, and round-trips
    used = SimConfig.from_query({"stimulus": "expression", "expression": "0.1 + t/100"})
    assert used.expression == "0.1 + t/100" and used.to_query()["expression"] == "0.1 + t/100"


def test_unused_fields_never_ride_along():
    cfg = SimConfig.from_query({"recurrence": "none", "V": "3.5", "stimulus": "constant",
                                "onset": "7", "period": "9", "weight_init": "ei",
                                "grid_size": "40", "target_times": "1,2"})
    assert cfg == SimConfig(recurrence="none")
    assert set(cfg.to_query()) == {"recurrence"}


@pytest.mark.parametrize("expression", [INJECTION, '"""', "'''", "\\", "0.1 # \"\"\"\nimport os"])
def test_user_text_enters_the_script_only_as_a_literal(tmp_path, expression):
    cfg = SimConfig(stimulus="expression", expression="0.2 + 0*t", num_steps=30)
    trace = simulate(cfg)
    # the config carries the hostile text (as a link would, with a used expression)
    hostile = cfg.replace(expression=expression)
    object.__setattr__(trace, "config", hostile)
    code = snntorch_code(trace)
    tree = ast.parse(code)
    docstring = ast.get_docstring(tree)
    assert expression not in docstring
    literal = next(node for node in tree.body if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], "id", "") == "CONFIG")
    assert ast.literal_eval(literal.value)["expression"] == expression
    outside = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
               and isinstance(n.value, str) and not any(n is m for m in ast.walk(literal))]
    assert not any(expression in text for text in outside if len(expression) > 3)


def test_the_downloaded_script_runs_no_user_code(tmp_path):
    pytest.importorskip("snntorch")
    cfg = SimConfig(stimulus="expression", expression="0.25 + 0*t", num_steps=25)
    trace = simulate(cfg)
    object.__setattr__(trace, "config", cfg.replace(expression=INJECTION))
    script = tmp_path / "script.py"
    script.write_text(snntorch_code(trace))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "out.npz")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "CANARY").exists()
    out = np.load(tmp_path / "out.npz")
    assert np.array_equal(out["spk"], trace.spk.numpy())


# ----------------------------------------------------------------------------- 3. float32
def test_expression_finite_in_float64_but_not_float32_is_refused():
    with pytest.raises(StimulusError, match="within ±10000"):
        evaluate_expression("1e300*step(t-2)", 10)
    with pytest.raises(StimulusError, match="t = 3"):  # step(t-2) is 1 from t = 3
        evaluate_expression("1e39*step(t-2)", 10)


def test_csv_cell_beyond_float32_is_refused():
    with pytest.raises(StimulusError, match="row 2, column 1"):
        parse_csv(b"0.1\n1e308\n0.2\n", 1)
    with pytest.raises(StimulusError, match="within"):
        parse_csv(b"0.1\n3.5e38\n", 1)


def test_state_dict_weight_beyond_float32_is_refused():
    state = load_state_dict_bytes(pt(good_state(**{"recurrent.weight":
                                                   torch.full((4, 4), 1e300, dtype=torch.float64)})))
    with pytest.raises(StateDictError, match="recurrent.weight"):
        simulate(LINEAR4, state_dict=state)


def test_cli_with_infinite_input_exits_2(tmp_path, capsys):
    csv = tmp_path / "x.csv"
    csv.write_text("0.1\n1e308\n")
    assert main(["simulate", "--set", "stimulus=csv", "num_steps=5", "--input-csv", str(csv),
                 "--out", str(tmp_path / "o.csv")]) == 2
    assert "--input-csv" in capsys.readouterr().err
    assert main(["simulate", "--set", "stimulus=expression", "expression=1e300*step(t-2)",
                 "num_steps=5", "--out", str(tmp_path / "o.csv")]) == 2
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("value", [1e-300, -1e-300, 1e-40, 5e-7])
def test_graded_spike_factor_that_vanishes_in_float32_is_refused(value):
    with pytest.raises(ValueError, match="graded_spikes_factor"):
        SimConfig(graded_spikes_factor=value)
    errors = []
    cfg = SimConfig.from_query({"graded_spikes_factor": repr(value)}, errors=errors)
    assert cfg.graded_spikes_factor == 1.0 and errors[0].startswith("graded_spikes_factor")


def test_every_float_field_refuses_denormals():
    from dataclasses import fields

    for f in fields(SimConfig):
        if "float" in str(f.type) and f.metadata.get("lo", 0) is not None:
            lo = f.metadata["lo"]
            if lo is not None and lo <= 1e-300 <= f.metadata["hi"]:
                with pytest.raises(ValueError, match=f.name):
                    SimConfig(**{f.name: 1e-300})


# ----------------------------------------------------------------------------- 4. state dicts
@pytest.mark.parametrize("key, value, words", [
    ("beta", torch.full((3,), 0.9), "shape"),
    ("beta", torch.full((2, 4), 0.9), "shape"),
    ("threshold", torch.ones(5), "shape"),
    ("threshold", torch.ones(4, 1), "shape"),
    ("beta", torch.tensor(5.0), "between"),
    ("threshold", torch.tensor(0.0), "between"),
    ("threshold", torch.tensor(100.0), "between"),
    ("recurrent.weight", torch.full((4, 4), 2e3), "between"),
    ("recurrent.bias", torch.tensor([0.0, float("inf"), 0.0, 0.0]), "finite"),
])
def test_state_dict_values_obey_the_config_bounds(key, value, words):
    state = load_state_dict_bytes(pt(good_state(**{key: value})))
    with pytest.raises(StateDictError, match=words):
        service.run(LINEAR4, pt_bytes=pt(state))


def test_per_neuron_beta_and_threshold_within_bounds_are_used():
    state = good_state(beta=torch.tensor([0.5, 0.6, 0.7, 0.8]), threshold=torch.tensor(0.7))
    trace = service.run(LINEAR4, pt_bytes=pt(state))
    assert torch.allclose(trace.neuron.beta, torch.tensor([0.5, 0.6, 0.7, 0.8]))


@pytest.mark.parametrize("make, words", [
    (lambda: torch.zeros(4, 4).to_sparse(), "dense"),
    (lambda: torch.zeros(4, 4).to_sparse_csr(), "dense"),
    (lambda: torch.empty(4, 4, device="meta"), "values"),
    (lambda: torch.zeros(4, 4).to(torch.float8_e4m3fn), "floating"),
    (lambda: torch.zeros(4, 4).to(torch.float8_e5m2), "floating"),
    (lambda: torch.zeros(4, 4, dtype=torch.complex64), "floating"),
    (lambda: torch.zeros(4, 4, dtype=torch.bool), "floating"),
])
def test_odd_tensors_are_refused_not_crashed_on(make, words):
    try:
        data = pt(good_state(**{"recurrent.weight": make()}))
    except Exception as e:  # this torch cannot even save it: nothing to upload
        pytest.skip(f"torch.save refuses it here: {type(e).__name__}")
    with pytest.raises(StateDictError, match=words):
        service.run(LINEAR4, pt_bytes=data)


def deflate_bomb(inflated: int = 512 * 2**20) -> bytes:
    """A real torch.save archive whose tensor storage is re-packed with DEFLATE and enlarged."""
    honest = zipfile.ZipFile(io.BytesIO(pt(good_state())))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bomb:
        for info in honest.infolist():
            data = honest.read(info)
            if "/data/" in info.filename and not info.filename.endswith(".pkl"):
                data = data + bytes(inflated)  # zeros compress ~1000:1
            bomb.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_a_deflate_bomb_is_refused_before_it_inflates():
    data = deflate_bomb()
    assert len(data) < 2 * 2**20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    with pytest.raises(StateDictError, match="unpacks to"):
        load_state_dict_bytes(data)
    assert time.perf_counter() - started < 2.0
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grew < 64 * 2**20, f"peak memory grew by {grew / 2**20:.0f} MB"


def test_a_bomb_whose_headers_lie_is_refused():
    data = bytearray(deflate_bomb(64 * 2**20))
    # rewrite every declared uncompressed size to 1 byte: the check must not trust them
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    for info in archive.infolist():
        if info.file_size > 2**20:
            for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
                pos = data.find(sig)
                while pos != -1:
                    name_len = int.from_bytes(data[pos + (26 if sig == b"PK\x03\x04" else 28):][:2],
                                              "little")
                    start = pos + (30 if sig == b"PK\x03\x04" else 46)
                    if data[start:start + name_len] == info.filename.encode():
                        data[pos + off:pos + off + 4] = (1).to_bytes(4, "little")
                    pos = data.find(sig, pos + 4)
    with pytest.raises(StateDictError):
        load_state_dict_bytes(bytes(data))


def test_an_honest_state_dict_still_loads():
    state = load_state_dict_bytes(pt(good_state(beta=torch.tensor(0.8))))
    assert set(state) >= {"recurrent.weight", "recurrent.bias", "beta"}


# ----------------------------------------------------------------------------- 5. escaping errors
def test_deeply_nested_config_json_is_a_clear_error(tmp_path, capsys):
    text = '{"beta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ValueError, match="config JSON"):
        SimConfig.from_json(text)
    nested = '{"beta": ' + "[" * 20_000 + "]" * 20_000 + "}"
    with pytest.raises(ValueError, match="nested too deeply|at most"):
        SimConfig.from_json(nested[:60_000])
    path = tmp_path / "deep.json"
    path.write_text(nested)
    assert main(["simulate", "--config", str(path), "--out", str(tmp_path / "o.csv")]) == 2
    assert "--config" in capsys.readouterr().err


def test_a_value_that_is_a_deep_structure_is_quoted_shortly():
    deep = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ValueError, match="beta must be a number, got a list"):
        SimConfig.from_dict({"beta": deep})


@pytest.mark.parametrize("option, extra", [
    ("--config", []),
    ("--input-csv", ["--set", "stimulus=csv"]),
    ("--state-dict", ["--set", "recurrence=linear", "weight_init=state_dict"]),
])
def test_cli_refuses_dev_zero_quickly(tmp_path, capsys, option, extra):
    started = time.perf_counter()
    assert main(["simulate", option, "/dev/zero", *extra, "--out", str(tmp_path / "o.csv")]) == 2
    assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert option in err and "not a regular file" in err


def test_cli_refuses_an_oversized_state_dict_without_reading_it(tmp_path, capsys):
    big = tmp_path / "big.pt"
    with open(big, "wb") as f:
        f.truncate(service.MAX_STATE_DICT_BYTES + 1)  # sparse: nothing to read
    assert main(["simulate", "--set", "recurrence=linear", "weight_init=state_dict",
                 "--state-dict", str(big), "--out", str(tmp_path / "o.csv")]) == 2
    assert "at most 20 MB" in capsys.readouterr().err


def test_upload_errors_are_user_errors_that_name_the_field():
    for bad in (b"not a zip", pt([1, 2, 3]), pt(good_state(beta=torch.ones(7)))):
        with pytest.raises(service.USER_ERRORS) as info:
            service.run(LINEAR4, pt_bytes=bad)
        assert "state dict" in str(info.value)
    with pytest.raises(service.USER_ERRORS) as info:
        service.run(SimConfig(stimulus="csv", num_steps=5), csv_bytes=b"a,b\n1,x\n")
    assert "upload" in str(info.value)


def test_read_bounded_refuses_devices_pipes_and_folders(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        with pytest.raises(UploadError, match="not a regular file"):
            service.read_bounded(path, 100, "--x")


# ----------------------------------------------------------------------------- 2. memory
def test_the_conv_attack_is_refused_before_it_starts():
    cfg = SimConfig(recurrence="conv2d", conv2d_channels=8, grid_size=64, batch_size=64,
                    state_quant_bits=12)
    with pytest.raises(MemoryBudgetError, match="reduce"):
        service.check_budget(cfg, "run")
    started = time.perf_counter()
    with pytest.raises(MemoryBudgetError):
        service.run(cfg)
    assert time.perf_counter() - started < 1.0


def test_admission_holds_runs_until_memory_is_free():
    import threading

    gate = service._Admission()
    order = []
    with gate.hold(60, capacity=100, wait_s=5):
        def second():
            with gate.hold(60, capacity=100, wait_s=5):
                order.append("second")
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "second"]
    with gate.hold(90, capacity=100, wait_s=5):
        with pytest.raises(service.ServerBusyError, match="busy"):
            with gate.hold(90, capacity=100, wait_s=0.1):
                pass
    assert gate.held == 0


def test_result_cache_is_bounded_in_bytes_and_computes_once():
    import threading

    cache = service.ResultCache(max_bytes=10_000)
    calls = []

    def make(n):
        def compute():
            calls.append(n)
            time.sleep(0.05)
            return np.zeros(n, dtype=np.uint8)
        return compute

    threads = [threading.Thread(target=cache.get_or_compute, args=("a", make(4000)))
               for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert calls == [4000]
    cache.get_or_compute("b", make(4000))
    cache.get_or_compute("c", make(4000))  # evicts "a"
    assert cache.size_bytes <= 10_000 and not cache.holds("a") and cache.holds("c")
    big = cache.get_or_compute("huge", make(20_000))
    assert big.size == 20_000 and not cache.holds("huge")
    with pytest.raises(ZeroDivisionError):
        cache.get_or_compute("bad", lambda: 1 / 0)
    assert not cache.holds("bad")


# ----------------------------------------------------------------------------- 6. numerics
def test_sigmoid_with_a_negative_slope_gives_finite_gradients():
    from rleaky_viz.flows import gradient_flow

    cfg = SimConfig(surrogate="sigmoid", sigmoid_slope=-25.0, num_steps=60, amplitude=0.5)
    flow = gradient_flow(cfg)
    assert all(bool(torch.isfinite(torch.as_tensor(g)).all()) for g in flow.param_grads.values())
    trace = simulate(cfg)
    assert bool(torch.isfinite(trace.surrogate_grad).all())


def test_sso_runs_are_reproducible_and_leave_the_global_rng_alone():
    from rleaky_viz.flows import gradient_flow

    cfg = SimConfig(surrogate="SSO", num_steps=80, stimulus="noise", noise_std=0.4, seed=11)
    state = torch.random.get_rng_state()
    a, b = simulate(cfg), simulate(cfg)
    assert torch.equal(a.surrogate_grad, b.surrogate_grad)
    fa, fb = gradient_flow(cfg), gradient_flow(cfg)
    assert all(torch.equal(torch.as_tensor(fa.param_grads[k]), torch.as_tensor(fb.param_grads[k]))
               for k in fa.param_grads)
    assert torch.equal(torch.random.get_rng_state(), state)
    other = simulate(cfg.replace(seed=12))
    assert not torch.equal(other.surrogate_grad, a.surrogate_grad)


def test_concurrent_runs_do_not_swap_each_others_weights():
    import threading

    configs = [SimConfig(recurrence="linear", num_neurons=50, num_steps=5, seed=s) for s in range(8)]
    expected = {c.seed: simulate(c).neuron.recurrent.weight.clone() for c in configs}
    got, errors = {}, []

    def work(cfg):
        try:
            for _ in range(5):
                w = simulate(cfg).neuron.recurrent.weight
                if not torch.equal(w, expected[cfg.seed]):
                    errors.append(cfg.seed)
            got[cfg.seed] = True
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(c,)) for c in configs]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors and len(got) == len(configs)


def test_a_threshold_sweep_with_many_bits_stays_small_and_exact():
    from rleaky_viz.sweeps import point_config, sweep

    cfg = SimConfig(state_quant_bits=12, num_steps=30, amplitude=0.4, num_neurons=1000,
                    input_spread=0.5)
    grid = {"threshold": [0.5, 0.8, 1.0, 1.3], "amplitude": [0.2, 0.4, 0.6]}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    frame = sweep(cfg, grid)
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    # the old (points, neurons, 4096 levels) temporaries took 2 x 196 MB on every step
    assert grew < 150 * 2**20, f"{grew / 2**20:.0f} MB"
    for _, row in frame.iloc[[0, 5, 11]].iterrows():
        one = simulate(point_config(cfg, row))
        assert int(row["spike_count"]) == int(one.spk.sum())


# ----------------------------------------------------------------------------- compute
def test_a_sweep_that_would_hold_a_core_for_minutes_is_refused():
    # found by the hostile load test: 64 x 64 points x batch 48 x 10,000 steps took 172 s
    cfg = SimConfig(recurrence="none", num_steps=10_000, batch_size=48)
    with pytest.raises(service.TooMuchWorkError, match="fewer points"):
        service.check_compute(cfg, "sweep", points=64 * 64)
    # what the Sweeps page asks for by default is far inside the cap
    page = SimConfig(recurrence="none", num_steps=300)
    assert service.work_units(page, "sweep", points=32 * 32) < service.MAX_WORK_UNITS / 100


def test_the_largest_population_stays_allowed_and_training_is_bounded_by_epochs():
    big = SimConfig(recurrence="linear", num_neurons=1000, num_steps=10_000)
    service.check_compute(big, "run")
    learn = SimConfig(recurrence="linear", num_neurons=1000, num_steps=2_000)
    with pytest.raises(service.TooMuchWorkError, match="fewer epochs"):
        service.check_compute(learn, "train", epochs=500)


def test_the_command_line_has_no_compute_cap(tmp_path):
    cfg = SimConfig(num_steps=50)
    trace = service.run(cfg, max_work=float("inf"))
    with pytest.raises(service.TooMuchWorkError):
        service.run(cfg, max_work=10)
    assert trace.num_steps == 50
