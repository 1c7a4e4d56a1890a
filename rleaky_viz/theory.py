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

__all__ = ["analytic_overlay", "overlay_applies", "applicable_overlay", "first_spike_step",
           "zero_reset_interval", "latency_caption"]


def _min_current(theta: float, beta: float, steps: int) -> float:
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
      (a constant stimulus with no noise, no spread across neurons and no
      state quantisation, which moves U off the formula's values).

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
    min_current = _min_current(theta, beta, steps)
    exact = (getattr(cfg, "stimulus", "constant") == "constant"
             and not getattr(cfg, "state_quant_bits", 0)
             and getattr(cfg, "noise_std", 0.0) == 0.0
             and (getattr(cfg, "input_spread", 0.0) == 0.0 or getattr(cfg, "neuron_count", 1) == 1))
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


def overlay_applies(cfg) -> bool:
    """Whether :func:`analytic_overlay` describes the run of ``cfg``: exact input, no recurrence.

    The one rule every view that draws the overlay (the explorer, the CLI's
    neuron figure) asks.
    """
    return bool(analytic_overlay(cfg)["exact"]) and getattr(cfg, "recurrence", "none") == "none"


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


def zero_reset_interval(current: float, beta: float, threshold: float) -> "int | None":
    """The interval between spikes with ``reset_mechanism="zero"`` and ``reset_delay=True``.

    After a spike the next step is set to 0 (its input dropped), and the climb
    from rest starts again one step later: ``t* + 2`` steps, every time.
    """
    first = first_spike_step(current, beta, threshold)
    return None if first is None else first + 2


def _on_the_boundary(current: float, beta: float, threshold: float) -> bool:
    """Whether U[t] = θ exactly at an integer step in real arithmetic (rounding then decides)."""
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
    if _on_the_boundary(current, beta, _number(cfg, "threshold")):
        return text + (f" in real arithmetic, but U reaches θ exactly there, so float32 rounding "
                       f"decides between step {first - 1} and {first}")
    if cfg.reset_mechanism == "zero" and cfg.reset_delay:
        text += f", then every t* + 2 = {first + 2} steps (the zero reset drops one input)"
    return text
