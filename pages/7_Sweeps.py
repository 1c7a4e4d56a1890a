"""Sweeps: how firing depends on β, θ, V and the input, over a whole grid of settings at once."""
import streamlit as st

from rleaky_viz.config import SWEEPABLE, control, field_spec
from rleaky_viz.figures import fi_curve_figure, regime_map_figure, sweep_map_figure
from rleaky_viz.navigation import PAGES
from rleaky_viz.regimes import REGIME_RULES, REGIMES
from rleaky_viz.sweeps import point_config, value_range
from rleaky_viz.theory import fi_caption, fi_theory
from rleaky_viz.ui import (apply_config, run_or_stop,
                           setup_page, sidebar)
from rleaky_viz.ui.runner import run_sweep
from rleaky_viz.ui.charts import chart
from rleaky_viz.describe import describe_fi, describe_sweep_map

PAGE = PAGES["sweeps"]
# An f-I curve: the firing rate against the input amplitude, one curve per β.
FI_X = "amplitude"
FI_BY = "beta"
MAPS = (("regime", "Regime"), ("rate", "Firing rate"), ("isi_cv", "ISI CV"),
        ("first_spike", "First-spike latency"))

setup_page("Sweeps", "🗺️")
cfg = sidebar(PAGE, ("Neuron", "Network", "Stimulus", "Run"),
              title="Sweeps: every other setting", uploads=False)


def axis_controls(column, which: str, default: str, exclude: str | None = None):
    """A field to sweep along one axis, its range and resolution."""
    options = [f for f in SWEEPABLE if f != exclude]
    if st.session_state.get(f"sweeps_{which}") not in (None, *options):
        del st.session_state[f"sweeps_{which}"]  # it was the other axis's new field
    name = column.selectbox(f"{which} axis", options, index=options.index(default),
                            format_func=lambda f: control(f).label, key=f"sweeps_{which}")
    axis = control(name)  # the control's range and step; the schema's starting span
    span = column.slider(f"{axis.label} range", axis.lo, axis.hi, field_spec(name)["sweep"], axis.step,
                         key=f"sweeps_{which}_range_{name}")
    return name, span


st.title("Sweeps")
st.markdown("Every point of a grid of settings runs at once, as one batched simulation: each "
            "grid point is a batch element with its own parameters, and all share the "
            "sidebar's other settings, weights and random input (the swept fields override the "
            "sidebar's values). A point's statistics pool its neurons and samples (one of each by "
            "default).")

# ----------------------------------------------------------------------------- f-I curve
st.header("f-I curves: firing rate against input amplitude")
c = st.columns(4)
fx, fby = control(FI_X), control(FI_BY)  # the fields' own controls give the ranges and steps
amps = c[0].slider(f"{fx.label} range", fx.lo, fx.hi, field_spec(FI_X)["sweep"], fx.step,
                   key="sweeps_fi_amplitude")
n_amps = c[1].slider("amplitudes", 5, 64, 40, key="sweeps_fi_points")
betas = c[2].slider(f"{fby.symbol} range", fby.lo, fby.hi, (0.5, 0.95), fby.step, key="sweeps_fi_beta")
n_betas = c[3].slider(f"curves ({fby.symbol} values)", 1, 8, 5, key="sweeps_fi_curves")
fi_grid = {FI_BY: value_range(*betas, n_betas), FI_X: value_range(*amps, n_amps)}
if cfg.stimulus == "expression":
    st.warning("The stimulus is an expression: its amplitude does nothing, so these curves are flat.")
fi = run_or_stop(lambda: run_sweep(cfg, fi_grid), PAGE.url(cfg), expected=(ValueError,))
fi_exact = fi_theory(cfg, fi_grid[FI_BY], fi_grid[FI_X])
chart(fi_curve_figure(fi, x=FI_X, by=FI_BY, theory=fi_exact), "sweeps_fi",
      describe_fi(fi, x=FI_X, by=FI_BY))
st.caption(fi_caption(cfg))

# ----------------------------------------------------------------------------- 2-D maps
st.header("Maps over two settings")
c = st.columns(3)
x, x_span = axis_controls(c[0], "x", "amplitude")
y, y_span = axis_controls(c[1], "y", "beta" if x != "beta" else "threshold", exclude=x)
resolution = c[2].slider("resolution (values per axis)", 4, 64, 32, key="sweeps_resolution")
grid = {y: value_range(*y_span, resolution), x: value_range(*x_span, resolution)}
if "V" in grid and cfg.recurrence != "one_to_one":
    st.info(f"V is the one-to-one recurrent weight: with recurrence = {cfg.recurrence} it does "
            "nothing, so the maps do not change along it.", icon="ℹ️")
frame = run_or_stop(lambda: run_sweep(cfg, grid), PAGE.url(cfg), expected=(ValueError,))
st.caption(f"{len(frame):,} grid points × {cfg.num_steps:,} steps in "
           f"{frame.attrs['seconds']:.2f} s. Click a cell to open its configuration.")

seen = st.session_state.setdefault("_sweeps_seen", {})
for row_maps in (MAPS[:2], MAPS[2:]):
    for column, (value, _) in zip(st.columns(2), row_maps):
        fig = (regime_map_figure(frame, x, y) if value == "regime"
               else sweep_map_figure(frame, x, y, value))
        key = f"sweeps_map_{value}"
        event = chart(fig, key, describe_sweep_map(frame, x, y, value), where=column,
                      on_select="rerun", selection_mode="points")
        points = [p for p in event.selection.points if p.get("x") is not None]
        signature = repr([(p["x"], p["y"]) for p in points])
        if seen.get(key) != signature:  # this chart was clicked since the last run
            seen[key] = signature
            if points:
                st.session_state["_sweeps_cell"] = {x: points[0]["x"], y: points[0]["y"]}

st.download_button("Sweep table CSV", data=lambda: frame.to_csv(index=False), file_name="sweep.csv",
                   mime="text/csv", key="sweeps_csv", on_click="ignore")
with st.expander("How the regimes are defined"):
    for name in REGIMES:
        st.markdown(f"- **{name}**: {REGIME_RULES[name]}")
    st.caption("Checked in this order: silent, runaway, sparse, regular, irregular. The CV and "
               "ISI std of a point are averages over those of its neurons (and samples) that have "
               "at least 3 spikes; its rate is spikes per step per neuron.")

# ----------------------------------------------------------------------------- the clicked cell
st.header("Selected cell")
cell = st.session_state.get("_sweeps_cell") or {}
match = None
if set(cell) == {x, y}:
    hit = frame[(frame[x] == cell[x]) & (frame[y] == cell[y])]
    match = hit.iloc[0] if len(hit) else None
if match is None:
    st.caption("Click a cell of any map to see its numbers and open it in the explorer.")
else:
    cell_cfg = point_config(cfg, match)
    target = PAGES["conv"] if cell_cfg.recurrence == "conv2d" else PAGES["neuron"]
    link = target.url(cell_cfg)
    first = "never" if match["first_spike"] != match["first_spike"] else f"step {int(match['first_spike'])}"
    st.markdown(f"{control(x).label} = **{match[x]:.4g}**, {control(y).label} = **{match[y]:.4g}**: "
                f"**{match['regime']}**, {int(match['spike_count'])} spikes "
                f"(rate {match['rate']:.3f}), first spike {first}.")
    where = "conv grid" if target is PAGES["conv"] else "neuron explorer"
    st.markdown(f"- [Open this cell in the {where}]({link})\n- Link: `{link}`")
    if st.button(f"Open in the {where}", key="sweeps_open_cell", type="primary"):
        apply_config(cell_cfg, target)
        st.switch_page(target.file)
