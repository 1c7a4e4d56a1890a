"""The fast engine: the rule of ``core.rule`` over a whole sequence on numpy, and its BPTT by hand.

Why a second loop.  The step loop (:meth:`StepRule.step`, one call per step)
is the general path, but every step costs a dozen PyTorch calls with a few
microseconds of dispatch overhead each, which dwarfs the arithmetic on a
handful of neurons.  Here one loop runs the same step on numpy arrays (the
element-wise work) and calls PyTorch only for the recurrent layer (the
``F.linear`` / ``F.conv2d`` kernels ``nn.Linear`` / ``nn.Conv2d`` call), so
every operation is the same IEEE operation, in the same order, as the
reference: spikes and membranes come out bit for bit the same.

What it shares with the step loop: the mechanism constants, the flags and the
resolved parameters (``β`` clamped, ``θ``, ``g``) come from the
:class:`~rleaky_viz.core.rule.StepRule`; the inhibition mask and the spike
factor are the rule's own functions (:meth:`StepRule.inhibition_mask`,
:meth:`StepRule.spike_factor`).  ``tests/test_engine.py`` proves the two loops
equal for every layer, mechanism and flag the engine covers.

Backpropagation through time.  The reset signal is detached, so the adjoint
recursion is short.  With ``a`` the adjoint of each quantity (``aU[t] =
dL/dU[t]`` in total) and ``F[t] = ∂S[t]/∂P[t]`` (:meth:`StepRule.spike_factor`)::

    late reset (reset_delay=False):  subtract: aN = aU, aD = -θ·aU
                                     zero:     aN = aU·(1-D), aD = -N·aU
                                     aS += aD / g
    spike:  aN += aS · F[t]                 (P = N: no quantiser on this path)
    reset:  subtract: aB = aN   zero: aB = aN·(1-R)   none: aB = aN
    B = β·U[t-1] + x[t] + rec(S[t-1]):
            dL/dx[t] = aB,  aU[t-1] += β·aB,  aS[t-1] += rec^T(aB)

and the parameter gradients are sums over time of the same terms, taken once
for the whole sequence after the loop.

The results are returned, not left behind: :func:`forward` gives a
:class:`Forward` (every per-step array), :func:`backward` a :class:`Backward`
(the adjoints dL/dU[t] and dL/dx[t], those of the initial state, and the
parameter gradients by name).  :class:`_SequenceBPTT` wraps the pair as one
``torch.autograd.Function`` for ``unroll``; ``core.backprop`` calls them
directly to hand the adjoints to the gradient views.

Where the time goes.  A step costs one call of the recurrent kernel (the
floor: the reference makes the same call, and step t+1 needs step t's
spikes) and about eight numpy ufuncs writing into preallocated arrays;
``P - θ`` and the reset signal are not stored per step but rebuilt after the
loop when needed.  The backward's ``rec^T`` is the op autograd itself uses
(so the adjoints round as the reference's do), and a convolution's weight
gradient is one grouped call over all steps.  ``benchmarks/bench_core.py``
measures it against snnTorch and against the bare kernel calls.

The engine applies (:func:`fast_path_applies`) to CPU float tensors with a
named deterministic surrogate (or none) and no state quantisation;
elsewhere ``unroll`` runs the step loop, which gives the same numbers.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .rule import SUBTRACT, ZERO, StepRule
from .surrogate import Surrogate

__all__ = ["fast_path_applies", "forward", "backward", "Forward", "Backward", "run_sequence",
           "parameter_inputs"]

# surrogates whose derivative is a fixed function of z (SSO draws noise; a
# custom one may depend on the incoming gradient)
_STOCHASTIC_OR_CUSTOM = ("SSO", "custom_surrogate")


def fast_path_applies(neuron, x: torch.Tensor, rule: StepRule) -> bool:
    """Whether :func:`forward`/:func:`backward` cover this neuron, input and rule."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    if rule.quant is not None or rule.reset_grad:
        return False
    fn = rule.spike_fn
    if not rule.surrogate_disable and not (isinstance(fn, Surrogate)
                                           and fn.name not in _STOCHASTIC_OR_CUSTOM):
        return False
    if rule.inhibition and x.dim() != 3:
        return False
    step_shape = tuple(x.shape[1:])
    shaped = [rule.beta, rule.threshold, rule.gain]
    if neuron.recurrence == "one_to_one":
        shaped.append(neuron.V)
    for t in shaped:
        try:  # numpy's shape arithmetic: the same rule, without torch's symbolic-shape machinery
            if np.broadcast_shapes(tuple(t.shape), step_shape) != step_shape:
                return False
        except ValueError:
            return False
    return all(t.dtype == x.dtype for t in (rule.beta, rule.threshold, rule.gain)) and all(
        p.dtype == x.dtype for p in neuron.parameters())


def parameter_inputs(neuron) -> list[tuple[str, torch.Tensor]]:
    """The tensors the rule reads that can carry a gradient, by their ``named_parameters`` name."""
    named = [("beta", neuron.beta), ("threshold", neuron.threshold)]
    if neuron.recurrence == "one_to_one":
        named.append(("V", neuron.V))
    else:
        named += [("recurrent.weight", neuron.recurrent.weight),
                  ("recurrent.bias", neuron.recurrent.bias)]
    return named


class _Layer:
    """The recurrent term and its transpose, on numpy arrays of one step.

    ``forward(s)`` returns ``rec(s)`` in the layer's own array (valid until
    the next call) or a fresh one; ``transpose(a)`` gives ``rec^T(a)`` (no
    bias).  Both are closures over their tensors: the loops call them once
    per step, so no attribute is looked up there.
    """

    def __init__(self, neuron, dtype, step_shape):
        self.kind = neuron.recurrence
        # BLAS results can depend on the input's memory alignment, so the
        # spikes go through a buffer that PyTorch allocated, as a fresh tensor
        # would in the reference's step loop
        buf = torch.empty(step_shape, dtype=torch.float32 if dtype == np.float32 else torch.float64)
        buf_np = buf.numpy()
        copyto = np.copyto
        if self.kind == "one_to_one":
            self.V = V = neuron.V.detach().numpy()
            out = np.empty(step_shape, dtype=dtype)
            multiply = np.multiply
            self.forward = lambda s: multiply(s, V, out=out)
            self.transpose = lambda a: a * V
            return
        layer = neuron.recurrent
        self.W, b = W, b = layer.weight.detach(), layer.bias.detach()
        if self.kind == "linear":
            linear = F.linear

            def forward(s):
                copyto(buf_np, s)
                return linear(buf, W, b).numpy()

            def transpose(a):
                return (torch.from_numpy(a) @ W).numpy()
        else:
            conv = torch.conv2d  # what F.conv2d is, called positionally as nn.Conv2d does
            self.padding = pad = layer.padding
            stride, dilation = layer.stride, layer.dilation
            # rec^T is the input gradient of the convolution.  It is asked of the op
            # autograd uses for nn.Conv2d (as torch.nn.grad.conv2d_input does, without
            # its argument parsing), so that the adjoints round as the reference's do:
            # over hundreds of steps another kernel's rounding (a flipped-kernel conv2d,
            # say) drifts from the reference's by more than the parity tolerance.
            conv_backward = torch.ops.aten.convolution_backward.default
            like_input = buf.new_empty(1).expand(buf.shape)
            stride_l, pad_l, dilation_l = list(stride), list(pad), list(dilation)
            input_only = [True, False, False]

            def forward(s):
                copyto(buf_np, s)
                return conv(buf, W, b, stride, pad, dilation, 1).numpy()

            def transpose(a):
                return conv_backward(torch.from_numpy(a), like_input, W, None, stride_l, pad_l,
                                     dilation_l, False, [0, 0], 1, input_only)[0].numpy()
        self.forward, self.transpose = forward, transpose


@dataclass
class Forward:
    """Every per-step array of one run, shape ``(T, *step_shape)``, in the rule's symbols.

    ``P`` is the decision membrane (``N`` here: the engine has no quantiser),
    the same array as ``U`` without a late reset.  Arrays not kept are ``None``.
    """

    rule: StepRule
    layer: _Layer
    x: np.ndarray
    s0: np.ndarray
    u0: np.ndarray
    S: np.ndarray            # spikes
    U: np.ndarray            # membranes, as returned
    P: np.ndarray            # decision membrane
    r0: np.ndarray           # the reset signal of step 0, H(u0 - θ)
    R_kept: Optional[np.ndarray]  # the reset signal, when it has an array of its own
    D: Optional[np.ndarray]  # late reset D = S/g - R
    C: Optional[np.ndarray]  # recurrent current
    L: Optional[np.ndarray]  # leak β·U[t-1]
    B: Optional[np.ndarray]  # leak + input + recurrent
    beta: np.ndarray
    thr: np.ndarray
    gain: np.ndarray
    beta_raw: torch.Tensor   # β before the clamp, for the clamp's gradient

    @property
    def Z(self) -> np.ndarray:
        """``P - θ``, the argument of the spike function (the loop's own operation, redone)."""
        return np.subtract(self.P, self.thr)

    @property
    def R(self) -> np.ndarray:
        """The reset signal ``R[t]``; without its own array it is ``r0`` then ``S[t-1]``."""
        if self.R_kept is not None:
            return self.R_kept
        return np.concatenate([self.r0[None], self.S[:-1]])

    def recorded(self, names) -> dict:
        """The fields of ``core.RECORDABLE`` named in ``names``, as tensors."""
        out = {}
        for name in names:
            if name == "reset":
                out[name] = torch.from_numpy(self.R)
            elif name == "recurrent":
                out[name] = torch.from_numpy(self.C)
            elif name == "leak":
                out[name] = torch.from_numpy(self.L)
            elif name == "base":
                out[name] = torch.from_numpy(self.B)
            elif name == "decision":
                # a copy where it is the membrane itself, so the two never alias
                out[name] = torch.from_numpy(self.P.copy() if self.P is self.U else self.P)
            elif name == "surrogate_grad":
                out[name] = self.rule.spike_derivative(torch.from_numpy(self.Z))
        return out


# which per-step arrays a recorded name needs kept (the others are derived after the loop)
_RECORD_NEEDS = {"recurrent": "C", "leak": "L", "base": "B"}


def _quiet(fn):
    """Run ``fn`` with numpy's floating-point warnings off.

    numpy warns on overflow where PyTorch (and so the reference) silently gives
    inf/NaN.  A fresh ``errstate`` per call: its state is per thread.
    """
    @functools.wraps(fn)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return quiet


@_quiet
def forward(neuron, rule: StepRule, x: np.ndarray, s0: np.ndarray, u0: np.ndarray,
            record=()) -> Forward:
    """The forward loop over ``x`` from ``(s0, u0)``, keeping the arrays ``record`` names.

    What :func:`backward` needs (S, U, P, D, and R kept or rebuilt from the
    spikes) is there in any case.
    """
    T, step, dtype = x.shape[0], x.shape[1:], x.dtype
    beta = rule.beta.detach().numpy()
    thr = rule.threshold.detach().numpy()
    gain = rule.gain.detach().numpy()
    mech, late, inhibit = rule.mechanism, rule.late_reset, rule.inhibition
    keep = {_RECORD_NEEDS[n] for n in record if n in _RECORD_NEEDS}
    layer = _Layer(neuron, dtype, step)
    empty = lambda: np.empty_like(x)  # noqa: E731
    scratch = lambda: np.empty(step, dtype)  # noqa: E731
    S, U = empty(), empty()
    P = empty() if late else U
    D = empty() if late else None
    C = empty() if "C" in keep else None
    L = empty() if "L" in keep else None
    B = empty() if "B" in keep else None
    unit_gain = not inhibit and bool(np.all(gain == 1))
    r0 = scratch()
    np.greater(u0 - thr, 0, out=r0, casting="unsafe")
    # Without a late reset U[t] is P[t], so the next step's reset test
    # H(U[t] - θ) is this step's spike test H(Z[t]): same operation, same bits.
    # With g = 1 and no inhibition that is S[t] itself, and R needs no array.
    r_from_spikes = not late and unit_gain
    R = None if r_from_spikes else empty()
    if R is not None:
        R[0] = r0
    # per-step views made once, and the ufuncs as locals: the loop body is all calls
    steps = lambda a, make: list(a) if a is not None else [make()] * T  # noqa: E731
    xs, Ss, Us, Ps = list(x), list(S), list(U), list(P)
    Cs, Ls, Bs = (steps(a, scratch) for a in (C, L, B))
    zt = scratch()
    Rs = list(R) + [scratch()] if R is not None else None  # R[T]: the spike test of the last step
    Ds = list(D) if late else None
    multiply, add, subtract, greater, divide, copyto = (
        np.multiply, np.add, np.subtract, np.greater, np.divide, np.copyto)
    rec, mask = layer.forward, rule.inhibition_mask
    tmp = scratch()
    s, u, r = s0, u0, r0
    for t in range(T):
        if R is not None:
            r = Rs[t]
            if late and t:
                subtract(u, thr, out=tmp)
                greater(tmp, 0, out=r, casting="unsafe")
        c = rec(s)
        lt, bt, nt, st = Ls[t], Bs[t], Ps[t], Ss[t]
        multiply(beta, u, out=lt)
        add(lt, xs[t], out=bt)
        add(bt, c, out=bt)
        if C is not None:
            copyto(Cs[t], c)
        if mech == SUBTRACT:
            multiply(r, thr, out=tmp)
            subtract(bt, tmp, out=nt)
        elif mech == ZERO:
            multiply(r, bt, out=tmp)
            subtract(bt, tmp, out=nt)
        else:
            copyto(nt, bt)
        subtract(nt, thr, out=zt)
        if unit_gain:
            greater(zt, 0, out=st, casting="unsafe")
        else:
            fired = tmp if late else Rs[t + 1]
            greater(zt, 0, out=fired, casting="unsafe")
            multiply(fired, mask(torch.from_numpy(zt)).numpy() if inhibit else gain, out=st)
        if late:
            dt = Ds[t]
            divide(st, gain, out=dt)
            subtract(dt, r, out=dt)
            multiply(dt, thr if mech == SUBTRACT else nt, out=tmp)
            subtract(nt, tmp, out=Us[t])
        s, u = st, Us[t]
        if r_from_spikes:
            r = st
    return Forward(rule=rule, layer=layer, x=x, s0=s0, u0=u0, S=S, U=U, P=P, r0=r0, R_kept=R,
                   D=D, C=C, L=L, B=B, beta=beta, thr=thr, gain=gain,
                   beta_raw=neuron.beta.detach())


@dataclass
class Backward:
    """The adjoints of one run and the parameter gradients asked for."""

    dL_dmem: np.ndarray     # (T, *step_shape): total dL/dU[t], through every later step
    dL_dinput: np.ndarray   # (T, *step_shape): dL/dx[t], also dL/dB[t]
    dL_dspk0: np.ndarray    # (*step_shape): of the spikes before the first step
    dL_dmem0: np.ndarray    # (*step_shape): of the membrane before the first step
    param_grads: dict       # name (as in parameter_inputs) -> gradient, in the parameter's shape


def _sum_to(grad: np.ndarray, shape: tuple) -> torch.Tensor:
    """Reduce a broadcast gradient to a parameter's shape."""
    t = torch.from_numpy(np.ascontiguousarray(grad))
    return t.sum() if shape == () else t.sum_to_size(shape)


def _time_sum(a: np.ndarray, b: np.ndarray, b0: np.ndarray) -> np.ndarray:
    """Σ_t a[t]·b[t-1], with b[-1] = b0, accumulated in float64."""
    total = (a[0] * b0).astype(np.float64)
    if a.shape[0] > 1:
        total += np.multiply(a[1:], b[:-1]).sum(axis=0, dtype=np.float64)
    return total


@_quiet
def backward(fw: Forward, gS: Optional[np.ndarray], gU: Optional[np.ndarray],
             wanted=("beta", "threshold", "V", "recurrent.weight", "recurrent.bias")) -> Backward:
    """Hand-written BPTT of a :func:`forward` run.

    ``gS`` and ``gU`` are the loss's partial derivatives with respect to the
    returned spikes and membranes (``None``: zero).  ``wanted`` names the
    parameter gradients to compute (names as in :func:`parameter_inputs`).
    """
    rule, layer, x = fw.rule, fw.layer, fw.x
    S, U, P, D = fw.S, fw.U, fw.P, fw.D
    beta, thr, gain = fw.beta, fw.thr, fw.gain
    mech, late = rule.mechanism, rule.late_reset
    T, step = x.shape[0], x.shape[1:]
    zeros = np.zeros(step, x.dtype)
    gS = np.broadcast_to(zeros, x.shape) if gS is None else gS
    gU = np.broadcast_to(zeros, x.shape) if gU is None else gU
    spiking = not rule.surrogate_disable
    # aS·F[t] is formed as the reference's autograd forms it: the spike
    # S = σ(z)·g first scales the incoming gradient by g (or the inhibition
    # mask), then σ's backward multiplies by the surrogate derivative, i.e.
    # dσ·(aS·g), not aS·(dσ·g).  With g not a power of two the two round
    # differently, and over a long conv sequence that drifted past the parity
    # tolerance (tests/test_parity.py, graded spikes from a given state).
    scale = None
    if spiking:
        dS = rule.spike_derivative(torch.from_numpy(fw.Z))
        scale = rule.spike_scale(torch.from_numpy(fw.Z))
        if isinstance(scale, torch.Tensor) and scale.dim() == 0 and scale.item() == 1:
            scale = None  # g == 1: aS·1 is exact, one multiply suffices
        Fs = dS.numpy()                                # ∂σ/∂z[t]
        if Fs.shape != x.shape:
            Fs = np.broadcast_to(Fs, x.shape)
        if scale is not None:
            scale = np.broadcast_to(scale.numpy().astype(x.dtype, copy=False), x.shape)
    want_thr = "threshold" in wanted
    AU = np.empty_like(x)                            # total dL/dU[t]
    AN = AU if not late else np.empty_like(x)        # dL/dN[t]
    AB = AN if mech != ZERO else np.empty_like(x)    # dL/dB[t] = dL/dx[t]
    AZ = np.empty_like(x) if (spiking and want_thr) else None
    keep_R = (1 - fw.R) if mech == ZERO else None
    if late:
        keep_D = (1 - D) if mech == ZERO else None
        # what aU sends to aS through D: -θ/g (subtract) or -N/g (zero)
        to_spike = (-thr / gain) if mech == SUBTRACT else (-P / gain)
    a_s = np.empty(step, x.dtype)
    a_z = np.empty(step, x.dtype)
    tmp = np.empty(step, x.dtype)
    carry_U = np.zeros(step, x.dtype)  # what step t+1 sends back to U[t]
    carry_S = zeros                    # ... and to S[t]
    multiply, add, copyto, transpose = np.multiply, np.add, np.copyto, layer.transpose
    AUs, ANs, ABs = list(AU), list(AN), list(AB)
    AZs = list(AZ) if AZ is not None else [a_z] * T
    for t in range(T - 1, -1, -1):
        au, an = AUs[t], ANs[t]
        add(gU[t], carry_U, out=au)
        if late:
            if mech == SUBTRACT:
                copyto(an, au)
                multiply(au, to_spike, out=tmp)
            else:
                multiply(au, keep_D[t], out=an)
                multiply(au, to_spike[t], out=tmp)
        if spiking:
            add(gS[t], carry_S, out=a_s)
            if late:
                add(a_s, tmp, out=a_s)
            az = AZs[t]
            if scale is not None:
                multiply(a_s, scale[t], out=az)
                multiply(Fs[t], az, out=az)
            else:
                multiply(a_s, Fs[t], out=az)
            add(an, az, out=an)
        if mech == ZERO:
            ab = ABs[t]
            multiply(an, keep_R[t], out=ab)
        else:
            ab = an
        if t:
            multiply(beta, ab, out=carry_U)
            if spiking:
                carry_S = transpose(ab)
    a_u0 = beta * AB[0]
    a_s0 = layer.transpose(AB[0])

    grads = {}
    if want_thr:
        g = np.zeros(step, np.float64)
        if AZ is not None:
            g -= AZ.sum(axis=0, dtype=np.float64)
        if mech == SUBTRACT:
            g -= np.multiply(AN, fw.R).sum(axis=0, dtype=np.float64)
            if late:
                g -= np.multiply(D, AU).sum(axis=0, dtype=np.float64)
        grads["threshold"] = _sum_to(g, tuple(rule.threshold.shape)).to(rule.threshold.dtype)
    if "beta" in wanted:
        raw = fw.beta_raw
        # clamp passes the gradient where 0 <= beta <= 1 (bounds included)
        inside = ((raw >= 0) & (raw <= 1)).to(raw.dtype)
        grads["beta"] = _sum_to(_time_sum(AB, U, fw.u0), tuple(raw.shape)).to(raw.dtype) * inside
    # Sums over the whole sequence are taken in float64: one long float32 sum
    # would drift from autograd's step-by-step accumulation.
    out_dtype = torch.from_numpy(x[:0]).dtype
    if layer.kind == "one_to_one":
        if "V" in wanted:
            g = _time_sum(AB, S, fw.s0)
            grads["V"] = _sum_to(g, tuple(layer.V.shape)).to(out_dtype)
    elif {"recurrent.weight", "recurrent.bias"} & set(wanted):
        prev_S = np.concatenate([fw.s0[None], S[:-1]])
        if layer.kind == "linear":
            a = torch.from_numpy(AB).reshape(-1, AB.shape[-1]).double()
            s = torch.from_numpy(prev_S).reshape(-1, AB.shape[-1]).double()
            w, b = a.T @ s, a.sum(0)
        else:
            w = _conv_weight_grad(AB, prev_S, layer)
            b = torch.from_numpy(np.asarray(AB.sum(axis=(0, 1, 3, 4), dtype=np.float64)))
        grads["recurrent.weight"] = w.to(out_dtype)
        grads["recurrent.bias"] = b.to(out_dtype)
    return Backward(dL_dmem=AU, dL_dinput=AB, dL_dspk0=a_s0, dL_dmem0=a_u0,
                    param_grads={k: v for k, v in grads.items() if k in wanted})


def _conv_weight_grad(AB: np.ndarray, prev_S: np.ndarray, layer: _Layer) -> torch.Tensor:
    """Σ_t of the weight gradient of rec(S[t-1]) against dL/dB[t], in float64.

    One grouped call with the steps as groups gives every step's own weight
    gradient (each a sum over the batch and the map, in the data's dtype, as
    autograd would form it); only the sum over time is taken in float64.
    That is a few times faster than one float64 convolution over the whole
    sequence, and as exact.
    """
    T, batch = AB.shape[:2]
    c_out, c_in, kh, kw = layer.W.shape
    size = AB.shape[-2:]
    a = torch.from_numpy(AB).transpose(0, 1).reshape(batch, T * c_out, *size)
    s = torch.from_numpy(prev_S).transpose(0, 1).reshape(batch, T * c_in, *size)
    shape_only = layer.W.expand(T, c_out, c_in, kh, kw).reshape(T * c_out, c_in, kh, kw)
    _, w, _ = torch.ops.aten.convolution_backward(
        a, s, shape_only, None, [1, 1], list(layer.padding), [1, 1], False, [0, 0], T,
        (False, True, False))
    return w.reshape(T, c_out, c_in, kh, kw).sum(0, dtype=torch.float64)


class _SequenceBPTT(torch.autograd.Function):
    """A whole :func:`forward` run as one autograd node, with :func:`backward` as its backward."""

    @staticmethod
    def forward(ctx, fw, names, x, s0, u0, *params):
        ctx.fw, ctx.names = fw, names
        spk = torch.from_numpy(fw.S)
        if fw.rule.surrogate_disable:
            ctx.mark_non_differentiable(spk)  # as in the reference: no path through spikes
        return spk, torch.from_numpy(fw.U)

    @staticmethod
    def backward(ctx, gS, gU):
        needs = ctx.needs_input_grad
        wanted = {n for n, need in zip(ctx.names, needs[5:]) if need}
        to_np = lambda g: None if g is None else g.detach().numpy()  # noqa: E731
        bw = backward(ctx.fw, to_np(gS), to_np(gU), wanted)
        grads = [bw.param_grads.get(n) for n in ctx.names]
        return (None, None, torch.from_numpy(bw.dL_dinput), torch.from_numpy(bw.dL_dspk0),
                torch.from_numpy(bw.dL_dmem0), *grads)


def run_sequence(neuron, rule: StepRule, x: torch.Tensor, s0: torch.Tensor, u0: torch.Tensor,
                 record: tuple) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``unroll`` on this engine: ``(spk, mem, recorded)``, differentiable when autograd is on."""
    named = parameter_inputs(neuron)
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (x, s0, u0, *(p for _, p in named)))
    fw = forward(neuron, rule, x.detach().numpy(), s0.detach().numpy(), u0.detach().numpy(),
                 record=record)
    if needs_grad:
        spk, mem = _SequenceBPTT.apply(fw, [n for n, _ in named], x, s0, u0,
                                       *(p for _, p in named))
    else:
        spk, mem = torch.from_numpy(fw.S), torch.from_numpy(fw.U)
    return spk, mem, fw.recorded(record)
