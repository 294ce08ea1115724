"""inf and NaN follow IEEE rules through conv, ReLU, pooling, sigmoid and softmax.

The references compute in float64 with numpy's IEEE arithmetic: a NaN anywhere
in a sum, ``0 * inf`` and ``inf - inf`` give NaN, otherwise an infinite term
gives an infinite sum. Zero padding is part of the formula: the padded zeros
multiply the weights, so an infinite weight over the padding gives NaN there.
"""
import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

import pyx_cnn
from pyx_cnn.reference import conv as conv_naive, pooling as maxpool_naive
from strategies import any_shape, arrays, conv_cases, pool_cases, special_fractions

SPECIAL_DTYPES = st.sampled_from(["float32", "float64", "float16", ">f8"])
EPS = {np.dtype(np.float32): np.finfo(np.float32).eps, np.dtype(np.float64): np.finfo(np.float64).eps}


def as_batch(a):
    return {2: lambda: a[None, :, :, None], 3: lambda: a[None], 4: lambda: a}[a.ndim]()


def assert_ieee_match(out, ref, ref_abs=None, n_terms=1):
    """Same NaN positions, same infinities, finite values within rounding."""
    assert out.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref), err_msg="NaN positions")
    inf = np.isinf(ref)
    np.testing.assert_array_equal(out[inf], ref[inf], err_msg="infinities")
    finite = np.isfinite(ref)
    assert np.all(np.isfinite(out[finite]))
    if ref_abs is None:
        np.testing.assert_array_equal(out[finite], ref[finite].astype(out.dtype))
    else:
        bound = 2 * (n_terms + 2) * EPS[out.dtype] * ref_abs[finite] + np.finfo(out.dtype).tiny
        assert np.all(np.abs(out[finite] - ref[finite]) <= bound)


@given(conv_cases(dtype=SPECIAL_DTYPES, specials=special_fractions))
def test_conv_special_values(case):
    img, bank, stride, padding, bias = case
    with np.errstate(invalid="ignore", over="ignore"):
        out = pyx_cnn.conv(img, bank, stride=stride, padding=padding, bias=bias)
        x = as_batch(img).astype(np.float64)
        w = (bank if bank.ndim == 4 else bank[..., None]).astype(np.float64)
        b = None if bias is None else bias.astype(np.float64)
        ref = conv_naive(x, w, stride, padding, b)
        ref_abs = conv_naive(np.nan_to_num(np.abs(x), posinf=0), np.nan_to_num(np.abs(w), posinf=0),
                             stride, padding, None if b is None else np.nan_to_num(np.abs(b), posinf=0))
    if img.ndim != 4:
        ref, ref_abs = ref[0], ref_abs[0]
    assert_ieee_match(out, ref, ref_abs, w.shape[1] * w.shape[2] * w.shape[3] + 1)


def test_conv_special_values_by_hand():
    img = np.ones((3, 3))
    bank = np.ones((1, 2, 2))
    for value, expected in [(np.inf, np.inf), (-np.inf, -np.inf), (np.nan, np.nan)]:
        x = img.copy()
        x[0, 0] = value
        out = pyx_cnn.conv(x, bank)[..., 0]
        np.testing.assert_array_equal(out, [[expected, 4.0], [4.0, 4.0]])
    x = img.copy()
    x[0, 0], x[0, 1] = np.inf, -np.inf               # inf - inf in one window
    with np.errstate(invalid="ignore"):
        out = pyx_cnn.conv(x, bank)[..., 0]
    np.testing.assert_array_equal(np.isnan(out), [[True, False], [False, False]])
    np.testing.assert_array_equal(out[0, 1], -np.inf)
    zero_times_inf = pyx_cnn.conv(np.zeros((2, 2)), np.full((1, 1, 1), np.inf))
    assert np.all(np.isnan(zero_times_inf))
    # infinite weight over the zero padding: 0 * inf = NaN on the border only
    out = pyx_cnn.conv(np.ones((3, 3)), np.full((1, 3, 3), np.inf), padding=1)[..., 0]
    assert out[1, 1] == np.inf
    assert np.isnan(out[0, 0]) and np.isnan(out[2, 1])
    # float32 overflow: every product overflows to inf, whatever the order of the sum
    big = np.full((4, 4), 1e20, np.float32)
    with np.errstate(over="ignore"):
        assert np.all(pyx_cnn.conv(big, big[None, :2, :2]) == np.inf)
        assert np.all(pyx_cnn.conv(big, -big[None, :2, :2]) == -np.inf)
    # bias: inf and NaN added to every output of their filter
    out = pyx_cnn.conv(img, np.ones((3, 2, 2)), bias=[np.inf, np.nan, -1.0])
    assert np.all(out[..., 0] == np.inf) and np.all(np.isnan(out[..., 1]))
    np.testing.assert_array_equal(out[..., 2], 3.0)


@given(pool_cases(dtype=SPECIAL_DTYPES, specials=special_fractions))
def test_pooling_special_values(case):
    x, size, stride = case
    out = pyx_cnn.pooling(x, size, stride)
    ref = maxpool_naive(as_batch(x).astype(np.float64), size, stride)  # np.max: NaN wins
    ref = {2: lambda: ref[0, :, :, 0], 3: lambda: ref[0], 4: lambda: ref}[x.ndim]()
    assert_ieee_match(out, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_special_values_by_hand(dtype):
    nan, inf = np.nan, np.inf
    x = np.array([[nan, 1, -inf, -inf],
                  [2, 3, -inf, -inf],
                  [inf, 0, 5, nan],
                  [-1, -2, 6, 7]], dtype)
    out = pyx_cnn.pooling(x, 2, 2)
    np.testing.assert_array_equal(out, np.array([[nan, -inf], [inf, nan]], dtype))
    # NaN is not the first element of the window, then it is the last
    y = np.array([[1, nan], [2, 3]], dtype)
    assert np.isnan(pyx_cnn.pooling(y, 2, 2)[0, 0])
    y = np.array([[1, 2], [3, nan]], dtype)
    assert np.isnan(pyx_cnn.pooling(y, 2, 2)[0, 0])


@given(st.data(), any_shape(), SPECIAL_DTYPES, special_fractions)
def test_relu_special_values(data, shape, dtype, fraction):
    x = data.draw(arrays(shape, dtype, specials=st.just(fraction)))
    out = pyx_cnn.relu(x)
    xf = x.astype(np.float64)
    ref = np.where(np.isnan(xf), xf, np.where(xf > 0, xf, 0.0))
    assert_ieee_match(out, ref)
    assert not np.any(np.signbit(out[~np.isnan(out)]))


def test_relu_special_values_by_hand():
    for dtype in (np.float32, np.float64):
        x = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, -1.0, 2.0], dtype)
        out = pyx_cnn.relu(x)
        np.testing.assert_array_equal(out, np.array([np.nan, np.inf, 0, 0, 0, 0, 2], dtype))
        assert not np.signbit(out[3])  # -0.0 -> +0.0


@given(st.data(), any_shape(), SPECIAL_DTYPES, special_fractions)
def test_sigmoid_special_values(data, shape, dtype, fraction):
    x = data.draw(arrays(shape, dtype, scale=100.0, specials=st.just(fraction)))
    out = pyx_cnn.sigmoid(x)
    ref = scipy.special.expit(x.astype(np.float64))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(out[ok], ref[ok], rtol=8 * EPS[out.dtype],
                               atol=np.finfo(out.dtype).tiny)


def test_sigmoid_special_values_by_hand():
    for dtype in (np.float32, np.float64):
        big = np.finfo(dtype).max
        x = np.array([np.nan, np.inf, -np.inf, big, -big, 0.0], dtype)
        out = pyx_cnn.sigmoid(x)
        np.testing.assert_array_equal(out, np.array([np.nan, 1, 0, 1, 0, 0.5], dtype))


def test_softmax_special_values():
    # -inf has probability 0; NaN makes its slice NaN and leaves the others alone;
    # huge finite values stay finite
    x = np.array([[1.0, -np.inf, 1.0], [np.nan, 0.0, 1.0], [1e308, -1e308, 1e308]])
    out = pyx_cnn.softmax(x, axis=1)
    np.testing.assert_array_equal(out[0], [0.5, 0.0, 0.5])
    assert np.all(np.isnan(out[1]))
    np.testing.assert_array_equal(out[2], [0.5, 0.0, 0.5])
    # +inf: inf - inf is NaN under IEEE rules, as in scipy.special.softmax
    y = np.array([[np.inf, 0.0], [-np.inf, -np.inf]])
    with np.errstate(invalid="ignore"):
        out = pyx_cnn.softmax(y, axis=1)
        ref = scipy.special.softmax(y, axis=1)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(out[~np.isnan(ref)], ref[~np.isnan(ref)])


# --- backward -------------------------------------------------------------------

from pyx_cnn import layers  # noqa: E402
from pyx_cnn.losses import SoftmaxCrossEntropy  # noqa: E402
from strategies import in_layout, layouts, random_values, seeds  # noqa: E402
from pyx_cnn.reference import conv_backward as conv_backward_naive  # noqa: E402
from pyx_cnn.reference import pooling_backward as maxpool_backward_naive  # noqa: E402


@st.composite
def special_conv_layer_cases(draw):
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    return dict(n=n, h=h, w=w, c=c, f=f, padding=padding,
                kh=draw(st.integers(1, h + 2 * padding)), kw=draw(st.integers(1, w + 2 * padding)),
                stride=draw(st.integers(1, 3)), dtype=draw(st.sampled_from(["float32", "float64"])),
                fraction=draw(special_fractions),
                seed=draw(seeds), layout=draw(layouts))


@given(special_conv_layer_cases())
def test_conv2d_backward_special_values(case):
    """NaN and inf in the input, the filters and the incoming gradient."""
    dtype = np.dtype(case["dtype"])
    rng = np.random.default_rng(case["seed"])
    layer = layers.Conv2D(case["f"], (case["kh"], case["kw"]), stride=case["stride"],
                          padding=case["padding"])
    layer.build((case["h"], case["w"], case["c"]), rng=rng, dtype=dtype)
    frac = case["fraction"]
    layer.params["W"][...] = random_values(rng, layer.params["W"].shape, dtype, specials=frac)
    x = in_layout(random_values(rng, (case["n"], case["h"], case["w"], case["c"]), dtype,
                                specials=frac), case["layout"])
    with np.errstate(all="ignore"):
        y = layer.forward(x)
        g = random_values(rng, y.shape, dtype, specials=frac)
        dx = layer.backward(g)
    pad = case["padding"]
    xk = x.astype(np.float64)
    w = layer.params["W"].astype(np.float64)
    p = np.pad(xk, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    with np.errstate(all="ignore"):
        z = conv_naive(xk, w, case["stride"], pad, layer.params["b"].astype(np.float64))
        dp, dw, db = conv_backward_naive(p, w, g.astype(np.float64), case["stride"])
        clean = lambda a: np.nan_to_num(np.abs(a), nan=0.0, posinf=0.0)  # noqa: E731
        dp_abs, dw_abs, db_abs = conv_backward_naive(clean(p), clean(w), clean(g), case["stride"])
        z_abs = conv_naive(clean(xk), clean(w), case["stride"], pad, None)
    crop = (slice(None), slice(pad, pad + case["h"]), slice(pad, pad + case["w"]))
    outputs = y.shape[0] * y.shape[1] * y.shape[2]
    assert_ieee_match(y, z, z_abs, case["kh"] * case["kw"] * case["c"] + 1)
    assert_ieee_match(dx, dp[crop], dp_abs[crop], case["f"] * case["kh"] * case["kw"] + 8)
    assert_ieee_match(layer.grads["W"], dw, dw_abs, outputs + 8)
    assert_ieee_match(layer.grads["b"], db, db_abs, outputs + 8)


@given(pool_cases(dtype=st.sampled_from(["float32", "float64"]), specials=special_fractions),
       seeds)
def test_maxpool_backward_special_values(case, seed):
    x, size, stride = case
    x4 = as_batch(x)
    layer = layers.MaxPool2D(size, stride)
    dtype = np.dtype(x.dtype.newbyteorder("="))
    layer.build(x4.shape[1:], dtype=dtype)
    y = layer.forward(x4)
    rng = np.random.default_rng(seed)
    g = random_values(rng, y.shape, dtype, specials=0.2)
    with np.errstate(all="ignore"):
        dx = layer.backward(g)
        xk = x4.astype(np.float64)
        ref = maxpool_backward_naive(xk, g.astype(np.float64), size, stride)
    assert_ieee_match(y, maxpool_naive(xk, size, stride))
    windows = (size + stride - 1) // stride
    assert_ieee_match(dx, ref, maxpool_backward_naive(
        xk, np.nan_to_num(np.abs(g.astype(np.float64)), nan=0.0, posinf=0.0), size, stride),
        windows ** 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_backward_special_values_by_hand(dtype):
    nan, inf = np.nan, np.inf
    x = np.array([nan, inf, -inf, 0.0, -0.0, 2.0, -2.0, 3.0, 1.0], dtype)
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0, nan, nan, inf, -inf], dtype)
    relu = layers.ReLU()
    relu.forward(x[None])
    # the gradient is 0 where the output is <= 0 (-inf, 0) and passes elsewhere,
    # NaN included (as torch.relu's backward)
    np.testing.assert_array_equal(relu.backward(g[None])[0],
                                  np.array([1, 2, 0, 0, 0, nan, 0, inf, -inf], dtype))
    sig = layers.Sigmoid()
    y = sig.forward(x[None])[0]
    np.testing.assert_array_equal(y[:3], np.array([nan, 1, 0], dtype))
    with np.errstate(all="ignore"):
        dx = sig.backward(g[None])[0]
        ref = g.astype(np.float64) * y * (1 - y.astype(np.float64))   # IEEE: 0 * inf = NaN
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(dx[finite], ref[finite], rtol=1e-6)
    np.testing.assert_array_equal(dx[np.isinf(ref)], ref[np.isinf(ref)])


def test_loss_with_special_logits():
    z = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 1.0], [1e300, -1e300, 0.0]])
    value, grad = SoftmaxCrossEntropy()(z, np.array([0, 1, 2]))
    assert np.isnan(value)                         # a NaN logit makes the mean NaN
    assert np.all(np.isnan(grad[1]))
    assert np.all(np.isfinite(grad[[0, 2]]))      # huge finite logits stay finite
    ref = scipy.special.softmax(z[[0, 2]], axis=1)
    ref[[0, 1], [0, 2]] -= 1
    np.testing.assert_allclose(grad[[0, 2]], ref / 3, rtol=1e-12, atol=1e-300)
    value, grad = SoftmaxCrossEntropy()(z[[0, 2]], np.array([0, 0]))
    assert np.isfinite(value) and np.all(np.isfinite(grad))
