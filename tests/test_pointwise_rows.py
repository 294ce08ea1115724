"""Pointwise convolutions (1x1 filters, strides 1, no padding) as rows of pixels.

:func:`pyx_cnn.ops.conv.forward` and the input gradient give the direct kernels such a
batch as rows of up to ``_POINTWISE_ROW`` pixels (``_pointwise_rows``) instead of the
maps' own rows. The sums are the same: value for value those of the kernels on the
maps' rows, and within rounding those of the plain loops of :mod:`pyx_cnn.reference`,
for maps narrower and wider than a row, batches whose row count has few divisors,
both dtypes, a clamp, training and inference, 1 and 2 threads.
"""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import _conv
from pyx_cnn.ops import conv as conv_op
from pyx_cnn.reference import conv as conv_naive
from pyx_cnn.reference import conv_backward as conv_backward_naive

RTOL = {np.float32: 2e-5, np.float64: 1e-12}

# (N, H, W, C, F)
SHAPES = [
    (3, 5, 7, 4, 12),      # N*H = 15: rows of 5 map rows (35 pixels)
    (1, 1, 1, 3, 5),       # one pixel
    (5, 4, 4, 24, 40),     # 4x4 maps: N*H = 20, rows of 10 map rows (40 pixels)
    (2, 3, 70, 5, 9),      # wider than a row: the maps' own rows
    (7, 13, 1, 8, 16),     # one column: N*H = 91 = 7 * 13, rows of 13 pixels
    (2, 8, 8, 64, 96),     # several panels of filters
    (11, 2, 3, 6, 4),      # N*H = 22 (a prime number of maps): rows of 2 map rows
]


@pytest.mark.parametrize("n, h, w", [(1, 1, 1), (64, 4, 4), (64, 8, 8), (3, 5, 7),
                                     (13, 1, 1), (2, 3, 70), (17, 17, 17), (1, 64, 65)])
def test_rows_cover_the_batch(n, h, w):
    rows, width = conv_op._pointwise_rows(n, h, w)
    assert rows * width == n * h * w
    assert width % w == 0                       # whole rows of the maps
    assert width <= max(w, conv_op._POINTWISE_ROW)
    k = width // w                              # the most map rows that fit
    assert all((n * h) % more for more in range(k + 1, conv_op._POINTWISE_ROW // w + 1))


def _inputs(shape, dtype, seed=0):
    n, h, w, c, f = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    filters = rng.standard_normal((f, 1, 1, c)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    return x, filters, bias


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("clamp", [None, 6.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_equals_the_kernels_on_map_rows(shape, dtype, clamp, training, threads):
    x, filters, bias = _inputs(shape, dtype)
    pyx_cnn.set_num_threads(threads)
    try:
        out, saved = conv_op.forward(x, filters, bias, training=training, clamp_max=clamp)
    finally:
        pyx_cnn.set_num_threads(None)
    n, h, w, c, f = shape
    expected = np.empty_like(out)
    # the same kernels on the maps' own rows
    _conv._conv2d_forward(x, conv_op.weight_layout(filters, dtype), bias, expected, (1, 1),
                          1, (1, 1), clamp)
    assert len(saved) == 5          # the direct route (these banks are small)
    np.testing.assert_array_equal(out, expected)
    naive = conv_naive(x, filters, bias=bias)
    if clamp is not None:
        naive = np.clip(naive, 0, clamp)
    np.testing.assert_allclose(out, naive, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
    assert out.shape == (n, h, w, f) and out.dtype == dtype


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_input_gradient_matches_the_loops(shape, dtype, threads):
    x, filters, bias = _inputs(shape, dtype)
    grad_out = np.random.default_rng(1).standard_normal(
        shape[:3] + (shape[4],)).astype(dtype)
    pyx_cnn.set_num_threads(threads)
    try:
        _, saved = conv_op.forward(x, filters, bias)
        grad_x, grad_w, grad_b = conv_op.backward(grad_out, saved)
    finally:
        pyx_cnn.set_num_threads(None)
    gx, gw, gb = conv_backward_naive(x, filters, grad_out)
    np.testing.assert_allclose(grad_x, gx, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
    np.testing.assert_allclose(grad_w, gw, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
    np.testing.assert_allclose(grad_b, gb, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
    # the direct route: its input gradient, on the padded runner over the maps' rows
    assert len(saved) == 5
    wk = saved[1]
    n, h, w, c, f = shape
    w_flip = np.ascontiguousarray(wk.reshape(1, 1, c, f).transpose(0, 1, 3, 2)).reshape(1, f, c)
    expected = np.empty_like(grad_x)
    _conv._conv2d_forward_padding(grad_out, 0, 0, h, w, w_flip, np.zeros(c, dtype),
                                  expected, 1, (1, 1))
    np.testing.assert_array_equal(grad_x, expected)
