"""Neuron explorer: one neuron's input, membrane, spikes and the terms of each update."""
import streamlit as st

from rleaky_viz.describe import describe_breakdown, describe_trace
from rleaky_viz.dynamics import describe, return_map
from rleaky_viz.figures import breakdown_figure, live_figure, neuron_figure, return_map_figure
from rleaky_viz.statistics import spike_stats
from rleaky_viz.theory import (analytic_overlay, latency_caption, overlay_applies, overlay_reasons,
                               time_constant_reading)
from rleaky_viz.ui import (export_panel, notices_panel, setup_page, sidebar, simulate_with_uploads)
from rleaky_viz.navigation import PAGES
from rleaky_viz.service import run_config
from rleaky_viz.ui.charts import chart
from rleaky_viz.ui.live import live_chart
from rleaky_viz.ui.present import present_figure
from rleaky_viz.ui.time_cursor import advance_time_cursor, freeze_ranges, time_cursor, upto

PAGE = PAGES["neuron"]
setup_page("Neuron explorer", "🔬")
cfg = sidebar(PAGE, ("Neuron", "Network", "Stimulus", "Run"),
              choices={"recurrence": ("one_to_one", "none", "linear")}, title="Neuron explorer")

st.title("Neuron explorer")
trace, uploads = simulate_with_uploads(PAGE, cfg, "explorer", uploads=True, nir=True)

neuron, batch = 0, 0
if cfg.neuron_count > 1 or cfg.batch_size > 1:
    left, right = st.columns(2)
    neuron = left.number_input("neuron", 0, cfg.neuron_count - 1, 0, key="explorer_neuron")
    batch = right.number_input("batch sample", 0, cfg.batch_size - 1, 0, key="explorer_batch")

chart_box = st.container()  # the chart first (on a phone it is the first screen); its options below
show_overlay = st.toggle("Analytic overlays", value=True, key="explorer_overlay")
ran = run_config(cfg, trace)  # an uploaded state dict's β, θ, V and g, as the run had them
overlay = analytic_overlay(ran) if show_overlay and ran is not None else None
if show_overlay and ran is None:
    st.caption("No analytic overlays here: the uploaded state dict gives the neurons different "
               "values of β, θ, V or g.")
elif overlay and not overlay_applies(ran):
    st.caption("No analytic overlays here: " + "; ".join(overlay_reasons(ran)) + ". Only the "
               f"time constant applies: τ = -1/ln β = {overlay['tau']:.3g} steps.")
    overlay = None
elif overlay:
    st.caption(f"Steady state without spikes I/(1-β) = {overlay['steady_state']:.4g} · least "
               f"constant current that fires within T = {ran.num_steps} steps "
               f"θ(1-β)/(1-β^T) = {overlay['min_current']:.4g} (θ(1-β) = {overlay['rheobase']:.4g} "
               "only as T → ∞; right at the boundary float32 rounding decides)"
               + latency_caption(ran, overlay))
    st.caption(time_constant_reading(ran))
fig = neuron_figure(trace, neuron=neuron, batch=batch, overlay=overlay)
t = time_cursor(trace.num_steps, key="explorer")  # play / step / reset through time
shown = upto(trace, t) if t < trace.num_steps - 1 else trace
frames = None
with chart_box:
    if shown is trace:  # drag β, θ, V or the input: the chart follows, frame by frame
        frames = live_chart(PAGE, cfg, trace, key="explorer_live", neuron=neuron, batch=batch,
                   overlay=overlay, fig=present_figure(fig), uploads=uploads,
                   alt=describe_trace(trace, neuron, batch))
        st.caption("While a control above the chart is dragged, the chart switches between "
                   "runs the core computed for each of its positions; on release the sidebar, "
                   "the link and the numbers below take the value.")
    else:
        main = freeze_ranges(neuron_figure(shown, neuron=neuron, batch=batch, overlay=overlay),
                             fig, trace.num_steps)
        chart(present_figure(main), "explorer_main",
              f"Up to step {t}. " + describe_trace(shown, neuron, batch))

stats = spike_stats(trace, batch=batch).iloc[neuron]
m = st.columns(5)
m[0].metric("spikes", int(stats["spike_count"]))
m[1].metric("rate (spikes/step)", f"{stats['rate']:.3f}")
m[2].metric("first spike (step)", "–" if stats["first_spike"] != stats["first_spike"] else int(stats["first_spike"]))
m[3].metric("ISI mean (steps)", "–" if stats["isi_mean"] != stats["isi_mean"] else f"{stats['isi_mean']:.2f}")
m[4].metric("ISI CV", "–" if stats["isi_cv"] != stats["isi_cv"] else f"{stats['isi_cv']:.3f}")

st.header("What each step adds up to")
st.caption("U[t] = leak (β·U[t-1]) + input + recurrent + reset (what the reset and quantisation "
           "took away). The bars of a step add up to the membrane line.")
breakdown = breakdown_figure(trace, neuron=neuron, batch=batch)
if shown is not trace:
    breakdown = freeze_ranges(breakdown_figure(shown, neuron=neuron, batch=batch), breakdown,
                              trace.num_steps)
chart(present_figure(breakdown), "explorer_breakdown",
      (f"Up to step {t}. " if shown is not trace else "") + describe_breakdown(shown, neuron, batch))

st.header("Return map: where each step takes the membrane")
rmap = return_map(trace, neuron=neuron, batch=batch)
if rmap["applies"]:
    st.caption("U[t+1] against U[t], computed by the core's own step on a grid of membranes: "
               "with a constant input the next membrane depends on this one alone, so iterating "
               "the map is the whole run (the cobweb, from rest). " + describe(rmap))
    chart(present_figure(return_map_figure(trace, rmap, neuron=neuron, batch=batch)),
          "explorer_return_map", "U[t+1] against U[t] for this neuron: " + describe(rmap))
else:
    st.caption("No return map for this setting: " + "; ".join(rmap["why"]) + ".")

notices_panel(cfg, trace)
st.header("Share and export")
st.markdown(f"Link to this exact view: `{PAGE.url(cfg)}`")
# the HTML keeps a slider over β's frames where there are frames: it works offline
offline = (lambda: live_figure(trace, frames, "beta", overlay)) if frames and "beta" in frames.fields else fig
export_panel(trace, offline, "neuron")
advance_time_cursor(trace.num_steps, key="explorer")  # last: while playing, the next frame
