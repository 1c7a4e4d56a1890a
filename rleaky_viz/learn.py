"""Train an RLeaky's parameters with surrogate gradients towards a target.

The learnable parameters are the ones the config's ``learn_beta``,
``learn_threshold`` and ``learn_recurrent`` flags name (as in snnTorch).  The
target is either a spike train (for example one made by a "teacher" neuron
with other parameters, on the same input) or a firing rate per neuron.  The
input is fixed and the seed fixes the weights, so a run is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from .config import SimConfig
from .core import unroll
from .simulate import build_neuron, simulate
from .stimulus import make_input

__all__ = ["TrainResult", "TrainSettings", "train", "smooth_spikes", "TARGETS", "TEACHER_START"]

TARGETS = ("spike_train", "rate")


def smooth_spikes(spk: torch.Tensor, tau: float = 5.0) -> torch.Tensor:
    """Spikes filtered by a causal exponential kernel (time constant ``tau`` steps).

    Comparing smoothed trains (a van Rossum distance) rewards a spike that is
    a step early or late, where comparing raw trains would not.
    """
    decay = float(np.exp(-1.0 / tau))
    out, acc = [], torch.zeros_like(spk[0])
    for s in spk:
        acc = decay * acc + s
        out.append(acc)
    return torch.stack(out)


# The teacher of the Learn page: the same network with these fields changed
# (their starting values; the sliders are the fields' own controls).
TEACHER_START = {"beta": 0.7, "threshold": 0.8}


@dataclass(frozen=True)
class TrainSettings:
    """What a training is asked to do: the network's config and the options of :func:`train`."""

    config: SimConfig
    target: str = "rate"
    target_rate: float = 0.1
    teacher: tuple = ()          # (field, value) pairs: the teacher is config with these
    epochs: int = 50
    lr: float = 0.05

    @property
    def teacher_config(self) -> SimConfig:
        return self.config.replace(**dict(self.teacher))

    def options(self) -> dict:
        """Keyword arguments of :func:`train` (after the config)."""
        return dict(target=self.target, teacher=dict(self.teacher) or None,
                    target_rate=self.target_rate, epochs=self.epochs, lr=self.lr)


@dataclass
class TrainResult:
    losses: list = field(default_factory=list)
    params: dict = field(default_factory=dict)     # name -> list of numpy arrays, one per epoch
    grad_norms: list = field(default_factory=list)
    state_dict: dict = field(default_factory=dict)  # the trained parameters
    target: Optional[torch.Tensor] = None           # (T, batch, *neurons) spike train, or rate
    stopped: bool = False


def train(cfg: SimConfig, target: str = "spike_train", *, teacher: Optional[dict] = None,
          target_rate: float = 0.1, epochs: int = 50, lr: float = 0.05,
          on_epoch: Optional[Callable[[int, TrainResult], bool]] = None) -> TrainResult:
    """Fit the learnable parameters of ``cfg``'s neuron to a target.

    ``target="spike_train"``: the spikes of ``cfg.replace(**teacher)`` on the
    same input (``teacher`` changes, e.g. ``{"beta": 0.7, "threshold": 0.8}``),
    compared after :func:`smooth_spikes`.  ``target="rate"``: every neuron's
    spikes per step should be ``target_rate``.  ``on_epoch(epoch, result)``
    runs after each epoch; returning False stops training early.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if not 1 <= int(epochs) <= 2000:
        raise ValueError(f"epochs must be between 1 and 2000, got {epochs}")
    if not 0 < lr <= 10:
        raise ValueError(f"lr must be in (0, 10], got {lr}")
    x = make_input(cfg)
    # seeded by build_neuron (weights) and the config (SSO): torch's global RNG is untouched
    neuron = build_neuron(cfg)
    params = [p for p in neuron.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to learn: switch on learn_beta, learn_threshold or "
                         "learn_recurrent (with a recurrence)")
    names = [n for n, p in neuron.named_parameters() if p.requires_grad]
    if target == "spike_train":
        goal = simulate(cfg.replace(**(teacher or {}))).spk
        goal_s = smooth_spikes(goal)
        loss_fn = lambda spk: ((smooth_spikes(spk) - goal_s) ** 2).mean()  # noqa: E731
    else:
        if not 0 <= target_rate <= 1:
            raise ValueError(f"target_rate must be between 0 and 1 spikes per step, got {target_rate}")
        goal = torch.tensor(float(target_rate))
        # the rate in spikes per step: a spike's value is g (the mask under inhibition), so
        # dividing by it counts each spike once and keeps the surrogate's gradient
        size = 1.0 if cfg.inhibition else float(cfg.graded_spikes_factor)
        loss_fn = lambda spk: (((spk / size).mean(0) - goal) ** 2).mean() * 100  # noqa: E731
    opt = torch.optim.Adam(params, lr=lr)
    result = TrainResult(params={n: [] for n in names}, target=goal)
    for epoch in range(int(epochs)):
        opt.zero_grad()
        spk, _ = unroll(neuron, x)
        loss = loss_fn(spk)
        loss.backward()
        result.losses.append(float(loss.detach()))
        result.grad_norms.append(float(sum(p.grad.norm() ** 2 for p in params if p.grad is not None) ** 0.5))
        for n, p in zip(names, params):
            result.params[n].append(p.detach().clone().numpy())
        opt.step()
        # the network so far, each epoch: a Stop (or an interrupted script) keeps it
        result.state_dict = {k: v.detach().clone() for k, v in neuron.state_dict().items()}
        if on_epoch is not None and on_epoch(epoch, result) is False:
            result.stopped = True
            break
    return result
