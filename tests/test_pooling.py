import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.reference import pooling as maxpool_naive
from reference import layouts, maxpool_sliding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,size,stride",
    [
        ((1, 4, 4, 1), 2, 2),
        ((2, 7, 9, 3), 2, 2),     # odd sizes: the last full window is kept
        ((3, 10, 11, 5), 3, 2),   # overlapping windows
        ((1, 9, 8, 2), 2, 3),     # stride larger than the window
        ((2, 5, 5, 4), 5, 1),     # window equal to the map
        ((1, 6, 7, 17), 1, 1),    # identity
        ((2, 8, 8, 33), 3, 3),
    ],
)
def test_pooling_matches_naive_loops(dtype, shape, size, stride):
    rng = np.random.default_rng(sum(shape) + size)
    x = rng.standard_normal(shape).astype(dtype)
    out = pyx_cnn.pooling(x, size, stride)
    ref = maxpool_naive(x, size, stride)
    assert out.dtype == dtype and out.shape == ref.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(out, maxpool_sliding(x, size, stride))


def test_pooling_shapes_for_2d_3d_4d():
    rng = np.random.default_rng(0)
    assert pyx_cnn.pooling(rng.random((7, 9))).shape == (3, 4)
    assert pyx_cnn.pooling(rng.random((7, 9, 2))).shape == (3, 4, 2)
    assert pyx_cnn.pooling(rng.random((5, 7, 9, 2))).shape == (5, 3, 4, 2)
    assert pyx_cnn.pooling(rng.random((298, 449, 2)), 2, 2).shape == (149, 224, 2)


def test_pooling_is_per_channel_and_keeps_last_window():
    x = np.zeros((4, 4, 2))
    x[3, 3, 1] = 5.0     # in the last window of channel 1 only
    x[0, 0, 0] = 2.0
    out = pyx_cnn.pooling(x, 2, 2)
    assert out[1, 1, 1] == 5.0 and out[1, 1, 0] == 0.0
    assert out[0, 0, 0] == 2.0 and out[0, 0, 1] == 0.0


def test_pooling_nan_and_inf():
    x = np.zeros((1, 4, 4, 2))
    x[0, 1, 1, 0] = np.nan
    x[0, 2, 3, 1] = np.inf
    x[0, 0, 2:, 0] = -np.inf
    x[0, 0:2, 2:, 0] = -np.inf
    out = pyx_cnn.pooling(x, 2, 2)
    assert np.isnan(out[0, 0, 0, 0]) and not np.isnan(out[0, 0, 0, 1])
    assert out[0, 1, 1, 1] == np.inf
    assert out[0, 0, 1, 0] == -np.inf
    # NaN first in the window, then larger values: still NaN
    y = np.array([[np.nan, 1.0], [2.0, 3.0]])
    assert np.isnan(pyx_cnn.pooling(y, 2, 2)[0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_layouts_and_input_unchanged(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 10, 3)).astype(dtype)
    expected = maxpool_naive(x, 3, 2)
    for name, xv in layouts(x):
        before = xv.copy()
        np.testing.assert_array_equal(pyx_cnn.pooling(xv, 3, 2), expected, err_msg=name)
        np.testing.assert_array_equal(xv, before)


def test_pooling_integer_input_becomes_float64():
    out = pyx_cnn.pooling(np.arange(16).reshape(4, 4), 2, 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[5, 7], [13, 15]])
