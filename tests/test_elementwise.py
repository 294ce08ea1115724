import numpy as np
import pytest

import pyx_cnn
from reference import layouts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_matches_numpy_and_keeps_shape(dtype):
    rng = np.random.default_rng(0)
    for shape in [(7,), (5, 6), (4, 5, 3), (2, 3, 4, 5), (300, 451, 2)]:
        x = rng.standard_normal(shape).astype(dtype)
        out = pyx_cnn.relu(x)
        assert out.shape == x.shape and out.dtype == dtype
        np.testing.assert_array_equal(out, np.where(x > 0, x, 0))


def test_relu_special_values():
    x = np.array([-np.inf, -1.0, -0.0, 0.0, 1e-300, np.inf, np.nan])
    out = pyx_cnn.relu(x)
    np.testing.assert_array_equal(out[:6], [0, 0, 0, 0, 1e-300, np.inf])
    assert np.isnan(out[6])
    assert not np.signbit(out[2])


def test_relu_really_clips_unlike_the_tutorial():
    # the tutorial's numpy.max(x, 0) on a scalar is the identity
    assert np.max(np.float64(-3.0), 0) == -3.0
    assert pyx_cnn.relu(np.array([-3.0]))[0] == 0.0


def test_relu_layouts_and_input_unchanged():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 7, 2))
    for name, xv in layouts(x):
        before = xv.copy()
        np.testing.assert_array_equal(pyx_cnn.relu(xv), np.maximum(x, 0), err_msg=name)
        np.testing.assert_array_equal(xv, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stable_and_accurate(dtype):
    x = np.array([-1000, -50, -1, 0, 1, 50, 1000], dtype=dtype)
    with np.errstate(over="ignore"):
        ref = 1 / (1 + np.exp(-x.astype(np.float64)))
    out = pyx_cnn.sigmoid(x)
    assert out.dtype == dtype and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=1e-6 if dtype == np.float32 else 1e-15)
    rng = np.random.default_rng(2)
    y = rng.standard_normal((4, 5, 6))
    np.testing.assert_allclose(pyx_cnn.sigmoid(y), 0.5 * (1 + np.tanh(y / 2)), rtol=1e-14)


def test_softmax_stable_and_sums_to_one():
    x = np.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    out = pyx_cnn.softmax(x)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0)
    np.testing.assert_allclose(out[0], [0.5, 0.5, 0.0])
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(out[1], e / e.sum())
    np.testing.assert_allclose(pyx_cnn.softmax(x, axis=0).sum(axis=0), 1.0)
    assert pyx_cnn.softmax(x.astype(np.float32)).dtype == np.float32
    before = x.copy()
    pyx_cnn.softmax(x)
    np.testing.assert_array_equal(x, before)
