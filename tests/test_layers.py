"""Finite-difference gradient checks (float64) for every layer and loss."""
import numpy as np
import pytest

from pyx_cnn import layers
from pyx_cnn.losses import MeanSquaredError, SoftmaxCrossEntropy
from pyx_cnn.reference import conv as conv_naive, pooling as maxpool_naive

EPS = 1e-6


def numeric_grad(f, a):
    """Central differences of the scalar f() with respect to every element of a (in place)."""
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + EPS
        up = f()
        flat[i] = old - EPS
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * EPS)
    return grad


def check_layer(layer, x, rng, rtol=1e-6, atol=1e-7):
    """L = sum(forward(x) * g): backward(g) must match finite differences for x and params."""
    x = x.copy()
    out = layer.forward(x)
    g = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(layer.forward(x) * g))

    layer.forward(x)
    dx = layer.backward(g)
    analytic = {k: v.copy() for k, v in layer.grads.items()}
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=rtol, atol=atol)
    for key, value in layer.params.items():
        np.testing.assert_allclose(analytic[key], numeric_grad(loss, value), rtol=rtol,
                                   atol=atol, err_msg=key)
    assert set(layer.grads) == set(layer.params)
    for key in layer.params:
        assert layer.grads[key].shape == layer.params[key].shape


CONV_CASES = [
    # N, H, W, C, F, kernel, stride, padding, activation
    (2, 5, 5, 1, 2, 3, 1, 0, None),
    (2, 6, 7, 3, 2, (2, 3), 2, 1, None),
    (1, 7, 7, 2, 3, 4, 3, 2, "relu"),
    (3, 5, 6, 2, 2, 2, 1, 1, "sigmoid"),
    (2, 6, 5, 1, 3, (3, 1), 2, 0, "softmax"),
    (2, 4, 4, 2, 2, 1, 1, 0, None),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradients(case):
    n, h, w, c, f, k, stride, padding, activation = case
    rng = np.random.default_rng(len(str(case)))
    layer = layers.Conv2D(f, k, stride=stride, padding=padding, activation=activation)
    layer.build((h, w, c), rng=rng)
    layer.params["b"][...] = rng.standard_normal(f) * 0.1
    x = rng.standard_normal((n, h, w, c))
    if activation == "relu":
        # keep pre-activations away from 0, where ReLU has no derivative
        z = conv_naive(x, layer.params["W"], stride, padding, layer.params["b"])
        assert np.min(np.abs(z)) > 1e-4
    check_layer(layer, x, rng)


def test_conv2d_forward_matches_naive_and_layout():
    rng = np.random.default_rng(0)
    layer = layers.Conv2D(4, (3, 2), stride=2, padding=1)
    x = rng.standard_normal((3, 7, 8, 2))
    layer.build(x.shape[1:], rng=1)
    assert layer.params["W"].shape == (4, 3, 2, 2)
    assert layer.params["b"].shape == (4,)
    layer.params["b"][...] = [1, 2, 3, 4]
    out = layer.forward(x)
    ref = conv_naive(x, layer.params["W"], 2, 1, layer.params["b"])
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert layer.output_shape == out.shape[1:]


def test_conv2d_without_bias():
    rng = np.random.default_rng(1)
    layer = layers.Conv2D(2, 3, use_bias=False)
    layer.build((5, 5, 2), rng=rng)
    assert set(layer.params) == {"W"}
    check_layer(layer, rng.standard_normal((2, 5, 5, 2)), rng)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 1), (2, 1), (3, 2)])
def test_maxpool_gradients(size, stride):
    rng = np.random.default_rng(size + 7 * stride)
    # distinct values: no ties, so the gradient is defined everywhere
    x = rng.permutation(2 * 7 * 6 * 3).reshape(2, 7, 6, 3) / 100.0
    layer = layers.MaxPool2D(size, stride)
    np.testing.assert_array_equal(layer.forward(x), maxpool_naive(x, size, stride))
    check_layer(layer, x, rng)


def test_relu_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5, 2))
    x[np.abs(x) < 1e-3] = 0.5     # avoid the kink at 0
    np.testing.assert_array_equal(layers.ReLU().forward(x), np.maximum(x, 0))
    check_layer(layers.ReLU(), x, rng)


def test_sigmoid_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 7)) * 3
    np.testing.assert_allclose(layers.Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-14)
    check_layer(layers.Sigmoid(), x, rng)


def test_flatten_order_and_gradient():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 5))
    layer = layers.Flatten()
    out = layer.forward(x)
    assert out.shape == (2, 60)
    # Dense row index (y*W + x)*C + c
    assert out[1, (2 * 4 + 1) * 5 + 3] == x[1, 2, 1, 3]
    check_layer(layers.Flatten(), x, rng)


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "softmax"])
def test_dense_gradients(activation):
    rng = np.random.default_rng(5)
    layer = layers.Dense(4, activation=activation)
    layer.build((6,), rng=rng)
    layer.params["b"][...] = rng.standard_normal(4) * 0.1
    x = rng.standard_normal((5, 6))
    if activation == "relu":
        assert np.min(np.abs(x @ layer.params["W"] + layer.params["b"])) > 1e-4
    z = x @ layer.params["W"] + layer.params["b"]
    ref = {None: z, "relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)),
           "softmax": np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)}[activation]
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-13, atol=1e-15)
    check_layer(layer, x, rng)
    assert layer.params["W"].shape == (6, 4)


def test_dense_forward_value():
    layer = layers.Dense(2)
    layer.build((3,), rng=0)
    layer.params["W"][...] = [[1, 2], [3, 4], [5, 6]]
    layer.params["b"][...] = [0.5, -0.5]
    np.testing.assert_allclose(layer.forward([[1.0, 0.0, -1.0]]), [[-3.5, -4.5]])


@pytest.mark.parametrize("targets", ["labels", "soft"])
def test_softmax_cross_entropy_gradient_and_value(targets):
    rng = np.random.default_rng(6)
    z = rng.standard_normal((5, 4)) * 3
    if targets == "labels":
        t = rng.integers(0, 4, 5)
        onehot = np.eye(4)[t]
    else:
        t = rng.dirichlet(np.ones(4), size=5)
        onehot = t
    loss = SoftmaxCrossEntropy()
    value, grad = loss(z, t)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(value, -np.mean(np.sum(onehot * np.log(p), axis=1)), rtol=1e-12)
    num = numeric_grad(lambda: loss(z, t)[0], z)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [-800.0, 800.0, 0.0]])
    value, grad = SoftmaxCrossEntropy()(z, np.array([2, 0]))
    assert value == pytest.approx((2000.0 + 1600.0) / 2, rel=1e-12)
    expected = (np.array([[1.0, 0, 0], [0, 1.0, 0]]) - np.array([[0, 0, 1.0], [1.0, 0, 0]])) / 2
    np.testing.assert_allclose(grad, expected, atol=1e-300)


def test_mse_gradient_and_value():
    rng = np.random.default_rng(7)
    out = rng.standard_normal((4, 3))
    t = rng.standard_normal((4, 3))
    loss = MeanSquaredError()
    value, grad = loss(out, t)
    assert value == pytest.approx(np.mean((out - t) ** 2), rel=1e-14)
    np.testing.assert_allclose(grad, numeric_grad(lambda: loss(out, t)[0], out),
                               rtol=1e-6, atol=1e-9)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="activation"):
        layers.Dense(3, activation="swish")
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2D(0, 3)
    with pytest.raises(TypeError, match="kernel_size"):
        layers.Conv2D(2, 2.5)
    with pytest.raises(ValueError, match="stride"):
        layers.MaxPool2D(2, 0)
    conv = layers.Conv2D(2, 5)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv.build((4, 4, 1))
    dense = layers.Dense(2)
    with pytest.raises(ValueError, match="Flatten"):
        dense.build((4, 4, 1))
    conv = layers.Conv2D(2, 3)
    conv.forward(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ValueError, match="built for batches"):
        conv.forward(np.zeros((1, 5, 5, 2)))
    with pytest.raises(ValueError, match="grad_out"):
        conv.backward(np.zeros((1, 2, 2, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        layers.ReLU().backward(np.zeros(3))
    with pytest.raises(TypeError):
        layers.ReLU().forward(np.array(["a", "b"]))


def test_inputs_are_not_modified():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 6, 6, 2))
    keep = x.copy()
    for layer in (layers.Conv2D(3, 3, padding=1, activation="relu"), layers.ReLU(),
                  layers.Sigmoid(), layers.MaxPool2D(2, 2)):
        out = layer.forward(x)
        g = np.ones_like(out)
        keep_g = g.copy()
        layer.backward(g)
        np.testing.assert_array_equal(x, keep)
        np.testing.assert_array_equal(g, keep_g)


def test_float32_layers():
    rng = np.random.default_rng(9)
    conv = layers.Conv2D(3, 3, activation="relu")
    conv.build((6, 6, 2), rng=rng, dtype="float32")
    assert conv.params["W"].dtype == np.float32
    x = rng.standard_normal((2, 6, 6, 2))
    out = conv.forward(x)
    assert out.dtype == np.float32
    ref = np.maximum(conv_naive(x.astype(np.float32), conv.params["W"], 1, 0), 0)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    dx = conv.backward(np.ones_like(out))
    assert dx.dtype == np.float32 and conv.grads["W"].dtype == np.float32
