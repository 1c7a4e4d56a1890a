#!/usr/bin/env python
"""GPU check: the core against snnTorch on CUDA, the app's device path, and CPU vs GPU timings.

Run from the repository root, in a venv with the project and its test extra
(snnTorch is the oracle)::

    python benchmarks/gpu_check.py                        # everything (~1 min on a GPU machine)
    python benchmarks/gpu_check.py --quick                # short sequences, tiny workloads (~15 s)
    python benchmarks/gpu_check.py --require-cuda --json gpu_check.json

With a CUDA device the app does not take the fast engine (numpy, CPU only):
``core.unroll`` runs its step loop there.  This script checks that path:

1. **Parity** for every recurrence (none, one-to-one, linear, conv2d) x reset
   mechanism (subtract, zero, none) x ``reset_delay`` (True, False): the
   same neuron built in both libraries (snnTorch's weights loaded into ours),
   the same input, a loss on spikes and membranes, backward through the
   surrogate.  On the CPU: ours (fast engine, and the step loop) against
   snnTorch on the CPU.  On CUDA: ours against snnTorch *on CUDA* (both use
   the same CUDA kernels, so the same tolerances hold), and the engine that
   ran must be the step loop; ours on CUDA against ours on the CPU is reported
   (float results may differ in the last bits: cuBLAS and cuDNN sum in other
   orders, and cuDNN convolutions use TF32 by default), not failed.
   Tolerances (as the parity suite and bench_core.py): spikes equal exactly;
   membranes within 1e-5 (absolute); the input gradient within
   1e-5 + 1e-5*|ref| element by element; each parameter gradient within
   1e-5 + 1e-4*max|ref|.
2. **The app's device path**: ``service.run`` (the one way a page starts a
   run) and ``service.run_flow`` with ``device="cuda"`` run on CUDA, through
   the step loop, and give the CPU run's spikes (a spike may differ only
   where the CPU membrane lies within 1e-4 of θ: rounding decides there).
   Without CUDA: the run falls back to the CPU with its notice, on the fast
   engine.
3. **Timing**, CPU and GPU in one run: the sweep of bench_sweep.py (32 x 32
   grid x 1,000 steps, one batch), the linear population rows of
   bench_core.py (100 neurons x 1,000 steps, batch 1 and 32, forward and
   forward+backward) and the Population page at its largest (1,000 linear
   neurons x 10,000 steps through ``service.run``).  Median and best of
   ``--repeats`` timed calls after warm-up, and the ratio CPU/GPU.

Without a CUDA device it prints "no CUDA device: GPU part skipped", runs the
CPU parts, and exits 0 when they pass (``--require-cuda`` exits 2 instead).
Exit status 1 on any failed check (an exception on the GPU path, in a check or
a timed workload, is recorded with its place and counts as a failure, so one
run on a GPU machine brings back everything).  ``--json PATH`` writes it all
as JSON, after each part.  No timed workload starts after ``--max-seconds``
(180): those are reported as skipped.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import statistics
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

# `python benchmarks/gpu_check.py` from a checkout works without installing the package too
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# snnTorch's warnings (deprecations, inhibition) are noise here.
warnings.filterwarnings("ignore", module=r"snntorch(\..*)?$")

import torch  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import snntorch  # noqa: E402

from rleaky_viz import SimConfig, get_preset, service  # noqa: E402
from rleaky_viz.core import RLeaky, unroll  # noqa: E402
from rleaky_viz.sweeps import sweep, value_range  # noqa: E402

# the module, not the function of the same name that rleaky_viz.core exports
UNROLL = importlib.import_module("rleaky_viz.core.unroll")

MEM_ATOL = 1e-5
INPUT_GRAD_ATOL, INPUT_GRAD_RTOL = 1e-5, 1e-5
PARAM_GRAD_ATOL, PARAM_GRAD_RTOL = 1e-5, 1e-4   # relative to the largest magnitude
FLIP_TOL = 1e-4   # a spike may differ across devices only where |U - θ| is below this

RESETS = ("subtract", "zero", "none")
# name -> (constructor arguments of both libraries, shape of one step's input)
RECURRENCES = {
    # SimConfig's recurrence="none" (simulate.build_neuron): one-to-one with V fixed at 0
    "none": (dict(all_to_all=False, V=0.0, learn_recurrent=False), (4, 16)),
    "one_to_one": (dict(all_to_all=False, V=0.4), (4, 16)),
    "linear": (dict(linear_features=16), (4, 16)),
    "conv2d": (dict(conv2d_channels=2, kernel_size=3), (2, 2, 8, 8)),
}


def cuda_state() -> tuple[bool, str]:
    """Whether CUDA can be used, and why not."""
    if torch.version.cuda is None:
        return False, (f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is "
                       "None; the Makefile installs the CPU wheel of constraints.txt): install a "
                       "CUDA build of torch to run the GPU part")
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return True, ""


def gpu_info() -> dict:
    """The device and the settings that decide its float results (started before any timing)."""
    torch.zeros(1, device="cuda")  # the context
    props = torch.cuda.get_device_properties(0)
    return dict(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=props.total_memory / 2**30,
                cudnn=torch.backends.cudnn.version(),
                matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def error_text(e: BaseException) -> str:
    """An exception in one line, with the innermost frames of its traceback (for a remote run's JSON)."""
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if "rleaky_viz" in f.filename or f.filename == __file__]
    picked = frames[-2:][::-1] + [f for f in ours[-1:] if f not in frames[-2:]]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in picked)
    return f"{type(e).__name__}: {e} (at {where})"


@contextmanager
def engines_used():
    """The loops ``core.unroll`` ran inside the block: "fast" (the numpy engine) or "step"."""
    used: list[str] = []
    eng = UNROLL._engine
    fast, step = eng.run_sequence, UNROLL._step_loop

    def fast_logged(*a, **k):
        used.append("fast")
        return fast(*a, **k)

    def step_logged(*a, **k):
        used.append("step")
        return step(*a, **k)

    eng.run_sequence, UNROLL._step_loop = fast_logged, step_logged
    try:
        yield used
    finally:
        eng.run_sequence, UNROLL._step_loop = fast, step


# ----------------------------------------------------------------------------- parity
def build_pair(kwargs: dict, reset: str, delay: bool, seed: int):
    """snnTorch's RLeaky and ours, same arguments, same weights (built on the CPU)."""
    args = dict(beta=0.8, reset_mechanism=reset, reset_delay=delay, learn_beta=True,
                learn_threshold=True, **kwargs)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = snntorch.RLeaky(**args)
    ours = RLeaky(**args)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def to_device(ref, ours, device):
    ref, ours = ref.to(device), ours.to(device)
    if not ref.all_to_all and not isinstance(ref.V, torch.nn.Parameter):
        # snnTorch's RecurrentOneToOne keeps V as a plain attribute: .to() moves the
        # buffer, not that reference (a 0-d V still works as a scalar, a per-neuron one not)
        ref.recurrent.V = ref.V
    return ref, ours


# snnTorch's layer stepped from init_rleaky(), as the parity suite steps it
from tests._oracle import run_steps as run_snntorch  # noqa: E402


def forward_and_grads(layer, run, x, w1, w2):
    """Spikes, membranes and the gradients of (mem*w1).sum() + (spk*w2).sum(), all on the CPU."""
    x = x.detach().clone().requires_grad_(True)
    spk, mem = run(layer, x)
    loss = (mem * w1).sum() + (spk * w2).sum()
    named = {n: p for n, p in layer.named_parameters() if p.requires_grad}
    grads = torch.autograd.grad(loss, [x, *named.values()], allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, [x, *named.values()])]
    cpu = lambda t: t.detach().to("cpu", torch.float64)  # noqa: E731
    return cpu(spk), cpu(mem), {"input": cpu(grads[0]), **{n: cpu(g) for n, g in zip(named, grads[1:])}}


@dataclass
class Comparison:
    spikes_equal: bool
    spike_mismatches: int
    first_mismatch_step: Optional[int]
    mem_max_abs_diff: float
    grad_max_abs_diff: dict
    grad_ok: dict

    @property
    def passed(self) -> bool:
        return self.spikes_equal and self.mem_max_abs_diff <= MEM_ATOL and all(self.grad_ok.values())


def compare(ours, ref) -> Comparison:
    o_spk, o_mem, o_g = ours
    r_spk, r_mem, r_g = ref
    diff = (o_spk != r_spk)
    steps = torch.nonzero(diff.reshape(diff.shape[0], -1).any(1)).reshape(-1)
    g_abs, g_ok = {}, {}
    for name, r in r_g.items():
        o = o_g.get(name)
        if o is None or o.shape != r.shape:
            g_abs[name], g_ok[name] = float("inf"), False
            continue
        d = (o - r).abs()
        g_abs[name] = float(d.max()) if d.numel() else 0.0
        finite = bool(torch.isfinite(o).all() and torch.isfinite(r).all())
        if name == "input":
            ok = bool((d <= INPUT_GRAD_ATOL + INPUT_GRAD_RTOL * r.abs()).all())
        else:
            ok = g_abs[name] <= PARAM_GRAD_ATOL + PARAM_GRAD_RTOL * float(r.abs().max())
        g_ok[name] = finite and ok
    return Comparison(spikes_equal=not bool(diff.any()), spike_mismatches=int(diff.sum()),
                      first_mismatch_step=int(steps[0]) if len(steps) else None,
                      mem_max_abs_diff=float((o_mem - r_mem).abs().max()),
                      grad_max_abs_diff=g_abs, grad_ok=g_ok)


@dataclass
class ParityRow:
    recurrence: str
    reset_mechanism: str
    reset_delay: bool
    device: str
    against: str                 # what "ours" was compared with
    engine_asked: str
    engines_ran: list
    spike_fraction: float        # of the reference's neuron-steps (the input must be non-trivial)
    comparison: dict
    passed: bool
    strict: bool = True          # False: reported, not failed (ours CUDA vs ours CPU)
    notes: list = field(default_factory=list)


def parity_case(name: str, reset: str, delay: bool, steps: int, seed: int, device: str,
                cpu_out: Optional[dict] = None) -> tuple[list[ParityRow], dict]:
    """Ours against snnTorch on ``device`` for one setting; on CUDA also ours against ours on the CPU."""
    kwargs, shape = RECURRENCES[name]
    ref, ours = to_device(*build_pair(kwargs, reset, delay, seed), device)
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn((steps, *shape), generator=g) * 0.8 + 0.3)
    w1, w2 = torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g)
    x, w1, w2 = x.to(device), w1.to(device), w2.to(device)
    r = forward_and_grads(ref, run_snntorch, x, w1, w2)
    frac = float(r[0].mean())
    rows, outs = [], {}
    engines = ("auto", "step") if device == "cpu" else ("auto",)
    for engine in engines:
        with engines_used() as used:
            o = forward_and_grads(ours, lambda layer, xx: tuple(unroll(layer, xx, engine=engine)), x, w1, w2)
        outs[engine] = o
        c = compare(o, r)
        notes = []
        want = "fast" if (device == "cpu" and engine == "auto") else "step"
        if set(used) != {want}:
            notes.append(f"expected the {want} loop, ran {sorted(set(used))}")
        if not 0.0 < frac < 1.0:
            notes.append(f"trivial input: the reference spikes at {frac:.0%} of neuron-steps")
        rows.append(ParityRow(name, reset, delay, device, f"snntorch on {device}", engine,
                              sorted(set(used)), frac, _json_comparison(c),
                              c.passed and not notes, notes=notes))
    if cpu_out is not None:  # ours on CUDA vs ours on the CPU: reported
        c = compare(outs["auto"], cpu_out)
        rows.append(ParityRow(name, reset, delay, device, "ours on cpu (fast engine)", "auto",
                              rows[0].engines_ran, frac, _json_comparison(c), c.passed,
                              strict=False))
    snntorch.SpikingNeuron.instances.clear()  # its class-level registry keeps every neuron
    return rows, outs


def _json_comparison(c: Comparison) -> dict:
    d = asdict(c)
    d["passed"] = c.passed
    return d


def run_parity(steps: int, seed: int, cuda: bool) -> list[ParityRow]:
    rows = []
    settings = [(n, r, d) for n in RECURRENCES for r in RESETS for d in (True, False)]
    for i, (name, reset, delay) in enumerate(settings):
        case_seed = seed + i  # the same inputs and weights with or without CUDA
        new, cpu_outs = parity_case(name, reset, delay, steps, case_seed, "cpu")
        if cuda:
            try:
                new += parity_case(name, reset, delay, steps, case_seed, "cuda",
                                   cpu_out=cpu_outs["auto"])[0]
            except Exception as e:  # the path under test never ran on a GPU before
                snntorch.SpikingNeuron.instances.clear()
                new.append(ParityRow(name, reset, delay, "cuda", "snntorch on cuda", "auto",
                                     [], float("nan"), {}, False, notes=[error_text(e)]))
        for row in new:
            print_parity(row)
        rows += new
    return rows


def print_parity(row: ParityRow) -> None:
    c = row.comparison
    if not c:  # it raised
        print(f"[FAIL] {row.recurrence:<10} {row.reset_mechanism:<8} delay={str(row.reset_delay):<5} "
              f"{row.device:<4}: {'; '.join(row.notes)}", flush=True)
        return
    grads = ", ".join(f"{k} {v:.1e}" for k, v in c["grad_max_abs_diff"].items())
    tag = ("PASS" if row.passed else "FAIL") if row.strict else ("same" if row.passed else "info")
    print(f"[{tag}] {row.recurrence:<10} {row.reset_mechanism:<8} delay={str(row.reset_delay):<5} "
          f"{row.device:<4} {row.engine_asked}->{'/'.join(row.engines_ran) or '-'} vs {row.against}: "
          f"spikes {'equal' if c['spikes_equal'] else str(c['spike_mismatches']) + ' differ from step ' + str(c['first_mismatch_step'])}"
          f" ({row.spike_fraction:.0%}), mem {c['mem_max_abs_diff']:.1e}, grads max|diff| {grads}"
          + "".join(f"; {n}" for n in row.notes), flush=True)


# ----------------------------------------------------------------------------- the app's path
SERVICE_CONFIGS = {
    # a preset of each recurrence the pages run, and the conv grid's
    "tonic (none)": get_preset("tonic").config,
    "runaway (one-to-one)": get_preset("runaway_v_equals_threshold").config,
    "recurrent_bias (linear)": get_preset("recurrent_bias").config,
    "conv grid (conv2d)": SimConfig(recurrence="conv2d", grid_size=16, num_steps=100,
                                    stimulus="noise", amplitude=0.3, noise_std=0.2),
}


def spikes_agree(a, b, decision, threshold) -> tuple[bool, str]:
    """Equal spikes, or a first difference where the membrane lies within FLIP_TOL of θ."""
    diff = a != b
    if not bool(diff.any()):
        return True, "equal"
    t0 = int(torch.nonzero(diff.reshape(diff.shape[0], -1).any(1))[0])
    gap = float((decision[t0][diff[t0]] - threshold).abs().min())
    if gap < FLIP_TOL:
        return True, (f"{int(diff.sum())} differ, from step {t0}, where U is {gap:.1e} from θ "
                      "(rounding decides there)")
    return False, f"{int(diff.sum())} differ, from step {t0}, where U is {gap:.1e} from θ"


def run_service_checks(cuda: bool) -> list[dict]:
    rows = []
    for label, base in SERVICE_CONFIGS.items():
        try:
            rows.append(service_case(label, base, cuda))
        except Exception as e:
            rows.append(dict(config=label, passed=False, notes=[error_text(e)]))
            print(f"[FAIL] service.run {label}: {error_text(e)}", flush=True)
    try:
        rows.append(flow_case(cuda))
    except Exception as e:
        rows.append(dict(config="tonic, gradient flow (service.run_flow)", passed=False,
                         notes=[error_text(e)]))
        print(f"[FAIL] service.run_flow tonic: {error_text(e)}", flush=True)
    want = "cuda" if cuda else "cpu"
    try:
        auto = service.run(get_preset("tonic").config.replace(device="auto"))
        ok, got = auto.device.startswith(want) and not auto.notices, f"{auto.device} {auto.notices}"
    except Exception as e:
        ok, got = False, error_text(e)
    rows.append(dict(config="tonic, device='auto'", device=got, passed=ok,
                     notes=[] if ok else [f"expected {want}, got {got}"]))
    print(f"[{'PASS' if ok else 'FAIL'}] service.run tonic, device='auto' -> {got} "
          f"(expected {want})", flush=True)
    return rows


def service_case(label: str, base: SimConfig, cuda: bool) -> dict:
    with engines_used() as cpu_used:
        cpu = service.run(base.replace(device="cpu"))
    with engines_used() as dev_used:
        dev = service.run(base.replace(device="cuda"))
    notes = []
    if set(cpu_used) != {"fast"}:
        notes.append(f"CPU run: expected the fast engine, ran {sorted(set(cpu_used))}")
    if cuda:
        if not dev.device.startswith("cuda"):
            notes.append(f"device='cuda' ran on {dev.device}")
        if set(dev_used) != {"step"}:
            notes.append(f"CUDA run: expected the step loop, ran {sorted(set(dev_used))}")
        if dev.notices:
            notes.append(f"unexpected notice: {dev.notices}")
    else:
        if dev.device != "cpu" or not any("CUDA was asked for" in n for n in dev.notices):
            notes.append(f"no CUDA: expected a CPU run with the fallback notice, got "
                         f"{dev.device} {dev.notices}")
        if set(dev_used) != {"fast"}:
            notes.append(f"fallback run: expected the fast engine, ran {sorted(set(dev_used))}")
    ok, how = spikes_agree(dev.spk, cpu.spk, cpu.decision, base.threshold)
    if not ok:
        notes.append("spikes: " + how)
    mem_diff = float((dev.mem - cpu.mem).abs().max())
    row = dict(config=label, device=dev.device, engines_cpu=sorted(set(cpu_used)),
               engines_device=sorted(set(dev_used)), notices=list(dev.notices),
               spikes=how, spike_count=int(cpu.spk.sum()), mem_max_abs_diff=mem_diff,
               passed=not notes, notes=notes)
    print(f"[{'PASS' if row['passed'] else 'FAIL'}] service.run {label}, device='cuda' -> "
          f"{dev.device} on the {'/'.join(row['engines_device'])} loop: spikes {how} "
          f"({row['spike_count']} on the CPU), mem max|diff| {mem_diff:.1e}"
          + "".join(f"; {n}" for n in notes), flush=True)
    return row


def flow_case(cuda: bool) -> dict:
    """The Gradient flow page's path: service.run_flow with device='cuda'."""
    base = get_preset("tonic").config.replace(learn_beta=True, learn_threshold=True)
    cpu_flow = service.run_flow(base.replace(device="cpu"))
    with engines_used() as used:
        dev_flow = service.run_flow(base.replace(device="cuda"))
    d = float((dev_flow.dL_dmem - cpu_flow.dL_dmem).abs().max())
    scale = float(cpu_flow.dL_dmem.abs().max())
    notes = []
    if cuda and ("step" not in used or "fast" in used):
        notes.append(f"expected the step loop, ran {sorted(set(used))}")
    if cuda and not str(dev_flow.trace.device).startswith("cuda"):
        notes.append(f"device='cuda' ran on {dev_flow.trace.device}")
    if abs(dev_flow.loss - cpu_flow.loss) > 1e-4 * max(1.0, abs(cpu_flow.loss)):
        notes.append(f"loss {dev_flow.loss} vs {cpu_flow.loss} on the CPU")
    if d > PARAM_GRAD_ATOL + PARAM_GRAD_RTOL * scale:
        notes.append(f"dL/dU max|diff| {d:.1e} (largest {scale:.1e})")
    row = dict(config="tonic, gradient flow (service.run_flow)", device=str(dev_flow.trace.device),
               engines_device=sorted(set(used)), loss=dev_flow.loss, loss_cpu=cpu_flow.loss,
               dL_dmem_max_abs_diff=d, passed=not notes, notes=notes)
    print(f"[{'PASS' if row['passed'] else 'FAIL'}] service.run_flow tonic, device='cuda' -> "
          f"{row['device']}: loss {dev_flow.loss:g} (CPU {cpu_flow.loss:g}), dL/dU max|diff| {d:.1e}"
          + "".join(f"; {n}" for n in notes), flush=True)
    return row


# ----------------------------------------------------------------------------- timing
@dataclass
class Workload:
    key: str
    label: str
    modes: tuple
    make: object  # (device, mode) -> a zero-argument callable that runs the workload once


def _unroll_workload(features: int, batch: int, steps: int):
    def make(device, mode):
        torch.manual_seed(0)
        layer = RLeaky(beta=0.8, linear_features=features)
        with torch.no_grad():
            layer.recurrent.weight.mul_(0.5)  # as bench_core.py: BPTT stays finite over 1,000 steps
        layer = layer.to(device)
        x = (torch.rand(steps, batch, features) * 0.6).to(device)
        if mode == "fwd":
            def run():
                with torch.no_grad():
                    unroll(layer, x)
        else:
            xg = x.clone().requires_grad_(True)

            def run():
                xg.grad = None
                for p in layer.parameters():
                    p.grad = None
                spk, mem = unroll(layer, xg)
                (mem.sum() + spk.sum()).backward()
        return run
    return make


def _sweep_workload(size: int, steps: int):
    def make(device, mode):
        base = SimConfig(recurrence="one_to_one", V=0.5, stimulus="constant", num_steps=steps,
                         device=device)
        grid = {"beta": value_range(0.5, 1.0, size), "amplitude": value_range(0.0, 1.0, size)}
        return lambda: sweep(base, grid)
    return make


def _population_workload(neurons: int, steps: int):
    def make(device, mode):
        cfg = SimConfig(recurrence="linear", num_neurons=neurons, num_steps=steps, device=device)
        return lambda: service.run(cfg)
    return make


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [Workload("sweep", "sweep 4 x 4 grid, one-to-one, T=50", ("fwd",), _sweep_workload(4, 50)),
                Workload("b", "linear 16, T=50, B=1", ("fwd", "fwd+bwd"), _unroll_workload(16, 1, 50)),
                Workload("population", "service.run 20 linear neurons, T=100", ("fwd",),
                         _population_workload(20, 100))]
    return [Workload("sweep", "bench_sweep: 32 x 32 grid, one-to-one, T=1000, one batch", ("fwd",),
                     _sweep_workload(32, 1000)),
            Workload("b", "bench_core b: linear 100, T=1000, B=1", ("fwd", "fwd+bwd"),
                     _unroll_workload(100, 1, 1000)),
            Workload("b32", "bench_core b32: linear 100, T=1000, B=32", ("fwd", "fwd+bwd"),
                     _unroll_workload(100, 32, 1000)),
            Workload("population", "Population page: service.run 1,000 linear neurons, T=10,000",
                     ("fwd",), _population_workload(1000, 10_000))]


def time_calls(run, device, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        run()
    sync(device)
    times = []
    for _ in range(repeats):
        gc.collect()
        sync(device)
        t0 = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def run_timing(quick: bool, cuda: bool, repeats: int, warmup: int, deadline: float) -> list[dict]:
    rows = []
    devices = ("cpu", "cuda") if cuda else ("cpu",)
    for w in workloads(quick):
        for mode in w.modes:
            row = dict(key=w.key, workload=w.label, mode=mode)
            for device in devices:
                if time.perf_counter() > deadline:  # keep the whole run inside --max-seconds
                    row[device] = dict(median_ms=float("nan"), best_ms=float("nan"),
                                       skipped="over --max-seconds")
                    continue
                try:
                    run = w.make(device, mode)
                    with engines_used() as used:
                        times = time_calls(run, device, repeats, warmup)
                    row[device] = dict(median_ms=statistics.median(times) * 1e3,
                                       best_ms=min(times) * 1e3, times_ms=[t * 1e3 for t in times],
                                       engines=sorted(set(used)))
                    if device == "cuda" and "fast" in used:  # it fell back to the CPU
                        row[device]["error"] = "the fast engine ran: this workload did not run on CUDA"
                    del run
                except Exception as e:  # a timing that fails is reported; the checks decide the status
                    row[device] = dict(median_ms=float("nan"), best_ms=float("nan"),
                                       error=error_text(e))
                gc.collect()
            if cuda:
                row["ratio_cpu_over_gpu"] = row["cpu"]["median_ms"] / row["cuda"]["median_ms"]
                row["best_ratio_cpu_over_gpu"] = row["cpu"]["best_ms"] / row["cuda"]["best_ms"]
            rows.append(row)
            print(f"  timed {w.key} {mode}: " + ", ".join(
                f"{d} " + (f"{row[d]['median_ms']:.1f} ms ({'/'.join(row[d]['engines'])})"
                           if row[d].get("engines") else "")
                + (f" ERROR {row[d]['error']}" if "error" in row[d] else "")
                + (f"skipped ({row[d]['skipped']})" if "skipped" in row[d] else "")
                for d in devices), flush=True)
    return rows


def print_timing(rows: list[dict], cuda: bool) -> None:
    headers = ["key", "mode", "CPU median ms", "CPU best ms"]
    if cuda:
        headers += ["GPU median ms", "GPU best ms", "CPU/GPU (median)", "CPU/GPU (best)"]
    table = []
    for r in rows:
        cells = [r["key"], r["mode"], f"{r['cpu']['median_ms']:.2f}", f"{r['cpu']['best_ms']:.2f}"]
        if cuda:
            cells += [f"{r['cuda']['median_ms']:.2f}", f"{r['cuda']['best_ms']:.2f}",
                      f"{r['ratio_cpu_over_gpu']:.2f}x", f"{r['best_ratio_cpu_over_gpu']:.2f}x"]
        table.append(cells)
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(wd) if i > 1 else c.ljust(wd)  # noqa: E731
                                   for i, (c, wd) in enumerate(zip(cells, widths)))
    print(line(headers))
    print(line(["-" * wd for wd in widths]))
    for t in table:
        print(line(t))
    print("ratio = CPU / GPU (above 1: the GPU is faster); CPU runs take the fast engine, GPU runs "
          "the step loop")
    for key, label in dict.fromkeys((r["key"], r["workload"]) for r in rows):
        print(f"  {key}: {label}")


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="parity over 30 steps, tiny timing workloads, 1 timed call, no warm-up")
    p.add_argument("--steps", type=int, default=None, help="parity sequence length (default 80; 30 with --quick)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per device (default 3; 1 with --quick)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 1; 0 with --quick)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads for the CPU side (default 2, as bench_core.py)")
    p.add_argument("--no-timing", action="store_true", help="checks only")
    p.add_argument("--max-seconds", type=float, default=180.0,
                   help="start no timed workload after this many seconds of the run (default 180: "
                        "the rest are reported as skipped, not failed)")
    p.add_argument("--require-cuda", action="store_true",
                   help="exit with status 2 when there is no CUDA device (for a run meant for a GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results to PATH as JSON")
    args = p.parse_args(argv)
    args.steps = args.steps or (30 if args.quick else 80)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.warmup = (0 if args.quick else 1) if args.warmup is None else args.warmup
    if args.steps < 2 or args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        p.error("--steps must be >= 2, --repeats and --threads >= 1, --warmup >= 0")
    return args


def write_json(path: Optional[str], out: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(out, f, indent=2, default=float)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    cuda, why = cuda_state()
    meta = dict(torch=torch.__version__, torch_cuda=torch.version.cuda, snntorch=snntorch.__version__,
                python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count(),
                threads=torch.get_num_threads(), quick=args.quick, steps=args.steps,
                repeats=args.repeats, warmup=args.warmup, seed=args.seed, cuda=cuda,
                tolerances=dict(mem_atol=MEM_ATOL, input_grad_atol=INPUT_GRAD_ATOL,
                                input_grad_rtol=INPUT_GRAD_RTOL, param_grad_atol=PARAM_GRAD_ATOL,
                                param_grad_rtol_of_max=PARAM_GRAD_RTOL, flip_tol=FLIP_TOL))
    # written after each part (complete=False until the end), so a run cut short still reports
    out = dict(meta=meta, parity=[], service=[], timing=[], failed=[], all_passed=None,
               gpu_ran=cuda, complete=False)
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), snntorch {snntorch.__version__}, "
          f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}")
    if cuda:
        meta.update(gpu_info())
        print(f"GPU: {meta['gpu']} ({meta['gpu_memory_gib']:.0f} GiB), cuDNN {meta['cudnn']}, "
              f"TF32 matmul {meta['matmul_allow_tf32']}, TF32 cuDNN {meta['cudnn_allow_tf32']} "
              "(torch's defaults, as the app runs)")
    else:
        print(f"no CUDA device: GPU part skipped ({why})")
        meta["gpu_skipped"] = why
        if args.require_cuda:
            print("--require-cuda: exit status 2")
            write_json(args.json, {**out, "complete": True, "exit_status": 2})
            return 2
    print()

    print(f"== parity with snnTorch ({args.steps} steps; "
          f"{'CPU and CUDA' if cuda else 'CPU only'}) ==")
    parity = run_parity(args.steps, args.seed, cuda)
    out["parity"] = [asdict(r) for r in parity]
    write_json(args.json, out)
    print("\n== the app's device path (service.run / run_flow with device='cuda') ==")
    services = out["service"] = run_service_checks(cuda)
    write_json(args.json, out)
    timing = []
    if not args.no_timing:
        print(f"\n== timing ({args.repeats} timed call(s) after {args.warmup} warm-up, "
              f"{'CPU and GPU' if cuda else 'CPU only: no GPU column'}) ==")
        timing = out["timing"] = run_timing(args.quick, cuda, args.repeats, args.warmup,
                                            started + args.max_seconds)
        print()
        print_timing(timing, cuda)
        if cuda:
            meta["gpu_peak_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20

    failed = ([f"parity {r.recurrence}/{r.reset_mechanism}/delay={r.reset_delay} on {r.device} "
               f"({r.engine_asked})" for r in parity if r.strict and not r.passed]
              + [f"service {r['config']}" for r in services if not r["passed"]]
              + [f"timing {r['key']} {r['mode']} on {d}" for r in timing for d in ("cpu", "cuda")
                 if "error" in r.get(d, {})])
    cross = [r for r in parity if not r.strict]
    elapsed = time.perf_counter() - started
    print()
    if cross:
        same = sum(r.passed for r in cross)
        print(f"ours on CUDA vs ours on the CPU (reported, not failed): {same} of {len(cross)} "
              "settings within the parity tolerances")
    skipped = [f"{r['key']} {r['mode']} on {d}" for r in timing for d in ("cpu", "cuda")
               if "skipped" in r.get(d, {})]
    if skipped:
        print(f"timings skipped (over --max-seconds {args.max_seconds:g}): {', '.join(skipped)}")
    if not cuda:
        print(f"no CUDA device: GPU part skipped ({why})")
    shown = "; ".join(failed[:6]) + (f"; and {len(failed) - 6} more (see above)" if len(failed) > 6 else "")
    print(f"checks: {'all PASS' if not failed else f'{len(failed)} FAIL: ' + shown}; "
          f"total time {elapsed:.1f} s")
    status = 1 if failed else 0
    out.update(failed=failed, all_passed=not failed, total_seconds=elapsed, exit_status=status,
               complete=True)
    write_json(args.json, out)
    if args.json:
        print(f"wrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
