"""Start, wait for and stop the app as a local subprocess (tests, benchmarks, the CLI).

One place knows the ``streamlit run`` command line: the browser tests, the
load test and the raster benchmark start a headless server on a free
loopback port with it, and ``rleaky-viz app`` builds its command here too.
Nothing here imports Streamlit.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterable, Optional

__all__ = ["ROOT", "app_command", "free_port", "start", "wait_healthy", "stop"]

ROOT = Path(__file__).resolve().parent.parent  # the checkout that holds app.py

# a server for a test or a benchmark: no browser, no telemetry, no file watching
HEADLESS = ("--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none")


def app_command(port: int, host: Optional[str] = None, options: Iterable[str] = (),
                app: Path | str = "app.py") -> list[str]:
    """``python -m streamlit run app.py`` on ``port``; ``options`` are ``name=value`` settings."""
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port)]
    if host:
        command += ["--server.address", host]
    for option in options:  # "runner.postScriptGC=false" -> --runner.postScriptGC false
        name, _, value = option.partition("=")
        command += [f"--{name}", value]
    return command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, log_path: Path, env: Optional[dict] = None,
          options: Iterable[str] = (), app: Path | str = "app.py") -> subprocess.Popen:
    """A headless server on 127.0.0.1:``port`` in its own process group, logging to ``log_path``.

    ``app``: the script to serve, relative to the checkout (a benchmark serves its own).
    """
    command = app_command(port, "127.0.0.1", options, app)
    command[5:5] = HEADLESS  # after "run app.py"
    log = open(log_path, "wb")
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                            start_new_session=True)


def wait_healthy(url: str, proc: Optional[subprocess.Popen] = None, timeout: float = 90,
                 log_path: Optional[Path] = None) -> None:
    """Until ``GET url/_stcore/health`` answers ``ok``; RuntimeError (with the log's tail) otherwise."""
    def tail() -> str:
        return ("\n" + log_path.read_text(errors="replace")[-3000:]) if log_path else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the app server exited with status {proc.returncode}{tail()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url}/_stcore/health did not answer ok within {timeout:.0f} s{tail()}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group; SIGKILL if it has not gone within 15 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


# In a browser page of the app: connected, the script has finished, and it has drawn the
# page's title (what the real-browser tests and benchmarks/bench_browser.py wait for).
IDLE_JS = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
      && app.getAttribute('data-test-script-state') === 'notRunning'
      && !!document.querySelector("[data-testid='stMain'] h1");
}"""
