"""Tiny sequences worked out by hand from the step equations of SEMANTICS.md.

One neuron (one-to-one recurrence), beta = 0.5, threshold = 1, constant input.
The inputs and weights are dyadic fractions, so every value below is exact in
float32 and the comparisons are exact.  Each case is also run through
snnTorch, to show the hand computation reads the reference correctly.
"""
import torch

from rleaky_viz.core import RLeaky, unroll

from _oracle import build_ref


def _run(layer, x, spk0=None, mem0=None):
    """Step ``layer`` over the 1-D sequence x (one neuron, batch of one)."""
    if spk0 is None:
        spk, mem = layer.init_rleaky()
    else:
        spk, mem = torch.tensor([[spk0]]), torch.tensor([[mem0]])
    spks, mems = [], []
    for v in x:
        spk, mem = layer(torch.tensor([[v]]), spk, mem)
        spks.append(spk.item())
        mems.append(mem.item())
    return spks, mems


def _check(expected_spk, expected_mem, x, spk0=None, mem0=None, **kwargs):
    ours = RLeaky(**kwargs)
    assert _run(ours, x, spk0, mem0) == (expected_spk, expected_mem)
    xs = torch.tensor(x).reshape(len(x), 1, 1)
    init = {} if spk0 is None else dict(spk=torch.tensor([[spk0]]), mem=torch.tensor([[mem0]]))
    spk, mem = unroll(ours, xs, **init)
    assert spk.flatten().tolist() == expected_spk
    assert mem.flatten().tolist() == expected_mem
    assert _run(build_ref(**kwargs), x, spk0, mem0) == (expected_spk, expected_mem)


ONE = dict(beta=0.5, threshold=1.0, all_to_all=False, V=0.5)


def test_subtract_reset():
    # B = 0.5 U + 0.625 + 0.5 S ; U' = B - R, R = H(U - 1) ; S' = H(U' - 1)
    #  t  R  B                                    U'         S'
    #  1  0  0     + .625 + 0    = .625           .625       0
    #  2  0  .3125 + .625 + 0    = .9375          .9375      0
    #  3  0  .46875+ .625 + 0    = 1.09375        1.09375    1
    #  4  1  .546875+.625 + .5   = 1.671875       .671875    0
    #  5  0  .3359375+.625+ 0    = .9609375       .9609375   0
    #  6  0  .48046875+.625+0    = 1.10546875     1.10546875 1
    _check([0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
           [0.625, 0.9375, 1.09375, 0.671875, 0.9609375, 1.10546875],
           [0.625] * 6, reset_mechanism="subtract", **ONE)


def test_zero_reset():
    # same first three steps; at t = 4 R = 1 drops the whole B = 1.671875, the
    # new input included, and the cycle of period 4 repeats
    _check([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
           [0.625, 0.9375, 1.09375, 0.0, 0.625, 0.9375, 1.09375, 0.0],
           [0.625] * 8, reset_mechanism="zero", **ONE)


def test_no_reset():
    # U' = B: 0.625, 0.9375, 1.09375 (spike), then the spike feeds back V = 0.5
    #  t4: .546875 + .625 + .5 = 1.671875 ; t5: .8359375 + .625 + .5 = 1.9609375
    _check([0.0, 0.0, 1.0, 1.0, 1.0],
           [0.625, 0.9375, 1.09375, 1.671875, 1.9609375],
           [0.625] * 5, reset_mechanism="none", **ONE)


def test_subtract_is_not_zero():
    sub = _run(RLeaky(reset_mechanism="subtract", **ONE), [0.625] * 4)
    zero = _run(RLeaky(reset_mechanism="zero", **ONE), [0.625] * 4)
    assert sub[1][3] == 0.671875 and zero[1][3] == 0.0


def test_membrane_equal_to_threshold_does_not_spike():
    # start at U = 1 = threshold: R = H(0) = 0, U' = 0.5 * 1 + 0.5 = 1 again, no
    # spike ever and no reset ever
    _check([0.0] * 5, [1.0] * 5, [0.5] * 5, spk0=0.0, mem0=1.0,
           reset_mechanism="subtract", **ONE)
    # one step of input more and it crosses: U' = 0.5 + 0.625 = 1.125 > 1
    _check([1.0], [1.125], [0.625], spk0=0.0, mem0=1.0, reset_mechanism="subtract", **ONE)


def test_reset_delay_false_subtract():
    # D = S' - R and U' = B - R - D = B - S': the reset lands in the step that fired
    #  t  R  B                                 S'  U'
    #  1  0  .625                              0   .625
    #  2  0  .3125 + .625       = .9375        0   .9375
    #  3  0  .46875 + .625      = 1.09375      1   .09375
    #  4  0  .046875 + .625 + .5 = 1.171875    1   .171875
    #  5  0  .0859375 + .625 + .5 = 1.2109375  1   .2109375
    #  6  0  .10546875 + .625 + .5 = 1.23046875 1  .23046875
    _check([0.0, 0.0, 1.0, 1.0, 1.0, 1.0],
           [0.625, 0.9375, 0.09375, 0.171875, 0.2109375, 0.23046875],
           [0.625] * 6, reset_mechanism="subtract", reset_delay=False, **ONE)


def test_reset_delay_false_zero():
    # U' = B - D B with D = S' - R: after the first spike B = 0 + .625 + .5 = 1.125
    # every step, which fires and is zeroed in the same step
    _check([0.0, 0.0, 1.0, 1.0, 1.0],
           [0.625, 0.9375, 0.0, 0.0, 0.0],
           [0.625] * 5, reset_mechanism="zero", reset_delay=False, **ONE)


def test_reset_delay_false_graded():
    # g = 2: S' = 2 H(U' - 1), D = S'/2 - R, so the reset is still one threshold,
    # while the recurrence sees V S = 0.5 * 2 = 1
    #  t3: B = 1.09375 fires, U' = .09375 ; t4: B = .046875 + .625 + 1 = 1.671875
    #  fires, U' = .671875 ; t5: B = .3359375 + .625 + 1 = 1.9609375, U' = .9609375
    ours = RLeaky(reset_mechanism="subtract", reset_delay=False, graded_spikes_factor=2.0, **ONE)
    assert _run(ours, [0.625] * 5) == ([0.0, 0.0, 2.0, 2.0, 2.0],
                                       [0.625, 0.9375, 0.09375, 0.671875, 0.9609375])
    ref = build_ref(reset_mechanism="subtract", reset_delay=False, graded=2.0, **ONE)
    assert _run(ref, [0.625] * 5) == _run(ours, [0.625] * 5)


def test_recurrent_bias_fires_with_zero_input():
    # linear recurrence with W = 0 and bias (0.625, 0), no input at all:
    # B = 0.5 U + 0.625 for the first neuron (no spike feedback, W = 0)
    #  t  R  B                          S'  U'
    #  1  0  .625                       0   .625
    #  2  0  .3125 + .625 = .9375       0   .9375
    #  3  0  .46875 + .625 = 1.09375    1   1.09375
    #  4  1  .546875 + .625 = 1.171875  0   .171875
    #  5  0  .0859375 + .625            0   .7109375
    #  6  0  .35546875 + .625           0   .98046875
    #  7  0  .490234375 + .625          1   1.115234375
    # and the second neuron (bias 0) stays at rest
    x = torch.zeros(7, 1, 2)
    expected_spk = [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0],
                    [1.0, 0.0]]
    expected_mem = [[0.625, 0.0], [0.9375, 0.0], [1.09375, 0.0], [0.171875, 0.0],
                    [0.7109375, 0.0], [0.98046875, 0.0], [1.115234375, 0.0]]
    layers = [RLeaky(beta=0.5, linear_features=2), build_ref(beta=0.5, linear_features=2)]
    for layer in layers:
        with torch.no_grad():
            layer.recurrent.weight.zero_()
            layer.recurrent.bias.copy_(torch.tensor([0.625, 0.0]))
        spk, mem = layer.init_rleaky()
        spks, mems = [], []
        for x_t in x:
            spk, mem = layer(x_t, spk, mem)
            spks.append(spk[0].tolist())
            mems.append(mem[0].tolist())
        assert spks == expected_spk
        assert mems == expected_mem
    spk, mem = unroll(layers[0], x)
    assert spk[:, 0].tolist() == expected_spk
    assert mem[:, 0].tolist() == expected_mem


def test_one_to_one_weight_feeds_back():
    # V = -1: after the first spike the neuron inhibits itself.  Input 1.25:
    #  t1: B = 1.25 fires ; t2: R = 1, B = .625 + 1.25 - 1 = .875, U' = -.125
    #  t3: B = -.0625 + 1.25 = 1.1875 fires ; t4: R = 1, B = .59375 + 1.25 - 1
    #  = .84375, U' = -.15625
    kwargs = dict(beta=0.5, threshold=1.0, all_to_all=False, V=-1.0)
    _check([1.0, 0.0, 1.0, 0.0], [1.25, -0.125, 1.1875, -0.15625], [1.25] * 4, **kwargs)


def test_decision_membrane_is_recorded_before_the_same_step_reset():
    # the table of test_reset_delay_false_subtract: the spike is decided on B - R·θ
    # (R = 0 throughout), the returned U' already has the spike's own reset
    x = torch.tensor([0.625] * 6).reshape(6, 1, 1)
    for engine in ("fast", "step"):
        late = unroll(RLeaky(reset_mechanism="subtract", reset_delay=False, **ONE), x,
                      record=True, engine=engine)
        assert late.decision.flatten().tolist() == [0.625, 0.9375, 1.09375, 1.171875, 1.2109375,
                                                    1.23046875]
        assert late.mem.flatten().tolist() == [0.625, 0.9375, 0.09375, 0.171875, 0.2109375,
                                               0.23046875]
        # zero reset: decided on B = 1.125 after the first spike, returned as 0
        zero = unroll(RLeaky(reset_mechanism="zero", reset_delay=False, **ONE), x[:5],
                      record=True, engine=engine)
        assert zero.decision.flatten().tolist() == [0.625, 0.9375, 1.09375, 1.125, 1.125]
        # with the delay (the default) the decision membrane is U[t] itself
        delayed = unroll(RLeaky(reset_mechanism="subtract", **ONE), x, record=True, engine=engine)
        assert torch.equal(delayed.decision, delayed.mem)
        assert delayed.decision.data_ptr() != delayed.mem.data_ptr()  # a copy, not an alias
