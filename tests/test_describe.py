"""The charts' text alternatives (``rleaky_viz.describe``) state the run's own numbers.

Each sentence beside a chart is a claim about behaviour (README, "What the app
claims"): here every number in it is read back out of the words and compared
with the run it describes, computed independently with numpy from the
recorded tensors (``spk != 0`` is a spike), over a grid of settings that
reaches every wording (no spike, one, two, many; silent and busy neurons;
samples that differ).  A sentence that described another neuron, another
sample, a smoothed or cut series, or rounded badly would fail.
"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from rleaky_viz import SimConfig, simulate
from rleaky_viz.describe import (describe_breakdown, describe_compare, describe_conv_frames,
                                 describe_distance, describe_fi, describe_gradient_norms,
                                 describe_grid, describe_jacobian, describe_losses, describe_mystery,
                                 describe_param_grads, describe_params, describe_paths,
                                 describe_population, describe_rate, describe_rate_map,
                                 describe_spectrum, describe_surrogate_trajectory,
                                 describe_surrogates, describe_sweep_map, describe_trace,
                                 describe_traces, describe_weights, num)
from rleaky_viz.flows import gradient_flow, gradient_vs_distance
from rleaky_viz.network import spectral_radius

NUM = r"(?:-?[\d,]*\.?\d+(?:e[+-]?\d+)?|–)"


def value(text: str) -> float:
    return float("nan") if text == "–" else float(text.replace(",", ""))


def grab(pattern: str, text: str) -> list[float]:
    m = re.search(pattern.replace("NUM", NUM), text)
    assert m, f"{pattern!r} not in {text!r}"
    return [value(g) for g in m.groups()]


def same(shown: float, exact: float, digits: int = 3) -> bool:
    """``shown`` is ``exact`` written with ``digits`` significant digits."""
    return shown == float(num(exact, digits))


def series(x, batch: int, neuron: int) -> np.ndarray:
    a = x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)
    return a[:, batch].reshape(a.shape[0], -1)[:, neuron].astype(np.float64)


def train_of(trace, batch: int, neuron: int) -> np.ndarray:
    return np.flatnonzero(series(trace.spk, batch, neuron) != 0)


def check_firing_words(text: str, idx: np.ndarray) -> None:
    """The count, first spike and intervals of the spike steps ``idx`` in ``text``."""
    if idx.size == 0:
        assert "no spikes" in text
        assert "first" not in text and "interval" not in text
        return
    assert grab(r"(NUM) spikes?", text) == [idx.size]
    if idx.size == 1:
        assert grab(r"1 spike, at step (NUM)", text) == [idx[0]]
        assert "interval" not in text
        return
    assert grab(r"first at step (NUM)", text) == [idx[0]]
    isi = np.diff(idx).astype(np.float64)
    if idx.size == 2:
        assert grab(r"one interval of (NUM) steps", text) == [isi[0]]
    else:
        mean, std = grab(r"inter-spike interval (NUM) ± (NUM) steps", text)
        assert same(mean, isi.mean()) and same(std, isi.std(), 2), (text, isi)


# ----------------------------------------------------------------------------- one neuron
TRACE_GRID = [
    SimConfig(beta=b, amplitude=a, reset_mechanism=m, recurrence=r, num_neurons=n, batch_size=bs,
              stimulus=s, num_steps=T, input_spread=0.4 if n > 1 else 0.0, seed=3)
    for b, a, m, (r, n), bs, s, T in itertools.chain(
        itertools.product((0.5, 0.9, 1.0), (0.0, 0.12, 0.3, 1.2), ("subtract", "zero"),
                          (("one_to_one", 1), ("linear", 4)), (2,), ("constant", "poisson"), (60,)),
        # few steps near the rheobase: one and two spikes
        [(0.9, 0.11, "subtract", ("none", 1), 1, "constant", T) for T in (25, 30, 40, 60)],
        [(1.0, 0.34, "subtract", ("none", 1), 1, "constant", T) for T in (3, 4, 6, 7)],
    )
]


@pytest.fixture(scope="module")
def traces():
    return [(cfg, simulate(cfg)) for cfg in TRACE_GRID]


def test_describe_trace_states_the_runs_spikes_intervals_and_range(traces):
    counts = set()
    for cfg, trace in traces:
        for batch in range(cfg.batch_size):
            for neuron in range(cfg.neuron_count):
                text = describe_trace(trace, neuron, batch)
                assert text.startswith(f"Neuron {neuron} (sample {batch}), {cfg.num_steps} steps: ")
                idx = train_of(trace, batch, neuron)
                counts.add(min(idx.size, 3))
                check_firing_words(text, idx)
                mem = series(trace.mem, batch, neuron)
                lo, hi = grab(r"membrane U from (NUM) to (NUM)\.$", text)
                assert same(lo, mem.min()) and same(hi, mem.max()), text
    assert counts == {0, 1, 2, 3}  # every wording was met


def test_the_issue_example_is_the_default_run():
    text = describe_trace(simulate(SimConfig()))
    assert "200 steps: 81 spikes, first at step 3, inter-spike interval 2.45 ± 0.5 steps" in text


def test_describe_trace_reads_the_sample_and_neuron_it_names():
    cfg = SimConfig(recurrence="linear", num_neurons=4, batch_size=2, stimulus="poisson",
                    amplitude=0.6, num_steps=80, seed=5)
    trace = simulate(cfg)
    texts = {describe_trace(trace, n, b).split(": ", 1)[1] for n in range(4) for b in range(2)}
    assert len(texts) > 1  # different neurons and samples are described differently


def test_describe_breakdown_sums_the_terms_as_drawn(traces):
    for cfg, trace in traces:
        for neuron in range(cfg.neuron_count):
            text = describe_breakdown(trace, neuron, 0)
            leak, inp, rec, mem = (series(getattr(trace, f), 0, neuron)
                                   for f in ("leak", "input", "recurrent", "mem"))
            reset = mem - (leak + inp + rec)
            reset[np.abs(reset) <= 1e-5 * (np.abs(leak) + np.abs(inp) + np.abs(rec) + np.abs(mem) + 1)] = 0
            shown = grab(r"leak (NUM), input (NUM), recurrent (NUM), reset (NUM) \(non-zero on (NUM) steps\); "
                         r"U ends at (NUM)\.", text)
            for s, exact in zip(shown, (leak.sum(), inp.sum(), rec.sum(), reset.sum())):
                assert same(s, exact), text
            assert shown[4] == int((reset != 0).sum())
            assert same(shown[5], mem[-1])
            # the four sums add up to the sum of U (the bars of each step add up to U[t])
            assert sum(shown[:4]) == pytest.approx(mem.sum(), rel=0.02, abs=0.05 * np.abs(mem).max())
            if cfg.reset_mechanism == "subtract":  # a reset takes θ once per spike, one step later
                spikes_before_last = int((series(trace.spk, 0, neuron)[:-1] != 0).sum())
                assert shown[4] == spikes_before_last, text


def test_no_reset_leaves_the_reset_term_at_zero():
    trace = simulate(SimConfig(reset_mechanism="none", amplitude=0.3, num_steps=50))
    assert "reset 0 (non-zero on 0 steps)" in describe_breakdown(trace)


# ----------------------------------------------------------------------------- many neurons
POPULATION_GRID = [
    SimConfig(recurrence="linear", num_neurons=n, weight_init=w, weight_gain=g, amplitude=a,
              weight_sparsity=0.6 if w == "sparse" else 0.0,
              stimulus=s, batch_size=2, num_steps=T, input_spread=0.5, seed=seed)
    for (n, T), w, g, a, s, seed in itertools.product(
        ((12, 40), (30, 90)), ("default", "gain", "sparse"), (0.5, 3.0), (0.0, 0.25, 0.8),
        ("constant", "poisson"), (1,))
]


@pytest.fixture(scope="module")
def populations():
    return [(cfg, simulate(cfg)) for cfg in POPULATION_GRID]


def test_describe_population_states_the_raster(populations):
    silent = busy = ties = 0
    quiet = SimConfig(recurrence="none", num_neurons=6, amplitude=0.0, batch_size=2, num_steps=30)
    for cfg, trace in [*populations, (quiet, simulate(quiet))]:
        for batch in (0, 1):
            fired = trace.spk[:, batch].reshape(cfg.num_steps, -1).numpy() != 0
            text = describe_population(trace, batch)
            T, N = fired.shape
            assert text.startswith(f"{N:,} neurons (sample {batch}), {T:,} steps: ")
            total = int(fired.sum())
            if total == 0:
                silent += 1
                assert "no spikes" in text and "fire" not in text
                continue
            busy += 1
            assert grab(r"steps: (NUM) spikes?", text) == [total]
            assert same(grab(r"\((NUM) per neuron per step\)", text)[0], total / (T * N))
            firing, of = grab(r"; (NUM) of (NUM) neurons fire", text)
            assert (firing, of) == (int(fired.any(0).sum()), N)
            assert grab(r"the first at step (NUM)", text) == [int(np.flatnonzero(fired.any(1))[0])]
            counts = fired.sum(0)
            tied = np.flatnonzero(counts == counts.max())
            if tied.size == 1:
                who, times = grab(r"the busiest, neuron (NUM), fires (NUM) times", text)
                assert who == tied[0] and times == counts.max()
            else:  # several share the most: the sentence says how many, not one of them
                many, who, times = grab(r"the busiest (NUM) \(the first neuron (NUM)\) each fire "
                                        r"(NUM) times", text)
                assert (many, who, times) == (tied.size, tied[0], counts.max())
                ties += 1
    assert silent and busy


def _largest_at(text: str, values: np.ndarray, unit: str):
    """The words of describe._where_largest checked against ``values``."""
    top = values.max()
    at = np.flatnonzero(values.ravel() == top)
    if top == values.min():
        assert f"the same at every {unit}" in text, text
    elif at.size == 1:
        assert f"at {unit} " in text or unit == "cell", text  # a cell is named by row and column
    else:
        assert f"at {at.size} {unit}s, the first " in text, text
    return at


def _first_largest(text: str, values: np.ndarray, unit: str, single: str) -> None:
    """Where the sentence puts the largest of ``values``: the one place, or how many tie and
    the first of them, or that all are equal (``single`` reads the one place's numbers)."""
    at = _largest_at(text, values, unit)
    if values.max() == values.min():
        return
    if at.size == 1:
        place = grab(single, text)
    else:
        place = grab(rf"at {at.size} {unit}s, the first " + single[len("at "):]
                     if unit == "cell" else rf"at {at.size} {unit}s, the first (NUM)", text)
    flat = np.ravel_multi_index(tuple(int(p) for p in place), values.shape) if len(place) > 1 \
        else int(place[0])
    assert flat == at[0], (text, at[:3])


def test_ties_and_flat_runs_are_said_as_such():
    # five equal neurons, no coupling: all fire equally; a silent run: every step the same
    equal = SimConfig(recurrence="none", num_neurons=5, amplitude=0.4, num_steps=60)
    text = describe_population(simulate(equal))
    assert "the busiest 5 (the first neuron 0) each fire" in text, text
    silent = simulate(SimConfig(recurrence="none", num_neurons=4, amplitude=0.0, num_steps=30))
    assert "most 0 the same at every step" in describe_rate(silent), describe_rate(silent)
    # a constant train: the most spikes in a step fall on many steps
    busy = simulate(SimConfig(recurrence="none", num_neurons=3, amplitude=0.4, num_steps=60))
    per_step = (busy.spk[:, 0].reshape(60, -1).numpy() != 0).sum(1)
    _largest_at(describe_rate(busy), per_step, "step")


def test_quantisation_is_named_with_the_reset_term_and_a_long_product_is_not_zero():
    quantised = simulate(SimConfig(recurrence="none", reset_mechanism="none", state_quant_bits=4,
                                   amplitude=0.3, num_steps=50))
    text = describe_breakdown(quantised)
    assert "reset and quantisation" in text, text
    assert "quantisation" not in describe_breakdown(simulate(SimConfig(num_steps=50)))
    long = gradient_flow(SimConfig(recurrence="one_to_one", beta=0.5, V=0.0, amplitude=0.1,
                                   num_steps=1200))
    jac = np.abs(series(long.jacobian, 0, 0)).astype(np.float64)[:-1]
    exponent = np.log10(jac).sum()
    assert exponent < -300  # float64's product would be 0 or denormal here
    assert f"their product about 10^{exponent:.0f}." in describe_jacobian(long), describe_jacobian(long)


def test_describe_rate_states_the_spikes_per_step(populations):
    for cfg, trace in populations[::3]:
        fired = trace.spk[:, 1].reshape(cfg.num_steps, -1).numpy() != 0
        per_step = fired.sum(1)
        text = describe_rate(trace, 1)
        mean, most = grab(r"mean (NUM), most (NUM)", text)
        assert same(mean, per_step.mean()) and most == per_step.max()
        at = _largest_at(text, per_step, "step")
        if at.size > 1 and per_step.max() != per_step.min():
            assert grab(r"steps, the first (NUM), fewest", text) == [at[0]]
        elif at.size == 1:
            assert grab(r"at step (NUM), fewest", text) == [at[0]]
        assert grab(r"fewest (NUM)", text) == [per_step.min()]


def test_describe_grid_finds_the_extremes(populations):
    for cfg, trace in populations[::4]:
        mem = trace.mem[:, 0].reshape(cfg.num_steps, -1).numpy().astype(np.float64)
        text = describe_grid(trace.mem[:, 0].reshape(cfg.num_steps, -1), "Membrane U")
        lo, n_lo, t_lo, hi, n_hi, t_hi, mean = grab(
            r"from (NUM) \(neuron (NUM), step (NUM)\) to (NUM) \(neuron (NUM), step (NUM)\), mean (NUM)", text)
        assert mem[int(t_lo), int(n_lo)] == mem.min() and same(lo, mem.min())
        assert mem[int(t_hi), int(n_hi)] == mem.max() and same(hi, mem.max())
        assert same(mean, mem.mean())


def test_describe_weights_and_spectrum(populations):
    for cfg, trace in populations[::2]:
        w = trace.neuron.recurrent.weight.detach().numpy().astype(np.float64)
        rows, cols, lo, hi, mean, zeros, size = grab(
            r"(NUM) × (NUM) recurrent weights \(row receives, column sends\): from (NUM) to (NUM), "
            r"mean (NUM), (NUM) of (NUM) zero", describe_weights(w))
        assert (rows, cols, size) == (*w.shape, w.size)
        assert same(lo, w.min()) and same(hi, w.max()) and same(mean, w.mean())
        assert zeros == int((w == 0).sum())
        if cfg.weight_init == "sparse":
            assert zeros > 0
        eig = np.linalg.eigvals(w)
        text = describe_spectrum(eig)
        rho, outside, complex_ = grab(r"ρ = max \|λ\| = (NUM); (NUM) outside the unit circle, (NUM) complex", text)
        assert same(rho, spectral_radius(w), 4)
        assert outside == int((np.abs(eig) > 1).sum())
        assert complex_ == int((np.abs(eig.imag) > 1e-12).sum())


def test_describe_traces_states_each_chosen_neuron(populations):
    cfg, trace = populations[-1]
    chosen = [0, 3, 7, 1, 2, 5, 9]
    text = describe_traces(trace, chosen, 1)
    for n in chosen[:5]:
        part = re.search(rf"neuron {n}: ([^;]*)", text).group(1)
        idx = train_of(trace, 1, n)
        assert (("no spikes" in part) if idx.size == 0 else grab(r"(NUM) spikes?", part) == [idx.size])
        lo, hi = grab(r"U from (NUM) to (NUM)", part)
        mem = series(trace.mem, 1, n)
        assert same(lo, mem.min()) and same(hi, mem.max())
    assert text.endswith("and 2 more.") and "neuron 5:" not in text


# ----------------------------------------------------------------------------- conv grids
@pytest.mark.parametrize("kernel, amplitude, channels", [("default", 0.3, 2), ("centre_surround", 0.5, 1),
                                                          ("lateral_excitation", 0.15, 2), ("default", 0.0, 1)])
def test_describe_conv_frames_and_rate_map(kernel, amplitude, channels):
    cfg = SimConfig(recurrence="conv2d", kernel_init=kernel, amplitude=amplitude, conv2d_channels=channels,
                    batch_size=2, stimulus="poisson" if amplitude else "constant", num_steps=40, seed=2)
    trace = simulate(cfg)
    for channel, batch in itertools.product(range(channels), (0, 1)):
        fired = trace.spk[:, batch, channel].numpy() != 0  # (T, H, W)
        T, h, w = fired.shape
        per_step = fired.reshape(T, -1).sum(1)
        text = describe_conv_frames(trace, channel, batch)
        assert text.startswith(f"Channel {channel} (sample {batch}), {h} × {w} = {h * w} neurons over {T} steps: ")
        if per_step.sum() == 0:
            assert "no spikes" in text
        else:
            total, first, most, cells = grab(
                r"steps: (NUM) spikes?, the first at step (NUM); the most in one step (NUM) of (NUM),", text)
            assert total == per_step.sum() and first == np.flatnonzero(per_step)[0]
            assert most == per_step.max() and cells == h * w
            _first_largest(text, per_step, "step", r"at step (NUM)\.")
        rate = fired.mean(0)
        text = describe_rate_map(trace, channel, batch)
        lo, hi = grab(r"from (NUM) to (NUM) spikes per step \(highest", text)
        assert same(lo, rate.min()) and same(hi, rate.max())
        assert same(grab(r"mean (NUM)\.", text)[0], rate.mean())
        _first_largest(text, rate, "cell", r"at row (NUM), column (NUM)\)")


# ----------------------------------------------------------------------------- surrogates
@pytest.mark.parametrize("chosen, z_range", [
    ([("atan", {"alpha": 2.0}), ("fast_sigmoid", {"slope": 25.0})], (-2.0, 2.0)),
    ([("sigmoid", {"slope": 5.0}), ("triangular", {"threshold": 1.0})], (-1.0, 3.0)),
    ([("spike_rate_escape", {"beta": 1.0, "slope": 25.0})], (-4.0, 4.0)),
])
def test_describe_surrogates_states_each_peak(chosen, z_range):
    from rleaky_viz.core.surrogate import REGISTRY
    from rleaky_viz.figures import surrogate_table

    chosen = [(n, {k: v for k, v in p.items() if k in {q.name for q in REGISTRY[n].params}}) for n, p in chosen]
    table = surrogate_table(chosen, z_range=z_range)
    text = describe_surrogates(table)
    z = np.linspace(*z_range, 2001)
    for (name, params), (label, row) in zip(chosen, table.iterrows()):
        peak, where, at0 = re.search(rf"{re.escape(label)} peaks at ({NUM}) (at z = ({NUM})|on a plateau), ({NUM}) at z = 0",
                                     text).group(1, 2, 4)
        # independently: autograd of the surrogate itself on a fine grid
        import torch

        fn = REGISTRY[name].factory(**params)
        u = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        fn(u).sum().backward()
        grad = u.grad.numpy()
        assert value(peak) == pytest.approx(grad.max(), rel=0.02)
        zero = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        fn(zero).sum().backward()
        assert same(value(at0), float(zero.grad))
        if where.startswith("at z"):
            assert abs(value(where.split("= ")[1]) - z[np.argmax(grad)]) < 0.02 * (z_range[1] - z_range[0])


# ----------------------------------------------------------------------------- gradients
FLOW_GRID = [SimConfig(recurrence=r, num_neurons=n, reset_mechanism=m, amplitude=a, num_steps=50,
                       learn_beta=True, learn_threshold=True, learn_recurrent=r != "none", loss=loss,
                       input_spread=0.3 if n > 1 else 0.0)
             for (r, n), m, a, loss in itertools.product((("one_to_one", 1), ("linear", 4), ("none", 2)),
                                                         ("subtract", "zero"), (0.2, 0.5),
                                                         ("spike_count", "membrane_mse"))]


@pytest.fixture(scope="module")
def flows():
    return [(cfg, gradient_flow(cfg)) for cfg in FLOW_GRID]


def test_describe_gradient_norms(flows):
    for cfg, flow in flows:
        norms = np.linalg.norm(flow.dL_dmem.reshape(cfg.num_steps, -1).numpy().astype(np.float64), axis=1)
        text = describe_gradient_norms(flow)
        first, last, last_step, peak = grab(
            r"(NUM) at step 0, (NUM) at step (NUM), largest (NUM) ", text)
        assert same(first, norms[0]) and same(last, norms[-1]) and last_step == cfg.num_steps - 1
        assert same(peak, norms.max()) and same(grab(r"loss (NUM)\.", text)[0], flow.loss, 4)
        # the words say where the flow's own norms (float32, as drawn) peak
        _first_largest(text, flow.step_norms(), "step", r"largest NUM at step (NUM);")
    (_, a), (_, b) = flows[0], flows[1]
    text = describe_gradient_norms({"A": a, "B": b})
    assert grab(r"A: (NUM) at step 0", text)[0] == float(num(a.step_norms()[0]))
    assert grab(r"B: (NUM) at step 0", text)[0] == float(num(b.step_norms()[0]))


def test_describe_jacobian_trajectory_params_and_paths(flows):
    seen_jacobian = 0
    for cfg, flow in flows:
        for neuron in range(cfg.neuron_count):
            if flow.jacobian is not None:
                seen_jacobian += 1
                jac = np.abs(series(flow.jacobian, 0, neuron))[:-1]
                steps, above, below, lo, hi, prod = grab(
                    r"over (NUM) steps: above 1 on (NUM), below 1 on (NUM); from (NUM) to (NUM); their product (NUM)\.",
                    describe_jacobian(flow, neuron))
                assert (steps, above, below) == (jac.size, (jac > 1).sum(), (jac < 1).sum())
                assert same(lo, jac.min()) and same(hi, jac.max())
                with np.errstate(divide="ignore"):
                    assert same(prod, 10.0 ** np.log10(jac.astype(np.float64)).sum())
            sg = series(flow.surrogate_grad, 0, neuron)
            text = describe_surrogate_trajectory(flow, neuron)
            lo, hi = grab(r"from (NUM) to (NUM) \(", text)
            assert same(lo, sg.min()) and same(hi, sg.max())
            assert grab(r"exactly 0 on (NUM) steps", text) == [int((sg == 0).sum())]
            _first_largest(text, sg.astype(np.float64), "step", r"\(at step (NUM)\)")
            text = describe_paths(flow, neuron)
            for name, v in flow.paths.items():
                shown = grab(rf"{name.replace('_', ' ')} (NUM)", text)[0]
                assert same(shown, np.abs(series(v, 0, neuron)).sum()), (name, text)
            assert same(grab(r"summed \|dL/dU\[t\]\| (NUM)\.", text)[0],
                        np.abs(series(flow.dL_dmem, 0, neuron)).sum())
        text = describe_param_grads(flow)
        for name, g in flow.param_grads.items():
            a = g.detach().numpy().astype(np.float64).reshape(-1)
            if a.size == 1:
                assert same(grab(rf"dL/d{re.escape(name)} = (NUM)", text)[0], a[0])
            else:
                assert same(grab(rf"‖dL/d{re.escape(name)}‖ = (NUM) \((NUM) values\)", text)[0],
                            np.sqrt((a ** 2).sum()))
    assert seen_jacobian


@pytest.mark.parametrize("parameter, values", [("beta", (0.5, 0.9, 1.0)), ("V", (0.0, 1.0))])
def test_describe_distance(parameter, values):
    cfg = SimConfig(amplitude=0.3, num_steps=40)
    result = gradient_vs_distance(cfg, parameter, values)
    text = describe_distance(result, parameter)
    distance = np.asarray(result["distance"])
    assert grab(r"→ (NUM) steps back", text) == [distance.max()]
    for v, norms in result["norms"].items():
        norms = np.asarray(norms, dtype=np.float64)
        near, far = grab(rf"{parameter} = {v:g}: (NUM) → (NUM)", text)
        assert same(near, norms[distance == 0][0]) and same(far, norms[np.argmax(distance)])


# ----------------------------------------------------------------------------- training
def test_describe_losses_and_params():
    from rleaky_viz.learn import train

    cfg = SimConfig(recurrence="linear", num_neurons=5, learn_beta=True, learn_threshold=True,
                    learn_recurrent=True, num_steps=40, amplitude=0.4)
    result = train(cfg, "rate", target_rate=0.3, epochs=6, lr=0.05)
    losses = np.asarray(result.losses, dtype=np.float64)
    n, first, last, low, at = grab(r"Loss over (NUM) epochs: from (NUM) to (NUM), lowest (NUM) at epoch (NUM)\.",
                                   describe_losses(result.losses))
    assert n == losses.size and same(first, losses[0], 4) and same(last, losses[-1], 4)
    assert same(low, losses.min(), 4) and at == int(np.argmin(losses))
    text = describe_params(result.params)
    for name, history in result.params.items():
        arr = np.stack([np.asarray(h, dtype=np.float64).reshape(-1) for h in history])
        start, end = grab(rf"{re.escape(name)}(?: \(mean\))? from (NUM) to (NUM)", text)
        assert same(start, arr[0].mean(), 4) and same(end, arr[-1].mean(), 4)
        assert ("(mean)" in text.split(name, 1)[1][:8]) == (arr.shape[1] > 1)
    assert describe_losses([3.0, 1.0, 2.0]) == "Loss over 3 epochs: from 3 to 2, lowest 1 at epoch 1."


# ----------------------------------------------------------------------------- sweeps
@pytest.mark.parametrize("base", [SimConfig(recurrence="none", num_steps=60),
                                  SimConfig(recurrence="one_to_one", V=0.3, num_steps=60, reset_mechanism="zero")])
def test_describe_fi_and_the_maps(base):
    from rleaky_viz.sweeps import sweep

    frame = sweep(base, {"beta": [0.5, 0.8, 0.95], "amplitude": list(np.linspace(0.0, 0.6, 13))})
    text = describe_fi(frame)
    assert grab(r"\((NUM) values from (NUM) to (NUM)\)", text) == [13, 0.0, 0.6]
    parts = text.split("): ", 1)[1].rstrip(".").split("; ")
    assert len(parts) == frame.beta.nunique()
    for (beta, part), words in zip(frame.groupby("beta"), parts):
        assert words.split(": ")[0].endswith(f" {num(beta)}"), words
        firing = part[part.spike_count > 0]
        if len(firing):
            assert same(grab(r"fires from .*? (NUM),", words)[0], firing.amplitude.min())
        else:
            assert "never fires" in words
        assert same(grab(r"rate up to (NUM)", words)[0], part.rate.max())
    text = describe_sweep_map(frame, "amplitude", "beta", "regime")
    counts = dict(re.findall(r"(silent|sparse|regular|irregular|runaway) (\d+)", text))
    assert {k: int(v) for k, v in counts.items()} == frame.regime.value_counts().to_dict()
    assert sum(int(v) for v in counts.values()) == len(frame) and "3 × 13 settings" in text
    for column in ("rate", "isi_cv", "first_spike"):
        text = describe_sweep_map(frame, "amplitude", "beta", column)
        v = frame[column].to_numpy(np.float64)
        ok = np.isfinite(v)
        lo, hi, beta, amp = grab(r"from (NUM) to (NUM) \(highest at .*? (NUM), .*? (NUM)\)", text)
        assert same(lo, v[ok].min()) and same(hi, v[ok].max())
        best = frame[ok & (v == v[ok].max())]
        assert any(same(beta, b) and same(amp, a) for b, a in zip(best.beta, best.amplitude))
        blank = int((~ok).sum())
        assert (f"; {blank} blank" in text) == (blank > 0)


# ----------------------------------------------------------------------------- A and B, mystery
@pytest.mark.parametrize("a, b", [
    (dict(), dict(reset_mechanism="zero")),
    (dict(amplitude=0.05), dict(amplitude=0.05, reset_mechanism="zero")),  # silent: identical spikes
    (dict(recurrence="linear", num_neurons=3, input_spread=0.4), dict(recurrence="one_to_one", num_neurons=3,
                                                                       input_spread=0.4)),
    (dict(), dict(surrogate="fast_sigmoid")),
])
def test_describe_compare(a, b):
    ta, tb = simulate(SimConfig(**a)), simulate(SimConfig(**a).replace(**b))
    for neuron in range(ta.spk.reshape(ta.num_steps, -1).shape[1]):
        text = describe_compare(ta, tb, neuron)
        part_a, part_b = re.search(r"A: (.*); B: (.*?); the spikes", text).groups()
        check_firing_words(part_a, train_of(ta, 0, neuron))
        check_firing_words(part_b, train_of(tb, 0, neuron))
        differ = np.flatnonzero((series(ta.spk, 0, neuron) != 0) != (series(tb.spk, 0, neuron) != 0))
        if differ.size:
            assert grab(r"first differ at step (NUM)", text) == [differ[0]]
        else:
            assert "the spikes never differ" in text
        gap = np.abs(series(ta.mem, 0, neuron) - series(tb.mem, 0, neuron)).max()
        assert same(grab(r"largest \|U_A − U_B\| (NUM)\.", text)[0], gap)


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_describe_mystery(seed):
    from rleaky_viz.mystery import MYSTERY_BASE, mystery_challenge, mystery_score

    target = simulate(mystery_challenge(seed))
    yours = simulate(MYSTERY_BASE)
    text = describe_mystery(target, yours)
    t_words, y_words = re.search(r"Target, \d+ steps: (.*)\. Yours: (.*)\. Membrane", text).groups()
    check_firing_words(t_words, train_of(target, 0, 0))
    check_firing_words(y_words, train_of(yours, 0, 0))
    score = mystery_score(target.spk[:, 0, 0], target.mem[:, 0, 0], yours.spk[:, 0, 0], yours.mem[:, 0, 0])
    assert same(grab(r"Membrane RMSE (NUM)\.", text)[0], score["membrane_rmse"])


def test_num_writes_significant_digits():
    assert [num(v) for v in (2.4537, -0.0001, -0.0, 81.0, 1234.5, float("nan"))] == \
        ["2.45", "-0.0001", "0", "81", "1.23e+03", "–"]
