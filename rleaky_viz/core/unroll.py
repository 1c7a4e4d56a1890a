"""The one time loop of the project: run an RLeaky over a whole sequence.

``unroll(neuron, x)`` gives the spikes and membranes of every step of ``x``
(shape ``(T, *input_shape)``), exactly as stepping ``neuron`` ``T`` times from
zero state (or from ``spk``/``mem`` when given), and stays differentiable
with respect to ``x`` and every learnable parameter.  Everything in the
project that simulates goes through here, so this is the one place to make
fast.

It does not read or change the state stored in the module: it is a function
of its arguments.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Optional, Union

import torch

from .engine import fast_path_applies, run_sequence
from .neuron import RLeaky, StepRule

__all__ = ["unroll", "unroll_chunks", "Rollout", "RECORDABLE"]

# What ``record`` can ask for, each of shape (T, *input_shape), detached:
RECORDABLE = (
    "reset",           # R[t] = H(U[t-1] - θ), the reset applied at step t
    "recurrent",       # rec(S[t-1]), the recurrent current
    "leak",            # clamp(β)·U[t-1], what is left of the old membrane
    "base",            # leak + input + recurrent: the membrane before reset
    "surrogate_grad",  # dS/dz at z = U[t] - θ, the surrogate's derivative
)


class Rollout:
    """Result of :func:`unroll`.

    Unpacks as ``spk, mem = unroll(...)``; recorded internals are attributes
    named as in :data:`RECORDABLE` (``None`` when not recorded).
    """

    __slots__ = ("spk", "mem", "steps", "adjoints") + RECORDABLE

    def __init__(self, spk, mem, recorded: Optional[dict] = None, steps: Optional[dict] = None,
                 adjoints: Optional[dict] = None):
        self.spk = spk  # (T, *input_shape)
        self.mem = mem  # (T, *input_shape)
        recorded = recorded or {}
        for name in RECORDABLE:
            setattr(self, name, recorded.get(name))
        # with keep_steps: per-step graph tensors {"mem", "spk", "leak", "recurrent", "reset"}: lists of T
        self.steps = steps
        # fast path: after backward(), {"dL_dmem": (T, *input_shape)} from the hand-written BPTT
        self.adjoints = adjoints if adjoints is not None else {}

    def __iter__(self):
        yield self.spk
        yield self.mem

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.spk, self.mem)[i]


def _record_set(record) -> tuple[str, ...]:
    if record is True:
        return RECORDABLE
    if not record:
        return ()
    if isinstance(record, str):
        record = (record,)
    names = tuple(record)
    unknown = [n for n in names if n not in RECORDABLE]
    if unknown:
        raise ValueError(f"record: unknown name(s) {unknown}; allowed: {list(RECORDABLE)}")
    return names


def _initial(state: Optional[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    # as in a step call: a missing state, or one of another shape, starts at zero
    if state is None or state.shape != like.shape:
        return torch.zeros_like(like)
    return state


def unroll(neuron: RLeaky, x: torch.Tensor, spk: Optional[torch.Tensor] = None,
           mem: Optional[torch.Tensor] = None,
           record: Union[bool, str, Iterable[str]] = False, *,
           keep_steps: bool = False, reset_grad: bool = False, engine: str = "auto") -> Rollout:
    """Run ``neuron`` over ``x`` of shape ``(T, *input_shape)``.

    Returns a :class:`Rollout`; ``spk, mem = unroll(neuron, x)`` gives both
    sequences of shape ``(T, *input_shape)``.  ``record=True`` (or a list of
    names from :data:`RECORDABLE`) also keeps the internals a visualisation
    needs; the default records nothing and costs nothing extra.

    ``keep_steps=True`` also returns the per-step graph tensors (membrane,
    spikes, leak and recurrent terms) in ``Rollout.steps``, so that
    ``torch.autograd.grad`` can give the total derivative of a loss with
    respect to each step's state (the adjoints the gradient views show).
    ``reset_grad=True`` is a what-if that is *not* snnTorch's behaviour: the
    reset signal keeps its surrogate gradient instead of being detached.

    ``engine``: ``"auto"`` takes the fast whole-sequence path
    (:mod:`rleaky_viz.core.engine`) where it applies and the step loop
    elsewhere; ``"step"`` forces the step loop, ``"fast"`` requires the fast
    path (``ValueError`` if it does not apply).  Both give the same numbers.
    """
    if engine not in ("auto", "fast", "step"):
        raise ValueError(f"engine must be 'auto', 'fast' or 'step', got {engine!r}")
    if not isinstance(neuron, RLeaky):
        raise TypeError(f"unroll expects a rleaky_viz.core.RLeaky, got {type(neuron).__name__}")
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError("x must be a tensor of shape (T, *input_shape) with T >= 1")
    if x.shape[0] == 0:
        raise ValueError("x must have at least one time step (T >= 1)")
    names = _record_set(record)
    rule = StepRule(neuron, reset_grad=reset_grad)
    s = _initial(spk, x[0])
    u = _initial(mem, x[0])
    if engine != "step" and not keep_steps:
        if fast_path_applies(neuron, x, rule):
            spk_seq, mem_seq, recorded, box = run_sequence(neuron, rule, x, s, u, names)
            return Rollout(spk_seq, mem_seq, recorded, adjoints=box)
        if engine == "fast":
            raise ValueError("the fast engine does not apply here (it needs CPU tensors, a named "
                             "deterministic surrogate and no state quantisation)")
    spikes, membranes = [], []
    if not names and not keep_steps:
        for x_t in x:
            s, u = rule.step(x_t, s, u)
            spikes.append(s)
            membranes.append(u)
        return Rollout(torch.stack(spikes), torch.stack(membranes))
    kept = {n: [] for n in names}
    scratch: dict = {}
    nodes: Optional[dict] = {} if keep_steps else None
    leaks, recs, resets = [], [], []
    for x_t in x:
        s, u = rule.step(x_t, s, u, record=scratch if names else None, nodes=nodes)
        spikes.append(s)
        membranes.append(u)
        for n in names:
            kept[n].append(scratch[n])
        if keep_steps:
            leaks.append(nodes["leak"])
            recs.append(nodes["recurrent"])
            resets.append(nodes["reset"])
    steps = ({"mem": membranes, "spk": spikes, "leak": leaks, "recurrent": recs, "reset": resets}
             if keep_steps else None)
    return Rollout(torch.stack(spikes), torch.stack(membranes),
                   {n: torch.stack(v) for n, v in kept.items()}, steps)


def unroll_chunks(neuron: RLeaky, chunks: Iterable[torch.Tensor],
                  spk: Optional[torch.Tensor] = None, mem: Optional[torch.Tensor] = None,
                  record: Union[bool, str, Iterable[str]] = False) -> Iterator[Rollout]:
    """:func:`unroll` over consecutive pieces of one sequence, carrying the state across.

    ``chunks`` yields inputs of shape ``(T_i, *input_shape)``; each yields the
    :class:`Rollout` of that piece, the same numbers as one ``unroll`` of the
    whole sequence.  For progress reports, and for runs whose whole input or
    recording would not fit in memory at once (the chunks can be made lazily).
    """
    for x in chunks:
        out = unroll(neuron, x, spk, mem, record=record)
        spk, mem = out.spk[-1], out.mem[-1]
        yield out
