"""Drop-in behaviour that snnTorch's own RLeaky tests rely on, checked in our words."""
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
