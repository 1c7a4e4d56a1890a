"""From a :class:`SimConfig` to a :class:`Trace`: build the neuron, make the input, unroll.

``simulate(cfg)`` is deterministic: the recurrent weights are drawn from a
generator state seeded by ``cfg.seed`` (without touching torch's global
random state), and so are random stimuli.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import numpy as np
import pandas as pd
import torch

from .config import SimConfig
from .core import RECORDABLE, RLeaky, Rollout, unroll, unroll_chunks
from .core.quant import state_quant
from .core.surrogate import make_surrogate
from .stimulus import make_input

__all__ = ["Trace", "simulate", "build_neuron", "resolve_device", "StateDictError",
           "seeded_global_rng", "load_recurrent_state"]


class StateDictError(ValueError):
    """An uploaded state dict that does not fit the configured layer."""


def resolve_device(name: str) -> tuple[torch.device, Optional[str]]:
    """The torch device for a config's ``device``, and a notice if it fell back."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "cpu"), None
    if name == "cuda" and not cuda:
        return torch.device("cpu"), "CUDA was asked for but is not available here: running on CPU."
    if name == "mps" and not mps:
        return torch.device("cpu"), "MPS was asked for but is not available here: running on CPU."
    return torch.device(name), None


# torch's layers draw their initial weights from the process-wide generator.  The
# server runs sessions in threads of one process: two runs seeding it at once would
# swap each other's weights, so the seeding is done under one lock, and forked, so
# that the caller's random state is as it was.
_GLOBAL_RNG_LOCK = threading.RLock()


@contextmanager
def seeded_global_rng(seed: int):
    """torch's global generator seeded with ``seed`` for this block alone, one thread at a time.

    Only the CPU generator, where the layers are built: its state is saved and
    put back directly (``torch.random.fork_rng`` and ``torch.manual_seed`` also
    visit every accelerator backend, a third of a millisecond a run).
    """
    gen = torch.default_generator
    with _GLOBAL_RNG_LOCK:
        state = gen.get_state()
        gen.manual_seed(seed)
        try:
            yield
        finally:
            gen.set_state(state)


def _init_linear_weights(layer: torch.nn.Linear, cfg: SimConfig, gen: torch.Generator):
    w = layer.weight
    n = w.shape[0]
    with torch.no_grad():
        if cfg.weight_init == "ei":
            n_exc = int(round(cfg.excitatory_fraction * n))
            sign = torch.ones(n)
            sign[n_exc:] = -1.0
            w.copy_(w.abs() * sign[None, :])  # column j: what neuron j sends
        if cfg.weight_sparsity > 0:
            keep = torch.rand(w.shape, generator=gen) >= cfg.weight_sparsity
            w.mul_(keep)
        w.mul_(cfg.weight_gain)


def _init_kernel(conv: torch.nn.Conv2d, cfg: SimConfig):
    if cfg.kernel_init == "default":
        with torch.no_grad():
            conv.weight.mul_(cfg.weight_gain)
        return
    k = cfg.kernel_size
    c = k // 2
    yy, xx = torch.meshgrid(torch.arange(k) - c, torch.arange(k) - c, indexing="ij")
    dist = torch.sqrt((yy ** 2 + xx ** 2).float())
    if cfg.kernel_init == "centre_surround":
        # excite the centre, inhibit the surround by the same total (a balanced kernel)
        kernel = torch.where(dist == 0, torch.tensor(1.0), torch.tensor(-1.0 / max(1, k * k - 1)))
    else:  # lateral_excitation: neighbours excite each other, no self term
        kernel = torch.where(dist == 0, torch.tensor(0.0), 0.25 / dist)
    with torch.no_grad():
        conv.weight.zero_()
        for ch in range(conv.weight.shape[0]):
            conv.weight[ch, ch] = kernel * cfg.weight_gain
        conv.bias.zero_()


def build_neuron(cfg: SimConfig, state_dict: Optional[Mapping[str, torch.Tensor]] = None, *,
                 trusted: bool = False) -> RLeaky:
    """The ``core.RLeaky`` that ``cfg`` describes, weights initialised from ``cfg.seed``."""
    common = dict(
        beta=cfg.beta, threshold=cfg.threshold, reset_mechanism=cfg.reset_mechanism,
        reset_delay=cfg.reset_delay, inhibition=cfg.inhibition,
        graded_spikes_factor=cfg.graded_spikes_factor,
        # SSO draws from its own generator seeded by the config, never torch's global one
        spike_grad=make_surrogate(cfg.surrogate, cfg.surrogate_params, seed=cfg.seed),
        state_quant=(state_quant(num_bits=cfg.state_quant_bits, threshold=cfg.threshold)
                     if cfg.state_quant_bits else False),
        learn_beta=cfg.learn_beta, learn_threshold=cfg.learn_threshold,
    )
    with seeded_global_rng(cfg.seed):
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        if cfg.recurrence == "linear":
            neuron = RLeaky(linear_features=cfg.num_neurons, learn_recurrent=cfg.learn_recurrent,
                            **common)
            if cfg.weight_init != "state_dict":
                _init_linear_weights(neuron.recurrent, cfg, gen)
        elif cfg.recurrence == "conv2d":
            neuron = RLeaky(conv2d_channels=cfg.conv2d_channels, kernel_size=cfg.kernel_size,
                            learn_recurrent=cfg.learn_recurrent, **common)
            _init_kernel(neuron.recurrent, cfg)
        elif cfg.recurrence == "one_to_one":
            neuron = RLeaky(all_to_all=False, V=cfg.V, learn_recurrent=cfg.learn_recurrent, **common)
        else:  # "none": a plain leaky neuron, the recurrence weight fixed at zero
            neuron = RLeaky(all_to_all=False, V=0.0, learn_recurrent=False, **common)
    if state_dict is not None:
        load_recurrent_state(neuron, state_dict, bounded=not trusted)
    return neuron


# What an uploaded tensor may hold: the dtypes a state dict of floats comes in.
STATE_DICT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Uploaded weights beyond this are refused (typed ones stay within |gain| <= 20 of the
# default init): inside it a run of up to 10,000 steps keeps finite membranes.
MAX_UPLOADED_WEIGHT = 1_000.0


def _scalar_bounds(key: str):
    from .config import field_spec

    spec = field_spec(key)
    return spec["lo"], spec["hi"]


def load_recurrent_state(neuron: RLeaky, state_dict: Mapping[str, torch.Tensor], *,
                         bounded: bool = True) -> None:
    """Load an snnTorch RLeaky's recurrent weights (and beta/threshold/V if present), checked.

    Only ``recurrent.weight``, ``recurrent.bias``, ``beta``, ``threshold`` and
    ``V`` are taken; anything else in the file is left alone.  Every value is
    checked as the run will use it (float32): dense floats of the layer's
    shape, finite after the cast; β, θ and V within ``SimConfig``'s bounds
    (one value, or one per neuron), weights within ±MAX_UPLOADED_WEIGHT.
    ``bounded=False`` skips the bounds (not the rest) for a state dict this
    program made itself, such as a training result, whose β may have left them.
    """
    if not isinstance(state_dict, Mapping):
        raise StateDictError("the file does not hold a state dict (a mapping of names to tensors)")
    expected = {k: v for k, v in neuron.state_dict().items() if k != "reset_mechanism_val"}
    wanted = {"recurrent.weight", "recurrent.bias"} & set(expected)
    missing = sorted(wanted - set(state_dict))
    if missing:
        raise StateDictError(f"the state dict has no {', '.join(missing)}: it must come from an "
                             f"RLeaky with linear_features={neuron.linear_features}")
    n = neuron.linear_features
    new = {}
    for key in ("recurrent.weight", "recurrent.bias", "beta", "threshold", "V"):  # state-dict keys, not config fields
        if key not in state_dict or key not in expected:
            continue
        value = state_dict[key]
        where = f"state dict '{key}'"
        if not isinstance(value, torch.Tensor):
            raise StateDictError(f"{where} is not a tensor")
        if value.layout != torch.strided or value.device.type != "cpu":
            raise StateDictError(f"{where} must be a dense tensor with its values saved")
        if value.dtype not in STATE_DICT_DTYPES:
            raise StateDictError(f"{where} must hold floating-point numbers (float16, bfloat16, "
                                 f"float32 or float64); it has {str(value.dtype).replace('torch.', '')}")
        if key.startswith("recurrent."):
            if value.shape != expected[key].shape:
                raise StateDictError(f"{where} has shape {tuple(value.shape)}; this layer needs "
                                     f"{tuple(expected[key].shape)} (num_neurons = {n})")
        elif tuple(value.shape) not in ((), (1,), (n,)):
            raise StateDictError(f"{where} has shape {tuple(value.shape)}; allowed: one value "
                                 f"(shape () or (1,)) or one per neuron ({n},)")
        cast = value.detach().to(torch.float32)
        if not bool(torch.isfinite(cast).all()):
            raise StateDictError(f"{where} must hold finite numbers (in float32, as the run "
                                 "uses them)")
        if key.startswith("recurrent."):
            lo, hi = -MAX_UPLOADED_WEIGHT, MAX_UPLOADED_WEIGHT
        else:
            lo, hi = _scalar_bounds(key)
        if bounded and cast.numel():
            # compared in float32, as the value is used: 0.01 saved by snnTorch is 0.0099999998
            lo32, hi32 = (torch.tensor(v, dtype=torch.float32) for v in (lo, hi))
            outside = cast[(cast < lo32) | (cast > hi32)]
            if outside.numel():
                raise StateDictError(f"{where} must lie between {lo:g} and {hi:g} (as the "
                                     f"controls allow); it holds {float(outside[0]):.4g}")
        new[key] = cast.to(expected[key].dtype)
    with torch.no_grad():
        for key, value in new.items():
            if key.startswith("recurrent."):
                getattr(neuron.recurrent, key.split(".", 1)[1]).copy_(value)
            else:
                setattr(neuron, key, value.clone())


@dataclass
class Trace:
    """A recorded run. Tensors are on the CPU, shape ``(T, batch, *neuron_shape)``.

    Besides ``input``, ``spk`` and ``mem`` it holds one field per name of
    ``core.RECORDABLE``, in that order (tests/test_core_validation.py checks it).
    """

    config: SimConfig
    input: torch.Tensor
    spk: torch.Tensor
    mem: torch.Tensor
    reset: torch.Tensor
    recurrent: torch.Tensor
    leak: torch.Tensor
    base: torch.Tensor
    decision: torch.Tensor
    surrogate_grad: torch.Tensor
    neuron: RLeaky
    device: str = "cpu"
    notices: list = field(default_factory=list)

    @classmethod
    def from_rollout(cls, cfg: SimConfig, x: torch.Tensor, out, neuron: RLeaky,
                     device: torch.device, notice: Optional[str] = None) -> "Trace":
        """A Trace of an ``unroll(..., record=True)`` result, every tensor detached on the CPU."""
        cpu = lambda t: t.detach().to("cpu")  # noqa: E731
        return cls(config=cfg, input=cpu(x), spk=cpu(out.spk), mem=cpu(out.mem),
                   **{n: cpu(getattr(out, n)) for n in RECORDABLE},
                   neuron=neuron.to("cpu"), device=str(device), notices=[notice] if notice else [])

    @property
    def num_steps(self) -> int:
        return self.spk.shape[0]

    def flat(self, name: str) -> np.ndarray:
        """A recorded tensor as numpy ``(T, batch, neurons)``, neurons flattened."""
        t = getattr(self, name)
        return t.reshape(t.shape[0], t.shape[1], -1).numpy()

    def to_frame(self, batch: Optional[int] = None) -> pd.DataFrame:
        """Tidy table: one row per (t, batch, neuron) with every recorded quantity."""
        T, B = self.spk.shape[:2]
        N = int(np.prod(self.spk.shape[2:]))
        batches = range(B) if batch is None else [batch]
        names = ("input", "mem", "spk", *RECORDABLE)
        data = {n: self.flat(n) for n in names}
        t_idx = np.repeat(np.arange(T), N)
        n_idx = np.tile(np.arange(N), T)
        frames = []
        for b in batches:
            frame = {"t": t_idx, "batch": np.full(T * N, b), "neuron": n_idx}
            for n in names:
                frame[n] = data[n][:, b, :].reshape(-1)
            frames.append(pd.DataFrame(frame))
        return pd.concat(frames, ignore_index=True)


PROGRESS_CHUNKS = 50  # with a progress callback, a run is unrolled in this many pieces


def simulate(cfg: SimConfig, upload: Optional[np.ndarray] = None,
             state_dict: Optional[Mapping[str, torch.Tensor]] = None, *,
             trusted_state: bool = False,
             progress: Optional[Callable[[int, int], None]] = None) -> Trace:
    """Run ``cfg`` and record everything the views need.

    With ``progress``, the run goes through ``core.unroll_chunks`` in pieces
    and ``progress(steps_done, num_steps)`` is called after each; the trace
    is the same, tensor for tensor.
    """
    device, notice = resolve_device(cfg.device)
    neuron = build_neuron(cfg, state_dict, trusted=trusted_state).to(device)
    x = make_input(cfg, upload)
    with torch.no_grad():
        if progress is None:
            out = unroll(neuron, x.to(device), record=True)
        else:
            size = max(1, -(-x.shape[0] // PROGRESS_CHUNKS))
            pieces, done = [], 0
            for piece in unroll_chunks(neuron, (c.to(device) for c in x.split(size)), record=True):
                pieces.append(piece)
                done += piece.spk.shape[0]
                progress(done, x.shape[0])
            out = Rollout(*(torch.cat([getattr(p, n) for p in pieces]) for n in ("spk", "mem")),
                          {n: torch.cat([getattr(p, n) for p in pieces]) for n in RECORDABLE})
    return Trace.from_rollout(cfg, x, out, neuron, device, notice)
