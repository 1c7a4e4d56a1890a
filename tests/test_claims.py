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
            assert ("no recurrence" if cfg.recurrence == "none" else "decided before") in notes["recurrent"]
        if not cfg.reset_grad:
            assert totals["reset"] == 0 and "detaches" in notes["reset"]


ZERO_REASONS = [  # (setting, path, words of its reason)
    (dict(recurrence="none"), "recurrent", "there is no recurrence"),
    (dict(recurrence="one_to_one", V=0.0), "recurrent", "V = 0"),
    (dict(beta=0.0, amplitude=1.2), "leak", "β = 0"),
    (dict(surrogate="SFS", loss="spike_count"), "direct", "surrogate derivative is 0 at every spike decision"),
    (dict(surrogate="heaviside", amplitude=0.02, loss="spike_count"), "direct",
     "surrogate derivative is 0 at every spike decision"),
]


@pytest.mark.parametrize("changes, path, words", ZERO_REASONS)
def test_each_zero_path_gives_its_own_reason(changes, path, words):
    cfg = SimConfig(num_steps=60, amplitude=0.45).replace(**changes)
    flow = gradient_flow(cfg)
    note = dict(zip(PATHS, path_notes(flow)))[path]
    assert flow.path_totals()[path] == 0 and note.startswith(f"{path}: 0") and words in note, note
    if "surrogate" in words:
        assert not (flow.surrogate_grad != 0).any() and fired(flow.trace) == (changes["surrogate"] == "SFS")


def test_the_what_if_with_no_reset_changes_nothing_and_says_so():
    cfg = SimConfig(num_steps=60, reset_mechanism="none", loss="membrane_mse")
    on, off = gradient_flow(cfg.replace(reset_grad=True)), gradient_flow(cfg)
    assert torch.equal(on.dL_dmem, off.dL_dmem)
    assert "changes nothing" in dict(zip(PATHS, path_notes(on)))["reset"]
    assert "changes nothing" in gradient_note(cfg.replace(reset_grad=True))
    # and with a reset the what-if does change the gradients, and is not said to do nothing
    on = gradient_flow(cfg.replace(reset_mechanism="subtract", reset_grad=True))
    assert not torch.equal(on.dL_dmem, gradient_flow(cfg.replace(reset_mechanism="subtract")).dL_dmem)
    assert "changes nothing" not in gradient_note(cfg.replace(reset_mechanism="subtract", reset_grad=True))


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


ZERO_CORNER_GRID = [  # the corners of the zero-reset note: quantisation, inhibition with g ≠ 1
    SimConfig(recurrence="none", reset_mechanism="zero", reset_delay=d, state_quant_bits=q,
              inhibition=inh, num_neurons=3 if inh else 1, input_spread=0.3 if inh else 0.0,
              graded_spikes_factor=g, amplitude=a, num_steps=40)
    for d, q, inh, g, a in itertools.product((True, False), (0, 4), (False, True), (1.0, 2.0, 0.5),
                                             (0.4, 0.5))]


def test_the_zero_reset_note_in_its_corners():
    """'set to 0' / 'q(0) = level' / 'ends at 0' / 'keeps (1 − D)·U', each where it is said."""
    for cfg in ZERO_CORNER_GRID:
        t = simulate(cfg)
        (note,) = [n for n in odd_corners(cfg, t) if n.startswith("Reset to zero")]
        s, u = spikes(t)[:, 0], t.mem[:, 0].numpy()
        tt, ii = np.nonzero(s[:-1])
        assert tt.size, cfg
        if cfg.reset_delay:
            after = u[tt + 1, ii]
            if cfg.state_quant_bits:
                level = float(note.split("q(0) = ")[1].split(",")[0])
                assert np.allclose(after, level, atol=5e-5) and level != 0, (cfg, after)
            else:
                assert "set to 0" in note and np.all(after == 0), cfg
        elif cfg.inhibition and cfg.graded_spikes_factor != 1:
            assert "keeps (1 − D)·U, not 0" in note
            assert not np.any(u[tt, ii] == 0), cfg  # the winners' spike steps do not end at 0
            d = 1 / cfg.graded_spikes_factor - t.reset[tt, 0, ii].numpy()
            pre = t.decision[tt, 0, ii].numpy()  # the membrane before the same-step reset
            if not cfg.state_quant_bits:
                np.testing.assert_allclose(u[tt, ii], (1 - d) * pre, rtol=1e-5, atol=1e-6)
        else:
            assert "ends at 0" in note and np.all(u[tt, ii] == 0), cfg
        eq = update_equations(cfg)[-1]
        if not cfg.reset_delay:
            assert ("ends at 0" in eq) == (not (cfg.inhibition and cfg.graded_spikes_factor != 1))


FEEDBACK_GRID = [  # one-to-one V, its spikes' size g, the leak, two delays, subtract or no reset
    SimConfig(recurrence="one_to_one", reset_mechanism=m, reset_delay=d, V=v, graded_spikes_factor=g,
              beta=b, stimulus="pulse", amplitude=0.5, width=30, period=10_000, num_steps=260)
    for m, d, v, g, b in itertools.product(("subtract", "none"), (True, False), (0.05, 0.3, 1.0, 1.2, 2.5),
                                           (1.0, 0.5, -1.0, 2.0), (0.9, 1.0))]


def test_the_feedback_notes_use_v_times_g():
    """'V·g ≥ θ ... never stops' and 'no reset ... never stops' / '... would stop', checked after the
    input ends (a pulse of 30 steps in a run of 260)."""
    checked = 0
    for cfg in FEEDBACK_GRID:
        t = simulate(cfg)
        notes = [n for n in odd_corners(cfg, t) if "feed" in n or "No reset" in n]
        s = spikes(t)[:, 0, 0]
        late = s[200:]  # long after the pulse
        fb = cfg.V * cfg.graded_spikes_factor
        for note in notes:
            assert fb > 0, (cfg, note)
            if "never stops" in note:
                assert s[30:].any() and late.all(), (cfg, note)
                checked += 1
            if "the firing would stop" in note:
                assert not late.any(), (cfg, note)
                checked += 1
        if cfg.reset_mechanism == "subtract" and fb < cfg.threshold:
            assert not notes, cfg
        if fb <= 0:
            assert not notes, cfg
    assert checked > 20


@pytest.mark.parametrize("recurrence, changes", [
    ("linear", dict(num_neurons=40)), ("linear", dict(num_neurons=100)), ("linear", dict(num_neurons=1000)),
    ("conv2d", dict(kernel_init="default")), ("conv2d", dict(kernel_init="centre_surround")),
    ("conv2d", dict(kernel_init="lateral_excitation"))])
def test_the_bias_note_is_the_runs(recurrence, changes):
    """'k of N biases exceed ...: with zero input the largest fires' / 'no neuron fires' / no note."""
    cfg = SimConfig(recurrence=recurrence, amplitude=0.0, num_steps=100, **changes)
    t = simulate(cfg)
    notes = [n for n in odd_corners(cfg, t) if "bias" in n]
    bias = t.neuron.recurrent.bias.detach()
    if not (bias != 0).any():
        assert not notes
        assert not fired(t)
        return
    (note,) = notes
    if "no neuron fires" in note:
        assert not fired(t)
    else:
        assert "the neuron with the largest bias fires" in note and fired(t)
        b = bias.repeat_interleave(cfg.grid_size ** 2) if recurrence == "conv2d" else bias
        top = int(b.argmax())
        assert spikes(t)[:, 0].reshape(cfg.num_steps, -1)[:, top].any()


def test_a_membrane_at_theta_note_reads_the_decision():
    """'the membrane the spike test looked at equals θ exactly: those steps do not spike'."""
    for delay in (True, False):
        for amplitude, beta in ((2.0, 0.0), (1.0, 0.0), (0.25, 1.0)):
            cfg = SimConfig(recurrence="none", beta=beta, amplitude=amplitude, reset_delay=delay,
                            num_steps=12)
            t = simulate(cfg)
            said = any("equals θ exactly" in n for n in odd_corners(cfg, t))
            at = (t.decision == cfg.threshold).numpy()
            assert said == bool(at.any()), cfg
            assert not spikes(t)[at].any()  # those steps do not spike


def test_reset_markers_sit_where_a_reset_acted():
    """The explorer's 'reset applied' markers: where U was actually reset, by the rule."""
    from rleaky_viz.figures import neuron_figure

    for mechanism, delay in itertools.product(MECHANISMS, (True, False)):
        cfg = SimConfig(recurrence="none", reset_mechanism=mechanism, reset_delay=delay,
                        amplitude=0.3, num_steps=40)
        t = simulate(cfg)
        marks = next(tr for tr in neuron_figure(t).data if tr.name == "reset")
        x = np.asarray(marks.x, dtype=int)
        base, mem = t.base[:, 0, 0].numpy(), t.mem[:, 0, 0].numpy()
        acted = np.flatnonzero(mem != base)  # the reset took something away
        if mechanism == "none":
            assert x.size == 0
        else:
            assert fired(t) and np.array_equal(np.sort(x), acted), (cfg, x, acted)


def test_the_spike_counts_count_spikes_not_their_size():
    """Gradient flow's and Learn's spike numbers with a graded factor g ≠ 1."""
    from rleaky_viz.statistics import spike_words

    for g in (0.5, -1.0, 2.0):
        t = simulate(SimConfig(graded_spikes_factor=g, num_steps=80))
        n = int((t.spk != 0).sum())
        assert float(t.spk.sum()) != n and spike_words(t).startswith(f"{n} spikes,")


def test_the_learn_rate_target_is_spikes_per_step_whatever_g():
    """'Target: r spikes per step for every neuron': the loss reads spikes, not g·spikes."""
    from rleaky_viz.learn import train

    for g, inhibition in ((1.0, False), (2.0, False), (0.5, False), (2.0, True)):
        cfg = SimConfig(recurrence="linear", num_neurons=10, num_steps=80, learn_recurrent=True,
                        graded_spikes_factor=g, amplitude=0.5, inhibition=inhibition)
        result = train(cfg, target="rate", target_rate=0.1, epochs=1)
        rate = (simulate(cfg).spk[:, 0] != 0).double().mean(0)  # spikes per step, per neuron
        expect = float(((rate - 0.1) ** 2).mean() * 100)
        assert result.losses[0] == pytest.approx(expect, rel=1e-5), (g, inhibition)


def test_a_stopped_training_keeps_its_network():
    from rleaky_viz.learn import train

    cfg = SimConfig(recurrence="linear", num_neurons=10, num_steps=60, learn_recurrent=True)
    result = train(cfg, target="rate", target_rate=0.1, epochs=50, on_epoch=lambda e, r: e < 4)
    assert result.stopped and len(result.losses) == 5 and result.state_dict


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
        if "moves towards it and never fires" in text:
            fp = rmap["fixed_point"]
            assert not s.any() and u.max() <= cfg.threshold, cfg
            # it moves towards U* every step (monotone), and ends close when β < 1
            assert np.all(np.diff(np.abs(u - fp)) <= 1e-6), cfg
        elif "the map is the identity" in text:
            assert not s.any() and np.all(u == u[0]), cfg
        elif "lowers U by" in text:
            assert not s.any() and np.all(np.diff(u) < 0), cfg
        elif "more steps than this run has" in text:
            assert not s.any(), cfg
            assert fired(simulate(cfg.replace(num_steps=cfg.num_steps * 50))), cfg
        elif "fires on every step" in text:
            first = np.flatnonzero(s)[0]
            assert s[first:].all() and s.size - first >= 2, cfg
            if "after each reset" in text:  # the membrane the test looks at is above θ again
                assert cfg.reset_mechanism != "none"
                assert (t.decision[first + 1:, 0, 0] > cfg.threshold).all(), cfg
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



FI_SETTINGS = [  # (reset, delay, recurrence, V, offset, threshold)
    ("zero", True, "none", 0.5, 0.0, 1.0), ("zero", False, "none", 0.5, 0.1, 0.7),
    ("none", True, "one_to_one", 0.0, 0.0, 1.3), ("none", False, "none", 0.5, -0.05, 1.0),
    ("zero", True, "one_to_one", 0.0, 0.0, 0.5), ("subtract", True, "none", 0.5, 0.0, 1.0),
    ("subtract", False, "one_to_one", 0.8, 0.05, 1.0), ("zero", True, "one_to_one", -0.6, 0.0, 1.0),
]


@pytest.mark.parametrize("mechanism, delay, recurrence, V, offset, theta", FI_SETTINGS)
def test_the_f_i_theory_drawn_on_the_sweeps_page(mechanism, delay, recurrence, V, offset, theta):
    """Sweeps: the dashed exact rates and the onset triangles, in each setting where they are drawn."""
    from rleaky_viz.navigation import PAGES
    from rleaky_viz.sweeps import sweep, value_range
    from rleaky_viz.theory import count_applies, fi_caption, fi_theory, onset_applies

    cfg = PAGES["sweeps"].default_config.replace(
        num_steps=150, reset_mechanism=mechanism, reset_delay=delay, recurrence=recurrence, V=V,
        offset=offset, threshold=theta)
    betas, amps = value_range(0.3, 1.0, 6), value_range(0.0, 1.2, 61)
    frame = sweep(cfg, {"beta": betas, "amplitude": amps})
    exact = fi_theory(cfg, betas, amps)
    assert onset_applies(cfg) and set(exact["least_amplitude"]) == set(betas)
    feedback = recurrence == "one_to_one" and V != 0 and not (mechanism == "zero" and delay)
    assert bool(exact["exact_rate"]) == count_applies(cfg) == (mechanism != "subtract" and not feedback)
    caption = fi_caption(cfg)
    assert ("Dashed" in caption) == bool(exact["exact_rate"]) and "Triangles" in caption
    checked = 0
    for beta in betas:
        part = frame[frame["beta"] == beta].sort_values("amplitude")
        rates = part["rate"].to_numpy()
        edge = np.asarray(exact["boundary"][beta])
        onset = exact["least_amplitude"][beta]
        for a, r, on_edge in zip(amps, rates, edge):
            if on_edge:
                continue
            assert (r > 0) == (a > onset), (beta, a, onset, r)  # "each curve leaves zero there"
            checked += 1
        if exact["exact_rate"]:
            theory = np.asarray(exact["exact_rate"][beta])
            np.testing.assert_array_equal(rates[~edge], theory[~edge])
    assert checked > 300


def test_the_f_i_theory_is_not_drawn_where_it_would_be_wrong():
    """Where no theory is drawn (or no dashed line), the formulas would miss the run."""
    from rleaky_viz.navigation import PAGES
    from rleaky_viz.sweeps import sweep
    from rleaky_viz.theory import fi_caption, fi_theory, spike_count

    base = PAGES["sweeps"].default_config.replace(num_steps=150, reset_mechanism="zero")
    amps = [0.06, 0.1, 0.2, 0.4, 0.8]

    def misses(cfg, what):
        frame = sweep(cfg, {"beta": [0.9], "amplitude": amps}).sort_values("amplitude")
        counts = frame["spike_count"].to_numpy()
        if what == "onset":
            onset = analytic_overlay(cfg.replace(beta=0.9, offset=0.0))["min_current"]
            return any((c > 0) != (a + cfg.offset > onset) for a, c in zip(amps, counts))
        return any(c != spike_count(a + cfg.offset, 0.9, cfg.threshold, cfg.num_steps, "zero", True)
                   for a, c in zip(amps, counts))

    # a bias in the linear recurrence moves the onset: nothing is drawn, and the caption says why
    linear = base.replace(recurrence="linear", num_neurons=3)
    assert misses(linear, "onset") and not fi_theory(linear, [0.9], amps)["least_amplitude"]
    assert "No theory is drawn" in fi_caption(linear) and "linear" in fi_caption(linear)
    # noise, a sine: the same
    for cfg in (base.replace(noise_std=0.2), base.replace(stimulus="sine")):
        assert not fi_theory(cfg, [0.9], amps)["least_amplitude"] and "No theory is drawn" in fi_caption(cfg)
    # one-to-one feedback after a spike changes the count: the onset stays, the dashed line goes
    # (with reset_delay=False: the delayed zero reset wipes the feedback, see the next test)
    fed = base.replace(recurrence="one_to_one", V=0.4, reset_delay=False)
    assert misses(fed, "count") and not misses(fed, "onset")
    assert fi_theory(fed, [0.9], amps)["least_amplitude"] and not fi_theory(fed, [0.9], amps)["exact_rate"]
    # lateral inhibition among equal neurons: only one fires, the pooled rate is not the formula's
    crowd = base.replace(recurrence="none", num_neurons=4, inhibition=True)
    frame = sweep(crowd, {"beta": [0.9], "amplitude": [0.4]})
    lone = spike_count(0.4, 0.9, 1.0, 150, "zero", True)
    assert frame["spike_count"].iloc[0] < 4 * lone and not overlay_applies(crowd)
    assert not fi_theory(crowd, [0.9], [0.4])["least_amplitude"]


@pytest.mark.parametrize("V", [-2.0, -0.3, 0.7, 2.0])
def test_the_delayed_zero_reset_wipes_the_one_to_one_feedback(V):
    """'V·S arrives in the very step the delayed zero reset sets to 0, so V changes nothing'."""
    from rleaky_viz.theory import fi_caption

    for amplitude, beta in ((0.3, 0.9), (0.7, 0.5), (1.4, 0.95)):
        cfg = SimConfig(recurrence="one_to_one", reset_mechanism="zero", reset_delay=True, V=V,
                        amplitude=amplitude, beta=beta, num_steps=200)
        assert "V changes nothing" in fi_caption(cfg)
        with_v, without = simulate(cfg), simulate(cfg.replace(V=0.0))
        assert torch.equal(with_v.spk, without.spk) and torch.equal(with_v.mem, without.mem)
        assert fired(with_v)
    # and it is not said where V does change the run
    for changed in (dict(reset_delay=False), dict(reset_mechanism="subtract")):
        cfg = SimConfig(recurrence="one_to_one", reset_mechanism="zero", V=V, amplitude=0.3,
                        num_steps=200).replace(**changed)
        assert "V changes nothing" not in fi_caption(cfg)
        assert not torch.equal(simulate(cfg).mem, simulate(cfg.replace(V=0.0)).mem)


@pytest.mark.parametrize("beta", [0.3, 0.8, 0.9, 0.99])
@pytest.mark.parametrize("current", [0.01, 0.05])
def test_the_continuous_time_reading(beta, current):
    """'β = e^(−Δt/τ)', 'I reads as (1−β)·R·I_in', 'R·I_in = I/(1−β), the steady state'."""
    from rleaky_viz.theory import time_constant_reading

    cfg = SimConfig(recurrence="none", beta=beta, amplitude=current, threshold=10.0, num_steps=400)
    text = time_constant_reading(cfg)
    tau = -1.0 / np.log(beta)
    assert f"τ = −Δt/ln β = {tau:.3g} steps" in text
    assert np.isclose(np.exp(-1.0 / tau), beta)
    r_i = current / (1 - beta)
    assert f"R·I_in = I/(1−β) = {r_i:.4g}" in text
    u = simulate(cfg).mem[:, 0, 0].double().numpy()
    assert not fired(simulate(cfg))
    # the sampled solution of τ dU/dt = −U + R·I_in from rest, at t = 1, 2, ... (Δt = 1)
    t = np.arange(1, cfg.num_steps + 1)
    np.testing.assert_allclose(u, r_i * (1 - np.exp(-t / tau)), rtol=1e-4, atol=1e-6)
    assert abs(u[-1] - r_i) < 0.02 * r_i or beta > 0.985  # it settles at R·I_in


def test_the_distance_view_sweeps_the_surrogate_parameter():
    """The distance view's surrogate lines are the gradient of the run with that parameter."""
    from rleaky_viz.config import SURROGATE_FIELDS
    from rleaky_viz.flows import distance_sweep_start, gradient_vs_distance

    for surrogate in ("atan", "fast_sigmoid", "triangular"):
        cfg = SimConfig(surrogate=surrogate, num_steps=40, amplitude=0.4)
        start = distance_sweep_start(cfg)
        for name in SURROGATE_FIELDS[surrogate]:
            assert name in start and len(start[name]) >= 3
            values = start[name][:3]
            result = gradient_vs_distance(cfg, name, values)
            norms = [result["norms"][v] for v in values]
            for v, n in zip(values, norms):
                last = lambda spk, mem: mem[-1].sum()  # noqa: E731
                expect = gradient_flow(cfg.replace(**{name: v}), last).step_norms()[::-1]
                np.testing.assert_allclose(n, expect, rtol=1e-6)
            assert not np.allclose(norms[0], norms[-1])  # the parameter does change the gradient
    with pytest.raises(ValueError, match="atan_alpha"):
        gradient_vs_distance(SimConfig(surrogate="fast_sigmoid"), "atan_alpha", (1.0,))


# ----------------------------------------------------------------------------- audit, part two
def test_compare_numbers_are_the_drawn_neurons():
    """Compare: 'spikes first differ at step d' and max |U_A − U_B| are of the neuron shown."""
    from rleaky_viz.compare import first_divergence, neuron_divergence, neuron_membrane_gap
    from rleaky_viz.figures import compare_figure

    a_cfg = SimConfig(recurrence="linear", num_neurons=10, input_spread=0.5, num_steps=100)
    a, b = simulate(a_cfg), simulate(a_cfg.replace(beta=0.85))
    seen = set()
    for n in range(10):
        sa, sb = spikes(a)[:, 0, n], spikes(b)[:, 0, n]
        differs = np.flatnonzero(sa != sb)
        d = neuron_divergence(a.spk, b.spk, n)
        assert d == (int(differs[0]) if differs.size else None)
        title = compare_figure(a, b, neuron=n).layout.title.text
        assert (f"first differ at step {d}" in title) if d is not None else "never diverge" in title
        gap = float((a.mem[:, 0, n] - b.mem[:, 0, n]).abs().max())
        assert neuron_membrane_gap(a.mem, b.mem, n) == pytest.approx(gap)
        seen.add(d)
    assert len(seen) > 2 and first_divergence(a.spk, b.spk) == min(x for x in seen if x is not None)


@pytest.mark.parametrize("a_changes, b_changes, identical", [
    (dict(amplitude=0.05), dict(reset_mechanism="zero"), True),       # silent: the reset never acts
    (dict(amplitude=0.05), dict(reset_mechanism="none"), True),
    (dict(recurrence="none", loss="membrane_mse"), dict(surrogate="fast_sigmoid"), True),
    (dict(), dict(surrogate="fast_sigmoid"), False),
    (dict(), dict(reset_mechanism="zero"), False),
])
def test_compare_gradient_words(a_changes, b_changes, identical):
    from rleaky_viz.compare import forward_identical, gradient_gap, gradient_words

    cfg_a = SimConfig(num_steps=60).replace(**a_changes)
    cfg_b = cfg_a.replace(**b_changes)
    fa, fb = gradient_flow(cfg_a), gradient_flow(cfg_b)
    words = gradient_words(cfg_a, fa, fb)
    assert ("are identical" in words) == identical == torch.equal(fa.dL_dmem, fb.dL_dmem)
    if not identical:
        assert f"differ by up to {gradient_gap(fa, fb):.3g}" in words
    if "surrogate" in b_changes:  # the info box's 'forward runs identical' is computed
        assert forward_identical(fa.trace, fb.trace)


def test_mystery_hints_hold_for_every_challenge():
    """'a spike comes on exactly the steps where the membrane exceeds θ'; 'the step after a spike
    loses θ and gains V'."""
    from rleaky_viz.mystery import mystery_challenge

    for seed in range(12):
        cfg = mystery_challenge(seed)
        t = simulate(cfg)
        s, u = spikes(t)[:, 0, 0], t.mem[:, 0, 0].double().numpy()
        assert np.array_equal(s, u > cfg.threshold)
        assert u[~s].max() <= cfg.threshold < u[s].min()
        x, beta = t.input[:, 0, 0].double().numpy(), min(max(cfg.beta, 0), 1)
        after = np.flatnonzero(s[:-1]) + 1
        np.testing.assert_allclose(u[after] - (beta * u[after - 1] + x[after]),
                                   cfg.V - cfg.threshold, atol=1e-5)


def test_the_runaway_lesson_question_has_the_answers_it_implies():
    """'Lower V to 0.95, or β to 0.9: does it die out? With β = 0.99 it still fires at the last of
    these 120 steps: would it stop in a longer run?'"""
    cfg = PRESETS["runaway_v_equals_threshold"].config
    assert cfg.num_steps == 120 and "0.95" in LESSON_NOTES["runaway_v_equals_threshold"][1]
    last = lambda c: int(np.flatnonzero(spikes(simulate(c))[:, 0, 0])[-1])  # noqa: E731
    assert last(cfg) == 119
    assert last(cfg.replace(V=0.95)) < 110 and last(cfg.replace(beta=0.9)) < 110
    assert last(cfg.replace(beta=0.99)) == 119
    assert last(cfg.replace(beta=0.99, num_steps=400)) < 399


def test_the_presets_not_yet_checked():
    """strict_threshold, beta_clamped, runaway_v_equals_threshold and self_sustained do what they say."""
    strict = PRESETS["strict_threshold"].config
    assert not fired(simulate(strict))
    s = spikes(simulate(strict.replace(amplitude=1.001)))[:, 0, 0]
    assert s[::2].all() and not s[1::2].any()  # every other step
    clamped = PRESETS["beta_clamped"].config
    a, b = simulate(clamped), simulate(clamped.replace(beta=1.0))
    assert torch.equal(a.spk, b.spk) and torch.equal(a.mem, b.mem)
    run = PRESETS["runaway_v_equals_threshold"].config
    s = spikes(simulate(run))[:, 0, 0]
    first = int(np.flatnonzero(s)[0])
    assert s[first:].all() and run.width < run.num_steps  # never stops, after the input ends
    sus = PRESETS["self_sustained"].config
    t = simulate(sus.replace(num_steps=300))
    tail = spikes(t)[250:, 0].sum()
    assert tail > 0  # still active long after the kick (5 steps)
    assert not fired(simulate(sus.replace(amplitude=0.0, noise_std=0.0)))  # no kick, no noise: silent
    for weak in (1.0, 2.0):  # a weaker loop lets it die (a spike or two of noise aside)
        assert spikes(simulate(sus.replace(weight_gain=weak)))[250:, 0].sum() < 0.01 * tail


def test_the_sparse_regime_words():
    """'sparse: spikes, but no neuron has the 3 spikes an ISI CV needs'."""
    from rleaky_viz.regimes import REGIME_RULES
    from rleaky_viz.sweeps import sweep

    assert "no neuron has the 3 spikes" in REGIME_RULES["sparse"]
    cfg = SimConfig(recurrence="none", num_neurons=8, input_spread=0.5, num_steps=40)
    frame = sweep(cfg, {"amplitude": [0.0987, 0.2, 0.5], "beta": [0.9]})
    for _, row in frame.iterrows():
        t = simulate(cfg.replace(amplitude=float(row["amplitude"])))
        most = int(spikes(t)[:, 0].sum(0).max())
        if row["regime"] == "sparse":
            assert 0 < most < 3
        if row["regime"] in ("regular", "irregular"):
            assert most >= 3


# ----------------------------------------------------------------------------- review: the rest
def test_the_explorers_no_overlay_reasons():
    """'No analytic overlays here: <reasons>': each reason holds, and there is one wherever the
    overlay is not drawn."""
    from rleaky_viz.theory import overlay_reasons

    grid = [SimConfig(recurrence=r, stimulus=st, noise_std=n, state_quant_bits=q, inhibition=i,
                      num_neurons=k, input_spread=sp)
            for r, st, n, q, i, k, sp in itertools.product(("none", "one_to_one"), ("constant", "sine"),
                                                            (0.0, 0.1), (0, 4), (False, True), (1, 3),
                                                            (0.0, 0.4))]
    for cfg in grid:
        reasons = " ".join(overlay_reasons(cfg))
        assert overlay_applies(cfg) == (reasons == "")
        assert ("recurrence" in reasons) == (cfg.recurrence != "none")
        assert ("sine" in reasons) == (cfg.stimulus == "sine")
        assert ("noise" in reasons) == bool(cfg.noise_std)
        assert ("quantised" in reasons) == bool(cfg.state_quant_bits)
        assert ("inhibition" in reasons) == (cfg.inhibition and cfg.neuron_count > 1)
        assert ("spread" in reasons) == (bool(cfg.input_spread) and cfg.neuron_count > 1)
    # the inhibition reason is true: of three equal neurons only one fires
    t = simulate(SimConfig(recurrence="none", inhibition=True, num_neurons=3, amplitude=0.3))
    assert list((spikes(t)[:, 0].sum(0) > 0)) == [True, False, False]


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_the_continuous_time_reading_at_the_ends(beta):
    """β = 1: 'U grows by I every step'; β = 0: 'between resets U is this step's input alone'."""
    from rleaky_viz.theory import time_constant_reading

    cfg = SimConfig(recurrence="none", beta=beta, amplitude=0.3 if beta else 0.7, num_steps=30)
    text, t = time_constant_reading(cfg), simulate(cfg)
    u, r = t.mem[:, 0, 0].double().numpy(), t.reset[:, 0, 0].numpy()
    if beta == 1:
        assert "grows by I every step" in text
        first = int(np.flatnonzero(spikes(t)[:, 0, 0])[0])
        np.testing.assert_allclose(np.diff(u[:first + 1]), 0.3, atol=1e-6)
    else:
        assert "this step's input alone" in text
        np.testing.assert_allclose(u[r == 0], 0.7, atol=1e-6)


def test_the_return_map_with_no_input_and_no_leak():
    from rleaky_viz.dynamics import describe, return_map

    t = simulate(SimConfig(recurrence="none", beta=1.0, amplitude=0.0, num_steps=30))
    text = describe(return_map(t))
    assert "the map is the identity" in text and not fired(t)
    assert torch.all(t.mem == t.mem[0])


@pytest.mark.parametrize("loss", ["spike_count", "membrane_mse", "spike_times"])
@pytest.mark.parametrize("recurrence, delay, mechanism", [
    ("one_to_one", True, "subtract"), ("none", False, "subtract"), ("none", False, "zero"),
    ("one_to_one", True, "zero")])
def test_the_jacobian_caption_adds_the_losss_own_terms(loss, recurrence, delay, mechanism):
    """'each step back multiplies the gradient that U[t+1] carries by ∂U[t+1]/∂U[t]; the loss adds
    its own term at each step it looks at (directly, and through the next spike's decision)'."""
    cfg = SimConfig(recurrence=recurrence, reset_delay=delay, reset_mechanism=mechanism, loss=loss,
                    num_steps=60, amplitude=0.45)
    flow = gradient_flow(cfg)
    assert flow.jacobian is not None
    g, j = flow.dL_dmem.double(), flow.jacobian.double()
    own = flow.paths["direct"].double()
    if flow.late_reset:
        own = own + flow.paths["next_spike"].double()
    residual = g[:-1] - j[:-1] * g[1:] - own[:-1]
    assert float(residual.abs().max()) <= 1e-5 * max(1.0, float(g.abs().max()))
    assert float(own.abs().max()) > 0  # these losses do add their own terms


def test_one_inhibited_neuron_suppresses_nothing():
    """map_conditions: 'with one neuron inhibition suppresses nothing'."""
    from rleaky_viz.dynamics import map_conditions

    cfg = SimConfig(recurrence="one_to_one", inhibition=True, amplitude=0.4, num_steps=80)
    assert any("suppresses nothing" in w for w in map_conditions(cfg))
    t = simulate(cfg)
    assert fired(t) and np.array_equal(spikes(t), (t.decision > cfg.threshold).numpy())


def test_the_lesson_settings_line_lists_all_that_differs():
    """Lesson: 'Settings (all that differ from the defaults)': they rebuild the preset's run."""
    for preset in PRESETS.values():
        query = preset.config.to_query()
        assert SimConfig.from_query(query) == preset.config, preset.name
