"""Property tests: every public function against a slow independent reference,
over random shapes, kernel sizes, strides, paddings, dtypes and memory layouts.

The default run draws a small sample per property; ``pytest
--hypothesis-profile=fuzz`` draws thousands (see tests/conftest.py).
"""
import numpy as np
import scipy.special
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import signal

import pyx_cnn
from pyx_cnn.reference import conv as conv_naive, pooling as maxpool_naive
from strategies import any_shape, arrays, conv_cases, float_dtypes, pool_cases

EPS = {np.dtype(np.float32): np.finfo(np.float32).eps, np.dtype(np.float64): np.finfo(np.float64).eps}


def expected_dtype(*arrays):
    arrays = [a for a in arrays if a is not None]
    if all(a.dtype.kind == "f" and a.dtype.itemsize == 4 for a in arrays):  # any byte order
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def snapshot(*arrays):
    """Copies of the inputs (with their dtypes), to check they are never modified."""
    return [None if a is None else (a.copy(), a.dtype, a.shape, a.strides) for a in arrays]


def assert_unchanged(arrays, snaps):
    for a, snap in zip(arrays, snaps):
        if a is None:
            continue
        copy, dtype, shape, strides = snap
        assert a.dtype == dtype and a.shape == shape and a.strides == strides
        np.testing.assert_array_equal(a, copy, strict=True)


def assert_new_result(out, *inputs):
    assert type(out) is np.ndarray
    assert out.flags.c_contiguous and out.flags.writeable and out.flags.aligned
    for a in inputs:
        if a is not None:
            assert not np.shares_memory(out, a)


def as_batch(a):
    return {2: lambda: a[None, :, :, None], 3: lambda: a[None], 4: lambda: a}[a.ndim]()


def assert_close_sum(out, ref, ref_abs, n_terms, dtype):
    """|out - ref| within the rounding bound of an n-term sum: n * eps * sum |terms|."""
    bound = 2 * (n_terms + 2) * EPS[dtype] * ref_abs + np.finfo(dtype).tiny
    err = np.abs(out.astype(np.float64) - ref)
    assert np.all(err <= bound), f"max error {err.max()} above bound {bound.max()}"


# --- conv ---------------------------------------------------------------------

def _edge(img_shape, bank_shape, stride=1, padding=0, bias=False, dtype=np.float64):
    rng = np.random.default_rng(len(img_shape) * 7 + sum(bank_shape))
    img = rng.standard_normal(img_shape).astype(dtype)
    bank = rng.standard_normal(bank_shape).astype(dtype)
    b = rng.standard_normal(bank_shape[0]).astype(dtype) if bias else None
    return img, bank, stride, padding, b


@given(conv_cases())
@example(_edge((1, 1), (1, 1, 1)))                              # 1x1 image, 1x1 kernel
@example(_edge((1, 1, 1, 1), (1, 1, 1, 1), dtype=np.float32))   # batch of one, 1x1
@example(_edge((5, 4, 3), (2, 5, 4, 3), bias=True))             # kernel equal to the image
@example(_edge((7, 9), (3, 2, 2), stride=5))                    # stride larger than the kernel
@example(_edge((2, 2), (1, 6, 6), padding=2))                   # kernel equal to the padded image
@example(_edge((1, 6, 6, 2), (4, 3, 3, 2), stride=9, padding=1))  # stride beyond the image
def test_conv_matches_naive_loops(case):
    img, bank, stride, padding, bias = case
    snaps = snapshot(img, bank, bias)
    out = pyx_cnn.conv(img, bank, stride=stride, padding=padding, bias=bias)
    assert_unchanged((img, bank, bias), snaps)

    x = as_batch(img)
    w = bank if bank.ndim == 4 else bank[..., None]
    ref = conv_naive(x, w, stride, padding, bias)
    ref_abs = conv_naive(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), stride,
                         padding, None if bias is None else np.abs(bias.astype(np.float64)))
    if img.ndim != 4:
        ref, ref_abs = ref[0], ref_abs[0]
    dtype = expected_dtype(img, bank, bias)
    assert out.dtype == dtype
    assert out.shape == ref.shape
    assert_new_result(out, img, bank, bias)
    assert_close_sum(out, ref, ref_abs, w.shape[1] * w.shape[2] * w.shape[3] + 1, dtype)


@given(st.data(), float_dtypes)
@example(None, None)
def test_conv_underscore_matches_scipy(data, dtype):
    if data is None:  # the smallest case: one pixel, one weight
        img, filt = np.array([[3.0]]), np.array([[-2.0]])
    else:
        h = data.draw(st.integers(1, 12))
        w = data.draw(st.integers(1, 12))
        kh = data.draw(st.integers(1, h))
        kw = data.draw(st.integers(1, w))
        img = data.draw(arrays((h, w), dtype))
        filt = data.draw(arrays((kh, kw)))
    snaps = snapshot(img, filt)
    out = pyx_cnn.conv_(img, filt)
    assert_unchanged((img, filt), snaps)
    ref = signal.correlate2d(img.astype(np.float64), filt.astype(np.float64), "valid")
    ref_abs = signal.correlate2d(np.abs(img.astype(np.float64)),
                                 np.abs(filt.astype(np.float64)), "valid")
    assert out.dtype == expected_dtype(img, filt)
    assert out.shape == ref.shape
    assert_new_result(out, img, filt)
    assert_close_sum(out, ref, ref_abs, filt.size, out.dtype)


# --- pooling ------------------------------------------------------------------

@given(pool_cases())
@example((np.array([[5.0]]), 1, 1))                          # 1x1 map, 1x1 window
@example((np.arange(12.0).reshape(1, 3, 4, 1), 3, 1))          # window as tall as the map
@example((np.arange(30.0).reshape(5, 6), 2, 4))                # stride larger than the window
@example((np.arange(16, dtype=np.float32).reshape(4, 4, 1), 4, 7))  # window = map, big stride
def test_pooling_matches_naive_loops(case):
    x, size, stride = case
    snaps = snapshot(x)
    out = pyx_cnn.pooling(x, size, stride)
    assert_unchanged((x,), snaps)
    ref = maxpool_naive(as_batch(x).astype(np.float64), size, stride)
    ref = {2: lambda: ref[0, :, :, 0], 3: lambda: ref[0], 4: lambda: ref}[x.ndim]()
    assert out.dtype == expected_dtype(x)
    assert out.shape == ref.shape
    assert_new_result(out, x)
    np.testing.assert_array_equal(out, ref.astype(out.dtype))


# --- elementwise --------------------------------------------------------------

@given(st.data(), any_shape())
def test_relu_matches_reference(data, shape):
    x = data.draw(arrays(shape, scale=10.0))
    snaps = snapshot(x)
    out = pyx_cnn.relu(x)
    assert_unchanged((x,), snaps)
    xf = x.astype(np.float64)
    ref = np.where(xf > 0, xf, 0.0)
    assert out.dtype == expected_dtype(x)
    assert out.shape == x.shape
    assert_new_result(out, x)
    np.testing.assert_array_equal(out, ref.astype(out.dtype))
    assert not np.any(np.signbit(out))  # -0.0 becomes +0.0


@given(st.data(), any_shape())
def test_sigmoid_matches_reference(data, shape):
    x = data.draw(arrays(shape, scale=data.draw(st.sampled_from([1.0, 30.0, 1000.0]))))
    snaps = snapshot(x)
    out = pyx_cnn.sigmoid(x)
    assert_unchanged((x,), snaps)
    xf = x.astype(np.float64)
    ref = scipy.special.expit(xf)
    assert out.dtype == expected_dtype(x)
    assert out.shape == x.shape
    assert_new_result(out, x)
    assert np.all((out >= 0) & (out <= 1))
    rtol = 8 * EPS[out.dtype]
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=np.finfo(out.dtype).tiny)


@given(st.data(), any_shape(), st.integers(-4, 3))
def test_softmax_matches_reference(data, shape, axis):
    if len(shape) == 0:
        shape = (3,)
    axis = axis % len(shape) - (len(shape) if axis < 0 else 0)
    x = data.draw(arrays(shape, scale=data.draw(st.sampled_from([1.0, 50.0, 1000.0]))))
    snaps = snapshot(x)
    out = pyx_cnn.softmax(x, axis=axis)
    assert_unchanged((x,), snaps)
    ref = scipy.special.softmax(x.astype(np.float64), axis=axis)
    assert out.dtype == expected_dtype(x)
    assert out.shape == x.shape
    assert_new_result(out, x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=64 * EPS[out.dtype] * shape[axis],
                               atol=8 * EPS[out.dtype])
    np.testing.assert_allclose(out.sum(axis=axis, dtype=np.float64), 1.0,
                               rtol=4 * EPS[out.dtype] * shape[axis])
