"""Uploaded state dicts: loaded with weights_only=True, checked against the layer."""
import io
import os
import pickle

import pytest
import torch

from rleaky_viz import SimConfig, simulate
from rleaky_viz.simulate import StateDictError
from rleaky_viz.ui.runner import load_state_dict_bytes


def to_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def test_snntorch_state_dict_is_used():
    snn = pytest.importorskip("snntorch")
    ref = snn.RLeaky(beta=0.8, linear_features=12)
    with torch.no_grad():
        ref.recurrent.weight.mul_(3)
    state = load_state_dict_bytes(to_bytes(ref.state_dict()))
    cfg = SimConfig(recurrence="linear", num_neurons=12, weight_init="state_dict", num_steps=30)
    trace = simulate(cfg, state_dict=state)
    assert torch.equal(trace.neuron.recurrent.weight, ref.recurrent.weight)
    assert float(trace.neuron.beta) == pytest.approx(0.8)
    from _oracle import run_steps

    assert torch.equal(run_steps(ref, trace.input)[0], trace.spk)


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/rleaky_viz_pwned",))


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    data = to_bytes({"recurrent.weight": torch.zeros(3, 3), "x": Boom()})
    with pytest.raises(StateDictError, match="safely"):
        load_state_dict_bytes(data)
    assert not os.path.exists("/tmp/rleaky_viz_pwned")
    with pytest.raises(StateDictError):
        load_state_dict_bytes(pickle.dumps(Boom()))
    assert not os.path.exists("/tmp/rleaky_viz_pwned")


@pytest.mark.parametrize("obj, words", [
    ({"recurrent.weight": torch.zeros(5, 5), "recurrent.bias": torch.zeros(5)}, "shape"),
    ({"recurrent.bias": torch.zeros(4)}, "no recurrent.weight"),
    ({"recurrent.weight": torch.full((4, 4), float("nan")), "recurrent.bias": torch.zeros(4)}, "finite"),
    ({"recurrent.weight": torch.zeros(4, 4, dtype=torch.int64), "recurrent.bias": torch.zeros(4)},
     "floating"),
    ([torch.zeros(4, 4)], "state dict"),
])
def test_wrong_state_dicts_get_clear_messages(obj, words):
    state = load_state_dict_bytes(to_bytes(obj)) if isinstance(obj, dict) else None
    cfg = SimConfig(recurrence="linear", num_neurons=4, weight_init="state_dict")
    with pytest.raises(StateDictError, match=words):
        if state is None:
            load_state_dict_bytes(to_bytes(obj))
        simulate(cfg, state_dict=state)


def test_not_a_torch_file():
    with pytest.raises(StateDictError, match="safely"):
        load_state_dict_bytes(b"recurrent.weight,1,2,3\n")
    with pytest.raises(StateDictError, match="MB"):
        load_state_dict_bytes(b"0" * (21 * 2**20))
