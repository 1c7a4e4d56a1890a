"""Figures: ``Trace -> plotly.graph_objects.Figure``, and the numbers shown beside them.

Every builder checks its arguments first (a bad one raises ``ValueError``
naming it), then builds; none displays anything or imports Streamlit.
Colours and layout defaults live in :mod:`rleaky_viz.figures.style`.
"""
from .conv import conv_frames_figure, frame_steps, rate_map_figure
from .network import spectrum_figure, weight_figure
from .neuron import breakdown_figure, neuron_figure, return_map_figure, traces_figure
from .population import heatmap_figure, population_rate, raster_figure, raster_mask, rate_figure
from .style import COLORS, OKABE_ITO

__all__ = [
    "main_figure_kind", "neuron_figure", "return_map_figure", "breakdown_figure", "traces_figure",
    "raster_figure", "raster_mask", "rate_figure", "population_rate", "heatmap_figure",
    "weight_figure", "spectrum_figure",
    "conv_frames_figure", "rate_map_figure", "frame_steps",
    "COLORS", "OKABE_ITO",
]
from .surrogates import surrogate_figure, surrogate_oddities, surrogate_table

__all__ += ["surrogate_figure", "surrogate_oddities", "surrogate_table"]
from .gradients import (distance_figure, gradient_norm_figure, jacobian_figure, param_grad_figure,
                        paths_figure, surrogate_trajectory_figure)

__all__ += ["jacobian_figure", "gradient_norm_figure", "surrogate_trajectory_figure", "paths_figure",
            "param_grad_figure", "distance_figure"]
from .training import loss_curve_figure, param_trajectory_figure

__all__ += ["loss_curve_figure", "param_trajectory_figure"]
from .sweeps import fi_curve_figure, regime_map_figure, sweep_map_figure

__all__ += ["fi_curve_figure", "sweep_map_figure", "regime_map_figure"]
from .compare import compare_figure
from .mystery import mystery_figure

__all__ += ["compare_figure", "mystery_figure"]


def main_figure_kind(cfg) -> str:
    """The figure that shows a run of ``cfg`` best, by name.

    ``"conv"`` (spike maps over time) for a conv grid, ``"neuron"`` for a
    single neuron, ``"raster"`` for a population.  The Lesson page and the
    CLI's ``figure --kind auto`` both ask here.
    """
    if cfg.recurrence == "conv2d":
        return "conv"
    return "neuron" if cfg.neuron_count == 1 else "raster"
from .live import live_chart_payload, live_figure

__all__ += ["live_figure", "live_chart_payload"]
