"""The lesson: the presets in a teaching order, each with what to look for and a question.

Read by ``pages/10_Lesson.py``.  Plain data: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

from .presets import PRESETS, Preset

__all__ = ["LESSON_ORDER", "LESSON_NOTES", "lesson_presets"]

# A teaching order: one neuron first (integrate, fire, the strict test, the
# clamp, the reset), then feedback, then populations and grids.  Presets
# missing here come at the end, so a new preset is never left out.
LESSON_ORDER = ("tonic", "strict_threshold", "beta_clamped", "zero_reset_drops_input",
                "runaway_v_equals_threshold", "recurrent_bias", "winner_take_all",
                "self_sustained", "centre_surround")

# What to point at on the chart, and a question for the class.
LESSON_NOTES = {
    "tonic": ("Watch the membrane climb towards θ, cross it, drop by θ and climb again. The "
              "drop is always θ, but it starts from wherever U was, so the intervals cycle "
              "(5, 4, 4 steps) instead of being all equal.",
              "Lower the input below θ·(1-β) = 0.1 in the explorer. What happens, and why?"),
    "strict_threshold": ("The membrane reaches θ exactly and stays there: no spike, because the "
                         "test is U > θ, not U ≥ θ.",
                         "What is the smallest input that makes it fire?"),
    "beta_clamped": ("β = 1.5 would make U grow by half every step; instead it climbs in a "
                     "straight line, exactly as with β = 1.",
                     "Why would a library clamp β instead of refusing it?"),
    "zero_reset_drops_input": ("After each spike the next step's membrane is 0: the input of that "
                               "step is thrown away.",
                               "Switch reset_mechanism to subtract: here it fires just as often "
                               "(15 spikes either way). Why does throwing an input away cost "
                               "nothing with β = 0.5, and would it with β = 0.95?"),
    "runaway_v_equals_threshold": ("After the pulse ends the input is 0, yet the neuron keeps "
                                   "firing: each spike feeds back V = θ, exactly what the reset "
                                   "takes away.",
                                   "Lower V to 0.95, or β to 0.9: does the activity die out? "
                                   "With β = 0.99 it still fires at the last of these 120 "
                                   "steps: would it stop in a longer run?"),
    "recurrent_bias": ("The input is zero and some neurons still fire: the nn.Linear of the "
                       "recurrence adds its bias every step.",
                       "Which neurons fire first: what do their biases have in common? Do the "
                       "later ones have it too?"),
    "winner_take_all": ("With inhibition at most one neuron of the sample spikes on a step: the "
                        "one furthest above θ at that moment wins (not always the one driven "
                        "hardest: every neuron wins now and then).",
                        "Turn inhibition off in the explorer: how many neurons fire then?"),
    "self_sustained": ("A short kick, then the raster keeps going: the activity circulates in the "
                       "recurrent weights.",
                       "Lower the weight gain step by step: where does the activity stop "
                       "sustaining itself?"),
    "centre_surround": ("Press ▶ on the spike maps: after the first steps the same isolated "
                        "cells fire step after step, their neighbours silent. The centre "
                        "excites itself, the surround silences the neighbours; nothing travels.",
                        "What happens with lateral_excitation instead?"),
}


def lesson_presets() -> list[Preset]:
    """Every preset, in :data:`LESSON_ORDER` first, then any others in their own order."""
    ordered = [PRESETS[n] for n in LESSON_ORDER if n in PRESETS]
    return ordered + [p for n, p in PRESETS.items() if n not in LESSON_ORDER]
