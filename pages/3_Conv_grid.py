"""Conv grid: channels x H x W neurons coupled by a recurrent convolution kernel."""
import streamlit as st

from rleaky_viz.figures import conv_frames_figure, rate_map_figure
from rleaky_viz.ui import (export_panel, notices_panel, setup_page, sidebar, simulate_with_uploads)
from rleaky_viz.navigation import PAGES
from rleaky_viz.ui.present import present_figure
from rleaky_viz.ui.charts import chart
from rleaky_viz.ui.motion import reduced_motion, still_figure
from rleaky_viz.describe import describe_conv_frames, describe_rate_map

PAGE = PAGES["conv"]
setup_page("Conv grid", "🔲")
cfg = sidebar(PAGE, ("Neuron", "Network", "Stimulus", "Run"),
              fixed={"recurrence": "conv2d", "inhibition": False}, title="Conv grid")

st.title("Conv grid")
trace = simulate_with_uploads(PAGE, cfg, "conv")

left, right = st.columns(2)
channel = left.number_input("channel", 0, cfg.conv2d_channels - 1, 0, key="conv_channel")
batch = right.number_input("batch sample", 0, cfg.batch_size - 1, 0, key="conv_batch")

frames = conv_frames_figure(trace, channel=channel, batch=batch)
st.caption("Drag the slider under the spike maps to scrub through time (your browser asks for "
           "reduced motion, so they do not play by themselves)." if reduced_motion() else
           "Press ▶ to play the spike maps over time (❚❚ pauses), or drag the slider to scrub.")
chart(still_figure(present_figure(frames)), "conv_frames", describe_conv_frames(trace, channel, batch))
chart(present_figure(rate_map_figure(trace, channel=channel, batch=batch)), "conv_rate_map",
      describe_rate_map(trace, channel, batch))
with st.expander("Recurrent kernel"):
    kernel = trace.neuron.recurrent.weight.detach()[channel, channel].numpy()
    st.dataframe(kernel, width="stretch")

notices_panel(cfg, trace)
st.header("Share and export")
st.markdown(f"Link to this exact view: `{PAGE.url(cfg)}`")
export_panel(trace, frames, "conv")
