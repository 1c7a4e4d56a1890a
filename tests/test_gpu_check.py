"""benchmarks/gpu_check.py runs here, where there is usually no GPU: its CPU part passes and says so.

The script is meant for a GPU machine (parity with snnTorch on CUDA, the app's
device path, CPU vs GPU timings); without CUDA it must say that the GPU part
was skipped, still check parity on the CPU for every recurrence x reset x
reset delay, check that ``device="cuda"`` falls back to the CPU with its
notice, and exit 0.  ``--quick`` keeps this to a few seconds.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("snntorch")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
CUDA = torch.cuda.is_available()


def run(*args, timeout=120):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_quick_run_passes_and_reports_as_json(tmp_path):
    out = tmp_path / "gpu_check.json"
    result = run("--quick", "--json", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if not CUDA:
        assert "no CUDA device: GPU part skipped" in result.stdout
    assert "checks: all PASS" in result.stdout
    report = json.loads(out.read_text())
    assert report["complete"] and report["all_passed"] and report["exit_status"] == 0
    assert report["gpu_ran"] is CUDA and report["failed"] == []
    assert report["meta"]["tolerances"]["mem_atol"] == 1e-5

    parity = report["parity"]
    cpu = [r for r in parity if r["device"] == "cpu"]
    settings = {(r["recurrence"], r["reset_mechanism"], r["reset_delay"]) for r in cpu}
    assert settings == {(rec, reset, delay) for rec in ("none", "one_to_one", "linear", "conv2d")
                        for reset in ("subtract", "zero", "none") for delay in (True, False)}
    assert all(r["passed"] for r in parity if r["strict"])
    # on the CPU both loops are checked against snnTorch: the fast engine and the step loop
    # (the one CUDA runs)
    assert {tuple(r["engines_ran"]) for r in cpu if r["engine_asked"] == "auto"} == {("fast",)}
    assert {tuple(r["engines_ran"]) for r in cpu if r["engine_asked"] == "step"} == {("step",)}
    assert all(0 < r["spike_fraction"] < 1 for r in cpu)
    if CUDA:
        assert all(r["engines_ran"] == ["step"] for r in parity if r["device"] == "cuda")

    services = report["service"]
    assert len(services) >= 5 and all(r["passed"] for r in services)
    runs = [r for r in services if "engines_device" in r and "notices" in r]
    if not CUDA:  # device="cuda" fell back to the CPU, with its notice, on the fast engine
        assert runs and all(r["device"] == "cpu" and r["notices"] for r in runs)
    timing = report["timing"]
    assert {r["key"] for r in timing} >= {"sweep", "b", "population"}
    assert all(r["cpu"]["median_ms"] > 0 and "error" not in r["cpu"] for r in timing)
    assert all(("cuda" in r) is CUDA for r in timing)


@pytest.mark.skipif(CUDA, reason="a CUDA device is here")
def test_require_cuda_exits_2_without_a_gpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    result = run("--require-cuda", "--json", str(out))
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "no CUDA device: GPU part skipped" in result.stdout
    report = json.loads(out.read_text())
    assert report["exit_status"] == 2 and report["meta"]["gpu_skipped"]
