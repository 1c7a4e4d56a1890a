"""Every sentence true: each claim the app makes about behaviour, with its condition, checked.

A claim is registered below with the function (or text) that shows it, the
condition under which a page shows it, and a check computed from the core's
own run.  Each test walks a grid of settings: where the claim is shown it
must hold, and where it would be false it must not be shown.  The numbers
come from ``simulate`` and ``gradient_flow`` (whose spikes, membranes and
gradients the parity suite ties to snnTorch 1.0.0).

Registered so far (the audit of issue 12 goes on; README "What the app
claims, and how each claim is checked" lists them):

* ``explain.gradient_note`` (Home): what carries gradient through the reset;
* ``flows.path_notes`` and the path split (Gradient flow): which paths carry
  gradient, and that they add up to dL/dU[t];
* ``figures.gradients.input_gradient_note`` (the norm chart's subtitle);
* ``explain.odd_corners``: the zero-reset and the inhibition notes;
* ``explain.update_equations``: the same-step reset's ``D = S/g - R``;
* ``theory.analytic_overlay``: the finite-T least firing current, the steady
  state, and where the overlay applies (not with state quantisation);
* the presets' ideas and the lesson notes named in issue 12.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rleaky_viz import SimConfig
from rleaky_viz.explain import gradient_note, odd_corners, update_equations
from rleaky_viz.figures.gradients import input_gradient_note
from rleaky_viz.flows import PATHS, gradient_flow, path_notes
from rleaky_viz.lessons import LESSON_NOTES
from rleaky_viz.presets import PRESETS
from rleaky_viz.simulate import simulate
from rleaky_viz.theory import analytic_overlay, overlay_applies

MECHANISMS = ("subtract", "zero", "none")


def spikes(trace) -> np.ndarray:
    return (trace.spk != 0).numpy()


def fired(trace) -> bool:
    return bool(spikes(trace).any())


# ----------------------------------------------------------------------------- gradients
GRADIENT_GRID = [
    SimConfig(reset_mechanism=m, reset_delay=d, reset_grad=w, recurrence=r, num_neurons=n,
              input_spread=0.5 if n > 1 else 0.0, amplitude=0.45, num_steps=60, loss=loss,
              graded_spikes_factor=g)
    for m, d, w, (r, n), loss, g in itertools.product(
        MECHANISMS, (True, False), (False, True), (("one_to_one", 1), ("linear", 5), ("none", 3)),
        ("spike_count", "membrane_mse"), (1.0, 1.5))
    if not (w and loss == "membrane_mse")  # keep the grid small: the what-if with one loss
]


@pytest.fixture(scope="module")
def flows():
    return [(cfg, gradient_flow(cfg)) for cfg in GRADIENT_GRID]


def test_the_paths_add_up_to_dL_dU(flows):
    for cfg, flow in flows:
        total = sum(flow.paths[name] for name in PATHS)
        scale = max(1.0, float(flow.dL_dmem.abs().max()))
        assert float((total - flow.dL_dmem).abs().max()) <= 1e-5 * scale, cfg


def test_the_home_gradient_sentence(flows):
    """'the reset R carries no gradient' is shown only where no gradient passes any reset."""
    for cfg, flow in flows:
        note = gradient_note(cfg)
        totals = flow.path_totals()
        through_resets = totals["same_step_reset"] + totals["reset"]
        if "carries no gradient" in note or "nothing to detach" in note:
            assert through_resets == 0, (cfg, totals)
        if "same-step reset" in note:
            assert not cfg.reset_delay and cfg.reset_mechanism != "none"
            if fired(flow.trace):
                assert totals["same_step_reset"] > 0, (cfg, totals)
        if cfg.reset_grad:
            assert "what-if" in note
        # not shown where false
        if through_resets > 0:
            assert "carries no gradient" not in note and "nothing to detach" not in note, cfg


def test_the_same_step_reset_scales_the_gradient_by_one_minus_theta_sigma():
    """Issue 12's case: reset_delay=False, subtract; loss on the last membrane only."""
    cfg = SimConfig(recurrence="none", reset_delay=False, amplitude=0.45, num_steps=40,
                    loss="membrane_mse", loss_target=0.0)
    flow = gradient_flow(cfg)
    assert fired(flow.trace)
    sg = flow.surrogate_grad[:, 0, 0].double()
    beta, theta = cfg.beta, cfg.threshold
    u = flow.dL_dmem[:, 0, 0].double()
    direct = flow.paths["direct"][:, 0, 0].double()
    for t in range(cfg.num_steps - 1):
        # no recurrence and a loss on U only: nothing reaches U[t] through the next spike
        expected = direct[t] + beta * (1 - theta * sg[t + 1]) * u[t + 1]
        assert float(u[t]) == pytest.approx(float(expected), rel=1e-4, abs=1e-6)
        assert float(flow.paths["same_step_reset"][t, 0, 0]) == pytest.approx(
            float(-beta * theta * sg[t + 1] * u[t + 1]), rel=1e-4, abs=1e-6)


def test_path_notes_follow_the_numbers(flows):
    for cfg, flow in flows:
        totals = flow.path_totals()
        notes = dict(zip(PATHS, path_notes(flow)))
        top = max(totals.values())
        for name, note in notes.items():
            label = name.replace("_", " ")
            carries = top > 0 and totals[name] > 1e-9 * top
            assert note.startswith(f"{label} (" if carries else f"{label}: 0"), (cfg, name, note)
        if not flow.late_reset:
            assert totals["same_step_reset"] == 0 and totals["next_spike"] == 0, cfg
        else:
            assert totals["recurrent"] == 0, cfg
            assert "decided before" in notes["recurrent"]
        if not cfg.reset_grad:
            assert totals["reset"] == 0 and "detaches" in notes["reset"]


def test_the_norm_charts_subtitle(flows):
    for cfg, flow in flows:
        note = input_gradient_note(flow)
        dx, du = flow.dL_dinput, flow.dL_dmem
        scale = max(1e-12, float(du.abs().max()))
        if note.endswith("equals dL/dU[t]"):
            assert torch.allclose(dx, du, rtol=1e-5, atol=1e-6 * scale), cfg
        elif "except at steps where a zero reset" in note:
            reset = flow.trace.reset.bool()
            assert torch.allclose(dx[~reset], du[~reset], rtol=1e-5, atol=1e-6 * scale), cfg
            assert float(dx[reset].abs().sum()) == 0.0, cfg
        else:
            assert flow.late_reset
            if float(flow.paths["same_step_reset"].abs().sum()) > 0:
                assert not torch.allclose(dx, du, rtol=1e-5, atol=1e-6 * scale), cfg


# ----------------------------------------------------------------------------- notes and equations
NOTE_GRID = [SimConfig(recurrence="none", reset_mechanism=m, reset_delay=d, beta=b, amplitude=a,
                       num_steps=40)
             for m, d, b, a in itertools.product(MECHANISMS, (True, False), (0.5, 0.9, 1.0),
                                                 (0.35, 0.6, 1.3))]


def _zero_note(cfg):
    return [n for n in odd_corners(cfg) if n.startswith("Reset to zero")]


def test_the_zero_reset_note():
    for cfg in NOTE_GRID:
        notes = _zero_note(cfg)
        if cfg.reset_mechanism != "zero":
            assert not notes
            continue
        assert len(notes) == 1
        t = simulate(cfg)
        s, u, x = spikes(t)[:, 0, 0], t.mem[:, 0, 0].numpy(), t.input[:, 0, 0].numpy()
        steps = np.flatnonzero(s[:-1])
        if not steps.size:
            continue  # no spike: nothing to reset
        if "that step's input (and recurrent current) is dropped" in notes[0]:
            assert cfg.reset_delay
            assert np.all(u[steps + 1] == 0), cfg  # the step after a spike: 0, its input gone
        else:
            assert not cfg.reset_delay and "next step keeps its input" in notes[0]
            assert np.all(u[steps] == 0), cfg  # the spike step itself ends at 0
            keep = steps[~s[steps + 1]]  # ... and the next step starts from 0 with its input
            assert np.allclose(u[keep + 1], x[keep + 1]), cfg


INHIBITION_GRID = [SimConfig(recurrence="none", inhibition=True, num_neurons=6, input_spread=0.4,
                             amplitude=a, reset_mechanism=m, reset_delay=d, num_steps=80)
                   for a, m, d in itertools.product((0.3, 0.5), MECHANISMS, (True, False))]


def test_the_inhibition_note():
    for cfg in INHIBITION_GRID:
        (note,) = [n for n in odd_corners(cfg) if "nhibition" in n]
        t = simulate(cfg)
        s = spikes(t)[:, 0]
        above = (t.decision[:, 0] > cfg.threshold).numpy()
        suppressed = above & ~s  # above θ, but another neuron won
        if cfg.reset_mechanism == "none":
            assert "no reset" in note
            continue
        assert suppressed[:-1].any(), cfg
        tt, ii = np.nonzero(suppressed[:-1])
        reset_next = t.reset[tt + 1, 0, ii].numpy()
        if "still reset" in note:
            assert cfg.reset_delay or cfg.reset_mechanism == "zero"
            assert np.all(reset_next == 1), cfg
            if cfg.reset_mechanism == "zero":
                assert np.all(t.mem[tt + 1, 0, ii].numpy() == 0), cfg
        else:
            assert not cfg.reset_delay and cfg.reset_mechanism == "subtract" and "is not reset" in note
            # the delayed reset is undone: the returned U of the suppressed step is not reset
            mem, base = t.mem[:, 0].numpy(), t.base[:, 0].numpy()
            late = suppressed & (t.reset[:, 0].numpy() == 1)
            assert late.any(), cfg
            assert np.allclose(mem[late], base[late]), cfg


@pytest.mark.parametrize("g, inhibition", [(1.0, False), (2.0, False), (2.0, True), (0.5, True)])
def test_the_same_step_reset_equation_divides_by_g(g, inhibition):
    cfg = SimConfig(recurrence="none", reset_delay=False, graded_spikes_factor=g, inhibition=inhibition,
                    num_neurons=3 if inhibition else 1, input_spread=0.3 if inhibition else 0.0,
                    amplitude=0.4, num_steps=60)
    (d_line,) = [line for line in update_equations(cfg) if line.startswith("D[t]")]
    assert ("/" in d_line) == (g != 1)
    t = simulate(cfg)
    s = spikes(t)[:, 0]
    fresh = s & (t.reset[:, 0].numpy() == 0)  # spiked, no delayed reset this step
    assert fresh.any()
    # the core: U = N - (S/g - R)·θ; with S = g (or 1 under inhibition) and R = 0
    spk = t.spk[:, 0].numpy()
    expected = t.decision[:, 0].numpy() - (spk / g) * cfg.threshold
    assert np.allclose(t.mem[:, 0].numpy()[fresh], expected[fresh], atol=1e-6)


# ----------------------------------------------------------------------------- theory
THEORY_GRID = [(b, th, n) for b in (0.5, 0.9, 0.99, 1.0) for th in (0.5, 1.0) for n in (20, 200)]


@pytest.mark.parametrize("beta, theta, steps", THEORY_GRID)
def test_the_least_current_that_fires_within_T(beta, theta, steps):
    base = SimConfig(recurrence="none", beta=beta, threshold=theta, num_steps=steps)
    o = analytic_overlay(base.replace(amplitude=0.0))
    low = o["min_current"]
    assert low >= o["rheobase"]  # θ(1-β) only as T -> ∞ (equal in floats once β^T underflows)
    for factor, fires in ((0.99, False), (1.01, True)):
        cfg = base.replace(amplitude=low * factor)
        assert fired(simulate(cfg)) is fires, (beta, theta, steps, factor)


def test_issue_12_numbers_for_the_least_current():
    o = analytic_overlay(SimConfig(beta=0.99, threshold=1.0, num_steps=200))
    assert o["min_current"] == pytest.approx(0.01155, abs=5e-6)
    assert analytic_overlay(SimConfig(beta=1.0, threshold=1.0, num_steps=200))["min_current"] == 1 / 200


@pytest.mark.parametrize("bits", [0, 3, 8])
@pytest.mark.parametrize("amplitude", [0.05, 0.2])
def test_the_steady_state_overlay_is_shown_only_where_it_holds(bits, amplitude):
    cfg = SimConfig(recurrence="none", beta=0.9, amplitude=amplitude, state_quant_bits=bits,
                    num_steps=200)
    o, t = analytic_overlay(cfg), simulate(cfg)
    u = t.mem[:, 0, 0].double().numpy()
    follows = abs(u[-1] - amplitude * (1 - 0.9 ** 200) / 0.1) < 1e-4
    if fired(t):
        return  # the steady state is where U would settle without spikes
    if overlay_applies(cfg):
        assert bits == 0 and follows
    if not follows:
        assert not overlay_applies(cfg)


# ----------------------------------------------------------------------------- presets and lessons
def test_tonic_intervals_cycle_5_4_4():
    t = simulate(PRESETS["tonic"].config)
    isi = np.diff(np.flatnonzero(spikes(t)[:, 0, 0]))
    assert "5, 4, 4" in PRESETS["tonic"].idea and "(5, 4, 4 steps)" in LESSON_NOTES["tonic"][0]
    assert len(set(isi)) > 1  # not evenly spaced
    assert list(isi[:len(isi) // 3 * 3]) == [5, 4, 4] * (len(isi) // 3)


def test_winner_take_all_claims():
    cfg = PRESETS["winner_take_all"].config
    t = simulate(cfg)
    s = spikes(t)[:, 0]
    assert s.sum(1).max() == 1                        # at most one spike per step
    above = (t.decision[:, 0] > cfg.threshold).numpy()
    assert (above.sum(1) > 1).any()                   # ... though several were above θ
    assert s.any(0).all()                             # every neuron wins now and then
    lost = above & ~s
    tt, ii = np.nonzero(lost[:-1])
    assert tt.size and np.all(t.reset[tt + 1, 0, ii].numpy() == 1)  # a loser above θ is reset


def test_recurrent_bias_first_spikers_have_a_bias_above_rheobase():
    cfg = PRESETS["recurrent_bias"].config
    t = simulate(cfg)
    s = spikes(t)[:, 0]
    first = np.flatnonzero(s.any(1))[0]
    bias = t.neuron.recurrent.bias.detach().numpy()
    rheobase = cfg.threshold * (1 - cfg.beta)
    assert np.all(bias[s[first]] > rheobase)
    assert (bias[s.any(0)] <= rheobase).any()  # later ones are pulled in through W


def test_centre_surround_is_a_fixed_pattern_of_isolated_cells():
    assert "waves" not in PRESETS["centre_surround"].title + PRESETS["centre_surround"].idea
    t = simulate(PRESETS["centre_surround"].config)
    s = spikes(t)[:, 0, 0]                             # (T, H, W)
    windows = [s[a:a + 25].any(0) for a in range(50, 150, 25)]
    active = windows[0]
    for w in windows[1:]:
        assert (w != active).sum() <= 0.05 * active.sum()  # the pattern stays
    pairs = (active[:, 1:] & active[:, :-1]).sum() + (active[1:] & active[:-1]).sum()
    assert pairs <= 0.05 * active.sum()                # isolated: neighbours silent
    assert s[50:].mean(0)[active].mean() > 0.5         # the active cells keep firing


def test_zero_vs_subtract_lesson_question():
    cfg = PRESETS["zero_reset_drops_input"].config
    count = lambda c: int(spikes(simulate(c)).sum())  # noqa: E731
    assert count(cfg) == count(cfg.replace(reset_mechanism="subtract")) == 15
    slow = cfg.replace(beta=0.95)
    assert count(slow) < count(slow.replace(reset_mechanism="subtract"))
    assert "15 spikes either way" in LESSON_NOTES["zero_reset_drops_input"][1]


@pytest.mark.parametrize("beta", [-0.5, 0.0, 0.5, 1.0, 1.5])
def test_a_learnable_beta_outside_0_1_is_frozen_by_the_clamp(beta):
    cfg = SimConfig(recurrence="none", beta=beta, learn_beta=True, amplitude=0.5, num_steps=50,
                    loss="membrane_mse", loss_target=0.2)
    frozen = [n for n in odd_corners(cfg) if "dL/dβ = 0" in n]
    grad = float(gradient_flow(cfg).param_grads["beta"].abs().sum())
    if frozen:
        assert grad == 0.0
    if grad != 0.0:
        assert not frozen
    assert bool(frozen) == (beta < 0 or beta > 1)


# ----------------------------------------------------------------------------- the return map
MAP_GRID = [SimConfig(recurrence=r, reset_mechanism=m, reset_delay=d, state_quant_bits=b, V=v,
                      amplitude=a, beta=beta, num_steps=80)
            for r, m, d, b, v, a, beta in itertools.product(
                ("none", "one_to_one"), MECHANISMS, (True, False), (0, 4), (0.5, -0.3, 1.0),
                (-0.1, 0.05, 0.3, 1.2), (0.9, 1.0))
            if not (r == "none" and v != 0.5)]


def test_the_return_map_is_the_run_wherever_it_is_drawn():
    from rleaky_viz.dynamics import describe, map_at, return_map

    drawn = 0
    for cfg in MAP_GRID:
        t = simulate(cfg)
        rmap = return_map(t)
        u = t.mem[:, 0, 0].double().numpy()
        if not rmap["applies"]:
            assert cfg.recurrence == "one_to_one" and not cfg.reset_delay and cfg.reset_mechanism != "none"
            continue
        drawn += 1
        assert np.array_equal(map_at(rmap, u[:-1]), u[1:]), cfg  # every step lies on the map
        text = describe(rmap)
        s = spikes(t)[:, 0, 0]
        if "approaches it and never fires" in text:
            fp = rmap["fixed_point"]
            assert not s.any() and u.max() <= cfg.threshold, cfg
            # it moves towards U* every step (monotone), and ends close when β < 1
            assert np.all(np.diff(np.abs(u - fp)) <= 1e-6), cfg
        elif "never reaches θ" in text:
            assert not s.any(), cfg
        elif "fires on every step" in text:
            first = np.flatnonzero(s)[0]
            assert s[first:].all(), cfg
        elif "cannot settle" in text:
            assert s.any() and not s[np.flatnonzero(s)[0]:].all(), cfg
            assert rmap["fixed_point"] is None
        else:
            assert "staircase" in text and cfg.state_quant_bits
    assert drawn > 100


def test_without_the_condition_the_map_would_be_wrong():
    """reset_delay=False with V ≠ 0: the same U[t] leads to different U[t+1] (so no map is drawn)."""
    from rleaky_viz.dynamics import map_applies

    cfg = SimConfig(recurrence="one_to_one", V=0.5, reset_delay=False, amplitude=0.3, num_steps=200)
    assert not map_applies(cfg)
    t = simulate(cfg)
    u = t.mem[:, 0, 0].numpy()
    s = spikes(t)[:, 0, 0]
    # the map as drawn elsewhere (the spike that V feeds back decided by U[t] itself) would
    # put the step after each spike in the wrong place: U[t] is below θ, yet V·S[t] arrives
    from rleaky_viz.core.rule import StepRule

    rule = StepRule(t.neuron)
    mem = t.mem[:-1, 0]
    guessed = (rule.decision_membrane(mem) > cfg.threshold).float() * rule.gain
    _, nxt = rule.step(t.input[1:, 0], guessed, mem)
    wrong = ~torch.isclose(nxt[:, 0], t.mem[1:, 0, 0])
    assert wrong.any() and bool(torch.equal(wrong, torch.from_numpy(s[:-1])))


# ----------------------------------------------------------------------------- the per-step Jacobian
JACOBIAN_GRID = [SimConfig(recurrence=r, reset_mechanism=m, reset_delay=d, graded_spikes_factor=g,
                           V=0.4, amplitude=0.45, num_steps=40, stimulus=s)
                 for r, m, d, g, s in itertools.product(("none", "one_to_one"), MECHANISMS,
                                                        (True, False), (1.0, 1.5), ("constant", "sine"))]


def test_the_per_step_jacobian_chains_the_gradient_and_matches_its_formula():
    from rleaky_viz.dynamics import map_applies
    from rleaky_viz.explain import jacobian_formula

    shown = 0
    for cfg in JACOBIAN_GRID:
        flow = gradient_flow(cfg, loss=lambda spk, mem: mem[-1].sum())
        applies = map_applies(cfg, input_may_vary=True)
        assert (flow.jacobian is not None) == applies, cfg
        if flow.jacobian is None:
            continue
        shown += 1
        u, jac = flow.dL_dmem[:, 0, 0].double(), flow.jacobian[:, 0, 0].double()
        scale = max(1.0, float(u.abs().max()))
        # a gradient at the last step travels back by exactly these factors
        assert float((u[:-1] - jac[:-1] * u[1:]).abs().max()) <= 1e-5 * scale, cfg
        # ... and they are what the page's formula says
        sg = flow.surrogate_grad[:, 0, 0].double()
        v = cfg.V if cfg.recurrence == "one_to_one" else 0.0
        text = jacobian_formula(cfg)
        if cfg.reset_delay or cfg.reset_mechanism == "none":
            expected = cfg.beta + v * cfg.graded_spikes_factor * sg[:-1]
            if cfg.reset_mechanism == "zero":
                assert "(1 − R[t+1])" in text
                expected = expected * (1 - flow.trace.reset[1:, 0, 0].double())
            assert torch.allclose(jac[:-1], expected, rtol=1e-5, atol=1e-7), cfg
        elif cfg.reset_mechanism == "subtract":
            assert "(1 − θ·σ'[t+1])" in text
            expected = cfg.beta * (1 - cfg.threshold * sg[1:])
            assert torch.allclose(jac[:-1], expected, rtol=1e-5, atol=1e-7), cfg
    assert shown >= 20


def _near_boundary(current, beta, theta) -> bool:
    """Where U reaches θ exactly in real arithmetic, float32 rounding decides the step."""
    beta = min(1.0, max(0.0, beta))
    if beta in (0.0, 1.0):
        ratio = theta / current
    else:
        r = 1 - theta * (1 - beta) / current
        if abs(r) < 1e-5:
            return True
        if r <= 0:
            return False
        ratio = np.log(r) / np.log(beta)
    return abs(ratio - round(ratio)) < 1e-4


@pytest.mark.parametrize("mechanism, delay", [("zero", True), ("subtract", True), ("zero", False)])
def test_first_spike_latency_and_the_zero_reset_interval(mechanism, delay):
    from rleaky_viz.theory import first_spike_step, zero_reset_interval

    checked = 0
    for beta, theta, current in itertools.product((0.0, 0.5, 0.8, 0.9, 0.95, 1.0, 1.3), (0.5, 1.0),
                                                  np.linspace(0.05, 1.5, 30)):
        current = float(current)
        if _near_boundary(current, beta, theta):
            continue
        cfg = SimConfig(recurrence="none", beta=beta, threshold=theta, amplitude=current,
                        num_steps=300, reset_mechanism=mechanism, reset_delay=delay)
        s = np.flatnonzero(spikes(simulate(cfg))[:, 0, 0])
        first = first_spike_step(current, beta, theta)
        if first is not None and first >= cfg.num_steps:
            first = None
        assert (int(s[0]) if s.size else None) == first, (beta, theta, current)
        if mechanism == "zero" and delay and s.size > 1:
            assert set(np.diff(s)) == {zero_reset_interval(current, beta, theta)}, (beta, theta, current)
        checked += 1
    assert checked > 300


def test_the_explorers_latency_words():
    from rleaky_viz.theory import latency_caption

    for amplitude, mechanism, beta in itertools.product((0.05, 0.15, 0.3, 0.6, 1.2), ("subtract", "zero"),
                                                        (0.9, 1.0, 0.0)):
        cfg = SimConfig(recurrence="none", amplitude=amplitude, reset_mechanism=mechanism, num_steps=100,
                        beta=beta)
        assert overlay_applies(cfg)
        text = latency_caption(cfg, analytic_overlay(cfg))
        s = np.flatnonzero(spikes(simulate(cfg))[:, 0, 0])
        if "no spike" in text:
            assert not s.size
            continue
        if "rounding decides" in text:
            first = int(text.split("⌋ = ")[1].split(" ")[0])
            assert int(s[0]) in (first - 1, first)
            continue
        assert f"= {int(s[0])}" in text or (s[0] == 0 and "t* = 0" in text)
        if "every t* + 2" in text:
            assert set(np.diff(s)) == {int(s[0]) + 2}



def test_the_sweeps_f_i_caption():
    """'each curve leaves zero at θ(1-β)/(1-β^T)', shown where the overlay applies."""
    from rleaky_viz.navigation import PAGES
    from rleaky_viz.sweeps import sweep

    cfg = PAGES["sweeps"].default_config.replace(num_steps=120)
    assert overlay_applies(cfg)
    for beta in (0.5, 0.8, 0.95, 1.0):
        low = analytic_overlay(cfg.replace(beta=beta))["min_current"]
        amps = [low * f for f in (0.9, 0.99, 1.01, 1.1)]
        frame = sweep(cfg, {"beta": [beta], "amplitude": amps})
        rates = frame.sort_values("amplitude")["rate"].to_numpy()
        assert list(rates > 0) == [False, False, True, True], (beta, rates)
    assert not overlay_applies(cfg.replace(recurrence="one_to_one"))  # the caption is not shown
