"""Running an RLeaky over a whole sequence: ``unroll``, ``unroll_chunks`` and ``backprop``.

``unroll(neuron, x)`` gives the spikes and membranes of every step of ``x``
(shape ``(T, *input_shape)``), exactly as stepping ``neuron`` ``T`` times from
zero state (or from ``spk``/``mem`` when given), and stays differentiable
with respect to ``x`` and every learnable parameter.  ``backprop`` runs it
under a loss and returns the gradients the views show.  Everything in the
project that simulates goes through here.

Two loops run the one rule of :mod:`rleaky_viz.core.rule`:

* the **step loop** here, one :meth:`StepRule.step` per step (the call
  ``RLeaky.forward`` makes): general, for any device, dtype, spike function
  and quantiser, and the one that keeps every step's graph tensors for
  autograd (``keep_steps``, the ``reset_grad`` what-if);
* the **fast engine** (:mod:`rleaky_viz.core.engine`): the same step
  re-expressed on numpy arrays for the whole sequence, with a hand-written
  BPTT, taken whenever :func:`~rleaky_viz.core.engine.fast_path_applies`
  says it covers the run (CPU, a named deterministic surrogate, no
  quantiser).  It is proven equal to the step loop in ``tests/test_engine.py``.

Neither reads or changes the state stored in the module: they are functions
of their arguments.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Union

import torch

from . import engine as _engine
from .neuron import RLeaky
from .rule import StepRule

__all__ = ["unroll", "unroll_chunks", "backprop", "Rollout", "Backprop", "RECORDABLE"]

# What ``record`` can ask for, each of shape (T, *input_shape), detached.  This is
# the one list of recorded fields: the Trace, its table and the exports follow it.
RECORDABLE = (
    "reset",           # R[t] = H(U[t-1] - θ), the reset applied at step t
    "recurrent",       # rec(S[t-1]), the recurrent current
    "leak",            # clamp(β)·U[t-1], what is left of the old membrane
    "base",            # leak + input + recurrent: the membrane before reset
    "decision",        # P[t], the membrane the spike was decided on (after reset and
                       # quantisation; U[t] itself unless reset_delay=False)
    "surrogate_grad",  # dS/dz at z = P[t] - θ, the surrogate's derivative
)


class Rollout:
    """Result of :func:`unroll`.

    Unpacks as ``spk, mem = unroll(...)``; recorded internals are attributes
    named as in :data:`RECORDABLE` (``None`` when not recorded).
    """

    __slots__ = ("spk", "mem", "steps") + RECORDABLE

    def __init__(self, spk, mem, recorded: Optional[dict] = None, steps: Optional[dict] = None):
        self.spk = spk  # (T, *input_shape)
        self.mem = mem  # (T, *input_shape)
        recorded = recorded or {}
        for name in RECORDABLE:
            setattr(self, name, recorded.get(name))
        # with keep_steps: per-step graph tensors {"mem", "spk", "leak", "recurrent", "reset"}: lists of T
        self.steps = steps

    def __iter__(self):
        yield self.spk
        yield self.mem

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.spk, self.mem)[i]

    def detached(self) -> "Rollout":
        """The same rollout with spikes and membranes cut from the graph, without ``steps``."""
        return Rollout(self.spk.detach(), self.mem.detach(),
                       {n: getattr(self, n) for n in RECORDABLE})


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


def _check(neuron, x, engine):
    if engine not in ("auto", "fast", "step"):
        raise ValueError(f"engine must be 'auto', 'fast' or 'step', got {engine!r}")
    if not isinstance(neuron, RLeaky):
        raise TypeError(f"unroll expects a rleaky_viz.core.RLeaky, got {type(neuron).__name__}")
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError("x must be a tensor of shape (T, *input_shape) with T >= 1")
    if x.shape[0] == 0:
        raise ValueError("x must have at least one time step (T >= 1)")


def _use_engine(neuron, x, rule, engine: str, keep_steps: bool) -> bool:
    fast = not keep_steps and engine != "step" and _engine.fast_path_applies(neuron, x, rule)
    if engine == "fast" and not fast:
        raise ValueError("the fast engine does not apply here (it needs CPU tensors, a named "
                         "deterministic surrogate, no state quantisation and no keep_steps or "
                         "reset_grad)")
    return fast


def unroll(neuron: RLeaky, x: torch.Tensor, spk: Optional[torch.Tensor] = None,
           mem: Optional[torch.Tensor] = None,
           record: Union[bool, str, Iterable[str]] = False, *,
           keep_steps: bool = False, reset_grad: bool = False, engine: str = "auto") -> Rollout:
    """Run ``neuron`` over ``x`` of shape ``(T, *input_shape)``.

    Returns a :class:`Rollout`; ``spk, mem = unroll(neuron, x)`` gives both
    sequences of shape ``(T, *input_shape)``.  ``record=True`` (or a list of
    names from :data:`RECORDABLE`) also keeps the internals a visualisation
    needs; the default records nothing and costs nothing extra.

    ``keep_steps=True`` (step loop only) also returns the per-step graph
    tensors (membrane, spikes, leak, recurrent and reset terms) in
    ``Rollout.steps``, so that ``torch.autograd.grad`` can give the total
    derivative of a loss with respect to each step's state.
    ``reset_grad=True`` is a what-if that is *not* snnTorch's behaviour: the
    reset signal keeps its surrogate gradient instead of being detached.

    ``engine``: ``"auto"`` takes the fast engine (:mod:`rleaky_viz.core.engine`)
    where it applies and the step loop elsewhere; ``"step"`` forces the step
    loop, ``"fast"`` requires the engine (``ValueError`` if it does not
    apply).  Both give the same numbers.
    """
    _check(neuron, x, engine)
    names = _record_set(record)
    rule = StepRule(neuron, reset_grad=reset_grad)
    s = _initial(spk, x[0])
    u = _initial(mem, x[0])
    if _use_engine(neuron, x, rule, engine, keep_steps):
        spk_seq, mem_seq, recorded = _engine.run_sequence(neuron, rule, x, s, u, names)
        return Rollout(spk_seq, mem_seq, recorded)
    return _step_loop(rule, x, s, u, names, keep_steps)


def _step_loop(rule: StepRule, x, s, u, names, keep_steps: bool) -> Rollout:
    """The step loop: ``rule.step`` once per step, recording as asked."""
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


# --- gradients for the views ---------------------------------------------------------
@dataclass(frozen=True)
class Backprop:
    """What :func:`backprop` returns: a run, its loss and its gradients, all detached.

    Sequences have shape ``(T, *input_shape)``.
    """

    rollout: Rollout               # the run (spikes, membranes, recorded fields)
    rule: StepRule                 # the rule it ran, for the rule's derivatives
    loss: torch.Tensor             # the loss, a 0-d tensor
    dL_dmem: torch.Tensor          # total dL/dU[t], through every later step
    dL_dinput: torch.Tensor        # dL/dx[t], which is also dL/dB[t] of step t
    dL_dmem_direct: torch.Tensor   # ∂L/∂U[t]: the loss's own look at U[t]
    dL_dspk_direct: torch.Tensor   # ∂L/∂S[t]: the loss's own look at S[t]
    dL_dreset: Optional[torch.Tensor]  # dL/dR[t] with reset_grad; None (no gradient) otherwise
    param_grads: dict              # every named parameter -> gradient (zeros if not learnable)


def _grad(value: torch.Tensor, wrt: list) -> list:
    """autograd.grad for tensors that may not be in the graph at all (their gradient is 0)."""
    live = [i for i, t in enumerate(wrt) if t.requires_grad]
    found = (torch.autograd.grad(value, [wrt[i] for i in live], allow_unused=True)
             if live and value.requires_grad else ())
    grads = [torch.zeros_like(t) for t in wrt]
    for i, g in zip(live, found):
        if g is not None:
            grads[i] = g
    return [g.detach() for g in grads]


def _check_loss(value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise ValueError("the loss must return a single-number tensor")
    return value


def backprop(neuron: RLeaky, x: torch.Tensor,
             loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
             spk: Optional[torch.Tensor] = None, mem: Optional[torch.Tensor] = None, *,
             record: Union[bool, str, Iterable[str]] = False, reset_grad: bool = False,
             engine: str = "auto") -> Backprop:
    """Run ``neuron`` over ``x``, apply ``loss(spk_seq, mem_seq)`` and return every gradient.

    On the fast engine the hand-written BPTT gives the adjoints dL/dU[t] as it
    goes; otherwise (and with the ``reset_grad`` what-if) the step loop keeps
    each step's tensors and autograd gives the same numbers.  Either way the
    result is a :class:`Backprop`.  A loss that does not return a
    single-number tensor raises ``ValueError``.
    """
    _check(neuron, x, engine)
    names = _record_set(record)
    rule = StepRule(neuron, reset_grad=reset_grad)
    x = x.detach()
    s = _initial(spk, x[0]).detach()
    u = _initial(mem, x[0]).detach()
    named = list(neuron.named_parameters())
    with torch.enable_grad():
        if _use_engine(neuron, x, rule, engine, keep_steps=False):
            fw = _engine.forward(neuron, rule, x.numpy(), s.numpy(), u.numpy(), record=names)
            spk_seq = torch.from_numpy(fw.S).requires_grad_(not rule.surrogate_disable)
            mem_seq = torch.from_numpy(fw.U).requires_grad_(True)
            value = _check_loss(loss(spk_seq, mem_seq))
            g_spk, g_mem = _grad(value, [spk_seq, mem_seq])
            bw = _engine.backward(fw, g_spk.numpy(), g_mem.numpy(),
                                  {n for n, p in named if p.requires_grad})
            grads = {n: bw.param_grads.get(n, torch.zeros_like(p)).detach() for n, p in named}
            out = Rollout(spk_seq.detach(), mem_seq.detach(), fw.recorded(names))
            return Backprop(rollout=out, rule=rule, loss=value.detach(),
                            dL_dmem=torch.from_numpy(bw.dL_dmem),
                            dL_dinput=torch.from_numpy(bw.dL_dinput), dL_dmem_direct=g_mem,
                            dL_dspk_direct=g_spk, dL_dreset=None, param_grads=grads)
        x = x.clone().requires_grad_(True)
        out = _step_loop(rule, x, s, u, names, keep_steps=True)
        value = _check_loss(loss(out.spk, out.mem))
        T, P = x.shape[0], len(named)
        wrt = [x, out.mem, out.spk, *(p for _, p in named), *out.steps["mem"],
               *out.steps["reset"]]
        g = _grad(value, wrt)
    return Backprop(rollout=out.detached(), rule=rule, loss=value.detach(),
                    dL_dmem=torch.stack(g[3 + P:3 + P + T]), dL_dinput=g[0],
                    dL_dmem_direct=g[1], dL_dspk_direct=g[2],
                    dL_dreset=torch.stack(g[3 + P + T:]) if reset_grad else None,
                    param_grads={n: gp for (n, _), gp in zip(named, g[3:3 + P])})
