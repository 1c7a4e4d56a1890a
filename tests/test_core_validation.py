"""Construction-time validation, live attributes, dtype moves, and unroll's
contract (initial state, recorded internals, differentiability)."""
import gc
import math
import weakref

import pytest
import torch

import snntorch as snn
from snntorch import surrogate as ref_sg

from rleaky_viz.core import RECORDABLE, RLeaky, unroll
from rleaky_viz.core import quant as our_quant
from rleaky_viz.core import surrogate as our_sg

from _oracle import ATOL, build_pair, build_ref, make_input, run_steps

N = 5


# ----------------------------------------------------------------- bad configurations
REFERENCE_BAD_COMBOS = [
    # (arguments, words the message must contain)
    (dict(), ["all_to_all", "linear_features"]),
    (dict(all_to_all=True), ["all_to_all", "linear_features"]),
    (dict(linear_features=N, conv2d_channels=2), ["linear_features", "conv2d_channels"]),
    (dict(linear_features=N, kernel_size=3), ["linear_features", "kernel_size"]),
    (dict(linear_features=N, conv2d_channels=2, kernel_size=3), ["linear_features"]),
    (dict(conv2d_channels=2), ["conv2d_channels", "kernel_size"]),
    (dict(kernel_size=3), ["conv2d_channels", "kernel_size"]),
    (dict(all_to_all=False, linear_features=N), ["all_to_all", "linear_features"]),
    (dict(all_to_all=False, conv2d_channels=2, kernel_size=3), ["all_to_all", "conv2d_channels"]),
    (dict(all_to_all=False, kernel_size=3), ["all_to_all", "kernel_size"]),
]


@pytest.mark.parametrize("kwargs,words", REFERENCE_BAD_COMBOS)
def test_reference_bad_combinations(kwargs, words):
    with pytest.raises(TypeError):
        snn.RLeaky(beta=0.5, **kwargs)  # the reference refuses them too
    with pytest.raises((TypeError, ValueError)) as info:
        RLeaky(beta=0.5, **kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("kernel_size", [4, 2, (3, 4), (4, 3), (2, 2)])
def test_even_kernel_rejected(kernel_size):
    with pytest.raises(ValueError, match="kernel_size"):
        RLeaky(beta=0.5, conv2d_channels=2, kernel_size=kernel_size)
    # the reference builds it and only crashes at the first step
    ref = snn.RLeaky(beta=0.5, conv2d_channels=2, kernel_size=kernel_size)
    with pytest.raises(RuntimeError):
        ref(torch.rand(1, 2, 6, 7))


@pytest.mark.parametrize("kernel_size", [0, -3, (3,), (3, 3, 3), "3", 3.0, (3, 0)])
def test_malformed_kernel_rejected(kernel_size):
    with pytest.raises((TypeError, ValueError), match="kernel_size"):
        RLeaky(beta=0.5, conv2d_channels=2, kernel_size=kernel_size)


@pytest.mark.parametrize("name", ["beta", "threshold"])
@pytest.mark.parametrize("shape", [(N + 1,), (N - 1,), (2, N + 1), (N, 2)])
def test_misshaped_per_neuron_tensor_linear(name, shape):
    kwargs = {"beta": 0.5, name: torch.full(shape, 0.5)}
    with pytest.raises(ValueError, match=name):
        RLeaky(linear_features=N, **kwargs)
    # the right shapes are accepted: scalar, one per neuron, and with leading
    # (per-sample) dimensions
    for good in [(), (N,), (1, N), (3, N), (3, 1)]:
        RLeaky(linear_features=N, **{**kwargs, name: torch.full(good, 0.5)})


@pytest.mark.parametrize("name", ["beta", "threshold"])
def test_misshaped_per_neuron_tensor_conv(name):
    kwargs = {"beta": 0.5, name: torch.full((3, 1, 1), 0.5)}
    for bad in [(3, 1, 1), (2, 1), (2,), (4, 3, 1, 1)]:
        with pytest.raises(ValueError, match=name):
            RLeaky(conv2d_channels=2, kernel_size=3, **{**kwargs, name: torch.full(bad, 0.5)})
    RLeaky(conv2d_channels=2, kernel_size=3, **{**kwargs, name: torch.full((2, 1, 1), 0.5)})


@pytest.mark.parametrize("mechanism", ["subtrac", "Zero", "", None, 0])
def test_unknown_reset_mechanism(mechanism):
    with pytest.raises(ValueError, match="reset_mechanism"):
        RLeaky(beta=0.5, linear_features=N, reset_mechanism=mechanism)


@pytest.mark.parametrize("spike_grad", ["atan", 3, our_sg.SURROGATES])
def test_non_callable_spike_grad(spike_grad):
    with pytest.raises(TypeError, match="spike_grad"):
        RLeaky(beta=0.5, linear_features=N, spike_grad=spike_grad)


@pytest.mark.parametrize("name", ["beta", "threshold", "V"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, torch.tensor([0.5, math.nan, 0.5, 0.5, 0.5])])
def test_non_finite_values(name, bad):
    kwargs = dict(beta=0.5, all_to_all=False)
    kwargs[name] = bad
    with pytest.raises(ValueError, match=name):
        RLeaky(**kwargs)


@pytest.mark.parametrize("graded", [0, 0.0, torch.tensor(0.0)])
def test_zero_graded_spikes_factor(graded):
    with pytest.raises(ValueError, match="graded_spikes_factor"):
        RLeaky(beta=0.5, linear_features=N, graded_spikes_factor=graded)


def test_inhibition_with_conv2d():
    with pytest.raises(ValueError, match="inhibition"):
        RLeaky(beta=0.5, conv2d_channels=2, kernel_size=3, inhibition=True)


def test_bad_state_quant():
    with pytest.raises(TypeError, match="state_quant"):
        RLeaky(beta=0.5, linear_features=N, state_quant="uniform")


# ----------------------------------------------------------------- live attributes
def _continue(layer, x, spk, mem):
    spks, mems = [], []
    for x_t in x:
        spk, mem = layer(x_t, spk, mem)
        spks.append(spk)
        mems.append(mem)
    return torch.stack(spks).detach(), torch.stack(mems).detach()


@pytest.mark.parametrize("learn_recurrent", [True, False])
@pytest.mark.parametrize("new_V", [0.25, torch.tensor([0.25, -1.0, 2.0, 0.0, 0.5])],
                         ids=["scalar", "tensor"])
def test_changing_V_takes_effect(new_V, learn_recurrent):
    shape = (3, N)
    x = make_input(shape, 20, seed=21)
    ref, ours = build_pair(beta=0.8, all_to_all=False, V=0.9, learn_recurrent=learn_recurrent)
    # ten steps with the old V
    r_spk, r_mem = _continue(ref, x[:10], *ref.init_rleaky())
    o_spk, o_mem = _continue(ours, x[:10], *ours.init_rleaky())
    assert torch.equal(o_spk, r_spk)
    # switch V; a reference built with the new V continues from the same state
    ours.V = new_V
    assert isinstance(ours.V, torch.nn.Parameter) == learn_recurrent
    assert ("V" in dict(ours.named_parameters())) == learn_recurrent
    if learn_recurrent:
        assert ours.V.requires_grad
    ref_new = build_ref(beta=0.8, all_to_all=False, V=new_V, learn_recurrent=learn_recurrent)
    expected = _continue(ref_new, x[10:], r_spk[-1], r_mem[-1])
    got = _continue(ours, x[10:], o_spk[-1], o_mem[-1])
    assert torch.equal(got[0], expected[0])
    torch.testing.assert_close(got[1], expected[1], atol=ATOL, rtol=0)
    # and it really changed something
    old = _continue(ref, x[10:], r_spk[-1], r_mem[-1])
    assert not torch.equal(old[1], expected[1])
    # unroll reads the new V too
    u_spk, u_mem = unroll(ours, x[10:], spk=o_spk[-1], mem=o_mem[-1])
    assert torch.equal(u_spk.detach(), expected[0])


@pytest.mark.parametrize("name,value", [("beta", 0.3), ("threshold", 0.6),
                                        ("beta", torch.linspace(-0.5, 1.5, N))])
def test_changing_beta_threshold_takes_effect(name, value):
    x = make_input((3, N), 20, seed=22)
    ours = RLeaky(beta=0.8, linear_features=N)
    ours(x[0])  # a step before the change
    setattr(ours, name, value)
    ref = build_ref(linear_features=N, **{"beta": 0.8, name: value})
    ref.load_state_dict(ours.state_dict())
    o = run_steps(ours, x)
    r = run_steps(ref, x)
    assert torch.equal(o[0], r[0])
    torch.testing.assert_close(o[1], r[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("before,after", [("subtract", "zero"), ("zero", "none"),
                                          ("none", "subtract"), ("subtract", "none")])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_changing_reset_mechanism_takes_effect(before, after, reset_delay):
    x = make_input((3, N), 30, seed=23)
    ours = RLeaky(beta=0.8, linear_features=N, reset_mechanism=before, reset_delay=reset_delay)
    run_steps(ours, x)
    ours.reset_mechanism = after
    assert ours.reset_mechanism == after
    assert int(ours.reset_mechanism_val) == ["subtract", "zero", "none"].index(after)
    ref_after = build_ref(beta=0.8, linear_features=N, reset_mechanism=after,
                          reset_delay=reset_delay)
    ref_after.load_state_dict(ours.state_dict())
    ref_before = build_ref(beta=0.8, linear_features=N, reset_mechanism=before,
                           reset_delay=reset_delay)
    ref_before.load_state_dict({**ours.state_dict(),
                                "reset_mechanism_val": ref_before.reset_mechanism_val})
    for runner in (run_steps, lambda layer, xx: tuple(unroll(layer, xx))):
        o_spk, o_mem = runner(ours, x)
        r_spk, r_mem = run_steps(ref_after, x)
        assert torch.equal(o_spk, r_spk)
        torch.testing.assert_close(o_mem, r_mem, atol=ATOL, rtol=0)
    # and the behaviour did change
    assert not torch.equal(run_steps(ref_before, x)[1], r_mem)
    with pytest.raises(ValueError, match="reset_mechanism"):
        ours.reset_mechanism = "bogus"
    assert ours.reset_mechanism == after


def test_loaded_reset_mechanism_is_the_one_used():
    """A state dict carries reset_mechanism_val; ours then behaves like the model
    it came from (snnTorch keeps the mechanism it was constructed with and only
    updates the number)."""
    source = build_ref(beta=0.5, all_to_all=False, V=0.0, reset_mechanism="zero")
    ours = RLeaky(beta=0.5, all_to_all=False, V=0.0, reset_mechanism="subtract")
    ours.load_state_dict(source.state_dict())
    assert ours.reset_mechanism == "zero"
    x = torch.full((6, 1, 1), 1.5)
    assert torch.equal(unroll(ours, x).mem, run_steps(source, x)[1])
    assert unroll(ours, x).mem.flatten().tolist() == [1.5, 0.0, 1.5, 0.0, 1.5, 0.0]


# ----------------------------------------------------------------- dtype and device moves
def _floating_tensors(module):
    return {n: t for n, t in [*module.named_parameters(), *module.named_buffers()]
            if t.is_floating_point()}


@pytest.mark.parametrize("kwargs", [
    dict(linear_features=N, learn_beta=True),
    dict(conv2d_channels=2, kernel_size=3, learn_threshold=True),
    dict(all_to_all=False, V=torch.full((N,), 0.5)),
    dict(all_to_all=False, learn_recurrent=False, graded_spikes_factor=2.0),
], ids=["linear", "conv", "one_to_one", "one_to_one_buffer_V"])
@pytest.mark.parametrize("move", ["double", "to"])
def test_dtype_moves_everything(kwargs, move):
    ours = RLeaky(beta=0.8, state_quant=our_quant.state_quant(num_bits=6), **kwargs)
    shape = (2, 2, 4, 5) if "conv2d_channels" in kwargs else (3, N)
    x = make_input(shape, 15, seed=24)
    spk32, mem32 = unroll(ours, x)
    names = set(_floating_tensors(ours))
    assert {"beta", "threshold", "graded_spikes_factor"} <= names
    ours = ours.double() if move == "double" else ours.to(torch.float64)
    tensors = _floating_tensors(ours)
    assert set(tensors) == names
    for n, t in tensors.items():
        assert t.dtype == torch.float64, n
    for run in (lambda: unroll(ours, x.double()), lambda: run_steps(ours, x.double())):
        spk64, mem64 = run()
        assert spk64.dtype == torch.float64 and mem64.dtype == torch.float64
        assert torch.equal(spk64.float(), spk32)
        torch.testing.assert_close(mem64.float(), mem32, atol=1e-5, rtol=0)
    for n, t in _floating_tensors(ours).items():  # stepping kept them double
        assert t.dtype == torch.float64, n
    back = ours.float()
    for n, t in _floating_tensors(back).items():
        assert t.dtype == torch.float32, n


# ----------------------------------------------------------------- no instance registry
def test_no_class_level_instance_list():
    assert not hasattr(RLeaky, "instances")
    # the class-level reset_hidden finds live neurons through weak references only
    assert not any(isinstance(v, (list, set, dict))
                   for k, v in vars(RLeaky).items() if not k.startswith("__"))
    before = len(snn.SpikingNeuron.instances)
    layers = [RLeaky(beta=0.5, linear_features=N) for _ in range(5)]
    layers += [RLeaky(beta=0.5, all_to_all=False, V=torch.ones(N))]  # with its recurrent view
    assert len(snn.SpikingNeuron.instances) == before
    refs = [weakref.ref(layer) for layer in layers]
    assert all(layer in RLeaky.live_instances() for layer in layers)
    del layers
    # freed at once, without the cyclic collector: no reference cycle, no registry holds them
    assert all(ref() is None for ref in refs)
    gc.collect()
    assert not any(ref() in RLeaky.live_instances() for ref in refs)


def test_reset_and_detach_hidden_act_on_this_module_only():
    a = RLeaky(beta=0.5, linear_features=N, init_hidden=True)
    b = RLeaky(beta=0.5, linear_features=N, init_hidden=True)
    x = torch.rand(2, N, requires_grad=True)
    a(x)
    b(x)
    a.detach_hidden()
    assert not a.mem.requires_grad and b.mem.requires_grad
    assert not a.spk.requires_grad and b.spk.requires_grad
    a.reset_hidden()
    assert (a.mem == 0).all() and (a.spk == 0).all() and a.mem.shape == (2, N)
    assert (b.mem != 0).any()


# ----------------------------------------------------------------- unroll contract
CASES = {
    "linear": (dict(linear_features=N), (3, N)),
    "conv": (dict(conv2d_channels=2, kernel_size=(3, 1)), (2, 2, 4, 5)),
    "one_to_one": (dict(all_to_all=False, V=torch.linspace(-1, 1, N)), (3, N)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("reset_delay", [True, False])
def test_unroll_from_given_state_equals_stepping(case, reset_delay):
    kwargs, shape = CASES[case]
    ours = RLeaky(beta=0.8, reset_delay=reset_delay, **kwargs)
    x = make_input(shape, 20, seed=25)
    g = torch.Generator().manual_seed(3)
    spk0 = (torch.rand(shape, generator=g) > 0.5).float()
    mem0 = torch.randn(shape, generator=g) * 1.5
    spk, mem = spk0, mem0
    spks, mems = [], []
    for x_t in x:
        spk, mem = ours(x_t, spk, mem)
        spks.append(spk)
        mems.append(mem)
    u_spk, u_mem = unroll(ours, x, spk=spk0, mem=mem0)
    assert torch.equal(u_spk, torch.stack(spks))
    assert torch.equal(u_mem, torch.stack(mems))
    # a different initial state gives a different run, so the state is really used
    z_spk, z_mem = unroll(ours, x)
    assert not torch.equal(z_mem, u_mem)
    # and unroll leaves the module's stored state alone
    stored = ours.mem.clone()
    unroll(ours, x * 2, spk=spk0, mem=mem0)
    assert torch.equal(ours.mem, stored)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("surrogate", ["atan", "fast_sigmoid", "triangular", "SFS"])
@pytest.mark.parametrize("engine", ["auto", "step"])
def test_unroll_record(case, reset_mechanism, surrogate, engine):
    kwargs, shape = CASES[case]
    thr = torch.tensor(0.9)
    beta = torch.tensor(0.7)
    params = {"slope": 5} if surrogate == "fast_sigmoid" else {}
    spike_grad = our_sg.make_surrogate(surrogate, params)
    ours = RLeaky(beta=beta, threshold=thr, reset_mechanism=reset_mechanism,
                  spike_grad=spike_grad, **kwargs)
    x = make_input(shape, 25, seed=26)
    T = x.shape[0]
    plain = unroll(ours, x, engine=engine)
    out = unroll(ours, x, record=True, engine=engine)
    spk, mem = out
    assert torch.equal(spk, plain.spk) and torch.equal(mem, plain.mem)
    for name in RECORDABLE:
        value = getattr(out, name)
        assert value is not None and value.shape == (T, *shape), name
        assert not value.requires_grad, name
    mem_prev = torch.cat([torch.zeros(1, *shape), mem[:-1]]).detach()
    spk_prev = torch.cat([torch.zeros(1, *shape), spk[:-1]]).detach()
    assert torch.equal(out.reset, (mem_prev > thr).float())
    assert out.reset.any() and not out.reset.all()
    assert torch.equal(out.leak, beta.clamp(0, 1) * mem_prev)
    with torch.no_grad():
        rec = (torch.stack([ours.recurrent(s) for s in spk_prev]) if ours.all_to_all
               else spk_prev * ours.V)
    torch.testing.assert_close(out.recurrent, rec, atol=1e-6, rtol=0)
    assert torch.equal(out.base, out.leak + x + out.recurrent)
    expected_mem = {"subtract": out.base - out.reset * thr,
                    "zero": out.base - out.reset * out.base,
                    "none": out.base}[reset_mechanism]
    assert torch.equal(mem.detach(), expected_mem)
    # with the (default) delayed reset the spike is decided on U[t] itself
    assert torch.equal(out.decision, mem.detach())
    # the surrogate's derivative at mem - threshold, as snnTorch's autograd gives it
    ref_fn = {"atan": ref_sg.atan(), "fast_sigmoid": ref_sg.fast_sigmoid(**params),
              "triangular": ref_sg.triangular(), "SFS": ref_sg.SFS()}[surrogate]
    z = (mem.detach() - thr).requires_grad_(True)
    (g,) = torch.autograd.grad(ref_fn(z).sum(), z)
    torch.testing.assert_close(out.surrogate_grad, g, atol=1e-6, rtol=1e-6)


def test_unroll_record_subset_and_unknown():
    ours = RLeaky(beta=0.8, linear_features=N)
    x = make_input((2, N), 10)
    out = unroll(ours, x, record=["leak"])
    assert out.leak is not None and out.base is None and out.reset is None
    assert unroll(ours, x).surrogate_grad is None
    with pytest.raises(ValueError, match="record"):
        unroll(ours, x, record=["membrane"])


def test_unroll_record_surrogate_disable_and_foreign_spike_fn():
    x = make_input((2, N), 15, seed=27)
    off = RLeaky(beta=0.8, linear_features=N, surrogate_disable=True)
    assert (unroll(off, x, record=True).surrogate_grad == 0).all()
    foreign = RLeaky(beta=0.8, linear_features=N, spike_grad=ref_sg.fast_sigmoid(slope=3))
    out = unroll(foreign, x, record=True)
    z = out.mem.detach() - 1.0
    torch.testing.assert_close(out.surrogate_grad, 1 / (3 * z.abs() + 1) ** 2,
                               atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_unroll_is_differentiable(case):
    kwargs, shape = CASES[case]
    ours = RLeaky(beta=0.8, learn_beta=True, learn_threshold=True, **kwargs)
    x = make_input(shape, 20, seed=28).requires_grad_(True)
    spk, mem = unroll(ours, x)
    assert spk.requires_grad and mem.requires_grad
    (spk.sum() + mem.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad != 0).any()
    for n, p in ours.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), n
    # and the gradient is the one the step call gives
    xs = x.detach().clone().requires_grad_(True)
    s, m = run_steps(ours, xs)
    (s.sum() + m.sum()).backward()
    torch.testing.assert_close(x.grad, xs.grad, atol=1e-6, rtol=1e-6)
    # the membrane gradient of the last step w.r.t. the last input is exactly 1
    xl = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(unroll(ours, xl).mem[-1].sum(), xl)
    assert torch.equal(g[-1], torch.ones(shape))


@pytest.mark.parametrize("bad", [torch.zeros(0, 3, N), torch.tensor(1.0), "x"])
def test_unroll_rejects_bad_input(bad):
    with pytest.raises((ValueError, TypeError)):
        unroll(RLeaky(beta=0.5, linear_features=N), bad)


def test_unroll_rejects_foreign_module():
    with pytest.raises(TypeError):
        unroll(snn.RLeaky(beta=0.5, linear_features=N), torch.zeros(3, 2, N))


def test_trace_and_its_table_follow_recordable():
    """core.RECORDABLE is the one list of recorded fields: the Trace and its table follow it."""
    from dataclasses import fields

    from rleaky_viz import SimConfig
    from rleaky_viz.simulate import Trace, simulate

    names = [f.name for f in fields(Trace)]
    assert tuple(n for n in names if n in RECORDABLE) == RECORDABLE
    trace = simulate(SimConfig(num_neurons=3, recurrence="linear", num_steps=6, reset_delay=False))
    for name in RECORDABLE:
        assert getattr(trace, name).shape == trace.mem.shape, name
    assert set(RECORDABLE) <= set(trace.to_frame().columns)
