"""The return map of one neuron: U[t+1] as a function of U[t], from the update rule itself.

With a constant input and no coupling to other neurons, one RLeaky step
takes the neuron's membrane U[t] to U[t+1] and nothing else matters: the
spike S[t] that feeds back (``V·S[t]``) and the reset ``R[t+1] = H(U[t] - θ)``
are both decided by U[t].  Iterating that one-dimensional map is the whole
run, so its graph explains the run: where it crosses the diagonal below θ
the neuron settles (the steady state); where it has no such crossing the
trajectory keeps jumping across θ (a firing cycle, the ISI pattern); where
the branch above θ stays above θ it never stops firing (runaway).

The map is evaluated by ``StepRule.step`` (the core's own update) on a grid
of membranes, so it is exact for this discrete-time model, quantisation
included.  It is a function of U[t] only where :func:`map_applies` says so:
with ``reset_delay=False`` the spike S[t] is decided before U[t] takes its
reset, so U[t] alone does not say what ``V·S[t]`` feeds back (unless V is 0,
as with ``recurrence="none"``); a varying input, inhibition or a linear or
conv recurrence couple the step to more than U[t].

Pure PyTorch and numpy: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .config import SimConfig
from .core.rule import StepRule
from .theory import at_the_rheobase

__all__ = ["map_applies", "map_conditions", "return_map", "map_at", "describe"]


def map_conditions(cfg: SimConfig, *, input_may_vary: bool = False) -> list[str]:
    """What keeps U[t+1] from being a function of U[t] alone in ``cfg`` (empty: the map applies).

    ``input_may_vary``: ask only whether U[t] alone is the neuron's state (the
    per-step Jacobian's condition), whatever the input does.
    """
    why = []
    if not input_may_vary and cfg.stimulus != "constant":
        why.append(f"the stimulus is {cfg.stimulus}, not constant (the map needs one input for "
                   "every step)")
    if not input_may_vary and cfg.noise_std != 0:
        why.append("the input has noise (the map needs one input for every step)")
    several = cfg.neuron_count > 1
    if cfg.recurrence not in ("none", "one_to_one"):
        why.append(f"recurrence = {cfg.recurrence} couples each neuron to the others" if several else
                   f"this view is drawn for recurrence none or one_to_one only (here "
                   f"{cfg.recurrence}: W·S + b, with a bias)")
    if cfg.inhibition:
        why.append("inhibition couples each neuron to the others" if several else
                   "this view leaves inhibited layers out (with one neuron inhibition suppresses "
                   "nothing)")
    if (cfg.recurrence == "one_to_one" and cfg.V != 0 and not cfg.reset_delay
            and cfg.reset_mechanism != "none"):
        why.append("with reset_delay=False the spike that V feeds back was decided before U[t] "
                   "took its reset, so U[t] alone does not fix it")
    return why


def map_applies(cfg: SimConfig, *, input_may_vary: bool = False) -> bool:
    return not map_conditions(cfg, input_may_vary=input_may_vary)


def return_map(trace, neuron: int = 0, batch: int = 0, points: int = 801) -> dict:
    """The map U[t] -> U[t+1] of one neuron of ``trace``, on a grid covering its trajectory.

    Returns ``u`` (the grid), ``next`` (U[t+1] for each), ``current`` (the
    constant input I), ``threshold``, ``fixed_point`` (``I/(1-β)`` when it lies
    below θ, where the map crosses the diagonal and the neuron settles; else
    None) and ``applies`` (False: the map is not a function of U[t] here, and
    ``u``/``next`` are empty; ``why`` says what stands in the way).
    """
    cfg = trace.config
    why = map_conditions(cfg)
    mem = trace.mem[:, batch].reshape(trace.mem.shape[0], -1)
    count = mem.shape[1]
    theta = float(trace.neuron.threshold.reshape(-1)[0 if trace.neuron.threshold.numel() == 1 else neuron])
    current = float(trace.input[-1, batch].reshape(-1)[neuron])
    empty = np.zeros(0)
    beta = float(trace.neuron.beta.clamp(0, 1).reshape(-1)[0 if trace.neuron.beta.numel() == 1 else neuron])
    out = dict(u=empty, next=empty, current=current, threshold=theta, fixed_point=None,
               applies=not why, why=why, quantised=bool(cfg.state_quant_bits),
               fired=False, fires_on=False, beta=beta, mechanism=cfg.reset_mechanism)
    spk = (trace.spk[:, batch].reshape(trace.spk.shape[0], -1)[:, neuron] != 0).numpy()
    out["spikes"] = int(spk.sum())
    if spk.any():
        out["fired"] = True
        out["first_spike"] = int(np.flatnonzero(spk)[0])
        first = int(np.flatnonzero(spk)[0])
        # every step from the first spike on, and at least two of them (a next step to look at)
        out["fires_on"] = bool(spk[first:].all()) and spk.size - first >= 2
    if why:
        return out
    u_seen = mem[:, neuron].double().numpy()
    lo = min(float(u_seen.min()), 0.0, theta)
    hi = max(float(u_seen.max()), theta)
    span = max(hi - lo, 1e-3)
    grid = np.linspace(lo - 0.1 * span, hi + 0.1 * span, int(points))
    grid = np.union1d(grid, u_seen)  # the trajectory's own points are on the grid, exactly
    rule = StepRule(trace.neuron)
    with torch.no_grad():
        dtype = trace.mem.dtype
        u = torch.as_tensor(grid, dtype=dtype).reshape(-1, 1).expand(-1, count).clone()
        x = trace.input[-1, batch].reshape(1, count).to(dtype).expand(u.shape[0], -1)
        # the spike that step t fed back: decided on U[t] itself (reset_delay=True), or
        # irrelevant (V = 0); S[t] = σ(P - θ)·g with P the decision membrane of U[t]
        shift = rule.decision_membrane(u) - rule.threshold
        spk = (shift > 0).to(dtype) * rule.gain
        _, nxt = rule.step(x, spk, u)
    out.update(u=grid, next=nxt[:, neuron].double().numpy())
    out["levels"] = int(np.unique(out["next"]).size)
    # below θ nothing fires or resets, so the map is U -> β·U + I: it crosses the diagonal at
    # I/(1-β) when that lies at or below θ (U = θ does not fire).  Quantisation makes a staircase.
    if not out["quantised"] and beta < 1 and current / (1 - beta) <= theta:
        out["fixed_point"] = current / (1 - beta)
    return out


def map_at(rmap: dict, u: np.ndarray) -> np.ndarray:
    """The map's values at membranes ``u`` that are grid points (the trajectory's are)."""
    index = np.searchsorted(rmap["u"], u)
    return rmap["next"][index]


def describe(rmap: dict) -> Optional[str]:
    """One sentence about this map and run, from their own numbers (None where it does not apply)."""
    if not rmap["applies"]:
        return None
    if rmap["quantised"]:
        levels, points = rmap["levels"], len(rmap["u"])
        if 2 * levels > points:
            return (f"With state quantisation U[t+1] comes from the core's quantised step "
                    f"({levels} distinct values across these {points} membranes); the cobweb "
                    "follows this run's own membranes on it.")
        return (f"With state quantisation the core's step takes only {levels} distinct "
                f"values of U[t+1] across these {points} membranes: flat treads joined "
                "by jumps, a staircase. The cobweb follows this run's own membranes on it.")
    theta, fixed = rmap["threshold"], rmap["fixed_point"]
    beta, current = rmap["beta"], rmap["current"]
    if at_the_rheobase(current, beta, theta):
        did = (f"fires first at step {rmap['first_spike']}" if rmap["fired"] else
               "does not fire")
        return (f"Here I = θ(1−β): in real arithmetic the map meets the diagonal at U* = I/(1−β) "
                "= θ, which the membrane only approaches and never passes (the test is U > θ); "
                f"float32 rounding decides, and in this run the neuron {did}.")
    if fixed is not None:
        where = "at θ" if fixed == theta else "below θ"
        return (f"The map crosses the diagonal {where} at U* = I/(1−β) = {fixed:.4g}: from rest "
                "the membrane moves towards it and never fires (the test is U > θ).")
    if not rmap["fired"]:
        if beta >= 1 and current == 0:
            return ("No input and no leak (β = 1): the map is the identity, so the membrane stays "
                    "where it starts and never fires.")
        if beta >= 1 and current < 0:
            return "No leak (β = 1) and I < 0: each step lowers U by |I|, so it never reaches θ."
        if beta >= 1:
            return ("No leak (β = 1): each step adds I, so U would pass θ, but after more steps "
                    "than this run has.")
        return (f"U climbs towards I/(1−β) = {current / (1 - beta):.4g} > θ, so the map has no "
                "crossing below θ: it would fire, but after more steps than this run has.")
    if rmap["fires_on"]:
        how = ("with no reset nothing brings it back" if rmap["mechanism"] == "none" else
               "after each reset the next step's membrane is above θ again")
        return ("No crossing below θ, and from its first spike on the neuron fires on every step "
                f"of this run: {how}.")
    if rmap["spikes"] < 2:
        return (f"No crossing below θ, so the membrane cannot settle: it climbs past θ and fires "
                f"at step {rmap['first_spike']}, the one spike of this run; the run ends before "
                "the next climb reaches θ.")
    return ("No crossing below θ, so the membrane cannot settle: it climbs past θ, fires, the "
            "spike's reset (or its feedback) pulls it down, and it climbs again; the cobweb's "
            "loops are that firing cycle.")
