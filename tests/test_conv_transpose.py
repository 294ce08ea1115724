"""Conv2DTranspose and pyx_cnn.ops.conv_transpose against PyTorch float64
(``F.conv_transpose2d``: output, input, weight and bias gradients), the scatter loop of
pyx_cnn.reference, and the Conv2D whose input gradient it is."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, layers, reference
from pyx_cnn.ops import conv, conv_transpose

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(21)
TOL = {np.float64: dict(rtol=1e-11, atol=1e-11), np.float32: dict(rtol=1e-4, atol=1e-4)}


def pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def random_cases(count, seed):
    """(kernel, stride, padding, output_padding, dilation, (H, W)) drawn over strides
    1..3, kernels 1..4, dilations 1..3, odd and even sizes, each output_padding below the
    stride or the dilation, and the output at least one pixel."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        k, s, d = (tuple(int(v) for v in rng.integers(lo, hi, 2))
                   for lo, hi in ((1, 5), (1, 4), (1, 4)))
        op = tuple(int(rng.integers(0, max(si, di))) for si, di in zip(s, d))
        p = tuple(int(v) for v in rng.integers(0, 3, 2))
        hw = tuple(int(v) for v in rng.integers(1, 7, 2))
        out = conv_transpose.output_shape(hw, k, s, p, op, d)
        if min(out) >= 1:
            cases.append((k, s, p, op, d, hw))
    return cases


CASES = random_cases(28, 0) + [((3, 3), (2, 2), (1, 1), (1, 1), (1, 1), (5, 4)),
                               ((2, 2), (1, 1), (0, 0), (1, 1), (2, 2), (3, 3)),
                               ((4, 1), (3, 1), (2, 0), (2, 0), (1, 1), (2, 7))]


def case_id(case):
    names = ("k", "s", "p", "op", "d", "hw")
    return "-".join(f"{n}{a}x{b}" for n, (a, b) in zip(names, case))


def torch_conv_transpose(x, w, b, g, k, s, p, op, d):
    tx = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    ty = F.conv_transpose2d(tx, tw, tb, stride=s, padding=p, output_padding=op, dilation=d)
    if g is None:
        return ty.detach().numpy().transpose(0, 2, 3, 1)
    ty.backward(torch.tensor(g.transpose(0, 3, 1, 2), dtype=torch.float64))
    return (ty.detach().numpy().transpose(0, 2, 3, 1), tx.grad.numpy().transpose(0, 2, 3, 1),
            tw.grad.numpy().transpose(0, 2, 3, 1), tb.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k,s,p,op,d,hw", CASES, ids=[case_id(c) for c in CASES])
def test_op_matches_torch(k, s, p, op, d, hw, dtype):
    c, f = 3, 2
    x = RNG.standard_normal((2, *hw, c)).astype(dtype)
    w = RNG.standard_normal((c, *k, f)).astype(dtype)
    b = RNG.standard_normal(f).astype(dtype)
    x0, w0 = x.copy(), w.copy()
    y, saved = conv_transpose.forward(x, w, b, s, p, op, d)
    g = RNG.standard_normal(y.shape).astype(dtype)
    ty, tgx, tgw, tgb = torch_conv_transpose(x, w, b, g, k, s, p, op, d)
    gx, gw, gb = conv_transpose.backward(g, saved)
    assert y.shape == ty.shape and y.dtype == gx.dtype == gw.dtype == gb.dtype == dtype
    for ours, theirs in ((y, ty), (gx, tgx), (gw, tgw), (gb, tgb)):
        np.testing.assert_allclose(ours, theirs, **TOL[dtype])
    np.testing.assert_array_equal(conv_transpose.backward(g, saved, input_grad=False)[1], gw)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("k,s,p,op,d,hw", CASES[:6] + CASES[-3:],
                         ids=[case_id(c) for c in CASES[:6] + CASES[-3:]])
def test_reference_matches_torch(k, s, p, op, d, hw):
    x = RNG.standard_normal((1, *hw, 2))
    w = RNG.standard_normal((2, *k, 3))
    b = RNG.standard_normal(3)
    y = reference.conv_transpose(x, w, s, p, op, b, d)
    g = RNG.standard_normal(y.shape)
    expected = torch_conv_transpose(x, w, b, g, k, s, p, op, d)
    got = (y, *reference.conv_transpose_backward(x, w, g, s, p, op, d))
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s,p,d", [(1, 0, 1), (2, 1, 1), (3, 2, 2), ((2, 1), (0, 1), (1, 2))])
def test_forward_is_the_input_gradient_of_the_conv2d_with_those_filters(s, p, d):
    w = RNG.standard_normal((4, 3, 2, 5))             # Conv2D(4, (3, 2)) on 5 channels
    z = RNG.standard_normal((2, 9, 8, 5))
    pads = tuple((v, v) for v in pairs(p))
    out, saved = conv.forward(z, w, np.zeros(4), pairs(s), pads, pairs(d))
    g = RNG.standard_normal(out.shape)
    grad_z = conv.backward(g, saved)[0]
    op = tuple(z.shape[1 + a] - conv_transpose.output_shape(
        out.shape[1:3], w.shape[1:3], pairs(s), pairs(p), (0, 0), pairs(d))[a]
        for a in range(2))
    y, _ = conv_transpose.forward(g, w, np.zeros(5), pairs(s), pairs(p), op, pairs(d))
    np.testing.assert_allclose(y, grad_z, rtol=1e-12, atol=1e-12)


def test_layer_config_shapes_and_repr():
    layer = layers.Conv2DTranspose(4, (3, 2), stride=(2, 1), padding=1, output_padding=(1, 0))
    assert layer.build((5, 6, 3), rng=0) == (10, 5, 4)
    assert layer.params["W"].shape == (3, 3, 2, 4) and layer.params["b"].shape == (4,)
    assert layer.get_config() == {"filters": 4, "kernel_size": [3, 2], "stride": [2, 1],
                                  "padding": 1, "output_padding": [1, 0],
                                  "activation": None, "use_bias": True, "dilation": 1}
    assert "Conv2DTranspose(filters=4" in repr(layer)
    assert layers.Conv2DTranspose(2, 1, activation="ReLU6", use_bias=False).get_config()[
        "activation"] == "relu6"


@pytest.mark.parametrize("kwargs,error,name", [
    (dict(output_padding=2, stride=2), ValueError, "output_padding"),
    (dict(output_padding=1), ValueError, "output_padding"),
    (dict(output_padding=(0, 3), stride=(1, 3)), ValueError, "output_padding"),
    (dict(output_padding=-1), ValueError, "output_padding"),
    (dict(padding="same"), TypeError, "padding"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(stride=0), ValueError, "stride"),
    (dict(dilation=1.5), TypeError, "dilation"),
    (dict(activation="swish"), ValueError, "activation"),
])
def test_bad_arguments_name_themselves(kwargs, error, name):
    with pytest.raises(error, match=name):
        layers.Conv2DTranspose(2, 3, **kwargs)
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2DTranspose(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv2DTranspose(2, (3, 0))


def test_bad_inputs_are_refused():
    layer = layers.Conv2DTranspose(2, 1, padding=1)
    with pytest.raises(ValueError, match="padding=1 cuts the whole output"):
        layer.forward(np.ones((1, 1, 1, 1)))
    layer = layers.Conv2DTranspose(2, 3)
    with pytest.raises(ValueError, match="3 dimension"):
        layer.forward(np.ones((2, 4)))
    layer.forward(np.ones((1, 3, 3, 2)))
    with pytest.raises(ValueError, match="built for batches"):
        layer.forward(np.ones((1, 3, 3, 3)))


@pytest.mark.parametrize("s", [1, 2])
def test_one_and_two_threads_give_the_same_bits(s):
    x = RNG.standard_normal((3, 11, 13, 6)).astype(np.float32)
    w = RNG.standard_normal((6, 3, 3, 8)).astype(np.float32)
    b = RNG.standard_normal(8).astype(np.float32)
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = conv_transpose.forward(x, w, b, (s, s), (1, 1), (s - 1, s - 1), (1, 1))
        g = np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
        results.append((y, *conv_transpose.backward(g, saved)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def decoder(dtype):
    return NeuralNetwork([
        layers.Conv2DTranspose(3, 3, stride=2, padding=1, output_padding=1,
                               activation="relu6"),
        layers.Conv2D(4, 3, stride=2, padding=1), layers.ReLU(),
        layers.Conv2DTranspose(2, (2, 3), stride=(1, 2), dilation=(2, 1), use_bias=False,
                               activation="tanh"),
        layers.Flatten(), layers.Dense(2),
    ], input_shape=(3, 4, 2), seed=5, dtype=dtype, loss="mse")


def torch_decoder(params, tx):
    w1, b1, w2, b2, w3, w4, b4 = params
    h = tx.permute(0, 3, 1, 2)
    h = F.relu6(F.conv_transpose2d(h, w1.permute(0, 3, 1, 2), b1, stride=2, padding=1,
                                   output_padding=1))
    h = F.relu(F.conv2d(h, w2.permute(0, 3, 1, 2), b2, stride=2, padding=1))
    h = torch.tanh(F.conv_transpose2d(h, w3.permute(0, 3, 1, 2), stride=(1, 2),
                                      dilation=(2, 1)))
    return h.permute(0, 2, 3, 1).reshape(tx.shape[0], -1) @ w4 + b4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_sgd_step_in_a_network_equals_torch(dtype):
    x = RNG.standard_normal((4, 3, 4, 2)).astype(dtype)
    y = RNG.standard_normal((4, 2)).astype(dtype)
    net = decoder(dtype)
    assert net.layers[0].output_shape == (6, 8, 3) and net.layers[3].output_shape == (5, 9, 2)
    before = [p.copy() for layer in net.layers for p in layer.params.values()]
    tparams = [torch.tensor(p.astype(np.float64), requires_grad=True) for p in before]
    F.mse_loss(torch_decoder(tparams, torch.tensor(x.astype(np.float64))),
               torch.tensor(y.astype(np.float64))).backward()
    net.fit(x, y, epochs=1, batch_size=4, learning_rate=0.1, shuffle=False)
    after = [p for layer in net.layers for p in layer.params.values()]
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for new, old, t in zip(after, before, tparams):
        np.testing.assert_allclose(new, old - 0.1 * t.grad.numpy(), **tol)


def test_save_load_summary_and_gradcheck(tmp_path):
    net = decoder(np.float64)
    table = net.summary(print_fn=None)
    assert "Conv2DTranspose" in table and "(None, 6, 8, 3)" in table
    net.save(tmp_path / "m.npz")
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    assert loaded.layers[3].get_config() == net.layers[3].get_config()
    x = RNG.standard_normal((3, 3, 4, 2))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    layer = layers.Conv2DTranspose(2, 3, stride=2, padding=1, output_padding=1)
    layer.build((3, 3, 2), rng=1)
    assert pyx_cnn.gradcheck(layer, RNG.standard_normal((2, 3, 3, 2)))


def test_an_activation_after_a_transposed_convolution_runs_in_place_and_equals_unfused():
    from pyx_cnn import NeuralNetwork, layers

    def make():
        return NeuralNetwork([layers.Conv2DTranspose(3, 3, stride=2), layers.ReLU(),
                              layers.Flatten(), layers.Dense(2)],
                             input_shape=(4, 4, 2), seed=3, loss="mse")
    rows = make()._chain.summary_rows("mse")
    assert rows[0][3] == "activation_in_place" and rows[1][3] == "activation_in_place"
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 4, 4, 2)), rng.standard_normal((5, 2))
    fused, unfused = make(), make()
    fused.fit(x, y, epochs=2, batch_size=5, learning_rate=0.1, verbose=0)
    unfused.fit(x, y, epochs=2, batch_size=5, learning_rate=0.1, verbose=0, fuse=False)
    np.testing.assert_allclose(fused.flat_params, unfused.flat_params, rtol=1e-12, atol=1e-14)
