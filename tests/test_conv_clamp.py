"""The convolution kernels' clamp (``clamp_max`` of :func:`pyx_cnn.ops.conv.forward`):
a ReLU or bounded ReLU applied to the kernels' registers as the output is stored.

On every route (planar, direct with several panels and tiles, paired kernels where
the CPU has them, depthwise, grouped, BLAS for large filter banks at inference), in
both dtypes and at 1 and 2 threads, the clamped output equals the plain output
followed by pyx_cnn's own ReLU / bounded ReLU pass, value for value (NaN and -0.0
included); and the direct kernel's tiles of rows give the plain loops' sums.
"""
import math

import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import _threads
from pyx_cnn.ops import activations
from pyx_cnn.ops import conv as conv_op
from pyx_cnn.reference import conv as conv_naive

RTOL = {np.float32: 2e-5, np.float64: 1e-12}

# (N, H, W, C, F, k, stride, padding, groups): the kernel each one runs here
CASES = {
    "planar": (2, 9, 11, 3, 4, 3, 1, 1, 1),       # rows narrower than a register
    "planar_blocks": (2, 5, 40, 2, 3, 3, 1, 1, 1),   # blocks of registers, one overlapping
    # paired pixels with AVX-512 (an odd width: the last pair overlaps), else planar
    # (with 8-lane registers its transposed stores)
    "planar_or_paired": (2, 9, 11, 1, 6, 3, 1, 1, 1),
    "tap_paired_or_direct": (2, 9, 11, 2, 7, 3, 1, 1, 1),   # runs of 6 taps, F <= 8
    "direct_panels": (3, 12, 10, 5, 40, 3, 1, 1, 1),    # 4 + 1 registers, tiles of rows
    "direct_strided": (2, 11, 13, 4, 24, 3, 2, 1, 1),
    "direct_part_register": (2, 7, 9, 5, 13, 3, 1, 1, 1),   # the last register part-filled
    "pointwise": (4, 8, 8, 24, 144, 1, 1, 0, 1),
    "blas_at_inference": (2, 4, 4, 128, 160, 3, 1, 1, 1),   # out width < 6, large bank
    "depthwise": (2, 9, 9, 16, 16, 3, 1, 1, 16),
    "depthwise_x2": (2, 9, 9, 16, 32, 3, 2, 1, 16),
    # 20 channels: a last register overlapping its neighbour; rows wide enough for
    # blocks of pixels; 8 channels: half registers (the clamp is on the registers)
    "depthwise_overlap": (2, 6, 14, 20, 20, 3, 1, 1, 20),
    "depthwise_strided_overlap": (2, 9, 17, 20, 20, 3, 2, 1, 20),
    "depthwise_half": (2, 5, 12, 8, 8, 3, 1, 1, 8),
    "grouped": (2, 7, 8, 6, 4, 3, 1, 1, 2),
}


def _inputs(case, dtype, seed=0):
    n, h, w, c, f, k, stride, padding, groups = CASES[case]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    filters = rng.standard_normal((f, k, k, c // groups)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    geometry = ((stride, stride), ((padding, padding), (padding, padding)), (1, 1), groups)
    return x, filters, bias, geometry


def _expected(z, bound):
    if bound == math.inf:
        return activations.relu_forward(z.copy())[0]
    return activations.bounded_relu_forward(z.copy(), bound)[0]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bound", [math.inf, 6.0, 0.25, 0.0])
@pytest.mark.parametrize("case", list(CASES))
def test_clamp_equals_the_relu_pass(case, bound, dtype, threads):
    x, filters, bias, geometry = _inputs(case, dtype)
    try:
        pyx_cnn.set_num_threads(threads)
        with _threads._always_split():
            plain, _ = conv_op.forward(x, filters, bias, *geometry, training=False)
            clamped, _ = conv_op.forward(x, filters, bias, *geometry, training=False,
                                         clamp_max=bound)
    finally:
        pyx_cnn.set_num_threads(None)
    expected = _expected(plain, bound)
    assert clamped.dtype == dtype and clamped.shape == plain.shape
    np.testing.assert_array_equal(clamped, expected)
    assert not np.signbit(clamped[clamped == 0]).any()      # -0.0 stored as +0.0
    assert (clamped >= 0).all() and (clamped <= bound).all()
    if bound > 0:      # some values clamped at each end, some between
        assert (clamped == 0).any() and ((clamped > 0) & (clamped < bound)).any()
        assert bound == math.inf or (clamped == bound).any()


@pytest.mark.parametrize("case", ["direct_panels", "direct_part_register", "depthwise",
                                  "depthwise_overlap", "planar", "planar_blocks",
                                  "planar_or_paired", "tap_paired_or_direct"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clamp_keeps_nan_and_clamps_inf(case, dtype):
    x, filters, bias, geometry = _inputs(case, dtype)
    x[0, 3, 4, 0] = np.nan
    x[1, 2, 2, :] = np.inf
    plain, _ = conv_op.forward(x, filters, bias, *geometry, training=False)
    for bound in (math.inf, 6.0):
        clamped, _ = conv_op.forward(x, filters, bias, *geometry, training=False,
                                     clamp_max=bound)
        np.testing.assert_array_equal(clamped, _expected(plain, bound))
        assert np.isnan(clamped).sum() == np.isnan(plain).sum() > 0


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, h, w, c, f, k", [
    (5, 9, 6, 3, 40, 3),      # rows of 4 x 40 values: tiles of many rows, two panels
    (2, 6, 40, 2, 72, 1),     # three panels, rows of a tile each
    (2, 5, 6, 64, 160, 3),    # weights over 256 KiB: a work item per panel
])
def test_direct_kernel_over_tiles_of_rows(n, h, w, c, f, k, dtype, threads):
    rng = np.random.default_rng(f + k)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    filters = rng.standard_normal((f, k, k, c)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    try:
        pyx_cnn.set_num_threads(threads)
        with _threads._always_split():
            out = pyx_cnn.conv(x, filters, bias=bias)
    finally:
        pyx_cnn.set_num_threads(None)
    ref = conv_naive(x, filters, 1, 0, bias)
    np.testing.assert_allclose(out, ref, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.sqrt(k * k * c) * 4)
