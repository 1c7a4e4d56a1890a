"""Words and equations that follow the configuration.

``update_equations(cfg)`` gives the LaTeX of the update for the chosen reset
mechanism, reset delay and recurrence; ``odd_corners(cfg, trace)`` gives
plain-words warnings when a setting hits a corner of the reference's
behaviour that surprises people.
"""
from __future__ import annotations

import numpy as np
import torch

from .config import SimConfig
from .network import spectral_radius as _spectral_radius
from .theory import least_current

__all__ = ["update_equations", "odd_corners", "recurrence_term", "gradient_note", "jacobian_formula"]


def recurrence_term(cfg: SimConfig) -> str:
    return {
        "one_to_one": r"V \odot S[t-1]",
        "linear": r"W\,S[t-1] + b",
        "conv2d": r"K * S[t-1] + b",
        "none": r"0",
    }[cfg.recurrence]


def update_equations(cfg: SimConfig) -> list[str]:
    """LaTeX lines of one update step for ``cfg``."""
    beta = r"\mathrm{clamp}(\beta,0,1)"
    rec = recurrence_term(cfg)
    detached = (r"\text{(gradient only in the what-if)}" if cfg.reset_grad
                else r"\text{(no gradient)}")
    lines = [
        rf"R[t] = H\big(U[t-1] - \theta\big)\quad{detached}",
        rf"B[t] = {beta}\,U[t-1] + I[t] + {rec}",
    ]
    mech = cfg.reset_mechanism
    if mech == "subtract":
        lines.append(r"U[t] = B[t] - R[t]\,\theta")
    elif mech == "zero" and cfg.reset_delay:
        lines.append(r"U[t] = B[t] - R[t]\,B[t]\quad\text{(a reset step keeps nothing, not even } I[t])")
    elif mech == "zero":
        lines.append(r"U[t] = B[t] - R[t]\,B[t]")
    else:
        lines.append(r"U[t] = B[t]\quad\text{(no reset)}")
    if cfg.state_quant_bits:
        lines.append(rf"U[t] \leftarrow q_{{{cfg.state_quant_bits}\,\mathrm{{bit}}}}(U[t])")
    g = "" if cfg.graded_spikes_factor == 1 else rf"\cdot {cfg.graded_spikes_factor:g}"
    if cfg.inhibition:
        lines.append(r"S[t] = H\big(U[t]-\theta\big)\ \text{only for } \arg\max_i (U_i[t]-\theta)")
    else:
        lines.append(rf"S[t] = H\big(U[t]-\theta\big){g}")
    if not cfg.reset_delay and mech != "none":
        # the reference divides by g here even under inhibition (where S carries no g)
        g_div = "" if cfg.graded_spikes_factor == 1 else rf"/{cfg.graded_spikes_factor:g}"
        lines.append(rf"D[t] = S[t]{g_div} - R[t]")
        if mech == "subtract":
            lines.append(r"U[t] \leftarrow U[t] - D[t]\,\theta")
        elif cfg.inhibition and cfg.graded_spikes_factor != 1:
            lines.append(r"U[t] \leftarrow U[t] - D[t]\,U[t]\quad\text{(a winner's } D = 1/g - R"
                         r"\text{: its spike step keeps } (1 - D)\,U[t])")
        else:
            lines.append(r"U[t] \leftarrow U[t] - D[t]\,U[t]\quad\text{(a spike step ends at 0; "
                         r"the next step keeps its input)}")
    return lines


def jacobian_formula(cfg: SimConfig) -> str:
    """∂U[t+1]/∂U[t] in words for ``cfg`` (where U alone is the state: none or one-to-one)."""
    v = "V·g·σ'(U[t] − θ)" if cfg.recurrence == "one_to_one" else ""
    base = f"β + {v}" if v else "β"
    if cfg.reset_mechanism == "zero" and cfg.reset_delay:
        base = f"({base})·(1 − R[t+1])"
    if not cfg.reset_delay and cfg.reset_mechanism == "subtract":
        return f"{base}·(1 − θ·σ'[t+1]), the last factor the same-step reset's"
    if not cfg.reset_delay and cfg.reset_mechanism == "zero":
        return (f"{base}·(1 − D[t+1] − N[t+1]·σ'[t+1]), the last factor the same-step zero "
                "reset's")
    return base


def gradient_note(cfg: SimConfig) -> str:
    """What carries gradient through the reset, for ``cfg`` (the Home page's sentence)."""
    if cfg.reset_mechanism == "none":
        return ("there is no reset, so nothing to detach" + (" (the what-if reset_grad changes "
                                                             "nothing: no step uses R)"
                                                             if cfg.reset_grad else ""))
    if cfg.reset_grad:
        return ("the what-if reset_grad is on: the reset R passes the surrogate gradient too "
                "(not snnTorch)")
    if cfg.reset_delay:
        return "the reset R carries no gradient (snnTorch detaches it)"
    return ("R is detached, but with reset_delay=False the same-step reset D = S/g − R uses the "
            "spike S, which carries the surrogate gradient: each step's own reset scales the "
            "gradient passing through it")


def _feedback(cfg: SimConfig) -> float:
    """What one spike feeds back through the one-to-one weight: V·g (V under inhibition,
    whose spikes carry no g)."""
    return float(cfg.V) * (1.0 if cfg.inhibition else float(cfg.graded_spikes_factor))


def _bias_note(cfg: SimConfig, trace) -> str | None:
    """The recurrent layer's bias, in words from the run's own layer (None: the bias is 0)."""
    generic = "The recurrent layer has a bias b: it is added every step, even with no spikes."
    if trace is None or cfg.state_quant_bits:
        return generic
    bias = getattr(trace.neuron.recurrent, "bias", None)
    if bias is None or not bool((bias != 0).any()):
        return None
    b = bias.detach().double()
    if cfg.recurrence == "conv2d":  # one bias per channel, every pixel of it
        b = b.repeat_interleave(cfg.grid_size ** 2)
    theta = trace.neuron.threshold.detach().double().reshape(-1)
    if theta.numel() > 1 or trace.neuron.beta.numel() > 1:
        return generic  # per-neuron parameters: no one bound to state
    # the run's own β (an uploaded state dict sets it), clamped as the step does
    beta = min(max(float(trace.neuron.beta.detach().double().reshape(-1)[0]), 0.0), 1.0)
    least = least_current(float(theta[0]), beta, int(cfg.num_steps))
    above = int((b > least).sum())
    bound = f"θ(1−β)/(1−β^T) = {least:.4g}"
    if above:
        return (f"{generic} Here {above} of {b.numel()} biases exceed {bound}, the least current that "
                "fires within the run: with zero input the neuron with the largest bias fires (and "
                "the others then feel its spikes through the weights).")
    return (f"{generic} Here no bias exceeds {bound}, the least current that fires within the run: "
            "with zero input no neuron fires.")


def odd_corners(cfg: SimConfig, trace=None, radius: float | None = None) -> list[str]:
    """Plain-words notes on surprising behaviour the current setting shows.

    ``radius``, the spectral radius of the linear recurrence, may be passed
    when known; otherwise it is computed here only for small layers (it
    costs seconds for a 1,000-neuron matrix).  Where a note depends on the
    run (the bias, a membrane at θ), it is computed from ``trace``.
    """
    notes = []
    if cfg.beta < 0 or cfg.beta > 1:
        notes.append(f"β = {cfg.beta:g} is outside [0, 1]: the reference clamps it to "
                     f"{min(max(cfg.beta, 0), 1):g} in every step (the stored value is kept).")
        if cfg.learn_beta:
            notes.append(f"β is learnable but outside [0, 1]: the clamp passes no gradient there, "
                         f"so dL/dβ = 0 and training cannot move β = {cfg.beta:g} back.")
    g = float(cfg.graded_spikes_factor)
    if cfg.reset_mechanism == "zero" and cfg.reset_delay:
        if cfg.state_quant_bits and trace is not None:
            level = float(trace.neuron.state_quant(torch.zeros(1)).reshape(-1)[0])
            to = f"set to q(0) = {level:.4g}, the quantiser's level nearest 0,"
        elif cfg.state_quant_bits:
            to = "set to q(0), the quantiser's level nearest 0,"
        else:
            to = "set to 0"
        notes.append(f"Reset to zero: on the step after a spike the membrane is {to} after the "
                     "input is added, so that step's input (and recurrent current) is dropped.")
    elif cfg.reset_mechanism == "zero":
        if cfg.inhibition and g != 1:
            notes.append(f"Reset to zero with reset_delay=False under inhibition: a winner's "
                         f"D = S/g − R = 1/{g:g} − R (its spike carries no g), so its spike step "
                         f"keeps (1 − D)·U, not 0.")
        else:
            notes.append("Reset to zero with reset_delay=False: the spike step itself ends at 0, "
                         "and the next step keeps its input (its delayed reset R = H(0 − θ) is 0).")
    beta = min(max(cfg.beta, 0.0), 1.0)
    fb = _feedback(cfg) if cfg.recurrence == "one_to_one" else 0.0
    fb_text = f"V = {cfg.V:g}" if fb == cfg.V else f"V·g = {fb:g}"
    if cfg.recurrence == "one_to_one" and cfg.reset_mechanism == "subtract" and fb >= cfg.threshold:
        # while firing every step, U' = βU + I + V·g - θ: its fixed point (I + V·g - θ)/(1 - β)
        # stays above θ without input when V·g > θ(2 - β), or for β = 1 and V·g ≥ θ
        forever = fb > cfg.threshold * (2 - beta) or (beta == 1 and fb >= cfg.threshold)
        notes.append(f"{fb_text} ≥ θ = {cfg.threshold:g} with subtract reset: every spike feeds "
                     "back at least what the reset removes, so only the leak slows the neuron down"
                     + (" and here, once firing starts, it never stops, even without input "
                        "(runaway feedback)." if forever else "."))
    if cfg.recurrence == "one_to_one" and cfg.reset_mechanism == "none" and fb > 0:
        text = (f"No reset and {fb_text} > 0: each spike adds that much to the next step and no "
                "reset takes it away")
        rheobase = cfg.threshold * (1 - beta)
        if beta == 1 or fb > rheobase:
            text += (f", so once firing starts it never stops, even without input (runaway "
                     f"feedback: {fb:g} > θ(1−β) = {rheobase:.4g}).")
        elif fb < rheobase:
            text += (f"; without input the membrane would settle at {fb:g}/(1−β) = "
                     f"{fb / (1 - beta):.4g} < θ, so the firing would stop.")
        else:
            text += "."
        notes.append(text)
    if radius is None and cfg.recurrence == "linear" and trace is not None and cfg.num_neurons <= 256:
        w = trace.neuron.recurrent.weight.detach()
        radius = _spectral_radius(w) if w.numel() else 0.0
    if cfg.recurrence == "linear" and radius is not None:
        if radius > 1:
            notes.append(f"The recurrent matrix has spectral radius {radius:.2f} > 1: activity can "
                         "feed itself and run away.")
    if cfg.inhibition and (cfg.reset_delay or cfg.reset_mechanism != "subtract"):
        notes.append("Inhibition suppresses spikes, not resets: a suppressed neuron above θ is "
                     "still reset on the next step as if it had fired"
                     + ("" if cfg.reset_mechanism != "none" else " (here there is no reset)")
                     + ". The graded-spike factor is not applied to the spikes of inhibited layers.")
    elif cfg.inhibition:
        notes.append("Inhibition with reset_delay=False and subtract reset: a suppressed neuron above "
                     "θ is not reset "
                     "(D = S/g − R = −1 undoes its delayed reset): its membrane is B alone, "
                     "moved only by the leak, the input and the recurrence, until it wins and "
                     "fires, if it ever does. The graded-spike factor is not applied to the spikes of inhibited "
                     "layers, but D still divides by it.")
    if not cfg.reset_delay and cfg.reset_mechanism != "none":
        notes.append("reset_delay=False: the reset is applied in the same step as the spike, but "
                     "the spike decision was made before that step's reset.")
    if cfg.recurrence in ("linear", "conv2d"):
        note = _bias_note(cfg, trace)
        if note:
            notes.append(note)
    if trace is not None:
        # the membrane the spike test looked at (before a same-step reset)
        decided = trace.decision.numpy()
        if np.any(decided == cfg.threshold):
            notes.append("On some steps the membrane the spike test looked at equals θ exactly: "
                         "those steps do not spike (the test is U > θ).")
    return notes
