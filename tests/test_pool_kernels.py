"""Every code path of the max-pooling kernel: channels in SIMD registers (several
widths) and one by one, the unrolled 2x2 window and the general one, NaN in any lane."""
import numpy as np
import pytest

import pyx_cnn
from reference import maxpool_naive


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_pooling_channel_counts(dtype, channels, size, stride):
    rng = np.random.default_rng(channels * 10 + size)
    x = rng.standard_normal((2, 9, 11, channels)).astype(dtype)
    out = pyx_cnn.pooling(x, size, stride)
    np.testing.assert_array_equal(out, maxpool_naive(x, size, stride))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2, 4, 8, 9, 17])
def test_pooling_nan_in_every_lane_and_window_position(dtype, channels):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((1, 8, 8, channels)).astype(dtype)
    # one NaN per channel, each at a different position of a different window
    for c in range(channels):
        y, xx = divmod(c % 16, 4)
        x[0, (y % 4) * 2 + (c % 2), (xx % 4) * 2 + ((c // 2) % 2), c] = np.nan
    out = pyx_cnn.pooling(x, 2, 2)
    ref = maxpool_naive(x, 2, 2)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(out, ref)
    assert np.isnan(out).sum() == channels


def test_pooling_infinities_and_signed_zero():
    x = np.full((1, 4, 4, 8), -np.inf, np.float32)
    x[0, 1, 1, 3] = np.inf
    out = pyx_cnn.pooling(x, 2, 2)
    assert out[0, 0, 0, 3] == np.inf and out[0, 0, 0, 0] == -np.inf
    z = np.zeros((1, 2, 2, 8))
    z[0, 0, 0] = -0.0
    assert (pyx_cnn.pooling(z, 2, 2) == 0).all()
