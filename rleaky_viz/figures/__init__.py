"""Figures: ``Trace -> plotly.graph_objects.Figure``, and the numbers shown beside them.

Every builder checks its arguments first (a bad one raises ``ValueError``
naming it), then builds; none displays anything or imports Streamlit.
Colours and layout defaults live in :mod:`rleaky_viz.figures.style`.
"""
from .conv import conv_frames_figure, frame_steps, rate_map_figure
from .network import spectral_radius, spectrum_figure, weight_figure
from .neuron import breakdown_figure, neuron_figure, traces_figure
from .population import heatmap_figure, population_rate, raster_figure, raster_mask, rate_figure
from .stats import analytic_overlay, spike_stats
from .style import COLORS, OKABE_ITO

__all__ = [
    "neuron_figure", "breakdown_figure", "traces_figure",
    "raster_figure", "raster_mask", "rate_figure", "population_rate", "heatmap_figure",
    "weight_figure", "spectrum_figure", "spectral_radius",
    "conv_frames_figure", "rate_map_figure", "frame_steps",
    "spike_stats", "analytic_overlay",
    "COLORS", "OKABE_ITO",
]
from .surrogates import surrogate_figure, surrogate_oddities, surrogate_table

__all__ += ["surrogate_figure", "surrogate_oddities", "surrogate_table"]
from .gradients import (dead_stretches, distance_figure, gradient_norm_figure, loss_curve_figure,
                        param_grad_figure, param_trajectory_figure, paths_figure,
                        surrogate_trajectory_figure)

__all__ += ["gradient_norm_figure", "surrogate_trajectory_figure", "paths_figure",
            "param_grad_figure", "distance_figure", "loss_curve_figure", "param_trajectory_figure",
            "dead_stretches"]
from .sweeps import (compare_figure, fi_curve_figure, mystery_figure, regime_map_figure,
                     sweep_map_figure)

__all__ += ["fi_curve_figure", "sweep_map_figure", "regime_map_figure", "compare_figure",
            "mystery_figure"]
