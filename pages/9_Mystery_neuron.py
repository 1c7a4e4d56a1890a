"""Mystery neuron: find the hidden β, θ and V from the trace they produce."""
import secrets

import streamlit as st

from rleaky_viz.figures import mystery_figure
from rleaky_viz.navigation import PAGES
from rleaky_viz.config import MYSTERY_FIELDS, control
from rleaky_viz.mystery import MYSTERY_BASE, guess_slider, mystery_challenge, mystery_score, perfect_fit
from rleaky_viz.ui import (run_or_stop, run_simulation, setup_page)
from rleaky_viz.ui.charts import chart
from rleaky_viz.describe import describe_mystery

PAGE = PAGES["mystery"]
MAX_SEED = 2**31 - 1


@st.cache_data(max_entries=64, show_spinner=False)
def challenge(seed: int):
    return mystery_challenge(seed)


def _new_challenge() -> None:
    st.session_state["mystery_seed"] = secrets.randbelow(10**6)
    _forget()


def _forget() -> None:
    st.session_state.pop("_mystery_revealed", None)


setup_page("Mystery neuron", "🕵️")
if "mystery_seed" not in st.session_state:  # arrival: the challenge of the link, else number 1
    try:
        st.session_state["mystery_seed"] = min(MAX_SEED, max(0, int(st.query_params.get("challenge", 1))))
    except ValueError:
        st.session_state["mystery_seed"] = 1

st.title("Mystery neuron")
st.markdown("A one-to-one RLeaky neuron with hidden **β**, **θ** and **V** gets the input below. "
            "Move the sliders until your neuron's membrane and spikes match the target's. "
            "Hints: the leak shows in how fast the membrane rises between spikes; a spike comes on "
            "exactly the steps where the membrane exceeds θ, so θ lies between the highest "
            "membrane without a spike and the lowest one with a spike; the step after a spike "
            "loses θ and gains V (a negative V pulls it further down).")

c = st.columns([2, 1, 1])
seed = c[0].number_input("challenge number", 0, MAX_SEED, key="mystery_seed", on_change=_forget)
c[1].button("New challenge", key="mystery_new", on_click=_new_challenge, width="stretch")
reveal = c[2].button("Reveal the answer", key="mystery_reveal", width="stretch")
st.query_params["challenge"] = str(seed)

hidden = challenge(int(seed))
guess = {}
for col, name in zip(st.columns(len(MYSTERY_FIELDS)), MYSTERY_FIELDS):
    lo, hi, step, start = guess_slider(name)
    guess[name] = col.slider(control(name).label, lo, hi, start, step, key=f"mystery_{name}")
guess_cfg = MYSTERY_BASE.replace(**guess)

target, yours = run_or_stop(lambda: (run_simulation(hidden), run_simulation(guess_cfg)),
                            f"/{PAGE.path}?challenge={seed}")

score = mystery_score(target.spk[:, 0, 0], target.mem[:, 0, 0], yours.spk[:, 0, 0], yours.mem[:, 0, 0])
m = st.columns(4)
m[0].metric("score", f"{score['score']:.1f} / 100")
m[1].metric("spike similarity", f"{score['spike_similarity']:.3f}")
m[2].metric("membrane RMSE", f"{score['membrane_rmse']:.4f}")
m[3].metric("spikes: target / yours", f"{int(target.spk.ne(0).sum())} / {int(yours.spk.ne(0).sum())}")
if perfect_fit(score):
    st.success("A perfect fit: same spikes, same membrane.", icon="🎯")
with st.expander("How the score is computed"):
    st.markdown("score = 100 × spike similarity × membrane similarity. Spike "
                "similarity compares the two spike trains smoothed with a 3-step exponential "
                "(1 − the van Rossum distance², normalised); membrane similarity is "
                "1 − RMSE / (range of the target membrane), floored at 0.")

chart(mystery_figure(target, yours), "mystery_traces", describe_mystery(target, yours))

if reveal or st.session_state.get("_mystery_revealed") == seed:
    st.session_state["_mystery_revealed"] = seed
    st.info(f"Challenge {seed}: β = {hidden.beta:g}, θ = {hidden.threshold:g}, V = {hidden.V:g}",
            icon="🔓")
    st.markdown(f"[Open the hidden neuron in the explorer]({PAGES['neuron'].url(hidden)})")
st.caption(f"Share this challenge: `/{PAGE.path}?challenge={seed}`")
