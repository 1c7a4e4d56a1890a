import pytest
import torch

import snntorch as snn

# The tests run thousands of steps on tensors of a few dozen elements, where
# torch's intra-op thread pool only adds overhead; on a busy 2-core machine its
# spinning threads made the parity suite ~6x slower.  One thread is also what
# keeps float reductions in a fixed order.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _clean_snntorch_registry():
    """snnTorch appends every neuron it builds to a class-level list; empty it
    after each test so tests stay independent (and memory does not grow)."""
    torch.manual_seed(0)
    yield
    snn.SpikingNeuron.instances.clear()
