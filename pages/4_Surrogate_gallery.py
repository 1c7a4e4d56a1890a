"""Surrogate gallery: every spike function's forward step and backward derivative, overlaid."""
import math

import streamlit as st

from rleaky_viz.core.surrogate import REGISTRY, SURROGATES
from rleaky_viz.figures import surrogate_figure, surrogate_oddities, surrogate_table
from rleaky_viz.ui import setup_page
from rleaky_viz.ui.charts import chart
from rleaky_viz.describe import describe_surrogates

DEFAULT = ["atan", "fast_sigmoid", "sigmoid", "triangular"]
Z_LIMITS, Z_DEFAULT = (-10.0, 10.0), (-2.0, 2.0)

setup_page("Surrogate gallery", "📈")


# The view lives in the URL under the widget keys: "gallery" (the names),
# "gallery_<name>_<param>" (changed parameters only), "gallery_z" ("low,high"),
# "gallery_seed", "gallery_zoom".  A widget starts from the URL the first time it
# is drawn and from its default when the URL has nothing valid for it.
def _from_url(key, parse, ok):
    try:
        value = parse(st.query_params[key])
    except (KeyError, ValueError):
        return None
    return value if ok(value) else None


def _start(key, value):
    if key not in st.session_state:
        st.session_state[key] = value


def _floats(text):
    return tuple(float(v) for v in text.split(","))


_start("gallery_surrogates", _from_url(
    "gallery", lambda s: [n for n in s.split(",") if n in SURROGATES], lambda v: True) or DEFAULT)
_start("gallery_z_range", _from_url(
    "gallery_z", _floats,
    lambda v: len(v) == 2 and Z_LIMITS[0] <= v[0] < v[1] <= Z_LIMITS[1]) or Z_DEFAULT)
_start("gallery_seed", _from_url("gallery_seed", int, lambda v: 0 <= v < 2**31) or 0)
_start("gallery_zoom", st.query_params.get("gallery_zoom") == "1")

with st.sidebar:
    st.header("Surrogate gallery")
    names = st.multiselect("Surrogates to overlay", list(SURROGATES), key="gallery_surrogates")
    z_range = st.slider("z range (z = U − θ)", *Z_LIMITS, step=0.1, key="gallery_z_range")
    zoom = st.toggle("Zoom dS/dz to −1.5 … 1.5", key="gallery_zoom",
                     help="spike_rate_escape (peak = slope) and steep sigmoids then go off the "
                          "top, and the surrogates of height 1 can be compared")
    chosen = []
    for name in names:
        params = {}
        if REGISTRY[name].params:
            st.markdown(f"**{name}**")
        for p in REGISTRY[name].params:
            lo, hi, step = p.widget
            key = f"gallery_{name}_{p.name}"
            value = _from_url(key, float, lambda v: math.isfinite(v) and lo <= v <= hi)
            _start(key, p.default if value is None else value)
            params[p.name] = st.number_input(p.name, lo, hi, step=step, key=key, help=p.help)
        chosen.append((name, params))
    seed = 0
    if "SSO" in names:
        seed = st.number_input("SSO noise seed", 0, 2**31 - 1, step=1, key="gallery_seed",
                               help="SSO draws new noise on every backward pass; "
                                    "this fixes one draw")

url = {"gallery": ",".join(names), "gallery_z": f"{z_range[0]:g},{z_range[1]:g}"}
url.update({f"gallery_{n}_{k}": f"{v:g}" for n, p in chosen for k, v in p.items()
            if v != SURROGATES[n][k]})
if seed:
    url["gallery_seed"] = str(seed)
if zoom:
    url["gallery_zoom"] = "1"
st.query_params.from_dict(url)

st.title("Surrogate gallery")
st.markdown(
    "A spike is a step: the neuron fires (S = 1) when its membrane *U* is above the threshold "
    "θ, that is when z = U − θ > 0, and not at z = 0 exactly. The step's true derivative is "
    "zero everywhere except at the threshold, so gradient descent could learn nothing through it. "
    "A **surrogate** keeps the step on the way forward and, on the way back, lets autograd use "
    "a made-up derivative dS/dz instead. So every surrogate spikes identically; only the "
    "gradient differs, and with it what a network learns. Pick one with "
    "`spike_grad=surrogate.fast_sigmoid(slope=25)` (atan is the default)."
)

if not names:
    st.info("Choose at least one surrogate in the sidebar.", icon="👈")
    st.stop()

try:
    fig = surrogate_figure(chosen, z_range=z_range, seed=int(seed),
                           y_range=(-1.5, 1.5) if zoom else None)
    table = surrogate_table(chosen, z_range=z_range, seed=int(seed))
except ValueError as e:
    st.error(str(e), icon="⚠️")
    st.stop()
chart(fig, "gallery_chart", describe_surrogates(table))

st.header("Oddities of the reference")
odd = [(n, note) for n, p in chosen for note in surrogate_oddities(n, p, seed=int(seed))]
for name, note in odd:
    st.markdown(f"- **{name}**: {note}")
plain = [n for n, p in chosen if not surrogate_oddities(n, p)]
if plain:
    st.caption(f"No surprises: {', '.join(plain)} do what their formula says.")

st.header("The numbers")
st.caption("dS/dz at a few z, and the largest value on the chart's grid (peak z is empty when "
           "the largest value is a plateau rather than a single peak).")
st.dataframe(table, width="stretch")
