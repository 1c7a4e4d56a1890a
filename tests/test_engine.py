"""The fast whole-sequence engine against the step loop: same bits forward, same gradients."""
from types import SimpleNamespace

import pytest
import torch

from rleaky_viz import SimConfig
from rleaky_viz.core import RECORDABLE, RLeaky, StepRule, backprop, engine, unroll
from rleaky_viz.core.surrogate import fast_sigmoid, triangular
from rleaky_viz.flows import gradient_flow

LAYERS = {
    "one_to_one": (dict(all_to_all=False, V=torch.tensor([0.3, -0.2, 0.5, 0.0, 1.0])), (3, 5)),
    "linear": (dict(linear_features=5), (3, 5)),
    "conv": (dict(conv2d_channels=2, kernel_size=(3, 5)), (2, 2, 4, 6)),
}


def loss_of(out, shape):
    w = torch.linspace(-1, 1, shape[-1])
    return (out.mem * w).sum() + (out.spk * w.flip(0)).sum()


EXTRAS = {"plain": {}, "graded": {"graded_spikes_factor": 0.5},
          "fast_sigmoid": {"spike_grad": fast_sigmoid(slope=5)},
          "triangular": {"spike_grad": triangular()}, "no_surrogate": {"surrogate_disable": True}}
CASES = ([(layer, mech, delay, "plain") for layer in LAYERS for mech in ("subtract", "zero", "none")
          for delay in (True, False)]
         + [(layer, mech, False, extra) for layer in LAYERS for extra in list(EXTRAS)[1:]
            for mech in ("subtract", "zero")])


@pytest.mark.parametrize("layer, mech, reset_delay, extra", CASES,
                         ids=["-".join(map(str, c)) for c in CASES])
def test_fast_engine_matches_step_loop(layer, mech, reset_delay, extra):
    extra = EXTRAS[extra]
    kwargs, shape = LAYERS[layer]
    torch.manual_seed(3)
    neuron = RLeaky(beta=torch.tensor(0.85), reset_mechanism=mech, reset_delay=reset_delay,
                    learn_beta=True, learn_threshold=True, threshold=0.9, **kwargs, **extra)
    x = (torch.rand(40, *shape) * 0.9).requires_grad_(True)
    u0 = torch.rand(shape).requires_grad_(True)
    s0 = (torch.rand(shape) > 0.5).float()
    step = unroll(neuron, x, s0, u0, record=True, engine="step")
    fast = unroll(neuron, x, s0, u0, record=True, engine="fast")
    assert torch.equal(step.spk, fast.spk) and torch.equal(step.mem, fast.mem)
    for name in RECORDABLE:
        assert torch.equal(getattr(step, name), getattr(fast, name)), name
    params = [p for p in neuron.parameters() if p.requires_grad]
    wrt = [x, u0, *params]
    g_step = torch.autograd.grad(loss_of(step, shape), wrt, allow_unused=True)
    g_fast = torch.autograd.grad(loss_of(fast, shape), wrt, allow_unused=True)
    for t, a, b in zip(wrt, g_step, g_fast):
        a = torch.zeros_like(t) if a is None else a
        b = torch.zeros_like(t) if b is None else b
        # sums over the whole run: tolerance per unit of gradient
        torch.testing.assert_close(b, a, atol=1e-5 * max(1.0, a.abs().max().item()), rtol=1e-5)


def test_inhibition_on_the_fast_path():
    torch.manual_seed(0)
    neuron = RLeaky(beta=0.9, linear_features=6, inhibition=True, reset_delay=False)
    x = (torch.rand(50, 4, 6) * 0.8).requires_grad_(True)
    step, fast = unroll(neuron, x, engine="step"), unroll(neuron, x, engine="fast")
    assert torch.equal(step.spk, fast.spk) and torch.equal(step.mem, fast.mem)
    g1 = torch.autograd.grad(step.mem.sum() + step.spk.sum(), x)[0]
    g2 = torch.autograd.grad(fast.mem.sum() + fast.spk.sum(), x)[0]
    torch.testing.assert_close(g2, g1, atol=1e-5, rtol=1e-5)


def test_fast_engine_refuses_what_it_does_not_cover():
    from rleaky_viz.core.quant import state_quant
    neuron = RLeaky(beta=0.9, all_to_all=False, state_quant=state_quant(4))
    with pytest.raises(ValueError, match="fast engine"):
        unroll(neuron, torch.rand(5, 2), engine="fast")
    out = unroll(neuron, torch.rand(5, 2))  # auto falls back to the step loop
    assert out.spk.shape == (5, 2)
    with pytest.raises(ValueError, match="engine"):
        unroll(neuron, torch.rand(5, 2), engine="warp")


@pytest.mark.parametrize("recurrence", ["one_to_one", "linear", "conv2d"])
def test_flows_take_the_adjoints_from_the_engine(recurrence):
    cfg = SimConfig(recurrence=recurrence, num_neurons=5, grid_size=4, num_steps=60,
                    stimulus="noise", amplitude=0.25, noise_std=0.2, learn_beta=True,
                    loss="membrane_mse")
    fast = gradient_flow(cfg)
    # the what-if path runs the step loop; with R detached by hand it must agree
    step = gradient_flow(cfg, reset_grad=True)
    assert torch.equal(fast.trace.spk, step.trace.spk)
    assert not torch.allclose(fast.dL_dmem, step.dL_dmem)  # the what-if does change them
    slow = gradient_flow(cfg.replace(surrogate="SSO"))  # not covered: step loop
    assert slow.dL_dmem.shape == fast.dL_dmem.shape


def close(a, b):
    # sums over the whole run: tolerance per unit of gradient
    torch.testing.assert_close(a, b, atol=1e-5 * max(1.0, b.abs().max().item()), rtol=1e-5)


@pytest.mark.parametrize("layer, mech, reset_delay, extra", CASES,
                         ids=["-".join(map(str, c)) for c in CASES])
def test_backprop_hands_over_the_same_gradients_on_both_loops(layer, mech, reset_delay, extra):
    """The engine's BPTT returns dL/dU[t] itself; autograd over the step loop gives the same."""
    kwargs, shape = LAYERS[layer]
    torch.manual_seed(4)
    neuron = RLeaky(beta=torch.tensor(0.85), reset_mechanism=mech, reset_delay=reset_delay,
                    learn_beta=True, learn_threshold=True, threshold=0.9, **kwargs,
                    **EXTRAS[extra])
    x = torch.rand(40, *shape) * 0.9
    s0, u0 = (torch.rand(shape) > 0.5).float(), torch.rand(shape)
    loss = lambda spk, mem: loss_of(SimpleNamespace(spk=spk, mem=mem), shape)  # noqa: E731
    fast = backprop(neuron, x, loss, s0, u0, record=True, engine="fast")
    step = backprop(neuron, x, loss, s0, u0, record=True, engine="step")
    assert torch.equal(fast.rollout.spk, step.rollout.spk)
    assert torch.equal(fast.rollout.mem, step.rollout.mem)
    for name in RECORDABLE:
        assert torch.equal(getattr(fast.rollout, name), getattr(step.rollout, name)), name
    assert fast.loss == step.loss
    for name in ("dL_dmem", "dL_dinput", "dL_dmem_direct", "dL_dspk_direct"):
        close(getattr(fast, name), getattr(step, name))
    assert fast.dL_dreset is None and step.dL_dreset is None
    assert set(fast.param_grads) == set(step.param_grads) == {n for n, _ in neuron.named_parameters()}
    for name, g in step.param_grads.items():
        close(fast.param_grads[name], g)
    # and the engine's adjoints are the ones unroll's autograd node uses
    xg = x.clone().requires_grad_(True)
    out = unroll(neuron, xg, s0, u0, engine="fast")
    (g_x,) = torch.autograd.grad(loss(out.spk, out.mem), xg)
    assert torch.equal(g_x, fast.dL_dinput)


def test_the_engine_is_chosen_by_fast_path_applies(monkeypatch):
    """gradient_flow asks the core, which asks fast_path_applies; nothing tries and catches."""
    calls = []
    real = engine.backward
    monkeypatch.setattr(engine, "backward", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = SimConfig(recurrence="linear", num_neurons=4, num_steps=20, amplitude=0.4)
    neuron = RLeaky(beta=0.9, linear_features=4)
    assert engine.fast_path_applies(neuron, torch.zeros(3, 1, 4), StepRule(neuron))
    gradient_flow(cfg)
    assert calls == [1]
    for other in (cfg.replace(surrogate="SSO"), cfg.replace(state_quant_bits=4)):
        gradient_flow(other)  # not covered by the engine: the step loop, no engine call
    gradient_flow(cfg, reset_grad=True)  # the what-if: the step loop too
    assert calls == [1]


def test_recorded_spikes_follow_the_decision_membrane():
    """S = H(P - θ)·g (or the inhibition mask): the recorded P is what the spike test read."""
    from rleaky_viz.core.quant import state_quant
    torch.manual_seed(5)
    x = torch.rand(30, 3, 5) * 0.9
    for kwargs in (dict(reset_delay=False), dict(reset_delay=False, reset_mechanism="zero"),
                   dict(state_quant=state_quant(3, threshold=0.9)), dict(inhibition=True),
                   dict(graded_spikes_factor=0.5, reset_delay=False)):
        neuron = RLeaky(beta=0.85, threshold=0.9, linear_features=5, **kwargs)
        out = unroll(neuron, x, record=True)
        rule = StepRule(neuron)
        shift = out.decision - neuron.threshold
        assert torch.equal(out.spk, (shift > 0).float() * rule.spike_scale(shift)), kwargs
        if not neuron.reset_delay:
            assert not torch.equal(out.decision, out.mem)  # U[t] is taken after the reset
