#!/usr/bin/env python3
"""Load test: many real Streamlit sessions moving sliders at once, on loopback only.

    .venv/bin/python benchmarks/load_test.py                    # 30 sessions, 60 s, own server
    .venv/bin/python benchmarks/load_test.py --quick            # 5 sessions, 10 s
    .venv/bin/python benchmarks/load_test.py --url http://127.0.0.1:8080 --server-pid 123 --server-pid 456
    .venv/bin/python benchmarks/load_test.py --sessions 30 --seconds 60 --hostile 3   # a hostile mix

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

Hostile mix (``--hostile K``): K more sessions that, until the deadline, open the
worst links and uploads there are, each in a new tab (a new websocket, so the page
reads the link): the largest configs the memory budget accepts and those just over it
(Conv grid, Population, Gradient flow, Sweeps at resolution 64, Learn, Compare),
injection text in ``expression`` (with stimulus = constant and = expression),
non-finite, out-of-range and huge values, markdown and HTML in values, unknown
parameters, huge query strings (in the protocol and in an HTTP GET), and uploads
through the page's ``st.file_uploader`` as a browser sends them (an HTTP PUT to
/_stcore/upload_file/<session>/<file id> with the XSRF token, then the uploader's
widget state): a DEFLATE zip bomb .pt (a member that inflates to 512 MiB, honest and
lying headers), a .pt and a raw pickle whose payload would write a canary file, CSVs
with 1e308 and non-finite cells, over 2 MB, too many rows or columns, files over the
server's upload limit, wrong extensions.  Hostile sessions expect refusals (an error
or warning in the page, or an HTTP 4xx for an upload): those are counted, not errors.
A hostile *failure* is an exception element, the app's "something went wrong" panel,
a markdown link or image from a value made live, a refusal missing where the budget
says one is due (or one where it says the run fits), a dropped connection, or no
answer within --hostile-timeout.  At the end: no canary file, the same server
process alive and /_stcore/health ok, and its peak memory (VmHWM) under
--memory-cap-mb.

Reports: sessions, reruns, errors (exceptions, error panels, failed runs, values not
applied, timeouts, dropped connections), rerun latency p50/p95/max, the server's
resident memory (VmRSS from /proc/<pid>/status) before, during and after and its peak
(VmHWM), and with --hostile the requests, refusals and failures.  Exit status 1 when
an ordinary session had any error, a hostile session a failure, the server restarted
or went over --memory-cap-mb.  Bounded: at most 300 sessions (20 hostile) and 900 s;
everything stops by itself at the deadline, and a server it started is stopped.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import ipaddress
import json
import os
import random
import re
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
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


def total_rss(pids: list[int], field_name: str = "VmRSS") -> int | None:
    values = [proc_status(p, field_name) for p in pids]
    return sum(values) if values and all(v is not None for v in values) else None


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): tells a restart under the same pid."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if parts[0] in ("Z", "X") else int(parts[19])
    except (OSError, IndexError, ValueError):
        return None


def listening_pids(port: int) -> list[int]:
    """Pids (of this user) holding a listening TCP socket on ``port``, found through /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return sorted(pids)


def health_ok(base_url: str, timeout: float = 10) -> bool:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", "/_stcore/health")
        response = conn.getresponse()
        return response.status == 200 and response.read().decode().strip() == "ok"
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def log_exceptions(log: Optional[Path]) -> dict[str, int]:
    """The exception line of each traceback in a server log (what it raised), with counts."""
    if log is None or not log.exists():
        return {}
    lines = log.read_text(errors="replace").splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            for later in lines[i + 1:i + 400]:
                if later and not later.startswith((" ", "\t", "Traceback", "During handling",
                                                   "The above exception")):
                    found.append(later[:300])
                    break
    return _count(found)


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


# ----------------------------------------------------------------------------- hostile sessions
MAX_HOSTILE = 20
ZIP_BOMB_MIB = 512
MARKER_HOST = "example.invalid"  # in markdown/links sent as values: must never come back live
BUSY = "server is busy"
UNEXPECTED = "Something went wrong"


class _Payload:
    """Pickles to ``exec(code)``: what a malicious .pt or pickle carries (never loaded here)."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def _zip_bomb() -> bytes:
    """A zip whose one DEFLATE member inflates to 512 MiB (about 0.5 MB on the wire)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("archive/data.pkl", "w") as member:
            chunk = bytes(1 << 20)
            for _ in range(ZIP_BOMB_MIB):
                member.write(chunk)
    return buf.getvalue()


def _lying(bomb: bytes) -> bytes:
    """The same zip with headers that claim the member is 1 kB: only inflating it tells."""
    import struct

    data = bytearray(bomb)
    assert data[:4] == b"PK\x03\x04"
    struct.pack_into("<I", data, 22, 1024)              # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1024)    # central directory: the same
    return bytes(data)


def _many_members() -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for i in range(5000):
            archive.writestr(f"archive/m{i}", b"")
    return buf.getvalue()


def build_payloads(canary: str) -> dict[str, bytes]:
    """The hostile files, built in memory once at start-up."""
    import pickle

    import torch

    code = f"open({canary!r}, 'w').write('code from an upload ran')"
    pt = io.BytesIO()
    torch.save({"recurrent.weight": _Payload(code), "recurrent.bias": torch.zeros(100)}, pt)
    bomb = _zip_bomb()
    return {
        "zip_bomb": bomb,
        "zip_bomb_lying": _lying(bomb),
        "zip_many_members": _many_members(),
        "pt_pickle_payload": pt.getvalue(),
        "raw_pickle_payload": pickle.dumps(_Payload(code), protocol=4),
        "csv_1e308": b"current\n" + b"1e308\n" * 1000,
        "csv_1e308_wide": (",".join(["1e308"] * 100) + "\n").encode() * 200,
        "csv_f32_overflow": b"1e39\n" * 200,
        "csv_nonfinite": b"nan\ninf\n-inf\n1e999\n" * 50,
        "csv_over_2mb": b"0.1\n" * 550_000,                     # 2.2 MB
        "csv_rows": b"0.1\n" * 10_001,
        "csv_columns": (",".join(["0.1"] * 1001) + "\n").encode() * 3,
        "csv_one_long_number": b"1" * 1_900_000,
        "csv_binary": bytes(range(256)) * 100,
        "csv_valid_300": b"current\n" + b"0.5\n" * 300,
        "csv_max_cells": (",".join(["0.5"] * 1000) + "\n").encode() * 490,  # 1.96 MB, 490k cells
        "over_upload_limit": b"0.1\n" * (21 * 2**20 // 4),       # 21 MiB > server.maxUploadSize 20
    }


@dataclass(frozen=True)
class Case:
    """One hostile request: a link (page + query), then widget values, then uploads."""
    name: str
    page: str
    query: str = ""
    widgets: tuple = ()     # (widget key, value): set in a second run, as a user would
    uploads: tuple = ()     # (uploader key, file name, payload name[, "chunked"])
    expect: str = "refuse"  # refuse: an error/warning (or HTTP 4xx) is due; run: it fits; any
    light: bool = True      # cheap: taken by --hostile-cases light
    http: str = ""          # a raw HTTP GET of this path instead of a session
    fresh: bool = False     # add a new seed each time, so the shared result cache never has it


def _q(**params) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _max_steps(page: str, work: str = "run", points: int = 1, **changes) -> int:
    """The most time steps the memory budget accepts for ``page``'s defaults with ``changes``.

    Computed with this process's ``RLEAKY_VIZ_MEMORY_MB`` (a server it starts shares it).
    """
    from rleaky_viz.budget import MEMORY_BUDGET_BYTES, estimate_bytes
    from rleaky_viz.config import SimConfig
    from rleaky_viz.presets import PAGES

    base = {**PAGES[page].defaults, **changes}
    lo, hi = 0, 10_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        cfg = SimConfig(**{**base, "num_steps": mid})
        if estimate_bytes(cfg, work, points=points) <= MEMORY_BUDGET_BYTES:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _fits(page: str, work: str = "run", points: int = 1, **changes) -> bool:
    from rleaky_viz.budget import MEMORY_BUDGET_BYTES, estimate_bytes
    from rleaky_viz.config import SimConfig
    from rleaky_viz.presets import PAGES

    cfg = SimConfig(**{**PAGES[page].defaults, **changes})
    return estimate_bytes(cfg, work, points=points) <= MEMORY_BUDGET_BYTES


def _by_budget(name: str, page_key: str, page: str, query: dict, work: str = "run",
               points: int = 1, **kw) -> Case:
    """A case whose expectation is what the budget says of it: it runs, or it is refused."""
    fits = _fits(page_key, work, points, **query)
    kw.setdefault("light", not fits)
    return Case(f"{name}_{'fits' if fits else 'over'}", page, _q(**query),
                expect="run" if fits else "refuse", fresh=fits, **kw)


def _limit_pair(name: str, page_key: str, page: str, changes: dict, work: str = "run",
                points: int = 1, widgets: tuple = (), light_over: bool = True) -> list[Case]:
    """The largest config the budget accepts along one line (time steps, then at the
    10,000-step cap batch size, then neurons), and the next one along it, just over."""
    def fits(**more):
        return _fits(page_key, work, points, **{**changes, **more})

    steps = _max_steps(page_key, work, points, **changes)
    if steps < 10_000 or not fits(num_steps=10_000, batch_size=2):
        largest, over = {"num_steps": steps}, {"num_steps": steps + 1}
        if steps == 10_000:
            over = {"num_steps": 10_000, "batch_size": 2}
    else:
        batch = max(b for b in range(1, 65) if fits(num_steps=10_000, batch_size=b))
        largest = {"num_steps": 10_000, "batch_size": batch}
        over = {"num_steps": 10_000, "batch_size": batch + 1}
        if batch == 64 and page_key in NEURON_PAGES:
            n = max((v for v in range(1, 1001)
                     if fits(num_steps=10_000, batch_size=64, num_neurons=v)), default=1)
            largest = {"num_steps": 10_000, "batch_size": 64, "num_neurons": n}
            over = {**largest, "num_neurons": n + 1}

    def label(d):
        short = {"num_steps": "T", "batch_size": "b", "num_neurons": "n"}
        return "_".join(f"{short[k]}{v}" for k, v in d.items())

    out = [Case(f"{name}_{label(largest)}_largest", page, _q(**{**changes, **largest}),
                widgets=widgets, expect="run", light=False, fresh=True)]
    if (over.get("num_neurons") or 0) <= 1000 and over["num_steps"] <= 10_000 \
            and over.get("batch_size", 1) <= 64:
        out.append(_by_budget(f"{name}_{label(over)}_just", page_key, page, {**changes, **over},
                              work, points, widgets=widgets, light=light_over))
    return out


# pages whose sidebar has num_neurons (the conv grid sizes itself by channels and grid)
NEURON_PAGES = {"neuron", "population", "gradients", "learn", "sweeps"}


def hostile_cases(canary: str) -> list[Case]:
    """Every hostile request, the kinds interleaved so that any stretch of the list mixes them."""
    md = f"![x](https://{MARKER_HOST}/p.png)"
    link = f"[click](https://{MARKER_HOST}/)"
    shell = f"__import__('os').system('touch {canary}')"
    nested = "exp(" * 39 + "t" + ")" * 39                  # 196 characters, 40 levels
    unary = "-" * 199 + "t"                                # 200 characters, 200 levels
    huge_int = "9" * 20
    budget, uploads, expressions, values, other = [], [], [], [], []

    # --- the memory budget: the largest configs it accepts (fresh seeds: no cache hits), and
    # the next ones along the same line, just over it
    conv = dict(conv2d_channels=8, grid_size=64, batch_size=64, state_quant_bits=12)
    pop = dict(recurrence="linear", num_neurons=1000)
    grad = dict(recurrence="linear", num_neurons=1000)
    t_grad = _max_steps("gradients", "flow", **grad)
    t_big = min(t_grad, 1000)  # the gradient page runs 1 flow + 5 for its distance sweep
    sweep_widgets = (("sweeps_resolution", 64), ("sweeps_fi_points", 64), ("sweeps_fi_curves", 8))
    conv_pair = _limit_pair("conv_8x64x64_b64_q12", "conv", "Conv_grid", conv)
    pop_pair = _limit_pair("population_1000_linear", "population", "Population", pop)
    # Sweeps has its own cap too: 2 billion neuron-steps a sweep (pages/7_Sweeps.py)
    cap = 2 * 10**9 // (64 * 64 * 10_000)
    b_sweep = max([b for b in range(1, cap + 1) if _fits("sweeps", "sweep", 64 * 64, num_steps=10_000,
                                                         batch_size=b)] or [0])
    if b_sweep:
        sweep_pair = [Case(f"sweeps_res64_T10000_b{b_sweep}_largest", "Sweeps",
                           _q(num_steps=10_000, batch_size=b_sweep), widgets=sweep_widgets,
                           expect="run", light=False, fresh=True),
                      Case(f"sweeps_res64_T10000_b{b_sweep + 1}_over", "Sweeps",
                           _q(num_steps=10_000, batch_size=b_sweep + 1), widgets=sweep_widgets,
                           light=False)]
    else:
        sweep_pair = _limit_pair("sweeps_res64", "sweeps", "Sweeps", {}, "sweep", 64 * 64,
                                 widgets=sweep_widgets, light_over=False)
    grad_pair = _limit_pair("gradient_flow_1000_linear", "gradients", "Gradient_flow", grad, "flow")
    learn_pair = _limit_pair("learn_1000_train", "learn", "Learn", {"num_neurons": 1000}, "train",
                             widgets=(("learn_epochs", 2), ("learn_train", True)))
    budget += [
        conv_pair[0],
        _by_budget("conv_8x64x64_b64_q12_T150", "conv", "Conv_grid", {**conv, "num_steps": 150}),
        pop_pair[0], *pop_pair[1:], sweep_pair[0], *grad_pair[1:],
        Case(f"gradient_flow_1000_linear_T{t_big}_big", "Gradient_flow",
             _q(**grad, num_steps=t_big), expect="run", light=False, fresh=True),
        *conv_pair[1:],
        Case("compare_1000_linear_T2000_both_flows", "Compare",
             _q(recurrence="linear", num_neurons=1000, num_steps=2000, b_beta=0.5),
             expect="run", light=False, fresh=True),
        *sweep_pair[1:],
        _by_budget("population_1000_linear_T10000_expression", "population", "Population",
                   {**pop, "num_steps": 10_000, "stimulus": "expression", "expression": "sin(t/9)"}),
        _by_budget("sweeps_res64_1000_neurons_T10000", "sweeps", "Sweeps",
                   {"num_neurons": 1000, "num_steps": 10_000}, "sweep", 64 * 64,
                   widgets=sweep_widgets),
        *learn_pair[1:],
        Case("gradient_flow_values_nonfinite", "Gradient_flow", "",
             widgets=(("gradients_values_beta", "nan, inf, -1e308, 1e308"),)),
        Case("gradient_flow_values_1MB", "Gradient_flow", "",
             widgets=(("gradients_values_beta", "0.5," * 250_000),)),
    ]

    # --- uploads through st.file_uploader (a good CSV must run: the controls)
    state_dict = _q(recurrence="linear", num_neurons=100, weight_init="state_dict")
    explorer_csv = lambda name, payload, **kw: Case(  # noqa: E731
        f"upload_csv_{name}", "Neuron_explorer", _q(stimulus="csv"),
        uploads=(("explorer_csv", kw.pop("filename", "../../../tmp/evil.csv"), payload,
                  *kw.pop("how", ())),), **kw)
    uploads += [
        Case("upload_pt_zip_bomb_512MiB", "Population", state_dict,
             uploads=(("population_pt", "bomb.pt", "zip_bomb"),)),
        explorer_csv("1e308", "csv_1e308"),
        Case("upload_pt_pickle_payload", "Population", state_dict,
             uploads=(("population_pt", "payload.pt", "pt_pickle_payload"),)),
        explorer_csv("over_2mb", "csv_over_2mb"),
        Case("upload_pt_zip_bomb_lying_header", "Population", state_dict,
             uploads=(("population_pt", "bomb.pt", "zip_bomb_lying"),)),
        explorer_csv("nonfinite", "csv_nonfinite"),
        Case("upload_pt_raw_pickle_payload", "Population", state_dict,
             uploads=(("population_pt", "payload.pt", "raw_pickle_payload"),)),
        explorer_csv("f32_overflow", "csv_f32_overflow"),
        Case("upload_csv_valid_population", "Population", _q(stimulus="csv"),
             uploads=(("population_csv", "good.csv", "csv_valid_300"),), expect="run"),
        explorer_csv("wrong_extension", "csv_1e308", filename="evil.exe"),
        Case("upload_pt_zip_5000_members", "Population", state_dict,
             uploads=(("population_pt", "many.pt", "zip_many_members"),)),
        explorer_csv("rows_10001", "csv_rows"),
        Case("upload_csv_valid_conv_grid", "Conv_grid", _q(stimulus="csv"),
             uploads=(("conv_csv", "good.csv", "csv_valid_300"),), expect="run"),
        explorer_csv("columns_1001", "csv_columns"),
        explorer_csv("valid_explorer", "csv_valid_300", filename="good.csv", expect="run"),
        explorer_csv("one_long_number", "csv_one_long_number"),
        explorer_csv("over_server_limit", "over_upload_limit"),
        explorer_csv("binary", "csv_binary"),
        explorer_csv("over_server_limit_chunked", "over_upload_limit", how=("chunked",)),
        explorer_csv("raw_pickle_payload", "raw_pickle_payload"),
        explorer_csv("nul_in_name", "csv_1e308", filename="evil.exe\x00.csv"),
        Case("upload_csv_1e308_population", "Population", _q(stimulus="csv", num_neurons=100),
             uploads=(("population_csv", "wide.csv", "csv_1e308_wide"),)),
        Case("upload_csv_max_cells_population_1000", "Population",
             _q(stimulus="csv", num_neurons=1000),
             uploads=(("population_csv", "max.csv", "csv_max_cells"),), expect="any", light=False),
    ]

    # --- expressions: injection, overflow, depth, length, markdown (stimulus = expression
    # must refuse; with another stimulus the field is unused and dropped silently)
    for label, text in (("import_os", shell), ("triple_quote", '"""'),
                        ("dunder_class", "().__class__.__mro__[1].__subclasses__()"),
                        ("overflow_1e300", "1e300*step(t-2)"), ("lambda", "(lambda: 1)()"),
                        ("nested_exp_40", nested), ("markdown", md), ("unary_200", unary),
                        ("pow_tower", "9**9**9**9"), ("chars_201", "t+" * 100 + "1"),
                        ("nul_byte", "t\x00+1"), ("rtl", "t\u202e+1")):
        expressions.append(Case(f"explorer_expression_{label}", "Neuron_explorer",
                                _q(stimulus="expression", expression=text)))
        if label in ("import_os", "triple_quote", "overflow_1e300", "markdown"):
            expressions.append(Case(f"explorer_constant_with_expression_{label}", "Neuron_explorer",
                                    _q(stimulus="constant", expression=text), expect="any"))
    expressions += [
        Case("population_expression_import_os", "Population",
             _q(stimulus="expression", expression=shell)),
        Case("sweeps_expression_overflow", "Sweeps", _q(stimulus="expression", expression="exp(t)*1e30")),
        Case("gradient_flow_expression_import_os", "Gradient_flow",
             _q(stimulus="expression", expression=shell)),
        Case("explorer_expression_text_input_1MB", "Neuron_explorer", _q(stimulus="expression"),
             widgets=(("expression", "t+" * 500_000 + "1"),)),
    ]

    # --- values: non-finite, out of range, huge, markdown and HTML, unknown parameters
    for label, query in (
            ("beta_nan", _q(beta="nan")), ("beta_markdown", _q(beta=md)),
            ("num_steps_huge", _q(num_steps=huge_int + "999")),
            ("gsf_1e-300", _q(graded_spikes_factor="1e-300")), ("beta_-inf", _q(beta="-inf")),
            ("reset_html", _q(reset_mechanism="<script>alert(1)</script>")),
            ("seed_5000_digits", _q(seed="9" * 5000)), ("threshold_denormal", _q(threshold="5e-324")),
            ("surrogate_link", _q(surrogate=link)), ("amplitude_1e308", _q(amplitude="1e308")),
            ("num_steps_negative", _q(num_steps=-1)), ("device_cuda_999", _q(device="cuda:999")),
            ("num_steps_float", _q(num_steps="1e4")),
            ("lesson_controls_markdown", _q(lesson_controls=f"beta,{md},<b>x</b>"))):
        values.append(Case(f"explorer_{label}", "Neuron_explorer", query))
    values += [
        Case("gradient_flow_target_times_junk", "Gradient_flow",
             _q(loss="spike_times", target_times="9" * 400 + ",-1,1e9," + md)),
        Case("conv_kernel_even_channels_huge", "Conv_grid",
             _q(kernel_size=4, conv2d_channels=huge_int, grid_size="nan")),
        Case("compare_b_values", "Compare",
             _q(b_beta="nan", b_threshold=md, b_amplitude="1e308", b_recurrence="<b>x</b>")),
    ]

    # --- other pages' own parameters, unknown parameters, huge query strings
    other += [
        Case("lesson_present_markdown", "Lesson", _q(present=md)),
        Case("explorer_unknown_params", "Neuron_explorer",
             _q(foo="bar", __class__="x", **{"_cfg:Neuron_explorer": "1", "explorer_neuron": "5"}),
             expect="any"),
        # Streamlit drops a query string over 512 Ki characters or 1,000 fields (and logs
        # it): just under both limits the page must refuse; over them it sees no link at all
        Case("explorer_query_999_fields_markdown", "Neuron_explorer",
             "&".join([f"k{i}={md}" for i in range(997)] + [_q(beta=md)])),
        Case("lesson_controls_markdown", "Lesson", _q(lesson_controls=f"{link},<b>x</b>")),
        Case("explorer_query_500k_expression", "Neuron_explorer",
             _q(stimulus="expression", expression="t+" * 127_000)),
        Case("mystery_challenge_5000_digits", "Mystery_neuron", _q(challenge="9" * 5000), expect="any"),
        Case("explorer_query_2000_fields_dropped", "Neuron_explorer",
             "&".join(["beta=nan"] * 2000), expect="any"),
        Case("gallery_values", "Surrogate_gallery",
             _q(gallery=f"atan,{md}", gallery_z="nan,inf", gallery_seed="9" * 5000,
                gallery_zoom="<b>", gallery_atan_alpha="1e308", gallery_sigmoid_slope=md),
             expect="any"),
        Case("explorer_query_2MB_dropped", "Neuron_explorer",
             _q(stimulus="expression", expression="t+" * 500_000), expect="any"),
        Case("mystery_challenge_markdown", "Mystery_neuron", _q(challenge=md), expect="any"),
        Case("http_get_query_100kB", "Neuron_explorer", http="/Neuron_explorer?" + "a=b&" * 25_000,
             expect="any"),
        Case("explorer_repeated_keys_999", "Neuron_explorer",  # the last value counts
             "&".join(["beta=0.5"] * 998 + ["beta=nan"])),
        Case("lesson_step_markdown", "Lesson", _q(step=md), expect="any"),
    ]
    kinds = [budget, uploads, expressions, values, other]
    cases = []
    for i in range(max(map(len, kinds))):
        cases += [kind[i] for kind in kinds if i < len(kind)]
    return cases


def select_cases(cases: list[Case], spec: str) -> list[Case]:
    if spec == "all":
        return cases
    if spec in ("light", "heavy"):
        return [c for c in cases if c.light == (spec == "light")]
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    chosen = [c for c in cases if any(c.name == w or c.name.startswith(w) for w in wanted)]
    if not chosen:
        raise SystemExit(f"--hostile-cases {spec!r} matches none of: "
                         + ", ".join(c.name for c in cases))
    return chosen


def hostile_lanes(cases: list[Case], k: int) -> list[list[Case]]:
    """The cases of each of ``k`` hostile sessions.

    The slow largest-config runs (tens of seconds each under load) get ``k // 2`` sessions
    of their own, so that the quick links and uploads all come round in the other sessions
    within a minute; each lane takes every n-th case of its kind.
    """
    heavy = [c for c in cases if not c.light]
    light = [c for c in cases if c.light]
    if k < 2 or not heavy or not light:
        return [cases[i::k] or cases for i in range(k)]
    h = k // 2
    return [heavy[i::h] or heavy for i in range(h)] + [light[i::k - h] or light for i in range(k - h)]


@dataclass
class HostileStats:
    requests: int = 0        # cases sent (links, GETs)
    uploads: int = 0         # files PUT to the upload endpoint
    refusals: int = 0        # cases answered with an error/warning (or HTTP 4xx)
    busy: int = 0            # of those, "the server is busy" (the admission gate)
    accepted: int = 0        # cases that ran without a message
    failures: list = field(default_factory=list)   # (session, case, kind, detail)
    by_case: dict = field(default_factory=dict)


@dataclass
class Outcome:
    alerts: list = field(default_factory=list)     # (format, body)
    exceptions: list = field(default_factory=list)
    texts: list = field(default_factory=list)      # markdown bodies (for the live-link check)
    widgets: dict = field(default_factory=dict)    # key -> (kind, element proto)
    session_id: str = ""
    query_string: str = ""
    status: Optional[int] = None


class HostileSession:
    """A tab that opens hostile links and uploads, a new websocket per request."""

    def __init__(self, n: int, base_url: str, cases: list[Case], payloads: dict, stats: HostileStats,
                 timeout: float):
        self.n, self.base_url, self.cases, self.payloads = n, base_url, cases, payloads
        self.stats, self.timeout = stats, timeout
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.cookie, self.xsrf = "", ""

    def fail(self, case: Case, kind: str, detail: str) -> None:
        self.stats.failures.append((self.n, case.name, kind, detail[:300]))
        self.stats.by_case[case.name]["failed"] += 1

    def _http(self, method: str, path: str, body=None, headers=None, chunked=False):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            response = conn.getresponse()
            response.read()
            return response.status, response.getheaders()
        finally:
            conn.close()

    def _login(self) -> None:
        """Cookies as a browser holds them: any routing cookie, and the XSRF cookie."""
        jar = {}
        for path in ("/", "/_stcore/health"):
            status, headers = self._http("GET", path)
            for k, h in headers:
                if k.lower() == "set-cookie":
                    name, _, value = h.split(";", 1)[0].partition("=")
                    jar[name.strip()] = value.strip()
        self.cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        self.xsrf = jar.get("_streamlit_xsrf", "")

    def _put(self, session_id: str, file_id: str, name: str, data: bytes, chunked: bool) -> int:
        boundary = "----rleakyviz" + os.urandom(8).hex()
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: text/csv\r\n\r\n').encode("utf-8", "surrogateescape")
        tail = f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "X-Xsrftoken": self.xsrf, "Cookie": self.cookie}
        path = f"/_stcore/upload_file/{session_id}/{file_id}"
        if chunked:  # no Content-Length: the server must cap the body as it streams
            def pieces():
                yield head
                for i in range(0, len(data), 1 << 20):
                    yield data[i:i + (1 << 20)]
                yield tail
            body = pieces()
        else:
            body = head + data + tail
        try:
            return self._http("PUT", path, body=body, headers=headers, chunked=chunked)[0]
        except (BrokenPipeError, ConnectionResetError):
            return 499  # the server closed the connection on an oversized body: a refusal

    async def _exchange(self, ws, page: str, query: str, widgets: list, out: Outcome) -> None:
        msg = BackMsg()
        msg.rerun_script.query_string = query
        msg.rerun_script.page_name = page
        msg.rerun_script.widget_states.widgets.extend(widgets)
        await ws.send(msg.SerializeToString())
        while True:
            raw = await asyncio.wait_for(ws.recv(), self.timeout)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                out.session_id = fwd.new_session.initialize.session_id
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                etype = element.WhichOneof("type")
                if etype == "exception":
                    out.exceptions.append(f"{element.exception.type}: {element.exception.message}")
                elif etype == "alert":
                    out.alerts.append((element.alert.format, element.alert.body))
                elif etype == "markdown":
                    out.texts.append(element.markdown.body)
                elif etype is not None:
                    proto = getattr(element, etype)
                    wid = getattr(proto, "id", "") if hasattr(proto, "DESCRIPTOR") and \
                        "id" in proto.DESCRIPTOR.fields_by_name else ""
                    if wid.startswith("$$ID-"):
                        out.widgets[wid.split("-", 2)[-1]] = (etype, proto)
            elif kind == "page_info_changed":
                out.query_string = fwd.page_info_changed.query_string
            elif kind == "session_event" and fwd.session_event.HasField("script_compilation_exception"):
                out.exceptions.append("compile: " + fwd.session_event.script_compilation_exception.message)
            elif kind == "script_finished":
                if fwd.script_finished == FINISHED_EARLY:
                    continue
                out.status = fwd.script_finished
                return

    @staticmethod
    def _state(key: str, kind: str, proto, value) -> WidgetState:
        state = WidgetState(id=proto.id)
        if kind == "slider":
            state.double_array_value.data.append(float(value))
        elif kind == "number_input":
            if proto.data_type == proto.INT:
                state.int_value = int(value)
            else:
                state.double_value = float(value)
        elif kind in ("text_input", "text_area", "selectbox"):
            state.string_value = str(value)
        elif kind == "button":
            state.trigger_value = True
        elif kind == "checkbox":
            state.bool_value = bool(value)
        else:
            raise ValueError(f"cannot set a {kind} ({key})")
        return state

    async def _case(self, case: Case) -> None:
        record = self.stats.by_case[case.name]
        record["runs"] += 1
        self.stats.requests += 1
        start = time.monotonic()
        refused, busy, note, last_exceptions = False, False, "", []
        if case.http:
            try:
                status, _ = await asyncio.to_thread(self._http, "GET", case.http)
            except (OSError, http.client.HTTPException) as e:
                self.fail(case, "connection", f"GET with a {len(case.http):,}-character URL: "
                                              f"{type(e).__name__}: {e}")
                return
            note = f"HTTP {status}"
            refused = 400 <= status < 500
            if status >= 500:
                self.fail(case, "http", f"GET answered {status}")
        else:
            ws_url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
            headers = {"Cookie": self.cookie} if self.cookie else None
            runs: list[Outcome] = []
            async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                          additional_headers=headers, open_timeout=self.timeout) as ws:
                first = Outcome()
                query = case.query + (f"&seed={random.randrange(1, 2**31 - 1)}" if case.fresh else "")
                await self._exchange(ws, case.page, query, [], first)
                runs.append(first)
                last, states = first, []
                for key, value in case.widgets:
                    if key not in last.widgets:
                        if case.expect == "run" or not any(f == Alert.ERROR for f, _ in last.alerts):
                            self.fail(case, "setup", f"no widget {key!r} on /{case.page}")
                        break
                    states.append(self._state(key, *last.widgets[key], value))
                else:
                    if states:
                        last = Outcome()
                        await self._exchange(ws, case.page, first.query_string, states, last)
                        runs.append(last)
                upload_states = []
                for upload in case.uploads:
                    key, name, payload = upload[:3]
                    if key not in last.widgets:
                        self.fail(case, "setup", f"no uploader {key!r} on /{case.page}")
                        break
                    data = self.payloads[payload]
                    file_id = os.urandom(16).hex()
                    self.stats.uploads += 1
                    try:
                        status = await asyncio.to_thread(self._put, first.session_id, file_id, name,
                                                         data, "chunked" in upload[3:])
                    except (OSError, http.client.HTTPException) as e:
                        self.fail(case, "connection", f"upload: {type(e).__name__}: {e}")
                        break
                    if status >= 500:
                        self.fail(case, "http", f"upload answered {status}")
                    elif status >= 400:
                        refused = True
                        note = f"upload: HTTP {status}"
                    else:
                        state = WidgetState(id=last.widgets[key][1].id)
                        info = state.file_uploader_state_value.uploaded_file_info.add()
                        info.file_id, info.name, info.size = file_id, name, len(data)
                        upload_states.append(state)
                if upload_states:
                    last = Outcome()
                    await self._exchange(ws, case.page, first.query_string, upload_states, last)
                    runs.append(last)
            for run in runs:
                for text in run.exceptions:
                    self.fail(case, "exception", text)
                if run.status not in (None, FINISHED_OK):
                    self.fail(case, "run", f"script finished with status {run.status}")
                for fmt, body in run.alerts:
                    if fmt == Alert.ERROR and body.startswith(UNEXPECTED):
                        self.fail(case, "unexpected error", body)
                for body in [b for _, b in run.alerts] + run.texts:
                    if f"://{MARKER_HOST}" in body or re.search(r"(?<!\\)\]\((?!\\)", body) \
                            and MARKER_HOST in body:
                        self.fail(case, "live markdown", body)
            last_exceptions = last.exceptions
            messages = ([b for f, b in last.alerts if f == Alert.ERROR]
                        + [b for f, b in last.alerts if f == Alert.WARNING])
            if messages:
                busy = any(BUSY in m for m in messages)
                note = (note + " / " if note else "") + messages[0][:240]
                refused = True
        elapsed = time.monotonic() - start
        record["max_s"] = round(max(record["max_s"], elapsed), 2)
        record["message"] = note
        if refused:
            self.stats.refusals += 1
            record["refused"] += 1
            if busy:
                self.stats.busy += 1
                record["busy"] += 1
        else:
            self.stats.accepted += 1
        if case.expect == "refuse" and not refused and not last_exceptions:
            self.fail(case, "not refused", "ran without an error or warning in the page")
        if case.expect == "run" and refused and not busy:
            self.fail(case, "refused within budget", note)

    async def run(self, deadline: float) -> None:
        try:
            await asyncio.to_thread(self._login)
        except (OSError, http.client.HTTPException) as e:
            self.stats.failures.append((self.n, "-", "connection", f"{type(e).__name__}: {e}"))
            return
        i = 0
        while time.monotonic() < deadline:  # its cases, round and round
            case = self.cases[i % len(self.cases)]
            i += 1
            try:
                await asyncio.wait_for(self._case(case), self.timeout)
            except asyncio.TimeoutError:
                self.fail(case, "timeout", f"no finished run within {self.timeout:.0f} s")
                self.stats.by_case[case.name]["max_s"] = self.timeout
            except (OSError, websockets.WebSocketException) as e:
                self.fail(case, "connection", f"{type(e).__name__}: {e}")
            await asyncio.sleep(0.05)


def canary_path() -> Path:
    return Path("/tmp") / f"rleaky-viz-canary-{os.getpid()}-{os.urandom(4).hex()}"


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
    hwm_before = total_rss(pids, "VmHWM")
    cpu_before = [cpu_seconds(p) for p in pids]
    starts_before = [start_time(p) for p in pids]

    rss_samples: list[int] = []

    async def sample_rss(stop: asyncio.Event):
        while not stop.is_set():
            value = total_rss(pids)
            if value is not None:
                rss_samples.append(value)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass

    started = time.monotonic()
    deadline = started + args.seconds
    ramp = min(5.0, args.seconds / 4)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(stop))

    ends: list[float] = []  # when each ordinary session stopped (hostile ones may run on)

    async def delayed(session: Session, delay: float):
        await asyncio.sleep(delay)
        try:
            await session.run(deadline, (args.think_min, args.think_max))
        finally:
            ends.append(time.monotonic())

    sessions = [Session(i, base_url, pages[i % len(pages)], stats, random.Random(rng.random()),
                        args.timeout) for i in range(args.sessions)]
    tasks = [asyncio.create_task(delayed(s, ramp * i / max(1, args.sessions))) for i, s in enumerate(sessions)]
    hostile_tasks = []
    cases = args.cases
    hostile = HostileStats(by_case={c.name: {"runs": 0, "refused": 0, "busy": 0, "failed": 0,
                                             "max_s": 0.0} for c in cases})

    async def delayed_hostile(session: HostileSession, delay: float):
        await asyncio.sleep(delay)
        await session.run(deadline)

    for k, lane in enumerate(hostile_lanes(cases, args.hostile)):
        session = HostileSession(k, base_url, lane, args.payloads, hostile, args.hostile_timeout)
        hostile_tasks.append(asyncio.create_task(
            delayed_hostile(session, ramp * (k + 0.5) / args.hostile)))
    # hard stop: the deadline plus one run's timeout, then everything is cancelled
    done, pending = await asyncio.wait(
        tasks + hostile_tasks, timeout=args.seconds + max(args.timeout, args.hostile_timeout) + 30)
    for task in pending:
        task.cancel()
        if task in hostile_tasks:
            hostile.failures.append((-1, "-", "cancelled", "hostile session busy at the hard deadline"))
        else:
            stats.errors.append((-1, "cancelled", "session still busy at the hard deadline"))
    elapsed = (max(ends) if len(ends) == len(tasks) else time.monotonic()) - started
    elapsed_all = time.monotonic() - started
    rss_loaded = total_rss(pids)  # sessions have closed their sockets just now
    stop.set()
    await sampler
    await asyncio.sleep(3)
    rss_after = total_rss(pids)
    hwm = total_rss(pids, "VmHWM")
    peak_sampled = max(rss_samples) if rss_samples else None
    peak = max(v for v in (hwm, peak_sampled, rss_loaded, rss_after) if v is not None) \
        if any(v is not None for v in (hwm, peak_sampled)) else None
    starts_after = [start_time(p) for p in pids]
    healthy = health_ok(base_url)
    same = all(b is not None and a == b for a, b in zip(starts_after, starts_before))
    canary = args.canary.exists()
    if canary:
        args.canary.unlink()
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
        "elapsed_with_hostile_s": round(elapsed_all, 1),
        "sessions_started": stats.sessions_started, "sessions_finished": stats.sessions_finished,
        "reruns": stats.reruns, "reruns_per_s": round(stats.reruns / elapsed, 2) if elapsed else None,
        "errors": len(stats.errors), "errors_by_kind": kinds, "first_errors": stats.errors[:10],
        "rerun_latency_ms": {"p50": ms(percentile(stats.latencies, 50)),
                             "p95": ms(percentile(stats.latencies, 95)),
                             "max": ms(max(stats.latencies) if stats.latencies else None),
                             "mean": ms(statistics.fmean(stats.latencies) if stats.latencies else None)},
        "page_load_ms": {"p50": ms(percentile(stats.loads, 50)), "p95": ms(percentile(stats.loads, 95))},
        "server_pids": pids,
        "server_rss_mb": {"before": mb(rss_before), "peak_during": mb(peak_sampled),
                          "end_of_run": mb(rss_loaded), "after_3s": mb(rss_after),
                          "hwm_before": mb(hwm_before), "hwm": mb(hwm), "peak": mb(peak)},
        "memory_cap_mb": args.memory_cap_mb,
        "over_memory_cap": peak is not None and peak > args.memory_cap_mb * 2**20,
        "server": {"same_process_alive": same if pids else None, "health_ok": healthy,
                   "restarted": (not same if pids else False) or not healthy},
        "hostile": None if not args.hostile else {
            "sessions": args.hostile, "cases": len(cases), "requests": hostile.requests,
            "uploads": hostile.uploads, "refusals": hostile.refusals, "busy": hostile.busy,
            "accepted": hostile.accepted, "failures": len(hostile.failures),
            "failures_by_kind": _count(k for _, _, k, _ in hostile.failures),
            "failed_cases": {name: sorted({k for _, c, k, _ in hostile.failures if c == name})
                             for name in dict.fromkeys(c for _, c, _, _ in hostile.failures)},
            "first_failures": list({(c, k): (n, c, k, d) for n, c, k, d in hostile.failures}.values())[:20],
            "cases_not_reached": [n for n, r in hostile.by_case.items() if not r["runs"]],
            "canary_written": canary, "by_case": hostile.by_case},
        "server_cpu_s": round(server_cpu, 1) if server_cpu is not None else None,
        "server_cpu_s_by_pid": cpu_by_pid,
        "server_rss_mb_by_pid": [mb(proc_status(p, "VmRSS")) for p in pids],
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
    }


def _count(kinds) -> dict:
    out: dict[str, int] = {}
    for kind in kinds:
        out[kind] = out.get(kind, 0) + 1
    return out


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
    p.add_argument("--hostile", type=int, default=0, metavar="K",
                   help=f"K more sessions sending hostile links and uploads (0..{MAX_HOSTILE}; default 0)")
    p.add_argument("--hostile-cases", default="all",
                   help="all (default), light (skip the slow largest-config runs), heavy (only those), "
                        "or names/prefixes, comma-separated")
    p.add_argument("--hostile-timeout", type=float, default=120,
                   help="longest wait for a hostile request (s); longer is a failure (default 120)")
    p.add_argument("--list-hostile", action="store_true", help="list the hostile requests and stop")
    p.add_argument("--memory-cap-mb", type=float, default=3072,
                   help="fail when the server's peak memory (VmHWM) goes over this (default 3072)")
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
    if not 0 <= args.hostile <= MAX_HOSTILE:
        p.error(f"--hostile must be 0..{MAX_HOSTILE}")
    if not 1 <= args.hostile_timeout <= 600:
        p.error("--hostile-timeout must be 1..600")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.canary = canary_path()
    args.cases = select_cases(hostile_cases(str(args.canary)), args.hostile_cases)
    if args.list_hostile:
        for case in args.cases:
            what = case.http[:80] if case.http else f"/{case.page}?{case.query[:100]}"
            extra = "".join(f" +{k}={str(v)[:30]}" for k, v in case.widgets) + "".join(
                f" +upload {u[2]} as {u[1]!r}" for u in case.uploads)
            print(f"{case.name:55} {case.expect:7} {what}{extra}")
        return 0
    args.payloads = build_payloads(str(args.canary)) if args.hostile else {}
    proc, log = None, None
    try:
        if args.url:
            base_url = args.url.rstrip("/")
            check_loopback(base_url)
            pids = args.server_pid or listening_pids(urlsplit(base_url).port or 80)
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
    result["server_log_exceptions"] = log_exceptions(log) if log is not None else None
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
    print(f"server memory peak {rss['peak']} MB (VmHWM {rss['hwm']} MB; cap {args.memory_cap_mb:g} MB"
          f"{', OVER THE CAP' if result['over_memory_cap'] else ''}); "
          f"{'RESTARTED OR UNHEALTHY' if result['server']['restarted'] else 'same process alive, health ok'}")
    for text, count in (result["server_log_exceptions"] or {}).items():
        print(f"server log: {count} x {text}")
    h = result["hostile"]
    if h:
        print(f"hostile: {h['sessions']} sessions, {h['requests']} requests ({h['uploads']} uploads) "
              f"over {h['cases']} cases, {h['refusals']} refusals ({h['busy']} 'server is busy'), "
              f"{h['accepted']} ran, {h['failures']} failures {h['failures_by_kind'] or ''}"
              f"{'; CANARY WRITTEN' if h['canary_written'] else ''}")
        if h["cases_not_reached"]:
            print(f"  {len(h['cases_not_reached'])} cases not reached before the deadline")
        for failure in h["first_failures"]:
            print("  hostile failure:", failure)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    ok = result["errors"] == 0 and result["reruns"] > 0 and not result["over_memory_cap"] \
        and not result["server"]["restarted"] and not (h and (h["failures"] or h["canary_written"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
