"""Helpers shared by the parity tests: build a snnTorch layer and ours side by
side, drive both over the same input and compare spikes, membranes and
gradients.

The oracle is the installed ``snntorch==1.0.0``; ``ref`` always names the
snnTorch object and ``ours`` the ``rleaky_viz.core`` one.
"""
from __future__ import annotations

import warnings

import torch

import snntorch as snn
from snntorch import surrogate as ref_sg
from snntorch.functional import quant as ref_quant

from rleaky_viz.core import RLeaky, unroll
from rleaky_viz.core import quant as our_quant
from rleaky_viz.core import surrogate as our_sg

ATOL = 1e-5
RTOL = 1e-5


# --------------------------------------------------------------------------- surrogates
def custom_backward(z, grad, spikes):
    """A user backward for custom_surrogate: uses all three arguments."""
    return grad * (0.25 + 0.75 * spikes) / (1.0 + 4.0 * z * z)


_REF_FACTORIES = {
    "atan": ref_sg.atan,
    "fast_sigmoid": ref_sg.fast_sigmoid,
    "sigmoid": ref_sg.sigmoid,
    "straight_through_estimator": ref_sg.straight_through_estimator,
    "triangular": ref_sg.triangular,
    "spike_rate_escape": ref_sg.spike_rate_escape,
    "heaviside": ref_sg.heaviside,
    "SFS": ref_sg.SFS,
    "custom_surrogate": lambda: ref_sg.custom_surrogate(custom_backward),
}

_OUR_FACTORIES = {
    "atan": our_sg.atan,
    "fast_sigmoid": our_sg.fast_sigmoid,
    "sigmoid": our_sg.sigmoid,
    "straight_through_estimator": our_sg.straight_through_estimator,
    "triangular": our_sg.triangular,
    "spike_rate_escape": our_sg.spike_rate_escape,
    "heaviside": our_sg.heaviside,
    "SFS": our_sg.SFS,
    "custom_surrogate": lambda: our_sg.custom_surrogate(custom_backward),
}

DETERMINISTIC_SURROGATES = tuple(_REF_FACTORIES)


def surrogate_pair(name, **params):
    """(snnTorch spike function, our spike function) with the same parameters."""
    return _REF_FACTORIES[name](**params), _OUR_FACTORIES[name](**params)


def ref_levels(quantiser):
    """The levels tensor held in the closure returned by snnTorch's state_quant."""
    cells = dict(zip(quantiser.__code__.co_freevars,
                     (c.cell_contents for c in quantiser.__closure__)))
    return cells["levels"]


def quant_pair(**settings):
    return ref_quant.state_quant(**settings), our_quant.state_quant(**settings)


# --------------------------------------------------------------------------- building
def _fresh(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def build_ref(seed=0, graded=None, **kwargs):
    kwargs = {k: _fresh(v) for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # snnTorch warns about inhibition
        torch.manual_seed(seed)
        ref = snn.RLeaky(**kwargs)
    if graded is not None:
        # snnTorch's RLeaky constructor does not take graded_spikes_factor
        ref.graded_spikes_factor = torch.tensor(float(graded))
    return ref


def build_pair(ref_spike_grad=None, our_spike_grad=None, ref_state_quant=False,
               our_state_quant=False, graded=None, seed=0, **kwargs):
    """A snnTorch RLeaky and ours with the same arguments and the same weights."""
    ref = build_ref(seed=seed, graded=graded, spike_grad=ref_spike_grad,
                    state_quant=ref_state_quant, **kwargs)
    ours_kwargs = {k: _fresh(v) for k, v in kwargs.items()}
    if graded is not None:
        ours_kwargs["graded_spikes_factor"] = graded
    ours = RLeaky(spike_grad=our_spike_grad, state_quant=our_state_quant, **ours_kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def make_input(shape, T, seed=0, scale=0.8, offset=0.3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((T, *shape), generator=g) * scale + offset


# --------------------------------------------------------------------------- running
def run_steps(layer, x):
    """Step a layer (either implementation) over x[t] from init_rleaky()."""
    spk, mem = layer.init_rleaky()
    spks, mems = [], []
    for x_t in x:
        spk, mem = layer(x_t, spk, mem)
        spks.append(spk)
        mems.append(mem)
    return torch.stack(spks), torch.stack(mems)


def run_hidden(layer, x):
    """Step a layer built with init_hidden=True (state kept in the module)."""
    spks, mems = [], []
    for x_t in x:
        out = layer(x_t)
        if layer.output:
            assert isinstance(out, tuple) and len(out) == 2
            spk, mem = out
        else:
            assert isinstance(out, torch.Tensor)
            spk, mem = out, layer.mem
        spks.append(spk)
        mems.append(mem)
    return torch.stack(spks), torch.stack(mems)


def run_unroll(layer, x):
    """unroll as users call it (engine="auto": the fast whole-sequence path
    where it applies)."""
    spk, mem = unroll(layer, x)
    return spk, mem


def run_unroll_step(layer, x):
    """unroll forced through its generic step loop."""
    spk, mem = unroll(layer, x, engine="step")
    return spk, mem


def run_from_state(layer, x, spk0, mem0):
    """Step a layer (either implementation) from a given state."""
    spk, mem = spk0, mem0
    spks, mems = [], []
    for x_t in x:
        spk, mem = layer(x_t, spk, mem)
        spks.append(spk)
        mems.append(mem)
    return torch.stack(spks), torch.stack(mems)


def chunked_unroll(split, engine="auto"):
    """A runner: unroll in two pieces, the second starting from the first's
    last state, kept in the graph (truncated-BPTT code that does not detach)."""
    def run(layer, x, spk0, mem0):
        k = min(split, x.shape[0])
        if k in (0, x.shape[0]):
            return tuple(unroll(layer, x, spk=spk0, mem=mem0, engine=engine))
        a = unroll(layer, x[:k], spk=spk0, mem=mem0, engine=engine)
        b = unroll(layer, x[k:], spk=a.spk[-1], mem=a.mem[-1], engine=engine)
        return torch.cat([a.spk, b.spk]), torch.cat([a.mem, b.mem])
    return run


def loss_weights(shape, seed=1234):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def learnable(module):
    return {n: p for n, p in module.named_parameters() if p.requires_grad}


def default_loss(spk, mem, w1, w2):
    return (mem * w1).sum() + (spk * w2).sum()


def forward_and_grads(layer, runner, x, w1, w2, loss_fn=default_loss, state=None):
    """Spikes, membranes and the gradients of loss_fn (by default
    (mem*w1).sum() + (spk*w2).sum()) w.r.t. the input and every learnable
    parameter (by name); with ``state=(spk0, mem0)`` the runner gets fresh
    leaf copies of them and their gradients are returned too."""
    x = x.detach().clone().requires_grad_(True)
    extra = {}
    if state is None:
        spk, mem = runner(layer, x)
    else:
        extra = {"spk0": state[0].detach().clone().requires_grad_(True),
                 "mem0": state[1].detach().clone().requires_grad_(True)}
        spk, mem = runner(layer, x, extra["spk0"], extra["mem0"])
    loss = loss_fn(spk, mem, w1, w2)
    named = {**extra, **learnable(layer)}
    inputs = [x, *named.values()]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(i) if g is None else g for g, i in zip(grads, inputs)]
    out = {"input": grads[0]}
    out.update(zip(named, grads[1:]))
    return spk.detach(), mem.detach(), out


def assert_same(ours_out, ref_out, label="", grad_atol_per_unit=False):
    """Compare (spk, mem, grads) of ours with the reference's.

    ``grad_atol_per_unit``: scale the gradients' absolute tolerance by the
    largest magnitude in the reference gradient (when above 1).  Only for
    surrogates whose derivative we compute with other float32 operations than
    the reference (our sigmoid uses exp(-k|z|)): a parameter gradient is a sum
    over every step and neuron, and an element that cancels down to ~0.05 from
    terms of ~100 keeps their round-off.
    """
    o_spk, o_mem, o_grads = ours_out
    r_spk, r_mem, r_grads = ref_out
    assert o_spk.shape == r_spk.shape, label
    assert torch.equal(o_spk, r_spk.to(o_spk.dtype)), (
        f"{label}: spikes differ at {torch.nonzero(o_spk != r_spk)[:5].tolist()}")
    torch.testing.assert_close(o_mem, r_mem, atol=ATOL, rtol=0, msg=lambda m: f"{label} mem: {m}")
    assert set(o_grads) == set(r_grads), f"{label}: learnable parameters differ"
    for name in r_grads:
        assert torch.isfinite(r_grads[name]).all(), f"{label}: reference grad of {name} not finite"
        atol = ATOL * max(1.0, r_grads[name].abs().max().item()) if grad_atol_per_unit else ATOL
        torch.testing.assert_close(o_grads[name], r_grads[name], atol=atol, rtol=RTOL,
                                   msg=lambda m, n=name: f"{label} grad {n}: {m}")


def assert_parity(ref, ours, x, modes=("step", "unroll", "unroll_step"), nontrivial=True,
                  ref_runner=run_steps,
                  grad_atol_per_unit=False):
    """Drive both layers over x and compare everything; returns the reference's
    (spk, mem, grads) for further checks."""
    assert {n for n, _ in ours.named_parameters()} == {n for n, _ in ref.named_parameters()}
    assert set(learnable(ours)) == set(learnable(ref))
    w1, w2 = loss_weights(x.shape)
    ref_out = forward_and_grads(ref, ref_runner, x, w1, w2)
    runners = {"step": run_steps, "unroll": run_unroll, "unroll_step": run_unroll_step,
               "hidden": run_hidden}
    for mode in modes:
        assert_same(forward_and_grads(ours, runners[mode], x, w1, w2), ref_out, label=mode,
                    grad_atol_per_unit=grad_atol_per_unit)
    if nontrivial:
        spk = ref_out[0]
        assert (spk != 0).any(), "test input never makes the reference spike"
        assert (spk == 0).any(), "test input makes the reference spike everywhere"
        assert ref_out[2]["input"].abs().sum() > 0
    return ref_out
