"""Home: what RLeaky is, its update equation for the current setting, and the presets."""
import streamlit as st

from rleaky_viz import PRESETS
from rleaky_viz.navigation import PAGES
from rleaky_viz.explain import gradient_note, update_equations
from rleaky_viz.ui import apply_config, setup_page, sidebar

setup_page("Home", "🏠")
cfg = sidebar(PAGES["home"], ("Neuron",), title="Neuron")

st.title("rleaky-viz: see how a recurrent spiking neuron thinks")
st.markdown(
    "**RLeaky** is snnTorch's recurrent leaky integrate-and-fire neuron. Each time step its "
    "membrane potential *U* keeps a fraction β of its old value, adds the input current and "
    "what its own spikes feed back through a recurrent connection, fires when *U* rises above "
    "the threshold θ, and is then reset (by subtraction or to zero; `reset_mechanism = none` "
    "turns the reset off). Everything you see here comes from a PyTorch core whose spikes equal "
    "those of `snntorch.RLeaky` 1.0.0 and whose membranes and gradients match it to within 1e-5 "
    "(the parity tests check every recurrence, reset and surrogate; the Surrogate gallery lists "
    "where the reference itself misbehaves)."
)

st.header("The update, for the setting in the sidebar")
st.caption(f"reset_mechanism = {cfg.reset_mechanism!r}, reset_delay = {cfg.reset_delay}, "
           f"recurrence = {cfg.recurrence!r}. Change them and the equations follow.")
for line in update_equations(cfg):
    st.latex(line)
st.caption("H is the Heaviside step (strict: U = θ gives no spike). On the way back the spike's "
           "derivative is the surrogate's, here "
           f"`{cfg.surrogate}`; {gradient_note(cfg)}.")

st.header("Presets: one idea each")
st.page_link("pages/10_Lesson.py", icon="🎓",
             label="Teaching? The Lesson page walks through them one by one (add ?present=1 "
                   "to any link for projector-sized type)")
cols = st.columns(3)
for i, preset in enumerate(PRESETS.values()):
    with cols[i % 3].container(border=True):
        st.markdown(f"**{preset.title}**")
        st.caption(preset.idea)
        if st.button("Open", key=f"preset_{preset.name}", width="stretch"):
            apply_config(preset.config, PAGES[preset.page])
            st.switch_page(preset.page_file)
        st.markdown(f"[link]({preset.url()})")
