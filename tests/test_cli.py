"""The `rleaky-viz` command, run as a user runs it: in a subprocess, checking files, exit codes, stderr."""
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from rleaky_viz import PRESETS, SimConfig, simulate
from rleaky_viz import devserver
from rleaky_viz.cli import Progress, main

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
ENV.pop("RLEAKY_VIZ_DEBUG", None)


def cli(*args: str, cwd: Path = ROOT, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rleaky_viz.cli", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def script() -> str | None:
    """The installed console script, if this environment has one."""
    beside = Path(sys.executable).parent / "rleaky-viz"
    return str(beside) if beside.exists() else shutil.which("rleaky-viz")


def one_error_line(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit status 2, no traceback, and a last stderr line that says what is wrong."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rleaky-viz"), last
    assert "error:" in last
    for word in words:
        assert word in last, (word, last)
    return last


# ----------------------------------------------------------------------------- simulate
def test_simulate_preset_with_set_writes_the_traces_of_that_config(tmp_path):
    out = tmp_path / "traces.csv"
    result = cli("simulate", "--preset", "tonic", "--set", "beta=0.8", "reset_delay=false",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stderr
    frame = pd.read_csv(out)
    want = simulate(PRESETS["tonic"].config.replace(beta=0.8, reset_delay=False)).to_frame()
    assert list(frame.columns) == list(want.columns)
    assert len(frame) == len(want) == 100
    assert (frame["spk"].to_numpy() == want["spk"].to_numpy()).all()
    assert abs(frame["mem"].to_numpy() - want["mem"].to_numpy()).max() < 1e-6


def test_simulate_config_json_to_parquet(tmp_path):
    cfg = SimConfig(recurrence="linear", num_neurons=5, num_steps=40, stimulus="sine", seed=3)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    result = cli("simulate", "--config", "cfg.json", "--set", "num_steps=30", "--out", "t.parquet",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(tmp_path / "t.parquet")
    want = simulate(cfg.replace(num_steps=30)).to_frame()
    assert frame.shape == want.shape == (30 * 5, 12)  # t, batch, neuron, input, mem, spk + RECORDABLE
    pd.testing.assert_frame_equal(frame, want)


def test_simulate_without_config_or_preset_uses_the_defaults(tmp_path):
    result = cli("simulate", "--quiet", "--out", str(tmp_path / "d.csv"))
    assert result.returncode == 0 and result.stderr == ""
    assert len(pd.read_csv(tmp_path / "d.csv")) == SimConfig().num_steps


BAD_RUNS = [
    (["--set", "bta=0.8"], ["unknown field 'bta'", "did you mean 'beta'", "threshold"]),
    (["--set", "beta=5"], ["beta must be between -1.0 and 2.0", "5.0"]),
    (["--set", "beta=abc"], ["beta must be a float", "'abc'"]),
    (["--set", "reset_mechanism=halfway"], ["reset_mechanism must be one of subtract, zero, none"]),
    (["--set", "reset_delay=maybe"], ["reset_delay"]),
    (["--set", "recurrence=conv2d", "inhibition=true"], ["inhibition"]),
    (["--set", "beta"], ["FIELD=VALUE"]),
    (["--preset", "tonik"], ["unknown preset 'tonik'", "tonic"]),
    (["--config", "missing.json"], ["--config", "missing.json"]),
    (["--set", "num_steps=10000", "num_neurons=1000", "recurrence=linear", "batch_size=64"],
     ["MB", "--max-mb"]),
    (["--set", "stimulus=csv"], ["--input-csv"]),
    (["--set", "stimulus=expression", "expression=__import__('os')"], ["stimulus=expression"]),
]


@pytest.mark.parametrize("args, words", BAD_RUNS)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, words):
    # in-process for speed (the subprocess tests below check the real process the same way)
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", *args, "--out", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("rleaky-viz simulate: error: ")
    for word in words:
        assert word in err, (word, err)
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("args, words", [BAD_RUNS[0], BAD_RUNS[-1]])
def test_bad_input_in_a_real_process(tmp_path, args, words):
    one_error_line(cli("simulate", *args, "--out", "x.csv", cwd=tmp_path), *words)


@pytest.mark.parametrize("out, words", [("x.txt", [".csv or .parquet"]),
                                        ("no/such/dir/x.csv", ["does not exist"])])
def test_simulate_bad_out_is_refused_before_running(tmp_path, monkeypatch, capsys, out, words):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--out", out]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words) and len(err.splitlines()) == 1


def test_bad_config_json_names_the_field(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.json").write_text(json.dumps({"beta": 0.5, "treshold": 1.0}))
    assert main(["simulate", "--config", "cfg.json", "--out", "x.csv"]) == 2
    assert "unknown config field(s): treshold" in capsys.readouterr().err
    (tmp_path / "cfg.json").write_text("{not json")
    assert main(["simulate", "--config", "cfg.json", "--out", "x.csv"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["simulate"], ["simulate", "--config", "a", "--preset", "tonic", "--out", "x.csv"],
    ["figure", "--kind", "pie", "--out", "x.html"], ["app", "--port", "99999"], ["teleport"],
    ["figure", "--neuron", "-1", "--out", "x.html"], ["simulate", "--max-mb", "0", "--out", "x.csv"],
])
def test_argparse_errors_exit_2_with_usage_and_one_error_line(capsys, args):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rleaky-viz") and err.strip().splitlines()[-1].startswith("rleaky-viz")
    assert "error:" in err.strip().splitlines()[-1]


def test_argparse_error_in_a_real_process(tmp_path):
    result = cli("app", "--port", "http", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "rleaky-viz app: error: argument --port: must be a whole number, got 'http'")


def test_input_csv_and_state_dict_are_read_as_in_the_app(tmp_path):
    (tmp_path / "in.csv").write_text("current\n" + "\n".join(["0.5"] * 20))
    result = cli("simulate", "--set", "stimulus=csv", "--input-csv", "in.csv", "--out", "o.csv",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (pd.read_csv(tmp_path / "o.csv")["input"] == 0.5).all()

    cfg = SimConfig(recurrence="linear", num_neurons=4, num_steps=25, amplitude=0.2)
    trained = simulate(cfg.replace(seed=9)).neuron.state_dict()
    torch.save(trained, tmp_path / "w.pt")
    sets = ["recurrence=linear", "num_neurons=4", "num_steps=25", "amplitude=0.2",
            "weight_init=state_dict"]
    result = cli("simulate", "--set", *sets, "--state-dict", "w.pt", "--out", "w.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    want = simulate(cfg.replace(weight_init="state_dict"), state_dict=trained).to_frame()
    assert (pd.read_csv(tmp_path / "w.csv")["spk"].to_numpy() == want["spk"].to_numpy()).all()



def test_bad_uploads_are_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sets = ["recurrence=linear", "num_neurons=4", "weight_init=state_dict"]
    torch.save({"recurrent.weight": torch.zeros(3, 3), "recurrent.bias": torch.zeros(3)},
               tmp_path / "bad.pt")
    assert main(["simulate", "--set", *sets, "--state-dict", "bad.pt", "--out", "w.csv"]) == 2
    assert "'recurrent.weight' has shape (3, 3)" in capsys.readouterr().err
    (tmp_path / "evil.pt").write_bytes(b"not a torch file")
    assert main(["simulate", "--set", *sets, "--state-dict", "evil.pt", "--out", "w.csv"]) == 2
    assert "weights_only=True" in capsys.readouterr().err
    assert main(["simulate", "--set", *sets, "--out", "w.csv"]) == 2
    assert "needs --state-dict" in capsys.readouterr().err
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    assert main(["simulate", "--set", "stimulus=csv", "--input-csv", "in.csv", "--out", "w.csv"]) == 2
    assert capsys.readouterr().err.startswith("rleaky-viz simulate: error: --input-csv: ")
    assert main(["simulate", "--input-csv", "in.csv", "--out", "w.csv"]) == 2
    assert "only with --set stimulus=csv" in capsys.readouterr().err


# ----------------------------------------------------------------------------- figure
def standalone(html: str) -> bool:
    """A whole HTML page with plotly.js inlined (no <script src=...>): it works offline."""
    return (html.lstrip().lower().startswith("<!doctype html>") and "Plotly.newPlot" in html
            and re.search(r"<script[^>]*\bsrc\s*=", html) is None)


def test_figure_writes_standalone_html(tmp_path):
    out = tmp_path / "fig.html"
    result = cli("figure", "--preset", "tonic", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and "(neuron figure)" in result.stderr
    html = out.read_text(encoding="utf-8")
    assert standalone(html) and "Neuron 0 (sample 0)" in html


@pytest.mark.parametrize("args, title", [
    (["--preset", "self_sustained", "--set", "num_neurons=30", "num_steps=60"], "raster"),
    (["--preset", "self_sustained", "--kind", "spectrum", "--set", "num_neurons=30",
      "num_steps=20"], "igenvalue"),
    (["--preset", "tonic", "--kind", "breakdown"], "term by term"),
    (["--preset", "centre_surround", "--set", "grid_size=8", "num_steps=20"], "frame"),
    (["--preset", "centre_surround", "--kind", "rate_map", "--set", "grid_size=8",
      "num_steps=20"], "rate"),
])
def test_figure_kinds(tmp_path, args, title):
    out = tmp_path / "fig.html"
    assert main(["figure", "-q", *args, "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert standalone(html) and title.lower() in html.lower()


def test_figure_kind_that_does_not_fit_the_config_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["figure", "--preset", "tonic", "--kind", "weights", "--out", "f.html"]) == 2
    assert "--kind weights: this kind needs recurrence=linear" in capsys.readouterr().err
    assert main(["figure", "--preset", "tonic", "--neuron", "3", "--out", "f.html"]) == 2
    assert "neuron must be from 0 to 0" in capsys.readouterr().err
    assert not (tmp_path / "f.html").exists()


# ----------------------------------------------------------------------------- presets, help
def test_presets_lists_name_page_title():
    result = cli("presets")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "page", "title"]
    for preset in PRESETS.values():
        assert any(line.split()[:2] == [preset.name, preset.page] and line.endswith(preset.title)
                   for line in lines[1:]), preset.name


def test_help_in_a_real_process():
    result = cli("--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: rleaky-viz")
    for command in ("app", "simulate", "figure", "presets"):
        assert command in result.stdout


@pytest.mark.parametrize("command", [["app"], ["simulate"], ["figure"], ["presets"]])
def test_help_everywhere(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: rleaky-viz {command[0]}")


# ----------------------------------------------------------------------------- progress
def test_chunked_run_is_exactly_simulate():
    # every preset (shortened: chunks of 2 steps), and a batch with random input and quantisation
    for cfg in [p.config.replace(num_steps=60) for p in PRESETS.values()] + [
            SimConfig(recurrence="linear", num_neurons=7, batch_size=3, num_steps=157,
                      stimulus="poisson", reset_delay=False, state_quant_bits=4, seed=5)]:
        want, got = simulate(cfg), simulate(cfg, progress=lambda done, total: None)
        for name in ("input", "spk", "mem", "reset", "recurrent", "leak", "base", "surrogate_grad"):
            assert torch.equal(getattr(got, name), getattr(want, name)), (cfg, name)


def test_progress_is_shown_only_for_long_runs_and_ends_at_100_percent():
    now = [0.0]
    quick, slow = io.StringIO(), io.StringIO()
    bar = Progress("simulating", stream=quick, clock=lambda: now[0])
    for done in range(10, 101, 10):
        now[0] += 0.01
        bar(done, 100)
    assert quick.getvalue() == ""
    bar = Progress("simulating", stream=slow, clock=lambda: now[0])
    for done in range(10, 101, 10):
        now[0] += 0.2
        bar(done, 100)
    lines = slow.getvalue().splitlines()
    assert lines and lines[-1].startswith("simulating [" + "#" * 30 + "] 100%")
    assert "step 100/100" in lines[-1]


def test_long_run_reports_progress_on_stderr(tmp_path):
    # RLEAKY_VIZ_PROGRESS_AFTER=0 shows the bar at once, however fast this machine is
    result = subprocess.run([sys.executable, "-m", "rleaky_viz.cli", "simulate", "--set",
                             "num_neurons=300", "num_steps=700", "--out", "big.parquet"],
                            cwd=tmp_path, env={**ENV, "RLEAKY_VIZ_PROGRESS_AFTER": "0"},
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    bars = [line for line in lines if line.startswith("simulating 300 neurons [")]
    assert len(bars) >= 10 and bars[-1].startswith("simulating 300 neurons [" + "#" * 30 + "] 100%")
    assert "rleaky-viz: writing big.parquet (210,000 rows)…" in lines


def test_main_in_process_returns_exit_codes(tmp_path, capsys):
    assert main(["presets"]) == 0
    assert main(["simulate", "--set", "bogus=1", "--out", str(tmp_path / "x.csv")]) == 2
    assert "unknown field 'bogus'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- app, installed script
def test_app_command_serves_the_app(tmp_path):
    port = devserver.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rleaky_viz.cli", "app", "--port", str(port),
                             "--host", "127.0.0.1"], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        devserver.wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=90)  # raises unless "ok"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert "Traceback" not in (proc.stdout.read() or "")


@pytest.mark.skipif(script() is None, reason="the rleaky-viz script is not installed here "
                                              "(pip install -e . installs it)")
def test_installed_script(tmp_path):
    result = subprocess.run([script(), "presets"], capture_output=True, text=True, env=ENV)
    assert result.returncode == 0 and "tonic" in result.stdout
    result = subprocess.run([script(), "simulate", "--preset", "tonic", "--out", "t.csv"],
                            cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert result.returncode == 0 and len(pd.read_csv(tmp_path / "t.csv")) == 100
    result = subprocess.run([script(), "simulate", "--set", "beta=9", "--out", "t.csv"],
                            cwd=tmp_path, capture_output=True, text=True, env=ENV)
    one_error_line(result, "beta must be between")


def test_every_figure_kind_has_a_builder():
    from rleaky_viz import cli as module

    assert set(module.FIGURE_KINDS) - {"auto"} == set(module._figure_kinds())
