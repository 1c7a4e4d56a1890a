"""Surrogate-gradient flows: where the gradient of a loss goes, step by step.

``gradient_flow(cfg, loss)`` runs ``cfg`` through ``core.backprop`` and returns the gradient of ``loss`` with respect to every
step's membrane (the total derivative dL/dU[t], through every later step),
the input, and every learnable parameter, plus a split of dL/dU[t] into the
paths it arrives by:

* ``direct``: the loss looks at U[t] (or at S[t], through the surrogate);
* ``leak``: through U[t+1] = β·U[t] + ..., the β path;
* ``recurrent``: through S[t] -> rec(S[t]) -> U[t+1], scaled by the
  surrogate derivative at U[t];
* ``reset``: through the reset signal R[t+1] = H(U[t] - θ).  The reference
  detaches it, so this is zero, unless the what-if ``reset_grad`` is on.

The four add up to dL/dU[t] (up to rounding, which is large in absolute
terms when gradients explode).  With ``reset_delay=False`` and a reset
mechanism, a step's spike is decided before that step's own reset, so U[t]
(taken after it) reaches later spikes only through the next step's leak term,
and its spike paths are counted there.

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

from .config import DISTANCE_FIELDS, SimConfig
from .core import backprop
from .network import spectral_radius
from .simulate import Trace, build_neuron, resolve_device
from .stimulus import make_input

__all__ = ["LOSSES", "LossError", "FlowResult", "gradient_flow", "loss_function", "gradient_vs_distance",
           "DISTANCE_SWEEP_PARAMETERS", "DISTANCE_SWEEP_START", "dead_stretches"]

LOSSES = ("spike_count", "membrane_mse", "cross_entropy", "spike_times")


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
    paths: dict                    # "direct", "leak", "recurrent", "reset" -> (T, batch, *neurons)
    reset_grad: bool               # the what-if was on

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
        # how S[t] moves with U[t] (surrogate derivative times g or the
        # inhibition mask; zero where the spike was decided before the reset)
        factor = rule.mem_spike_factor(out.surrogate_grad, out.decision)
        # B[t] = leak + x[t] + rec adds x with weight 1: dL/dx[t] is also the
        # adjoint of the leak and recurrent terms of step t
        g_base = grads.dL_dinput
        leak = torch.zeros_like(grads.dL_dmem)
        leak[:-1] = g_base[1:] * rule.beta
        recurrent = torch.zeros_like(grads.dL_dmem)
        recurrent[:-1] = rule.recurrent_vjp(out.spk, g_base)[1:] * factor[:-1]
        direct = grads.dL_dmem_direct + grads.dL_dspk_direct * factor
        # R[t+1] = H(U[t] - θ): its adjoint reaches U[t] through the reset's derivative
        reset = torch.zeros_like(grads.dL_dmem)
        if grads.dL_dreset is not None:
            reset[:-1] = grads.dL_dreset[1:] * rule.reset_derivative(out.mem)[:-1]
    cpu = lambda t: t.detach().to("cpu")  # noqa: E731
    trace = Trace.from_rollout(cfg, x, out, neuron, device, notice)
    return FlowResult(trace=trace, loss=float(grads.loss), dL_dmem=cpu(grads.dL_dmem),
                      dL_dinput=cpu(grads.dL_dinput),
                      param_grads={n: cpu(g) for n, g in grads.param_grads.items()},
                      surrogate_grad=cpu(out.surrogate_grad),
                      paths={"direct": cpu(direct), "leak": cpu(leak), "recurrent": cpu(recurrent),
                             "reset": cpu(reset)},
                      reset_grad=what_if)


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
DISTANCE_SWEEP_START = {**DISTANCE_FIELDS, "spectral_radius": (0.5, 1.0, 2.0, 4.0)}
DISTANCE_SWEEP_PARAMETERS = tuple(DISTANCE_SWEEP_START)


def gradient_vs_distance(cfg: SimConfig, parameter: str, values) -> dict:
    """||dL/dU[t]|| against distance in time from the loss, for each value of ``parameter``.

    The loss is the sum of the membranes at the last step, so the gradient
    starts at the end and every earlier step shows how much of it survives
    the trip back.  ``parameter`` is ``beta``, ``V`` (one-to-one) or
    ``spectral_radius`` (the linear recurrence's weights rescaled to it).
    Returns ``{"distance": (T,), "norms": {value: (T,)}}``, distance 0 at the last step.
    """
    if parameter not in DISTANCE_SWEEP_PARAMETERS:
        raise ValueError(f"parameter must be one of {', '.join(DISTANCE_SWEEP_PARAMETERS)}, got {parameter!r}")
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
