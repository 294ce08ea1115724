"""Backward kernels against naive loops written here (independent of pyx_cnn)."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import _activation, _conv, _conv_grad, _max_pool, _threads
from pyx_cnn.ops import conv as conv_op
from pyx_cnn.reference import conv as conv_naive, pooling as maxpool_naive


def conv_backward_naive(x, w, g, stride, padding):
    """x (N,H,W,C), w (F,kh,kw,C), g (N,Ho,Wo,F) -> dx, dw, db by plain loops."""
    n, h, wd, c = x.shape
    f, kh, kw, _ = w.shape
    p = np.zeros((n, h + 2 * padding, wd + 2 * padding, c))
    p[:, padding:padding + h, padding:padding + wd] = x
    dp = np.zeros_like(p)
    dw = np.zeros(w.shape)
    db = np.zeros(f)
    _, ho, wo, _ = g.shape
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for k in range(f):
                    gv = g[b, y, xx, k]
                    db[k] += gv
                    for i in range(kh):
                        for j in range(kw):
                            for ch in range(c):
                                dp[b, y * stride + i, xx * stride + j, ch] += gv * w[k, i, j, ch]
                                dw[k, i, j, ch] += gv * p[b, y * stride + i, xx * stride + j, ch]
    return dp[:, padding:padding + h, padding:padding + wd], dw, db


def kernel_layout(w):
    f, kh, kw, c = w.shape
    return np.ascontiguousarray(w.transpose(1, 2, 3, 0)).reshape(kh, kw * c, f)


def run_conv_grads(x, w, g, stride, padding, dtype, threads):
    f, kh, kw, c = w.shape
    n, h, wd, _ = x.shape
    xp = np.zeros((n, h + 2 * padding, wd + 2 * padding, c), dtype=dtype)
    xp[:, padding:padding + h, padding:padding + wd] = x
    g = g.astype(dtype)
    # the windows' kernel, which the op uses at strides other than 1
    gxp = np.full(xp.shape, np.nan, dtype=dtype)     # must be overwritten everywhere
    _conv_grad._conv2d_backward_input(g, kernel_layout(w.astype(dtype)), gxp, stride, stride, 1, 1,
                                      threads)
    gw = np.full((kh, kw * c, f), np.nan, dtype=dtype)
    gb = np.full(f, np.nan, dtype=dtype)
    _conv._conv2d_filter_grad(xp, g, gw, gb, stride, threads)
    dx = gxp[:, padding:padding + h, padding:padding + wd]
    dw = gw.reshape(kh, kw, c, f).transpose(3, 0, 1, 2)
    # the op (at strides 1 its input gradient is a convolution on the forward kernels)
    pyx_cnn.set_num_threads(threads)
    _, saved = conv_op.forward(x.astype(dtype), w.astype(dtype), np.zeros(f, dtype),
                                    (stride, stride), ((padding, padding), (padding, padding)))
    op_dx, op_dw, op_db = conv_op.backward(g, saved)
    pyx_cnn.set_num_threads(None)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(op_dx, dx, rtol=tol, atol=tol * 10)
    np.testing.assert_array_equal(op_dw, dw)
    np.testing.assert_array_equal(op_db, gb)
    return dx, dw, gb, gxp


CASES = [
    # N, H, W, C, F, kh, kw, stride, padding
    (1, 5, 5, 1, 1, 3, 3, 1, 0),
    (2, 7, 6, 3, 4, 3, 3, 1, 1),
    (3, 8, 9, 2, 5, 2, 2, 2, 0),
    (2, 9, 7, 3, 2, 4, 3, 3, 2),
    (4, 6, 6, 1, 3, 1, 1, 1, 0),
    (2, 7, 8, 2, 3, 2, 5, 2, 1),
    (5, 10, 10, 4, 6, 5, 5, 1, 2),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("threads", [1, 2])
def test_conv_backward_matches_naive_loops(case, threads):
    n, h, wd, c, f, kh, kw, stride, padding = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, h, wd, c))
    w = rng.standard_normal((f, kh, kw, c))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    g = rng.standard_normal((n, ho, wo, f))
    ref_dx, ref_dw, ref_db = conv_backward_naive(x, w, g, stride, padding)
    dx, dw, db, gxp = run_conv_grads(x, w, g, stride, padding, np.float64, threads)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, ref_db, rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(gxp))
    dx32, dw32, db32, _ = run_conv_grads(x, w, g, stride, padding, np.float32, threads)
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, ref_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw32, ref_dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db32, ref_db, rtol=1e-4, atol=1e-4)


def test_conv_backward_large_batch_threads_agree():
    # big enough to pass the kernels' threshold for threading
    rng = np.random.default_rng(5)
    x = rng.standard_normal((17, 12, 12, 3))
    w = rng.standard_normal((8, 3, 3, 3))
    g = rng.standard_normal((17, 10, 10, 8))
    one = run_conv_grads(x, w, g, 1, 0, np.float64, 1)
    two = run_conv_grads(x, w, g, 1, 0, np.float64, 2)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    ref = conv_backward_naive(x[:2], w, g[:2], 1, 0)
    np.testing.assert_allclose(two[0][:2], ref[0], rtol=1e-12, atol=1e-12)


def pool_argmax_naive(x, size, stride):
    """(maximum, offset (iy*W + ix)*C + c in the sample of the window's first maximum in
    row-major order; the first NaN wins)."""
    n, h, w, c = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.empty((n, ho, wo, c), x.dtype)
    arg = np.empty((n, ho, wo, c), np.int64)
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    win = x[b, y * stride:y * stride + size, xx * stride:xx * stride + size, ch]
                    flat = win.reshape(-1)
                    nans = np.flatnonzero(np.isnan(flat))
                    k = nans[0] if nans.size else int(np.argmax(flat))
                    i, j = divmod(k, size)
                    out[b, y, xx, ch] = flat[k]
                    arg[b, y, xx, ch] = ((y * stride + i) * w + xx * stride + j) * c + ch
    return out, arg


def pool_backward_naive(x, g, size, stride):
    """Gradient routed to the first maximum (row-major) of each window; NaN wins."""
    _, arg = pool_argmax_naive(x, size, stride)
    dx = np.zeros(x.shape, dtype=np.float64)
    for b in range(x.shape[0]):
        np.add.at(dx[b].reshape(-1), arg[b].reshape(-1), g[b].reshape(-1))
    return dx


def run_pool(x, g, size, stride, threads, fuse_relu=False):
    n, h, w, c = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.empty((n, ho, wo, c), dtype=x.dtype)
    arg = np.empty((n, ho, wo, c), dtype=np.int32)
    _max_pool._maxpool2d_forward_argmax(x, out, arg, size, stride, fuse_relu, threads)
    gx = np.full(x.shape, np.nan, dtype=x.dtype)
    _max_pool._maxpool2d_backward(g.astype(x.dtype), arg, out, gx, fuse_relu, threads)
    return out, arg, gx


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 1), (3, 2), (2, 3), (1, 1), (4, 2)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_forward_argmax_and_backward(size, stride, threads, dtype):
    rng = np.random.default_rng(size * 10 + stride)
    # integers in a small range: many ties, which must go to the first maximum
    x = rng.integers(-3, 4, size=(3, 9, 8, 2)).astype(dtype)
    ho, wo = (9 - size) // stride + 1, (8 - size) // stride + 1
    g = rng.standard_normal((3, ho, wo, 2))
    out, arg, gx = run_pool(x, g, size, stride, threads)
    np.testing.assert_array_equal(out, maxpool_naive(x, size, stride))
    np.testing.assert_array_equal(out, pyx_cnn.pooling(x, size, stride))
    assert np.all(x.reshape(3, -1)[np.arange(3)[:, None], arg.reshape(3, -1)]
                  == out.reshape(3, -1))
    np.testing.assert_allclose(gx, pool_backward_naive(x, g, size, stride),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n", [5, 37, 64])
@pytest.mark.parametrize("fuse_relu", [False, True])
def test_pool_runs_of_samples_on_two_threads(n, fuse_relu):
    # two threads take the samples in runs (37 samples: runs of 2 and a last one of 3):
    # the same values as one thread and as the loops, whatever run a sample falls in
    rng = np.random.default_rng(n)
    x = rng.integers(-3, 4, size=(n, 6, 6, 8)).astype(np.float32)
    g = rng.standard_normal((n, 3, 3, 8))
    with _threads._always_split():
        results = [run_pool(x, g, 2, 2, threads, fuse_relu) for threads in (1, 2)]
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    xr = np.maximum(x, 0) if fuse_relu else x
    np.testing.assert_array_equal(results[1][0], maxpool_naive(xr, 2, 2))
    ref = pool_backward_naive(xr, g, 2, 2) * ((x > 0) if fuse_relu else 1)
    np.testing.assert_allclose(results[1][2], ref, rtol=1e-6, atol=1e-6)


def test_pool_nan_position_is_the_argmax():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float64).reshape(2, 4, 4, 1)
    x[0, 1, 0, 0] = np.nan          # window (0, 0): NaN is not its first element
    x[1, 2, 3, 0] = np.nan          # window (1, 1)
    x[1, 3, 2, 0] = np.nan          # second NaN in the same window: the first one wins
    g = np.ones((2, 2, 2, 1))
    out, arg, gx = run_pool(x, g, 2, 2, 1)
    assert np.isnan(out[0, 0, 0, 0]) and np.isnan(out[1, 1, 1, 0])
    np.testing.assert_array_equal(np.isnan(out), np.isnan(pyx_cnn.pooling(x, 2, 2)))
    assert arg[0, 0, 0, 0] == (1 * 4 + 0) * 1
    assert arg[1, 1, 1, 0] == (2 * 4 + 3) * 1
    np.testing.assert_array_equal(gx, pool_backward_naive(x, g, 2, 2))


def test_pool_fused_relu_equals_relu_then_pool():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 6, 3))
    x[0, :2, :2, :] = -1.0             # a window with only negative values
    g = rng.standard_normal((4, 3, 3, 3))
    out, _, gx = run_pool(x, g, 2, 2, 1, fuse_relu=True)
    relu_x = np.maximum(x, 0)
    np.testing.assert_array_equal(out, maxpool_naive(relu_x, 2, 2))
    ref = pool_backward_naive(relu_x, g, 2, 2) * (x > 0)
    np.testing.assert_allclose(gx, ref, rtol=1e-12, atol=1e-12)


def test_pool_backward_threads_agree_on_overlapping_windows():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 30, 30, 8))
    g = rng.standard_normal((16, 28, 28, 8))
    _, _, one = run_pool(x, g, 3, 1, 1)
    _, _, two = run_pool(x, g, 3, 1, 2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one[:1], pool_backward_naive(x[:1], g[:1], 3, 1), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_sigmoid_backward(dtype):
    rng = np.random.default_rng(6)
    z = rng.standard_normal(1000).astype(dtype)
    g = rng.standard_normal(1000).astype(dtype)
    y = np.maximum(z, 0)
    out = np.empty_like(z)
    _activation._relu_backward(y, g, out, 1)
    np.testing.assert_array_equal(out, np.where(z > 0, g, 0))
    s = (1 / (1 + np.exp(-z.astype(np.float64)))).astype(dtype)
    _activation._sigmoid_backward(s, g, out, 2)
    ref = g.astype(np.float64) * s * (1 - s.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=1e-5 if dtype == np.float32 else 1e-13)


def test_elementwise_backward_threaded_sizes():
    # above the kernels' threshold for a thread team
    rng = np.random.default_rng(7)
    y = rng.standard_normal(600_000)
    g = rng.standard_normal(600_000)
    out = np.empty_like(y)
    _activation._relu_backward(y, g, out, 2)
    np.testing.assert_array_equal(out, np.where(y > 0, g, 0))
    s = 1 / (1 + np.exp(-y))
    _activation._sigmoid_backward(s, g, out, 2)
    np.testing.assert_allclose(out, g * s * (1 - s), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(9, 29, 31, 3), (3, 121, 127, 2)])  # chunks of samples / rows
def test_strided_input_gradient_same_bits_on_any_thread_count(shape, dtype):
    # big enough for a team of threads (the slices of the batch used to move where the
    # BLAS products began, and the BLAS rounds a row by its place in a product)
    rng = np.random.default_rng(11)
    n, h, w, c = shape
    wt = rng.standard_normal((37, 3, 4, c)).astype(dtype)
    ho, wo = (h - 3) // 2 + 1, (w - 4) // 3 + 1
    g = rng.standard_normal((n, ho, wo, 37)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        gxp = np.empty(shape, dtype)
        _conv_grad._conv2d_backward_input(g, kernel_layout(wt), gxp, 2, 3, 1, 1, threads)
        results.append(gxp)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pads", [((0, 0), (0, 0)), ((1, 2), (2, 1)), ((5, 4), (0, 6)),
                                  ((7, 7), (7, 7))])
@pytest.mark.parametrize("kernel, dilation", [((3, 3), (1, 1)), ((2, 4), (2, 1)), ((3, 2), (3, 2)),
                                              ((1, 1), (1, 1))])
def test_input_gradient_at_strides_1_equals_the_windows_kernel(pads, kernel, dilation, dtype):
    # the convolution of the output gradient (margins wider than the kernel crop it)
    # against the gathered windows' col2im of the padded input, cropped
    rng = np.random.default_rng(sum(kernel) + sum(dilation) + pads[0][0])
    x = rng.standard_normal((3, 9, 10, 4)).astype(dtype)
    w = rng.standard_normal((6, *kernel, 4)).astype(dtype)
    _, saved = conv_op.forward(x, w, np.zeros(6, dtype), (1, 1), pads, dilation)
    xp, wk = saved[0], saved[1]
    g = rng.standard_normal((3, *conv_op.forward(x, w, np.zeros(6, dtype), (1, 1), pads,
                                                      dilation)[0].shape[1:3], 6)).astype(dtype)
    dx, _, _ = conv_op.backward(g, saved)
    gxp = np.empty(xp.shape, dtype)
    _conv_grad._conv2d_backward_input(g, wk, gxp, 1, 1, *dilation, 1)
    (top, bottom), (left, right) = pads
    ref = gxp[:, top:top + 9, left:left + 10]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, ref, rtol=tol, atol=tol * 10)


# channel counts below, at and past each register width (4, 8, 16 floats; 2, 4, 8
# doubles), where the last register overlaps its neighbour
@pytest.mark.parametrize("channels", [1, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 20, 33])
@pytest.mark.parametrize("size,stride", [(2, 2), (3, 1), (3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fuse_relu", [False, True])
def test_pool_argmax_every_channel_count(channels, size, stride, dtype, fuse_relu):
    rng = np.random.default_rng(channels * 100 + size * 10 + stride)
    # small integers: ties everywhere, which go to the first maximum; some NaN
    x = rng.integers(-3, 4, size=(2, 7, 8, channels)).astype(dtype)
    x[rng.random(x.shape) < 0.03] = np.nan
    x[0, 0, 0] = -0.0
    ref_out, ref_arg = pool_argmax_naive(x, size, stride)
    if fuse_relu:
        ref_out = np.where(ref_out <= 0, 0, ref_out).astype(dtype)   # NaN stays, -0 -> +0
    g = rng.standard_normal(ref_out.shape)
    out, arg, gx = run_pool(x, g, size, stride, 1, fuse_relu)
    np.testing.assert_array_equal(out, ref_out)
    assert not np.signbit(out[out == 0]).any() or not fuse_relu
    np.testing.assert_array_equal(arg, ref_arg)
