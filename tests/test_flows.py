"""Gradient flows against snnTorch, the path split, the what-if switch, learning."""
import warnings

import pytest
import torch

from rleaky_viz import SimConfig
from rleaky_viz.flows import LossError, gradient_flow, gradient_vs_distance, loss_function
from rleaky_viz.learn import train

snn = pytest.importorskip("snntorch")


def replay(cfg, flow):
    """The same run in snnTorch, with dL/dU[t] taken by retain_grad on every step."""
    kw = dict(beta=cfg.beta, threshold=cfg.threshold, reset_mechanism=cfg.reset_mechanism,
              reset_delay=cfg.reset_delay, learn_beta=cfg.learn_beta,
              learn_threshold=cfg.learn_threshold, inhibition=cfg.inhibition,
              spike_grad=getattr(snn.surrogate, cfg.surrogate)(**cfg.surrogate_params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cfg.recurrence == "linear":
            ref = snn.RLeaky(linear_features=cfg.num_neurons, learn_recurrent=cfg.learn_recurrent, **kw)
        elif cfg.recurrence == "conv2d":
            ref = snn.RLeaky(conv2d_channels=cfg.conv2d_channels, kernel_size=cfg.kernel_size,
                             learn_recurrent=cfg.learn_recurrent, **kw)
        elif cfg.recurrence == "one_to_one":
            ref = snn.RLeaky(all_to_all=False, V=cfg.V, learn_recurrent=cfg.learn_recurrent, **kw)
        else:
            ref = snn.RLeaky(all_to_all=False, V=0.0, learn_recurrent=False, **kw)
    ref.load_state_dict(flow.trace.neuron.state_dict())
    ref.graded_spikes_factor = torch.tensor(cfg.graded_spikes_factor)
    x = flow.trace.input.clone().requires_grad_(True)
    spk, mem = ref.init_rleaky()
    spikes, mems = [], []
    for x_t in x:
        spk, mem = ref(x_t, spk, mem)
        mem.retain_grad()
        spikes.append(spk)
        mems.append(mem)
    loss = loss_function(cfg)(torch.stack(spikes), torch.stack(mems))
    loss.backward()
    snn.SpikingNeuron.instances.clear()
    grads = [torch.zeros_like(m) if m.grad is None else m.grad for m in mems]
    return ref, x, torch.stack(grads), float(loss.detach())


CASES = [
    dict(recurrence="one_to_one", loss="membrane_mse", loss_target=0.5),
    dict(recurrence="linear", loss="spike_count", loss_target=3.0, reset_mechanism="zero"),
    dict(recurrence="linear", loss="cross_entropy", loss_target=2.0, reset_delay=False),
    dict(recurrence="conv2d", loss="spike_times", target_times="5,20,40"),
    dict(recurrence="none", loss="spike_count", surrogate="fast_sigmoid", fast_sigmoid_slope=10.0),
    dict(recurrence="linear", loss="membrane_mse", inhibition=True, loss_target=0.2),
    dict(recurrence="one_to_one", loss="spike_count", reset_mechanism="zero", reset_delay=False,
         graded_spikes_factor=0.5),
]


@pytest.mark.parametrize("changes", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_gradients_equal_snntorch(changes):
    cfg = SimConfig(num_neurons=5, grid_size=4, num_steps=50, stimulus="noise", amplitude=0.25,
                    noise_std=0.2, input_spread=0.4, learn_beta=True, learn_threshold=True,
                    **changes)
    flow = gradient_flow(cfg)
    ref, x, dmem, loss = replay(cfg, flow)
    assert flow.loss == pytest.approx(loss, rel=1e-6)
    assert flow.trace.spk.sum() > 0
    assert torch.allclose(flow.dL_dmem, dmem, atol=1e-5, rtol=1e-5)
    assert torch.allclose(flow.dL_dinput, x.grad, atol=1e-5, rtol=1e-5)
    ref_grads = {n: p.grad for n, p in ref.named_parameters() if p.requires_grad}
    assert set(flow.param_grads) == set(ref_grads)
    for name, g in ref_grads.items():
        assert torch.allclose(flow.param_grads[name], g, atol=1e-5, rtol=1e-5), name


def test_paths_add_up_and_the_reset_carries_nothing():
    cfg = SimConfig(recurrence="linear", num_neurons=6, num_steps=60, amplitude=0.3,
                    input_spread=0.5, loss="membrane_mse")
    flow = gradient_flow(cfg)
    total = sum(flow.paths.values())
    assert torch.allclose(total, flow.dL_dmem, atol=1e-6)
    scale = flow.dL_dmem.abs().max()
    assert flow.paths["reset"].abs().max() <= 1e-5 * scale
    assert flow.paths["leak"].abs().sum() > 0 and flow.paths["recurrent"].abs().sum() > 0
    assert flow.trace.reset.sum() > 0  # resets happened, and still no gradient through them


@pytest.mark.parametrize("reset_mechanism, reset_delay",
                         [("none", False), ("none", True), ("subtract", False), ("zero", False)])
@pytest.mark.parametrize("recurrence", ["linear", "one_to_one"])
def test_paths_add_up_for_every_reset_timing(reset_mechanism, reset_delay, recurrence):
    # a spike-count loss looks at S[t] only, so the direct and recurrent paths carry
    # the spike factor; with no reset mechanism U[t] is the decision membrane even
    # when reset_delay=False, and the factor must not be dropped there
    cfg = SimConfig(recurrence=recurrence, num_neurons=6, num_steps=60, amplitude=0.3,
                    input_spread=0.5, loss="spike_count", reset_mechanism=reset_mechanism,
                    reset_delay=reset_delay)
    flow = gradient_flow(cfg)
    assert flow.trace.spk.sum() > 0
    scale = flow.dL_dmem.abs().max()
    assert torch.allclose(sum(flow.paths.values()), flow.dL_dmem, rtol=1e-5, atol=1e-6 * scale)


def test_what_if_changes_gradients_only_when_resets_occur():
    base = dict(recurrence="one_to_one", num_steps=60, loss="membrane_mse", amplitude=0.3)
    # resets happen: the switch changes the gradients and fills the reset path
    cfg = SimConfig(**base)
    off, on = gradient_flow(cfg), gradient_flow(cfg, reset_grad=True)
    assert off.trace.reset.sum() > 0
    assert not torch.allclose(off.dL_dinput, on.dL_dinput)
    assert on.paths["reset"].abs().sum() > 0
    scale = on.dL_dmem.abs().max()
    assert torch.allclose(sum(on.paths.values()), on.dL_dmem, rtol=1e-4, atol=1e-5 * scale)
    assert torch.equal(off.trace.spk, on.trace.spk)  # forward unchanged
    # no reset mechanism: nothing for the switch to change
    cfg = SimConfig(**base, reset_mechanism="none")
    assert torch.equal(gradient_flow(cfg).dL_dinput, gradient_flow(cfg, reset_grad=True).dL_dinput)
    # a neuron that never reaches threshold, with a surrogate that is zero below it
    cfg = SimConfig(**{**base, "amplitude": 0.05}, surrogate="heaviside")
    quiet = gradient_flow(cfg)
    assert quiet.trace.reset.sum() == 0
    assert torch.equal(quiet.dL_dinput, gradient_flow(cfg, reset_grad=True).dL_dinput)


def test_custom_loss_callable_and_bad_losses():
    cfg = SimConfig(num_steps=30, amplitude=0.4)
    flow = gradient_flow(cfg, lambda spk, mem: mem[10].sum())
    assert torch.all(flow.dL_dmem[11:] == 0) and flow.dL_dmem[10].item() == 1.0
    assert flow.dL_dinput[10].item() == pytest.approx(1.0)
    with pytest.raises(LossError, match="neuron index"):
        gradient_flow(SimConfig(num_neurons=3, loss="cross_entropy", loss_target=5))
    with pytest.raises(LossError, match="unknown loss"):
        gradient_flow(cfg, "hinge")
    with pytest.raises(LossError, match="single-number"):
        gradient_flow(cfg, lambda spk, mem: mem)


def test_gradient_vanishes_faster_with_a_leakier_neuron():
    cfg = SimConfig(recurrence="none", num_steps=80, amplitude=0.05)
    result = gradient_vs_distance(cfg, "beta", [0.5, 0.95])
    slow, fast = result["norms"][0.95], result["norms"][0.5]
    assert fast[0] == slow[0] == pytest.approx(1.0)
    assert fast[20] == pytest.approx(0.5 ** 20, rel=1e-4)
    assert slow[20] == pytest.approx(0.95 ** 20, rel=1e-4)
    radius = gradient_vs_distance(SimConfig(num_neurons=10, num_steps=40, amplitude=0.0),
                                  "spectral_radius", [0.5, 3.0])
    assert len(radius["norms"]) == 2
    with pytest.raises(ValueError, match="parameter must be"):
        gradient_vs_distance(cfg, "threshold", [1.0])


def test_learning_lowers_the_loss_deterministically():
    cfg = SimConfig(recurrence="linear", num_neurons=20, num_steps=100, input_spread=0.5,
                    surrogate="fast_sigmoid", learn_beta=True, learn_threshold=True)
    a = train(cfg, "rate", target_rate=0.1, epochs=30, lr=0.02)
    b = train(cfg, "rate", target_rate=0.1, epochs=30, lr=0.02)
    assert a.losses == b.losses
    assert a.losses[-1] < 0.2 * a.losses[0]
    assert set(a.params) == {"beta", "threshold", "recurrent.weight", "recurrent.bias"}
    teacher = train(cfg.replace(recurrence="none", num_neurons=3), "spike_train",
                    teacher={"threshold": 0.7}, epochs=5, lr=0.01)
    assert len(teacher.losses) == 5
    stopped = train(cfg, "rate", epochs=30, on_epoch=lambda epoch, r: epoch < 4)
    assert stopped.stopped and len(stopped.losses) == 5
    with pytest.raises(ValueError, match="nothing to learn"):
        train(SimConfig(recurrence="none"), "rate")
