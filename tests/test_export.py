"""Exports: CSV/Parquet/JSON round trips and the snnTorch code, executed and compared."""
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rleaky_viz import SimConfig, simulate
from rleaky_viz.export import config_json, figure_html, snntorch_code, trace_csv, trace_parquet


def test_csv_and_parquet_hold_the_trace():
    trace = simulate(SimConfig(num_neurons=3, recurrence="linear", num_steps=12))
    from_csv = pd.read_csv(io.BytesIO(trace_csv(trace)))
    from_parquet = pd.read_parquet(io.BytesIO(trace_parquet(trace)))
    assert len(from_csv) == len(from_parquet) == 12 * 3
    assert np.allclose(from_parquet["mem"].to_numpy(), trace.mem[:, 0, :].reshape(-1).numpy())
    assert from_csv["spk"].sum() == trace.spk.sum().item()


def test_config_json_round_trip():
    cfg = SimConfig(beta=0.61, reset_mechanism="zero", seed=99)
    assert SimConfig.from_json(config_json(cfg)) == cfg


def test_figure_html_is_standalone():
    import plotly.graph_objects as go
    html = figure_html(go.Figure(go.Scatter(y=[1, 2, 3])))
    assert "<html>" in html[:200] and "plotly" in html.lower() and len(html) > 100_000


CASES = [
    SimConfig(recurrence="one_to_one", V=0.4, num_steps=80, stimulus="sine", amplitude=0.5),
    SimConfig(recurrence="linear", num_neurons=12, num_steps=60, reset_mechanism="zero",
              reset_delay=False, stimulus="noise", noise_std=0.2, batch_size=2),
    SimConfig(recurrence="conv2d", conv2d_channels=2, grid_size=6, kernel_init="centre_surround",
              num_steps=30, stimulus="noise", noise_std=0.3, amplitude=0.2),
    SimConfig(recurrence="none", num_steps=50, graded_spikes_factor=0.5, reset_delay=False,
              state_quant_bits=6, surrogate="fast_sigmoid", fast_sigmoid_slope=10.0),
    SimConfig(recurrence="linear", num_neurons=6, inhibition=True, input_spread=0.4,
              num_steps=40, surrogate="LSO"),
]


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: c.recurrence)
def test_snntorch_code_reproduces_the_run(cfg, tmp_path):
    pytest.importorskip("snntorch")
    trace = simulate(cfg)
    script = tmp_path / "reproduce.py"
    script.write_text(snntorch_code(trace))
    out = tmp_path / "out.npz"
    run = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    saved = np.load(out)
    assert np.array_equal(saved["spk"], trace.spk.numpy())
    assert np.allclose(saved["mem"], trace.mem.numpy(), atol=1e-5)
    assert f"spikes: {int(trace.spk.count_nonzero())}" in run.stdout
