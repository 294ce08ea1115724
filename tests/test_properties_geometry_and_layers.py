"""Property tests of the convolution's geometry (strides, paddings, dilations), average
pooling, tanh, leaky ReLU, and the pooling, normalisation, dropout and activation layers,
against independent references (the plain loops of pyx_cnn.reference, and some here),
over random shapes, strides, paddings, dilations, dtypes and memory layouts:

- ``pyx_cnn.conv`` with pairs of strides, int / pair / "same" / "valid" padding,
  dilation and even kernels; ``Conv2D`` forward and backward on the same geometry;
- ``pyx_cnn.avg_pooling``, ``pyx_cnn.tanh``, ``pyx_cnn.leaky_relu``;
- the layers ``AvgPool2D``, ``GlobalAvgPool2D``, ``GlobalMaxPool2D``,
  ``BatchNormalization`` (training and inference), ``Dropout`` (training and
  inference), ``Tanh``, ``LeakyReLU``, ``Softmax``: forward and backward, and
  finite differences of every layer in float64 (``pyx_cnn.gradcheck``).

Every property also checks that the inputs are left unchanged and that one and
two threads give the same bits. Cases are small (H, W <= 10, N <= 3, C <= 4) so
that the fuzz profile (tests/conftest.py) draws thousands of them quickly.
"""
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.stats import binom

import pyx_cnn
from pyx_cnn import layers
from pyx_cnn import reference as package_reference
from reference import same_pads
from strategies import (
    any_shape, arrays, float_dtypes, in_layout, layouts, pool_cases, random_values, seeds,
    special_fractions,
)
from test_grad_properties import activation_grad_naive, assert_within
from test_properties import (
    EPS, as_batch, assert_close_sum, assert_new_result, assert_unchanged, expected_dtype,
    snapshot,
)


def assert_same_bits(a, b):
    """Bitwise equality (NaN payloads and signed zeros included)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), "one and two threads give different results"


def on_one_and_two_threads(compute):
    """``compute()`` with one thread, checked to give the same bits with two.

    `compute` returns an array or a tuple of arrays.
    """
    results = []
    for threads in (1, 2):
        pyx_cnn.set_num_threads(threads)
        result = compute()
        results.append(result if isinstance(result, tuple) else (result,))
    pyx_cnn.set_num_threads(None)
    for one, two in zip(*results):
        assert_same_bits(one, two)
    return results[0] if len(results[0]) > 1 else results[0][0]


def assert_matches_with_specials(out, ref, check_finite):
    """Where the reference is NaN or infinite, the same value; elsewhere `check_finite`."""
    special = ~np.isfinite(ref)
    np.testing.assert_array_equal(out[special], ref[special].astype(out.dtype))
    check_finite(~special)


def pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


def int_or_pair(low, high):
    return st.integers(low, high) | st.tuples(st.integers(low, high), st.integers(low, high))


# --- conv: pairs of strides, paddings, dilations, "same" --------------------------------

@st.composite
def dilated_conv_geometry(draw, h, w, max_kernel=4):
    """(kernel, stride, padding, dilation, pads) that fit an (h, w) image."""
    stride = draw(int_or_pair(1, 4))
    dilation = draw(int_or_pair(1, 3))
    padding = draw(st.sampled_from(["same", "valid", "SAME", " Valid"]) | int_or_pair(0, 3))
    (dh, dw) = pair(dilation)
    if isinstance(padding, str):
        name = padding.strip().lower()
        extent = (h, w) if name == "valid" else (10 ** 6, 10 ** 6)   # "same" pads to fit
    else:
        ph, pw = pair(padding)
        extent = (h + 2 * ph, w + 2 * pw)
    kh = draw(st.integers(1, min(max_kernel, (extent[0] - 1) // dh + 1)))
    kw = draw(st.integers(1, min(max_kernel, (extent[1] - 1) // dw + 1)))
    if isinstance(padding, str):
        pads = (((0, 0), (0, 0)) if padding.strip().lower() == "valid"
                else same_pads((h, w), (kh, kw), pair(stride), pair(dilation)))
    else:
        pads = ((ph, ph), (pw, pw))
    return (kh, kw), stride, padding, dilation, pads


@st.composite
def dilated_conv_cases(draw, max_side=9, max_channels=4, max_filters=4, max_batch=3):
    """(img, conv_filter, stride, padding, dilation, bias, pads) for ``pyx_cnn.conv``."""
    img_ndim = draw(st.sampled_from([2, 3, 4]))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    c = 1 if img_ndim == 2 else draw(st.integers(1, max_channels))
    n = draw(st.integers(1, max_batch)) if img_ndim == 4 else 1
    (kh, kw), stride, padding, dilation, pads = draw(dilated_conv_geometry(h, w))
    f = draw(st.integers(1, max_filters))
    img_shape = {2: (h, w), 3: (h, w, c), 4: (n, h, w, c)}[img_ndim]
    filter_4d = c > 1 or draw(st.booleans())
    img = draw(arrays(img_shape))
    bank = draw(arrays((f, kh, kw, c) if filter_4d else (f, kh, kw)))
    bias = draw(st.none() | arrays((f,)))
    return img, bank, stride, padding, dilation, bias, pads


def _conv_edge(img_shape, bank_shape, stride, padding, dilation, dtype=np.float64,
               bias=True):
    rng = np.random.default_rng(sum(img_shape) + 3 * sum(bank_shape))
    img = rng.standard_normal(img_shape).astype(dtype)
    bank = rng.standard_normal(bank_shape).astype(dtype)
    b = rng.standard_normal(bank_shape[0]).astype(dtype) if bias else None
    h, w = (img_shape[1:3] if len(img_shape) == 4 else img_shape[:2])
    if isinstance(padding, str):
        pads = (((0, 0), (0, 0)) if padding == "valid"
                else same_pads((h, w), bank_shape[1:3], pair(stride), pair(dilation)))
    else:
        pads = tuple((p, p) for p in pair(padding))
    return img, bank, stride, padding, dilation, b, pads


@given(dilated_conv_cases())
@example(_conv_edge((1, 1), (1, 1, 1), 1, "same", 1))                  # 1x1 everything
@example(_conv_edge((4, 4), (1, 2, 2), 1, "same", 1))                  # even kernel: extra at bottom/right
@example(_conv_edge((1, 7, 5, 2), (3, 4, 2, 2), (2, 3), "same", (2, 1), np.float32))
@example(_conv_edge((6, 6, 3), (2, 2, 2, 3), 1, "valid", 5))           # dilated kernel = image
@example(_conv_edge((1, 5, 9, 1), (2, 2, 3, 1), (3, 1), (0, 2), (1, 3), bias=False))
@example(_conv_edge((2, 3, 3, 1), (1, 3, 3, 1), 4, "same", 2))          # stride beyond the image
def test_conv_strides_paddings_dilations_match_loops(case):
    img, bank, stride, padding, dilation, bias, pads = case
    snaps = snapshot(img, bank, bias)
    out = on_one_and_two_threads(lambda: pyx_cnn.conv(
        img, bank, stride=stride, padding=padding, bias=bias, dilation=dilation))
    assert_unchanged((img, bank, bias), snaps)

    x = as_batch(img).astype(np.float64)
    w = (bank if bank.ndim == 4 else bank[..., None]).astype(np.float64)
    b = None if bias is None else bias.astype(np.float64)
    ref = package_reference.conv(x, w, pair(stride), pads, b, pair(dilation))
    ref_abs = package_reference.conv(np.abs(x), np.abs(w), pair(stride), pads,
                                     None if b is None else np.abs(b), pair(dilation))
    if isinstance(padding, str) and padding.strip().lower() == "same":
        sh, sw = pair(stride)
        assert ref.shape[1:3] == (math.ceil(x.shape[1] / sh), math.ceil(x.shape[2] / sw))
    if img.ndim != 4:
        ref, ref_abs = ref[0], ref_abs[0]
    dtype = expected_dtype(img, bank, bias)
    assert out.dtype == dtype
    assert out.shape == ref.shape
    assert_new_result(out, img, bank, bias)
    assert_close_sum(out, ref, ref_abs, w.shape[1] * w.shape[2] * w.shape[3] + 1, dtype)


@st.composite
def dilated_conv_layer_cases(draw):
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    c, f = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kernel, stride, padding, dilation, pads = draw(dilated_conv_geometry(h, w))
    return dict(n=n, h=h, w=w, c=c, f=f, kernel=kernel, stride=stride, padding=padding,
                dilation=dilation, pads=pads, use_bias=draw(st.booleans()),
                dtype=draw(float_dtypes), x=draw(arrays((n, h, w, c))), seed=draw(seeds),
                grad_layout=draw(layouts))


@given(dilated_conv_layer_cases())
def test_conv2d_layer_with_dilation_forward_and_backward(case):
    dtype = np.dtype(case["dtype"])
    rng = np.random.default_rng(case["seed"])
    layer = layers.Conv2D(case["f"], case["kernel"], stride=case["stride"],
                          padding=case["padding"], dilation=case["dilation"],
                          use_bias=case["use_bias"])
    layer.build((case["h"], case["w"], case["c"]), rng=rng, dtype=dtype)
    assert layer.pads == case["pads"]
    layer.params["W"][...] = rng.standard_normal(layer.params["W"].shape)
    if case["use_bias"]:
        layer.params["b"][...] = rng.standard_normal(case["f"])
    w = layer.params["W"].astype(np.float64)
    b = layer.params["b"].astype(np.float64) if case["use_bias"] else None
    x = case["x"]
    xk = x.astype(dtype).astype(np.float64)
    stride, dilation, pads = pair(case["stride"]), pair(case["dilation"]), case["pads"]
    snaps = snapshot(x)

    y = on_one_and_two_threads(lambda: layer.forward(x))
    g = in_layout(random_values(rng, y.shape, dtype), case["grad_layout"])
    g_snap = snapshot(g)
    dx = layer.backward(g)
    assert_unchanged((x,), snaps)
    assert_unchanged((g,), g_snap)
    assert y.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape

    kh, kw = case["kernel"]
    z = package_reference.conv(xk, w, stride, pads, b, dilation)
    z_abs = package_reference.conv(np.abs(xk), np.abs(w), stride, pads,
                                   None if b is None else np.abs(b), dilation)
    assert_within(y, z, z_abs, kh * kw * case["c"] + 1, dtype)

    gk = g.astype(np.float64)
    ref_dx, dw, db = package_reference.conv_backward(xk, w, gk, stride, pads, dilation)
    dx_abs, dw_abs, db_abs = package_reference.conv_backward(np.abs(xk), np.abs(w), np.abs(gk),
                                                             stride, pads, dilation)
    outputs = z.shape[0] * z.shape[1] * z.shape[2]
    assert_within(dx, ref_dx, dx_abs, case["f"] * kh * kw + 8, dtype)
    assert_within(layer.grads["W"], dw, dw_abs, outputs + 8, dtype)
    if case["use_bias"]:
        assert_within(layer.grads["b"], db, db_abs, outputs + 8, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride,padding,dilation", [(1, "same", 1), (2, "same", 1),
                                                     (1, (2, 0), 1), (3, 1, 1)])
def test_conv_direct_kernel_threads_agree_on_bigger_images(stride, padding, dilation, dtype):
    # big enough for the kernel to split the output rows between threads
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 30, 33, 3)).astype(dtype)
    filters = rng.standard_normal((6, 3, 4, 3)).astype(dtype)   # even width: extra pad right
    on_one_and_two_threads(lambda: pyx_cnn.conv(x, filters, stride=stride, padding=padding,
                                                dilation=dilation))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride,dilation", [((2, 1), 1), (1, 2)])
def test_conv_unequal_strides_and_dilation_threads_agree(stride, dilation, dtype):
    # the shapes a gathered-windows forward pass once took: BLAS products per thread's
    # slice of the batch rounded differently with the thread count; the direct kernels
    # take them now, and each output row is summed the same way on any thread
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 30, 33, 3)).astype(dtype)
    filters = rng.standard_normal((2, 3, 4, 3)).astype(dtype)
    on_one_and_two_threads(lambda: pyx_cnn.conv(x, filters, stride=stride, padding="same",
                                                dilation=dilation))


# --- average pooling, tanh, leaky ReLU (functional) --------------------------------------

@given(pool_cases(specials=st.none() | special_fractions))
@example((np.array([[5.0]]), 1, 1))
@example((np.arange(30.0).reshape(5, 6), 2, 4))                       # stride > window
@example((np.arange(24, dtype=np.float32).reshape(1, 4, 6, 1), 4, 7))  # window = map height
@example((np.array([[np.inf, -np.inf], [1.0, np.nan]]), 1, 1))
def test_avg_pooling_matches_loops(case):
    x, size, stride = case
    snaps = snapshot(x)
    out = on_one_and_two_threads(lambda: pyx_cnn.avg_pooling(x, size, stride))
    assert_unchanged((x,), snaps)
    xb = as_batch(x).astype(np.float64)
    with np.errstate(invalid="ignore"):          # inf - inf in a window: NaN, as the kernel
        ref = package_reference.avg_pooling(xb, size, stride)
        ref_abs = package_reference.avg_pooling(np.abs(xb), size, stride)
    unbatch = {2: lambda a: a[0, :, :, 0], 3: lambda a: a[0], 4: lambda a: a}[x.ndim]
    ref, ref_abs = unbatch(ref), unbatch(ref_abs)
    dtype = expected_dtype(x)
    assert out.dtype == dtype and out.shape == ref.shape
    assert_new_result(out, x)

    def within_rounding(finite):
        assert_close_sum(out[finite], ref[finite], ref_abs[finite], size * size + 1, dtype)
    assert_matches_with_specials(out, ref, within_rounding)


@given(st.data(), any_shape())
def test_tanh_matches_reference(data, shape):
    x = data.draw(arrays(shape, scale=data.draw(st.sampled_from([0.01, 1.0, 5.0, 30.0])),
                         specials=st.none() | special_fractions))
    snaps = snapshot(x)
    out = on_one_and_two_threads(lambda: pyx_cnn.tanh(x))
    assert_unchanged((x,), snaps)
    ref = np.array([math.tanh(v) if not math.isnan(v) else math.nan
                    for v in x.astype(np.float64).reshape(-1)]).reshape(x.shape)
    dtype = expected_dtype(x)
    assert out.dtype == dtype and out.shape == x.shape
    assert_new_result(out, x)
    assert np.all(np.isnan(out) | (np.abs(out) <= 1))
    np.testing.assert_allclose(out, ref, rtol=8 * EPS[dtype], atol=np.finfo(dtype).tiny)


SLOPES = st.sampled_from([0.0, 0.01, 0.1, 0.2, 1.0, 3.0]) | st.floats(0, 10)


@given(st.data(), any_shape(), SLOPES)
@example(None, None, 0.01)
@example(None, None, 1e-170)            # 0 in float32: -inf gives NaN
def test_leaky_relu_matches_reference(data, shape, slope):
    if data is None:   # the kink and the specials, one of each
        x = np.array([-2.0, -0.0, 0.0, 3.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    else:
        x = data.draw(arrays(shape, scale=10.0, specials=st.none() | special_fractions))
    snaps = snapshot(x)
    out = on_one_and_two_threads(lambda: pyx_cnn.leaky_relu(x, slope))
    assert_unchanged((x,), snaps)
    dtype = expected_dtype(x)
    # the slope as the working dtype holds it (as PyTorch: a slope below float32's
    # range is 0 there, and 0 * -inf is NaN)
    kernel_slope = float(dtype.type(slope))
    with np.errstate(invalid="ignore"):
        ref = np.array([v if v > 0 else kernel_slope * v
                        for v in x.astype(np.float64).reshape(-1)]).reshape(x.shape)
    assert out.dtype == dtype and out.shape == x.shape
    assert_new_result(out, x)
    # the product rounded once in the working dtype
    np.testing.assert_allclose(out, ref, rtol=EPS[dtype],
                               atol=2 * np.finfo(dtype).smallest_subnormal)


# --- layers, forward and backward --------------------------------------------------------

@st.composite
def image_batches(draw, max_side=8, max_channels=4, max_batch=3, specials=None):
    """(x, dtype, seed, grad_layout): an (N, H, W, C) batch of any dtype and layout,
    the layer's dtype, a seed for the upstream gradient and its layout."""
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    return (draw(arrays((n, h, w, c), specials=specials)), np.dtype(draw(float_dtypes)),
            draw(seeds), draw(layouts))


def forward_backward(make_layer, x, g_of, training=False):
    """Build a layer with `make_layer()`, run forward then backward with the gradient
    `g_of(y)`, on one and on two threads (a fresh layer each: the same bits); check
    that neither x nor the gradient is modified.

    Returns
    -------
    layer, y, g, dx : the one-thread run's layer, output, upstream gradient, input gradient
    """
    runs = []
    x_snap = snapshot(x)
    for threads in (1, 2):
        pyx_cnn.set_num_threads(threads)
        layer = make_layer()
        y = layer.forward(x, training=training)
        g = g_of(y)
        g_snap = snapshot(g)
        dx = layer.backward(g)
        assert_unchanged((g,), g_snap)
        runs.append((layer, y, g, dx))
    pyx_cnn.set_num_threads(None)
    assert_unchanged((x,), x_snap)
    (layer1, y1, _, dx1), (layer2, y2, _, dx2) = runs
    assert_same_bits(y1, y2)
    assert_same_bits(dx1, dx2)
    for key in layer1.grads:
        assert_same_bits(layer1.grads[key], layer2.grads[key])
    for key in getattr(layer1, "state", {}):
        assert_same_bits(layer1.state[key], layer2.state[key])
    assert y1.dtype == layer1.dtype and dx1.dtype == layer1.dtype and dx1.shape == x.shape
    assert_new_result(y1, x)
    return runs[0]


def gradient_of(seed, dtype, layout):
    return lambda y: in_layout(random_values(np.random.default_rng(seed), y.shape, dtype),
                               layout)


@given(image_batches(), st.data())
@example((np.arange(12.0).reshape(1, 3, 4, 1), np.dtype("float64"), 0, "C"), None)
def test_avg_pool2d_layer_forward_and_backward(batch, data):
    x, dtype, seed, grad_layout = batch
    h, w = x.shape[1:3]
    size = 3 if data is None else data.draw(st.integers(1, min(h, w)))
    stride = 1 if data is None else data.draw(st.integers(1, 4))

    def make():
        layer = layers.AvgPool2D(size, stride)
        layer.build(x.shape[1:], dtype=dtype)
        return layer
    _, y, g, dx = forward_backward(make, x, gradient_of(seed, dtype, grad_layout))
    xk = x.astype(dtype).astype(np.float64)
    assert_within(y, package_reference.avg_pooling(xk, size, stride),
                  package_reference.avg_pooling(np.abs(xk), size, stride), size * size + 1, dtype)
    gk = g.astype(np.float64)
    windows = -(-size // stride)
    assert_within(dx, package_reference.avg_pooling_backward(xk, gk, size, stride),
                  package_reference.avg_pooling_backward(xk, np.abs(gk), size, stride),
                  windows ** 2 + 1, dtype)


@given(image_batches())
def test_global_avg_pool2d_layer_forward_and_backward(batch):
    x, dtype, seed, grad_layout = batch
    n, h, w, c = x.shape

    def make():
        layer = layers.GlobalAvgPool2D()
        layer.build(x.shape[1:], dtype=dtype)
        return layer
    _, y, g, dx = forward_backward(make, x, gradient_of(seed, dtype, grad_layout))
    xk = x.astype(dtype).astype(np.float64)
    mean = np.zeros((n, c))
    mean_abs = np.zeros((n, c))
    for b in range(n):
        for ch in range(c):
            mean[b, ch] = sum(xk[b, i, j, ch] for i in range(h) for j in range(w)) / (h * w)
            mean_abs[b, ch] = np.abs(xk[b, :, :, ch]).sum() / (h * w)
    assert y.shape == (n, c)
    assert_within(y, mean, mean_abs, h * w + 1, dtype)
    gk = g.astype(np.float64)
    spread = np.broadcast_to((gk / (h * w))[:, None, None, :], x.shape)
    assert_within(dx, spread, np.abs(spread), 2, dtype)


@given(image_batches(specials=st.none() | special_fractions))
@example((np.ones((2, 3, 3, 2)), np.dtype("float32"), 0, "C"))          # all tied: first wins
@example((np.array([[[[1.0], [np.nan]], [[np.nan], [5.0]]]]), np.dtype("float64"), 0, "C"))
def test_global_max_pool2d_layer_forward_and_backward(batch):
    x, dtype, seed, grad_layout = batch
    n, h, w, c = x.shape

    def make():
        layer = layers.GlobalMaxPool2D()
        layer.build(x.shape[1:], dtype=dtype)
        return layer
    _, y, g, dx = forward_backward(make, x, gradient_of(seed, dtype, grad_layout))
    xk = x.astype(dtype).astype(np.float64)
    ref = np.array([[np.nan if np.isnan(xk[b, :, :, ch]).any() else xk[b, :, :, ch].max()
                     for ch in range(c)] for b in range(n)])
    np.testing.assert_array_equal(y, ref.astype(dtype))
    np.testing.assert_array_equal(
        dx, package_reference.global_max_pooling_backward(xk, g.astype(np.float64)))


@st.composite
def batch_norm_cases(draw):
    """(x, dtype, seed, grad_layout, momentum, epsilon): images (N, H, W, C) or
    features (N, C), at least two values per channel (what training needs)."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    if draw(st.booleans()):
        h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        shape = (n, h, w, c)
    else:
        shape = (n, c)
    if math.prod(shape[:-1]) < 2:
        shape = (2,) + shape[1:]
    scale = draw(st.sampled_from([1.0, 1e-3, 100.0]))
    x = draw(arrays(shape, scale=scale))
    return (x, np.dtype(draw(float_dtypes)), draw(seeds), draw(layouts),
            draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])),
            draw(st.sampled_from([1e-5, 1e-3, 0.5])))


def _random_batch_norm(shape, dtype, seed, momentum, epsilon):
    """A BatchNormalization with random gamma, beta and running statistics."""
    rng = np.random.default_rng(seed)
    layer = layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    layer.build(shape[1:], dtype=dtype)
    c = shape[-1]
    layer.params["gamma"][...] = rng.uniform(-2, 2, c)
    layer.params["beta"][...] = rng.standard_normal(c)
    layer.state["mean"][...] = rng.standard_normal(c)
    layer.state["var"][...] = rng.uniform(0.01, 3, c)
    return layer


@given(batch_norm_cases())
def test_batch_normalization_training_forward_backward_and_running_stats(case):
    x, dtype, seed, grad_layout, momentum, epsilon = case
    initial = _random_batch_norm(x.shape, dtype, seed, momentum, epsilon)
    gamma = initial.params["gamma"].astype(np.float64)
    beta = initial.params["beta"].astype(np.float64)
    mean0 = initial.state["mean"].astype(np.float64)
    var0 = initial.state["var"].astype(np.float64)

    layer, y, g, dx = forward_backward(
        lambda: _random_batch_norm(x.shape, dtype, seed, momentum, epsilon), x,
        gradient_of(seed + 1, dtype, grad_layout), training=True)
    xk = x.astype(dtype).astype(np.float64)
    rows = xk.reshape(-1, x.shape[-1])
    m, c = rows.shape
    ref = np.zeros(rows.shape)
    ref_abs = np.zeros(rows.shape)
    for ch in range(c):
        values = rows[:, ch]
        mean = sum(values) / m
        biased = sum((v - mean) ** 2 for v in values) / m
        s = math.sqrt(biased + epsilon)
        for i in range(m):
            ref[i, ch] = gamma[ch] * (values[i] - mean) / s + beta[ch]
            ref_abs[i, ch] = abs(gamma[ch]) * (abs(values[i]) + abs(mean)) / s + abs(beta[ch])
        # running statistics: the batch's unbiased variance
        expected_mean = (1 - momentum) * mean0[ch] + momentum * mean
        expected_var = (1 - momentum) * var0[ch] + momentum * biased * m / (m - 1)
        assert_within(layer.state["mean"][ch], expected_mean,
                      (1 - momentum) * abs(mean0[ch]) + momentum * abs(mean) + abs(mean), m, dtype)
        assert_within(layer.state["var"][ch], expected_var,
                      (1 - momentum) * var0[ch] + 2 * momentum * biased, 3 * m, dtype)
    assert_within(y.reshape(rows.shape), ref, ref_abs, m + 8, dtype)

    gk = g.astype(np.float64)
    ref_dx, ref_dgamma, ref_dbeta = package_reference.batch_norm_backward(xk, gamma, gk, epsilon)
    # the size of the terms: |gamma| / s * (|g| + mean|g| + |xhat| * mean|g * xhat|)
    grows = np.abs(gk.reshape(rows.shape))
    s = np.sqrt(rows.var(axis=0) + epsilon)
    xhat_abs = (np.abs(rows) + np.abs(rows.mean(axis=0))) / s
    dx_abs = np.abs(gamma) / s * (grows + grows.mean(axis=0)
                                  + xhat_abs * (grows * xhat_abs).mean(axis=0))
    assert_within(dx.reshape(rows.shape), ref_dx.reshape(rows.shape), dx_abs, 2 * m + 8, dtype)
    assert_within(layer.grads["gamma"], ref_dgamma, (grows * xhat_abs).sum(axis=0), m + 8, dtype)
    assert_within(layer.grads["beta"], ref_dbeta, grows.sum(axis=0), m + 8, dtype)


@given(batch_norm_cases())
def test_batch_normalization_inference_uses_running_stats(case):
    x, dtype, seed, _, momentum, epsilon = case
    layer = _random_batch_norm(x.shape, dtype, seed, momentum, epsilon)
    state_before = {k: v.copy() for k, v in layer.state.items()}
    snaps = snapshot(x)
    y = on_one_and_two_threads(lambda: layer.forward(x))
    assert_unchanged((x,), snaps)
    for key, value in state_before.items():      # inference leaves the statistics alone
        np.testing.assert_array_equal(layer.state[key], value, strict=True)
    gamma, beta = (layer.params[k].astype(np.float64) for k in ("gamma", "beta"))
    mean, var = (layer.state[k].astype(np.float64) for k in ("mean", "var"))
    xk = x.astype(dtype).astype(np.float64)
    ref = np.empty(xk.shape)
    for index in np.ndindex(xk.shape):
        ch = index[-1]
        ref[index] = gamma[ch] * (xk[index] - mean[ch]) / math.sqrt(var[ch] + epsilon) + beta[ch]
    ref_abs = np.abs(gamma) * (np.abs(xk) + np.abs(mean)) / np.sqrt(var + epsilon) + np.abs(beta)
    assert y.dtype == dtype and y.shape == x.shape
    assert_new_result(y, x)
    assert_within(y, ref, ref_abs, 8, dtype)


RATES = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9]) | st.floats(0, 0.99)


@given(image_batches(max_side=10), RATES)
def test_dropout_training_scales_kept_values_exactly(batch, rate):
    x, dtype, seed, grad_layout = batch

    def make():
        layer = layers.Dropout(rate)
        layer.build(x.shape[1:], rng=seed, dtype=dtype)
        return layer
    def nonzero_gradient(y):   # without zeros, so that the backward pass shows the mask
        values = np.random.default_rng(seed).uniform(1, 2, y.shape).astype(dtype)
        return in_layout(values, grad_layout)
    _, y, g, dx = forward_backward(make, x, nonzero_gradient, training=True)
    kept = dx != 0
    scale = dtype.type(1.0 / (1.0 - rate))
    xk = x.astype(dtype)
    np.testing.assert_array_equal(y, np.where(kept, xk * scale, dtype.type(0)), strict=True)
    np.testing.assert_array_equal(dx, np.where(kept, g * scale, dtype.type(0)), strict=True)
    # about a fraction `rate` dropped: inside the binomial's central interval of
    # probability 1 - 1e-12 (exact; six standard deviations of the normal approximation
    # failed for a rate of 0.001 on 72 values, where 3 dropped has probability 6e-5)
    dropped = x.size - int(kept.sum())
    low, high = binom.interval(1 - 1e-12, x.size, rate)
    assert low <= dropped <= high


@given(image_batches(max_side=10), RATES)
def test_dropout_inference_is_the_identity(batch, rate):
    x, dtype, seed, grad_layout = batch

    def make():
        layer = layers.Dropout(rate)
        layer.build(x.shape[1:], rng=seed, dtype=dtype)
        return layer
    _, y, g, dx = forward_backward(make, x, gradient_of(seed, dtype, grad_layout))
    np.testing.assert_array_equal(y, x.astype(dtype), strict=True)
    np.testing.assert_array_equal(dx, g.astype(dtype), strict=True)


ACTIVATION_LAYERS = st.sampled_from(["tanh", "leaky_relu", "softmax"])


@given(st.data(), ACTIVATION_LAYERS, float_dtypes,
       st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple))
def test_activation_layers_forward_and_backward(data, name, dtype, shape):
    dtype = np.dtype(dtype)
    slope = data.draw(SLOPES) if name == "leaky_relu" else None
    x = data.draw(arrays(shape, scale=data.draw(st.sampled_from([1.0, 5.0, 30.0]))))
    seed, grad_layout = data.draw(seeds), data.draw(layouts)

    def make():
        layer = {"tanh": layers.Tanh, "softmax": layers.Softmax,
                 "leaky_relu": lambda: layers.LeakyReLU(slope)}[name]()
        layer.build(shape[1:], dtype=dtype)
        return layer
    _, y, g, dx = forward_backward(make, x, gradient_of(seed, dtype, grad_layout))
    xk = x.astype(dtype).astype(np.float64)
    gk = g.astype(np.float64)
    tiny = np.finfo(dtype).tiny
    if name == "tanh":
        ref = np.vectorize(math.tanh)(xk)
        np.testing.assert_allclose(y, ref, rtol=8 * EPS[dtype], atol=tiny)
        ref_dx = gk * (1 - ref ** 2)
        assert_within(dx, ref_dx, np.abs(gk) * (1 + ref ** 2), 8, dtype)
    elif name == "leaky_relu":
        kernel_slope = float(dtype.type(slope))   # as the layer's dtype holds it
        ref = np.where(xk > 0, xk, kernel_slope * xk)
        np.testing.assert_allclose(y, ref, rtol=EPS[dtype],
                                   atol=2 * np.finfo(dtype).smallest_subnormal)
        np.testing.assert_allclose(dx, np.where(xk > 0, gk, kernel_slope * gk), rtol=EPS[dtype],
                                   atol=2 * np.finfo(dtype).smallest_subnormal)
    else:
        ref = package_reference.softmax(xk, axis=-1)
        k = shape[-1]
        np.testing.assert_allclose(y, ref, rtol=64 * EPS[dtype] * k, atol=8 * EPS[dtype])
        ref_dx = activation_grad_naive("softmax", ref, gk)
        dx_abs = (np.abs(ref) * (np.abs(gk) + np.sum(np.abs(gk * ref), axis=-1, keepdims=True))
                  + np.abs(ref_dx))
        assert_within(dx, ref_dx, dx_abs, 64 * k, dtype)


# --- finite differences, float64 -----------------------------------------------------------

GRADCHECK_LAYERS = ["AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "BatchNormalization",
                    "Dropout", "Tanh", "LeakyReLU", "Softmax", "Conv2D"]


@given(st.sampled_from(GRADCHECK_LAYERS), st.integers(1, 3), st.integers(2, 5),
       st.integers(2, 5), st.integers(1, 3), seeds, st.data())
def test_layers_backward_equal_finite_differences(name, n, h, w, c, seed, data):
    """float64 gradients of every new layer against central differences; the inputs
    are of order 1 and kept 1/size apart from each other (max pooling) and from 0
    (leaky ReLU's kink), far more than the step: the loss, a sum of up to 675 terms,
    then rounds to about 1e-13, which a step of 1e-5 turns into 1e-8 at most."""
    rng = np.random.default_rng(seed)
    size = n * h * w * c
    values = (rng.permutation(size) + 1.0) / size * rng.choice([-1.0, 1.0], size)
    x = values.reshape(n, h, w, c)
    training = False
    if name == "AvgPool2D":
        layer = layers.AvgPool2D(data.draw(st.integers(1, min(h, w))), data.draw(st.integers(1, 3)))
    elif name == "BatchNormalization":
        layer = layers.BatchNormalization(epsilon=data.draw(st.sampled_from([1e-5, 0.1])))
        training = True                           # backward needs the batch statistics
    elif name == "Dropout":
        layer = layers.Dropout(data.draw(RATES))   # the identity: inference only
    elif name == "LeakyReLU":
        layer = layers.LeakyReLU(data.draw(SLOPES))
    elif name == "Conv2D":
        kernel, stride, padding, dilation, _ = data.draw(dilated_conv_geometry(h, w, 3))
        layer = layers.Conv2D(data.draw(st.integers(1, 3)), kernel, stride=stride,
                              padding=padding, dilation=dilation)
    else:
        layer = getattr(layers, name)()
    layer.build(x.shape[1:], rng=seed)
    if name == "BatchNormalization":
        layer.params["gamma"][...] = rng.uniform(0.5, 2, c)
        layer.params["beta"][...] = rng.standard_normal(c)
        layer.state["var"][...] = rng.uniform(0.5, 2, c)
    x_before = x.copy()
    assert pyx_cnn.gradcheck(layer, x, training=training, eps=1e-5, atol=5e-8)
    np.testing.assert_array_equal(x, x_before)
