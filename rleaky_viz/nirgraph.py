"""NIR, the neuromorphic exchange format: a config's layer as a NIR graph, and a NIR graph as a config.

A recurrent LIF layer in NIR is four nodes and four edges::

    input -> lif -> output          lif -> w_rec -> lif   (the recurrent edge)

``lif`` is a ``nir.LIF`` (continuous time: ``tau dv/dt = (v_leak - v) + r I``,
a spike where ``v > v_threshold``, then ``v = v_reset``) and ``w_rec`` a
``nir.Linear`` (one-to-one: a diagonal of V) or a ``nir.Affine`` (a dense
layer: W and its bias b).  A layer without recurrence has no ``w_rec``.

The step is the one snnTorch 1.0.0 uses in ``export_to_nir`` and
``import_from_nir``, so files move between the two exactly: forward Euler
over ``DT`` seconds, ``v[t] = (1 - DT/tau) v[t-1] + (r DT/tau) I[t]``; hence
``beta = 1 - DT/tau`` (``tau = DT/(1 - beta)``), ``r = tau/DT`` (the input
enters with weight 1), ``v_leak = v_reset = 0`` and ``v_threshold = theta``.
Reading, a graph whose input weight ``r DT/tau`` is not 1 keeps its voltages:
the recurrent weights are scaled by it, and the stimulus is the input as it
enters the membrane.  The README ("NIR") gives the whole mapping.

What NIR's LIF cannot hold is refused at export with the field that holds
it (:func:`export_refusal`); what is not part of the layer (the stimulus,
the surrogate and the ``learn_*`` flags, which only shape training) is not
carried.  Reading untrusted files: :func:`read_graph` has the HDF5 file opened
in a child process with its own memory and time limits (``hdf5_reader``),
bounded, and accepts only the datasets a NIR graph holds (numbers and short
strings, stored in the file, no links to elsewhere, no oversized chunks);
nothing in the file is unpickled or evaluated.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
import torch

from .config import SimConfig, field_spec
# the reader's bounds, checked in its child process (hdf5_reader: a crafted file can hang
# libhdf5 or inflate a chunk to gigabytes, so the server never opens one itself)
from .hdf5_reader import (HDF5_SIGNATURE as _HDF5_SIGNATURE, MAX_DEPTH as _MAX_DEPTH,
                          MAX_EDGES as _MAX_EDGES, ReadError as _ReadError, short_name as _short_name)

__all__ = ["DT", "MAX_NIR_BYTES", "NIRImportError", "NIRExportError", "export_refusal",
           "nir_export_bytes", "to_nir",
           "nir_bytes", "write_nir", "from_nir", "read_graph", "state_dict_bytes", "describe_import"]

DT = 1e-4  # seconds per step: snnTorch 1.0.0 writes and reads NIR with this Δt
MAX_NIR_BYTES = 20 * 2**20  # as a state dict: a 1,000-neuron dense layer is 8 MB of float64
# the layer's node types; any other is named in the message
_LAYER_KINDS = ("Input", "Output", "LIF", "Affine", "Linear")

Source = Union[bytes, bytearray, memoryview, str, os.PathLike, "nir.NIRGraph"]  # noqa: F821


class NIRImportError(ValueError):
    """A NIR graph that cannot be opened here; the message names the node or parameter."""


class NIRExportError(ValueError):
    """A config whose layer NIR's LIF cannot hold; the message names the field."""


# ----------------------------------------------------------------------------- export
def export_refusal(cfg: SimConfig, neuron=None) -> Optional[str]:
    """Why ``cfg``'s layer cannot be written as a NIR graph, naming the field; None if it can.

    With ``neuron`` (the run's), its own β is checked too (a state dict may
    hold one β per neuron).
    """
    if cfg.recurrence == "conv2d":
        return ("recurrence=conv2d: a NIR recurrent LIF layer here is dense (an Affine or Linear "
                "edge, as snnTorch exports it); choose one_to_one, linear or none")
    if cfg.reset_mechanism != "zero":
        return (f"reset_mechanism={cfg.reset_mechanism}: NIR's LIF sets the membrane to v_reset "
                "after a spike, which is reset_mechanism=zero")
    if cfg.reset_delay:
        return ("reset_delay=True: NIR's LIF resets in the step of the spike, which is "
                "reset_delay=False")
    if cfg.inhibition:
        return "inhibition=True: NIR's LIF has no winner-take-all between neurons"
    if cfg.graded_spikes_factor != 1:
        return (f"graded_spikes_factor={cfg.graded_spikes_factor:g}: NIR's LIF emits spikes of "
                "size 1")
    if cfg.state_quant_bits:
        return f"state_quant_bits={cfg.state_quant_bits}: NIR's LIF has no quantised membrane"
    beta = _effective_beta(neuron) if neuron is not None else np.array([cfg.beta])
    if (np.clip(beta, 0.0, 1.0) >= 1.0).any():
        shown = float(cfg.beta) if neuron is None else float(np.max(beta))
        return (f"beta={shown:g}: with β ≥ 1 (clamped to 1, no leak) the time constant "
                "τ = Δt/(1-β) is infinite; NIR's LIF needs a finite τ")
    return None


def nir_export_bytes(cfg: SimConfig) -> int:
    """An upper bound of what writing ``cfg``'s graph allocates: the layer in float32 and a
    few float64 copies of its weights (the graph, h5py's buffers, the file), plus 16 MB."""
    # a one-to-one layer is written as the diagonal of an n x n matrix too
    weights = cfg.num_neurons ** 2 if cfg.recurrence != "none" else cfg.num_neurons
    return 16 * 2**20 + 64 * weights


def _effective_beta(neuron) -> np.ndarray:
    # the step clamps β to [0, 1] (float32, as the run): that is what the file must hold
    return torch.clamp(neuron.beta.detach().to(torch.float32), 0.0, 1.0).double().numpy()


def to_nir(cfg: SimConfig, state_dict: Optional[Mapping[str, torch.Tensor]] = None, *,
           neuron=None):
    """The layer ``cfg`` builds (its seeded weights, or ``state_dict``'s) as a ``nir.NIRGraph``.

    ``neuron`` (instead of ``state_dict``): a neuron this program built for
    ``cfg``, such as ``trace.neuron``, written as it is.  Raises
    :class:`NIRExportError` naming the field NIR cannot hold (and a
    ``StateDictError`` for a state dict that does not fit ``cfg``).
    """
    import nir

    from .simulate import build_neuron

    refusal = export_refusal(cfg)
    if refusal:
        raise NIRExportError(f"cannot write a NIR graph: {refusal}")
    if neuron is None:
        neuron = build_neuron(cfg, state_dict)
    refusal = export_refusal(cfg, neuron)
    if refusal:
        raise NIRExportError(f"cannot write a NIR graph: {refusal}")
    n = cfg.num_neurons
    ones = np.ones(n)
    beta = _effective_beta(neuron) * ones
    tau = DT / (1.0 - beta)
    theta = neuron.threshold.detach().to(torch.float32).double().numpy() * ones
    nodes = {
        "input": nir.Input(input_type=np.array([n])),
        "lif": nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=theta,
                       v_reset=np.zeros(n)),
        "output": nir.Output(output_type=np.array([n])),
    }
    edges = [("input", "lif"), ("lif", "output")]
    if cfg.recurrence == "linear":
        layer = neuron.recurrent
        nodes["w_rec"] = nir.Affine(weight=layer.weight.detach().double().numpy(),
                                    bias=layer.bias.detach().double().numpy())
    elif cfg.recurrence == "one_to_one":
        V = neuron.V.detach().to(torch.float32).double().numpy() * ones
        nodes["w_rec"] = nir.Linear(weight=np.diag(V))
    if "w_rec" in nodes:
        edges += [("lif", "w_rec"), ("w_rec", "lif")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def nir_bytes(cfg: SimConfig, state_dict: Optional[Mapping[str, torch.Tensor]] = None, *,
              neuron=None) -> bytes:
    """:func:`to_nir` as the content of a ``.nir`` file (HDF5, as ``nir.write`` writes it)."""
    import nir

    buffer = io.BytesIO()
    nir.write(buffer, to_nir(cfg, state_dict, neuron=neuron))
    return buffer.getvalue()


def write_nir(cfg: SimConfig, path: Union[str, os.PathLike],
              state_dict: Optional[Mapping[str, torch.Tensor]] = None) -> None:
    """Write :func:`to_nir` of ``cfg`` to ``path`` (a ``.nir`` file)."""
    Path(path).write_bytes(nir_bytes(cfg, state_dict))


# ----------------------------------------------------------------------------- reading files
@dataclass
class _Node:
    """A node as read: its NIR type name and its arrays (``nodes``/``edges`` for a subgraph)."""

    kind: str
    params: dict = field(default_factory=dict)
    nodes: Optional[dict] = None
    edges: Optional[list] = None


def _fail(message: str) -> NIRImportError:
    return NIRImportError(f"NIR file: {message}")


def _node_from_dict(name: str, data, depth: int) -> _Node:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise NIRImportError(f"NIR node {_short_name(name)} has no type")
    kind = data["type"]
    if kind == "NIRGraph":
        return _graph_from_dict(data, depth + 1, where=f"subgraph {_short_name(name)}")
    params = {k: v for k, v in data.items() if k != "type" and isinstance(v, np.ndarray)}
    return _Node(kind, params)


def _graph_from_dict(data: dict, depth: int = 0, where: str = "the graph") -> _Node:
    if not isinstance(data.get("nodes"), dict) or "edges" not in data:
        raise _fail(f"{where} has no nodes and edges: it is not a NIR graph")
    if data.get("type") != "NIRGraph":
        kind = data.get("type")
        raise _fail(f"{where} has no type; a NIR file's top node is a NIRGraph" if kind is None
                    else f"{where} is a {kind!s:.40}, not a NIRGraph")
    edges = np.asarray(data["edges"], dtype=object)
    if edges.size == 0:
        edges = edges.reshape(0, 2)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise _fail(f"the edges of {where} must be pairs of node names")
    if len(edges) > _MAX_EDGES:
        raise _fail(f"{where} has {len(edges)} edges; a recurrent LIF layer has 4")
    nodes = {name: _node_from_dict(name, node, depth) for name, node in data["nodes"].items()}
    return _Node("NIRGraph", nodes=nodes, edges=[(str(a), str(b)) for a, b in edges])


def read_graph(data: bytes) -> _Node:
    """The graph in a ``.nir`` file's bytes, read bounded and checked (not a ``nir.NIRGraph``):
    in a child process with its own memory and time limits (:mod:`rleaky_viz.hdf5_reader`)."""
    from . import hdf5_reader
    from .service import upload_bytes

    data = upload_bytes(data, MAX_NIR_BYTES, "NIR file", NIRImportError)
    if not data.startswith(_HDF5_SIGNATURE):
        raise _fail("the file is not HDF5, the format nir.write writes (.nir)")
    try:
        content = hdf5_reader.read(data, field_spec("num_neurons")["hi"])
    except _ReadError as e:
        raise _fail(str(e)) from None
    return _graph_from_dict(content)


def _from_nir_object(node, depth: int = 0) -> _Node:
    """A ``nir`` node object (a graph someone built in Python) as the reader's nodes."""
    import nir

    if depth > _MAX_DEPTH:
        raise NIRImportError(f"the NIR graph is nested more than {_MAX_DEPTH} levels deep")
    kind = type(node).__name__
    if isinstance(node, nir.NIRGraph):
        return _Node("NIRGraph", nodes={str(k): _from_nir_object(v, depth + 1)
                                         for k, v in node.nodes.items()},
                     edges=[(str(a), str(b)) for a, b in node.edges])
    params = {}
    if isinstance(node, nir.Input):
        params["shape"] = np.asarray(node.input_type["input"])
    elif isinstance(node, nir.Output):
        params["shape"] = np.asarray(node.output_type["output"])
    else:
        for name in ("tau", "r", "v_leak", "v_threshold", "v_reset", "weight", "bias"):
            value = getattr(node, name, None)
            if value is not None:
                params[name] = np.asarray(value)
    return _Node(kind, params)


# ----------------------------------------------------------------------------- interpreting
_WHY_NOT = {
    "CubaLIF": "a current-based LIF (a synaptic current as well as a membrane): that is "
               "snnTorch's RSynaptic, not RLeaky",
    "IF": "an integrate-and-fire neuron without leak (β = 1): NIR's LIF with a finite τ is needed",
    "LI": "a leaky integrator that never spikes",
    "CubaLI": "a current-based leaky integrator that never spikes",
    "I": "an integrator that never spikes",
    "Conv1d": "a convolution: the layer's recurrent edge must be an Affine or Linear",
    "Conv2d": "a convolution: the layer's recurrent edge must be an Affine or Linear",
    "NIRGraph": "a subgraph: the recurrent LIF layer must be at the top of the graph, as "
                "snnTorch's export_to_nir and this program write it",
}
_SHAPE = ("a LIF with its recurrent edge: input -> lif -> output, lif -> w_rec -> lif (w_rec an "
          "Affine or Linear; without w_rec the layer has no recurrence)")


def _unsupported(name: str, node: _Node) -> NIRImportError:
    kind = node.kind[:40]
    why = _WHY_NOT.get(kind, "a node of a type this program does not run")
    return NIRImportError(f"NIR node {_short_name(name)} ({kind}) is {why}; this program opens "
                          f"{_SHAPE}")


def _float_param(node_name: str, node: _Node, key: str, n: Optional[int],
                 required: bool = True) -> Optional[np.ndarray]:
    where = f"NIR node {_short_name(node_name)} parameter {key!r}"
    if key not in node.params:
        if required:
            raise NIRImportError(f"{where} is missing")
        return None
    value = np.asarray(node.params[key])
    if value.dtype.kind not in "fiub":
        raise NIRImportError(f"{where} must hold numbers")
    if value.dtype.kind != "f":
        value = value.astype(np.float64)
    if n is not None and value.shape not in ((), (1,), (n,)):
        raise NIRImportError(f"{where} has shape {value.shape}; the layer has {n} neurons, so it "
                             f"must have shape ({n},) (or one value)")
    if not np.isfinite(value).all():
        raise NIRImportError(f"{where} must hold finite numbers")
    return value


def _size_of(name: str, node: _Node) -> Optional[int]:
    shape = node.params.get("shape")
    if shape is None:
        return None
    shape = np.asarray(shape).reshape(-1)
    if shape.dtype.kind not in "iu" or len(shape) != 1 or int(shape[0]) < 1:
        raise NIRImportError(f"NIR node {_short_name(name)} must be one vector of neurons: its "
                             f"shape one whole number of at least 1, got {shape.tolist()[:4]}"
                             + (f" ({shape.dtype} values)" if shape.dtype.kind not in "iu" else ""))
    return int(shape[0])


def _is_identity(node: _Node) -> bool:
    w = np.asarray(node.params.get("weight", np.zeros((0, 0))))
    b = np.asarray(node.params.get("bias", np.zeros(w.shape[:1])))
    return (w.ndim == 2 and w.shape[0] == w.shape[1] and np.array_equal(w, np.eye(w.shape[0]))
            and b.shape == (w.shape[0],) and not b.any())


def _bounds(name: str) -> tuple[float, float]:
    spec = field_spec(name)
    return spec["lo"], spec["hi"]


def _snap(value) -> float:
    # the shortest decimal that is this float32 (runs compute in float32): 0.9, not 0.8999999762
    return float(str(np.float32(value)))


def _interpret(graph: _Node) -> tuple[SimConfig, dict]:
    from .simulate import MAX_UPLOADED_WEIGHT

    if graph.kind != "NIRGraph":
        raise NIRImportError(f"a NIR file holds a graph; this one holds a {graph.kind[:40]!r}")
    nodes, edges = graph.nodes, graph.edges
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise NIRImportError(f"a NIR edge names node {_short_name(end)}, which the graph "
                                     "does not have")
    for name, node in nodes.items():
        if node.kind not in _LAYER_KINDS:
            raise _unsupported(name, node)
    lifs = [k for k, v in nodes.items() if v.kind == "LIF"]
    inputs = [k for k, v in nodes.items() if v.kind == "Input"]
    outputs = [k for k, v in nodes.items() if v.kind == "Output"]
    if not lifs:
        raise NIRImportError(f"the NIR graph has no LIF node; this program opens {_SHAPE}")
    if len(lifs) > 1:
        raise NIRImportError(f"the NIR graph has {len(lifs)} LIF layers ({', '.join(map(_short_name, lifs[:4]))}); "
                             "this program opens one recurrent LIF layer")
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRImportError("the NIR graph must have one Input and one Output node; it has "
                             f"{len(inputs)} and {len(outputs)}")
    lif, source, sink = lifs[0], inputs[0], outputs[0]
    into = lambda k: [a for a, b in edges if b == k]  # noqa: E731
    out_of = lambda k: [b for a, b in edges if a == k]  # noqa: E731
    if lif in out_of(lif):
        raise NIRImportError(f"NIR node {_short_name(lif)} feeds itself directly; its recurrence "
                             "must go through an Affine or Linear edge (w_rec)")
    if len(set(edges)) != len(edges):
        raise NIRImportError("the NIR graph lists an edge twice")
    # the recurrent edge: a weight node that the LIF feeds and that feeds only the LIF
    loops = [k for k in out_of(lif) if nodes[k].kind in ("Affine", "Linear") and into(k) == [lif]
             and out_of(k) == [lif]]
    if len(loops) > 1:
        raise NIRImportError(f"NIR node {_short_name(lif)} has {len(loops)} recurrent edges; one is "
                             "allowed")
    w_rec = loops[0] if loops else None
    if sink not in out_of(lif):
        raise NIRImportError(f"NIR node {_short_name(lif)} must feed the Output node "
                             f"{_short_name(sink)}; no edge goes from it to the Output")
    extra = [k for k in out_of(lif) if k not in (sink, w_rec)]
    if extra:
        raise NIRImportError(f"NIR node {_short_name(lif)} must feed the Output (and its recurrent "
                             f"edge) only; it also feeds {', '.join(map(_short_name, extra))}")
    if into(sink) != [lif]:
        raise NIRImportError(f"the Output node {_short_name(sink)} must receive the LIF layer's "
                             "spikes only")
    # from the Input to the LIF: directly, or through weight nodes that pass the input unchanged
    chain, here = [], source
    while True:
        nxt = out_of(here)
        if len(nxt) != 1:
            raise NIRImportError(f"NIR node {_short_name(here)} must lead to the LIF layer alone; "
                                 f"it feeds {len(nxt)} nodes")
        here = nxt[0]
        if here == lif:
            break
        node = nodes[here]
        if node.kind not in ("Affine", "Linear") or into(here) != [chain[-1] if chain else source]:
            raise NIRImportError(f"NIR node {_short_name(here)} between the Input and the LIF "
                                 "cannot be represented: the layer is driven by this program's "
                                 "stimulus")
        if not _is_identity(node):
            raise NIRImportError(f"NIR node {_short_name(here)} ({node.kind}) weights the input "
                                 "before the LIF layer: only an identity (weight I, bias 0) can "
                                 "be represented, since the stimulus drives the layer directly")
        chain.append(here)
        if len(chain) > 8:
            raise NIRImportError("the path from the Input to the LIF layer is too long")
    lif_into = sorted(into(lif))
    if lif_into != sorted([chain[-1] if chain else source] + ([w_rec] if w_rec else [])):
        raise NIRImportError(f"NIR node {_short_name(lif)} receives input from nodes that are "
                             "neither the Input nor its recurrent edge")
    used = {source, sink, lif, *chain, *([w_rec] if w_rec else [])}
    spare = [k for k in nodes if k not in used]
    if spare:
        raise NIRImportError(f"NIR node {_short_name(spare[0])} is not part of the recurrent LIF "
                             f"layer; this program opens {_SHAPE}")

    # ---- the size of the layer
    node = nodes[lif]
    sizes = {k: s for k in (source, sink) if (s := _size_of(k, nodes[k])) is not None}
    # an identity between the Input and the LIF passes as many neurons as its matrix has
    sizes.update({k: int(np.asarray(nodes[k].params["weight"]).shape[0]) for k in chain})
    n = None
    if w_rec is not None:
        w = nodes[w_rec].params.get("weight")
        if w is None or np.asarray(w).ndim != 2 or np.asarray(w).shape[0] != np.asarray(w).shape[1]:
            raise NIRImportError(f"NIR node {_short_name(w_rec)} parameter 'weight' must be a "
                                 "square matrix (neurons × neurons)")
        n = int(np.asarray(w).shape[0])
        if n == 0:
            raise NIRImportError(f"NIR node {_short_name(w_rec)} parameter 'weight' has shape "
                                 "(0, 0); it must be neurons × neurons, at least 1 × 1")
    for key in ("tau", "v_threshold"):
        shape = np.shape(node.params.get(key, ()))
        if n is None and len(shape) == 1 and shape[0] > 1:
            n = int(shape[0])
    n = n or next(iter(sizes.values()), 1)
    for k, s in sizes.items():
        if s != n:
            raise NIRImportError(f"NIR node {_short_name(k)} has {s} neurons; the LIF layer has {n}")
    lo, hi = _bounds("num_neurons")
    if not lo <= n <= hi:
        raise NIRImportError(f"NIR node {_short_name(lif)} has {n:,} neurons; this program runs "
                             f"between {lo} and {hi:,}")

    # ---- the LIF's parameters
    tau = _float_param(lif, node, "tau", n)
    r = _float_param(lif, node, "r", n)
    v_leak = _float_param(lif, node, "v_leak", n)
    v_reset = _float_param(lif, node, "v_reset", n, required=False)
    theta = _float_param(lif, node, "v_threshold", n)
    where = f"NIR node {_short_name(lif)} parameter"
    if (tau <= 0).any():
        raise NIRImportError(f"{where} 'tau' must be positive (a time constant in seconds)")
    if v_leak.any():
        raise NIRImportError(f"{where} 'v_leak' must be 0: RLeaky's membrane rests at 0 (got "
                             f"{float(np.ravel(v_leak)[np.argmax(np.ravel(v_leak) != 0)]):g})")
    if v_reset is not None and v_reset.any():
        raise NIRImportError(f"{where} 'v_reset' must be 0: the zero reset sets the membrane to 0 "
                             f"(got {float(np.ravel(v_reset)[np.argmax(np.ravel(v_reset) != 0)]):g})")
    # β as snnTorch's import_from_nir computes it, in the file's own precision
    beta = 1 - (DT / tau)
    scale = r * DT / tau  # the weight of the input in one Euler step
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise NIRImportError(f"{where} 'r' must be positive, and the weight r·Δt/τ with which the "
                             "input enters each step a finite number above 0 (here it is "
                             f"{float(np.ravel(scale)[np.argmax(~(np.isfinite(np.ravel(scale)) & (np.ravel(scale) > 0)))]):g})")
    lo, hi = _bounds("beta")
    if (beta < lo).any():
        raise NIRImportError(f"{where} 'tau' is below Δt/2 = {DT / 2:g} s somewhere: β = 1 − Δt/τ "
                             f"must be at least {lo:g} (Δt = {DT:g} s, as snnTorch reads NIR)")
    lo, hi = _bounds("threshold")
    theta32 = np.asarray(theta, dtype=np.float32)
    outside = np.ravel((theta32 < np.float32(lo)) | (theta32 > np.float32(hi)))
    if outside.any():
        k = int(np.argmax(outside))
        raise NIRImportError(f"{where} 'v_threshold' must lie between {lo:g} and {hi:g} (the "
                             f"threshold control's range); it holds {float(np.ravel(theta)[k]):g}"
                             + (f" (neuron {k})" if np.size(theta) > 1 else "")
                             + (f"; its values span {float(np.min(theta)):g} … "
                                f"{float(np.max(theta)):g}" if np.size(theta) > 1 else ""))
    beta_n, theta_n, scale_n = (np.broadcast_to(a, (n,)) for a in (beta, theta, scale))

    # ---- the recurrent edge
    weight = bias = None
    if w_rec is not None:
        rec = nodes[w_rec]
        weight = _float_param(w_rec, rec, "weight", None)
        bias = (_float_param(w_rec, rec, "bias", None) if rec.kind == "Affine"
                else np.zeros(n))
        if bias.shape != (n,):
            raise NIRImportError(f"NIR node {_short_name(w_rec)} parameter 'bias' has shape "
                                 f"{bias.shape}; it must have shape ({n},)")
        # the recurrent current enters the membrane like any input: scaled by r·Δt/τ
        weight = weight * scale_n[:, None]
        bias = bias * scale_n
        w32 = np.asarray(weight, dtype=np.float32)
        b32 = np.asarray(bias, dtype=np.float32)
        if not (np.isfinite(w32).all() and np.isfinite(b32).all()) or \
                max(np.abs(w32).max(initial=0), np.abs(b32).max(initial=0)) > MAX_UPLOADED_WEIGHT:
            raise NIRImportError(f"NIR node {_short_name(w_rec)} holds weights beyond "
                                 f"±{MAX_UPLOADED_WEIGHT:g} (after the input scale r·Δt/τ)")
    uniform = lambda a: bool((a == a[0]).all())  # noqa: E731
    diagonal = weight is not None and np.array_equal(weight, np.diag(np.diag(weight))) \
        and not bias.any()
    V = np.diag(weight) if diagonal else None
    lo, hi = _bounds("V")
    one_to_one = (weight is None or (diagonal and uniform(np.asarray(V, dtype=np.float32))
                                     and lo <= float(np.float32(V[0])) <= hi))
    one_to_one = one_to_one and uniform(np.asarray(beta_n, dtype=np.float32)) \
        and uniform(np.asarray(theta_n, dtype=np.float32))
    settings = dict(num_neurons=n, beta=_snap(beta_n[0]), threshold=_snap(theta_n[0]),
                    reset_mechanism="zero", reset_delay=False)
    state: dict = {}
    if one_to_one and weight is None:
        settings["recurrence"] = "none"
    elif one_to_one:
        settings.update(recurrence="one_to_one", V=_snap(V[0]))
    else:
        # a dense layer; a one-to-one layer whose V, β or θ differ between neurons is a diagonal
        # W with bias 0, which gives the same membranes (0·S adds exact zeros)
        if weight is None:
            weight, bias = np.zeros((n, n)), np.zeros(n)
        settings.update(recurrence="linear", weight_init="state_dict")
        state["recurrent.weight"] = torch.from_numpy(np.asarray(weight, dtype=np.float32).copy())
        state["recurrent.bias"] = torch.from_numpy(np.asarray(bias, dtype=np.float32).copy())
        for key, values in (("beta", beta_n), ("threshold", theta_n)):  # state-dict keys, not config fields
            if not uniform(np.asarray(values, dtype=np.float32)):
                state[key] = torch.from_numpy(np.asarray(values, dtype=np.float32).copy())
    try:
        cfg = SimConfig(**settings)
    except ValueError as e:  # a bound the checks above did not state
        raise NIRImportError(f"NIR node {_short_name(lif)}: {e}") from None
    return cfg, state


def from_nir(source: Source) -> tuple[SimConfig, dict]:
    """A config and the state dict to run it with, from a NIR graph (bytes, a path or a graph).

    The state dict holds what the config cannot: a dense layer's weights and
    bias, and β or θ where they differ between neurons; it is empty for a
    one-to-one or a plain layer.  Give it to ``simulate(cfg, state_dict=...)``
    or, as the app and the command line do, to the run service as the
    uploaded state dict (:func:`state_dict_bytes`).  Raises
    :class:`NIRImportError` naming the node or parameter that cannot be
    represented.
    """
    import nir

    if isinstance(source, nir.NIRNode):
        return _interpret(_from_nir_object(source))
    if isinstance(source, (str, os.PathLike)):
        from .service import UploadError, read_bounded

        try:
            source = read_bounded(source, MAX_NIR_BYTES, "NIR file")
        except UploadError as e:
            raise NIRImportError(str(e)) from None
    return _interpret(read_graph(source))


def state_dict_bytes(state: Mapping[str, torch.Tensor]) -> bytes:
    """``state`` as the bytes of a ``.pt`` file, for the run service's state-dict upload."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    return buffer.getvalue()


def describe_import(cfg: SimConfig, state: Mapping[str, torch.Tensor]) -> str:
    """What an imported graph became, in one paragraph (shown after an upload)."""
    kind = {"none": "no recurrence (the graph has no recurrent edge)",
            "one_to_one": f"one-to-one recurrence V = {cfg.V:g}",
            "linear": "a dense recurrence W·S[t-1] + b with the file's weights"}[cfg.recurrence]
    per_neuron = [name for name in ("beta", "threshold") if name in state]  # state-dict keys, not config fields
    extra = (f"; {' and '.join('β' if p == 'beta' else 'θ' for p in per_neuron)} differ between "
             "neurons and come from the file (the sidebar's value is not used)") if per_neuron else ""
    return (f"{cfg.num_neurons} neuron{'s' if cfg.num_neurons > 1 else ''}, {kind}, "
            f"β = {cfg.beta:g}, θ = {cfg.threshold:g}{extra}. NIR's LIF resets to 0 in the "
            "step of the spike, so it opens with reset_mechanism=zero and reset_delay=False.")
