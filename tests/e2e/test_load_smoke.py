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


def test_load_test_hostile_mix(app_server, tmp_path):
    """3 ordinary sessions while 1 hostile session sends the quick hostile links and uploads.

    Ordinary sessions must see no error; the hostile one must get refusals, never an
    exception, a live markdown link, a dropped connection or a timeout; the server must
    stay the same process, healthy, and under the memory cap (its pid is found from the
    port).
    """
    out = tmp_path / "hostile.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/load_test.py", "--url", app_server, "--sessions", "3",
         "--seconds", "8", "--think-min", "0.1", "--think-max", "0.3", "--hostile", "1",
         "--hostile-cases", "light", "--hostile-timeout", "30", "--memory-cap-mb", "3072",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert out.exists(), result.stdout + result.stderr
    report = json.loads(out.read_text())
    hostile = report["hostile"]
    assert report["errors"] == 0, report["first_errors"]
    assert report["sessions_finished"] == 3 and report["reruns"] >= 3
    assert report["server_pids"], "the server's pid was not found from its port"
    assert report["server"]["health_ok"] and not report["server"]["restarted"], report["server"]
    assert not report["over_memory_cap"], report["server_rss_mb"]
    assert not hostile["canary_written"]
    assert hostile["requests"] >= 10 and hostile["refusals"] >= 5, hostile
    assert hostile["failures"] == 0, hostile["first_failures"]
    assert result.returncode == 0, result.stdout + result.stderr
