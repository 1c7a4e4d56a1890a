"""The memory budget holds: every accepted run stays inside it (issue "Safe to share", item 2).

``budget.estimate_bytes`` must be an upper bound of the measured peak, exports
included, or the run must be refused before it starts with a message that
says how to make it fit.  The peaks are measured in child processes by
``tests/_memory_probe.py`` (forked from a warmed-up parent, one torch thread
as in the app; the growth of the resident-set high-water mark), for a grid of
configurations placed at the edge of a reduced budget: each takes the most
time steps the budget accepts (``budget.steps_that_fit``), so the largest run
that gets in is the one measured, and one step more must be refused.

The attacks of the issue run under an address-space cap (what the process
had after imports and warm-up, plus the budget, plus a little slack): they
are refused with a clean message or complete without running out of memory.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rleaky_viz import budget
from rleaky_viz.budget import (EXPORTS, WORKS, MemoryBudgetError, check_budget, estimate_bytes,
                               steps_that_fit)
from rleaky_viz.config import SimConfig

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="measures memory through /proc (Linux)")

PROBE = Path(__file__).with_name("_memory_probe.py")
MB = 2**20
BUDGET_MB = 192  # small, so that runs at the edge of it are quick
# the probe's children report how the work ended in their exit code
EXIT_OK, EXIT_REFUSED = 0, 3


def _vr(lo: float, hi: float, n: int) -> list[float]:
    return [round(lo + (hi - lo) * i / (n - 1), 6) for i in range(n)]


def _points(spec: dict) -> dict:
    work = spec.get("work", "run")
    if work == "sweep":
        grid = spec["grid"]
        return {"points": math.prod(len(v) for v in grid.values()),
                "inputs": math.prod(len(v) for k, v in grid.items() if k in ("amplitude", "offset"))}
    if work == "distance":
        return {"points": len(spec["values"])}
    if work == "train":
        return {"points": spec["epochs"]}
    return {}


def _estimate_args(spec: dict) -> dict:
    return dict(exports=tuple(spec.get("exports", ())), **_points(spec))


# id, config, work, and what else the probe needs.  Every recurrence, batch sizes from 1
# to 64, quantisation 0/4/12 bits, inhibition, late reset, every stimulus kind that makes
# its own input, every export, and each kind of work.
CASES = [
    dict(id="run-one_to_one-b64", cfg=dict(batch_size=64, num_neurons=20)),
    dict(id="run-none-b1-T10k-all-exports", cfg=dict(recurrence="none", num_steps=10_000),
         exports=list(EXPORTS), fit=False),
    dict(id="run-linear-inhibition-late-parquet",
         cfg=dict(recurrence="linear", num_neurons=300, batch_size=8, inhibition=True,
                  reset_delay=False), exports=["parquet"]),
    dict(id="run-conv2d-k5-html", cfg=dict(recurrence="conv2d", conv2d_channels=8, grid_size=16,
                                           kernel_size=5, batch_size=4), exports=["html"]),
    dict(id="run-raster-json", cfg=dict(num_neurons=400, batch_size=2, stimulus="step"),
         exports=["json", "html"]),
    dict(id="run-q4-csv", cfg=dict(state_quant_bits=4, batch_size=16, num_neurons=50,
                                   stimulus="noise", noise_std=0.2), exports=["csv"], budget_mb=96),
    dict(id="run-q12-conv2d-b8", cfg=dict(recurrence="conv2d", conv2d_channels=8, grid_size=32,
                                          batch_size=8, state_quant_bits=12)),
    dict(id="run-code-linear", cfg=dict(recurrence="linear", num_neurons=100, batch_size=4),
         exports=["code"], budget_mb=32),
    dict(id="run-expression-with-n",
         cfg=dict(num_neurons=1000, stimulus="expression",
                  expression="where(sin(t*n), cos(t*n), where(sin(t + n), 0.2, 0.3*sin(t/9 + n)))")),
    dict(id="run-expression-of-t-b64",
         cfg=dict(num_neurons=10, batch_size=64, stimulus="expression")),
    dict(id="run-poisson-sso", cfg=dict(num_neurons=50, batch_size=32, stimulus="poisson",
                                        noise_std=0.1, surrogate="SSO")),
    dict(id="run-progress-cli", cfg=dict(num_neurons=100, batch_size=64, input_spread=0.5),
         progress=True),
    dict(id="flow-one_to_one-b64", cfg=dict(num_neurons=20, batch_size=64), work="flow"),
    dict(id="flow-none-b64", cfg=dict(recurrence="none", num_neurons=20, batch_size=64),
         work="flow"),
    dict(id="flow-zero-late-b32", cfg=dict(num_neurons=20, batch_size=32, reset_mechanism="zero",
                                           reset_delay=False), work="flow"),
    dict(id="flow-linear-inhibition-late", cfg=dict(recurrence="linear", num_neurons=300,
                                                    batch_size=8, inhibition=True,
                                                    reset_delay=False), work="flow"),
    dict(id="flow-conv2d-k7", cfg=dict(recurrence="conv2d", conv2d_channels=4, grid_size=16,
                                       kernel_size=7), work="flow"),
    dict(id="flow-q4-inhibition-late", cfg=dict(num_neurons=50, batch_size=16, state_quant_bits=4,
                                                inhibition=True, reset_delay=False), work="flow"),
    dict(id="flow-reset-grad-linear", cfg=dict(recurrence="linear", num_neurons=200, batch_size=4,
                                               reset_grad=True), work="flow"),
    dict(id="distance-beta", cfg=dict(num_neurons=20, batch_size=64), work="distance",
         parameter="beta", values=_vr(0.5, 1.0, 5)),
    dict(id="distance-spectral-radius", cfg=dict(recurrence="linear", num_neurons=300, batch_size=2),
         work="distance", parameter="spectral_radius", values=[0.5, 1.0, 2.0]),
    dict(id="sweep-beta-threshold", cfg=dict(num_neurons=64), work="sweep",
         grid={"beta": _vr(0.5, 0.99, 32), "threshold": _vr(0.5, 2.0, 32)}),
    # a fast sweep (0.1 s) takes its steps after the first chunk in larger chunks
    # (sweeps.py): measured as it is, since at the edge of the budget it is not fast
    dict(id="sweep-64x64-fast-chunks", cfg=dict(num_steps=500), work="sweep",
         grid={"beta": _vr(0.0, 1.0, 64), "threshold": _vr(0.5, 2.0, 64)}, fit=False),
    dict(id="sweep-amplitude-offset", cfg=dict(num_neurons=8, batch_size=4), work="sweep",
         grid={"amplitude": _vr(0.0, 1.0, 32), "offset": _vr(0.0, 0.5, 16)}),
    dict(id="sweep-q12-threshold", cfg=dict(state_quant_bits=12, num_steps=5), work="sweep",
         grid={"threshold": _vr(0.5, 2.0, 64), "beta": _vr(0.5, 0.99, 8)}, fit=False),
    dict(id="train-spike-train-b64", cfg=dict(num_neurons=20, batch_size=64), work="train",
         epochs=2),
    dict(id="train-linear-rate", cfg=dict(recurrence="linear", num_neurons=300, num_steps=20),
         work="train", epochs=60, target="rate", fit=False),
    dict(id="train-q4", cfg=dict(num_neurons=20, batch_size=8, state_quant_bits=4), work="train",
         epochs=2),
]


def _spec(case: dict) -> dict:
    """The probe's spec for ``case``: at the edge of its budget unless ``fit=False``."""
    spec = {k: v for k, v in case.items() if k != "fit"}
    spec.setdefault("work", "run")
    spec.setdefault("budget_mb", BUDGET_MB)
    if case.get("fit", True):
        cfg = SimConfig(**spec["cfg"]).replace(num_steps=10_000)
        steps = steps_that_fit(cfg, spec["work"], budget=spec["budget_mb"] * MB,
                               **_estimate_args(spec))
        assert steps > 0, f"{case['id']}: not one step fits the budget: change the case"
        spec["cfg"] = dict(spec["cfg"], num_steps=steps)
    return spec


SPECS = {case["id"]: _spec(case) for case in CASES}

# The attacks of the issue, under the default budget and an address-space cap.
CONV_ATTACK = dict(recurrence="conv2d", conv2d_channels=8, grid_size=64, batch_size=64,
                   state_quant_bits=12)
CONV_SMALLER = dict(recurrence="conv2d", conv2d_channels=8, grid_size=32, batch_size=8,
                    state_quant_bits=12)
_SMALLER_MB = math.ceil(estimate_bytes(SimConfig(**CONV_SMALLER)) / MB)
CAPPED = {
    "attack-8x64x64-b64-q12": dict(cfg=CONV_ATTACK, budget_mb=1024),
    "attack-8x32x32-b8-q12": dict(cfg=CONV_SMALLER, budget_mb=1024),
    # the same with a budget that lets it in: it must then complete inside the cap
    "attack-8x32x32-b8-q12-admitted": dict(cfg=CONV_SMALLER, budget_mb=_SMALLER_MB),
    # refused by the child's own check of its budget (RLEAKY_VIZ_MEMORY_MB)
    "refused-in-child": dict(cfg=dict(num_neurons=1000, batch_size=64, num_steps=10_000)),
}
for key, spec in CAPPED.items():
    spec.update(id=key, work="run", as_cap=True)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """Every spec measured; two probe processes share them (the machine's two cores)."""
    env = dict(os.environ, RLEAKY_VIZ_MEMORY_MB=str(BUDGET_MB))
    slowest = CAPPED["attack-8x32x32-b8-q12-admitted"]  # 3 s of work at 1 GB
    specs = sorted((s for s in [*SPECS.values(), *CAPPED.values()] if s is not slowest),
                   key=lambda s: -estimate_bytes(SimConfig(**s["cfg"]), s["work"],
                                                 **_estimate_args(s)))
    parts = [[slowest, *specs[1::2]], specs[0::2]]
    folder = tmp_path_factory.mktemp("memory_probe")
    jobs = []
    try:
        for i, part in enumerate(parts):
            path = folder / f"specs{i}.json"
            path.write_text(json.dumps(part))
            with open(path) as stdin:
                jobs.append(subprocess.Popen([sys.executable, "-W", "ignore", str(PROBE)],
                                             stdin=stdin, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True, env=env))
        results = {}
        for job in jobs:
            out, err = job.communicate(timeout=300)
            assert job.returncode == 0, err[-3000:]
            results.update((r["id"], r) for r in json.loads(out))
    finally:
        for job in jobs:
            if job.poll() is None:
                job.kill()
                job.communicate()
    return results


def _describe(spec: dict, result: dict, need: int) -> str:
    return (f"{spec['id']} ({spec['cfg']}): measured {result['peak_bytes'] / MB:.1f} MB, "
            f"estimate {need / MB:.1f} MB, budget {spec['budget_mb']} MB; {result['message'][:800]}")


@pytest.mark.parametrize("key", sorted(SPECS))
def test_the_largest_accepted_run_stays_under_its_estimate(measured, key):
    spec, result = SPECS[key], measured[key]
    cfg = SimConfig(**spec["cfg"])
    limit = spec["budget_mb"] * MB
    need = check_budget(cfg, spec["work"], budget=limit, **_estimate_args(spec))  # accepted
    assert result["status"] == "ok" and result["exit_code"] == EXIT_OK, _describe(spec, result, need)
    assert result["peak_bytes"] <= need <= limit, _describe(spec, result, need)
    # an upper bound, but not a wild one: it would refuse far more than it must
    assert need <= 3 * result["peak_bytes"] + 64 * MB, _describe(spec, result, need)


@pytest.mark.parametrize("key", sorted(k for k, c in zip(SPECS, CASES) if c.get("fit", True)))
def test_one_step_more_is_refused_with_advice(key):
    spec = SPECS[key]
    cfg = SimConfig(**spec["cfg"])
    if cfg.num_steps == 10_000:
        pytest.skip("the longest run fits")
    with pytest.raises(MemoryBudgetError) as e:
        check_budget(cfg.replace(num_steps=cfg.num_steps + 1), spec["work"],
                     budget=spec["budget_mb"] * MB, **_estimate_args(spec))
    text = str(e.value)
    assert f"over the server's budget of {spec['budget_mb']:,} MB" in text
    assert "reduce time steps" in text and f"about {cfg.num_steps:,} time steps would fit" in text


def test_the_grid_covers_every_recurrence_batch_quantisation_export_and_work():
    cfgs = [SimConfig(**s["cfg"]) for s in SPECS.values()]
    assert {c.recurrence for c in cfgs} == {"one_to_one", "linear", "conv2d", "none"}
    assert {1, 64} <= {c.batch_size for c in cfgs}
    assert {0, 4, 12} <= {c.state_quant_bits for c in cfgs}
    assert any(c.inhibition for c in cfgs) and any(not c.reset_delay for c in cfgs)
    assert {"constant", "noise", "poisson", "expression", "step"} <= {c.stimulus for c in cfgs}
    assert set(EXPORTS) <= {e for s in SPECS.values() for e in s.get("exports", ())}
    assert set(WORKS) == {s["work"] for s in SPECS.values()}


# ----------------------------------------------------------------------------- the attacks
def test_the_conv_attack_is_refused_with_advice_under_the_default_budget():
    cfg = SimConfig(**CONV_ATTACK)
    with pytest.raises(MemoryBudgetError) as e:
        check_budget(cfg, "run", budget=1024 * MB)
    text = str(e.value)
    assert "over the server's budget of 1,024 MB" in text
    assert "reduce time steps (200), batch size (64) or channels or grid size (8 x 64 x 64)" in text
    assert "time steps would fit" in text
    if budget.MEMORY_BUDGET_BYTES == 1024 * MB:  # the default, unless the environment sets one
        with pytest.raises(MemoryBudgetError):
            check_budget(cfg)
    for work in ("flow", "train", "distance"):
        with pytest.raises(MemoryBudgetError, match="1,024 MB"):
            check_budget(cfg, work, budget=1024 * MB, points=2)


@pytest.mark.parametrize("key", sorted(CAPPED))
def test_attacks_under_an_address_space_cap_are_refused_or_complete(measured, key):
    spec, result = CAPPED[key], measured[key]
    cfg = SimConfig(**spec["cfg"])
    limit = spec.get("budget_mb", BUDGET_MB) * MB
    try:
        need = check_budget(cfg, "run", budget=limit)
    except MemoryBudgetError as e:  # refused before it starts, in the child as here
        assert result["status"] == "refused" and result["exit_code"] == EXIT_REFUSED, result
        assert result["message"] == str(e)
        assert "reduce" in result["message"] and "MB" in result["message"]
        assert result["peak_bytes"] < 16 * MB  # nothing was allocated
        return
    assert result["status"] == "ok" and result["exit_code"] == EXIT_OK, _describe(spec, result, need)
    assert result["peak_bytes"] <= need, _describe(spec, result, need)
    assert result["cap_bytes"] > 0


def test_the_admitted_attack_is_admitted():
    assert check_budget(SimConfig(**CONV_SMALLER), budget=_SMALLER_MB * MB) <= _SMALLER_MB * MB
    with pytest.raises(MemoryBudgetError):
        check_budget(SimConfig(**CONV_SMALLER), budget=1024 * MB)


# ----------------------------------------------------------------------------- the estimate
MONOTONE_BASES = [
    SimConfig(),
    SimConfig(recurrence="linear", num_neurons=10, inhibition=True, reset_delay=False),
    SimConfig(recurrence="none", state_quant_bits=4, stimulus="poisson", noise_std=0.1),
    SimConfig(stimulus="expression", expression="0.3 + 0.1*sin(t/5 + n)", surrogate="SSO"),
    SimConfig(recurrence="conv2d", conv2d_channels=2, grid_size=8, kernel_size=5),
]
STEPS = (1, 2, 19, 20, 21, 200, 1000, 4001, 10_000)
BATCHES = (1, 2, 7, 64)
NEURONS = (1, 2, 10, 255, 257, 1000)


@pytest.mark.parametrize("work", WORKS)
def test_the_estimate_grows_with_steps_batch_and_neurons(work):
    for base, points in itertools.product(MONOTONE_BASES, (1, 3, 1024)):
        def est(**changes):
            return estimate_bytes(base.replace(**changes), work, points=points,
                                  exports=("csv",) if work == "run" else ())

        for name, values in (("num_steps", STEPS), ("batch_size", BATCHES),
                             ("num_neurons", NEURONS), ("grid_size", (3, 8, 33, 64)),
                             ("conv2d_channels", (1, 2, 8))):
            sizes = [est(**{name: v}) for v in values]
            assert sizes == sorted(sizes), (work, base, points, name, sizes)
        assert est() <= estimate_bytes(base, work, points=points + 1,
                                       exports=("csv",) if work == "run" else ())


def test_exports_only_add():
    cfg = SimConfig(num_steps=1000, batch_size=8, num_neurons=10)
    plain = estimate_bytes(cfg)
    sizes = {e: estimate_bytes(cfg, exports=(e,)) for e in EXPORTS}
    assert all(size >= plain for size in sizes.values())
    assert estimate_bytes(cfg, exports=EXPORTS) == max(sizes.values())
    assert min(sizes["csv"], sizes["parquet"], sizes["html"], sizes["code"]) > sizes["json"]
    big = cfg.replace(num_steps=10_000, batch_size=64)
    assert estimate_bytes(big, exports=("csv",)) > estimate_bytes(big, exports=("parquet",))


def test_the_sweeps_page_and_the_presets_fit_the_default_budget():
    # pages/7_Sweeps.py: a 32 x 32 map of 200 steps of one neuron, the f-I curves (40 x 8)
    default = 1024 * MB
    cfg = SimConfig()
    check_budget(cfg, "sweep", points=32 * 32, inputs=1, budget=default)
    check_budget(cfg, "sweep", points=32 * 32, inputs=32 * 32, budget=default)
    check_budget(cfg, "sweep", points=40 * 8, inputs=40, budget=default)
    check_budget(cfg, "sweep", points=40 * 8, budget=default)
    check_budget(cfg.replace(num_steps=2000), "sweep", points=64 * 64, budget=default)
    from rleaky_viz.presets import PRESETS

    for preset in PRESETS.values():
        for work in ("run", "flow"):
            check_budget(preset.config, work, exports=EXPORTS if work == "run" else (),
                         budget=default)


def test_a_deep_expression_counts_what_its_tree_holds():
    wide = SimConfig(num_steps=10_000, num_neurons=1000, stimulus="expression",
                     expression="where(t*n, t*n, where(t*n, t*n, where(t*n, t*n, t*n)))")
    thin = wide.replace(expression="0.3 + 0.2*sin(2*pi*t/50)")
    assert estimate_bytes(wide) > estimate_bytes(thin)
    # each where() holds two (T, N) arrays while the third is evaluated: 8 bytes x 10M x 8
    assert estimate_bytes(wide) > 8 * 10_000 * 1000 * 8
    # an expression the evaluator refuses before it evaluates costs nothing extra
    assert estimate_bytes(wide.replace(expression="(")) == estimate_bytes(wide.replace(expression="0.3"))
