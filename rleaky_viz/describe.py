"""Text alternatives of the charts: what each one shows and its key numbers, from the run.

Every chart of the app has a sentence beside it (``ui.charts.chart``) that a
screen reader reaches and that helps everyone: "Neuron 0 (sample 0), 200
steps: 81 spikes, first at step 3, inter-spike interval 2.45 ± 0.5 steps;
membrane U from -0.1 to 0.98."  Each sentence is computed here from the very
run (trace, gradient flow, sweep table) the chart draws, so it cannot say
what the chart does not show.  Spike counts, first spikes and intervals come
from :mod:`rleaky_viz.statistics` (a spike is any non-zero ``spk``).

These are sentences about behaviour: the README's claims table lists them
and ``tests/test_describe.py`` checks every number against the run over a
grid of settings.

Pure numpy and PyTorch: nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from .config import control
from .statistics import SpikeStats

__all__ = ["num", "neuron_facts", "describe_trace", "describe_breakdown", "describe_population",
           "describe_rate", "describe_grid", "describe_weights", "describe_spectrum",
           "describe_traces", "describe_conv_frames", "describe_rate_map", "describe_surrogates",
           "describe_gradient_norms", "describe_jacobian", "describe_surrogate_trajectory",
           "describe_param_grads", "describe_paths", "describe_distance", "describe_losses",
           "describe_params", "describe_fi", "describe_sweep_map", "describe_compare",
           "describe_mystery"]


def num(v, digits: int = 3) -> str:
    """``v`` with ``digits`` significant digits (``-0`` as ``0``); "–" for NaN."""
    v = float(v)
    if math.isnan(v):
        return "–"
    text = f"{v:.{digits}g}"
    return "0" if text in ("-0", "-0.0") else text


def _array(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _series(x, batch: int, neuron: int) -> np.ndarray:
    """``(T,)`` of one flat neuron of one sample of a ``(T, batch, *shape)`` recording."""
    a = _array(x)
    return a[:, batch].reshape(a.shape[0], -1)[:, neuron]


def _flat(x, batch: int) -> np.ndarray:
    """``(T, neurons)`` of one sample."""
    a = _array(x)
    return a[:, batch].reshape(a.shape[0], -1)


def _spikes(count: int) -> str:
    return "no spikes" if count == 0 else f"{count:,} spike{'s' if count != 1 else ''}"


# ----------------------------------------------------------------------------- one neuron

def neuron_facts(trace, neuron: int = 0, batch: int = 0) -> dict:
    """The numbers :func:`describe_trace` states: steps, spike count, first spike, ISI mean and std
    (ddof=0; NaN with too few spikes), the membrane's range."""
    fired = _series(trace.spk, batch, neuron) != 0
    per = SpikeStats.of(_tensor(fired[:, None])).neurons()
    mem = _series(trace.mem, batch, neuron).astype(np.float64)
    return {"steps": int(fired.shape[0]), "spikes": int(per["spike_count"][0]),
            "first": float(per["first_spike"][0]), "isi_mean": float(per["isi_mean"][0]),
            "isi_std": float(per["isi_std"][0]), "mem_min": float(mem.min()),
            "mem_max": float(mem.max())}


def _tensor(a: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def _firing_words(f: dict) -> str:
    words = _spikes(f["spikes"])
    if f["spikes"] >= 1:
        words += f", first at step {int(f['first'])}" if f["spikes"] > 1 else f", at step {int(f['first'])}"
    if f["spikes"] == 2:
        words += f", one interval of {num(f['isi_mean'])} steps"
    elif f["spikes"] > 2:
        words += f", inter-spike interval {num(f['isi_mean'])} ± {num(f['isi_std'], 2)} steps"
    return words


def _where_largest(values: np.ndarray, unit: str, place=None) -> str:
    """Where ``values`` is largest: its place, or how many share it, or that all are equal."""
    values = np.asarray(values)
    named, place = place is not None, place or str
    top = values.max()
    if top == values.min():
        return f"the same at every {unit}"
    at = np.flatnonzero(values.ravel() == top)
    if at.size == 1:
        return f"at {place(int(at[0]))}" if named else f"at {unit} {place(int(at[0]))}"
    return f"at {at.size} {unit}s, the first {place(int(at[0]))}"


def describe_trace(trace, neuron: int = 0, batch: int = 0) -> str:
    """The neuron chart (input, membrane, spikes): count, first spike, ISI mean ± std, U's range."""
    f = neuron_facts(trace, neuron, batch)
    return (f"Neuron {neuron} (sample {batch}), {f['steps']} steps: {_firing_words(f)}; "
            f"membrane U from {num(f['mem_min'])} to {num(f['mem_max'])}.")


def describe_breakdown(trace, neuron: int = 0, batch: int = 0) -> str:
    """The breakdown chart: each term of U[t] summed over the run (they add up to the sum of U)."""
    leak = _series(trace.leak, batch, neuron).astype(np.float64)
    inp = _series(trace.input, batch, neuron).astype(np.float64)
    rec = _series(trace.recurrent, batch, neuron).astype(np.float64)
    mem = _series(trace.mem, batch, neuron).astype(np.float64)
    reset = mem - (leak + inp + rec)  # what the reset (and quantisation) took away
    # float32 rounding of the recorded terms leaves ~1e-7 of their size: that is no reset
    noise = 1e-5 * (np.abs(leak) + np.abs(inp) + np.abs(rec) + np.abs(mem) + 1.0)
    reset = np.where(np.abs(reset) > noise, reset, 0.0)
    acted = int((reset != 0).sum())
    # with state quantisation the last term also holds what rounding to the levels moved
    term = "reset and quantisation" if trace.config.state_quant_bits else "reset"
    return (f"Terms of U[t] summed over {mem.shape[0]} steps: leak {num(leak.sum())}, input "
            f"{num(inp.sum())}, recurrent {num(rec.sum())}, {term} {num(reset.sum())} "
            f"(non-zero on {acted} steps); U ends at {num(mem[-1])}.")


# ----------------------------------------------------------------------------- many neurons

def _population_stats(trace, batch: int):
    fired = _flat(trace.spk, batch) != 0  # (T, N)
    return fired, SpikeStats.of(_tensor(fired)).neurons()


def describe_population(trace, batch: int = 0) -> str:
    """The raster: total spikes, the rate per neuron, how many neurons fire, first spike, the busiest."""
    fired, per = _population_stats(trace, batch)
    T, N = fired.shape
    count = per["spike_count"]
    total = int(count.sum())
    words = (f"{N:,} neuron{'s' if N != 1 else ''} (sample {batch}), {T:,} steps: {_spikes(total)}"
             f" ({num(total / (T * N))} per neuron per step)")
    if total == 0:
        return words + "."
    first = np.nanmin(per["first_spike"])
    top = int(count.max())
    busiest = np.flatnonzero(count == top)
    who = (f"the busiest, neuron {int(busiest[0])}," if busiest.size == 1 else
           f"the busiest {busiest.size} (the first neuron {int(busiest[0])}) each")
    return (words + f"; {int((count > 0).sum())} of {N:,} neurons fire, the first at step "
            f"{int(first)}; {who} fire{'s' if busiest.size == 1 else ''} {top:,} times.")


def describe_rate(trace, batch: int = 0) -> str:
    """The population rate chart: spikes per step across the neurons (the chart smooths them)."""
    fired = _flat(trace.spk, batch) != 0
    per_step = fired.sum(1)
    return (f"Spikes per step across {fired.shape[1]:,} neurons over {fired.shape[0]:,} steps: "
            f"mean {num(per_step.mean())}, most {int(per_step.max())} "
            f"{_where_largest(per_step, 'step')}, fewest "
            f"{int(per_step.min())} (the chart shows their running mean per neuron).")


def describe_grid(values, what: str, across: str = "neuron") -> str:
    """A heatmap of ``values`` ``(T, N)`` (steps × neurons): its range and where its extremes are."""
    v = np.asarray(_array(values), dtype=np.float64)
    T, N = v.shape
    finite = np.where(np.isfinite(v), v, np.nan)
    if np.isnan(finite).all():
        return f"{what} of {N:,} {across}s over {T:,} steps: no finite value."
    lo = np.unravel_index(np.nanargmin(finite), v.shape)
    hi = np.unravel_index(np.nanargmax(finite), v.shape)
    return (f"{what} of {N:,} {across}{'s' if N != 1 else ''} over {T:,} steps: from "
            f"{num(finite[lo])} ({across} {lo[1]}, step {lo[0]}) to {num(finite[hi])} "
            f"({across} {hi[1]}, step {hi[0]}), mean {num(np.nanmean(finite))}.")


def describe_weights(weight) -> str:
    """The weight matrix: its size, range, mean and zeros."""
    w = np.asarray(_array(weight), dtype=np.float64)
    w = w.reshape(w.shape[0], -1)
    return (f"{w.shape[0]} × {w.shape[1]} recurrent weights (row receives, column sends): from "
            f"{num(w.min())} to {num(w.max())}, mean {num(w.mean())}, {int((w == 0).sum()):,} of "
            f"{w.size:,} zero.")


def describe_spectrum(eigenvalues) -> str:
    """The eigenvalue spectrum: the spectral radius and how many lie outside the unit circle."""
    e = np.asarray(eigenvalues)
    mod = np.abs(e)
    return (f"{e.size:,} eigenvalues of the recurrent weights: spectral radius ρ = max |λ| = "
            f"{num(mod.max(), 4)}; {int((mod > 1).sum())} outside the unit circle, "
            f"{int((np.abs(np.imag(e)) > 1e-12).sum())} complex.")


def describe_traces(trace, chosen: Sequence[int], batch: int = 0, most: int = 5) -> str:
    """The chosen neurons' membranes: each one's spikes and range (the first ``most``)."""
    parts = []
    for n in list(chosen)[:most]:
        f = neuron_facts(trace, int(n), batch)
        parts.append(f"neuron {int(n)}: {_spikes(f['spikes'])}, U from {num(f['mem_min'])} to "
                     f"{num(f['mem_max'])}")
    more = len(chosen) - most
    return ("Membranes over " + f"{trace.num_steps} steps: " + "; ".join(parts)
            + (f"; and {more} more." if more > 0 else "."))


# ----------------------------------------------------------------------------- conv grids

def _channel(trace, channel: int, batch: int) -> np.ndarray:
    spk = _array(trace.spk)  # (T, B, C, H, W)
    return spk[:, batch, channel] != 0


def describe_conv_frames(trace, channel: int = 0, batch: int = 0) -> str:
    """The spike maps: the grid, total spikes, the first step with a spike, the busiest step."""
    fired = _channel(trace, channel, batch)
    T, h, w = fired.shape
    per_step = fired.reshape(T, -1).sum(1)
    words = (f"Channel {channel} (sample {batch}), {h} × {w} = {h * w} neurons over {T} steps: "
             f"{_spikes(int(per_step.sum()))}")
    if per_step.sum() == 0:
        return words + "."
    first = int(np.flatnonzero(per_step)[0])
    return words + (f", the first at step {first}; the most in one step {int(per_step.max())} of "
                    f"{h * w}, {_where_largest(per_step, 'step')}.")


def describe_rate_map(trace, channel: int = 0, batch: int = 0) -> str:
    """The rate map: spikes per step of each cell, its range and the busiest cell."""
    rate = _channel(trace, channel, batch).mean(0)

    def cell(i: int) -> str:
        r, c = np.unravel_index(i, rate.shape)
        return f"row {r}, column {c}"

    return (f"Firing rate of the {rate.shape[0]} × {rate.shape[1]} cells of channel {channel}: "
            f"from {num(rate.min())} to {num(rate.max())} spikes per step (highest "
            f"{_where_largest(rate, 'cell', cell)}), mean {num(rate.mean())}.")


# ----------------------------------------------------------------------------- surrogates

def describe_surrogates(table) -> str:
    """The gallery: each surrogate's largest dS/dz on the chart and where (from ``surrogate_table``)."""
    parts = []
    for label, row in table.iterrows():
        z = row["peak z"]
        where = "on a plateau" if z != z else f"at z = {num(z)}"
        parts.append(f"{label} peaks at {num(row['peak dS/dz'])} {where}, {num(row['z=0'])} at z = 0")
    return ("The forward step H(z) is the same for all; dS/dz: " + "; ".join(parts) + ".")


# ----------------------------------------------------------------------------- gradients

def _norm_words(norms: np.ndarray) -> str:
    return (f"{num(norms[0])} at step 0, {num(norms[-1])} at step {norms.size - 1}, largest "
            f"{num(norms.max())} {_where_largest(norms, 'step')}")


def describe_gradient_norms(flow) -> str:
    """‖dL/dU[t]‖ per step (one flow, or ``{label: flow}`` to compare)."""
    if isinstance(flow, Mapping):
        return "‖dL/dU[t]‖: " + "; ".join(f"{label}: {_norm_words(f.step_norms())}, loss {num(f.loss, 4)}"
                                           for label, f in flow.items()) + "."
    norms = flow.step_norms()
    return f"‖dL/dU[t]‖ over {norms.size} steps: {_norm_words(norms)}; loss {num(flow.loss, 4)}."


def describe_jacobian(flow, neuron: int = 0, batch: int = 0) -> str:
    """|∂U[t+1]/∂U[t]| of one neuron: steps above and below 1, its range, the product over the run."""
    jac = np.abs(_series(flow.jacobian, batch, neuron).astype(np.float64))[:-1]
    with np.errstate(divide="ignore"):
        exponent = float(np.log10(jac).sum())  # the product in float64 under- or overflows
    if not np.isfinite(exponent):
        product = "0" if exponent < 0 else "infinite"
    elif abs(exponent) < 300:
        product = num(10.0 ** exponent)
    else:
        product = f"about 10^{exponent:.0f}"
    return (f"|∂U[t+1]/∂U[t]| of neuron {neuron} over {jac.size} steps: above 1 on "
            f"{int((jac > 1).sum())}, below 1 on {int((jac < 1).sum())}; from {num(jac.min())} to "
            f"{num(jac.max())}; their product {product}.")


def describe_surrogate_trajectory(flow, neuron: int = 0, batch: int = 0) -> str:
    """dS/dz along one neuron's run: range, where it peaks, steps where it is zero."""
    sg = _series(flow.surrogate_grad, batch, neuron).astype(np.float64)
    return (f"Surrogate derivative dS/dz along neuron {neuron}'s {sg.size} steps: from "
            f"{num(sg.min())} to {num(sg.max())} ({_where_largest(sg, 'step')}); exactly 0 on "
            f"{int((sg == 0).sum())} steps, where no gradient passes the spike.")


def describe_param_grads(flow) -> str:
    """The learnable parameters' gradients: the value for one number, the norm for a tensor."""
    parts = []
    for name, g in flow.param_grads.items():
        a = np.asarray(_array(g), dtype=np.float64).reshape(-1)
        parts.append(f"dL/d{name} = {num(a[0])}" if a.size == 1
                     else f"‖dL/d{name}‖ = {num(np.sqrt((a ** 2).sum()))} ({a.size} values)")
    if not parts:
        return "No learnable parameters: no gradient to show."
    return "Gradients: " + ", ".join(parts) + "."


def describe_paths(flow, neuron: int = 0, batch: int = 0) -> str:
    """The path split of one neuron's dL/dU[t]: each path's summed |contribution|."""
    parts = [f"{name.replace('_', ' ')} {num(np.abs(_series(v, batch, neuron)).sum())}"
             for name, v in flow.paths.items()]
    total = np.abs(_series(flow.dL_dmem, batch, neuron)).sum()
    return (f"Summed |contribution| to neuron {neuron}'s dL/dU[t] by path: " + ", ".join(parts)
            + f"; summed |dL/dU[t]| {num(total)}.")


def describe_distance(result: Mapping, parameter: str) -> str:
    """‖dL/dU‖ against the distance from the loss, for each swept value: at 0 steps and furthest back."""
    distance = np.asarray(result["distance"])
    far = int(distance.max())
    parts = []
    for value, norms in result["norms"].items():
        norms = np.asarray(norms, dtype=np.float64)
        parts.append(f"{parameter} = {value:g}: {num(norms[distance == 0][0])} → "
                     f"{num(norms[distance == far][0])}")
    return f"‖dL/dU‖ at the loss → {far} steps back: " + "; ".join(parts) + "."


# ----------------------------------------------------------------------------- training

def describe_losses(losses: Sequence[float]) -> str:
    """The loss curve: first, last, lowest and its epoch."""
    v = np.asarray(list(losses), dtype=np.float64)
    low = int(np.argmin(v))
    return (f"Loss over {v.size} epoch{'s' if v.size != 1 else ''}: from {num(v[0], 4)} to "
            f"{num(v[-1], 4)}, lowest {num(v[low], 4)} at epoch {low}.")


def describe_params(params: Mapping[str, Sequence]) -> str:
    """Each learnable parameter from the first epoch to the last (tensors: their mean)."""
    parts = []
    for name, history in params.items():
        if not len(history):
            continue
        arr = np.stack([np.asarray(_array(h), dtype=np.float64).reshape(-1) for h in history])
        mean = arr.mean(1)
        parts.append(f"{name}{' (mean)' if arr.shape[1] > 1 else ''} from {num(mean[0], 4)} to "
                     f"{num(mean[-1], 4)}")
    return ("Parameters over the epochs: " + "; ".join(parts) + ".") if parts else \
        "No learnable parameters were trained."


# ----------------------------------------------------------------------------- sweeps

def _label(name: str) -> str:
    try:
        return control(name).label
    except (KeyError, ValueError):
        return name.replace("_", " ")


def describe_fi(frame, x: str = "amplitude", by: str = "beta", value: str = "rate") -> str:
    """The f-I curves: for each ``by`` value, the least ``x`` that fires and the largest rate."""
    xs = np.sort(frame[x].unique())
    parts = []
    for key, part in frame.groupby(by, sort=True):
        firing = part[part["spike_count"] > 0]
        onset = (f"fires from {_label(x)} {num(firing[x].min())}" if len(firing)
                 else "never fires")
        parts.append(f"{_label(by)} {num(key)}: {onset}, {value} up to {num(part[value].max())}")
    return (f"{_label(value).capitalize()} against {_label(x)} ({xs.size} values from "
            f"{num(xs.min())} to {num(xs.max())}): " + "; ".join(parts) + ".")


def describe_sweep_map(frame, x: str, y: str, value: str) -> str:
    """A sweep map: the grid, and the count of each regime or the range of ``value`` and its maximum."""
    nx, ny = frame[x].nunique(), frame[y].nunique()
    head = f"{_label(value) if value != 'regime' else 'Regime'} over {ny} × {nx} settings of {_label(y)} and {_label(x)}"
    if value == "regime":
        counts = frame["regime"].value_counts()
        return head + ": " + ", ".join(f"{name} {int(n)}" for name, n in counts.items()) + "."
    v = frame[value].to_numpy(np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return head + f": no point has a value ({len(v)} blank)."
    best = frame.iloc[int(np.nanargmax(np.where(ok, v, np.nan)))]
    blank = int((~ok).sum())
    return (head + f": from {num(np.nanmin(v[ok]))} to {num(best[value])} (highest at "
            f"{_label(y)} {num(best[y])}, {_label(x)} {num(best[x])})"
            + (f"; {blank} blank (too few spikes)." if blank else "."))


# ----------------------------------------------------------------------------- A and B

def describe_compare(trace_a, trace_b, neuron: int = 0, batch: int = 0) -> str:
    """A and B overlaid: each one's spikes, the first step where they differ, max |U_A − U_B|."""
    fa, fb = neuron_facts(trace_a, neuron, batch), neuron_facts(trace_b, neuron, batch)
    sa = _series(trace_a.spk, batch, neuron) != 0
    sb = _series(trace_b.spk, batch, neuron) != 0
    differ = np.flatnonzero(sa != sb)
    gap = np.abs(_series(trace_a.mem, batch, neuron).astype(np.float64)
                 - _series(trace_b.mem, batch, neuron).astype(np.float64)).max()
    when = "the spikes never differ" if differ.size == 0 else f"the spikes first differ at step {int(differ[0])}"
    return (f"Neuron {neuron} (sample {batch}), A: {_firing_words(fa)}; B: {_firing_words(fb)}; "
            f"{when}; largest |U_A − U_B| {num(gap)}.")


def describe_mystery(target, yours) -> str:
    """The mystery chart: the target's and your neuron's spikes, and the membrane RMSE between them."""
    ft, fy = neuron_facts(target), neuron_facts(yours)
    rmse = np.sqrt(np.mean((_series(target.mem, 0, 0).astype(np.float64)
                            - _series(yours.mem, 0, 0).astype(np.float64)) ** 2))
    return (f"Target, {ft['steps']} steps: {_firing_words(ft)}. Yours: {_firing_words(fy)}. "
            f"Membrane RMSE {num(rmse)}.")
