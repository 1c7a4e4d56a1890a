"""Compare: two configurations, A and B, side by side and overlaid.

A is the sidebar's configuration.  B is A with a few overrides, set with the
compact controls in the main area (keys ``compare_b_<field>``) or one of the
classic contrasts; the overrides live in the URL as ``b_<field>=value``, so
a link reproduces both.
"""
import streamlit as st

from rleaky_viz.config import COMPARE_FIELDS, SURROGATE_FIELDS, control, field_spec
from rleaky_viz.figures import compare_figure, gradient_norm_figure, neuron_figure
from rleaky_viz.navigation import PAGES
from rleaky_viz.compare import (first_divergence, forward_identical, gradient_gap, gradient_words,
                                neuron_divergence, neuron_membrane_gap)
from rleaky_viz.statistics import spike_stats
from rleaky_viz.ui import (current_config, notices_panel,
                           run_gradient_flow, run_or_stop, run_simulation, setup_page,
                           sidebar)
from rleaky_viz.ui.panels import plain
from rleaky_viz.ui.charts import chart
from rleaky_viz.describe import describe_compare, describe_gradient_norms, describe_trace
from rleaky_viz.ui.url import UrlSection

PAGE = PAGES["compare"]
RECURRENCES = ("one_to_one", "none", "linear")
# B: where it differs from A, kept in the URL as b_<field>=value (the schema's COMPARE_FIELDS)
B = UrlSection("_compare_b", "b_", COMPARE_FIELDS)


def _b_changed(name: str) -> None:
    B.update(name, st.session_state[f"compare_b_{name}"], current_config(PAGE))


def _contrast(name: str, value) -> None:
    """A classic contrast: B is A with exactly one change."""
    B.set({name: value})


setup_page("Compare", "⚖️")
cfg_a = sidebar(PAGE, ("Neuron", "Network", "Stimulus", "Run"),
                choices={"recurrence": RECURRENCES}, title="Configuration A", sections=(B,),
                uploads=False)
B.follow(cfg_a)  # an override equal to A's value (A moved onto it) is no change
overrides = B.values()
# A's surrogate parameters belong to A's surrogate: a B with another starts from its defaults
sur_params = ({n: field_spec(n)["default"] for n in SURROGATE_FIELDS[overrides["surrogate"]]}
              if "surrogate" in overrides else {})

st.title("Compare A and B")
st.caption("A is the sidebar. B is A with the changes below; everything else (input, seed, "
           "weights) is shared, so any difference comes from those changes.")

# ----------------------------------------------------------------------------- contrasts
st.markdown("**Classic contrasts** (each sets B to A with one change):")
c = st.columns([1, 1, 1, 1.2, 0.6])
other_reset = "zero" if cfg_a.reset_mechanism == "subtract" else "subtract"
c[0].button(f"{cfg_a.reset_mechanism} vs {other_reset} reset", key="compare_contrast_reset",
            on_click=_contrast, args=("reset_mechanism", other_reset), width="stretch")
c[1].button(f"reset_delay {'on vs off' if cfg_a.reset_delay else 'off vs on'}",
            key="compare_contrast_delay", on_click=_contrast,
            args=("reset_delay", not cfg_a.reset_delay), width="stretch")
other_rec = "linear" if cfg_a.recurrence == "one_to_one" else "one_to_one"
c[2].button(f"{cfg_a.recurrence} vs {other_rec}", key="compare_contrast_recurrence",
            on_click=_contrast, args=("recurrence", other_rec), width="stretch")
other_sur = "fast_sigmoid" if cfg_a.surrogate != "fast_sigmoid" else "atan"
c[3].button(f"{cfg_a.surrogate} vs {other_sur} surrogate", key="compare_contrast_surrogate",
            on_click=_contrast, args=("surrogate", other_sur), width="stretch")
c[4].button("B = A", key="compare_b_same", on_click=B.set, args=({},), width="stretch")

# ----------------------------------------------------------------------------- B's controls
with st.container(border=True):
    changes = [f"{k} = {v}" for k, v in B.texts().items()]
    if sur_params:
        changes.append("its parameters at their defaults ("
                       + ", ".join(f"{control(n).label} = {v:g}" for n, v in sur_params.items()) + ")")
    st.markdown("**Configuration B**: " + (", ".join(changes)
                                          or "the same as A (change something below)"))
    cols = st.columns(4) + st.columns(4)  # two rows of four
    for col, name in zip(cols, COMPARE_FIELDS):
        key = f"compare_b_{name}"
        # B follows A except where overridden; set before the widget is drawn
        st.session_state[key] = overrides.get(name, getattr(cfg_a, name))
        ctl = control(name)
        options = RECURRENCES if name == "recurrence" else ctl.choices
        if ctl.control == "select":
            col.selectbox(ctl.label, options, key=key, on_change=_b_changed, args=(name,))
        elif ctl.control == "checkbox":
            col.checkbox(ctl.label, key=key, on_change=_b_changed, args=(name,))
        else:
            spec = field_spec(name)
            col.number_input(ctl.label, min_value=spec["lo"], max_value=spec["hi"], step=ctl.step, key=key,
                             on_change=_b_changed, args=(name,), format="%.3g")

b_changes = {**overrides, **sur_params}
try:
    cfg_b = cfg_a.replace(**b_changes)
except ValueError as e:
    st.error(f"B is not a valid configuration ({plain(e)}); showing B = A.")
    cfg_b = cfg_a

link = PAGE.url(cfg_a, B.query())

trace_a, trace_b = run_or_stop(lambda: (run_simulation(cfg_a), run_simulation(cfg_b)), link)

neuron = 0
if cfg_a.neuron_count > 1:
    neuron = st.number_input("neuron", 0, cfg_a.neuron_count - 1, 0, key="compare_neuron")
diverge = neuron_divergence(trace_a.spk, trace_b.spk, neuron)  # the neuron drawn, sample 0
stats_a = spike_stats(trace_a).iloc[neuron]
stats_b = spike_stats(trace_b).iloc[neuron]

m = st.columns(4)
m[0].metric("spikes A", int(stats_a["spike_count"]))
m[1].metric("spikes B", int(stats_b["spike_count"]),
            delta=int(stats_b["spike_count"] - stats_a["spike_count"]) or None)
m[2].metric("first spike divergence", "never" if diverge is None else f"step {diverge}")
m[3].metric("max |U_A − U_B|", f"{neuron_membrane_gap(trace_a.mem, trace_b.mem, neuron):.4g}")
if cfg_a.neuron_count > 1 or cfg_a.batch_size > 1:
    anywhere = first_divergence(trace_a.spk, trace_b.spk)
    st.caption(f"These numbers are neuron {neuron}'s (sample 0). Over all {cfg_a.neuron_count} "
               f"neurons and {cfg_a.batch_size} sample(s) the spikes "
               + ("never differ." if anywhere is None else f"first differ at step {anywhere}."))

tab_overlay, tab_side = st.tabs(["Overlaid", "Side by side"])
with tab_overlay:
    chart(compare_figure(trace_a, trace_b, neuron=neuron), "compare_overlay",
          describe_compare(trace_a, trace_b, neuron))
with tab_side:
    left, right = st.columns(2)
    with left:
        st.markdown("**A**")
        chart(neuron_figure(trace_a, neuron=neuron), "compare_a", "A. " + describe_trace(trace_a, neuron))
    with right:
        st.markdown("**B**")
        chart(neuron_figure(trace_b, neuron=neuron), "compare_b", "B. " + describe_trace(trace_b, neuron))

# ----------------------------------------------------------------------------- gradients
flow_a, flow_b = run_or_stop(lambda: (run_gradient_flow(cfg_a), run_gradient_flow(cfg_b)), link)
if cfg_b.surrogate != cfg_a.surrogate and forward_identical(trace_a, trace_b):
    st.info("B's surrogate only shapes the backward pass: the forward runs (spikes and membranes) "
            "are identical here. " + ("The difference shows in the gradients below."
                                      if gradient_gap(flow_a, flow_b) else
                                      "In this run the gradients are identical too."), icon="ℹ️")
st.header("Gradient norms")
st.caption(gradient_words(cfg_a, flow_a, flow_b))
g = st.columns(4)
g[0].metric("loss A", f"{flow_a.loss:.4g}")
g[1].metric("loss B", f"{flow_b.loss:.4g}")
g[2].metric("‖dL/dU‖ at step 0, A", f"{flow_a.step_norms()[0]:.3g}")
g[3].metric("‖dL/dU‖ at step 0, B", f"{flow_b.step_norms()[0]:.3g}")
chart(gradient_norm_figure({"A": flow_a, "B": flow_b}), "compare_gradients",
      describe_gradient_norms({"A": flow_a, "B": flow_b}))

notices_panel(cfg_a, trace_a)
st.header("Share")
st.markdown(f"Link to this comparison: `{link}`")
