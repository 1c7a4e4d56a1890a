"""Presets: each a small change to the defaults that shows one idea.

A preset is a page and a set of ``SimConfig`` changes, so it is also a URL:
``preset.url()`` is the link that reproduces it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from .config import SimConfig
from .navigation import PAGES, Page

__all__ = ["Page", "PAGES", "Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    idea: str
    page: str
    changes: dict = field(default_factory=dict)

    @cached_property
    def config(self) -> SimConfig:
        return SimConfig(**{**PAGES[self.page].defaults, **self.changes})

    @property
    def page_file(self) -> str:
        return PAGES[self.page].file

    def url(self) -> str:
        """Relative link (page path and query) that reproduces this preset."""
        return self._url

    @cached_property
    def _url(self) -> str:
        return PAGES[self.page].url(self.config)


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("tonic", "Tonic spiking",
           "A constant current well above θ·(1-β) = 0.1 makes the neuron fire again and again: "
           "integrate, cross θ, subtract θ, repeat. What is left above θ carries over, so the "
           "intervals repeat in a short cycle (here 5, 4, 4 steps) rather than being all equal.",
           "neuron", {"recurrence": "none", "amplitude": 0.3, "num_steps": 100}),
    Preset("recurrent_bias", "Firing with zero input",
           "A linear recurrence is an nn.Linear with a bias, and the bias is added every step "
           "even when nobody spikes. With zero input, the first neurons to fire are ones whose "
           "bias alone exceeds θ·(1-β); their spikes then reach the others through W.",
           "population", {"recurrence": "linear", "num_neurons": 40, "amplitude": 0.0, "noise_std": 0.0,
                          "num_steps": 200}),
    Preset("zero_reset_drops_input", "Reset to zero drops the next input",
           "With reset_mechanism='zero' the step after a spike sets U to 0 after adding the "
           "input, so that step's input is thrown away entirely. Compare with 'subtract'.",
           "neuron", {"recurrence": "none", "reset_mechanism": "zero", "beta": 0.5,
                      "amplitude": 0.6, "num_steps": 60}),
    Preset("runaway_v_equals_threshold", "V = θ runs away under subtract reset",
           "With a one-to-one weight V equal to θ, each spike feeds back exactly the θ that the "
           "reset subtracts. With no leak (β = 1) nothing else pulls U down: once the neuron "
           "fires it never stops, even after the input ends.",
           "neuron", {"recurrence": "one_to_one", "V": 1.0, "beta": 1.0, "stimulus": "pulse", "amplitude": 0.5,
                      "width": 10, "period": 10000, "num_steps": 120}),
    Preset("self_sustained", "Self-sustained recurrent activity",
           "A strong random recurrent matrix (gain 3) keeps a population active long after a "
           "brief kick: the activity lives in the loop, not in the input.",
           "population", {"recurrence": "linear", "num_neurons": 200, "weight_init": "gain",
                          "weight_gain": 3.0, "stimulus": "pulse", "amplitude": 1.5, "width": 5,
                          "period": 10000, "num_steps": 300}),
    Preset("winner_take_all", "Winner-take-all inhibition",
           "With inhibition only the neuron with the largest U - θ in a sample may spike: at "
           "most one spike per step across the layer, however many are above θ. Their resets "
           "are not suppressed, though: a neuron above θ that lost is still reset.",
           "population", {"recurrence": "none", "num_neurons": 10, "inhibition": True,
                          "input_spread": 0.3, "amplitude": 0.4, "num_steps": 150}),
    Preset("strict_threshold", "U = θ does not spike",
           "The spike test is strict: U must exceed θ. With β = 0 and an input of exactly 1.0 "
           "the membrane sits at θ = 1 forever and never fires; 1.001 fires every other step.",
           "neuron", {"recurrence": "none", "beta": 0.0, "amplitude": 1.0, "num_steps": 40}),
    Preset("beta_clamped", "β above 1 is clamped",
           "The reference clamps β into [0, 1] inside the update, so β = 1.5 behaves exactly "
           "like β = 1: a perfect integrator, not an exploding one.",
           "neuron", {"recurrence": "none", "beta": 1.5, "amplitude": 0.15, "num_steps": 80}),
    Preset("centre_surround", "Centre-surround patterns on a grid",
           "A conv recurrence with an excitatory centre and inhibitory surround turns noisy "
           "input into a fixed pattern of isolated cells that keep firing, with silent "
           "neighbours: the noise of the first steps picks the cells, then the pattern stays.",
           "conv", {"recurrence": "conv2d", "kernel_init": "centre_surround", "weight_gain": 1.5,
                    "stimulus": "noise", "amplitude": 0.08, "noise_std": 0.1, "num_steps": 150}),
]}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]
