"""The recurrent leaky integrate-and-fire neuron module, a drop-in for ``snntorch.RLeaky``.

The update it computes is written once, in :mod:`rleaky_viz.core.rule`
(equations in its docstring); this module is the layer around it.
:class:`RLeaky` keeps snnTorch's constructor, call forms, and parameter and
buffer names (so a trained ``snntorch.RLeaky`` state dict loads), checks its
arguments, holds the state between calls, and replaces snnTorch's
class-level list of instances (which keeps every neuron alive) with weak
references, enough for the class-level ``reset_hidden``/``detach_hidden``
that ``snntorch.utils.reset`` calls.  ``RLeaky.forward`` is one
:meth:`StepRule.step <rleaky_viz.core.rule.StepRule.step>`.
"""
from __future__ import annotations

import numbers
import threading
import weakref
from typing import Callable, Iterable, Optional

import torch
import torch.nn as nn

from .rule import RESET_MECHANISMS, StepRule
from .surrogate import atan

__all__ = ["RLeaky", "OneToOne", "StepRule", "RESET_MECHANISMS", "reset", "STATE_TENSORS"]

# Tensors that users set by name; assignment coerces numbers and keeps
# parameter-ness (see RLeaky.__setattr__).  A state dict carries each of them.
STATE_TENSORS = _STATE_TENSORS = ("beta", "threshold", "V", "graded_spikes_factor")


def _as_state_tensor(name: str, value, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Turn a user value into a floating tensor, with a message naming ``name``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor of numbers, got a bool")
    if isinstance(value, torch.Tensor):
        t = value.detach() if not isinstance(value, nn.Parameter) else value.data
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"{name} must be real-valued, got dtype {t.dtype}")
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
    elif isinstance(value, numbers.Real):
        t = torch.as_tensor(float(value))
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a number or a tensor of numbers, got {value!r}") from None
    if like is not None:
        t = t.to(dtype=like.dtype, device=like.device)
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return t


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _kernel(value) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        k = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        k = tuple(value)
    else:
        raise ValueError(f"kernel_size must be an odd positive integer or a pair of them, got {value!r}")
    for side in k:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral) or side < 1 or side % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd and positive (an even kernel would change the map's "
                f"size, which the reference only discovers by crashing at the first step), got {value!r}")
    return (int(k[0]), int(k[1]))


class OneToOne(nn.Module):
    """The one-to-one recurrence ``V ⊙ S``: ``neuron.recurrent`` when ``all_to_all=False``.

    snnTorch keeps V at ``recurrent.V`` as well as at ``V``, and code written
    for it (``snntorch.export_to_nir``, its ``import_from_nir``) reaches it
    there.  This module owns no tensor: ``V`` stays the neuron's own
    parameter or buffer, the only copy, and ``recurrent.V`` reads and writes
    it, so moving the neuron to a device or loading a state dict can never
    leave two versions of V apart.
    """

    def __init__(self, owner: "RLeaky"):
        super().__init__()
        self._bind(owner)

    def _bind(self, owner: "RLeaky") -> None:
        # a weak reference, not a submodule or a strong one: the owner is the
        # parent, and a cycle would leave every neuron to the cyclic collector
        object.__setattr__(self, "_owner_ref", weakref.ref(owner))

    @property
    def owner(self) -> "RLeaky":
        owner = self.__dict__.get("_owner_ref")
        owner = owner() if owner is not None else None
        if owner is None:
            raise RuntimeError("this one-to-one recurrence belongs to no live RLeaky: use it as "
                               "neuron.recurrent")
        return owner

    @property
    def V(self) -> torch.Tensor:
        return self.owner.V

    @V.setter
    def V(self, value):
        self.owner.V = value

    def __setattr__(self, name, value):
        if name == "V":  # nn.Module would register a Parameter here, past the property
            self.owner.V = value
            return
        super().__setattr__(name, value)

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        state = dict(state)
        state.pop("_owner_ref", None)  # the owner binds its copy again (RLeaky.__setstate__)
        return state

    def forward(self, spk: torch.Tensor) -> torch.Tensor:
        return spk * self.owner.V

    def extra_repr(self) -> str:
        return f"V: shape {tuple(self.owner.V.shape)}"


class _OnOneOrAll:
    """A method that acts on one neuron, or, called on the class, on each live neuron of it.

    snnTorch's ``reset_hidden`` and ``detach_hidden`` are class methods over
    every neuron it ever built, and ``snntorch.utils.reset`` calls them on
    the class.  Here ``neuron.reset_hidden()`` is this neuron alone and
    ``RLeaky.reset_hidden()`` is every neuron of the class still alive in
    the process (held weakly: a neuron nobody uses is not kept).
    """

    def __init__(self, method):
        self.method = method
        self.__doc__ = method.__doc__
        self.__name__ = method.__name__

    def __get__(self, obj, cls):
        if obj is not None:
            return self.method.__get__(obj, cls)
        method = self.method

        def on_every_live_neuron():
            for neuron in cls.live_instances():
                method(neuron)

        on_every_live_neuron.__doc__ = method.__doc__
        on_every_live_neuron.__name__ = method.__name__
        return on_every_live_neuron


class RLeaky(nn.Module):
    """Recurrent leaky integrate-and-fire neuron, a drop-in for ``snntorch.RLeaky``.

    Arguments, defaults and call forms are snnTorch 1.0.0's, plus
    ``graded_spikes_factor`` (``g`` in the equations of ``core.rule``):

    * ``beta``: membrane decay; clamped to [0, 1] in the update (the stored
      value is kept).  Scalar or one value per neuron.
    * ``V``: one-to-one recurrent weight, used when ``all_to_all=False``.
    * ``all_to_all`` with ``linear_features=n``: recurrence ``nn.Linear(n, n)``;
      with ``conv2d_channels`` and ``kernel_size`` (odd): ``nn.Conv2d``.
    * ``threshold``, ``spike_grad`` (a surrogate, default ``atan()``),
      ``surrogate_disable`` (no gradient through spikes), ``init_hidden``
      and ``output`` (state kept in the module), ``inhibition``,
      ``learn_beta``/``learn_threshold``/``learn_recurrent``,
      ``reset_mechanism`` ("subtract", "zero", "none"), ``state_quant`` (a
      quantiser such as ``core.quant.state_quant()``) and ``reset_delay``.

    ``forward(input_, spk=None, mem=None)`` returns ``(spk, mem)``; with
    ``init_hidden=True`` it takes only the input and returns ``spk`` (or
    ``(spk, mem)`` when ``output=True``).  As in the reference, the module
    remembers the last state, so calling it without ``spk``/``mem``
    continues from there; state of another shape than the input starts from
    zeros.

    Differences from the reference, all on purpose: no class-level list
    that keeps every neuron ever built alive (``neuron.reset_hidden()`` and
    ``neuron.detach_hidden()`` act on that neuron; called on the class,
    ``RLeaky.reset_hidden()`` acts on every neuron still alive, found
    through weak references; :func:`reset` does it for one network);
    ``reset_mechanism`` can be changed after construction and the update
    follows it; assigning ``V``, ``beta``, ``threshold`` or
    ``graded_spikes_factor`` takes effect at the next step (the one-to-one
    recurrence reads ``V`` itself, not a copy); spikes have the membrane's
    dtype; bad arguments fail here with a message instead of at the first
    step.
    """

    def __init__(self, beta, V=1.0, all_to_all=True, linear_features=None,
                 conv2d_channels=None, kernel_size=None, threshold=1.0,
                 spike_grad=None, surrogate_disable=False, init_hidden=False,
                 inhibition=False, learn_beta=False, learn_threshold=False,
                 learn_recurrent=True, reset_mechanism="subtract", state_quant=False,
                 output=False, reset_delay=True, graded_spikes_factor=1.0):
        super().__init__()
        self.all_to_all = bool(all_to_all)
        self.linear_features = linear_features
        self.conv2d_channels = conv2d_channels
        self.kernel_size = kernel_size
        self._check_structure()

        if reset_mechanism not in RESET_MECHANISMS:
            raise ValueError(f"reset_mechanism must be one of {RESET_MECHANISMS}, got {reset_mechanism!r}")
        if spike_grad is not None and not callable(spike_grad):
            raise TypeError("spike_grad must be a surrogate spike function (for example "
                            f"rleaky_viz.core.surrogate.fast_sigmoid()), got {spike_grad!r}")
        if state_quant is not False and state_quant is not None and not callable(state_quant):
            raise TypeError("state_quant must be False or a quantiser such as "
                            f"rleaky_viz.core.quant.state_quant(), got {state_quant!r}")
        if inhibition and self.conv2d_channels:
            raise ValueError("inhibition works on dense layers only (input of shape (batch, neurons)); "
                             "it cannot be combined with conv2d_channels")

        self.spike_grad = atan() if spike_grad is None else spike_grad
        self.surrogate_disable = bool(surrogate_disable)
        self.init_hidden = bool(init_hidden)
        self.inhibition = bool(inhibition)
        self.output = bool(output)
        self.reset_delay = bool(reset_delay)
        self.state_quant = state_quant if state_quant is not None else False
        self.learn_recurrent = bool(learn_recurrent)

        self._register("threshold", _as_state_tensor("threshold", threshold), learn_threshold)
        gain = _as_state_tensor("graded_spikes_factor", graded_spikes_factor)
        if (gain == 0).any():
            raise ValueError("graded_spikes_factor must be non-zero (spikes are divided by it "
                             "when reset_delay=False)")
        self.register_buffer("graded_spikes_factor", gain)
        self.register_buffer("reset_mechanism_val",
                             torch.as_tensor(RESET_MECHANISMS.index(reset_mechanism)))
        # the same index as a Python int: the step reads this, not the buffer, so that
        # torch.compile traces a step without a Tensor.item() (a graph break)
        self._mechanism = RESET_MECHANISMS.index(reset_mechanism)
        self.register_load_state_dict_post_hook(_sync_mechanism)
        self._register("beta", _as_state_tensor("beta", beta), learn_beta)
        for name in ("beta", "threshold"):
            self._check_shape(name, getattr(self, name))

        if self.all_to_all:
            if self.linear_features:
                self.recurrent = nn.Linear(self.linear_features, self.linear_features)
            else:
                kh, kw = self.kernel_size
                self.recurrent = nn.Conv2d(self.conv2d_channels, self.conv2d_channels,
                                           self.kernel_size, padding=(kh // 2, kw // 2))
            if not self.learn_recurrent:
                for p in self.recurrent.parameters():
                    p.requires_grad_(False)
        else:
            self._register("V", _as_state_tensor("V", V), self.learn_recurrent)
            # neuron.recurrent.V, where snnTorch's code looks for it: a view onto V
            self.recurrent = OneToOne(self)
            # snnTorch also lists a learnable V under "recurrent.V" (a second
            # name for the same tensor); write and accept that key so state
            # dicts move both ways, while V itself stays the only copy.
            self._register_state_dict_hook(_add_recurrent_v_key)
            self._register_load_state_dict_pre_hook(_drop_recurrent_v_key)

        self.register_buffer("spk", torch.zeros(0), persistent=False)
        self.register_buffer("mem", torch.zeros(0), persistent=False)
        self._register_live()  # last: a neuron whose arguments were refused is never live

    # -- construction helpers -------------------------------------------------
    def _check_structure(self):
        lin, ch, k = self.linear_features, self.conv2d_channels, self.kernel_size
        if self.all_to_all:
            if lin and (ch or k):
                raise TypeError("linear_features cannot be given together with conv2d_channels or "
                                "kernel_size: choose a linear or a conv2d recurrence")
            if not lin and not ch and not k:
                raise TypeError("all_to_all=True needs linear_features (dense recurrence) or both "
                                "conv2d_channels and kernel_size (conv2d recurrence); for a "
                                "one-to-one recurrence pass all_to_all=False")
            if not lin and bool(ch) != bool(k):
                raise TypeError("conv2d_channels and kernel_size must be given together")
            if lin:
                self.linear_features = _positive_int("linear_features", lin)
            else:
                self.conv2d_channels = _positive_int("conv2d_channels", ch)
                self.kernel_size = _kernel(k)
        elif lin or ch or k:
            raise TypeError("all_to_all=False uses the one-to-one weight V: do not give "
                            "linear_features, conv2d_channels or kernel_size")

    def _register(self, name: str, value: torch.Tensor, learnable: bool):
        if learnable:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def _check_shape(self, name: str, t: torch.Tensor):
        """Per-neuron tensors must fit the layer where its size is known.

        Leading dimensions are allowed and broadcast against the batch, which
        is how a parameter sweep gives every sample its own value.
        """
        if t.numel() == 1:
            return
        if self.all_to_all and self.linear_features:
            n = self.linear_features
            if t.shape[-1] not in (1, n):
                raise ValueError(f"{name} must be a scalar or have {n} values (one per neuron, "
                                 f"shape ({n},)), got shape {tuple(t.shape)}")
        elif self.all_to_all:
            c = self.conv2d_channels
            if t.dim() < 3 or t.shape[-3] not in (1, c):
                raise ValueError(f"{name} must be a scalar, shape ({c}, 1, 1) (one per channel) or "
                                 f"({c}, H, W) (one per neuron), got shape {tuple(t.shape)}")

    # -- live attributes ----------------------------------------------------------
    def __setattr__(self, name, value):
        if name in _STATE_TENSORS and "_buffers" in self.__dict__:
            params, buffers = self.__dict__["_parameters"], self.__dict__["_buffers"]
            if name in params and not isinstance(value, nn.Parameter):
                old = params[name]
                value = nn.Parameter(_as_state_tensor(name, value, like=old),
                                     requires_grad=old.requires_grad)
            elif name in buffers and not isinstance(value, torch.Tensor):
                value = _as_state_tensor(name, value, like=buffers[name])
            if isinstance(value, torch.Tensor) and (name in params or name in buffers):
                if not torch.isfinite(value.detach()).all():
                    raise ValueError(f"{name} must be finite (no NaN or inf)")
                if name in ("beta", "threshold"):
                    self._check_shape(name, value)
                if name == "graded_spikes_factor" and (value == 0).any():
                    raise ValueError("graded_spikes_factor must be non-zero")
        super().__setattr__(name, value)

    @property
    def reset_mechanism(self) -> str:
        return RESET_MECHANISMS[self.reset_mechanism_index]

    @reset_mechanism.setter
    def reset_mechanism(self, value: str):
        if value not in RESET_MECHANISMS:
            raise ValueError(f"reset_mechanism must be one of {RESET_MECHANISMS}, got {value!r}")
        self.reset_mechanism_val.fill_(RESET_MECHANISMS.index(value))
        self._mechanism = RESET_MECHANISMS.index(value)

    @property
    def reset_mechanism_index(self) -> int:
        """The index of ``reset_mechanism`` in RESET_MECHANISMS, as a Python int."""
        return self._mechanism

    @property
    def recurrence(self) -> str:
        """"linear", "conv2d" or "one_to_one"."""
        if not self.all_to_all:
            return "one_to_one"
        return "linear" if self.linear_features else "conv2d"

    def _recurrent_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.all_to_all:
            return self.recurrent
        V = self.V
        return lambda s: s * V

    def step_rule(self) -> StepRule:
        return StepRule(self)

    # -- calls ------------------------------------------------------------------
    def forward(self, input_, spk=None, mem=None):
        if self.init_hidden and (spk is not None or mem is not None):
            # refused before anything is stored: the module's state stays as it was
            raise TypeError("with init_hidden=True the state lives in the module: call it with "
                            "the input only")
        if spk is not None:
            self.spk = spk
        if mem is not None:
            self.mem = mem
        if self.spk.shape != input_.shape:
            self.spk = torch.zeros_like(input_)
        if self.mem.shape != input_.shape:
            self.mem = torch.zeros_like(input_)
        self.spk, self.mem = StepRule(self).step(input_, self.spk, self.mem)
        if self.output:
            return self.spk, self.mem
        if self.init_hidden:
            return self.spk
        return self.spk, self.mem

    def reset_mem(self):
        """Zero the stored state (keeping its shape); returns ``(spk, mem)``."""
        self.spk = torch.zeros_like(self.spk)
        self.mem = torch.zeros_like(self.mem)
        return self.spk, self.mem

    def init_rleaky(self):
        """Same as :meth:`reset_mem` (the reference's older name)."""
        return self.reset_mem()

    @_OnOneOrAll
    def reset_hidden(self):
        """Zero the stored state (``neuron.reset_hidden()``; ``RLeaky.reset_hidden()``: every live neuron)."""
        return self.reset_mem()

    @_OnOneOrAll
    def detach_hidden(self):
        """Cut the stored state from the graph, for truncated backpropagation through time
        (``neuron.detach_hidden()``; ``RLeaky.detach_hidden()``: every live neuron)."""
        self.spk = self.spk.detach()
        self.mem = self.mem.detach()

    # -- the live neurons, for the class-level calls ------------------------------
    # Weak references only: a neuron that nothing else holds is dropped from the
    # set by the garbage collector, so a server that builds neurons on every
    # rerun does not accumulate them (the reference's list only grows).
    _live: "weakref.WeakSet[RLeaky]" = weakref.WeakSet()
    _live_lock = threading.Lock()

    def _register_live(self):
        with RLeaky._live_lock:
            RLeaky._live.add(self)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._register_live()  # a copy or an unpickled neuron is live too
        if isinstance(self._modules.get("recurrent"), OneToOne):
            # a view of its own onto the copy's V (copy.copy shares the original's module dict:
            # re-binding the shared view would take it from the original)
            self._modules = dict(self._modules)
            self._modules["recurrent"] = OneToOne(self)

    @classmethod
    def live_instances(cls) -> list["RLeaky"]:
        """The neurons of this class (subclasses included) that are alive now."""
        with RLeaky._live_lock:
            alive = list(RLeaky._live)
        return [n for n in alive if isinstance(n, cls)]

    def extra_repr(self) -> str:
        return (f"recurrence={self.recurrence}, reset_mechanism={self.reset_mechanism!r}, "
                f"reset_delay={self.reset_delay}, inhibition={self.inhibition}")


def _sync_mechanism(module, incompatible_keys):
    # a loaded state dict may carry another reset_mechanism_val
    module._mechanism = int(module.reset_mechanism_val)


def _add_recurrent_v_key(module, state_dict, prefix, local_metadata):
    if isinstance(module._parameters.get("V"), nn.Parameter):
        state_dict[prefix + "recurrent.V"] = state_dict[prefix + "V"]


def _drop_recurrent_v_key(state_dict, prefix, local_metadata, strict, missing_keys,
                          unexpected_keys, error_msgs):
    alias = state_dict.pop(prefix + "recurrent.V", None)
    if alias is not None and prefix + "V" not in state_dict:
        state_dict[prefix + "V"] = alias


def reset(net: nn.Module) -> nn.Module:
    """Zero and detach the state of every :class:`RLeaky` inside ``net``; returns ``net``.

    The answer to ``snntorch.utils.reset(net)`` for networks built with this
    core: snnTorch's helper looks for its own classes among ``net``'s direct
    children and resets the instances snnTorch itself built, so it passes
    over these neurons.  This one walks ``net.modules()`` (``net`` itself,
    nested containers included) and touches only the neurons in ``net``.
    """
    for module in _modules(net):
        if isinstance(module, RLeaky):
            module.reset_mem()
            module.detach_hidden()
    return net


def _modules(net: nn.Module) -> Iterable[nn.Module]:
    if not isinstance(net, nn.Module):
        raise TypeError(f"reset needs a torch.nn.Module (a network or a neuron), got {type(net).__name__}")
    return net.modules()
