"""ZeroPadding2D and UpSampling2D (ops, layers, reference loops) against PyTorch float64
(``F.pad``, ``F.interpolate(mode="nearest")``)."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, layers, reference
from pyx_cnn.ops import upsampling, zero_padding

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(12)
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def nchw(a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), dtype=torch.float64,
                        requires_grad=True)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_pair(fn, x, g):
    """PyTorch's output and input gradient of `fn` (on NCHW tensors), as NHWC arrays."""
    t = nchw(x)
    y = fn(t)
    y.backward(nchw(g).detach())
    return nhwc(y), nhwc(t.grad)


def run_layer(layer, x, g_shape_from_output=True):
    y = layer.forward(x)
    g = RNG.standard_normal(y.shape).astype(x.dtype)
    return y, g, layer.backward(g)


# --- ZeroPadding2D ----------------------------------------------------------------

PADDINGS = [(0, ((0, 0), (0, 0))), (2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))),
            (((0, 2), (3, 1)), ((0, 2), (3, 1))), ([[1, 0], [0, 0]], ((1, 0), (0, 0)))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding,pads", PADDINGS)
def test_zero_padding_matches_torch(padding, pads, dtype):
    x = RNG.standard_normal((2, 5, 3, 4)).astype(dtype)
    layer = layers.ZeroPadding2D(padding)
    assert layer.pads == pads
    y, g, dx = run_layer(layer, x)
    (top, bottom), (left, right) = pads
    ty, tg = torch_pair(lambda t: F.pad(t, (left, right, top, bottom)), x, g)
    assert y.dtype == dx.dtype == dtype and y.shape == ty.shape
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(dx, tg)
    np.testing.assert_array_equal(reference.zero_padding(x, padding), ty)
    np.testing.assert_array_equal(reference.zero_padding_backward(x.shape, g, padding), tg)


def test_zero_padding_op_and_config():
    x = RNG.standard_normal((1, 2, 2, 1))
    out, saved = zero_padding.forward(x, ((0, 0), (0, 0)))
    assert out is x and zero_padding.backward(x, saved) is x
    assert layers.ZeroPadding2D().get_config() == {"padding": 1}
    assert layers.ZeroPadding2D((1, 2)).get_config() == {"padding": [1, 2]}
    assert layers.ZeroPadding2D(((1, 1), (2, 2))).padding == (1, 2)
    assert repr(layers.ZeroPadding2D(((0, 1), (2, 3)))) == \
        "ZeroPadding2D(padding=[[0, 1], [2, 3]])"


@pytest.mark.parametrize("padding,error", [
    (-1, ValueError), ((1, -2), ValueError), (((0, 1), (2, -1)), ValueError),
    ("same", TypeError), (1.5, TypeError), ((1, 2, 3), TypeError), (((1, 2, 3), (0, 0)),
                                                                    TypeError),
    ((1, (2, 3)), TypeError), (None, TypeError)])
def test_bad_padding_names_the_argument(padding, error):
    with pytest.raises(error, match="padding"):
        layers.ZeroPadding2D(padding)


# --- UpSampling2D -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1, 2, 3, (2, 1), (1, 3), (3, 2)])
def test_upsampling_matches_torch(size, dtype):
    x = RNG.standard_normal((2, 3, 5, 3)).astype(dtype)
    layer = layers.UpSampling2D(size)
    y, g, dx = run_layer(layer, x)
    sh, sw = (size, size) if isinstance(size, int) else size
    ty, tg = torch_pair(lambda t: F.interpolate(t, scale_factor=(sh, sw), mode="nearest"),
                        x, g)
    assert y.dtype == dx.dtype == dtype and y.shape == (2, 3 * sh, 5 * sw, 3)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(dx, tg, **TOL[dtype])
    np.testing.assert_array_equal(reference.upsampling(x, size), ty)
    np.testing.assert_allclose(reference.upsampling_backward(g, size), tg, rtol=1e-13,
                               atol=1e-13)


def test_upsampling_config_and_bad_size():
    assert layers.UpSampling2D().get_config() == {"size": 2}
    assert layers.UpSampling2D((2, 2)).get_config() == {"size": 2}
    assert layers.UpSampling2D([1, 3]).get_config() == {"size": [1, 3]}
    for size, error in [(0, ValueError), ((2, 0), ValueError), (1.5, TypeError),
                        ("2", TypeError), ((1, 2, 3), TypeError)]:
        with pytest.raises(error, match="size"):
            layers.UpSampling2D(size)


def test_layers_refuse_samples_that_are_not_images():
    for layer in (layers.UpSampling2D(), layers.ZeroPadding2D()):
        with pytest.raises(ValueError, match="3 dimension"):
            layer.forward(np.zeros((2, 4)))


@pytest.mark.parametrize("op,args", [(upsampling, ((3, 2),)),
                                     (zero_padding, (((2, 1), (0, 3)),))])
def test_one_and_two_threads_give_the_same_bits(op, args):
    x = RNG.standard_normal((4, 33, 17, 5)).astype(np.float32)
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = op.forward(x, *args)
        g = np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
        results.append((y, op.backward(g, saved)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# --- in a network -------------------------------------------------------------------

def shape_network(dtype):
    return NeuralNetwork([
        layers.ZeroPadding2D(((1, 2), (0, 1))), layers.Conv2D(3, 3, activation="tanh"),
        layers.UpSampling2D((2, 1)), layers.Conv2D(2, 2, stride=2), layers.Flatten(),
        layers.Dense(2),
    ], input_shape=(5, 4, 2), seed=4, dtype=dtype, loss="mse")


def torch_shape_network(params, tx):
    w1, b1, w2, b2, w3, b3 = (p for p in params)
    h = F.pad(tx.permute(0, 3, 1, 2), (0, 1, 1, 2))
    h = torch.tanh(F.conv2d(h, w1.permute(0, 3, 1, 2), b1))
    h = F.interpolate(h, scale_factor=(2, 1), mode="nearest")
    h = F.conv2d(h, w2.permute(0, 3, 1, 2), b2, stride=2)
    return h.permute(0, 2, 3, 1).reshape(tx.shape[0], -1) @ w3 + b3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_sgd_step_in_a_network_equals_torch(dtype):
    x = RNG.standard_normal((4, 5, 4, 2)).astype(dtype)
    y = RNG.standard_normal((4, 2)).astype(dtype)
    net = shape_network(dtype)
    assert net.layers[2].output_shape == (12, 3, 3)
    before = [p.copy() for layer in net.layers for p in layer.params.values()]
    tparams = [torch.tensor(p.astype(np.float64), requires_grad=True) for p in before]
    F.mse_loss(torch_shape_network(tparams, torch.tensor(x.astype(np.float64))),
               torch.tensor(y.astype(np.float64))).backward()
    net.fit(x, y, epochs=1, batch_size=4, learning_rate=0.1, shuffle=False)
    after = [p for layer in net.layers for p in layer.params.values()]
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for new, old, t in zip(after, before, tparams):
        np.testing.assert_allclose(new, old - 0.1 * t.grad.numpy(), **tol)


def test_save_load_and_summary(tmp_path):
    net = shape_network(np.float32)
    table = net.summary(print_fn=None)
    assert "ZeroPadding2D" in table and "UpSampling2D" in table and "(None, 8, 5, 2)" in table
    net.save(tmp_path / "m.npz")
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    assert loaded.layers[0].pads == ((1, 2), (0, 1)) and loaded.layers[2].size == (2, 1)
    x = RNG.standard_normal((3, 5, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
