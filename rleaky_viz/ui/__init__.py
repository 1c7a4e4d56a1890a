"""Streamlit helpers shared by every page: the sidebar, URL sync, cached runs, panels."""
from .runner import estimate_bytes, load_state_dict_bytes, run_gradient_flow, run_simulation
from .sidebar import apply_config, current_config, sidebar
from .panels import (error_panel, export_panel, notices_panel, run_or_stop, setup_page,
                     simulate_with_uploads, upload_widgets)

__all__ = ["run_or_stop", "upload_widgets", "sidebar", "apply_config", "current_config", "run_simulation", "run_gradient_flow", "estimate_bytes",
           "load_state_dict_bytes", "setup_page", "error_panel", "export_panel", "notices_panel",
           "simulate_with_uploads", "upload_widgets"]
