"""Population: many neurons with a recurrent weight matrix; raster, rates, weights, spectrum."""
import streamlit as st

from rleaky_viz.figures import (heatmap_figure, raster_figure, rate_figure, spectrum_figure,
                                traces_figure, weight_figure)
from rleaky_viz.ui import (export_panel, notices_panel, run_or_stop, run_simulation, setup_page, sidebar,
                           upload_widgets)
from rleaky_viz.navigation import PAGES
from rleaky_viz.network import spectral_radius
from rleaky_viz.ui.runner import recurrent_eigenvalues
from rleaky_viz.ui.present import present_figure
from rleaky_viz.ui.charts import chart
from rleaky_viz.describe import (describe_grid, describe_population, describe_rate, describe_spectrum,
                                 describe_traces, describe_weights)

PAGE = PAGES["population"]
setup_page("Population", "🧠")
cfg = sidebar(PAGE, ("Neuron", "Network", "Stimulus", "Run"),
              choices={"recurrence": ("linear", "one_to_one", "none")}, title="Population")

st.title("Population")
csv, pt = upload_widgets(cfg, "population", nir=PAGE)  # the state dict's weights also give the spectrum
trace = run_or_stop(lambda: run_simulation(cfg, csv_bytes=csv, pt_bytes=pt), PAGE.url(cfg))

batch = 0
if cfg.batch_size > 1:
    batch = st.number_input("batch sample", 0, cfg.batch_size - 1, 0, key="population_batch")

raster = raster_figure(trace, batch=batch)
chart(present_figure(raster), "population_raster", describe_population(trace, batch))
chart(present_figure(rate_figure(trace, batch=batch)), "population_rate", describe_rate(trace, batch))
chart(present_figure(heatmap_figure(trace, "mem", batch=batch)), "population_heatmap",
      describe_grid(trace.mem[:, batch].reshape(trace.num_steps, -1), "Membrane U"))

if cfg.recurrence == "linear":
    weight = trace.neuron.recurrent.weight.detach().numpy()
    left, right = st.columns(2)
    chart(present_figure(weight_figure(weight)), "population_weights", describe_weights(weight),
          where=left)
    eigenvalues = recurrent_eigenvalues(cfg, pt)
    chart(present_figure(spectrum_figure(weight, eigenvalues)), "population_spectrum",
          describe_spectrum(eigenvalues), where=right)

chosen = st.multiselect("Neurons to plot", list(range(cfg.neuron_count)),
                        default=list(range(min(3, cfg.neuron_count))), key="population_neurons")
if chosen:
    chart(present_figure(traces_figure(trace, chosen, batch=batch)), "population_traces",
          describe_traces(trace, chosen, batch))

radius = spectral_radius(weight, eigenvalues) if cfg.recurrence == "linear" else None
notices_panel(cfg, trace, spectral_radius=radius)
st.header("Share and export")
st.markdown(f"Link to this exact view: `{PAGE.url(cfg)}`")
export_panel(trace, raster, "population")
