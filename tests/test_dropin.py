"""Drop-in behaviour that snnTorch's own RLeaky tests rely on, checked in our words."""
import numpy as np
import pytest
import torch

from rleaky_viz.core import RLeaky


@pytest.mark.parametrize("kwargs", [dict(all_to_all=False, V=0.5), dict(linear_features=4),
                                    dict(conv2d_channels=2, kernel_size=3)])
def test_a_step_traces_without_graph_breaks(kwargs):
    """torch.compile(fullgraph=True) needs a step with no Tensor.item() in it."""
    dynamo = pytest.importorskip("torch._dynamo")
    neuron = RLeaky(beta=0.9, reset_mechanism="zero", **kwargs)
    x = torch.rand(2, 2, 5, 5) if "conv2d_channels" in kwargs else torch.rand(2, 4)
    spk, mem = torch.zeros_like(x), torch.zeros_like(x)
    explained = dynamo.explain(lambda x, s, m: neuron(x, s, m))(x, spk, mem)
    assert explained.graph_break_count == 0, explained.break_reasons


def test_the_reset_mechanism_follows_a_loaded_state_dict():
    source = RLeaky(beta=0.9, all_to_all=False, V=0.5, reset_mechanism="zero")
    target = RLeaky(beta=0.9, all_to_all=False, V=0.5, reset_mechanism="subtract")
    target.load_state_dict(source.state_dict())
    assert target.reset_mechanism == "zero" and target.reset_mechanism_index == 1
    x = torch.full((30, 1, 1), 0.6)
    s1, m1 = source.init_rleaky()
    s2, m2 = target.init_rleaky()
    for t in range(30):
        s1, m1 = source(x[t], s1, m1)
        s2, m2 = target(x[t], s2, m2)
        assert torch.equal(s1, s2) and torch.equal(m1, m2)


def test_assigning_the_reset_mechanism_updates_the_buffer_and_the_step():
    neuron = RLeaky(beta=0.5, all_to_all=False, V=0.0)
    neuron.reset_mechanism = "none"
    assert int(neuron.reset_mechanism_val) == 2 and neuron.step_rule().mechanism == 2


# ----------------------------------------------------------------- snnTorch's own RLeaky cases
# tests/test_snntorch/test_rleaky.py of snnTorch and the RLeaky cases of its tests/test_nir.py,
# each behaviour checked here in our words against rleaky_viz.core.RLeaky.
import io
import warnings

import snntorch
import snntorch.utils

from rleaky_viz.core import OneToOne, reset
from _oracle import run_steps

TWO_STEPS = torch.tensor([[0.25], [0.0]])  # (T, 1): a quarter, then nothing


def _one_to_one(**kwargs) -> RLeaky:
    return RLeaky(beta=0.5, V=0.5, all_to_all=False, **kwargs)


def test_a_silent_step_adds_the_leaked_membrane_the_input_and_v_times_the_spike():
    spks, mems = run_steps(_one_to_one(), TWO_STEPS)
    assert torch.equal(mems[1], mems[0] * 0.5 + TWO_STEPS[1] + 0.5 * spks[0])
    assert torch.equal(spks[0], spks[1]) and not spks[0].any()


def test_reset_mechanism_val_follows_construction_and_assignment():
    neurons = [_one_to_one(reset_mechanism=m) for m in ("subtract", "zero", "none")]
    assert [int(n.reset_mechanism_val) for n in neurons] == [0, 1, 2]
    for neuron, new in zip(neurons, ("zero", "none", "subtract")):
        neuron.reset_mechanism = new
    assert [int(n.reset_mechanism_val) for n in neurons] == [1, 2, 0]


@pytest.mark.parametrize("mechanism", ["subtract", "zero", "none"])
def test_with_init_hidden_a_call_takes_the_input_and_returns_the_spikes(mechanism):
    neuron = _one_to_one(init_hidden=True, reset_mechanism=mechanism)
    out = [neuron(x) for x in TWO_STEPS]
    assert all(isinstance(s, torch.Tensor) for s in out)  # spikes only, not (spk, mem)
    assert torch.equal(out[0], out[1]) and not out[0].any()
    assert float(neuron.mem.detach()) == pytest.approx(0.125)  # the state lives in the module


def test_with_init_hidden_passing_state_is_a_type_error_that_leaves_the_state_alone():
    neuron = _one_to_one(init_hidden=True)
    neuron(TWO_STEPS[0])
    before = neuron.mem.clone()
    with pytest.raises(TypeError, match="init_hidden"):
        neuron(TWO_STEPS, TWO_STEPS, TWO_STEPS)
    assert torch.equal(neuron.mem, before)


@pytest.mark.parametrize("kwargs", [dict(), dict(init_hidden=True)])
def test_a_call_with_the_input_alone_traces_without_graph_breaks(kwargs):
    dynamo = pytest.importorskip("torch._dynamo")
    neuron = _one_to_one(surrogate_disable=True, **kwargs)
    assert dynamo.explain(neuron)(TWO_STEPS[0]).graph_break_count == 0


# ----------------------------------------------------------------- the recurrent submodule
@pytest.mark.parametrize("learn_recurrent", [True, False])
def test_one_to_one_keeps_v_at_recurrent_v_as_one_tensor(learn_recurrent):
    neuron = RLeaky(beta=0.9, V=torch.tensor([0.1, 0.2, 0.3]), all_to_all=False,
                    learn_recurrent=learn_recurrent)
    assert isinstance(neuron.recurrent, OneToOne)
    assert neuron.recurrent.V is neuron.V
    assert torch.equal(neuron.recurrent(torch.ones(3)), neuron.V.detach() * 1)
    # written through either name, read through both
    neuron.recurrent.V = torch.tensor([1.0, 2.0, 3.0])
    assert neuron.V.tolist() == [1.0, 2.0, 3.0] and neuron.recurrent.V is neuron.V
    neuron.recurrent.V.data = torch.full((3,), 0.25)  # what snnTorch's import_nir does
    assert neuron.V.tolist() == [0.25] * 3
    assert isinstance(neuron.V, torch.nn.Parameter) == learn_recurrent
    assert [k for k, _ in neuron.named_parameters()] == (["V"] if learn_recurrent else [])
    # the step reads the same V
    spk, mem = neuron(torch.full((1, 3), 2.0), torch.ones(1, 3), torch.zeros(1, 3))
    assert torch.allclose(mem, 2.0 + torch.full((1, 3), 0.25) - 1.0 * 0)  # U < θ before: no reset


@pytest.mark.parametrize("learn_recurrent", [True, False])
def test_one_to_one_state_dicts_move_both_ways_with_snntorchs_keys(learn_recurrent):
    V = torch.tensor([0.1, -0.2, 0.3])
    ours = RLeaky(beta=0.8, V=V, all_to_all=False, learn_recurrent=learn_recurrent)
    ref = snntorch.RLeaky(beta=0.8, V=torch.zeros(3), all_to_all=False,
                          learn_recurrent=learn_recurrent)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(ours.state_dict())
    assert torch.equal(ref.V, V) and torch.equal(ref.recurrent.V, V)
    back = RLeaky(beta=0.8, V=torch.zeros(3), all_to_all=False, learn_recurrent=learn_recurrent)
    back.load_state_dict(ref.state_dict())
    assert torch.equal(back.V, V) and back.recurrent.V is back.V


def test_a_copy_and_a_device_move_keep_recurrent_v_on_the_copys_own_v():
    import copy
    neuron = RLeaky(beta=0.9, V=torch.ones(2), all_to_all=False)
    twin = copy.deepcopy(neuron)
    assert twin.recurrent.V is twin.V and twin.V is not neuron.V
    moved = neuron.double()
    assert moved.recurrent.V.dtype == torch.float64
    buffer = io.BytesIO()
    torch.save(neuron, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)  # our own object, in a test
    assert loaded.recurrent.V is loaded.V


def _snntorch_nir():
    """snnTorch's export_to_nir, as its tests use it (the module is not imported by snntorch)."""
    from snntorch.export_nir import export_to_nir
    return export_to_nir


@pytest.mark.parametrize("recurrence", ["one_to_one", "linear"])
def test_snntorchs_export_to_nir_reads_our_neuron(monkeypatch, recurrence):
    """snnTorch's NIR cases, with our RLeaky in snntorch.RLeaky's place."""
    import nir
    monkeypatch.setattr(snntorch, "RLeaky", RLeaky)
    n = 50
    if recurrence == "one_to_one":
        lif = RLeaky(beta=0.9, V=torch.ones(n), all_to_all=False, init_hidden=True)
    else:
        lif = RLeaky(beta=0.9, linear_features=n, init_hidden=True)
    net = torch.nn.Sequential(torch.nn.Linear(78, n), lif)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = _snntorch_nir()(net, torch.ones(78))
    assert set(graph.nodes) == {"input", "0", "1.lif", "1.w_rec", "output"}
    assert isinstance(graph.nodes["1.lif"], nir.LIF)
    assert isinstance(graph.nodes["1.w_rec"], nir.Linear if recurrence == "one_to_one" else nir.Affine)
    assert set(graph.edges) == {("input", "0"), ("0", "1.lif"), ("1.lif", "1.w_rec"),
                                ("1.w_rec", "1.lif"), ("1.lif", "output")}
    w = graph.nodes["1.w_rec"].weight
    expected = (torch.diag(torch.ones(n)) if recurrence == "one_to_one"
                else lif.recurrent.weight.detach())
    assert np.array_equal(w, expected.numpy())
    assert np.allclose(graph.nodes["1.lif"].tau, 1e-4 / (1 - 0.9))


# ----------------------------------------------------------------- reset_hidden, utils.reset
def _stepped(neuron, x):
    neuron(x)
    neuron(x)
    return neuron


def test_reset_hidden_on_the_class_zeroes_every_live_neuron_on_an_instance_only_that_one():
    x = torch.rand(2, 3, requires_grad=True)
    a = _stepped(RLeaky(beta=0.5, linear_features=3, init_hidden=True), x)
    b = _stepped(RLeaky(beta=0.5, all_to_all=False, V=0.2, init_hidden=True), x)
    a.reset_hidden()
    assert not a.mem.any() and b.mem.any()
    _stepped(a, x)
    RLeaky.reset_hidden()
    for neuron in (a, b):
        assert not neuron.mem.any() and not neuron.spk.any()
        assert neuron.mem.shape == x.shape  # zeros of the state's shape, as the reference


def test_detach_hidden_on_the_class_cuts_every_live_neurons_graph():
    x = torch.rand(2, 3, requires_grad=True)
    a = _stepped(RLeaky(beta=0.5, linear_features=3, init_hidden=True), x)
    b = _stepped(RLeaky(beta=0.5, all_to_all=False, V=0.2, init_hidden=True), x)
    assert a.mem.requires_grad and b.mem.requires_grad
    RLeaky.detach_hidden()
    assert not a.mem.requires_grad and not b.mem.requires_grad and b.mem.any()


def test_the_class_level_calls_hold_no_neuron_alive():
    import weakref
    neuron = RLeaky(beta=0.5, linear_features=3)
    ref = weakref.ref(neuron)
    assert neuron in RLeaky.live_instances()
    del neuron
    assert ref() is None  # freed at once: no strong reference anywhere
    RLeaky.reset_hidden()  # and the class-level call does not trip over it


def test_our_reset_zeroes_and_detaches_the_neurons_of_one_network_only():
    x = torch.rand(4, 3, requires_grad=True)
    inner = RLeaky(beta=0.5, all_to_all=False, V=0.3, init_hidden=True)
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), RLeaky(beta=0.5, linear_features=3,
                                                            init_hidden=True),
                              torch.nn.Sequential(inner))  # nested, too
    other = _stepped(RLeaky(beta=0.5, linear_features=3, init_hidden=True), x)
    for _ in range(3):
        net(x)
    assert reset(net) is net
    for neuron in (net[1], inner):
        assert not neuron.mem.any() and not neuron.mem.requires_grad
    assert other.mem.any()  # a neuron outside the network is left alone
    with pytest.raises(TypeError, match="nn.Module"):
        reset([net])


def test_snntorch_utils_reset_passes_over_our_neurons_as_the_readme_says():
    """snnTorch's helper looks for its own classes: our state stays (use rleaky_viz.core.reset)."""
    x = torch.rand(2, 3)
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), RLeaky(beta=0.5, linear_features=3,
                                                            init_hidden=True))
    net(x)
    snntorch.utils.reset(net)
    assert net[1].mem.any()


def test_snntorch_utils_reset_works_when_our_class_stands_in_for_snntorchs(monkeypatch):
    """Porting code that puts our RLeaky in snntorch.RLeaky's place keeps utils.reset working:
    it calls RLeaky.reset_hidden() and detach_hidden() on the class."""
    monkeypatch.setattr(snntorch, "RLeaky", RLeaky)
    x = torch.rand(2, 3, requires_grad=True)
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), RLeaky(beta=0.5, linear_features=3,
                                                            init_hidden=True))
    net(x)
    assert net[1].mem.any()
    snntorch.utils.reset(net)
    assert not net[1].mem.any() and not net[1].mem.requires_grad


def test_a_shallow_copy_leaves_the_original_its_own_view_of_v():
    import copy
    import gc

    neuron = _one_to_one()
    twin = copy.copy(neuron)
    assert twin.recurrent is not neuron.recurrent and twin.recurrent.V is twin.V
    del twin
    gc.collect()
    assert float(neuron.recurrent.V) == 0.5 and "recurrence" in repr(neuron)


def test_a_neuron_whose_arguments_are_refused_is_never_live():
    before = len(RLeaky.live_instances())
    with pytest.raises(ValueError):
        RLeaky(beta=0.5, all_to_all=False, reset_mechanism="sideways")
    assert len(RLeaky.live_instances()) <= before
    RLeaky.reset_hidden()  # every live neuron is whole
