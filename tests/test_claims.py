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
* the presets' ideas and the lesson notes named in issue 12;
* the Population and Conv grid figures' titles and hovers (counts, rates, merged
  and averaged steps, the weights' orientation, the spectral radius);
* the config fields' help texts that state behaviour (θ, inhibition, g, the
  recurrences, β's clamp, reset_delay, state quantisation, the stimulus, run,
  network and learning fields, the loss targets);
* the regime rule, its order and its words (Sweeps);
* Learn's "same seed, same result" and its teacher's 5-step smoothing;
* the Mystery score's stated formula and its "perfect fit" message;
* the surrogates' parameter help texts (peaks, widths, steps, noise ranges) and
  "every surrogate spikes identically";
* the NIR graph button's reasons and the note after a graph is opened
  (``nirgraph.export_refusal``, ``nirgraph.describe_import``).
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


# ----------------------------------------------------------------------------- audit, part three
# Population and Conv grid titles and hovers; the config fields' help texts; the regime rule;
# Learn's "same seed, same result"; the Mystery score and its perfect-fit message; the
# surrogates' parameter help texts.
def _bins(T, k):
    """The steps of each column when k steps share one: [(first, stop), ...]."""
    return [(a, min(a + k, T)) for a in range(0, T, k)]


@pytest.mark.parametrize("steps, max_pixels", [(23, 10**9), (23, 60), (60, 100), (200, 250)])
def test_the_population_figures_say_what_the_run_did(steps, max_pixels):
    """Raster: 'n spikes, N neurons, T steps', 'each pixel column merges k steps (the last one r),
    dark if any of them holds a spike'; rate: spikes per neuron per step, 'mean over w steps
    centred on each (down to m at the ends)' and each point's 'mean of steps a–b (n)'; heatmap:
    'each column averages k steps (the last one r)'; weights: 'row receives, column sends';
    spectrum: 'spectral radius ρ'."""
    from rleaky_viz.figures import (heatmap_figure, raster_figure, rate_figure, spectrum_figure,
                                    weight_figure)
    from rleaky_viz.figures.population import raster_mask

    n = 12
    cfg = SimConfig(recurrence="linear", num_neurons=n, num_steps=steps, batch_size=2, amplitude=0.45,
                    noise_std=0.3, input_spread=0.4, graded_spikes_factor=2.0, seed=4)
    t = simulate(cfg)
    counts = set()
    for b in range(2):
        s = spikes(t)[:, b]                                     # (T, N): a spike is spk != 0
        count = int(s.sum())
        counts.add(count)
        raster = raster_figure(t, batch=b, max_pixels=max_pixels)
        title = raster.layout.title.text
        assert f"(sample {b}): {count} spikes, {n} neurons, {steps} steps" in title
        mask, k = raster_mask(t, b, max_pixels)
        bins = _bins(steps, k)
        expect = np.stack([s[a:z].any(0) for a, z in bins], axis=1)  # dark iff any step of its bin
        assert np.array_equal(mask, expect)
        last = bins[-1][1] - bins[-1][0]
        hover = raster.data[0].hovertemplate
        if k == 1:
            assert "merges" not in title and hover.startswith("step %{x}")
        else:
            assert f"merges {k} steps" in title and "dark if any of them holds a spike" in title
            assert (f"(the last one {last})" in title) == (last != k) == (f"{last} in the last" in hover)
        heat = heatmap_figure(t, "mem", batch=b, max_cells=max_pixels)
        kh = heat.layout.meta["merged_steps"]
        mem = t.mem[:, b].double().numpy()
        z = np.asarray(heat.data[0].z, dtype=np.float64)
        hb = _bins(steps, kh)
        np.testing.assert_allclose(z, np.stack([mem[a:e].mean(0) for a, e in hb], axis=1), rtol=1e-6,
                                   atol=1e-6)
        hl = hb[-1][1] - hb[-1][0]
        if kh > 1:
            assert f"averages {kh} steps" in heat.layout.title.text
            assert ("(the last one" in heat.layout.title.text) == (hl != kh)
            assert (f"of {hl} in the last column" in heat.data[0].hovertemplate) == (hl != kh)
        for window in (1, 5, 10, 2 * steps):
            fig = rate_figure(t, window=window, batch=b)
            raw = np.asarray(fig.data[0].y)
            smooth = np.asarray(fig.data[1].y)
            np.testing.assert_allclose(raw, s.mean(1))          # spikes per neuron, each step
            spans = np.asarray(fig.data[1].customdata)
            first, final, many = spans.T
            assert np.array_equal(many, final - first + 1) and many.max() <= window
            for step in range(steps):                            # centred on the step, clipped
                assert first[step] == max(0, step - (window - 1) // 2)
                assert final[step] == min(steps - 1, step + window // 2)
                assert smooth[step] == pytest.approx(raw[first[step]:final[step] + 1].mean())
            text = fig.layout.title.text
            if (many == steps).all():
                assert f"mean over all {steps} steps" in text
            else:
                assert f"mean over {window} step" in text
                assert (f"down to {many.min()} at the ends" in text) == (many.min() < window)
            assert "%{customdata[0]}–%{customdata[1]} (%{customdata[2]})" in fig.data[1].hovertemplate
    assert len(counts) == 2  # the two samples differ: each title is its own sample's
    # weights: row i receives, column j sends; that is what the run's recurrent current does
    w = t.neuron.recurrent.weight.detach().double().numpy()
    bias = t.neuron.recurrent.bias.detach().double().numpy()
    wf = weight_figure(w)
    assert "row receives, column sends" in wf.layout.title.text
    z = np.asarray(wf.data[0].z, dtype=np.float64)
    assert wf.layout.yaxis.title.text.startswith("receiving") and wf.layout.xaxis.title.text.startswith("sending")
    spk = t.spk.double().numpy()
    rec = t.recurrent.double().numpy()
    np.testing.assert_allclose(rec[1:], np.einsum("ij,tbj->tbi", z, spk[:-1]) + bias, atol=1e-5)
    assert not np.allclose(z, z.T)  # the orientation matters
    rho = float(np.abs(np.linalg.eigvals(w)).max())
    assert f"spectral radius ρ = {rho:.4g}" in spectrum_figure(w).layout.title.text


@pytest.mark.parametrize("steps, max_frames", [(12, 60), (40, 9), (101, 60)])
def test_the_conv_grid_figures_say_what_the_run_did(steps, max_frames):
    """'Spikes of channel c (sample b), showing n of T steps, evenly spaced', 'step t: k of H·W
    neurons spike', the frame is that step's spikes; the rate map is spikes per step over T."""
    from rleaky_viz.figures import conv_frames_figure, rate_map_figure

    cfg = SimConfig(recurrence="conv2d", conv2d_channels=2, grid_size=6, num_steps=steps, batch_size=2,
                    amplitude=0.5, noise_std=0.4, graded_spikes_factor=1.5, seed=2)
    t = simulate(cfg)
    seen = set()
    for ch, b in itertools.product(range(2), range(2)):
        s = spikes(t)[:, b, ch]                                      # (T, H, W)
        fig = conv_frames_figure(t, channel=ch, batch=b, max_frames=max_frames)
        shown = fig.layout.meta["frame_steps"]
        if steps <= max_frames:
            assert shown == list(range(steps)) and f"all {steps} steps" in fig.layout.title.text
        else:
            gaps = np.diff(shown)
            assert shown[0] == 0 and shown[-1] == steps - 1 and gaps.max() - gaps.min() <= 1
            assert f"showing {len(shown)} of {steps} steps, evenly spaced" in fig.layout.title.text
        for frame in fig.frames:
            step = int(frame.name)
            z = np.asarray(frame.data[0].z)
            assert np.array_equal(z != 0, s[step])                   # exactly its own step
            assert (f"step {step}: {int(s[step].sum())} of 36 neurons spike"
                    in frame.layout.title.text)
            seen.add(int(s[step].sum()))
        rate = rate_map_figure(t, channel=ch, batch=b)
        np.testing.assert_allclose(np.asarray(rate.data[0].z), s.mean(0), rtol=1e-6)
        assert f"channel {ch} (sample {b}) over {steps} steps" in rate.layout.title.text
        assert "spikes/step" in rate.data[0].hovertemplate
    assert len(seen) > 3


# ----------------------------------------------------------------------------- the help texts
def _help(name):
    from rleaky_viz.config import control

    return control(name).help


def _recurrent_of(t, cfg):
    """What the help says the recurrence adds at step t: rec(S[t-1]) (S[-1] = 0)."""
    import torch.nn.functional as F

    spk = torch.cat([torch.zeros_like(t.spk[:1]), t.spk[:-1]]).double()
    if cfg.recurrence == "none":
        return torch.zeros_like(spk)
    if cfg.recurrence == "one_to_one":
        return cfg.V * spk
    w = t.neuron.recurrent.weight.detach().double()
    bias = t.neuron.recurrent.bias.detach().double()
    if cfg.recurrence == "linear":
        return spk @ w.T + bias
    flat = spk.reshape(-1, *spk.shape[2:])
    out = F.conv2d(flat, w, bias, padding=cfg.kernel_size // 2)
    return out.reshape(spk.shape)


NEURON_HELP_GRID = [
    SimConfig(recurrence=r, reset_mechanism=m, reset_delay=d, graded_spikes_factor=g, inhibition=i,
              state_quant_bits=q, beta=beta, num_neurons=4, input_spread=0.5, grid_size=4,
              amplitude=0.45, V=0.3,
              noise_std=0.05, num_steps=40)
    for r, m, d, g, i, q, beta in itertools.product(
        ("one_to_one", "linear", "none", "conv2d"), ("subtract", "zero"), (True, False), (1.0, -1.5),
        (False, True), (0, 4), (0.9, 1.3))
    if not (r == "conv2d" and i) and not (q and beta != 0.9) and not (g != 1 and r == "conv2d")]


def test_the_neuron_fields_help_texts():
    """threshold 'U must exceed it'; inhibition 'only the neuron with the largest U - θ may spike';
    g 'spike amplitude g; with inhibition a spike is 1'; recurrence 'one_to_one: V·S; linear:
    nn.Linear; conv2d: nn.Conv2d; none: no feedback'; β 'decay per step, clamped to [0, 1]';
    reset_delay 'True: reset applied at the next step (reference default)'; state quantisation
    'quantise U to 2**bits levels; with reset_delay=False ... where it acts (a spike, or a pending
    reset it undoes, as on a neuron inhibition suppressed) U need not be a level'."""
    assert "U must exceed it" in _help("threshold")
    assert "only the neuron with the largest U - θ may spike" in _help("inhibition")
    assert "spike amplitude g" in _help("graded_spikes_factor")
    assert "with inhibition a spike is 1" in _help("graded_spikes_factor")
    assert _help("recurrence") == "one_to_one: V·S; linear: nn.Linear; conv2d: nn.Conv2d; none: no feedback"
    assert "clamps β to [0, 1] in every step" in _help("beta")
    assert _help("reset_delay") == "True: reset applied at the next step (reference default)"
    assert "quantise U to 2**bits levels" in _help("state_quant_bits")
    assert ("where it acts (a spike, or a pending reset it undoes, as on a neuron inhibition "
            "suppressed) U need not be a level") in _help("state_quant_bits")
    off_level = {"spike": 0, "suppressed": 0}
    for cfg in NEURON_HELP_GRID:
        t = simulate(cfg)
        s = spikes(t)
        theta = cfg.threshold
        dec = t.decision.double()
        assert s.any(), cfg
        # g: the size of every spike (1 under inhibition)
        size = 1.0 if cfg.inhibition else cfg.graded_spikes_factor
        assert set(torch.unique(t.spk).tolist()) == {0.0, size}, cfg
        if cfg.inhibition:  # per step and sample: the largest U − θ, if above 0, and only it
            shift = (dec - theta).reshape(cfg.num_steps, cfg.batch_size, -1)
            flat = s.reshape(cfg.num_steps, cfg.batch_size, -1)
            assert flat.sum(-1).max() == 1
            top = shift.argmax(-1).numpy()
            want = np.zeros_like(flat)
            np.put_along_axis(want, top[..., None], (shift.max(-1).values > 0).numpy()[..., None], -1)
            assert np.array_equal(flat, want), cfg
            assert ((dec > theta).numpy().sum(-1) > 1).any(), cfg  # ... though others were above
        else:               # θ: a spike exactly where the tested membrane exceeds it
            assert np.array_equal(s, (dec > theta).numpy()), cfg
        # the recurrence: what each one adds at step t
        torch.testing.assert_close(t.recurrent.double(), _recurrent_of(t, cfg), rtol=1e-5, atol=1e-5)
        # β: the leak is clamp(β, 0, 1)·U[t-1], and β outside [0, 1] runs as the clamped value
        mem = t.mem.double()
        prev = torch.cat([torch.zeros_like(mem[:1]), mem[:-1]])
        clamped = min(max(cfg.beta, 0.0), 1.0)
        torch.testing.assert_close(t.leak.double(), clamped * prev, rtol=1e-6, atol=1e-6)
        if clamped != cfg.beta:
            other = simulate(cfg.replace(beta=clamped))
            assert torch.equal(other.spk, t.spk) and torch.equal(other.mem, t.mem), cfg
        # reset_delay: where the reset of a spike at t acts
        fresh = s & (t.reset.numpy() == 0)          # spiked, no reset pending from the step before
        u = mem.numpy()
        if cfg.reset_delay:
            tt = np.nonzero(s[:-1])
            assert np.all(t.reset.numpy()[1:][tt] == 1), cfg   # ... applied at the next step
            assert np.all(u[fresh] > theta), cfg               # ... not in the spike step itself
        else:  # ... in the spike step itself, by D = S/g (the registered same-step equation)
            d = t.spk.double().numpy() / cfg.graded_spikes_factor
            expected = dec.numpy() * (1 - d) if cfg.reset_mechanism == "zero" else dec.numpy() - d * theta
            np.testing.assert_allclose(u[fresh], expected[fresh], rtol=1e-5, atol=1e-5)
            assert not np.isclose(u[fresh], dec.numpy()[fresh]).any(), cfg
        # state quantisation: U on the 2**bits levels, except where a same-step reset acted
        if cfg.state_quant_bits:
            levels = t.neuron.state_quant.levels.double()
            assert levels.numel() == 2 ** cfg.state_quant_bits
            on = torch.isclose(mem[..., None], levels, rtol=0, atol=1e-6).any(-1).numpy()
            acted = (t.spk.numpy() / cfg.graded_spikes_factor - t.reset.numpy()) != 0  # D ≠ 0
            if cfg.reset_delay:
                assert on.all(), cfg
            else:
                assert on[~acted].all(), cfg
                off_level["spike"] += int((~on & s).sum())
                undone = ~on & ~s                                   # no spike: a pending reset undone
                assert np.all(t.reset.numpy()[undone] == 1), cfg
                if cfg.inhibition:
                    off_level["suppressed"] += int((undone & (t.decision.numpy() > theta)).sum())
    assert min(off_level.values()) > 0  # the caveat is needed, both of its cases


def test_reset_delay_true_is_the_reference_default():
    import inspect

    snn = pytest.importorskip("snntorch")
    assert SimConfig().reset_delay is True
    assert inspect.signature(snn.RLeaky.__init__).parameters["reset_delay"].default is True


def test_the_stimulus_and_run_fields_help_texts():
    """offset 'added to every step'; onset 'first step of the step'; 'pulse and sine period',
    'pulse width'; poisson 'spike probability per step'; 'Gaussian noise added to any stimulus';
    input_spread 'neuron i gets amplitude·(1 - spread + 2·spread·i/(N-1))'; expression 'a function
    of t (and n)'; seed 'seeds weights and random stimuli'; batch_size 'independent samples'."""
    from rleaky_viz.stimulus import make_input

    assert _help("offset") == "added to every step" and _help("onset") == "step: first step of the step"
    assert _help("period") == "pulse and sine period (steps)" and _help("width") == "pulse width (steps)"
    assert _help("rate") == "poisson: spike probability per step"
    assert _help("noise_std") == "Gaussian noise added to any stimulus"
    assert _help("input_spread") == "neuron i gets amplitude·(1 - spread + 2·spread·i/(N-1))"
    x = lambda cfg: make_input(cfg).double().numpy()  # noqa: E731
    tt = np.arange(300)[:, None, None]
    base = SimConfig(recurrence="none", num_neurons=5, batch_size=3, num_steps=300, amplitude=0.7)
    for stimulus in ("constant", "step", "pulse", "ramp", "sine", "noise", "poisson"):
        cfg = base.replace(stimulus=stimulus, period=40, width=7, onset=33, rate=0.2, noise_std=0.1)
        for offset in (-0.3, 0.25):
            np.testing.assert_allclose(x(cfg.replace(offset=offset)) - x(cfg), offset, atol=1e-6)
    a = base.amplitude
    np.testing.assert_array_equal(x(base.replace(stimulus="step", onset=33)),
                                  np.where(tt >= 33, np.float32(a), 0.0) * np.ones((1, 3, 5)))
    for period, width in ((40, 7), (9, 2), (100, 99)):
        pulse = x(base.replace(stimulus="pulse", period=period, width=width))[:, 0, 0]
        on = np.flatnonzero(pulse)
        assert np.all(pulse[on] == np.float32(a))
        starts = on[np.diff(np.concatenate([[-2], on])) > 1]
        assert list(starts) == list(range(0, 300, period))          # one pulse per period
        assert len(on) == sum(min(width, 300 - s0) for s0 in starts)  # each `width` steps long
        sine = x(base.replace(stimulus="sine", period=period))[:, 0, 0]
        np.testing.assert_allclose(sine[period:], sine[:-period], atol=1e-6)
        np.testing.assert_allclose(sine, a * np.sin(2 * np.pi * np.arange(300) / period), atol=1e-6)
    big = base.replace(num_steps=2000, num_neurons=50, batch_size=4)
    for rate in (0.05, 0.3):
        p = x(big.replace(stimulus="poisson", rate=rate))
        assert set(np.unique(p)) == {0.0, np.float32(a)}
        sd = np.sqrt(rate * (1 - rate) / p.size)
        assert abs((p != 0).mean() - rate) < 5 * sd
    for stimulus in ("constant", "sine", "expression", "pulse"):
        for std in (0.05, 0.8):
            cfg = big.replace(stimulus=stimulus, expression="0.1*sin(t/7) + 0.01*n")
            noise = x(cfg.replace(noise_std=std)) - x(cfg)
            assert abs(noise.mean()) < 5 * std / np.sqrt(noise.size)
            assert abs(noise.std() / std - 1) < 0.01
            assert abs(((noise / std) ** 4).mean() - 3) < 0.1       # Gaussian: kurtosis 3
    expr = x(base.replace(stimulus="expression", expression="0.01*t - 0.2*n"))
    np.testing.assert_allclose(expr, np.broadcast_to(0.01 * tt - 0.2 * np.arange(5), expr.shape), atol=1e-6)
    for stimulus, spread in itertools.product(("constant", "sine", "poisson"), (0.0, 0.4, 1.0)):
        cfg = base.replace(stimulus=stimulus, input_spread=spread, period=40, rate=0.5)
        n = np.arange(5)
        plain = x(cfg.replace(input_spread=0.0))  # what the amplitude alone gives each neuron
        np.testing.assert_allclose(x(cfg), plain * (1 - spread + 2 * spread * n / 4), atol=1e-6)
    # the seed: the same seed, the same weights and noise; another, others
    rnd = SimConfig(recurrence="linear", num_neurons=6, noise_std=0.2, num_steps=50)
    one, again, other = simulate(rnd), simulate(rnd), simulate(rnd.replace(seed=1))
    assert torch.equal(one.input, again.input) and torch.equal(one.spk, again.spk)
    assert not torch.equal(one.input, other.input)
    assert not torch.equal(one.neuron.recurrent.weight, other.neuron.recurrent.weight)
    # independent samples: a batch of a fixed stimulus is that run, sample by sample
    for changes in (dict(recurrence="linear", num_neurons=6, input_spread=0.5),
                    dict(recurrence="none", num_neurons=4, inhibition=True, input_spread=0.3),
                    dict(recurrence="conv2d", grid_size=5, amplitude=0.6)):
        cfg = SimConfig(num_steps=60, amplitude=0.45).replace(**changes)
        alone, batch = simulate(cfg), simulate(cfg.replace(batch_size=3))
        assert fired(alone)
        for b in range(3):
            assert torch.equal(batch.spk[:, b], alone.spk[:, 0])
            torch.testing.assert_close(batch.mem[:, b], alone.mem[:, 0], rtol=1e-6, atol=1e-6)
    noisy = simulate(SimConfig(num_steps=60, batch_size=3, noise_std=0.3))
    assert not torch.equal(noisy.input[:, 0], noisy.input[:, 1])  # random stimuli differ per sample


def test_the_network_fields_help_texts():
    """weight_gain 'multiplies the initial weights'; weight_sparsity 'each weight is set to zero
    with this probability'; excitatory_fraction 'share of excitatory neurons (ei)'; the sizes."""
    from rleaky_viz.simulate import build_neuron

    assert _help("weight_gain") == "multiplies the initial weights"
    assert _help("weight_sparsity") == "each weight is set to zero with this probability"
    assert _help("excitatory_fraction") == "share of excitatory neurons (ei)"
    weights = lambda cfg: build_neuron(cfg).recurrent.weight.detach().double()  # noqa: E731
    bias = lambda cfg: build_neuron(cfg).recurrent.bias.detach()  # noqa: E731
    for cfg in (SimConfig(recurrence="linear", num_neurons=20), SimConfig(recurrence="linear", num_neurons=20,
                                                                          weight_init="ei"),
                SimConfig(recurrence="linear", num_neurons=20, weight_sparsity=0.5),
                SimConfig(recurrence="conv2d", conv2d_channels=2),
                SimConfig(recurrence="conv2d", kernel_init="centre_surround")):
        for gain in (0.0, 0.5, 2.5):
            torch.testing.assert_close(weights(cfg.replace(weight_gain=gain)), gain * weights(cfg),
                                       rtol=1e-6, atol=0)
            assert torch.equal(bias(cfg.replace(weight_gain=gain)), bias(cfg))  # the weights, not the bias
    n = 300
    for p in (0.1, 0.5, 0.9):
        w = weights(SimConfig(recurrence="linear", num_neurons=n, weight_sparsity=p))
        zero = float((w == 0).double().mean())
        assert abs(zero - p) < 5 * np.sqrt(p * (1 - p) / n ** 2), (p, zero)
    for frac, n in itertools.product((0.0, 0.3, 0.8, 1.0), (10, 25)):
        w = weights(SimConfig(recurrence="linear", num_neurons=n, weight_init="ei",
                              excitatory_fraction=frac, weight_sparsity=0.3))
        excitatory = (w >= 0).all(0)   # column j: what neuron j sends
        inhibitory = (w <= 0).all(0)
        assert bool((excitatory | inhibitory).all())
        k = int(excitatory.sum()) if frac < 1 else n
        assert abs(k / n - frac) <= 0.5 / n + 1e-12 and bool(excitatory[:k].all())
    conv = simulate(SimConfig(recurrence="conv2d", conv2d_channels=3, grid_size=7, kernel_size=5,
                              num_steps=5))
    assert conv.spk.shape == (5, 1, 3, 7, 7)
    assert tuple(conv.neuron.recurrent.weight.shape) == (3, 3, 5, 5)
    assert simulate(SimConfig(recurrence="linear", num_neurons=9, num_steps=5)).spk.shape == (5, 1, 9)


@pytest.mark.parametrize("recurrence", ["one_to_one", "linear", "none"])
def test_the_learning_flags_help_texts(recurrence):
    """learn_beta / learn_threshold: 'a trainable parameter (gets a gradient)'; learn_recurrent:
    'V or the recurrent weights and bias are trainable': exactly what training moves."""
    from rleaky_viz.learn import train
    from rleaky_viz.simulate import build_neuron

    assert "β is a trainable parameter (gets a gradient)" == _help("learn_beta")
    assert "θ is a trainable parameter (gets a gradient)" == _help("learn_threshold")
    assert "V or the recurrent weights and bias are trainable" == _help("learn_recurrent")
    recurrent = {"one_to_one": {"V"}, "linear": {"recurrent.weight", "recurrent.bias"}, "none": set()}
    for lb, lt, lr in itertools.product((False, True), repeat=3):
        cfg = SimConfig(recurrence=recurrence, num_neurons=4, input_spread=0.4, amplitude=0.45,
                        num_steps=60, learn_beta=lb, learn_threshold=lt, learn_recurrent=lr,
                        loss="membrane_mse", loss_target=0.3)
        want = ({"beta"} if lb else set()) | ({"threshold"} if lt else set()) | (
            recurrent[recurrence] if lr else set())
        trainable = {n for n, p in build_neuron(cfg).named_parameters() if p.requires_grad}
        assert trainable == want, (cfg, trainable)
        grads = gradient_flow(cfg).param_grads
        assert ("beta" in grads) == lb and ("threshold" in grads) == lt
        assert all(float(grads[n].abs().sum()) > 0 for n in want)  # each gets a gradient here
        if not want:
            continue
        result = train(cfg, target="rate", target_rate=0.3, epochs=2, lr=0.05)
        before = dict(build_neuron(cfg).named_parameters())
        moved = {k for k, v in before.items() if not torch.equal(result.state_dict[k], v.detach())}
        assert set(result.params) == want and moved == want, (cfg, moved)


@pytest.mark.parametrize("g, inhibition", [(1.0, False), (2.0, False), (-0.5, False), (2.0, True)])
def test_the_loss_target_help_text(g, inhibition):
    """'spike_count: target of each neuron's ΣS[t], its spike count × g (with inhibition a spike
    is 1); membrane_mse: target U; cross_entropy: index of the correct neuron'; and spike_times:
    'steps where a spike is wanted'."""
    import torch.nn.functional as F

    assert _help("loss_target") == ("spike_count: target of each neuron's ΣS[t], its spike count × g "
                                    "(with inhibition a spike is 1); membrane_mse: target U; "
                                    "cross_entropy: index of the correct neuron")
    assert _help("target_times") == "spike_times: steps where a spike is wanted (comma-separated)"
    base = SimConfig(recurrence="none", num_neurons=3, input_spread=0.5, amplitude=0.4, num_steps=60,
                     graded_spikes_factor=g, inhibition=inhibition)
    t = simulate(base)
    count = spikes(t).sum(0).astype(np.float64)             # (batch, N) spikes
    size = 1.0 if inhibition else g
    assert count.sum() > 0
    for target in (0.0, 4.0, 9.0):
        cfg = base.replace(loss="spike_count", loss_target=target)
        assert gradient_flow(cfg).loss == pytest.approx(((size * count - target) ** 2).mean(), rel=1e-6)
    # the loss is 0 where ΣS meets the target: count × g (not the count, unless g = 1)
    one = base.replace(num_neurons=1, input_spread=0.0, inhibition=False)
    n1 = int(spikes(simulate(one)).sum())
    assert gradient_flow(one.replace(loss="spike_count", loss_target=n1 * g)).loss == 0.0
    assert (gradient_flow(one.replace(loss="spike_count", loss_target=n1)).loss == 0.0) == (g == 1)
    u = t.mem.double().numpy()
    for target in (-0.2, 0.5):
        cfg = base.replace(loss="membrane_mse", loss_target=target)
        assert gradient_flow(cfg).loss == pytest.approx(((u - target) ** 2).mean(), rel=1e-6)
    for label in range(3):
        cfg = base.replace(loss="cross_entropy", loss_target=float(label))
        logits = t.spk.double().sum(0).reshape(1, -1)
        expect = float(F.cross_entropy(logits, torch.tensor([label])))
        assert gradient_flow(cfg).loss == pytest.approx(expect, rel=1e-4, abs=1e-6)  # float32
    steps = np.flatnonzero(spikes(simulate(one.replace(graded_spikes_factor=1.0)))[:, 0, 0])
    hit = one.replace(graded_spikes_factor=1.0, loss="spike_times",
                      target_times=",".join(str(int(s)) for s in steps))
    assert gradient_flow(hit).loss == 0.0           # wanted exactly where it spikes: no loss
    late = [int(s) + 1 for s in steps if s + 1 < one.num_steps]
    miss = hit.replace(target_times=",".join(str(s) for s in late))
    wrong = len(set(int(s) for s in steps) ^ set(late))  # each step spiked but not wanted, or wanted
    assert wrong > 10 and gradient_flow(miss).loss == pytest.approx(wrong)


# ----------------------------------------------------------------------------- regimes
REGIME_GRID = [  # (base config, sweep grid): tonic, noisy, coupled, runaway, bursting and silent points
    (SimConfig(recurrence="none", num_steps=150), {"amplitude": [0.0, 0.05, 0.12, 0.2, 0.35, 0.7, 1.5, 3.0],
                                                   "beta": [0.8, 1.0]}),
    (SimConfig(recurrence="none", num_steps=150, noise_std=0.35, num_neurons=3, input_spread=0.5),
     {"amplitude": [0.0, 0.1, 0.3, 0.6], "beta": [0.9]}),
    (SimConfig(recurrence="linear", num_neurons=8, num_steps=150, input_spread=0.6, weight_gain=2.0),
     {"amplitude": [0.1, 0.3, 0.6, 1.2], "beta": [0.9]}),
    (SimConfig(recurrence="one_to_one", num_steps=150, stimulus="pulse", period=50, width=12),
     {"V": [-0.5, 0.0, 0.6, 0.95], "amplitude": [0.4, 1.2]}),
    (SimConfig(recurrence="none", num_steps=20, batch_size=2, noise_std=0.3), {"amplitude": [0.1, 0.25, 0.5]}),
    (SimConfig(recurrence="none", num_steps=2), {"amplitude": [0.5, 1.5, 3.0]}),  # too short for a CV
]


def _regime_by_the_words(cfg):
    """The regime as REGIME_RULES and the Sweeps caption state it, from the point's own run."""
    from rleaky_viz.regimes import REGULAR_CV, REGULAR_JITTER, RUNAWAY_RATE

    s = spikes(simulate(cfg)).reshape(cfg.num_steps, -1)        # (T, samples × neurons)
    count, rate = int(s.sum()), s.mean()                        # rate: spikes per step per neuron
    cvs, stds = [], []
    for column in s.T:
        isi = np.diff(np.flatnonzero(column))
        if isi.size >= 2:                                       # the neurons with at least 3 spikes
            cvs.append(isi.std() / isi.mean())
            stds.append(isi.std())
    for name, holds in (("silent", count == 0), ("runaway", rate >= RUNAWAY_RATE),
                        ("sparse", not cvs),
                        ("regular", cvs and (np.mean(cvs) < REGULAR_CV or np.mean(stds) <= REGULAR_JITTER))):
        if holds:
            return name, count, rate, cvs, stds
    return "irregular", count, rate, cvs, stds


def test_the_regime_rule_its_order_and_its_words():
    """REGIME_RULES and 'Checked in this order: silent, runaway, sparse, regular, irregular. The CV
    and ISI std of a point are averages over those of its neurons (and samples) that have at least
    3 spikes; its rate is spikes per step per neuron.'  Each sweep point's label is what these
    words give from the point's own run."""
    from pathlib import Path

    from rleaky_viz.regimes import REGIME_RULES, REGIMES, REGULAR_CV, REGULAR_JITTER, RUNAWAY_RATE
    from rleaky_viz.sweeps import point_config, sweep

    page = (Path(__file__).resolve().parent.parent / "pages" / "7_Sweeps.py").read_text(encoding="utf-8")
    order = ("silent", "runaway", "sparse", "regular", "irregular")
    assert f"Checked in this order: {', '.join(order)}." in page and set(order) == set(REGIMES)
    assert REGIME_RULES["silent"] == "no spike at all"
    assert REGIME_RULES["runaway"].startswith(f"rate ≥ {RUNAWAY_RATE} spikes per step")
    assert REGIME_RULES["regular"].startswith(f"ISI CV < {REGULAR_CV}, or ISI std ≤ {REGULAR_JITTER} step")
    seen, order_matters = set(), set()
    for cfg, grid in REGIME_GRID:
        frame = sweep(cfg, grid)
        for _, row in frame.iterrows():
            point = point_config(cfg, row)
            name, count, rate, cvs, stds = _regime_by_the_words(point)
            assert row["regime"] == name, (point, row.to_dict())
            assert row["spike_count"] == count and row["rate"] == pytest.approx(rate)
            if cvs:
                assert row["isi_cv"] == pytest.approx(np.mean(cvs))
                assert row["isi_std"] == pytest.approx(np.mean(stds))
            seen.add(name)
            # where a later rule would also hold, the order decides
            if name == "runaway" and cvs and np.mean(stds) <= REGULAR_JITTER:
                order_matters.add("runaway before regular")
            if name == "runaway" and not cvs:
                order_matters.add("runaway before sparse")
    assert seen == set(REGIMES)
    assert order_matters == {"runaway before regular", "runaway before sparse"}


def test_two_neighbouring_intervals_are_regular():
    """'in discrete time a periodic train whose period is not a whole number of steps alternates
    between two neighbouring intervals, a std of at most half a step': such trains are regular,
    also where their CV is above 0.1."""
    from rleaky_viz.regimes import REGIME_RULES, REGULAR_CV
    from rleaky_viz.sweeps import sweep

    assert "alternates between two neighbouring intervals, a std of at most half a step" in REGIME_RULES["regular"]
    two, high_cv = 0, 0
    for beta, delay in itertools.product((0.8, 0.9, 1.0), (True, False)):
        cfg = SimConfig(recurrence="none", beta=beta, reset_delay=delay, num_steps=200)
        amps = list(np.round(np.linspace(0.15, 0.85, 15), 4))
        frame = sweep(cfg, {"amplitude": amps})
        for (_, row), a in zip(frame.iterrows(), amps):
            s = np.flatnonzero(spikes(simulate(cfg.replace(amplitude=float(a))))[:, 0, 0])
            isi = np.diff(s)
            if isi.size < 2 or np.ptp(isi) != 1:
                continue
            two += 1                              # two neighbouring intervals, n and n + 1
            assert isi.std() <= 0.5 and row["isi_std"] == pytest.approx(isi.std())
            assert row["regime"] in ("regular", "runaway"), (beta, delay, a, row.to_dict())
            if row["isi_cv"] >= REGULAR_CV and row["regime"] == "regular":
                high_cv += 1                      # regular by the std rule alone
    assert two > 20 and high_cv > 0


# ----------------------------------------------------------------------------- Learn
LEARN_SETTINGS = [
    (SimConfig(recurrence="linear", num_neurons=6, num_steps=60, noise_std=0.2, surrogate="SSO",
               learn_beta=True, amplitude=0.4), dict(target="rate", target_rate=0.2)),
    (SimConfig(recurrence="one_to_one", num_steps=60, stimulus="poisson", amplitude=0.9, rate=0.3,
               learn_threshold=True, learn_beta=True, batch_size=2),
     dict(target="spike_train", teacher={"beta": 0.7, "threshold": 0.8})),
]


@pytest.mark.parametrize("cfg, options", LEARN_SETTINGS)
def test_learn_same_seed_same_result(cfg, options):
    """Learn: 'Same seed, same result.': losses, parameters and the trained network, bit for bit,
    whatever torch's global generator holds (and another seed gives another training)."""
    from pathlib import Path

    from rleaky_viz.learn import train

    page = (Path(__file__).resolve().parent.parent / "pages" / "6_Learn.py").read_text(encoding="utf-8")
    assert "Same seed, same result." in page
    runs = []
    for global_seed in (1, 12345):
        torch.manual_seed(global_seed)
        torch.rand(100)
        runs.append(train(cfg, epochs=4, lr=0.05, **options))
    a, b = runs
    assert a.losses == b.losses and a.grad_norms == b.grad_norms
    assert set(a.params) == set(b.params)
    for name in a.params:
        assert all(np.array_equal(x, y) for x, y in zip(a.params[name], b.params[name]))
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    other = train(cfg.replace(seed=7), epochs=4, lr=0.05, **options)
    assert other.losses != a.losses  # the seed does reach the result


def test_the_teachers_loss_compares_5_step_smoothed_trains():
    """'the loss compares both spike trains after smoothing them with a 5-step exponential kernel'."""
    from pathlib import Path

    from rleaky_viz.learn import TEACHER_START, train

    page = (Path(__file__).resolve().parent.parent / "pages" / "6_Learn.py").read_text(encoding="utf-8")
    assert "after smoothing them with a 5-step exponential kernel" in page
    cfg = SimConfig(recurrence="one_to_one", num_steps=80, learn_beta=True, amplitude=0.4)

    def smooth(s):  # f[t] = Σ_k exp(-k/5) s[t-k]
        k = np.exp(-np.arange(s.shape[0]) / 5.0)
        return np.stack([np.convolve(col, k)[:s.shape[0]] for col in s.reshape(s.shape[0], -1).T], 1)

    student = simulate(cfg).spk.double().numpy()
    teacher = simulate(cfg.replace(**TEACHER_START)).spk.double().numpy()
    expect = float(((smooth(student) - smooth(teacher)) ** 2).mean())
    result = train(cfg, target="spike_train", teacher=dict(TEACHER_START), epochs=1)
    assert expect > 0 and result.losses[0] == pytest.approx(expect, rel=1e-5)


# ----------------------------------------------------------------------------- Mystery
def _stated_score(tm_spk, tm_mem, gs_spk, gs_mem):
    """The expander's words: 100 × spike similarity × membrane similarity; spike similarity =
    1 − D²/(|fa|² + |fb|²) of the trains smoothed with a 3-step exponential; membrane similarity
    = 1 − RMSE / (range of the target membrane), floored at 0."""
    def smooth(s):
        out, acc = [], 0.0
        for v in (np.asarray(s).reshape(-1) != 0):
            acc = np.exp(-1 / 3) * acc + v
            out.append(acc)
        return np.asarray(out)

    fa, fb = smooth(tm_spk), smooth(gs_spk)
    norm = fa @ fa + fb @ fb
    spike = 1.0 if norm == 0 else 1 - ((fa - fb) @ (fa - fb)) / norm
    tm, gm = np.asarray(tm_mem, np.float64).reshape(-1), np.asarray(gs_mem, np.float64).reshape(-1)
    rmse = np.sqrt(((tm - gm) ** 2).mean())
    span = np.ptp(tm) or 1.0
    return 100 * spike * max(0.0, 1 - rmse / span), spike, rmse, span


def _mystery_guesses(seed, reach=1):
    from rleaky_viz.mystery import guess_slider, mystery_challenge

    hidden = mystery_challenge(seed)
    steps = {n: guess_slider(n)[2] for n in ("beta", "threshold", "V")}
    guesses = [hidden.replace(beta=round(hidden.beta + i * steps["beta"], 6),
                              threshold=round(hidden.threshold + j * steps["threshold"], 6),
                              V=round(hidden.V + k * steps["V"], 6))
               for i, j, k in itertools.product(range(-reach, reach + 1), repeat=3)]
    guesses.append(hidden.replace(beta=hidden.beta + 1e-7, V=hidden.V - 1e-7))  # a slider's rounding
    return hidden, guesses


def test_the_mystery_score_is_its_stated_formula():
    from pathlib import Path

    from rleaky_viz.mystery import mystery_score

    page = (Path(__file__).resolve().parent.parent / "pages" / "9_Mystery_neuron.py").read_text(encoding="utf-8")
    assert "score = 100 × spike similarity × membrane similarity" in page
    assert "smoothed with a 3-step exponential" in page and "floored at 0" in page
    for seed in (0, 3):
        hidden, guesses = _mystery_guesses(seed)
        target = simulate(hidden)
        guesses += [hidden.replace(beta=0.5, threshold=0.25, V=-0.9), hidden.replace(threshold=1.75)]
        for guess in guesses:
            yours = simulate(guess)
            got = mystery_score(target.spk[:, 0, 0], target.mem[:, 0, 0], yours.spk[:, 0, 0], yours.mem[:, 0, 0])
            score, spike, rmse, _ = _stated_score(target.spk, target.mem, yours.spk, yours.mem)
            assert got["score"] == pytest.approx(score, abs=1e-3)
            assert got["spike_similarity"] == pytest.approx(spike, abs=1e-5)
            assert got["membrane_rmse"] == pytest.approx(rmse, rel=1e-9)
    # the floor and the flat target
    rng = np.random.default_rng(0)
    s = (rng.random(100) < 0.2).astype(float)
    m = rng.normal(size=100)
    far = mystery_score(s, m, s, m + 10 * np.ptp(m))
    assert far["membrane_similarity"] == 0.0 and far["score"] == 0.0
    flat = mystery_score(s, np.zeros(100), s, np.full(100, 0.1))
    assert flat["score"] == pytest.approx(_stated_score(s, np.zeros(100), s, np.full(100, 0.1))[0])


def test_the_perfect_fit_message_is_shown_exactly_where_it_is_true():
    """'A perfect fit: same spikes, same membrane.': shown where the guess spikes on exactly the
    target's steps and its membrane is the target's (RMSE ≤ 0.0005 of its range), never elsewhere;
    the answer itself gets it, and the score alone would not be enough."""
    from pathlib import Path

    from rleaky_viz.compare import van_rossum_similarity
    from rleaky_viz.mystery import PERFECT_SCORE, mystery_score, perfect_fit

    page = (Path(__file__).resolve().parent.parent / "pages" / "9_Mystery_neuron.py").read_text(encoding="utf-8")
    assert "if perfect_fit(score):\n    st.success(\"A perfect fit: same spikes, same membrane.\"" in page
    shown = 0
    for seed in range(6):
        hidden, guesses = _mystery_guesses(seed)
        target = simulate(hidden)
        for guess in [hidden, *guesses]:
            yours = simulate(guess)
            score = mystery_score(target.spk[:, 0, 0], target.mem[:, 0, 0], yours.spk[:, 0, 0],
                                  yours.mem[:, 0, 0])
            _, _, rmse, span = _stated_score(target.spk, target.mem, yours.spk, yours.mem)
            same_spikes = torch.equal(target.spk != 0, yours.spk != 0)
            true = same_spikes and rmse <= (1 - PERFECT_SCORE / 100) * span
            assert perfect_fit(score) == true, (seed, guess.beta, guess.threshold, guess.V, score)
            if same_spikes:  # with the same spikes the score is the membrane's alone
                assert score["score"] == pytest.approx(100 * (1 - rmse / span))
            shown += true
        assert perfect_fit(mystery_score(target.spk[:, 0, 0], target.mem[:, 0, 0],
                                         target.spk[:, 0, 0], target.mem[:, 0, 0]))
    assert shown == 6 * 3  # each challenge's answer (as itself, as the grid's centre, rounded), nothing else
    # dense trains that differ only in their last step score above PERFECT_SCORE: not a perfect fit
    a = np.zeros(240)
    a[100:220] = 1
    b = a.copy()
    b[-1] = 1
    assert 100 * van_rossum_similarity(a, b, 3.0) >= PERFECT_SCORE
    assert not perfect_fit(mystery_score(a, a, b, a))


# ----------------------------------------------------------------------------- surrogates
def _dsdz(name, params, z, seed=None):
    from rleaky_viz.core.surrogate import make_surrogate

    zz = torch.as_tensor(z, dtype=torch.float64).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(make_surrogate(name, params, seed=seed)(zz).sum(), zz)
    return g.numpy()


def _param_help(name, param):
    from rleaky_viz.core.surrogate import REGISTRY
    from rleaky_viz.figures.surrogates import PARAM_RANGES

    return REGISTRY[name].param(param).help, PARAM_RANGES[(name, param)][3]


Z = np.unique(np.concatenate([np.linspace(-3, 3, 6001), [0.0, 1.0]]))


def test_every_surrogate_spikes_alike():
    """surrogate: 'backward of the spike function'; the gallery: 'every surrogate spikes
    identically; only the gradient differs'."""
    from pathlib import Path

    from rleaky_viz.core.surrogate import REGISTRY

    assert _help("surrogate") == "backward of the spike function"
    page = (Path(__file__).resolve().parent.parent / "pages" / "4_Surrogate_gallery.py").read_text(encoding="utf-8")
    assert "So every surrogate spikes identically; only the " in page
    cfg = SimConfig(recurrence="linear", num_neurons=5, input_spread=0.5, num_steps=60, amplitude=0.45,
                    loss="membrane_mse", loss_target=0.2)
    flows = {name: gradient_flow(cfg.replace(surrogate=name)) for name in REGISTRY}
    first = flows["atan"].trace
    for name, flow in flows.items():
        assert torch.equal(flow.trace.spk, first.spk) and torch.equal(flow.trace.mem, first.mem), name
    assert fired(first)
    grads = [flow.dL_dmem for name, flow in flows.items() if name != "SSO"]
    assert sum(not torch.equal(g, grads[0]) for g in grads) >= len(grads) - 2


@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0, 7.5, 50.0])
def test_atan_peaks_at_alpha_over_2_with_half_width_2_over_pi_alpha(alpha):
    for text in _param_help("atan", "alpha"):
        assert text == "α: the peak is α/2, the width about 2/(πα)"
    g = _dsdz("atan", {"alpha": alpha}, Z)
    assert Z[g.argmax()] == 0.0 and g.max() == pytest.approx(alpha / 2)
    half = 2 / (np.pi * alpha)  # the half-width at half maximum
    np.testing.assert_allclose(_dsdz("atan", {"alpha": alpha}, [-half, half]), alpha / 4, rtol=1e-12)


def test_the_sigmoids_peaks_and_widths():
    """fast_sigmoid 'k > 0: larger is narrower; the peak is always 1'; sigmoid 'k: larger is
    narrower and taller (peak k/4)'."""
    assert _param_help("fast_sigmoid", "slope")[0] == "k > 0: larger is narrower; the peak is always 1"
    assert "larger is narrower; the peak is always 1" in _param_help("fast_sigmoid", "slope")[1]
    assert set(_param_help("sigmoid", "slope")) == {"k: larger is narrower and taller (peak k/4)"}
    slopes = [0.1, 1.0, 5.0, 25.0, 500.0]
    fast = [_dsdz("fast_sigmoid", {"slope": k}, Z) for k in slopes]
    sig = [_dsdz("sigmoid", {"slope": k}, Z) for k in slopes]
    for k, f, s in zip(slopes, fast, sig):
        assert Z[f.argmax()] == 0.0 and f.max() == 1.0
        assert Z[s.argmax()] == 0.0 and s.max() == pytest.approx(k / 4)
        # half maximum at (√2 − 1)/k and ln(3 + 2√2)/k: both shrink as k grows
        np.testing.assert_allclose(_dsdz("fast_sigmoid", {"slope": k}, [(np.sqrt(2) - 1) / k]), 0.5)
        np.testing.assert_allclose(_dsdz("sigmoid", {"slope": k}, [np.log(3 + 2 * np.sqrt(2)) / k]), k / 8)
    away = np.abs(Z) > 0.5
    for (f1, s1), (f2, s2) in zip(zip(fast, sig), zip(fast[1:], sig[1:])):
        assert np.all(f2 <= f1) and np.all(f2[Z != 0] < f1[Z != 0])  # narrower at every z
        assert s2.max() > s1.max()                                 # taller
        assert np.all(s2[away] / s2.max() < s1[away] / s1.max())   # narrower, relative to the peak


@pytest.mark.parametrize("thr", [-2.0, 0.0, 0.6, 1.0, 10.0])
def test_triangular_is_a_signed_step_of_its_height(thr):
    from rleaky_viz.core.surrogate import REGISTRY

    assert set(_param_help("triangular", "threshold")) == {"the height of the signed step"}
    assert REGISTRY["triangular"].formula == "+thr for z < 0, −thr for z ≥ 0"
    g = _dsdz("triangular", {"threshold": thr}, Z)
    assert np.all(g[Z < 0] == thr) and np.all(g[Z >= 0] == -thr)


def test_spike_rate_escape_peaks_at_one_with_height_k():
    """beta 'β > 0: how fast it falls away from z = 1 (β = 0: flat)'; slope 'k: the height of the
    peak'; the gallery's zoom help 'peak = slope', and its oddity's value at the threshold."""
    from rleaky_viz.figures.surrogates import surrogate_oddities

    assert _param_help("spike_rate_escape", "beta") == (
        "β > 0: how fast it falls away from z = 1 (β = 0: flat)", "β: how fast it falls away from z = 1")
    assert set(_param_help("spike_rate_escape", "slope")) == {"k: the height of the peak"}
    for k in (0.1, 4.0, 25.0):
        falls = []
        for beta in (0.0, 0.5, 1.0, 5.0):
            g = _dsdz("spike_rate_escape", {"beta": beta, "slope": k}, Z)
            if beta == 0:
                assert np.all(g == k)
                continue
            assert Z[g.argmax()] == 1.0 and g.max() == pytest.approx(k)
            d = np.abs(Z - 1)
            order = np.argsort(d)
            assert np.all(np.diff(g[order]) <= 1e-12)      # falls away with the distance from z = 1
            falls.append(g[np.isclose(d, 0.5)].max())
            text = surrogate_oddities("spike_rate_escape", {"beta": beta, "slope": k})[0]
            at0 = float(_dsdz("spike_rate_escape", {"beta": beta, "slope": k}, [0.0])[0])
            assert f"the peak height is the slope, {k:g}" in text and f"itself it is {at0:.3g}." in text
        assert falls == sorted(falls, reverse=True) and len(set(falls)) == 3  # larger β: faster


@pytest.mark.parametrize("B", [-0.5, 0.0, 1.0, 2.0])
@pytest.mark.parametrize("k", [1.0, 25.0])
def test_sfs_keeps_the_fast_sigmoid_above_b_only(B, k):
    assert set(_param_help("SFS", "slope")) == {"k of the fast sigmoid it keeps"}
    assert set(_param_help("SFS", "B")) == {"B: no gradient at all for z ≤ B"}
    z = np.unique(np.concatenate([Z, [B]]))
    g = _dsdz("SFS", {"slope": k, "B": B}, z)
    assert np.all(g[z <= B] == 0)
    np.testing.assert_array_equal(g[z > B], _dsdz("fast_sigmoid", {"slope": k}, z[z > B]))


def test_sso_and_lso_below_and_above_threshold():
    """SSO mean 'shifts the noise below threshold', variance 'scales the noise below threshold';
    LSO slope 'the gradient where the neuron did not spike'."""
    assert set(_param_help("SSO", "mean")) == {"shifts the noise below threshold"}
    assert set(_param_help("SSO", "variance")) == {"scales the noise below threshold"}
    assert set(_param_help("LSO", "slope")) == {"the gradient where the neuron did not spike"}
    below = Z <= 0
    for mean, var in itertools.product((-1.0, 0.0, 0.7), (0.0, 0.2, 3.0)):
        g = _dsdz("SSO", {"mean": mean, "variance": var}, Z, seed=5)
        assert np.all(g[~below] == 1)
        u = g[below] / var + 0.5 - mean if var else None  # the uniform draw it used
        if var:
            assert np.all((u >= -1e-9) & (u < 1 + 1e-9)) and u.std() > 0.25  # noise from U[0, 1)
            # the same draws with another mean and variance: shifted by the mean, scaled by the variance
            shifted = _dsdz("SSO", {"mean": mean + 0.5, "variance": 2 * var}, Z, seed=5)[below]
            np.testing.assert_allclose(shifted, (u - 0.5 + mean + 0.5) * 2 * var, atol=1e-9)
            again = _dsdz("SSO", {"mean": mean, "variance": var}, Z)
            assert not np.array_equal(again[below], _dsdz("SSO", {"mean": mean, "variance": var}, Z)[below])
        else:
            assert np.all(g[below] == 0)
    for slope in (-2.0, 0.0, 0.1, 5.0):
        g = _dsdz("LSO", {"slope": slope}, Z)
        assert np.all(g[below] == slope) and np.all(g[~below] == 1)


# ----------------------------------------------------------------------------- NIR (export panel, import)
def _nir_reference(graph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NIR's LIF stepped by forward Euler over Δt, written from its definition, with the
    recurrent edge carrying the previous step's spikes: x is (T, batch, n)."""
    from rleaky_viz.nirgraph import DT

    lif = graph.nodes["lif"]
    rec = graph.nodes.get("w_rec")
    W = np.asarray(rec.weight) if rec is not None else None
    b = np.asarray(getattr(rec, "bias", 0.0)) if rec is not None else 0.0
    v = np.zeros(x.shape[1:])
    s = np.zeros(x.shape[1:])
    spikes, mems = [], []
    for t in range(x.shape[0]):
        current = x[t] + ((s @ W.T + b) if W is not None else 0.0)
        v = v + DT / lif.tau * (lif.v_leak - v + lif.r * current)
        s = (v > lif.v_threshold).astype(float)
        v = np.where(s > 0, lif.v_reset, v)
        spikes.append(s)
        mems.append(v)
    return np.stack(spikes), np.stack(mems)


NIR_RUNS = [SimConfig(recurrence=r, num_neurons=n, beta=beta, V=0.6, weight_gain=2.0, amplitude=0.35,
                      noise_std=0.3, stimulus="noise", input_spread=0.4 if n > 1 else 0.0,
                      num_steps=120, reset_mechanism="zero", reset_delay=False, seed=5)
            for r, n in (("one_to_one", 1), ("one_to_one", 4), ("linear", 6), ("none", 3))
            for beta in (0.5, 0.9)]


def test_the_nir_reset_words_nir_lif_is_the_zero_reset_in_the_spike_step():
    """'NIR's LIF resets to 0 in the step of the spike, so it opens with reset_mechanism=zero and
    reset_delay=False' (the import caption), and the export button's words: the exported graph,
    run as NIR defines its LIF, spikes as the core does with that setting."""
    from rleaky_viz.nirgraph import describe_import, from_nir, nir_bytes, to_nir

    for cfg in NIR_RUNS:
        trace = simulate(cfg)
        ref_spk, ref_mem = _nir_reference(to_nir(cfg), trace.input.double().numpy())
        assert np.array_equal(ref_spk, spikes(trace)), cfg
        assert np.abs(ref_mem - trace.mem.double().numpy()).max() < 1e-4, cfg
        back, state = from_nir(nir_bytes(cfg))
        note = describe_import(back, state)
        assert "reset_mechanism=zero and reset_delay=False" in note
        assert (back.reset_mechanism, back.reset_delay) == ("zero", False)


@pytest.mark.parametrize("changes", [dict(reset_mechanism="subtract"), dict(reset_mechanism="none"),
                                     dict(reset_delay=True), dict(inhibition=True),
                                     dict(graded_spikes_factor=1.5), dict(state_quant_bits=3)])
def test_each_nir_refusal_is_shown_where_nir_would_run_otherwise(changes):
    """The export button says why it is off; each reason names a setting under which the core
    does not run as NIR's LIF (the same graph, stepped as NIR defines it, differs)."""
    from rleaky_viz.nirgraph import export_refusal, to_nir

    field = next(iter(changes))
    differs = False
    for cfg in NIR_RUNS:
        if field == "inhibition" and cfg.num_neurons == 1:
            continue
        other = cfg.replace(**changes)
        reason = export_refusal(other)
        assert reason and reason.startswith(field), reason
        assert export_refusal(cfg) is None
        trace = simulate(other)
        ref_spk, ref_mem = _nir_reference(to_nir(cfg), trace.input.double().numpy())
        got = trace.spk.double().numpy()
        differs |= (not np.array_equal(ref_spk, got)
                    or np.abs(ref_mem - trace.mem.double().numpy()).max() > 1e-4)
    assert differs, changes


def test_the_nir_beta_refusal_and_the_imported_per_neuron_words():
    """β ≥ 1 has no finite τ = Δt/(1-β); per-neuron β or θ 'come from the file (the sidebar's
    value is not used)'; a dense layer runs 'with the file's weights'."""
    import nir as nirlib

    from rleaky_viz.nirgraph import DT, describe_import, export_refusal, from_nir

    for beta in (1.0, 1.3):
        assert export_refusal(SimConfig(beta=beta, reset_mechanism="zero", reset_delay=False)) \
            .startswith("beta=")
    n = 3
    tau = DT / (1 - np.array([0.6, 0.7, 0.8]))
    W = np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.5], [0.5, 0.0, 0.0]])
    graph = nirlib.NIRGraph(nodes={
        "input": nirlib.Input(input_type=np.array([n])),
        "lif": nirlib.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=np.ones(n),
                          v_reset=np.zeros(n)),
        "w_rec": nirlib.Affine(weight=W, bias=np.full(n, 0.05)),
        "output": nirlib.Output(output_type=np.array([n]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    cfg, state = from_nir(graph)
    note = describe_import(cfg, state)
    assert "β differ between neurons" in note and "the file's weights" in note
    cfg = cfg.replace(amplitude=0.45, num_steps=80)
    a, b = simulate(cfg, state_dict=state), simulate(cfg.replace(beta=0.2), state_dict=state)
    assert torch.equal(a.spk, b.spk) and torch.equal(a.mem, b.mem) and a.spk.any()
    assert np.array_equal(a.neuron.recurrent.weight.detach().double().numpy(), W.astype(np.float32))
    ref_spk, _ = _nir_reference(graph, a.input.double().numpy())
    assert np.array_equal(ref_spk, spikes(a))


# ----------------------------------------------------------------------------- review 12-04
RHEOBASE_POINTS = [(beta, theta, theta * (1 - beta))
                   for beta, theta in itertools.product((0.2, 0.5, 0.8, 0.9, 0.95, 0.99),
                                                        (0.45, 0.7, 1.0, 1.5))]
# as the widgets give them: two decimals (β = 0.8, θ = 1, I = 0.2 is the textbook case)
RHEOBASE_POINTS += [(0.8, 1.0, 0.2), (0.2, 0.45, 0.36), (0.5, 1.0, 0.5), (0.9, 1.0, 0.1)]


@pytest.mark.parametrize("beta, theta, current", RHEOBASE_POINTS)
def test_at_the_rheobase_the_words_leave_the_spike_to_rounding(beta, theta, current):
    """I = θ(1−β): U only approaches θ in real arithmetic; whether the float32 run fires is
    rounding's. The latency words must not predict a step (or no spike), and the return map's
    sentence says what this run did."""
    from rleaky_viz.dynamics import describe, return_map
    from rleaky_viz.theory import at_the_rheobase, latency_caption, on_the_boundary

    cfg = SimConfig(recurrence="none", beta=beta, threshold=theta, amplitude=current, num_steps=400)
    assert at_the_rheobase(current, beta, theta) and on_the_boundary(current, beta, theta)
    assert overlay_applies(cfg)
    text = latency_caption(cfg, analytic_overlay(cfg))
    assert "rounding decides whether, and when" in text
    assert "first spike at" not in text and "no spike within" not in text
    t = simulate(cfg)
    s = np.flatnonzero(spikes(t)[:, 0, 0])
    words = describe(return_map(t))
    if s.size:
        assert f"the neuron fires first at step {int(s[0])}." in words
    else:
        assert "the neuron does not fire." in words


def test_the_rheobase_test_is_only_true_at_the_rheobase():
    from rleaky_viz.theory import at_the_rheobase

    for beta, theta in itertools.product((0.2, 0.8, 0.95), (0.5, 1.0)):
        rheobase = theta * (1 - beta)
        assert at_the_rheobase(rheobase, beta, theta)
        assert not at_the_rheobase(rheobase * 1.001, beta, theta)
        assert not at_the_rheobase(rheobase * 0.999, beta, theta)
    assert not at_the_rheobase(0.5, 1.0, 1.0) and not at_the_rheobase(1.0, 0.0, 1.0)


@pytest.mark.parametrize("mechanism, delay, V", [(m, d, v) for m in MECHANISMS for d in (True, False)
                                                 for v in (0.0, 0.6, -0.4)])
def test_one_to_one_feedback_is_named_only_where_it_reaches_u(mechanism, delay, V):
    """'recurrence = one_to_one feeds the spikes back into U' is given exactly where the run
    differs from recurrence = none's; elsewhere (V = 0, or the delayed zero reset wiping V·S)
    the run is recurrence = none's, bit for bit, and the overlays are drawn."""
    from rleaky_viz.theory import overlay_reasons

    base = dict(reset_mechanism=mechanism, reset_delay=delay, amplitude=0.3, num_steps=120)
    cfg = SimConfig(recurrence="one_to_one", V=V, **base)
    t, plain = simulate(cfg), simulate(SimConfig(recurrence="none", **base))
    same = torch.equal(t.mem, plain.mem) and torch.equal(t.spk, plain.spk)
    named = any("feeds the spikes back" in r for r in overlay_reasons(cfg))
    assert fired(t)
    assert named == (not same), cfg
    assert overlay_applies(cfg) == same


@pytest.mark.parametrize("g", [2.0, 0.5, 1.0])
def test_inhibition_with_a_graded_spike_has_no_dashed_rate(g):
    """Sweeps: with inhibition, g != 1 and reset_delay=False (even one neuron) a spike's step
    keeps part of U, so no dashed rate is claimed; with g = 1 the dashed rate is the run's."""
    from rleaky_viz.theory import count_applies, fi_caption, spike_count

    cfg = SimConfig(recurrence="none", inhibition=True, reset_mechanism="zero", reset_delay=False,
                    graded_spikes_factor=g, amplitude=0.4, num_steps=200)
    t = simulate(cfg)
    counted = spike_count(0.4, cfg.beta, cfg.threshold, 200, "zero", False)
    if g == 1.0:
        assert count_applies(cfg) and "Dashed" in fi_caption(cfg)
        assert counted == int(spikes(t).sum())
        return
    assert not count_applies(cfg)
    assert "Dashed" not in fi_caption(cfg) and "only the onset is drawn" in fi_caption(cfg)
    assert counted != int(spikes(t).sum())  # the closed form would be wrong here
    u, s = t.mem[:, 0, 0].double().numpy(), spikes(t)[:, 0, 0]
    first = int(np.flatnonzero(s)[0])
    assert u[first] == pytest.approx((1 - 1 / g) * t.base[first, 0, 0].item(), rel=1e-6)


@pytest.mark.parametrize("steps", [4, 5, 6])
def test_the_return_map_of_a_run_with_one_spike(steps):
    from rleaky_viz.dynamics import describe, return_map

    t = simulate(SimConfig(num_steps=steps))
    rmap = return_map(t)
    s = np.flatnonzero(spikes(t)[:, 0, 0])
    text = describe(rmap)
    if s.size == 1:
        assert f"fires at step {int(s[0])}, the one spike of this run" in text
    else:
        assert "the one spike" not in text
    assert "loops are that firing cycle" not in text or s.size >= 2


def test_the_inhibition_note_with_the_same_step_subtract_reset():
    """'a suppressed neuron above θ is not reset ...: its membrane is B alone, moved only by the
    leak, the input and the recurrence, until it wins and fires'."""
    seen = 0
    for rec, stim, spread in itertools.product(("none", "one_to_one", "linear"), ("constant", "pulse"),
                                               (0.0, 0.5)):
        cfg = SimConfig(recurrence=rec, inhibition=True, reset_delay=False, num_neurons=3,
                        stimulus=stim, amplitude=0.5, input_spread=spread, num_steps=200, V=-0.5)
        assert any("its membrane is B alone" in n for n in odd_corners(cfg))
        t = simulate(cfg)
        d, s = t.decision[:, 0].numpy(), spikes(t)[:, 0]
        u, b = t.mem[:, 0].numpy(), t.base[:, 0].numpy()
        suppressed = (d > cfg.threshold) & ~s
        seen += int(suppressed.sum())
        assert np.array_equal(u[suppressed], b[suppressed]), cfg
    assert seen > 0


def _snntorch_state(beta, bias, n=2):
    import io

    snn = pytest.importorskip("snntorch")
    lif = snn.RLeaky(beta=beta, threshold=1.0, linear_features=n)
    with torch.no_grad():
        lif.recurrent.weight.zero_()
        lif.recurrent.bias.fill_(bias)
    buf = io.BytesIO()
    torch.save(lif.state_dict(), buf)
    return buf.getvalue()


@pytest.mark.parametrize("file_beta, bias", [(0.5, 0.3), (0.5, 0.6), (0.95, 0.1)])
def test_words_about_a_run_with_an_uploaded_state_dict_use_its_values(file_beta, bias):
    """An snnTorch state dict sets β (and θ, V, g) over the sidebar's: the explorer's τ and the
    bias note read the run's values, and the bias note's 'with zero input ... fires' holds."""
    from rleaky_viz.explain import odd_corners
    from rleaky_viz.service import load_state_dict_bytes, run_config

    cfg = SimConfig(recurrence="linear", num_neurons=2, weight_init="state_dict", beta=0.9,
                    amplitude=0.0, num_steps=200)
    t = simulate(cfg, state_dict=load_state_dict_bytes(_snntorch_state(file_beta, bias)))
    ran = run_config(cfg, t)
    assert ran.beta == pytest.approx(file_beta, rel=1e-7) and ran.threshold == 1.0
    assert analytic_overlay(ran)["tau"] == pytest.approx(-1 / np.log(file_beta), rel=1e-6)
    note = next(n for n in odd_corners(cfg, t) if "bias" in n)  # the sidebar's cfg: the run's β
    if "with zero input no neuron fires" in note:
        assert not fired(t)
    else:
        assert "the neuron with the largest bias fires" in note and fired(t)


def test_a_state_dict_with_per_neuron_beta_has_no_one_config():
    from rleaky_viz.service import load_state_dict_bytes, run_config
    import io

    snn = pytest.importorskip("snntorch")
    lif = snn.RLeaky(beta=torch.tensor([0.5, 0.8]), threshold=1.0, linear_features=2)
    buf = io.BytesIO()
    torch.save(lif.state_dict(), buf)
    cfg = SimConfig(recurrence="linear", num_neurons=2, weight_init="state_dict")
    t = simulate(cfg, state_dict=load_state_dict_bytes(buf.getvalue()))
    assert run_config(cfg, t) is None
    assert run_config(SimConfig(), simulate(SimConfig())) == SimConfig()


@pytest.mark.parametrize("a_changes, b_changes", [
    (dict(surrogate="triangular", amplitude=0.05, num_steps=150), dict(amplitude=0.08)),  # a sign
    (dict(amplitude=0.05), dict(reset_mechanism="zero")),
    (dict(reset_grad=True), dict(reset_mechanism="zero")),
])
def test_compare_gradient_words_say_whether_the_runs_differ(a_changes, b_changes):
    from rleaky_viz.compare import forward_identical, gradient_words

    cfg_a = SimConfig(num_steps=60).replace(**a_changes)
    cfg_b = cfg_a.replace(**b_changes)
    fa, fb = gradient_flow(cfg_a), gradient_flow(cfg_b)
    words = gradient_words(cfg_a, fa, fb)
    if cfg_a.surrogate == "triangular":  # the case the words once got wrong: the runs differ
        assert not forward_identical(fa.trace, fb.trace) and torch.equal(fa.dL_dmem, fb.dL_dmem)
    assert ("as snnTorch would" in words) == (not cfg_a.reset_grad)
    assert ("what-if reset_grad on" in words) == cfg_a.reset_grad == fa.reset_grad
    if torch.equal(fa.dL_dmem, fb.dL_dmem):
        runs_same = forward_identical(fa.trace, fb.trace)
        assert ("though the runs differ" in words) == (not runs_same)
        assert ("the runs of A and B and their dL/dU are identical" in words) == runs_same
    else:
        assert "differ by up to" in words


def test_near_but_not_at_the_rheobase_the_latency_is_predicted():
    """β 0.9, θ 1, I = 0.1000009 (9e-6 above θ(1−β)): the theory's step holds, so it is given."""
    from rleaky_viz.theory import at_the_rheobase, latency_caption

    cfg = SimConfig(recurrence="none", beta=0.9, threshold=1.0, amplitude=0.1000009, num_steps=300)
    assert not at_the_rheobase(0.1000009, 0.9, 1.0)
    first = int(np.flatnonzero(spikes(simulate(cfg))[:, 0, 0])[0])
    assert f"= {first}" in latency_caption(cfg, analytic_overlay(cfg))
