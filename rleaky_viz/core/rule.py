"""The RLeaky update rule, as snnTorch 1.0.0 computes it, written once.

One step, from input current ``x``, previous spikes ``S`` and membrane ``U``
(``θ`` threshold, ``g`` graded-spike factor, ``q`` the state quantiser)::

    R  = H(U - θ)                               reset signal, no gradient
    B  = clamp(β, 0, 1)·U + x + rec(S)          leak + input + recurrence
    N  = B - R·θ  (subtract) | B - R·B (zero) | B (none)
    N  = q(N)                                   only with state quantisation
    P  = q(N) with quantisation, else N         the decision membrane (the reference
                                                quantises once more to fire)
    S' = σ(P - θ)·g                             σ: Heaviside forward, surrogate backward
    U' = N - D·θ (subtract) | N - D·N (zero),   D = S'/g - R, only when not reset_delay
    U' = N                                      otherwise

``rec`` is ``nn.Linear(n, n)`` (with bias), ``nn.Conv2d(c, c, k, padding=k//2)``
(with bias) or the element-wise product ``V ⊙ S``.  With ``inhibition`` the
spike decision is taken on ``P = N`` (no second quantisation), only the
neuron with the largest ``P - θ`` in each sample may spike, and its spike is
multiplied by that one-winner mask instead of ``g``.  ``H(z)`` is strict:
``U == θ`` does not spike.

Where the rule is used:

* :meth:`StepRule.step` is the rule in PyTorch operations, one step at a
  time.  ``RLeaky.forward`` calls it, and so does ``unroll``'s step loop, the
  general path (any device, dtype, spike function, quantiser, the
  ``reset_grad`` what-if, autograd through every step).
* ``core.engine`` re-expresses the same step on numpy arrays, a whole
  sequence in one loop, with a hand-written backward, for speed.  It reads
  its constants, flags and parameters from a :class:`StepRule` and uses its
  helpers (:meth:`StepRule.inhibition_mask`, :meth:`StepRule.spike_factor`);
  ``tests/test_engine.py`` proves it equal to the step loop (spikes,
  membranes and every recorded field bit for bit, gradients within 1e-5).
* The whole-sequence helpers (:meth:`~StepRule.spike_factor`,
  :meth:`~StepRule.mem_spike_factor`, :meth:`~StepRule.reset_derivative`,
  :meth:`~StepRule.recurrent_vjp`) are the rule's own derivatives, for the
  gradient views, so that no view redoes the arithmetic.
"""
from __future__ import annotations

from typing import Optional

import torch

from .surrogate import Surrogate, surrogate_derivative

__all__ = ["StepRule", "RESET_MECHANISMS", "SUBTRACT", "ZERO", "NONE", "heaviside_no_grad"]

# The value of ``RLeaky.reset_mechanism_val`` is the index in this tuple (as in snnTorch).
RESET_MECHANISMS = ("subtract", "zero", "none")
SUBTRACT, ZERO, NONE = (RESET_MECHANISMS.index(m) for m in RESET_MECHANISMS)


def heaviside_no_grad(z: torch.Tensor) -> torch.Tensor:
    """The spike function of ``surrogate_disable=True``: a plain step with no gradient."""
    return (z > 0).to(z.dtype)


class StepRule:
    """The rule of one RLeaky step, resolved once from a module.

    Building it reads the module's current tensors and flags; calling
    :meth:`step` many times then costs no attribute look-ups.
    """

    __slots__ = ("beta", "threshold", "gain", "recurrent", "mechanism", "quant", "spike_fn",
                 "inhibition", "reset_delay", "late_reset", "surrogate_disable", "fast_reset",
                 "reset_grad")

    def __init__(self, neuron, reset_grad: bool = False):
        self.beta = neuron.beta.clamp(0, 1)
        self.threshold = neuron.threshold
        self.gain = neuron.graded_spikes_factor
        self.recurrent = neuron._recurrent_fn()
        self.mechanism = neuron.reset_mechanism_index
        self.quant = neuron.state_quant or None
        self.surrogate_disable = bool(neuron.surrogate_disable)
        self.spike_fn = heaviside_no_grad if self.surrogate_disable else neuron.spike_grad
        self.inhibition = bool(neuron.inhibition)
        self.reset_delay = bool(neuron.reset_delay)
        # the same-step reset D = S'/g - R of reset_delay=False (nothing to do without a reset)
        self.late_reset = not self.reset_delay and self.mechanism != NONE
        # every Surrogate's forward is the plain step, so the reset needs no call
        self.fast_reset = isinstance(self.spike_fn, Surrogate) or self.spike_fn is heaviside_no_grad
        # What-if only, not the reference: let the surrogate gradient pass
        # through the reset signal instead of detaching it.
        self.reset_grad = bool(reset_grad)

    # -- the phases of one step ---------------------------------------------------------
    def reset_signal(self, mem: torch.Tensor) -> torch.Tensor:
        """``R = H(U - θ)``, detached (unless the ``reset_grad`` what-if is on)."""
        z = mem - self.threshold
        if self.reset_grad:
            return self.spike_fn(z)
        if self.fast_reset:
            return (z > 0).to(z.dtype)
        with torch.no_grad():
            return self.spike_fn(z).clone()

    def apply_reset(self, base: torch.Tensor, reset: torch.Tensor) -> torch.Tensor:
        """``N``: the delayed reset by the mechanism, then the quantiser."""
        if self.mechanism == SUBTRACT:
            new = base - reset * self.threshold
        elif self.mechanism == ZERO:
            new = base - reset * base
        else:
            new = base
        return self.quant(new) if self.quant is not None else new

    def reset_applied(self, spk: torch.Tensor, reset: torch.Tensor) -> torch.Tensor:
        """Where a reset acted on U, per step (bool), from the recorded spikes and ``R``.

        ``reset_delay=True``: where ``R[t] = 1``.  ``reset_delay=False``: the net
        reset is ``R + D = S/g`` (the mask under inhibition), so subtract acts
        at the spike steps; zero keeps ``B·(1 - R)·(1 - D)``, so it acts where
        ``R = 1`` or the step spiked.  No reset mechanism: nowhere.
        """
        if self.mechanism == NONE:
            return torch.zeros_like(spk, dtype=torch.bool)
        if not self.late_reset:
            return reset != 0
        if self.mechanism == ZERO:
            return (spk != 0) | (reset != 0)
        return spk != 0

    def decision_membrane(self, new: torch.Tensor) -> torch.Tensor:
        """``P``, the membrane the spike is decided on."""
        if self.quant is not None and not self.inhibition:
            return self.quant(new)
        return new

    @staticmethod
    def inhibition_mask(shift: torch.Tensor) -> torch.Tensor:
        """1 at the neuron with the largest ``P - θ`` of each sample (the last dimension), else 0.

        Ties go to the first such neuron, as ``argmax`` breaks them.
        """
        winner = torch.argmax(shift, dim=-1, keepdim=True)
        return torch.zeros_like(shift).scatter_(-1, winner, 1.0)

    def spike_scale(self, shift: torch.Tensor) -> torch.Tensor:
        """What multiplies ``σ(P - θ)``: the inhibition mask, or ``g``."""
        return self.inhibition_mask(shift) if self.inhibition else self.gain

    def step(self, x, spk, mem, record: Optional[dict] = None, nodes: Optional[dict] = None):
        """One update; returns ``(spk, mem)``.

        ``record`` (a dict) gets the internals named in ``core.RECORDABLE``,
        detached; ``nodes`` gets the leak, recurrent and reset terms as graph
        tensors, for gradient views.
        """
        reset = self.reset_signal(mem)
        rec = self.recurrent(spk)
        leak = self.beta * mem
        base = leak + x + rec
        new = self.apply_reset(base, reset)
        if self.inhibition and new.dim() != 2:
            raise ValueError("inhibition needs input of shape (batch, neurons); got shape "
                             f"{tuple(new.shape)}")
        decision = self.decision_membrane(new)
        shift = decision - self.threshold
        out = self.spike_fn(shift) * self.spike_scale(shift)
        if self.late_reset:
            late = out / self.gain - reset
            if self.mechanism == SUBTRACT:
                new = new - late * self.threshold
            else:
                new = new - late * new
        if nodes is not None:
            nodes["leak"] = leak
            nodes["recurrent"] = rec
            nodes["reset"] = reset
        if record is not None:
            record["reset"] = reset.detach()
            record["recurrent"] = rec.detach()
            record["leak"] = leak.detach()
            record["base"] = base.detach()
            record["decision"] = decision.detach()
            record["surrogate_grad"] = self.spike_derivative(shift.detach())
        return out, new

    # -- derivatives of the rule, for whole sequences -------------------------------------
    def spike_derivative(self, z: torch.Tensor) -> torch.Tensor:
        """``dσ/dz`` at ``z = P - θ`` (zero with ``surrogate_disable``)."""
        if self.surrogate_disable:
            return torch.zeros_like(z)
        return surrogate_derivative(self.spike_fn, z)

    def spike_factor(self, surrogate_grad: torch.Tensor, decision: torch.Tensor) -> torch.Tensor:
        """``∂S[t]/∂P[t]``: the surrogate derivative times the inhibition mask or ``g``."""
        return surrogate_grad * self.spike_scale(decision - self.threshold)

    def mem_spike_factor(self, surrogate_grad: torch.Tensor, decision: torch.Tensor) -> torch.Tensor:
        """``∂S[t]/∂U[t]`` for the returned membrane ``U[t]``.

        It is :meth:`spike_factor` where ``U[t]`` is the decision membrane, and
        zero with a late reset: there ``U[t]`` is taken after the spike was
        decided, and reaches later spikes only through the next step's leak.
        """
        if self.late_reset:
            return _filled(surrogate_grad, 0.0)
        return self.spike_factor(surrogate_grad, decision)

    def base_derivative(self, reset: torch.Tensor) -> torch.Tensor:
        """``∂N[t]/∂B[t]``: 1, or ``1 - R[t]`` for the delayed zero reset (quantisation passes it)."""
        if self.mechanism == ZERO:
            return 1 - reset
        return _filled(reset, 1.0)

    def late_reset_derivatives(self, spk: torch.Tensor, decision: torch.Tensor, reset: torch.Tensor,
                               surrogate_grad: torch.Tensor):
        """How ``U'[t]`` moves with ``N[t]`` under the same-step reset, in two parts.

        With ``reset_delay=False``, ``U' = N - D·θ`` (subtract) or ``N - D·N``
        (zero), ``D = S'/g - R`` and ``S' = σ(P - θ)·g`` (or the inhibition
        mask), so ``∂U'/∂N = hold + through_spike``:

        * ``hold``: what passes without the surrogate: 1 (subtract), ``1 - D``
          (zero: a same-step zero reset stops it);
        * ``through_spike``: through ``S'`` inside ``D``: ``-θ·(∂S'/∂N)/g``
          (subtract) or ``-N·(∂S'/∂N)/g`` (zero).

        Returns ``(hold, through_spike, ∂S'/∂N)``; quantisation passes the
        gradient straight through, so ``P`` and ``N`` move together.
        """
        ds = self.spike_factor(surrogate_grad, decision)
        if not self.late_reset:
            return _filled(ds, 1.0), _filled(ds, 0.0), ds
        if self.mechanism == SUBTRACT:
            return _filled(ds, 1.0), ds * (-self.threshold / self.gain), ds
        late = spk / self.gain - reset
        return 1 - late, -decision * ds / self.gain, ds

    def reset_derivative(self, mem: torch.Tensor) -> torch.Tensor:
        """``∂R[t+1]/∂U[t]``: zero as in the reference, the surrogate's with ``reset_grad``."""
        if not self.reset_grad:
            return _filled(mem, 0.0)
        return surrogate_derivative(self.spike_fn, mem - self.threshold)

    def recurrent_vjp(self, spk: torch.Tensor, grad_rec: torch.Tensor) -> torch.Tensor:
        """``rec^T`` of ``grad_rec`` at every step at once: dL/dS[t-1] through ``rec(S[t-1])``.

        ``spk`` and ``grad_rec`` have shape ``(T, batch, *neurons)``; ``rec`` is
        affine in ``S``, so the point ``spk`` only gives the shape.
        """
        with torch.enable_grad():
            s = spk.detach().clone().requires_grad_(True)
            flat = s.reshape(-1, *s.shape[2:])  # (T*batch, *neurons): conv2d wants 4-D
            rec = self.recurrent(flat)
            if not rec.requires_grad:
                return torch.zeros_like(spk)
            (g,) = torch.autograd.grad(rec, s, grad_rec.reshape(rec.shape), allow_unused=True)
        return torch.zeros_like(spk) if g is None else g


def _filled(like: torch.Tensor, value: float) -> torch.Tensor:
    """A read-only tensor of ``like``'s shape that holds ``value`` everywhere, in one element.

    The derivatives above are constant in many settings; a broadcast view of
    one number costs nothing where a full tensor would cost a run's size.
    """
    return like.new_full((), value).expand_as(like)
