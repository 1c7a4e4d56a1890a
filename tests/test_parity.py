"""Parity of rleaky_viz.core with snnTorch 1.0.0's RLeaky (the oracle).

Every neuron case drives the reference and ours with the same input and
compares spikes (exactly), membranes (atol 1e-5) and the gradients of a loss
that depends on both, w.r.t. the input and every learnable parameter
(atol = rtol = 1e-5), once through our step call and once through
``core.unroll``.
"""
import pytest
import torch

from snntorch import surrogate as ref_sg

from rleaky_viz.core import RLeaky, unroll
from rleaky_viz.core import surrogate as our_sg

from _oracle import (ATOL, DETERMINISTIC_SURROGATES, assert_parity, assert_same, build_pair,
                     build_ref, chunked_unroll, forward_and_grads, loss_weights, make_input,
                     quant_pair, ref_levels, run_from_state, run_hidden, run_steps, run_unroll,
                     run_unroll_step, surrogate_pair)

T = 30
RESETS = ("subtract", "zero", "none")

V6 = torch.tensor([0.5, -0.3, 0.9, 0.0, -1.2, 0.25])

# name -> (constructor arguments, input shape of one step)
RECURRENCES = {
    "linear": (dict(linear_features=6), (3, 6)),
    "conv3": (dict(conv2d_channels=2, kernel_size=3), (2, 2, 5, 6)),
    "conv3x5": (dict(conv2d_channels=2, kernel_size=(3, 5)), (2, 2, 5, 6)),
    "conv1x3": (dict(conv2d_channels=2, kernel_size=(1, 3)), (2, 2, 5, 6)),
    "one_to_one_scalar_V": (dict(all_to_all=False, V=0.4), (3, 6)),
    "one_to_one_tensor_V": (dict(all_to_all=False, V=V6), (3, 6)),
    # one-to-one on a (batch, channels, H, W) input, one V per channel
    "one_to_one_4d": (dict(all_to_all=False, V=torch.tensor([0.6, -0.4]).reshape(2, 1, 1)),
                      (2, 2, 5, 6)),
}
DENSE = ("linear", "one_to_one_scalar_V", "one_to_one_tensor_V")


def _case(name):
    kwargs, shape = RECURRENCES[name]
    return dict(kwargs), shape


# ----------------------------------------------------------------- reset x delay x recurrence
@pytest.mark.parametrize("recurrence", list(RECURRENCES))
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("reset_mechanism", RESETS)
def test_reset_delay_recurrence(recurrence, reset_mechanism, reset_delay):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, reset_mechanism=reset_mechanism,
                           reset_delay=reset_delay, **kwargs)
    assert_parity(ref, ours, make_input(shape, T, seed=1))


# ----------------------------------------------------------------- per-neuron tensors
PER_NEURON = {
    # recurrence -> (beta, threshold, V or None)
    "linear": (torch.tensor([-0.5, 0.3, 1.5, 0.9, 1.0, 0.0]),
               torch.tensor([1.0, 0.5, 1.5, 0.8, 2.0, 1.2]), None),
    "conv3": (torch.tensor([[[-0.2]], [[1.7]]]),
              torch.tensor([[[0.7]], [[1.3]]]), None),
    "conv3x5": (torch.linspace(-0.5, 1.5, 60).reshape(2, 5, 6),
                torch.linspace(0.5, 1.5, 60).reshape(2, 5, 6), None),
    "one_to_one_tensor_V": (torch.tensor([-0.5, 0.3, 1.5, 0.9, 1.0, 0.0]),
                            torch.tensor([1.0, 0.5, 1.5, 0.8, 2.0, 1.2]), V6),
}


@pytest.mark.parametrize("recurrence", list(PER_NEURON))
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
def test_per_neuron_beta_threshold(recurrence, learn, reset_mechanism):
    kwargs, shape = _case(recurrence)
    beta, threshold, V = PER_NEURON[recurrence]
    if V is not None:
        kwargs["V"] = V
    ref, ours = build_pair(beta=beta, threshold=threshold, learn_beta=learn,
                           learn_threshold=learn, reset_mechanism=reset_mechanism, **kwargs)
    _, _, grads = assert_parity(ref, ours, make_input(shape, T, seed=2))
    if learn:
        # beta is clamped: no gradient reaches entries strictly outside [0, 1]
        outside = (beta < 0) | (beta > 1)
        g = grads["beta"]
        assert (g.expand(torch.broadcast_shapes(g.shape, outside.shape))[outside.expand_as(g)]
                == 0).all()


PER_SAMPLE = {
    # recurrence -> (beta, threshold): leading dimensions broadcast over the batch
    "linear": (torch.tensor([[0.9], [0.5], [1.4]]), torch.linspace(0.5, 1.5, 18).reshape(3, 6)),
    "conv3": (torch.tensor([0.9, 0.3, -0.2, 0.7]).reshape(2, 2, 1, 1),
              torch.tensor([1.0, 0.6]).reshape(2, 1, 1, 1)),
    "one_to_one_tensor_V": (torch.tensor([[0.9], [0.5], [1.4]]),
                            torch.linspace(0.5, 1.5, 18).reshape(3, 6)),
}


@pytest.mark.parametrize("recurrence", list(PER_SAMPLE))
@pytest.mark.parametrize("reset_delay", [True, False])
def test_per_sample_beta_threshold(recurrence, reset_delay):
    kwargs, shape = _case(recurrence)
    beta, threshold = PER_SAMPLE[recurrence]
    ref, ours = build_pair(beta=beta, threshold=threshold, learn_beta=True, learn_threshold=True,
                           reset_delay=reset_delay, **kwargs)
    assert_parity(ref, ours, make_input(shape, T, seed=2))


@pytest.mark.parametrize("beta", [-0.7, 0.0, 1.0, 1.8])
@pytest.mark.parametrize("recurrence", ["linear", "one_to_one_scalar_V"])
def test_scalar_beta_out_of_range(beta, recurrence):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=beta, learn_beta=True, reset_mechanism="zero", **kwargs)
    assert_parity(ref, ours, make_input(shape, T, seed=3, scale=0.5, offset=0.1))


@pytest.mark.parametrize("recurrence", ["linear", "one_to_one_scalar_V"])
def test_integer_arguments(recurrence):
    # the reference keeps integer tensors for integer arguments; ours makes them float
    kwargs, shape = _case(recurrence)
    if "V" in kwargs:  # an integer V cannot be learnable in the reference
        kwargs.update(V=1, learn_recurrent=False)
    ref, ours = build_pair(beta=1, threshold=2, **kwargs)
    assert ours.beta.is_floating_point() and ours.threshold.is_floating_point()
    assert_parity(ref, ours, make_input(shape, T, seed=3, scale=0.5, offset=0.2))


# ----------------------------------------------------------------- inhibition
@pytest.mark.parametrize("recurrence", DENSE)
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("reset_mechanism", RESETS)
def test_inhibition(recurrence, reset_mechanism, reset_delay):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, inhibition=True, reset_mechanism=reset_mechanism,
                           reset_delay=reset_delay, **kwargs)
    _, _, _ = assert_parity(ref, ours, make_input(shape, T, seed=4, offset=0.5))
    spk, _ = unroll(ours, make_input(shape, T, seed=4, offset=0.5))
    assert ((spk != 0).sum(-1) <= 1).all()  # at most one winner per sample


@pytest.mark.parametrize("recurrence", DENSE)
@pytest.mark.parametrize("reset_delay", [True, False])
def test_inhibition_per_neuron_threshold(recurrence, reset_delay):
    # the winner is the largest U - threshold, which is not the largest U here
    kwargs, shape = _case(recurrence)
    threshold = torch.tensor([0.5, 2.0, 1.0, 1.5, 0.6, 1.2])
    ref, ours = build_pair(beta=0.8, threshold=threshold, learn_threshold=True,
                           inhibition=True, reset_delay=reset_delay, **kwargs)
    x = make_input(shape, T, seed=17, offset=0.5)
    assert_parity(ref, ours, x)
    mem = unroll(ours, x).mem
    assert (mem.argmax(-1) != (mem - threshold).argmax(-1)).any()


@pytest.mark.parametrize("reset_delay", [True, False])
def test_inhibition_with_graded_spikes(reset_delay):
    kwargs, shape = _case("linear")
    ref, ours = build_pair(beta=0.8, inhibition=True, graded=2.5, reset_delay=reset_delay,
                           **kwargs)
    assert_parity(ref, ours, make_input(shape, T, seed=5, offset=0.5))


# ----------------------------------------------------------------- graded spikes
@pytest.mark.parametrize("graded", [0.5, 2.0, -1.5])
@pytest.mark.parametrize("recurrence", ["linear", "conv3", "one_to_one_tensor_V"])
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("reset_mechanism", RESETS)
def test_graded_spikes(graded, recurrence, reset_delay, reset_mechanism):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, graded=graded, reset_delay=reset_delay,
                           reset_mechanism=reset_mechanism, **kwargs)
    spk, _, _ = assert_parity(ref, ours, make_input(shape, T, seed=6, scale=0.6))
    assert set(spk.unique().tolist()) == {0.0, graded}


# ----------------------------------------------------------------- state quantisation
QUANT_SETTINGS = [
    dict(num_bits=nb, uniform=u, thr_centered=tc, threshold=thr, lower_limit=lo,
         upper_limit=up, multiplier=m)
    for nb in (1, 2, 3, 4, 5, 6, 7, 8)
    for u in (True, False)
    for tc in (True, False)
    for thr in (1, 0.5, 2.5)
    for lo, up in ((0, 0.2), (0.3, 0.5))
    for m in (None, 0.6)
    if not (u and (tc is False or m is not None))  # uniform ignores both
]


@pytest.mark.parametrize("settings", QUANT_SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_quant_levels_equal(settings):
    ref_q, our_q = quant_pair(**settings)
    ref = ref_levels(ref_q)
    assert our_q.levels.dtype == ref.dtype
    assert torch.equal(our_q.levels, ref)
    # and the two quantisers map a dense sweep (well past both ends) identically
    thr = settings["threshold"]
    sweep = torch.linspace(-2 * thr - 0.5, 2 * thr + 0.5, 4001)
    assert torch.equal(our_q(sweep), ref_q(sweep))
    assert set(our_q(sweep).unique().tolist()) <= set(ref.tolist())


QUANT_NEURON = [
    dict(num_bits=4, uniform=True),
    dict(num_bits=8, uniform=True, upper_limit=0.5),
    dict(num_bits=3, uniform=False, thr_centered=True),
    dict(num_bits=5, uniform=False, thr_centered=True, lower_limit=0.5),
    dict(num_bits=4, uniform=False, thr_centered=False),
    dict(num_bits=6, uniform=False, thr_centered=False, multiplier=0.8),
]


@pytest.mark.parametrize("settings", QUANT_NEURON, ids=lambda s: "-".join(map(str, s.values())))
@pytest.mark.parametrize("threshold", [1.0, 1.5])
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
@pytest.mark.parametrize("recurrence", ["linear", "one_to_one_tensor_V"])
def test_state_quant_neuron(settings, threshold, reset_delay, reset_mechanism, recurrence):
    kwargs, shape = _case(recurrence)
    ref_q, our_q = quant_pair(threshold=threshold, **settings)
    ref, ours = build_pair(beta=0.8, threshold=threshold, ref_state_quant=ref_q,
                           our_state_quant=our_q, reset_delay=reset_delay,
                           reset_mechanism=reset_mechanism, learn_threshold=True,
                           learn_beta=True, **kwargs)
    _, mem, _ = assert_parity(ref, ours, make_input(shape, T, seed=7, scale=0.6))
    if reset_delay:
        # with reset_delay the stored membrane is always a level
        levels = ref_levels(ref_q)
        assert torch.isin(mem, levels).all()


# ----------------------------------------------------------------- surrogates in the neuron
SURROGATE_PARAMS = [
    ("atan", {}), ("atan", {"alpha": 0.5}),
    ("fast_sigmoid", {}), ("fast_sigmoid", {"slope": 2}),
    ("sigmoid", {"slope": 5}), ("sigmoid", {"slope": 1}),
    ("straight_through_estimator", {}),
    ("triangular", {}), ("triangular", {"threshold": 0.3}),
    ("spike_rate_escape", {"beta": 1, "slope": 2}),
    ("spike_rate_escape", {"beta": 3, "slope": 0.5}),
    ("heaviside", {}),
    ("SFS", {}), ("SFS", {"slope": 4, "B": 0.2}),
    ("custom_surrogate", {}),
]


def test_surrogate_cases_cover_every_deterministic_surrogate():
    assert {name for name, _ in SURROGATE_PARAMS} == set(DETERMINISTIC_SURROGATES)


@pytest.mark.parametrize("name,params", SURROGATE_PARAMS,
                         ids=[f"{n}-{p}" for n, p in SURROGATE_PARAMS])
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("recurrence", ["linear", "conv3", "one_to_one_tensor_V"])
def test_surrogate_in_neuron(name, params, reset_delay, recurrence):
    kwargs, shape = _case(recurrence)
    ref_fn, our_fn = surrogate_pair(name, **params)
    ref, ours = build_pair(beta=0.8, ref_spike_grad=ref_fn, our_spike_grad=our_fn,
                           reset_delay=reset_delay, learn_threshold=True, learn_beta=True,
                           **kwargs)
    # our sigmoid derivative is exp(-k|z|)-based (finite everywhere): same values,
    # other float32 round-off, so its summed parameter gradients get a per-unit atol
    assert_parity(ref, ours, make_input(shape, 20, seed=8, scale=0.6),
                  grad_atol_per_unit=(name == "sigmoid"))


def test_sigmoid_default_slope_in_neuron():
    # the default slope, with an input that keeps U - threshold well above the
    # range where the reference's exp(-k z) overflows
    kwargs, shape = _case("one_to_one_tensor_V")
    ref_fn, our_fn = surrogate_pair("sigmoid")
    ref, ours = build_pair(beta=0.8, ref_spike_grad=ref_fn, our_spike_grad=our_fn,
                           learn_threshold=True, **kwargs)
    x = make_input(shape, T, seed=9, scale=0.4, offset=0.3).clamp(min=0)
    assert_parity(ref, ours, x)


def test_snntorch_spike_function_accepted_by_ours():
    # a foreign callable (snnTorch's own surrogate) works as our spike_grad
    kwargs, shape = _case("linear")
    ref, ours = build_pair(beta=0.8, ref_spike_grad=ref_sg.fast_sigmoid(slope=3),
                           our_spike_grad=ref_sg.fast_sigmoid(slope=3), **kwargs)
    assert_parity(ref, ours, make_input(shape, T, seed=10))


@pytest.mark.parametrize("recurrence", ["linear", "conv3x5", "one_to_one_scalar_V"])
@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("reset_mechanism", RESETS)
def test_surrogate_disable(recurrence, reset_delay, reset_mechanism):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, surrogate_disable=True, learn_threshold=True,
                           reset_delay=reset_delay, reset_mechanism=reset_mechanism, **kwargs)
    x = make_input(shape, T, seed=11)
    assert_parity(ref, ours, x)
    # no gradient path through the spikes at all, as in the reference
    xx = x.clone().requires_grad_(True)
    for engine in ("auto", "step"):
        spk, mem = unroll(ours, xx, engine=engine)
        assert not spk.requires_grad and mem.requires_grad
    assert not ref(xx[0])[0].requires_grad


# ----------------------------------------------------------------- learnable flags
@pytest.mark.parametrize("recurrence", ["linear", "conv3", "one_to_one_scalar_V",
                                        "one_to_one_tensor_V"])
@pytest.mark.parametrize("learn_recurrent", [True, False])
@pytest.mark.parametrize("learn_threshold", [True, False])
@pytest.mark.parametrize("learn_beta", [True, False])
def test_learnable_flags(recurrence, learn_beta, learn_threshold, learn_recurrent):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, learn_beta=learn_beta, learn_threshold=learn_threshold,
                           learn_recurrent=learn_recurrent, **kwargs)
    names = {n for n, p in ours.named_parameters() if p.requires_grad}
    expected = set()
    if learn_beta:
        expected.add("beta")
    if learn_threshold:
        expected.add("threshold")
    if learn_recurrent:
        expected |= {"V"} if recurrence.startswith("one") else {"recurrent.weight",
                                                                "recurrent.bias"}
    assert names == expected
    assert names == {n for n, p in ref.named_parameters() if p.requires_grad}
    assert ({n for n, _ in ours.named_parameters()} == {n for n, _ in ref.named_parameters()})
    assert_parity(ref, ours, make_input(shape, T, seed=12))


# ----------------------------------------------------------------- init_hidden
@pytest.mark.parametrize("recurrence", ["linear", "conv3", "one_to_one_tensor_V"])
@pytest.mark.parametrize("output", [False, True])
def test_init_hidden(recurrence, output):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, init_hidden=True, output=output, learn_beta=True, **kwargs)
    assert_parity(ref, ours, make_input(shape, T, seed=13), modes=("hidden",),
                  ref_runner=run_hidden)
    x_t = torch.rand(shape)
    z = torch.zeros(shape)
    for layer in (ref, ours):
        out = layer(x_t)
        assert isinstance(out, tuple) == output
        with pytest.raises(TypeError):
            layer(x_t, z, z)
        with pytest.raises(TypeError):
            layer(x_t, spk=z)
        with pytest.raises(TypeError):
            layer(x_t, mem=z)


# ----------------------------------------------------------------- losses on part of the output
LOSSES = {
    "spikes_only": lambda spk, mem, w1, w2: (spk * w2).sum(),
    "membrane_only": lambda spk, mem, w1, w2: (mem * w1).sum(),
    "last_membrane": lambda spk, mem, w1, w2: (mem[-1] * w1[-1]).sum(),
    "nonlinear": lambda spk, mem, w1, w2: (mem.tanh() * w1).pow(2).sum() + spk[::3].sum(),
}


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("recurrence", ["linear", "conv3x5", "one_to_one_tensor_V"])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_gradients_of_other_losses(loss, recurrence, reset_delay):
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, learn_beta=True, learn_threshold=True,
                           reset_delay=reset_delay, **kwargs)
    x = make_input(shape, T, seed=18)
    w1, w2 = loss_weights(x.shape)
    ref_out = forward_and_grads(ref, run_steps, x, w1, w2, LOSSES[loss])
    assert ref_out[2]["input"].abs().sum() > 0
    for runner in (run_steps, run_unroll, run_unroll_step):
        assert_same(forward_and_grads(ours, runner, x, w1, w2, LOSSES[loss]), ref_out,
                    label=runner.__name__)


@pytest.mark.parametrize("recurrence", ["linear", "conv3x5", "one_to_one_tensor_V"])
@pytest.mark.parametrize("reset_mechanism", RESETS)
@pytest.mark.parametrize("reset_delay", [True, False])
def test_gradients_through_a_given_initial_state(recurrence, reset_mechanism, reset_delay):
    """unroll from a given (spk, mem), in one piece and in two chained pieces:
    gradients w.r.t. the initial state too, against snnTorch stepped from it."""
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, learn_beta=True, learn_threshold=True, graded=1.5,
                           reset_mechanism=reset_mechanism, reset_delay=reset_delay, **kwargs)
    x = make_input(shape, T, seed=19)
    g = torch.Generator().manual_seed(19)
    state = ((torch.rand(shape, generator=g) > 0.5).float() * 1.5,
             torch.randn(shape, generator=g) * 1.5)
    w1, w2 = loss_weights(x.shape)
    ref_out = forward_and_grads(ref, run_from_state, x, w1, w2, state=state)
    assert (ref_out[2]["spk0"] != 0).any() and (ref_out[2]["mem0"] != 0).any()
    for runner in (run_from_state, chunked_unroll(0), chunked_unroll(11),
                   chunked_unroll(11, engine="step")):
        assert_same(forward_and_grads(ours, runner, x, w1, w2, state=state), ref_out)


# ----------------------------------------------------------------- mixed call forms
@pytest.mark.parametrize("recurrence", ["linear", "one_to_one_tensor_V"])
def test_mixed_call_forms_keep_the_same_state(recurrence):
    """Without init_hidden, a call that omits spk and/or mem continues from the
    state the module remembers; state of another shape starts from zeros."""
    kwargs, shape = _case(recurrence)
    ref, ours = build_pair(beta=0.8, **kwargs)
    x = make_input(shape, 12, seed=16)
    g = torch.Generator().manual_seed(5)
    spk_given = (torch.rand(shape, generator=g) > 0.5).float()
    mem_given = torch.randn(shape, generator=g)
    wrong = torch.ones(7)
    calls = [
        lambda l, xt: l(xt),
        lambda l, xt: l(xt),
        lambda l, xt: l(xt, spk_given, mem_given),
        lambda l, xt: l(xt, spk_given),
        lambda l, xt: l(xt, mem=mem_given),
        lambda l, xt: l(xt),
        lambda l, xt: l(xt, wrong, wrong),          # wrong shape: restart from zeros
        lambda l, xt: l(xt),
        lambda l, xt: l(xt, mem=wrong),
        lambda l, xt: l(xt, spk=wrong),
        lambda l, xt: l(xt),
        lambda l, xt: l(xt, *l.init_rleaky()),
    ]
    for call, x_t in zip(calls, x):
        r_spk, r_mem = call(ref, x_t)
        o_spk, o_mem = call(ours, x_t)
        assert torch.equal(o_spk, r_spk)
        torch.testing.assert_close(o_mem, r_mem, atol=ATOL, rtol=0)


# ----------------------------------------------------------------- state dicts and init
@pytest.mark.parametrize("learn_recurrent", [True, False])
@pytest.mark.parametrize("V", [0.4, V6], ids=["scalar", "tensor"])
def test_state_dict_both_ways_one_to_one(V, learn_recurrent):
    kwargs, shape = _case("one_to_one_tensor_V")
    kwargs["V"] = V
    x = make_input(shape, T, seed=14)
    # trained reference -> ours
    ref = build_ref(beta=0.7, threshold=0.9, learn_recurrent=learn_recurrent, learn_beta=True,
                    **kwargs)
    with torch.no_grad():
        ref.V.copy_(torch.full_like(ref.V, -0.35) if ref.V.dim() == 0
                    else torch.linspace(-1, 1, ref.V.numel()))
        ref.beta.fill_(0.6)
    ours = RLeaky(beta=0.1, learn_recurrent=learn_recurrent, learn_beta=True,
                  **{**kwargs, "V": torch.zeros_like(torch.as_tensor(V))})
    assert set(ours.state_dict()) == set(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k
    assert_parity(ref, ours, x)
    # ours -> a fresh reference
    with torch.no_grad():
        ours.V.copy_(torch.full_like(ours.V, 0.8) if ours.V.dim() == 0
                     else torch.linspace(1, -1, ours.V.numel()))
    ref2 = build_ref(beta=0.1, threshold=0.9, learn_recurrent=learn_recurrent, learn_beta=True,
                     **{**kwargs, "V": torch.zeros_like(torch.as_tensor(V))})
    ref2.load_state_dict(ours.state_dict())
    assert torch.equal(ref2.V, ours.V)
    assert torch.equal(ref2.recurrent.V, ours.V)  # the reference's alias is loaded too
    assert_parity(ref2, ours, x)


@pytest.mark.parametrize("recurrence", ["linear", "conv3x5"])
def test_state_dict_both_ways_all_to_all(recurrence):
    kwargs, shape = _case(recurrence)
    x = make_input(shape, T, seed=15)
    ref = build_ref(beta=0.8, seed=1, **kwargs)
    ours = RLeaky(beta=0.8, **kwargs)
    assert set(ours.state_dict()) == set(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    assert_parity(ref, ours, x)
    torch.manual_seed(99)
    ours2 = RLeaky(beta=0.8, **kwargs)
    ref.load_state_dict(ours2.state_dict())
    assert_parity(ref, ours2, x)


@pytest.mark.parametrize("recurrence", ["linear", "conv3", "conv3x5", "conv1x3"])
@pytest.mark.parametrize("seed", [0, 7])
def test_default_recurrent_init_matches(recurrence, seed):
    kwargs, shape = _case(recurrence)
    torch.manual_seed(seed)
    ref = build_ref(beta=0.8, seed=seed, **kwargs)
    torch.manual_seed(seed)
    ours = RLeaky(beta=0.8, **kwargs)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert set(ref_sd) == set(our_sd)
    for k in ref_sd:
        assert torch.equal(our_sd[k], ref_sd[k]), k
    # and it is really seeded: another seed gives other weights
    torch.manual_seed(seed + 1)
    other = RLeaky(beta=0.8, **kwargs)
    assert not torch.equal(other.recurrent.weight, ours.recurrent.weight)


# ----------------------------------------------------------------- surrogate functions
Z = torch.cat([torch.linspace(-3, 3, 241),
               torch.tensor([0.0, -0.0, 1.0, -1.0, 0.2, 1e-7, -1e-7, 2.0])])

FUNCTION_PARAMS = [
    ("atan", {}), ("atan", {"alpha": 0.5}), ("atan", {"alpha": 7.0}),
    ("fast_sigmoid", {}), ("fast_sigmoid", {"slope": 1}), ("fast_sigmoid", {"slope": 100}),
    ("sigmoid", {}), ("sigmoid", {"slope": 1}), ("sigmoid", {"slope": 10}),
    ("straight_through_estimator", {}),
    ("triangular", {}), ("triangular", {"threshold": 0.25}), ("triangular", {"threshold": -2}),
    ("spike_rate_escape", {}), ("spike_rate_escape", {"beta": 0.5, "slope": 3}),
    ("heaviside", {}),
    ("SFS", {}), ("SFS", {"slope": 5, "B": 0.2}), ("SFS", {"slope": 25, "B": -1}),
    ("custom_surrogate", {}),
]


def test_function_cases_cover_every_deterministic_surrogate():
    assert {name for name, _ in FUNCTION_PARAMS} == set(DETERMINISTIC_SURROGATES)


def _forward_backward(fn, z, upstream=None):
    zz = z.clone().requires_grad_(True)
    s = fn(zz)
    up = torch.ones_like(z) if upstream is None else upstream
    (g,) = torch.autograd.grad(s, zz, grad_outputs=up)
    return s.detach(), g


@pytest.mark.parametrize("name,params", FUNCTION_PARAMS,
                         ids=[f"{n}-{p}" for n, p in FUNCTION_PARAMS])
def test_surrogate_function(name, params):
    ref_fn, our_fn = surrogate_pair(name, **params)
    r_s, r_g = _forward_backward(ref_fn, Z)
    o_s, o_g = _forward_backward(our_fn, Z)
    assert torch.equal(o_s, r_s)
    assert torch.equal(o_s, (Z > 0).float())  # strict step, z == 0 gives no spike
    torch.testing.assert_close(o_g, r_g, atol=1e-6, rtol=1e-6)
    # a non-uniform upstream gradient is multiplied through, as in the reference
    up = torch.linspace(-2, 2, Z.numel())
    torch.testing.assert_close(_forward_backward(our_fn, Z, up)[1],
                               _forward_backward(ref_fn, Z, up)[1], atol=1e-6, rtol=1e-6)
    # derivative() (what the app draws) is the backward of a unit upstream gradient
    torch.testing.assert_close(our_fn.derivative(Z), r_g, atol=1e-6, rtol=1e-6)


def test_sigmoid_finite_far_below_threshold():
    z = torch.tensor([-100.0, -10.0, -4.0, 100.0])
    _, r_g = _forward_backward(ref_sg.sigmoid(), z)
    _, o_g = _forward_backward(our_sg.sigmoid(), z)
    assert torch.isnan(r_g[0])  # the reference's exp(-k z) overflows
    assert torch.isfinite(o_g).all()
    assert o_g[0] == 0 and o_g[-1] == 0
    k = 25.0
    expected = k * torch.exp(-k * z.abs().double()) / (torch.exp(-k * z.abs().double()) + 1) ** 2
    torch.testing.assert_close(o_g.double(), expected, atol=1e-12, rtol=1e-5)


@pytest.mark.parametrize("slope", [0.1, 0.5, 2.0])
def test_lso_documented_behaviour(slope):
    s, g = _forward_backward(our_sg.LSO(slope=slope), Z)
    assert torch.equal(s, (Z > 0).float())
    expected = torch.where(Z > 0, torch.ones_like(Z), torch.full_like(Z, slope))
    torch.testing.assert_close(g, expected, atol=0, rtol=0)
    assert torch.equal(our_sg.LSO().derivative(torch.tensor([-1.0, 0.0, 1.0])),
                       torch.tensor([0.1, 0.1, 1.0]))
    with pytest.raises(TypeError):  # the reference's LSO is broken
        ref_sg.LSO(slope=slope)(Z.clone().requires_grad_(True))


@pytest.mark.parametrize("mean,variance", [(0, 0.2), (0.3, 1.0), (-0.2, 0.5)])
def test_sso(mean, variance):
    r_s, r_g = _forward_backward(ref_sg.SSO(mean=mean, variance=variance), Z)
    o_s, o_g = _forward_backward(our_sg.SSO(mean=mean, variance=variance), Z)
    assert torch.equal(o_s, r_s)
    assert torch.isfinite(o_g).all()
    spiking = Z > 0
    assert torch.equal(o_g[spiking], r_g[spiking])
    assert (o_g[spiking] == 1).all()
    lo, hi = (-0.5 + mean) * variance, (0.5 + mean) * variance
    quiet = o_g[~spiking]
    assert ((quiet >= min(lo, hi) - 1e-7) & (quiet <= max(lo, hi) + 1e-7)).all()
    assert quiet.unique().numel() > 10  # really random below the threshold
