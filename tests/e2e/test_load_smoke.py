"""benchmarks/load_test.py still speaks Streamlit's protocol: a few sessions for a few seconds."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_load_test_runs_sessions_without_errors(app_server, tmp_path):
    out = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/load_test.py", "--url", app_server, "--sessions", "3",
         "--seconds", "4", "--think-min", "0.1", "--think-max", "0.3", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    assert report["errors"] == 0 and report["sessions_finished"] == 3
    assert report["reruns"] >= 3 and report["rerun_latency_ms"]["p50"] > 0


def test_load_test_refuses_other_hosts():
    result = subprocess.run([sys.executable, "benchmarks/load_test.py", "--url", "http://example.com"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "loopback" in result.stderr
