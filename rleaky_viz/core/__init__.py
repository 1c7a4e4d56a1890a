"""The PyTorch core of rleaky-viz: the update rule, the neuron, surrogates, quantisation, time loops.

Pure PyTorch: nothing here imports Streamlit, Plotly or pandas.
"""
from . import quant, surrogate
from .neuron import OneToOne, RLeaky, reset
from .rule import RESET_MECHANISMS, StepRule
from .unroll import RECORDABLE, Backprop, Rollout, backprop, unroll, unroll_chunks

__all__ = ["RLeaky", "OneToOne", "reset", "StepRule", "RESET_MECHANISMS", "unroll", "unroll_chunks", "backprop",
           "Rollout", "Backprop", "RECORDABLE", "surrogate", "quant"]
