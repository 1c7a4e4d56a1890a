"""Gradient flow: how the surrogate gradient of a loss travels back through time."""
import streamlit as st

from rleaky_viz.figures import (distance_figure, gradient_norm_figure, heatmap_figure, jacobian_figure,
                                param_grad_figure, paths_figure, surrogate_trajectory_figure)
from rleaky_viz.dynamics import map_conditions
from rleaky_viz.explain import jacobian_formula
from rleaky_viz.flows import distance_sweep_start, path_notes
from rleaky_viz.navigation import PAGES
from rleaky_viz.ui import (notices_panel, run_gradient_flow, run_or_stop,
                           setup_page, sidebar)
from rleaky_viz.ui.panels import plain
from rleaky_viz.ui.runner import run_gradient_distance
from rleaky_viz.ui.charts import chart
from rleaky_viz.describe import (describe_distance, describe_gradient_norms, describe_grid,
                                 describe_jacobian, describe_param_grads, describe_paths,
                                 describe_surrogate_trajectory)

PAGE = PAGES["gradients"]
setup_page("Gradient flow", "🌊")
cfg = sidebar(PAGE, ("Gradients", "Learning", "Neuron", "Network", "Stimulus", "Run"),
              choices={"recurrence": ("one_to_one", "linear", "none")}, title="Gradient flow")

st.title("Gradient flow")
st.markdown(
    "A spike is a step function, so its true derivative is zero almost everywhere. Training "
    "works because the backward pass swaps in the **surrogate** derivative dS/dz. Here the loss "
    f"**{cfg.loss}** is differentiated through the whole run (backpropagation through time), "
    "giving the gradients `snntorch.RLeaky` gets from autograd (the parity tests hold them to "
    "within 1e-5).")
if cfg.reset_grad and cfg.reset_mechanism == "none":
    st.info("The what-if reset_grad is on, but with reset_mechanism = none no step uses the reset "
            "signal: it changes nothing, and these are the reference's gradients.", icon="🧪")
elif cfg.reset_grad:
    st.warning("What-if is ON: the gradient also flows through the reset signal. This is **not** "
               "what snnTorch does (it detaches the reset); switch it off in the sidebar to return "
               "to the reference's gradients.", icon="🧪")

flow = run_or_stop(lambda: run_gradient_flow(cfg), PAGE.url(cfg))

neuron = 0
if cfg.neuron_count > 1:
    neuron = st.number_input("neuron", 0, cfg.neuron_count - 1, 0, key="gradients_neuron")
m = st.columns(4)
m[0].metric("loss", f"{flow.loss:.4g}")
m[1].metric("spikes", int((flow.trace.spk != 0).sum()))  # a spike's value is g: count them
norms = flow.step_norms()
m[2].metric("‖dL/dU‖ at the first step", f"{norms[0]:.3g}")
m[3].metric("‖dL/dU‖ at the last step", f"{norms[-1]:.3g}")

chart(heatmap_figure(flow, "dL_dmem"), "gradients_heatmap",
      describe_grid(flow.dL_dmem[:, 0].reshape(flow.dL_dmem.shape[0], -1), "dL/dU[t]"))
chart(gradient_norm_figure(flow), "gradients_norms", describe_gradient_norms(flow))
if flow.jacobian is not None:
    jac = flow.jacobian[:-1, 0].reshape(flow.jacobian.shape[0] - 1, -1)[:, neuron].abs()
    st.caption(f"Why the norm changes: each step back multiplies the gradient that neuron "
               f"{neuron}'s U[t+1] carries by ∂U[t+1]/∂U[t] ({jacobian_formula(cfg)}); the loss "
               "adds its own term at each step it looks at"
               + (" (directly, and through the next spike's decision)" if flow.late_reset else "")
               + ". Here the factor is above 1 on "
               f"{int((jac > 1).sum())} of {jac.numel()} steps and below 1 on "
               f"{int((jac < 1).sum())}; the largest is {float(jac.max()):.3g}, the smallest "
               f"{float(jac.min()):.3g}.")
    chart(jacobian_figure(flow, neuron=neuron), "gradients_jacobian", describe_jacobian(flow, neuron))
else:
    st.caption("No per-step Jacobian here: "
               + "; ".join(map_conditions(cfg, input_may_vary=True)) + ".")
chart(surrogate_trajectory_figure(flow, neuron=neuron), "gradients_surrogate",
      describe_surrogate_trajectory(flow, neuron))

st.header("Gradients of the learnable parameters")
chart(param_grad_figure(flow), "gradients_params", describe_param_grads(flow))
st.dataframe({name: [float(g.reshape(-1)[0]) if g.numel() == 1 else float(g.norm())]
              for name, g in flow.param_grads.items()}, width="stretch")

st.header("Paths: how dL/dU[t] arrives")
st.markdown("Summed |contribution| over this run, path by path, and why:\n\n"
            + "\n".join(f"- {note}" for note in path_notes(flow)))
chart(paths_figure(flow, neuron=neuron), "gradients_paths", describe_paths(flow, neuron))

st.header("Vanishing and exploding")
st.caption("The loss here is the membrane sum at the last step; each line shows how much of its "
           "gradient is left after travelling back that many steps.")
left, right = st.columns(2)
starts = distance_sweep_start(cfg)  # β, V, spectral radius and this surrogate's parameters
if st.session_state.get("gradients_sweep") not in (None, *starts):
    del st.session_state["gradients_sweep"]  # a parameter of the surrogate chosen before
parameter = left.selectbox("sweep", tuple(starts), key="gradients_sweep",
                           format_func=lambda p: p.replace("_", " "))
defaults = ", ".join(f"{v:g}" for v in starts[parameter])
text = right.text_input("values (comma-separated)", defaults, key=f"gradients_values_{parameter}")
try:
    values = [float(v) for v in text.split(",") if v.strip()]
    result = run_gradient_distance(cfg, parameter, tuple(values))
    chart(distance_figure(result, parameter), "gradients_distance", describe_distance(result, parameter))
except ValueError as e:
    st.error(f"values: {plain(e)}", icon="⚠️")

notices_panel(cfg, flow.trace)
st.markdown(f"Link to this exact view: `{PAGE.url(cfg)}`")
