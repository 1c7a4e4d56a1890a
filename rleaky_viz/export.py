"""Exports: traces (CSV, Parquet), the config (JSON), figures (HTML), and snnTorch code.

``snntorch_code(trace)`` writes a standalone script that rebuilds the run with
``snntorch.RLeaky`` itself: the same arguments, the same recurrent weights and
the same input (both embedded as base64 float32), stepped in the usual loop.
Run as ``python script.py out.npz`` it saves the spikes and membranes, which
the tests compare with the app's.
"""
from __future__ import annotations

import base64
import io
import pprint

import numpy as np
import plotly.graph_objects as go
import torch

from .config import SimConfig
from .simulate import Trace

__all__ = ["trace_csv", "trace_parquet", "config_json", "figure_html", "snntorch_code"]


def trace_csv(trace: Trace) -> bytes:
    return trace.to_frame().to_csv(index=False).encode()


def trace_parquet(trace: Trace) -> bytes:
    buf = io.BytesIO()
    trace.to_frame().to_parquet(buf, index=False)
    return buf.getvalue()


def config_json(cfg: SimConfig) -> str:
    return cfg.to_json()


def figure_html(fig: go.Figure) -> str:
    # standalone: plotly.js is inlined so the file works offline
    return fig.to_html(include_plotlyjs=True, full_html=True)


def _b64(array) -> str:
    data = np.ascontiguousarray(np.asarray(array, dtype=np.float32)).tobytes()
    return base64.b64encode(data).decode()


def _wrap(text: str) -> str:
    # base64 has no spaces: slice it (textwrap.wrap is quadratic on one long word)
    return "\n".join(f'    "{text[i:i + 76]}"' for i in range(0, len(text), 76)) or '    ""'


def _value(value, typed: float) -> str:
    """Code for the β, θ or V the run used: the typed number, or what a state dict set.

    One value is written as a float (its float32 is the run's exactly); one per
    neuron as a ``torch.tensor`` of floats.
    """
    flat = torch.as_tensor(value).detach().cpu().reshape(-1).to(torch.float32)
    if flat.numel() == 1:
        used = float(flat[0])
        return repr(typed) if used == float(np.float32(typed)) else repr(used)
    return f"torch.tensor({[float(v) for v in flat]!r})"


def _surrogate_code(cfg: SimConfig) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in cfg.surrogate_params.items())
    if cfg.surrogate == "LSO":
        slope = cfg.surrogate_params.get("slope", 0.1)
        # the reference's LSO() raises when called; this is its documented behaviour
        return ("surrogate.custom_surrogate(lambda z, grad, out: grad * out + "
                f"(1 - out) * {slope!r} * grad)")
    return f"surrogate.{cfg.surrogate}({params})"


def snntorch_code(trace: Trace) -> str:
    """A runnable script reproducing ``trace`` with snnTorch (see module docstring)."""
    cfg = trace.config
    x = trace.input.numpy()
    neuron = trace.neuron
    args = [f"beta={_value(neuron.beta, cfg.beta)}",
            f"threshold={_value(neuron.threshold, cfg.threshold)}",
            f"reset_mechanism={cfg.reset_mechanism!r}", f"reset_delay={cfg.reset_delay!r}",
            f"spike_grad={_surrogate_code(cfg)}"]
    if cfg.inhibition:
        args.append("inhibition=True")
    if cfg.state_quant_bits:
        args.append(f"state_quant=quant.state_quant(num_bits={cfg.state_quant_bits}, "
                    f"threshold={cfg.threshold!r})")
    weights = ""
    if cfg.recurrence == "linear":
        args.append(f"linear_features={cfg.num_neurons}")
    elif cfg.recurrence == "conv2d":
        args += [f"conv2d_channels={cfg.conv2d_channels}", f"kernel_size={cfg.kernel_size}"]
    elif cfg.recurrence == "one_to_one":
        args += ["all_to_all=False", f"V={_value(neuron.V, cfg.V)}"]
    else:
        args += ["all_to_all=False", "V=0.0", "learn_recurrent=False"]
    if cfg.recurrence in ("linear", "conv2d"):
        w = trace.neuron.recurrent.weight.detach()
        b = trace.neuron.recurrent.bias.detach()
        weights = (f"W_SHAPE = {tuple(w.shape)}\nW = (\n{_wrap(_b64(w))}\n)\n"
                   f"B = (\n{_wrap(_b64(b))}\n)\n")
    load = ""
    if weights:
        load = ("with torch.no_grad():\n"
                "    layer.recurrent.weight.copy_(decode(W, W_SHAPE))\n"
                "    layer.recurrent.bias.copy_(decode(B, (W_SHAPE[0],)))\n")
    gain = ""
    if cfg.graded_spikes_factor != 1:
        gain = ("# snnTorch's RLeaky has no graded_spikes_factor argument; set its buffer\n"
                f"layer.graded_spikes_factor = torch.tensor({cfg.graded_spikes_factor!r})\n")
    arg_text = ",\n    ".join(args)
    # User text (an expression, say) reaches the script only inside this literal,
    # written by repr(): never in the docstring, a comment or code of its own.
    config_literal = pprint.pformat(cfg.to_query(), width=88, sort_dicts=False)
    return f'''"""Reproduces an rleaky-viz run with snnTorch 1.0.0.

CONFIG below holds the settings that differ from rleaky-viz's defaults.
Run: python this_file.py [out.npz]   (saves spk and mem of shape {tuple(trace.spk.shape)})
"""
import base64
import sys

import numpy as np
import torch
import snntorch as snn
from snntorch import surrogate
from snntorch.functional import quant

CONFIG = {config_literal}


def decode(text, shape):
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.float32).copy()).reshape(shape)


X_SHAPE = {tuple(x.shape)}  # (T, batch, *neurons)
X = (
{_wrap(_b64(x))}
)
{weights}
layer = snn.RLeaky(
    {arg_text},
)
{gain}{load}
x = decode(X, X_SHAPE)
spk, mem = layer.init_rleaky()
spk_rec, mem_rec = [], []
with torch.no_grad():
    for step in range(x.shape[0]):
        spk, mem = layer(x[step], spk, mem)
        spk_rec.append(spk)
        mem_rec.append(mem)
spk_rec = torch.stack(spk_rec)
mem_rec = torch.stack(mem_rec)
print("spikes:", int(spk_rec.count_nonzero()), "of", spk_rec.numel())
if len(sys.argv) > 1:
    np.savez(sys.argv[1], spk=spk_rec.numpy(), mem=mem_rec.numpy())
'''
