"""rleaky-viz: an interactive laboratory for snnTorch's recurrent LIF neuron.

``SimConfig`` describes a run, ``simulate(cfg)`` returns a ``Trace``; the
PyTorch core (``rleaky_viz.core``) is a drop-in for ``snntorch.RLeaky``.
"""
from .config import SimConfig
from .presets import PRESETS, Preset, get_preset
from .simulate import Trace, build_neuron, simulate

__version__ = "0.1.0"
__all__ = ["SimConfig", "simulate", "Trace", "build_neuron", "PRESETS", "Preset", "get_preset"]
