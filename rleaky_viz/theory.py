"""The constant-input theory of a lone neuron: steady state, rheobase, time constant.

For a lone neuron (no recurrent input yet) driven by a constant current
``I`` from ``U[0] = 0``, with ``β`` clamped to [0, 1] as in the update::

    U[t] = β·U[t-1] + I   =>   U[t] = I·(1 - β^t)/(1 - β)  ->  I/(1 - β)

``U`` approaches the steady state from below without reaching it, and the
spike test is strict (``U > θ``), so the neuron fires exactly when
``I/(1 - β) > θ``, that is ``I > θ·(1 - β)``.

Pure Python: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import math

__all__ = ["analytic_overlay", "overlay_applies", "overlay_reasons", "applicable_overlay", "first_spike_step",
           "zero_reset_interval", "latency_caption", "spike_count", "onset_applies", "count_applies",
           "fi_theory", "fi_caption", "feedback_wiped", "least_current", "time_constant_reading", "on_the_boundary",
           "at_the_rheobase", "partial_reset"]


def least_current(theta: float, beta: float, steps: int) -> float:
    """The least constant current that fires within ``steps`` steps, in exact arithmetic.

    From ``U[t] = I·(1 - β^t)/(1 - β)`` (``I·t`` for β = 1), largest at ``t = steps``:
    the neuron fires by then iff ``I > θ·(1 - β)/(1 - β^steps)``.  It falls to
    the rheobase ``θ·(1 - β)`` only as ``steps -> ∞``.
    """
    if steps < 1:
        return math.inf
    if beta >= 1.0:
        return theta / steps
    return theta * (1.0 - beta) / (1.0 - beta ** steps)


def _number(cfg, name: str) -> float:
    value = getattr(cfg, name, None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"cfg.{name} must be a finite number, got {value!r}")
    return float(value)


def analytic_overlay(cfg) -> dict:
    """Constant-input theory for ``cfg`` (a ``SimConfig``): what a lone neuron should do.

    Returns a dict of floats and one bool:

    * ``input_current``: ``I = amplitude + offset``;
    * ``beta``: ``β`` clamped to [0, 1], as the update uses it;
    * ``steady_state``: ``I/(1 - β)``, where ``U`` settles without spiking
      (±inf for ``β = 1`` and ``I ≠ 0``, 0 for ``I = 0``);
    * ``rheobase``: ``θ·(1 - β)``; the neuron fires iff ``I`` is strictly greater;
    * ``fires``: ``I > rheobase``: it fires if the run is long enough (exact arithmetic);
    * ``min_current``: ``θ·(1 - β)/(1 - β^T)`` (``θ/T`` for β = 1), the least
      constant current that fires within the run's ``T`` steps; near it float32
      rounding decides, so views show it as a boundary, not a promise;
    * ``tau``: membrane time constant ``-1/ln β`` in steps (inf for ``β >= 1``,
      0 for ``β <= 0``);
    * ``exact``: whether the formulas describe this config's input exactly
      (a constant stimulus with no noise, no spread across neurons, no
      lateral inhibition among several neurons (only the first of equal
      neurons fires) and no state quantisation, which moves U off the
      formula's values).

    The recurrence is ignored (it is silent before the first spike, except
    for the bias of a linear layer).
    """
    current = _number(cfg, "amplitude") + _number(cfg, "offset")
    beta = min(1.0, max(0.0, _number(cfg, "beta")))
    theta = _number(cfg, "threshold")
    if beta < 1.0:
        steady = current / (1.0 - beta)
    else:
        steady = math.copysign(math.inf, current) if current != 0 else 0.0
    if beta >= 1.0:
        tau = math.inf
    elif beta <= 0.0:
        tau = 0.0
    else:
        tau = -1.0 / math.log(beta)
    rheobase = theta * (1.0 - beta)
    steps = int(getattr(cfg, "num_steps", 0) or 0)
    min_current = least_current(theta, beta, steps)
    exact = not _input_reasons(cfg)
    return {
        "input_current": current,
        "beta": beta,
        "steady_state": steady,
        "rheobase": rheobase,
        "fires": current > rheobase,
        "min_current": min_current,
        "tau": tau,
        "exact": bool(exact),
    }


def overlay_reasons(cfg) -> list[str]:
    """Why :func:`analytic_overlay` does not describe the run of ``cfg`` (empty: it does)."""
    reasons = _input_reasons(cfg)
    # one-to-one feedback V·S[t-1] reaches U only if V != 0 and the delayed zero reset does not
    # set that very step to 0 (feedback_wiped): otherwise the run is recurrence = none's
    silent = (getattr(cfg, "recurrence", "none") == "one_to_one"
              and (float(getattr(cfg, "V", 0.0)) == 0.0 or feedback_wiped(cfg)))
    if getattr(cfg, "recurrence", "none") != "none" and not silent:
        reasons.append(f"recurrence = {cfg.recurrence} feeds the spikes back into U (the overlays "
                       "need recurrence = none, or one_to_one with V = 0 or with the delayed zero "
                       "reset, which wipes the feedback)")
    return reasons


def overlay_applies(cfg) -> bool:
    """Whether :func:`analytic_overlay` describes the run of ``cfg``: exact input, and no
    recurrence that reaches U (none, or one-to-one with V = 0 or wiped by the delayed zero reset).

    The one rule every view that draws the overlay (the explorer, the CLI's
    neuron figure) asks.
    """
    return not overlay_reasons(cfg)


def applicable_overlay(cfg) -> "dict | None":
    """:func:`analytic_overlay` of ``cfg`` where it describes the run, else None."""
    return analytic_overlay(cfg) if overlay_applies(cfg) else None


def first_spike_step(current: float, beta: float, threshold: float) -> "int | None":
    """The step (0-based) of a lone neuron's first spike from rest under a constant ``current``.

    From ``U[t] = I·(1 - β^(t+1))/(1 - β)`` (``I·(t+1)`` for β = 1) and the strict
    test ``U > θ``: ``t* = floor(ln(1 - θ(1-β)/I) / ln β)``, or ``floor(θ/I)`` for
    β = 1; None when it never fires (``I ≤ θ(1-β)``).  β is clamped to [0, 1]
    as the update does.  Exact in real arithmetic: where the ratio is an
    integer (U reaches θ exactly) float32 rounding decides the step.
    """
    beta = min(1.0, max(0.0, float(beta)))
    current, threshold = float(current), float(threshold)
    if current <= 0 or current <= threshold * (1 - beta):
        return None
    if beta == 0.0 or current > threshold:
        return 0
    if beta == 1.0:
        return math.floor(threshold / current)
    return math.floor(math.log(1 - threshold * (1 - beta) / current) / math.log(beta))


def zero_reset_interval(current: float, beta: float, threshold: float,
                        delay: bool = True) -> "int | None":
    """The interval between spikes with ``reset_mechanism="zero"``.

    ``reset_delay=True``: after a spike the next step is set to 0 (its input
    dropped), and the climb from rest starts again one step later: ``t* + 2``
    steps, every time.  ``reset_delay=False``: the spike step itself is set
    to 0 and the next step keeps its input: ``t* + 1``.
    """
    first = first_spike_step(current, beta, threshold)
    return None if first is None else first + (2 if delay else 1)


def at_the_rheobase(current: float, beta: float, threshold: float) -> bool:
    """Whether ``I = θ(1-β)`` (relative: to a few float32 steps of I and of 1 - β): U then only approaches θ
    in real arithmetic and never passes it, and float32 rounding decides whether, and when, the
    neuron fires."""
    beta = min(1.0, max(0.0, float(beta)))
    current, threshold = float(current), float(threshold)
    if not 0.0 < beta < 1.0 or current <= 0:
        return False
    # float32's β carries an error of about 2**-24 that 1 - β magnifies by 1/(1 - β)
    return abs(1 - threshold * (1 - beta) / current) < 1e-6 + 2 * 2**-24 / (1 - beta)


def on_the_boundary(current: float, beta: float, threshold: float) -> bool:
    """Whether rounding decides the first spike: U[t] = θ exactly at an integer step in real
    arithmetic, or the input is at the rheobase (:func:`at_the_rheobase`)."""
    if at_the_rheobase(current, beta, threshold):
        return True
    if beta in (0.0, 1.0) or current > threshold:
        ratio = threshold / current if beta == 1.0 else 0.5
    else:
        r = 1 - threshold * (1 - beta) / current
        if r <= 0:
            return False
        ratio = math.log(r) / math.log(beta)
    return abs(ratio - round(ratio)) < 1e-4


def latency_caption(cfg, overlay: dict) -> str:
    """The explorer's words on the first spike (and the zero-reset interval), from the theory."""
    if at_the_rheobase(overlay["input_current"], overlay["beta"], _number(cfg, "threshold")):
        return (f" · here I = θ(1−β) = {overlay['rheobase']:.4g}: in real arithmetic U only "
                "approaches θ and never fires, so float32 rounding decides whether, and when, "
                "it does")
    first = first_spike_step(overlay["input_current"], overlay["beta"], _number(cfg, "threshold"))
    if first is None or first >= cfg.num_steps:
        return " · no spike within these steps"
    beta, current = overlay["beta"], overlay["input_current"]
    if first == 0 and (beta == 0.0 or current > _number(cfg, "threshold")):
        formula = "0 (I > θ, or β = 0)"
    elif beta == 1.0:
        formula = f"⌊θ/I⌋ = {first}"
    else:
        formula = f"⌊ln(1 − θ(1−β)/I) / ln β⌋ = {first}"
    text = f" · first spike at step t* = {formula}"
    if on_the_boundary(current, beta, _number(cfg, "threshold")):
        return text + (f" in real arithmetic, but U reaches θ exactly there, so float32 rounding "
                       f"decides between step {first - 1} and {first}")
    if cfg.reset_mechanism == "zero" and cfg.reset_delay:
        text += (f", then every t* + 2 = {zero_reset_interval(current, beta, _number(cfg, 'threshold'))} "
                 "steps (the zero reset drops one input)")
    return text


# ----------------------------------------------------------------------------- f-I theory
def spike_count(current: float, beta: float, threshold: float, steps: int,
                mechanism: str, delay: bool) -> "int | None":
    """How many spikes a lone neuron fires in ``steps`` steps from rest under a constant ``current``.

    A closed form exists where every climb starts from the same membrane:

    * ``zero`` reset: the membrane is set to exactly 0, so the climb repeats
      itself; a spike every ``t* + 2`` steps with ``reset_delay=True`` (the
      next step's input is dropped), every ``t* + 1`` with ``reset_delay=False``
      (the spike step itself is set to 0 and the next input kept);
    * no reset (``none``): U keeps rising towards ``I/(1-β) > θ``, so the
      neuron fires at ``t*`` and at every step after it: ``T - t*`` spikes.

    The ``subtract`` reset leaves ``U - θ`` behind, so each climb can start
    from a different membrane: no closed form in general, None.  0 when the neuron
    does not fire within the run.  Real arithmetic: where
    :func:`on_the_boundary` holds, float32 rounding decides.
    """
    first = first_spike_step(current, beta, threshold)
    if first is None or first >= steps:
        return 0
    if mechanism == "none":
        return steps - first
    if mechanism == "zero":
        return (steps - 1 - first) // zero_reset_interval(current, beta, threshold, delay) + 1
    return None


def onset_applies(cfg) -> bool:
    """Whether the first spike (and so the least firing current) of ``cfg`` follows the theory.

    The input must be exact (see :func:`analytic_overlay`) and nothing but the
    input may reach U before the first spike: no recurrence, or the
    one-to-one recurrence ``V·S[t-1]``, which is 0 until a spike.  (A linear
    or convolutional recurrence adds its bias from the first step.)
    """
    return (bool(analytic_overlay(cfg)["exact"])
            and getattr(cfg, "recurrence", "none") in ("none", "one_to_one"))


def feedback_wiped(cfg) -> bool:
    """Whether the zero reset wipes the one-to-one feedback: ``reset_delay=True`` and ``zero``.

    The feedback ``V·S[t-1]`` reaches U at step ``t``, the step whose membrane
    the delayed zero reset sets to 0, so V never shows in U (any V, same run).
    """
    return getattr(cfg, "reset_mechanism", "") == "zero" and bool(getattr(cfg, "reset_delay", True))


def count_applies(cfg) -> bool:
    """Whether :func:`spike_count` gives the run's count: an onset that applies, a zero or no
    reset, and no feedback after a spike (recurrence none, one-to-one with V = 0, or one-to-one
    under the delayed zero reset, which wipes it: :func:`feedback_wiped`), and a whole reset
    (:func:`partial_reset`)."""
    feedback = (getattr(cfg, "recurrence", "none") == "one_to_one"
                and float(getattr(cfg, "V", 0.0)) != 0.0 and not feedback_wiped(cfg))
    return (onset_applies(cfg) and not feedback and not partial_reset(cfg)
            and getattr(cfg, "reset_mechanism", "subtract") in ("zero", "none"))


def partial_reset(cfg) -> bool:
    """Whether a spike's same-step reset takes only part of U: with inhibition the spike is
    not scaled by g, yet reset_delay=False resets by D = S'/g - R, so a zero reset keeps
    (1 - 1/g)·U (even with one neuron) and the climbs after the first do not start from 0."""
    return (bool(getattr(cfg, "inhibition", False)) and not bool(getattr(cfg, "reset_delay", True))
            and float(getattr(cfg, "graded_spikes_factor", 1.0)) != 1.0
            and getattr(cfg, "reset_mechanism", "subtract") != "none")


def fi_theory(cfg, betas, amplitudes) -> dict:
    """The exact theory of an f-I sweep (rate against amplitude, one curve per β) of ``cfg``.

    Returns ``{"least_amplitude": {β: least amplitude that fires within T}, "exact_rate": {β:
    array of rates, or None}, "boundary": {β: bool array, True where rounding
    decides}}``; ``least_amplitude`` is filled where :func:`onset_applies`, ``exact_rate``
    where :func:`count_applies`; both are empty dicts otherwise.  The current
    is ``amplitude + offset`` and β is clamped to [0, 1], as in the update.
    """
    onset, rate, boundary = {}, {}, {}
    if not onset_applies(cfg):
        return {"least_amplitude": onset, "exact_rate": rate, "boundary": boundary}
    theta, steps, offset = _number(cfg, "threshold"), int(cfg.num_steps), _number(cfg, "offset")
    counted = count_applies(cfg)
    for b in betas:
        b = float(b)
        clamped = min(1.0, max(0.0, b))
        onset[b] = least_current(theta, clamped, steps) - offset
        currents = [float(a) + offset for a in amplitudes]
        boundary[b] = [on_the_boundary(i, clamped, theta) if i > 0 else False for i in currents]
        if counted:
            rate[b] = [spike_count(i, clamped, theta, steps, cfg.reset_mechanism, cfg.reset_delay) / steps
                       for i in currents]
    return {"least_amplitude": onset, "exact_rate": rate, "boundary": boundary}


def time_constant_reading(cfg) -> str:
    """The continuous-time reading of β and of the input, for ``cfg``, in words with its numbers.

    A leaky membrane ``τ dU/dt = -U + R·I_in`` sampled every ``Δt`` decays by
    ``β = e^(-Δt/τ)`` per step, so ``τ = -Δt/ln β``.  Solved exactly over one
    step with ``I_in`` held, it gives ``U[t+1] = β·U[t] + (1-β)·R·I_in``.
    snnTorch's update adds the input ``I`` as given (the factor is folded into
    the input or its weights), so ``I`` reads as ``(1-β)·R·I_in`` and the
    steady state ``I/(1-β)`` as ``R·I_in``: Ohm's law.
    """
    beta = min(1.0, max(0.0, _number(cfg, "beta")))
    current = _number(cfg, "amplitude") + _number(cfg, "offset")
    if beta >= 1.0:
        return ("β = 1: no leak (τ = ∞), a perfect integrator; U grows by I every step, so there "
                "is no R·I reading.")
    if beta <= 0.0:
        return ("β = 0: no memory (τ = 0); between resets U is this step's input alone, "
                "I = (1−β)·R·I_in = R·I_in.")
    tau = -1.0 / math.log(beta)
    return (f"Continuous-time reading: β = e^(−Δt/τ), so τ = −Δt/ln β = {tau:.3g} steps. "
            f"Solved over one step with the input held, τ·dU/dt = −U + R·I_in adds "
            f"(1−β)·R·I_in; snnTorch adds the input I as given, so I = {current:.4g} reads as "
            f"(1−β)·R·I_in with R·I_in = I/(1−β) = {current / (1.0 - beta):.4g}, the steady state.")


def _input_reasons(cfg) -> list[str]:
    """What keeps a lone neuron's input from being the formulas' constant I (empty: exact)."""
    reasons = []
    if getattr(cfg, "stimulus", "constant") != "constant":
        reasons.append(f"the stimulus is {cfg.stimulus}, not constant")
    if getattr(cfg, "noise_std", 0.0):
        reasons.append("the input has noise")
    if getattr(cfg, "state_quant_bits", 0):
        reasons.append("the state is quantised")
    several = getattr(cfg, "neuron_count", 1) > 1
    if several and getattr(cfg, "input_spread", 0.0):
        reasons.append("the input is spread across neurons")
    if several and getattr(cfg, "inhibition", False):
        reasons.append("lateral inhibition lets only one of several equal neurons fire")
    return reasons


def _inexact_reasons(cfg) -> list[str]:
    """:func:`_input_reasons`, and a recurrence that reaches U before the first spike."""
    reasons = _input_reasons(cfg)
    if getattr(cfg, "recurrence", "none") not in ("none", "one_to_one"):
        reasons.append(f"the {cfg.recurrence} recurrence can add its bias to U before the first spike")
    return reasons


def fi_caption(cfg) -> str:
    """The Sweeps page's words under the f-I curves: which theory is drawn for ``cfg``, and why."""
    if not onset_applies(cfg):
        return ("No theory is drawn: the exact formulas need a constant input reaching U alone "
                "before the first spike, and here " + "; ".join(_inexact_reasons(cfg)) + ".")
    text = (f"Triangles: the least amplitude that fires within the run's T = {cfg.num_steps} "
            "steps, where I = amplitude + offset > θ·(1 − β)/(1 − β^T) (θ·(1 − β) only as "
            "T → ∞); each curve leaves zero there (right at it, float32 rounding decides).")
    if cfg.recurrence == "one_to_one":
        text += " The one-to-one feedback V·S is 0 until the first spike, so this holds for any V."
        if feedback_wiped(cfg) and float(cfg.V) != 0.0:
            text += (" After a spike, V·S arrives in the very step the delayed zero reset sets "
                     "to 0, so V changes nothing here.")
    if count_applies(cfg):
        if cfg.reset_mechanism == "zero":
            every = "t* + 2 steps (the next input is dropped)" if cfg.reset_delay else \
                "t* + 1 steps (the spike step is set to 0, the next input kept)"
            how = f"the zero reset starts every climb from exactly 0, so a spike comes every {every}"
        else:
            how = "without a reset U keeps rising past θ, so the neuron fires at every step from t* on"
        text += (f" Dashed: the exact rate from the first-spike step t*: {how}. The dashed line lies "
                 "on the curve except where U reaches θ exactly or the input is at θ·(1 − β), "
                 "which U only approaches: there rounding decides.")
    elif partial_reset(cfg):
        text += (f" With inhibition the spike is not scaled by g = {float(cfg.graded_spikes_factor):g}, "
                 "yet the same-step reset (reset_delay=False) divides it by g, so a spike's "
                 "step keeps (1 − 1/g)·U, not 0: the climbs after the first do not start from 0, the rate "
                 "has no closed form here, and only the onset is drawn.")
    elif cfg.reset_mechanism == "subtract":
        text += (" The subtract reset leaves U − θ behind, so each climb can start from a "
                 "different membrane: the rate has no closed form in general, and only the onset "
                 "is drawn.")
    else:
        text += (" After a spike the feedback V·S adds to U, so the rate has no closed form here: "
                 "only the onset is drawn.")
    return text
