#!/usr/bin/env python3
"""Load test: many real Streamlit sessions moving sliders at once, on loopback only.

    .venv/bin/python benchmarks/load_test.py                    # 30 sessions, 60 s, own server
    .venv/bin/python benchmarks/load_test.py --quick            # 5 sessions, 10 s
    .venv/bin/python benchmarks/load_test.py --url http://127.0.0.1:8080 --server-pid 123 --server-pid 456

Each session is what a browser tab is to the server: one websocket on /_stcore/stream
speaking Streamlit's own protocol (protobuf ``BackMsg``/``ForwardMsg`` from
``streamlit.proto``).  It loads a page, learns the ids of the sidebar's sliders from the
elements the page sends, then repeatedly sets one of them to a new random value (a
``rerun_script`` with that widget's state, as the browser sends when a slider is
released), waits for the run to finish, checks that the page's URL now holds the value,
and thinks for a moment.  Every run simulates (random values miss the cache).

Why the protocol and not browser pages: measured on the 2-core machine, one headless
Chromium tab spends about 0.4 s of CPU per slider change redrawing the Plotly charts,
several times what the server spends on the run, so 30 tabs would measure Chromium,
not the app; the websocket client costs about 4% of the server's CPU.  The real
browser is covered by tests/e2e.

Reports: sessions, reruns, errors (exceptions, error panels, failed runs, values not
applied, timeouts, dropped connections), rerun latency p50/p95/max, and the server's
resident memory (VmRSS from /proc/<pid>/status) before, during and after.  Exit status
1 when any error happened.  Bounded: at most 300 sessions and 900 s; everything stops by
itself at the deadline, and a server it started is stopped.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import ipaddress
import json
import os
import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from rleaky_viz import devserver  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_SESSIONS, MAX_SECONDS = 300, 900
# Sidebar sliders a session moves, where the page has them (keys are SimConfig fields).
DRIVEN = ("beta", "threshold", "amplitude", "V", "noise_std", "weight_gain")
FINISHED_OK = ForwardMsg.FINISHED_SUCCESSFULLY
FINISHED_EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN


# ----------------------------------------------------------------------------- server
def proc_status(pid: int, field_name: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def total_rss(pids: list[int]) -> int | None:
    values = [proc_status(p, "VmRSS") for p in pids]
    return sum(values) if values and all(v is not None for v in values) else None


# ----------------------------------------------------------------------------- one session
@dataclass
class Slider:
    id: str
    lo: float
    hi: float
    step: float
    value: float


@dataclass
class Stats:
    latencies: list = field(default_factory=list)     # seconds per rerun after a change
    loads: list = field(default_factory=list)         # seconds for a page's first run
    errors: list = field(default_factory=list)        # (session, kind, detail)
    reruns: int = 0
    sessions_started: int = 0
    sessions_finished: int = 0


class Session:
    def __init__(self, n: int, base_url: str, page: str, stats: Stats, rng: random.Random,
                 timeout: float):
        self.n, self.base_url, self.page, self.stats, self.rng = n, base_url, page, stats, rng
        self.timeout = timeout
        self.sliders: dict[str, Slider] = {}
        self.query: dict[str, str] = {}
        self.ws = None

    def error(self, kind: str, detail: str) -> None:
        self.stats.errors.append((self.n, kind, detail[:300]))

    def _cookies(self) -> str:
        """GET the page as a browser would first: a proxy may set a routing cookie."""
        parts = urlsplit(self.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=self.timeout)
        try:
            conn.request("GET", f"/{self.page}")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise ConnectionError(f"GET /{self.page}: HTTP {response.status}")
            cookies = [h.split(";", 1)[0] for k, h in response.getheaders() if k.lower() == "set-cookie"]
            return "; ".join(cookies)
        finally:
            conn.close()

    async def run_script(self, widgets: list[WidgetState]) -> bool:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_name = self.page
        msg.rerun_script.widget_states.widgets.extend(widgets)
        await self.ws.send(msg.SerializeToString())
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), self.timeout)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._element(fwd.delta.new_element)
            elif kind == "page_info_changed":
                self.query = dict(parse_qsl(fwd.page_info_changed.query_string))
            elif kind == "session_event" and fwd.session_event.HasField("script_compilation_exception"):
                self.error("compile", fwd.session_event.script_compilation_exception.message)
            elif kind == "script_finished":
                if fwd.script_finished == FINISHED_EARLY:
                    continue  # another run follows at once
                if fwd.script_finished != FINISHED_OK:
                    self.error("run", f"script finished with status {fwd.script_finished}")
                    return False
                return True

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            self.error("exception", f"{element.exception.type}: {element.exception.message}")
        elif kind == "alert" and element.alert.format == Alert.ERROR:
            self.error("error panel", element.alert.body)
        elif kind == "slider":
            s = element.slider
            key = s.id.split("-", 2)[-1]  # "$$ID-<hash>-<key>"
            if key in DRIVEN and len(s.default) == 1:
                value = s.value[0] if s.value else s.default[0]
                self.sliders[key] = Slider(s.id, s.min, s.max, s.step or 0.01, value)

    def _new_value(self, slider: Slider) -> float:
        steps = int(round((slider.hi - slider.lo) / slider.step))
        for _ in range(10):
            value = round(slider.lo + self.rng.randint(0, steps) * slider.step, 6)
            if value != slider.value:
                return value
        return slider.hi if slider.value != slider.hi else slider.lo

    async def run(self, deadline: float, think: tuple[float, float]) -> None:
        self.stats.sessions_started += 1
        try:
            cookie = await asyncio.to_thread(self._cookies)
            ws_url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
            headers = {"Cookie": cookie} if cookie else None
            async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                          additional_headers=headers, open_timeout=self.timeout) as ws:
                self.ws = ws
                start = time.monotonic()
                if not await self.run_script([]):
                    return
                self.stats.loads.append(time.monotonic() - start)
                if not self.sliders:
                    self.error("page", f"no sliders among {DRIVEN} on /{self.page}")
                    return
                while time.monotonic() < deadline:
                    await asyncio.sleep(self.rng.uniform(*think))
                    if time.monotonic() >= deadline:
                        break
                    key = self.rng.choice(sorted(self.sliders))
                    slider = self.sliders[key]
                    value = self._new_value(slider)
                    state = WidgetState(id=slider.id)
                    state.double_array_value.data.append(value)
                    start = time.monotonic()
                    ok = await self.run_script([state])
                    self.stats.latencies.append(time.monotonic() - start)
                    self.stats.reruns += 1
                    if not ok:
                        continue
                    shown = self.query.get(key)
                    if shown is not None and abs(float(shown) - value) > 1e-9:
                        self.error("not applied", f"{key} set to {value}, the URL says {shown}")
                    if key in self.sliders:
                        self.sliders[key].value = value
            self.stats.sessions_finished += 1
        except asyncio.TimeoutError:
            self.error("timeout", f"no finished run within {self.timeout:.0f} s")
        except (OSError, websockets.WebSocketException) as e:
            self.error("connection", f"{type(e).__name__}: {e}")


# ----------------------------------------------------------------------------- driver
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))]


async def drive(args, base_url: str, pids: list[int]) -> dict:
    stats = Stats()
    rng = random.Random(args.seed)
    pages = [p.strip().strip("/") for p in args.pages.split(",") if p.strip()]

    # warm-up: one session per page type loads it once (imports, first runs)
    warm = [Session(-1 - i, base_url, p, Stats(), random.Random(i), args.timeout)
            for i, p in enumerate(dict.fromkeys(pages))]
    await asyncio.gather(*(s.run(time.monotonic(), (0, 0)) for s in warm))
    for s in warm:
        if s.stats.errors:
            raise SystemExit(f"warm-up failed on /{s.page}: {s.stats.errors}")
    if args.warm_only:
        return {}
    rss_before = total_rss(pids)
    cpu_before = [cpu_seconds(p) for p in pids]

    rss_samples: list[int] = []

    async def sample_rss(stop: asyncio.Event):
        while not stop.is_set():
            value = total_rss(pids)
            if value is not None:
                rss_samples.append(value)
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    started = time.monotonic()
    deadline = started + args.seconds
    ramp = min(5.0, args.seconds / 4)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(stop))

    async def delayed(session: Session, delay: float):
        await asyncio.sleep(delay)
        await session.run(deadline, (args.think_min, args.think_max))

    sessions = [Session(i, base_url, pages[i % len(pages)], stats, random.Random(rng.random()),
                        args.timeout) for i in range(args.sessions)]
    tasks = [asyncio.create_task(delayed(s, ramp * i / max(1, args.sessions))) for i, s in enumerate(sessions)]
    # hard stop: the deadline plus one run's timeout, then everything is cancelled
    done, pending = await asyncio.wait(tasks, timeout=args.seconds + args.timeout + 30)
    for task in pending:
        task.cancel()
        stats.errors.append((-1, "cancelled", "session still busy at the hard deadline"))
    elapsed = time.monotonic() - started
    rss_loaded = total_rss(pids)  # sessions have closed their sockets just now
    stop.set()
    await sampler
    await asyncio.sleep(3)
    rss_after = total_rss(pids)
    cpu_after = [cpu_seconds(p) for p in pids]
    cpu_by_pid = ([round(a - b, 1) for a, b in zip(cpu_after, cpu_before)]
                  if all(v is not None for v in cpu_before + cpu_after) and pids else None)
    server_cpu = sum(cpu_by_pid) if cpu_by_pid else None
    usage = resource.getrusage(resource.RUSAGE_SELF)

    kinds: dict[str, int] = {}
    for _, kind, _ in stats.errors:
        kinds[kind] = kinds.get(kind, 0) + 1
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    return {
        "url": base_url, "pages": pages, "sessions": args.sessions, "seconds": args.seconds,
        "think_s": [args.think_min, args.think_max], "elapsed_s": round(elapsed, 1),
        "sessions_started": stats.sessions_started, "sessions_finished": stats.sessions_finished,
        "reruns": stats.reruns, "reruns_per_s": round(stats.reruns / elapsed, 2) if elapsed else None,
        "errors": len(stats.errors), "errors_by_kind": kinds, "first_errors": stats.errors[:10],
        "rerun_latency_ms": {"p50": ms(percentile(stats.latencies, 50)),
                             "p95": ms(percentile(stats.latencies, 95)),
                             "max": ms(max(stats.latencies) if stats.latencies else None),
                             "mean": ms(statistics.fmean(stats.latencies) if stats.latencies else None)},
        "page_load_ms": {"p50": ms(percentile(stats.loads, 50)), "p95": ms(percentile(stats.loads, 95))},
        "server_pids": pids,
        "server_rss_mb": {"before": mb(rss_before), "peak_during": mb(max(rss_samples) if rss_samples else None),
                          "end_of_run": mb(rss_loaded), "after_3s": mb(rss_after)},
        "server_cpu_s": round(server_cpu, 1) if server_cpu is not None else None,
        "server_cpu_s_by_pid": cpu_by_pid,
        "server_rss_mb_by_pid": [mb(proc_status(p, "VmRSS")) for p in pids],
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
    }


def mb(value):
    return None if value is None else round(value / 2**20, 1)


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loop = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loop = False
    if not loop:
        raise SystemExit(f"--url must be a loopback address (127.0.0.1, localhost, ::1), not {host!r}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="an app already running on loopback (default: start one)")
    p.add_argument("--server-pid", type=int, action="append", default=[],
                   help="pid of a server behind --url, for its memory (repeat for replicas)")
    p.add_argument("--sessions", type=int, default=30, help="concurrent sessions (default 30)")
    p.add_argument("--seconds", type=float, default=60, help="how long they keep moving sliders (default 60)")
    p.add_argument("--quick", action="store_true", help="5 sessions for 10 s")
    p.add_argument("--pages", default="Neuron_explorer,Neuron_explorer,Population",
                   help="pages given to sessions in turn (URL paths; default two explorers to one population)")
    p.add_argument("--think-min", type=float, default=0.5, help="pause between changes, low end (s)")
    p.add_argument("--think-max", type=float, default=1.5, help="pause between changes, high end (s)")
    p.add_argument("--timeout", type=float, default=60, help="longest wait for one run (s)")
    p.add_argument("--torch-threads", type=int, help="RLEAKY_VIZ_TORCH_THREADS for a server it starts")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a Streamlit option for a server it starts, e.g. runner.postScriptGC=true")
    p.add_argument("--warm-only", action="store_true",
                   help="only load each page once (warms a server up) and stop")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    if args.quick:
        args.sessions, args.seconds = 5, 10
    if not 1 <= args.sessions <= MAX_SESSIONS:
        p.error(f"--sessions must be 1..{MAX_SESSIONS}")
    if not 1 <= args.seconds <= MAX_SECONDS:
        p.error(f"--seconds must be 1..{MAX_SECONDS}")
    if not 0 <= args.think_min <= args.think_max <= 60:
        p.error("need 0 <= --think-min <= --think-max <= 60")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    proc = None
    try:
        if args.url:
            base_url = args.url.rstrip("/")
            check_loopback(base_url)
            pids = args.server_pid
            devserver.wait_healthy(base_url, None, timeout=30)
        else:
            port = devserver.free_port()
            env = {"PYTHONUNBUFFERED": "1"}
            if args.torch_threads:
                env["RLEAKY_VIZ_TORCH_THREADS"] = str(args.torch_threads)
            log = Path(os.environ.get("TMPDIR", "/tmp")) / f"rleaky-viz-load-{port}.log"
            proc = devserver.start(port, log, env, args.option)
            base_url = f"http://127.0.0.1:{port}"
            pids = [proc.pid]
            devserver.wait_healthy(base_url, proc, log_path=log)
            print(f"server pid {proc.pid} on {base_url} (log {log})", file=sys.stderr)
        if not args.warm_only:
            print(f"{args.sessions} sessions for {args.seconds:g} s on {base_url} ...", file=sys.stderr)
        result = asyncio.run(drive(args, base_url, pids))
    finally:
        if proc is not None:
            devserver.stop(proc)
    if args.warm_only:
        print(f"warmed up: {', '.join(dict.fromkeys(args.pages.split(',')))}")
        return 0
    lat, rss = result["rerun_latency_ms"], result["server_rss_mb"]
    print(f"sessions {result['sessions_finished']}/{result['sessions']} finished, "
          f"{result['reruns']} reruns ({result['reruns_per_s']}/s) in {result['elapsed_s']} s")
    print(f"errors {result['errors']} {result['errors_by_kind'] or ''}")
    print(f"rerun latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms; "
          f"page load p50 {result['page_load_ms']['p50']} ms")
    print(f"server RSS {rss['before']} MB before, peak {rss['peak_during']} MB, "
          f"{rss['after_3s']} MB after; server CPU {result['server_cpu_s']} s, "
          f"load client CPU {result['client_cpu_s']} s")
    if len(result["server_pids"]) > 1:
        print(f"  by server pid {result['server_pids']}: CPU {result['server_cpu_s_by_pid']} s, "
              f"RSS {result['server_rss_mb_by_pid']} MB")
    for error in result["first_errors"]:
        print("  error:", error)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and result["reruns"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
