"""The PyTorch core of rleaky-viz: neuron, surrogates, quantisation, time loop.

Pure PyTorch: nothing here imports Streamlit, Plotly or pandas.
"""
from . import quant, surrogate
from .neuron import RESET_MECHANISMS, RLeaky, StepRule
from .unroll import RECORDABLE, Rollout, unroll, unroll_chunks

__all__ = ["RLeaky", "StepRule", "RESET_MECHANISMS", "unroll", "unroll_chunks", "Rollout", "RECORDABLE",
           "surrogate", "quant"]
