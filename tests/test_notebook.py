"""The notebook tour (examples/tour.ipynb) runs headless, every cell, as a reader would run it.

nbclient executes it in a fresh ipykernel whose interpreter is this test's own
(``sys.executable``): the kernelspec is written into a temporary folder, so
nothing has to be installed globally (a fresh clone in CI has no kernelspec)
and a ``python`` on PATH from another environment is never picked up.  Any
cell error fails the test (``CellExecutionError`` names the cell and shows
its traceback); a cell that runs too long fails it too.  Then a few outputs
are checked to be really there: the first run's spike count, the table, the
figures as Plotly's own MIME type, the sweep and the gradient flow.

The notebook is stored without outputs; this test never writes it back.
"""
import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

from rleaky_viz import SimConfig, simulate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOUR = ROOT / "examples" / "tour.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
KERNEL = "rleaky-viz-tour"
CELL_TIMEOUT_S = 120  # per cell; the whole tour takes well under a minute on 2 cores


def kernel_manager(folder: Path) -> AsyncKernelManager:
    """A kernel manager whose only kernelspec runs ipykernel under this interpreter."""
    spec = folder / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "rleaky-viz tour (test)",
        "language": "python",
        # no inline matplotlib backend and no history file: nothing the tour needs
        "env": {"MPLBACKEND": "agg", "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    }))
    return AsyncKernelManager(kernel_name=KERNEL,
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(TOUR, as_version=4)
    work = tmp_path_factory.mktemp("tour")
    km = kernel_manager(work / "kernels")
    client = nbclient.NotebookClient(nb, km=km, kernel_name=KERNEL, timeout=CELL_TIMEOUT_S,
                                     allow_errors=False, record_timing=False,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    return nb


def test_tour_is_stored_clean():
    nb = nbformat.read(TOUR, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the tour has no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code), \
        "store examples/tour.ipynb without outputs (Kernel > Restart & Clear Output)"
    # a real tour: prose between the steps
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2


def _text(cell) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


def _cell(nb, needle: str):
    found = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert found, f"no code cell contains {needle!r}"
    return found[0]


def test_every_cell_ran_without_error(executed):
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, cell.source[:60]
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:60]


def test_the_first_run_prints_the_trace_it_made(executed):
    text = _text(_cell(executed, "trace = simulate(cfg)"))
    assert "spikes: (100, 1, 1) (T, batch, neurons)" in text
    expected = simulate(SimConfig(beta=0.9, threshold=1.0, recurrence="none", stimulus="constant",
                                  amplitude=0.3, num_steps=100, seed=0))
    count = int(re.search(r"spike count: (\d+)", text).group(1))
    assert count == int(expected.spk.sum()) > 0


def test_the_table_is_shown(executed):
    cell = _cell(executed, "frame = trace.to_frame()")
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert results and "text/html" in results[0].data  # pandas' table
    assert "surrogate_grad" in results[0].data["text/plain"]


def test_figures_are_inline_plotly_outputs(executed):
    figures = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
               if o.output_type in ("execute_result", "display_data") and PLOTLY_MIME in o.data]
    assert len(figures) >= 5, len(figures)  # neuron, breakdown, raster, f-I, gradient norm
    for out in figures:
        spec = out.data[PLOTLY_MIME]
        assert spec["data"], "a figure without traces"
    fi = _cell(executed, "fi_curve_figure(table")
    names = {t.get("name") for o in fi.outputs if PLOTLY_MIME in o.get("data", {})
             for t in o.data[PLOTLY_MIME]["data"]}
    assert {"β = 0.8", "β = 0.9", "β = 0.95"} <= names


def test_the_sweep_and_the_flow_report_numbers(executed):
    table = _text(_cell(executed, "table = sweep("))
    assert "regular" in table and "silent" in table
    flow = _text(_cell(executed, "flow = gradient_flow("))
    assert re.search(r"loss: \d+\.\d+", flow)
    assert "'direct'" in flow and "dL/dbeta:" in flow


def test_the_nir_cells_export_and_read_back_a_graph(executed):
    refused = _text(_cell(executed, "nir_bytes(SimConfig("))
    assert "reset_mechanism" in refused  # the default setting cannot be written, and says why
    text = _text(_cell(executed, "nir_bytes(nir_cfg)"))
    assert re.search(r"[\d,]+ bytes", text)
    assert "lif: LIF" in text and "edges:" in text
    assert "read back: linear 5 neurons" in text and "same spikes: True" in text
