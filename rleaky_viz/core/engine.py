"""The fast path of ``unroll``: a whole-sequence forward loop and a hand-written BPTT.

Stepping a module costs a dozen PyTorch calls per step, each with a few
microseconds of dispatch overhead that dwarfs the arithmetic on a handful of
neurons.  Here the time loop runs on numpy arrays (the element-wise work) and
calls PyTorch only for the recurrent layer (the same ``F.linear`` /
``F.conv2d`` kernels as ``nn.Linear`` / ``nn.Conv2d``), so every operation is
the same IEEE float operation, in the same order, as the reference: spikes
and membranes come out bit for bit the same.

Backpropagation through time is written by hand in :class:`_SequenceBPTT`,
a ``torch.autograd.Function`` over the whole sequence.  The reset signal is
detached, so the adjoint recursion is short.  With ``a`` the adjoint of each
quantity (``aU[t] = dL/dU[t]`` in total)::

    late reset (reset_delay=False):  subtract: aN = aU, aD = -θ·aU
                                     zero:     aN = aU·(1-D), aD = -N·aU
                                     aS += aD / g
    spike:  aZ = aS · g · σ'(Z)            (inhibition: mask instead of g)
            aN += aZ                        (quantisation is straight-through)
    reset:  subtract: aB = aN   zero: aB = aN·(1-R)   none: aB = aN
    B = β·U[t-1] + x[t] + rec(S[t-1]):
            dL/dx[t] = aB,  aU[t-1] += β·aB,  aS[t-1] += rec^T(aB)

and the parameter gradients are sums over time of the same terms.  The
per-step adjoints ``dL/dU[t]`` are kept, so the gradient views can read them
instead of running a second, slower pass.

The path is taken when it applies (CPU tensors, a named deterministic
surrogate, no state quantisation); otherwise ``unroll`` runs the generic
step loop, which gives the same numbers.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .surrogate import Surrogate

__all__ = ["fast_path_applies", "run_sequence"]

_SUBTRACT, _ZERO, _NONE = 0, 1, 2
# surrogates whose derivative is a fixed function of z (SSO draws noise; a
# custom one may depend on the incoming gradient)
_STOCHASTIC_OR_CUSTOM = ("SSO", "custom_surrogate")


def fast_path_applies(neuron, x: torch.Tensor, rule) -> bool:
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    if rule.quant is not None or rule.reset_grad:
        return False
    fn = rule.spike_fn
    if not neuron.surrogate_disable and not (isinstance(fn, Surrogate)
                                            and fn.name not in _STOCHASTIC_OR_CUSTOM):
        return False
    if rule.inhibition and x.dim() != 3:
        return False
    step_shape = tuple(x.shape[1:])
    for t in (rule.beta, rule.threshold, rule.gain):
        try:
            if torch.broadcast_shapes(tuple(t.shape), step_shape) != step_shape:
                return False
        except RuntimeError:
            return False
    if neuron.recurrence == "one_to_one":
        try:
            if torch.broadcast_shapes(tuple(neuron.V.shape), step_shape) != step_shape:
                return False
        except RuntimeError:
            return False
    return all(t.dtype == x.dtype for t in (rule.beta, rule.threshold, rule.gain)) and all(
        p.dtype == x.dtype for p in neuron.parameters())


class _Layer:
    """The recurrent term and its transpose, on numpy arrays of one step."""

    def __init__(self, neuron, dtype, step_shape):
        self.kind = neuron.recurrence
        # BLAS results can depend on the input's memory alignment, so the
        # spikes go through a buffer that PyTorch allocated, as a fresh tensor
        # would in the reference's step loop
        self.buf = torch.empty(step_shape, dtype=torch.float32 if dtype == np.float32 else torch.float64)
        self.buf_np = self.buf.numpy()
        if self.kind == "one_to_one":
            self.V = neuron.V.detach().numpy()
        elif self.kind == "linear":
            self.W = neuron.recurrent.weight.detach()
            self.b = neuron.recurrent.bias.detach()
        else:
            conv = neuron.recurrent
            self.W, self.b = conv.weight.detach(), conv.bias.detach()
            self.padding = conv.padding

    def forward(self, s: np.ndarray, out: np.ndarray) -> None:
        if self.kind == "one_to_one":
            np.multiply(s, self.V, out=out)
        elif self.kind == "linear":
            self.buf_np[...] = s
            out[...] = F.linear(self.buf, self.W, self.b).numpy()
        else:
            self.buf_np[...] = s
            out[...] = F.conv2d(self.buf, self.W, self.b, padding=self.padding).numpy()

    def transpose(self, a: np.ndarray) -> np.ndarray:
        """rec^T applied to an adjoint (no bias)."""
        if self.kind == "one_to_one":
            return a * self.V
        if self.kind == "linear":
            return (torch.from_numpy(a) @ self.W).numpy()
        return torch.nn.grad.conv2d_input(a.shape, self.W, torch.from_numpy(a),
                                          padding=self.padding).numpy()


def _forward(neuron, rule, x: np.ndarray, s0: np.ndarray, u0: np.ndarray):
    """The forward loop; returns every per-step array the backward or a record needs."""
    T = x.shape[0]
    dt = x.dtype
    beta = rule.beta.detach().numpy()
    thr = rule.threshold.detach().numpy()
    gain = rule.gain.detach().numpy()
    mech = rule.mechanism
    late = not rule.reset_delay and mech != _NONE
    layer = _Layer(neuron, dt, x.shape[1:])
    S = np.empty_like(x)
    U = np.empty_like(x)
    R = np.empty_like(x)
    C = np.empty_like(x)
    L = np.empty_like(x)
    B = np.empty_like(x)
    Z = np.empty_like(x)
    N = np.empty_like(x) if late else U
    D = np.empty_like(x) if late else None
    M = np.empty_like(x) if rule.inhibition else None
    tmp = np.empty_like(x[0])
    unit_gain = bool(np.all(gain == 1))
    # Without a late reset U[t] is N[t], so the next step's reset test
    # H(U[t] - θ) is this step's spike test H(Z[t]): same operation, same bits.
    reuse_reset = not late
    np.subtract(u0, thr, out=tmp)
    np.greater(tmp, 0, out=R[0], casting="unsafe")
    s, u = s0, u0
    for t in range(T):
        if t and not reuse_reset:
            np.subtract(u, thr, out=tmp)
            np.greater(tmp, 0, out=R[t], casting="unsafe")
        layer.forward(s, C[t])
        np.multiply(beta, u, out=L[t])
        np.add(L[t], x[t], out=B[t])
        np.add(B[t], C[t], out=B[t])
        if mech == _SUBTRACT:
            np.multiply(R[t], thr, out=tmp)
            np.subtract(B[t], tmp, out=N[t])
        elif mech == _ZERO:
            np.multiply(R[t], B[t], out=tmp)
            np.subtract(B[t], tmp, out=N[t])
        else:
            N[t] = B[t]
        np.subtract(N[t], thr, out=Z[t])
        fired = R[t + 1] if (reuse_reset and t + 1 < T) else tmp
        np.greater(Z[t], 0, out=fired, casting="unsafe")
        if rule.inhibition:
            M[t] = 0
            np.put_along_axis(M[t], np.argmax(Z[t], axis=1)[:, None], 1, axis=1)
            np.multiply(fired, M[t], out=S[t])
        elif unit_gain:
            S[t] = fired
        else:
            np.multiply(fired, gain, out=S[t])
        if late:
            np.divide(S[t], gain, out=D[t])
            np.subtract(D[t], R[t], out=D[t])
            if mech == _SUBTRACT:
                np.multiply(D[t], thr, out=tmp)
            else:
                np.multiply(D[t], N[t], out=tmp)
            np.subtract(N[t], tmp, out=U[t])
        s, u = S[t], U[t]
    return dict(S=S, U=U, R=R, C=C, L=L, B=B, Z=Z, N=N, D=D, M=M, beta=beta, thr=thr,
                gain=gain, layer=layer)


def _sum_to(grad: np.ndarray, shape: tuple) -> torch.Tensor:
    """Reduce a broadcast gradient to a parameter's shape."""
    t = torch.from_numpy(np.ascontiguousarray(grad))
    return t.sum() if shape == () else t.sum_to_size(shape)


def _backward(neuron, rule, fw: dict, x: np.ndarray, u0: np.ndarray, s0: np.ndarray,
              gS: np.ndarray, gU: np.ndarray, dS: np.ndarray):
    """Hand-written BPTT; returns adjoints of x, U (per step), s0, u0 and parameter pieces."""
    S, U, R, N, D, M = fw["S"], fw["U"], fw["R"], fw["N"], fw["D"], fw["M"]
    beta, thr, gain, layer = fw["beta"], fw["thr"], fw["gain"], fw["layer"]
    mech = rule.mechanism
    late = not rule.reset_delay and mech != _NONE
    T = x.shape[0]
    aB_all = np.empty_like(x)  # adjoint of B[t] (= dL/dx[t])
    aU_all = np.empty_like(x)  # total dL/dU[t]
    g_thr = np.zeros(x.shape[1:], dtype=np.float64)
    spike_scale = M if rule.inhibition else gain
    carry_U = np.zeros_like(x[0])  # what step t+1 sends back to U[t]
    carry_S = np.zeros_like(x[0])  # ... and to S[t]
    for t in range(T - 1, -1, -1):
        aU = gU[t] + carry_U
        aS = gS[t] + carry_S
        if late:
            if mech == _SUBTRACT:
                aN = aU.copy()
                aD = -thr * aU
                g_thr -= D[t] * aU
            else:
                aN = aU * (1 - D[t])
                aD = -N[t] * aU
            aS = aS + aD / gain
        else:
            aN = aU.copy()
        scale = spike_scale[t] if rule.inhibition else spike_scale
        aZ = aS * scale * dS[t]
        aN += aZ
        g_thr -= aZ
        # the total dL/dU[t]: without a late reset the spike was decided on U[t]
        # itself, so its path counts too
        aU_all[t] = aU if late else aN
        if mech == _SUBTRACT:
            aB = aN
            g_thr -= aN * R[t]
        elif mech == _ZERO:
            aB = aN * (1 - R[t])
        else:
            aB = aN
        aB_all[t] = aB
        carry_U = beta * aB
        carry_S = layer.transpose(aB)
    # the state before the first step
    prev_U = np.concatenate([u0[None], U[:-1]])
    prev_S = np.concatenate([s0[None], S[:-1]])
    return dict(aB=aB_all, aU=aU_all, a_u0=carry_U, a_s0=carry_S, g_thr=g_thr,
                g_beta=(aB_all.astype(np.float64) * prev_U).sum(axis=0), prev_S=prev_S)


class _SequenceBPTT(torch.autograd.Function):
    """Whole-sequence RLeaky with a hand-written backward (see the module docstring)."""

    @staticmethod
    def forward(ctx, neuron, rule, box, x, s0, u0, beta_raw, threshold, *params):
        xn = x.detach().numpy()
        ctx.s0, ctx.u0 = s0.detach().numpy(), u0.detach().numpy()
        fw = _forward(neuron, rule, xn, ctx.s0, ctx.u0)
        ctx.neuron, ctx.rule, ctx.fw, ctx.box, ctx.xn = neuron, rule, fw, box, xn
        ctx.param_shapes = [tuple(p.shape) for p in params]
        ctx.beta_raw = beta_raw.detach()
        box["fw"] = fw
        spk = torch.from_numpy(fw["S"])
        if neuron.surrogate_disable:
            ctx.mark_non_differentiable(spk)  # as in the reference: no path through spikes
        return spk, torch.from_numpy(fw["U"])

    @staticmethod
    def backward(ctx, gS, gU):
        neuron, rule, fw = ctx.neuron, ctx.rule, ctx.fw
        zeros = np.zeros_like(ctx.xn)
        gS = zeros if gS is None else gS.detach().numpy()
        gU = zeros if gU is None else gU.detach().numpy()
        if neuron.surrogate_disable:
            dS = np.zeros_like(ctx.xn)
        else:
            dS = rule.spike_fn.derivative(torch.from_numpy(fw["Z"])).numpy()
        bw = _backward(neuron, rule, fw, ctx.xn, ctx.u0, ctx.s0, gS, gU, dS)
        ctx.box["dL_dmem"] = torch.from_numpy(bw["aU"])
        beta_raw = ctx.beta_raw
        # clamp passes the gradient where 0 <= beta <= 1 (bounds included)
        inside = ((beta_raw >= 0) & (beta_raw <= 1)).to(beta_raw.dtype)
        g_beta = _sum_to(bw["g_beta"], tuple(beta_raw.shape)).to(beta_raw.dtype) * inside
        g_thr = _sum_to(bw["g_thr"], tuple(rule.threshold.shape)).to(rule.threshold.dtype)
        # Sums over the whole sequence are taken in float64: one long float32
        # sum would drift from autograd's step-by-step accumulation.
        param_grads = []
        layer = fw["layer"]
        aB, prev_S = bw["aB"], bw["prev_S"]
        out_dtype = torch.from_numpy(aB[:0]).dtype
        if layer.kind == "one_to_one":
            g = (aB.astype(np.float64) * prev_S).sum(axis=0)
            param_grads.append(_sum_to(g, ctx.param_shapes[0]).to(out_dtype))
        elif layer.kind == "linear":
            a = torch.from_numpy(aB).reshape(-1, aB.shape[-1]).double()
            s = torch.from_numpy(prev_S).reshape(-1, aB.shape[-1]).double()
            param_grads += [(a.T @ s).to(out_dtype), a.sum(0).to(out_dtype)]
        else:
            a = torch.from_numpy(aB).reshape(-1, *aB.shape[2:]).double()
            s = torch.from_numpy(prev_S).reshape(-1, *aB.shape[2:]).double()
            w = torch.nn.grad.conv2d_weight(s, layer.W.shape, a, padding=layer.padding)
            param_grads += [w.to(out_dtype), a.sum(dim=(0, 2, 3)).to(out_dtype)]
        return (None, None, None, torch.from_numpy(bw["aB"]), torch.from_numpy(bw["a_s0"]),
                torch.from_numpy(bw["a_u0"]), g_beta, g_thr, *param_grads)


def run_sequence(neuron, rule, x: torch.Tensor, s0: torch.Tensor, u0: torch.Tensor,
                 record: tuple) -> tuple[torch.Tensor, torch.Tensor, dict, dict]:
    """Run the fast path; returns ``(spk, mem, recorded, box)``.

    ``box`` is filled by the backward pass with ``"dL_dmem"`` (the per-step
    adjoints) once ``backward`` has run.
    """
    params = [neuron.V] if neuron.recurrence == "one_to_one" else list(neuron.recurrent.parameters())
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (x, s0, u0, neuron.beta, neuron.threshold, *params))
    box: dict = {}
    if needs_grad:
        spk, mem = _SequenceBPTT.apply(neuron, rule, box, x, s0, u0, neuron.beta,
                                       neuron.threshold, *params)
        fw = box["fw"]
    else:
        fw = _forward(neuron, rule, x.detach().numpy(), s0.detach().numpy(), u0.detach().numpy())
        spk, mem = torch.from_numpy(fw["S"]), torch.from_numpy(fw["U"])
    recorded = {}
    for name in record:
        if name == "reset":
            recorded[name] = torch.from_numpy(fw["R"])
        elif name == "recurrent":
            recorded[name] = torch.from_numpy(fw["C"])
        elif name == "leak":
            recorded[name] = torch.from_numpy(fw["L"])
        elif name == "base":
            recorded[name] = torch.from_numpy(fw["B"])
        elif name == "surrogate_grad":
            z = torch.from_numpy(fw["Z"])
            recorded[name] = (torch.zeros_like(z) if neuron.surrogate_disable
                              else rule.spike_fn.derivative(z))
    box.pop("fw", None)
    return spk, mem, recorded, box
