"""Every code path of the max- and average-pooling kernels: channels in SIMD registers
(several widths) and one by one, the unrolled 2x2 window and the general one, NaN in
any lane."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.reference import pooling as maxpool_naive


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


# ---- average pooling: every code path (registers of channels and the channels past
# them, the unrolled 2x2 window, the general window, the backward pass's shortcut for
# windows that do not overlap and its general gather), bit for bit against the loops

from reference import avgpool_backward_ordered, avgpool_ordered  # noqa: E402
from pyx_cnn.ops import avg_pool  # noqa: E402

AVG_CHANNELS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33]
AVG_WINDOWS = [(size, stride) for size in (1, 2, 3, 4) for stride in (1, 2, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", AVG_CHANNELS)
@pytest.mark.parametrize("size,stride", AVG_WINDOWS)
def test_avg_pooling_matches_the_loops_bitwise(dtype, channels, size, stride):
    rng = np.random.default_rng(channels * 100 + size * 10 + stride)
    x = rng.standard_normal((2, 9, 11, channels)).astype(dtype)
    y, saved = avg_pool.forward(x, size, stride)
    np.testing.assert_array_equal(y, avgpool_ordered(x, size, stride))
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = avg_pool.backward(g, saved)
    np.testing.assert_array_equal(gx, avgpool_backward_ordered(g, x.shape, size, stride))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3, 8, 9, 17])
@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (2, 3)])
def test_avg_pooling_nan_and_infinities_stay_in_their_windows(dtype, channels, size, stride):
    x = np.ones((1, 8, 8, channels), dtype)
    x[0, 0, 0, 0] = np.nan
    x[0, 4, 4, channels - 1] = np.inf
    x[0, 5, 5, channels - 1] = -np.inf        # inf - inf in one window: NaN
    x[0, 7, 0, channels // 2] = np.inf
    y, saved = avg_pool.forward(x, size, stride)
    with np.errstate(invalid="ignore"):
        ref = avgpool_ordered(x, size, stride)
    np.testing.assert_array_equal(y, ref)
    assert np.isnan(y[0, 0, 0, 0])
    g = np.ones(y.shape, dtype)
    g[0, 0, 0, 0] = np.nan
    g[0, -1, -1, channels - 1] = np.inf
    gx = avg_pool.backward(g, saved)
    np.testing.assert_array_equal(gx, avgpool_backward_ordered(g, x.shape, size, stride))
    assert np.isnan(gx[0, 0, 0, 0])


def test_avg_pooling_backward_zeros_where_no_window_reaches():
    g = np.ones((1, 2, 2, 9), np.float32)
    _, saved = avg_pool.forward(np.zeros((1, 7, 7, 9), np.float32), 2, 3)
    gx = avg_pool.backward(g, saved)   # windows at 0 and 3: 2, 5, 6 left out
    covered = np.zeros((7, 7), bool)
    covered[np.ix_([0, 1, 3, 4], [0, 1, 3, 4])] = True
    assert (gx[0][covered] == 0.25).all() and (gx[0][~covered] == 0).all()
    assert not np.signbit(gx).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_avg_pooling_one_and_two_threads_agree_bitwise(dtype, size, stride):
    rng = np.random.default_rng(size * 10 + stride)
    x = rng.standard_normal((16, 30, 28, 9)).astype(dtype)   # above the thresholds
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = avg_pool.forward(x, size, stride)
        results.append((y, avg_pool.backward(y, saved)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3, 5, 7, 9, 17, 33])
@pytest.mark.parametrize("size,stride", [(1, 1), (2, 2), (3, 2), (2, 3), (4, 1), (3, 3)])
def test_avg_pooling_matches_torch(dtype, channels, size, stride):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(channels + 10 * size + 100 * stride)
    x = rng.standard_normal((2, 10, 9, channels)).astype(dtype)
    y, saved = avg_pool.forward(x, size, stride)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = avg_pool.backward(g, saved)
    t = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(t, size, stride)
    ty.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=tol, atol=tol)
    np.testing.assert_allclose(gx, t.grad.numpy().transpose(0, 2, 3, 1), rtol=tol, atol=tol)
