"""Property tests of the layers, forward and backward, against naive loops
written here, over random shapes, kernel sizes, strides, paddings, dtypes and
memory layouts (small sample by default, thousands with the fuzz profile).

The backward references take ``dL/dz`` (the gradient after the layer's
activation) from the layer's own forward output, so each check isolates one
kernel: the activation derivative is checked on its own.
"""
import numpy as np
import pytest
import scipy.special
from hypothesis import example, given
from hypothesis import strategies as st

import pyx_cnn
from pyx_cnn import NeuralNetwork, layers
from pyx_cnn.losses import MeanSquaredError, SoftmaxCrossEntropy
from pyx_cnn.reference import conv as conv_naive, pooling as maxpool_naive
from pyx_cnn.reference import conv_backward as conv_backward_naive
from pyx_cnn.reference import pooling_backward as maxpool_backward_naive
from strategies import arrays, float_dtypes, in_layout, layouts, random_values, seeds

EPS = {np.dtype(np.float32): np.finfo(np.float32).eps, np.dtype(np.float64): np.finfo(np.float64).eps}


def activation_naive(name, z):
    if name is None:
        return z
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "sigmoid":
        return scipy.special.expit(z)
    return scipy.special.softmax(z, axis=-1)


def activation_grad_naive(name, y, g):
    """dL/dz from dL/dy and the output y, by each activation's Jacobian."""
    if name is None:
        return g
    if name == "relu":
        return np.where(y > 0, g, 0.0)
    if name == "sigmoid":
        return g * y * (1 - y)
    jac = -y[..., :, None] * y[..., None, :]               # d y_i / d z_j
    idx = np.arange(y.shape[-1])
    jac[..., idx, idx] += y
    return np.einsum("...ij,...i->...j", jac, g)


def assert_within(actual, ref, ref_abs, n_terms, dtype, factor=4):
    """|actual - ref| <= factor * (n_terms + 2) * eps * (sum of |terms|): rounding only.

    Plus an absolute slack far below any real error for results in the subnormal
    range, where float32 rounding is absolute (a softmax can give y ~ 1e-40).
    """
    actual = np.asarray(actual, dtype=np.float64)
    tiny = np.finfo(np.dtype(dtype)).tiny
    bound = factor * (n_terms + 2) * (EPS[np.dtype(dtype)] * ref_abs + 1e3 * tiny)
    err = np.abs(actual - ref)
    assert actual.shape == ref.shape
    assert np.all(err <= bound), f"max error {err.max():.3g}, bound there {bound.flat[np.argmax(err - bound)]:.3g}"


@st.composite
def conv_layer_cases(draw):
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    c, f = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    padding = draw(st.integers(0, 2))
    kh = draw(st.integers(1, h + 2 * padding))
    kw = draw(st.integers(1, w + 2 * padding))
    return dict(
        n=n, h=h, w=w, c=c, f=f, kh=kh, kw=kw, padding=padding,
        stride=draw(st.integers(1, 4)),
        activation=draw(st.sampled_from([None, "relu", "sigmoid", "softmax"])),
        use_bias=draw(st.booleans()),
        dtype=draw(float_dtypes),
        threads=draw(st.sampled_from([1, 2])),
        x=draw(arrays((n, h, w, c))),
        seed=draw(seeds),
        grad_layout=draw(layouts),
    )


EDGE_CONV = [
    dict(n=1, h=1, w=1, c=1, f=1, kh=1, kw=1, padding=0, stride=1),       # 1x1 everything
    dict(n=1, h=4, w=5, c=2, f=3, kh=4, kw=5, padding=0, stride=1),       # kernel = image
    dict(n=2, h=7, w=6, c=1, f=2, kh=2, kw=2, padding=1, stride=5),       # stride > kernel
    dict(n=1, h=2, w=2, c=3, f=2, kh=6, kw=6, padding=2, stride=3),       # kernel = padded image
]


def _edge_conv(spec, dtype="float64", activation=None):
    rng = np.random.default_rng(sum(spec.values()))
    return dict(spec, activation=activation, use_bias=True, dtype=dtype,
                threads=1, x=rng.standard_normal((spec["n"], spec["h"], spec["w"], spec["c"])),
                seed=1, grad_layout="C")


@given(conv_layer_cases())
@example(_edge_conv(EDGE_CONV[0]))
@example(_edge_conv(EDGE_CONV[1], "float32", "relu"))
@example(_edge_conv(EDGE_CONV[2]))
@example(_edge_conv(EDGE_CONV[3], "float32", "sigmoid"))
def test_conv2d_layer_forward_and_backward(case):
    dtype = np.dtype(case["dtype"])
    rng = np.random.default_rng(case["seed"])
    layer = layers.Conv2D(case["f"], (case["kh"], case["kw"]), stride=case["stride"],
                          padding=case["padding"], activation=case["activation"],
                          use_bias=case["use_bias"])
    layer.build((case["h"], case["w"], case["c"]), rng=rng, dtype=dtype)
    layer.params["W"][...] = rng.standard_normal(layer.params["W"].shape)
    if case["use_bias"]:
        layer.params["b"][...] = rng.standard_normal(case["f"])
    w = layer.params["W"].astype(np.float64)
    b = layer.params["b"].astype(np.float64) if case["use_bias"] else None
    x = case["x"]
    x_before = x.copy()
    xk = x.astype(dtype).astype(np.float64)          # the layer computes in its dtype
    pad = case["padding"]

    pyx_cnn.set_num_threads(case["threads"])
    y = layer.forward(x)
    g = in_layout(random_values(rng, y.shape, dtype), case["grad_layout"])
    g_before = g.copy()
    dx = layer.backward(g)
    np.testing.assert_array_equal(x, x_before, strict=True)
    np.testing.assert_array_equal(g, g_before, strict=True)
    assert y.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape

    n_terms = case["kh"] * case["kw"] * case["c"] + 1
    z = conv_naive(xk, w, case["stride"], pad, b)
    z_abs = conv_naive(np.abs(xk), np.abs(w), case["stride"], pad, None if b is None else np.abs(b))
    if case["activation"] is None:
        assert_within(y, z, z_abs, n_terms, dtype)
    else:
        # activations are 1-Lipschitz: the error of z carries over, plus rounding of y
        ref_y = activation_naive(case["activation"], z)
        assert_within(y, ref_y, z_abs + 1, n_terms + 8, dtype)

    dz = activation_grad_naive(case["activation"], y.astype(np.float64), g.astype(np.float64))
    dz_abs = np.abs(activation_grad_naive(case["activation"], np.abs(y.astype(np.float64)),
                                          np.abs(g.astype(np.float64))))
    if case["activation"] == "softmax":
        dz_abs = dz_abs + np.abs(y) * np.sum(np.abs(g * y), axis=-1, keepdims=True) + np.abs(dz)
    p = np.pad(xk, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dp, dw, db = conv_backward_naive(p, w, dz, case["stride"])
    dp_abs, dw_abs, db_abs = conv_backward_naive(np.abs(p), np.abs(w), dz_abs, case["stride"])
    crop = (slice(None), slice(pad, pad + case["h"]), slice(pad, pad + case["w"]))
    outputs = z.shape[0] * z.shape[1] * z.shape[2]
    f = case["f"]
    assert_within(dx, dp[crop], dp_abs[crop], f * case["kh"] * case["kw"] + 8, dtype)
    assert_within(layer.grads["W"], dw, dw_abs, outputs + 8, dtype)
    if case["use_bias"]:
        assert_within(layer.grads["b"], db, db_abs, outputs + 8, dtype)


@st.composite
def pool_layer_cases(draw):
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.integers(1, 3))
    size = draw(st.integers(1, min(h, w)))
    return dict(n=n, h=h, w=w, c=c, size=size, stride=draw(st.integers(1, 4)),
                dtype=draw(float_dtypes), threads=draw(st.sampled_from([1, 2])),
                x=draw(arrays((n, h, w, c))), seed=draw(seeds), grad_layout=draw(layouts))


@given(pool_layer_cases())
@example(dict(n=1, h=1, w=1, c=1, size=1, stride=1, dtype="float64", threads=1,
              x=np.array([[[[2.0]]]]), seed=0, grad_layout="C"))
@example(dict(n=1, h=3, w=3, c=1, size=3, stride=5, dtype="float32", threads=1,
              x=np.ones((1, 3, 3, 1)), seed=0, grad_layout="C"))      # all tied: first wins
@example(dict(n=2, h=5, w=5, c=2, size=3, stride=1, dtype="float64", threads=2,
              x=np.arange(100.0).reshape(2, 5, 5, 2) % 7, seed=3, grad_layout="F"))
def test_maxpool_layer_forward_and_backward(case):
    dtype = np.dtype(case["dtype"])
    rng = np.random.default_rng(case["seed"])
    layer = layers.MaxPool2D(case["size"], case["stride"])
    layer.build((case["h"], case["w"], case["c"]), dtype=dtype)
    x = case["x"]
    xk = x.astype(dtype).astype(np.float64)
    pyx_cnn.set_num_threads(case["threads"])
    y = layer.forward(x)
    np.testing.assert_array_equal(y, maxpool_naive(xk, case["size"], case["stride"]))
    g = in_layout(random_values(rng, y.shape, dtype), case["grad_layout"])
    dx = layer.backward(g)
    ref = maxpool_backward_naive(xk, g.astype(np.float64), case["size"], case["stride"])
    windows = (case["size"] + case["stride"] - 1) // case["stride"]
    assert dx.dtype == dtype
    assert_within(dx, ref, maxpool_backward_naive(xk, np.abs(g.astype(np.float64)), case["size"],
                                                  case["stride"]), windows ** 2, dtype)


@given(st.data(), st.sampled_from(["relu", "sigmoid"]), float_dtypes,
       st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple))
def test_activation_layers_forward_and_backward(data, name, dtype, shape):
    dtype = np.dtype(dtype)
    layer = layers.ReLU() if name == "relu" else layers.Sigmoid()
    layer.build(shape[1:], dtype=dtype)
    x = data.draw(arrays(shape, scale=5.0))
    xk = x.astype(dtype).astype(np.float64)
    y = layer.forward(x)
    g = data.draw(arrays(shape, dtype))
    dx = layer.backward(g)
    gk = g.astype(np.float64)
    if name == "relu":
        np.testing.assert_array_equal(y, np.where(xk > 0, xk, 0.0).astype(dtype))
        np.testing.assert_array_equal(dx, np.where(xk > 0, gk, 0.0).astype(dtype))
    else:
        ref = scipy.special.expit(xk)
        np.testing.assert_allclose(y, ref, rtol=8 * EPS[dtype], atol=np.finfo(dtype).tiny)
        yk = y.astype(np.float64)
        np.testing.assert_allclose(dx, gk * yk * (1 - yk), rtol=8 * EPS[dtype],
                                   atol=8 * EPS[dtype] * np.abs(gk).max())


@given(st.data(), float_dtypes, st.sampled_from([None, "relu", "sigmoid", "softmax"]),
       st.booleans())
def test_flatten_dense_forward_and_backward(data, dtype, activation, use_bias):
    dtype = np.dtype(dtype)
    n = data.draw(st.integers(1, 4))
    sample = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    units = data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(seeds))
    flat, dense = layers.Flatten(), layers.Dense(units, activation=activation, use_bias=use_bias)
    features = flat.build(sample, dtype=dtype)[0]
    dense.build((features,), rng=rng, dtype=dtype)
    x = data.draw(arrays((n,) + sample))
    xk = x.astype(dtype).astype(np.float64)
    y = dense.forward(flat.forward(x))
    w = dense.params["W"].astype(np.float64)
    b = dense.params["b"].astype(np.float64) if use_bias else np.zeros(units)
    xf = xk.reshape(n, -1)                   # C order: channels fastest
    z = np.array([[sum(xf[i, k] * w[k, u] for k in range(features)) + b[u]
                   for u in range(units)] for i in range(n)])
    z_abs = np.abs(xf) @ np.abs(w) + np.abs(b)
    assert_within(y, activation_naive(activation, z), z_abs + 1, features + 8, dtype)
    g = data.draw(arrays(y.shape, dtype))
    dx = flat.backward(dense.backward(g))
    dz = activation_grad_naive(activation, y.astype(np.float64), g.astype(np.float64))
    dz_abs = np.abs(activation_grad_naive(activation, np.abs(y.astype(np.float64)),
                                          np.abs(g.astype(np.float64))))
    if activation == "softmax":
        dz_abs = dz_abs + np.abs(y) * np.sum(np.abs(g * y), axis=-1, keepdims=True) + np.abs(dz)
    assert dx.shape == x.shape
    assert_within(dx.reshape(n, -1), dz @ w.T, dz_abs @ np.abs(w).T, units + 8, dtype)
    assert_within(dense.grads["W"], xf.T @ dz, np.abs(xf).T @ dz_abs, n + 8, dtype)
    if use_bias:
        assert_within(dense.grads["b"], dz.sum(axis=0), dz_abs.sum(axis=0), n + 8, dtype)


@given(st.data(), float_dtypes, st.integers(1, 6), st.integers(1, 7))
def test_softmax_cross_entropy_against_logsumexp(data, dtype, n, k):
    dtype = np.dtype(dtype)
    z = data.draw(arrays((n, k), dtype, scale=data.draw(st.sampled_from([1.0, 30.0, 300.0]))))
    labels = np.asarray(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    value, grad = SoftmaxCrossEntropy()(z, labels)
    zk = z.astype(np.float64)
    ref_value = np.mean(scipy.special.logsumexp(zk, axis=1) - zk[np.arange(n), labels])
    ref_grad = scipy.special.softmax(zk, axis=1)
    ref_grad[np.arange(n), labels] -= 1
    ref_grad /= n
    scale = np.abs(zk).max() + 1
    assert abs(value - ref_value) <= 64 * EPS[dtype] * k * scale
    assert grad.dtype == dtype and grad.shape == z.shape
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=64 * EPS[dtype] * k * scale / n)
    mse_value, mse_grad = MeanSquaredError()(zk, np.eye(k)[labels])
    np.testing.assert_allclose(mse_value, np.mean((zk - np.eye(k)[labels]) ** 2), rtol=1e-12)
    np.testing.assert_allclose(mse_grad, 2 * (zk - np.eye(k)[labels]) / zk.size, rtol=1e-12)


@st.composite
def small_networks(draw):
    h, w, c = draw(st.integers(4, 8)), draw(st.integers(4, 8)), draw(st.integers(1, 2))
    k = draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    conv_act = draw(st.sampled_from([None, "relu", "sigmoid"]))
    spec = [layers.Conv2D(draw(st.integers(1, 3)), k, stride=stride, padding=padding,
                          activation=conv_act)]
    smallest = (min(h, w) + 2 * padding - k) // stride + 1
    middle = draw(st.sampled_from(["relu+pool", "relu", "sigmoid", "pool", "none"]))
    if "relu" in middle:
        spec.append(layers.ReLU())
    if middle == "sigmoid":
        spec.append(layers.Sigmoid())
    if "pool" in middle:
        spec.append(layers.MaxPool2D(draw(st.integers(1, min(2, smallest))),
                                     draw(st.integers(1, 2))))
    spec += [layers.Flatten(), layers.Dense(draw(st.integers(2, 4)), activation="softmax")]
    return spec, (h, w, c), draw(float_dtypes), draw(seeds), draw(st.integers(1, 4))


@given(small_networks())
def test_network_fused_passes_equal_layer_by_layer(case):
    """predict and one gradient step (fused ReLU+pooling, activations folded in,
    softmax fused into the loss) equal the layers run one by one."""
    spec, shape, dtype, seed, n = case
    net = NeuralNetwork(spec, input_shape=shape, seed=seed % 1000, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + shape).astype(dtype)
    labels = rng.integers(0, net.output_shape[0], size=n)
    predicted = net.predict(x)    # (before the layers' own passes: it reuses their state)
    out = x
    for layer in net.layers:
        out = layer.forward(out)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(predicted, out, **tol)
    # gradient by the layers one by one: softmax output y, dL/dy of cross-entropy
    grad = np.zeros_like(out)
    grad[np.arange(n), labels] = -1.0 / (n * out[np.arange(n), labels])
    for layer in reversed(net.layers):
        grad = layer.backward(grad)
    expected = {(i, key): g.copy() for i, layer in enumerate(net.layers)
                for key, g in layer.grads.items()}
    before = {(i, key): p.copy() for i, layer in enumerate(net.layers)
              for key, p in layer.params.items()}
    net.gradient_descent(1.0, x, labels, 1)     # p -= 1.0 * grad
    for (i, key), value in before.items():
        step = value - net.layers[i].params[key]
        scale = np.abs(expected[(i, key)]).max() + 1e-3
        np.testing.assert_allclose(step, expected[(i, key)], rtol=0,
                                   atol=(2e-3 if dtype == "float32" else 1e-9) * scale,
                                   err_msg=f"layers[{i}].{key}")


@pytest.mark.parametrize("threads", [1, 2])
def test_conv2d_backward_threads_agree_on_a_big_batch(threads):
    # big enough for the threaded filter-gradient reduction and input-gradient split
    rng = np.random.default_rng(0)
    layer = layers.Conv2D(8, 3, padding=1)
    layer.build((24, 24, 4), rng=rng)
    x = rng.standard_normal((16, 24, 24, 4))
    g = rng.standard_normal((16, 24, 24, 8))
    pyx_cnn.set_num_threads(1)
    layer.forward(x)
    dx1 = layer.backward(g)
    dw1 = layer.grads["W"].copy()
    pyx_cnn.set_num_threads(threads)
    layer.forward(x)
    dx2 = layer.backward(g)
    np.testing.assert_array_equal(dx2, dx1)   # one thread per sample: same order
    np.testing.assert_allclose(layer.grads["W"], dw1, rtol=1e-12, atol=1e-12)
