"""Surrogate-gradient flows: where the gradient of a loss goes, step by step.

``gradient_flow(cfg, loss)`` runs ``cfg`` through ``core.backprop`` and returns the gradient of ``loss`` with respect to every
step's membrane (the total derivative dL/dU[t], through every later step),
the input, and every learnable parameter, plus a split of dL/dU[t] into the
paths it arrives by:

* ``direct``: the loss looks at U[t] (or at S[t], through the surrogate);
* ``leak``: through U[t+1] = β·U[t] + ..., the β path (with ``reset_delay=False``
  only what the same-step reset lets through: all of it for subtract, nothing
  where a same-step zero reset fired);
* ``recurrent``: through S[t] -> rec(S[t]) -> U[t+1], scaled by the
  surrogate derivative at U[t] (``reset_delay=True`` only: otherwise S[t] was
  decided before U[t] took its reset, and U[t] does not move it);
* ``same_step_reset`` (``reset_delay=False``): through U[t+1]'s own reset,
  D = S[t+1]/g - R[t+1]: S[t+1] carries the surrogate gradient (only R is
  detached), so each step multiplies the gradient by 1 - θ·σ' (subtract);
* ``next_spike`` (``reset_delay=False``): through the spike S[t+1], decided
  on β·U[t] + ..., to the loss's look at it and to its recurrence;
* ``reset``: through the reset signal R[t+1] = H(U[t] - θ).  The reference
  detaches it, so this is zero, unless the what-if ``reset_grad`` is on.

They add up to dL/dU[t] (up to rounding, which is large in absolute terms
when gradients explode).  :func:`path_notes` says in words, from a run's own
numbers, which of them carry gradient and why.

The run and its gradients come from ``core.backprop`` (the fast engine's
hand-written BPTT where it applies, autograd over the step loop elsewhere);
the split uses the rule's own derivatives (``StepRule.mem_spike_factor``,
``reset_derivative``, ``recurrent_vjp``), so nothing here redoes the update.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from .config import DISTANCE_FIELDS, SURROGATE_FIELDS, SimConfig, field_spec
from .dynamics import map_applies
from .core import backprop
from .network import spectral_radius
from .simulate import Trace, build_neuron, resolve_device
from .stimulus import make_input

__all__ = ["LOSSES", "PATHS", "LossError", "path_notes", "FlowResult", "gradient_flow", "loss_function", "gradient_vs_distance", "distance_sweep_start",
           "DISTANCE_SWEEP_PARAMETERS", "DISTANCE_SWEEP_START", "dead_stretches"]

LOSSES = ("spike_count", "membrane_mse", "cross_entropy", "spike_times")
# The paths dL/dU[t] arrives by (FlowResult.paths), in the order the views draw them.
PATHS = ("direct", "leak", "recurrent", "same_step_reset", "next_spike", "reset")


class LossError(ValueError):
    """A loss that cannot be computed for this configuration, with a message for the user."""
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_function(cfg: SimConfig, name: Optional[str] = None) -> LossFn:
    """The named loss ``loss(spk, mem) -> scalar`` with ``cfg``'s targets.

    * ``spike_count``: mean squared error of each neuron's spike count to ``loss_target``;
    * ``membrane_mse``: mean squared error of U[t] to the constant ``loss_target``;
    * ``cross_entropy``: spike counts as logits over the neurons, the right one
      is neuron ``int(loss_target)``;
    * ``spike_times``: squared error of S[t] to a train with spikes at ``target_times``.
    """
    name = name or cfg.loss
    target = cfg.loss_target
    if name == "spike_count":
        return lambda spk, mem: ((spk.sum(0) - target) ** 2).mean()
    if name == "membrane_mse":
        return lambda spk, mem: ((mem - target) ** 2).mean()
    if name == "cross_entropy":
        n = cfg.neuron_count
        label = int(target)
        if not 0 <= label < n or label != target:
            raise LossError(f"loss_target must be a neuron index 0..{n - 1} for cross_entropy, "
                             f"got {target:g}")

        def cross_entropy(spk, mem):
            logits = spk.sum(0).reshape(spk.shape[1], -1)  # (batch, neurons)
            labels = torch.full((logits.shape[0],), label, dtype=torch.long, device=logits.device)
            return F.cross_entropy(logits, labels)
        return cross_entropy
    if name == "spike_times":
        times = cfg.spike_times

        def spike_times(spk, mem):
            want = torch.zeros_like(spk)
            if times:
                want[times] = 1.0
            return ((spk - want) ** 2).sum(0).mean()
        return spike_times
    raise LossError(f"unknown loss {name!r}; allowed: {', '.join(LOSSES)} or a function (spk, mem) -> scalar")


@dataclass
class FlowResult:
    """Gradients of one run. Tensors are CPU, shape ``(T, batch, *neurons)`` unless said."""

    trace: Trace
    loss: float
    dL_dmem: torch.Tensor          # total dL/dU[t]
    dL_dinput: torch.Tensor        # dL/dx[t]
    param_grads: dict              # name (as in named_parameters()) -> gradient
    surrogate_grad: torch.Tensor   # dS/dz along the trajectory
    paths: dict                    # each of PATHS -> (T, batch, *neurons)
    reset_grad: bool               # the what-if was on
    late_reset: bool = False       # reset_delay=False with a reset mechanism: the same-step reset
    jacobian: Optional[torch.Tensor] = None  # ∂U[t+1]/∂U[t], where U[t] alone is the state

    def step_norms(self) -> np.ndarray:
        """||dL/dU[t]|| over neurons and batch, per step: shape (T,)."""
        return self.dL_dmem.reshape(self.dL_dmem.shape[0], -1).norm(dim=1).numpy()

    def path_totals(self) -> dict:
        """Sum of |contribution| of each path over the whole run."""
        return {k: float(v.abs().sum()) for k, v in self.paths.items()}


def gradient_flow(cfg: SimConfig, loss: Union[str, LossFn, None] = None, *,
                  upload: Optional[np.ndarray] = None,
                  state_dict: Optional[Mapping[str, torch.Tensor]] = None,
                  reset_grad: Optional[bool] = None) -> FlowResult:
    """Gradients of ``loss`` for the run ``cfg`` describes (see module docstring).

    ``loss`` is a name from :data:`LOSSES` (default ``cfg.loss``) or a
    function ``loss(spk, mem) -> scalar tensor`` of the whole sequences.
    ``reset_grad`` (default ``cfg.reset_grad``) is the what-if that lets the
    gradient through the reset; it is not snnTorch's behaviour.
    """
    loss_fn = loss if callable(loss) else loss_function(cfg, loss)
    what_if = cfg.reset_grad if reset_grad is None else bool(reset_grad)
    device, notice = resolve_device(cfg.device)
    neuron = build_neuron(cfg, state_dict).to(device)
    x = make_input(cfg, upload).to(device)

    def checked_loss(spk, mem):
        value = loss_fn(spk, mem)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise LossError("the loss must return a single-number tensor")
        return value

    grads = backprop(neuron, x, checked_loss, record=True, reset_grad=what_if)
    out, rule = grads.rollout, grads.rule
    with torch.no_grad():
        # ∂U[t+1]/∂U[t] where U[t] alone is the neuron's state (dynamics.map_applies): there
        # it is (β + V·∂S[t]/∂U[t])·∂N[t+1]/∂B[t+1], times the same-step reset's factor of
        # step t+1 with reset_delay=False (one-to-one with the spike decided on U[t]:
        # β + V·g·σ' per step); the detached reset R adds nothing; the last step has none
        paths, jacobian = _split_paths(grads, out, rule,
                                       jacobian=map_applies(cfg, input_may_vary=True))
    cpu = lambda t: t.detach().to("cpu")  # noqa: E731
    trace = Trace.from_rollout(cfg, x, out, neuron, device, notice)
    return FlowResult(trace=trace, loss=float(grads.loss), dL_dmem=cpu(grads.dL_dmem),
                      dL_dinput=cpu(grads.dL_dinput),
                      param_grads={n: cpu(g) for n, g in grads.param_grads.items()},
                      surrogate_grad=cpu(out.surrogate_grad),
                      paths={name: cpu(value) for name, value in paths.items()},
                      reset_grad=what_if, late_reset=bool(rule.late_reset),
                      jacobian=None if jacobian is None else cpu(jacobian))


def _split_paths(grads, out, rule, jacobian: bool = False):
    """dL/dU[t] split by the edge it leaves U[t] by (see the module docstring); they add up to it.

    Returns ``(paths, jac)``: ``jac`` is ∂U[t+1]/∂U[t] when asked for (the
    neuron's state is U[t] alone, see ``dynamics.map_applies``), else None.
    Paths that are zero in this setting share one zero tensor (memory: a flow
    of a large batch holds a dozen tensors of the run's size).
    """
    T = grads.dL_dmem.shape[0]
    g_base = grads.dL_dinput  # B[t] = leak + x[t] + rec adds x with weight 1: dL/dB[t] = dL/dx[t]
    zero = torch.zeros_like(grads.dL_dmem)
    paths = dict.fromkeys(PATHS, zero)
    # how S[t] moves with the returned U[t] (zero with a same-step reset: decided before it)
    factor = rule.mem_spike_factor(out.surrogate_grad, out.decision)
    if rule.late_reset:  # the spike was decided before U[t]: the loss's look at U[t] alone
        paths["direct"] = grads.dL_dmem_direct
    else:
        paths["direct"] = grads.dL_dmem_direct + grads.dL_dspk_direct * factor
    # dL/dS[t] through rec(S[t]) into B[t+1]
    through_rec = rule.recurrent_vjp(out.spk, g_base)
    if not rule.late_reset:
        recurrent = torch.zeros_like(zero)
        torch.mul(through_rec[1:], factor[:-1], out=recurrent[:-1])
        paths["recurrent"] = recurrent
    jac = None
    if T > 1:
        # U[t] enters step t+1 as β·U[t] inside B[t+1]; there N[t+1] = B[t+1] (- the delayed
        # reset), and with reset_delay=False U[t+1] = N[t+1] - D·(θ or N), D = S[t+1]/g - R.
        # Written in place, into slices of the results: a flow of a large batch holds a
        # dozen tensors of the run's size already, and each temporary adds one more.
        into = rule.beta * rule.base_derivative(out.reset[1:])
        if rule.late_reset:
            hold, through_spike, ds = rule.late_reset_derivatives(out.spk, out.decision, out.reset,
                                                                  out.surrogate_grad)
            leak, same, spike = (torch.zeros_like(zero) for _ in range(3))
            torch.mul(grads.dL_dmem[1:], into, out=leak[:-1])
            torch.mul(leak[:-1], through_spike[1:], out=same[:-1])
            leak[:-1].mul_(hold[1:])
            # dL/dS[t+1] in total: the loss's own look, and through rec(S[t+1]) into B[t+2]
            s = spike[:-1]
            s.copy_(grads.dL_dspk_direct[1:])
            s[:-1].add_(through_rec[2:])
            s.mul_(into).mul_(ds[1:])
            paths.update(leak=leak, same_step_reset=same, next_spike=spike)
            del ds
            if jacobian:
                jac = torch.zeros_like(zero)
                # U[t] does not move S[t] here (decided before its reset): only β·U[t] counts
                torch.add(hold[1:], through_spike[1:], out=jac[:-1])
                jac[:-1].mul_(into)
            del hold, through_spike
        else:
            leak = torch.zeros_like(zero)
            torch.mul(g_base[1:], rule.beta, out=leak[:-1])
            paths["leak"] = leak
            if jacobian:
                jac = torch.zeros_like(zero)
                j = jac[:-1]
                torch.mul(factor[:-1], _v(rule, out), out=j)
                j.add_(rule.beta).mul_(rule.base_derivative(out.reset[1:]))
        del into
    elif jacobian:
        jac = torch.zeros_like(zero)
    # R[t+1] = H(U[t] - θ): its adjoint reaches U[t] through the reset's derivative
    if grads.dL_dreset is not None:
        reset = torch.zeros_like(zero)
        reset[:-1] = grads.dL_dreset[1:] * rule.reset_derivative(out.mem)[:-1]
        paths["reset"] = reset
    return paths, jac


def _v(rule, out) -> torch.Tensor:
    """V of the one-to-one recurrence (0 for recurrence none), shaped to broadcast."""
    return rule.recurrent(torch.ones_like(out.spk[:1]))[0]


_PATH_WHY = {
    "direct": "the loss looks at U[t] or S[t] itself",
    "leak": "β·U[t] carries into the next step",
    "recurrent": "S[t] feeds back through the recurrence, scaled by the surrogate",
    "same_step_reset": "with reset_delay=False the reset D = S/g − R of each step uses the spike S, "
                       "which carries the surrogate gradient (only R is detached)",
    "next_spike": "with reset_delay=False the next spike is decided on β·U[t] + ..., before "
                  "U[t+1] takes its reset",
    "reset": "the what-if reset_grad lets the gradient through R[t+1] = H(U[t] − θ)",
}
_PATH_ZERO = {
    "direct": {True: "the loss does not look at U[t] itself, and with reset_delay=False S[t] does "
                     "not move with U[t]", False: "the loss does not look at U[t] or S[t] here"},
    "leak": {True: "every step's same-step zero reset stopped it (or no gradient reached it)",
             False: "no gradient reached it in this run"},
    "recurrent": {True: "with reset_delay=False S[t] is decided before U[t] takes its reset, so "
                        "U[t] does not move S[t]", False: "no spike gradient reached it here"},
    "same_step_reset": {True: "no surrogate gradient at the spike decisions here",
                        False: "there is no same-step reset (reset_delay=True, or no reset)"},
    "next_spike": {True: "no surrogate gradient at the spike decisions here",
                   False: "there is no same-step reset (reset_delay=True, or no reset)"},
    "reset": {True: "snnTorch detaches the reset signal R", False: "snnTorch detaches the reset signal R"},
}


def path_notes(flow: "FlowResult", rel: float = 1e-9) -> list[str]:
    """In words, from ``flow``'s own numbers: which paths carry gradient in this run, and why.

    A path counts as carrying gradient when its summed |contribution| is
    above ``rel`` of the largest path's.
    """
    totals = flow.path_totals()
    top = max(totals.values()) if totals else 0.0
    notes = []
    for name in PATHS:
        value = totals.get(name, 0.0)
        label = name.replace("_", " ")
        if top > 0 and value > rel * top:
            notes.append(f"{label} ({value:.3g}): {_PATH_WHY[name]}.")
        else:
            notes.append(f"{label}: 0, {_zero_reason(flow, name)}.")
    return notes


def _zero_reason(flow: "FlowResult", name: str) -> str:
    """Why path ``name`` carries nothing in ``flow``: the setting's own reason where it has one."""
    cfg = flow.trace.config
    beta = float(flow.trace.neuron.beta.detach().clamp(0, 1).max())
    silent_surrogate = not bool((flow.surrogate_grad != 0).any())
    if name == "recurrent" and cfg.recurrence == "none":
        return "there is no recurrence (recurrence = none)"
    if name == "recurrent" and cfg.recurrence == "one_to_one" and not bool((flow.trace.neuron.V != 0).any()):
        return "V = 0: no spike feeds back"
    if name == "leak" and beta == 0:
        return "β = 0: U[t] does not carry over into the next step"
    if name == "leak" and flow.late_reset and cfg.reset_mechanism == "subtract":
        return _PATH_ZERO[name][False]
    if name == "direct" and not flow.late_reset and silent_surrogate:
        return ("the surrogate derivative is 0 at every spike decision here, so nothing passes "
                "through S[t], and the loss does not look at U[t] itself")
    if name == "reset" and flow.reset_grad:
        if cfg.reset_mechanism == "none":
            return "with reset_mechanism = none no step uses R, so the what-if changes nothing"
        return "the what-if is on, but no surrogate gradient reached R here"
    return _PATH_ZERO[name][flow.late_reset]


def dead_stretches(surrogate_grad: np.ndarray, rel: float = 1e-3, min_len: int = 3) -> list[tuple[int, int]]:
    """Runs of steps (start, end inclusive) where |dS/dz| < rel·max: no gradient gets through."""
    g = np.abs(np.asarray(surrogate_grad, dtype=np.float64))
    top = g.max() if g.size else 0.0
    dead = g <= rel * top if top > 0 else np.ones_like(g, dtype=bool)
    runs, start = [], None
    for i, flag in enumerate(dead):
        if flag and start is None:
            start = i
        if (not flag or i == len(dead) - 1) and start is not None:
            end = i if flag else i - 1
            if end - start + 1 >= min_len:
                runs.append((start, end))
            start = None
    return runs


# --- vanishing and exploding gradients ------------------------------------------
# What gradient_vs_distance can vary (one value per curve), with the values it
# starts with: the schema's DISTANCE_FIELDS, and the linear recurrence's spectral radius.
# The current surrogate's own parameters (its slope, its width) join them: see
# distance_sweep_start.
DISTANCE_SWEEP_START = {**DISTANCE_FIELDS, "spectral_radius": (0.5, 1.0, 2.0, 4.0)}
DISTANCE_SWEEP_PARAMETERS = tuple(DISTANCE_SWEEP_START)
_SURROGATE_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def distance_sweep_start(cfg: SimConfig) -> dict:
    """What :func:`gradient_vs_distance` can vary for ``cfg``, with the values each starts with.

    :data:`DISTANCE_SWEEP_START`, then each parameter of ``cfg``'s surrogate
    (``atan_alpha``, ``fast_sigmoid_slope``, ...): its current value times
    0.25 .. 4, kept inside the field's bounds.  A steeper surrogate has a
    taller, narrower σ', so it changes both how much gradient each step
    passes back and how many steps pass any.
    """
    start = dict(DISTANCE_SWEEP_START)
    for name in SURROGATE_FIELDS.get(cfg.surrogate, ()):
        meta = field_spec(name)
        current = float(getattr(cfg, name))
        values = sorted({min(meta["hi"], max(meta["lo"], current * k)) for k in _SURROGATE_SCALES})
        start[name] = tuple(float(f"{v:.4g}") for v in values)
    return start


def gradient_vs_distance(cfg: SimConfig, parameter: str, values) -> dict:
    """||dL/dU[t]|| against distance in time from the loss, for each value of ``parameter``.

    The loss is the sum of the membranes at the last step, so the gradient
    starts at the end and every earlier step shows how much of it survives
    the trip back.  ``parameter`` is ``beta``, ``V`` (one-to-one) or
    ``spectral_radius`` (the linear recurrence's weights rescaled to it), or a
    parameter of ``cfg``'s surrogate (see :func:`distance_sweep_start`).
    Returns ``{"distance": (T,), "norms": {value: (T,)}}``, distance 0 at the last step.
    """
    allowed = tuple(distance_sweep_start(cfg))
    if parameter not in allowed:
        raise ValueError(f"parameter must be one of {', '.join(allowed)}, got {parameter!r}")
    values = [float(v) for v in values]
    if not values or len(values) > 12:
        raise ValueError("values must hold 1 to 12 numbers")

    last_step = lambda spk, mem: mem[-1].sum()  # noqa: E731
    norms = {}
    for v in values:
        if parameter == "spectral_radius":
            state = _rescaled_state(cfg.replace(recurrence="linear"), v)
            flow = gradient_flow(cfg.replace(recurrence="linear", weight_init="state_dict"),
                                 last_step, state_dict=state)
        else:
            changes = {parameter: v, **({"recurrence": "one_to_one"} if parameter == "V" else {})}
            flow = gradient_flow(cfg.replace(**changes), last_step)
        norms[v] = flow.step_norms()[::-1].copy()  # index = distance from the end
    return {"distance": np.arange(cfg.num_steps), "norms": norms}


def _rescaled_state(cfg: SimConfig, radius: float) -> dict:
    neuron = build_neuron(cfg)
    w = neuron.recurrent.weight.detach()
    current = spectral_radius(w)
    scale = radius / current if current > 0 else 0.0
    return {"recurrent.weight": w * scale, "recurrent.bias": neuron.recurrent.bias.detach()}
