"""Every code path of the convolution kernels against the naive loops.

The kernels pick an algorithm by shape (``pyx_conv_choose``: planar, paired,
tap-paired or direct; see ``src_c/conv_kernels.h``) and, in the direct kernel, a
register block by F and by the output width; these shapes cover each choice,
each remainder and both dtypes.
"""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import _conv, _threads
from pyx_cnn import reference
from pyx_cnn.ops import conv as conv_ops
from pyx_cnn.reference import conv as conv_naive

RTOL = {np.float32: 3e-5, np.float64: 1e-12}


def _check(n, h, w, c, f, kh, kw, stride, padding, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((f, kh, kw, c)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = pyx_cnn.conv(x, wt, stride=stride, padding=padding, bias=b)
    ref = conv_naive(x, wt, stride, padding, b)
    assert out.shape == ref.shape and out.dtype == dtype
    scale = np.sqrt(kh * kw * c) * 4
    np.testing.assert_allclose(out, ref, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)
    return out


def _algo(n_filters, channels=3, k=3, w_in=10, stride=1, dilation=1, dtype=np.float32,
          **kw):
    """The kernels' algorithm for k x k filters on a (2, 12, w_in, channels) padded input."""
    return _conv._algorithm((2, 12, w_in, channels), (k, k * channels, n_filters), stride,
                            dilation, dtype, **kw)


# (F, C, k, padded width, stride, dilation, dtype) -> the algorithm with AVX-512, with
# AVX2 and with the baseline (no paired kernels on either; on AVX2's 8-lane float32
# registers the planar kernel also takes 5 or 6 filters on at most 8 channels)
ALGORITHMS = [
    ((1, 3, 3, 10, 1, 1, np.float32), "planar", "planar", "planar"),      # F <= 4 at strides 1
    ((4, 3, 3, 10, 1, 1, np.float64), "planar", "planar", "planar"),
    ((4, 1, 3, 10, (1, 1), 2, np.float32), "planar", "planar", "planar"),  # dilation does not matter
    ((5, 1, 3, 10, 1, 1, np.float32), "paired", "planar", "direct"),      # one channel, 5..8 filters
    ((8, 1, 5, 10, 1, (1, 2), np.float32), "paired", "direct", "direct"),
    ((8, 1, 3, 4, 1, 1, np.float32), "paired", "direct", "direct"),       # two output pixels
    ((8, 1, 3, 3, 1, 1, np.float32), "direct", "direct", "direct"),       # one output pixel: no pair
    ((8, 1, 3, 10, 1, 1, np.float64), "direct", "direct", "direct"),      # float64: no paired kernels
    ((9, 1, 3, 10, 1, 1, np.float32), "direct", "direct", "direct"),      # more than 8 filters
    ((8, 1, 3, 10, (2, 1), 1, np.float32), "direct", "direct", "direct"),  # a stride, runs of 3
    ((8, 2, 3, 10, 1, 1, np.float32), "tap_paired", "direct", "direct"),  # runs of kw*C = 6
    ((2, 2, 3, 10, 2, 1, np.float32), "tap_paired", "direct", "direct"),  # any F <= 8 off strides 1
    ((8, 3, 3, 10, 1, 1, np.float32), "direct", "direct", "direct"),      # runs of 9: odd
    ((8, 2, 3, 12, 1, (1, 2), np.float32), "tap_paired", "direct", "direct"),  # dilated: runs of C = 2
    ((8, 3, 2, 12, 1, (1, 2), np.float32), "direct", "direct", "direct"),  # dilated: runs of C = 3
    ((8, 3, 1, 12, 1, (1, 2), np.float32), "direct", "direct", "direct"),  # kw = 1: runs of C = 3
    ((8, 4, 3, 10, 2, 1, np.float64), "direct", "direct", "direct"),
    ((16, 8, 3, 10, 1, 1, np.float32), "direct", "direct", "direct"),     # F fills the registers
    ((3, 3, 3, 10, (1, 2), 1, np.float32), "direct", "direct", "direct"),  # F <= 4 with a stride, runs of 9
    ((6, 8, 3, 10, 1, 1, np.float32), "tap_paired", "planar", "direct"),
    ((6, 9, 3, 10, 1, 1, np.float32), "direct", "direct", "direct"),   # 9 channels, runs of 27
    ((6, 12, 3, 10, 1, 1, np.float32), "tap_paired", "direct", "direct"),
    ((5, 2, 3, 10, 1, 1, np.float64), "direct", "direct", "direct"),
    ((7, 1, 3, 10, 1, 1, np.float32), "paired", "direct", "direct"),
]


@pytest.mark.parametrize("shape, with_avx512, with_avx2, baseline", ALGORITHMS)
def test_algorithm_table(shape, with_avx512, with_avx2, baseline):
    f, c, k, w_in, stride, dilation, dtype = shape
    expected = {"avx512f": with_avx512, "avx2": with_avx2}.get(_conv._isa(), baseline)
    assert _algo(f, c, k, w_in, stride, dilation, dtype) == expected


def test_algorithm_of_the_input_gradient():
    # strides 1 and finite filters: the forward kernels (transposed); else the windows
    # (these 'same' convolutions compute no more products transposed: below)
    assert _algo(8, gradient=True, pads=((1, 1), (1, 1))) == "transposed"
    assert _algo(8, stride=(1, 1), dilation=2, dtype=np.float64, gradient=True,
                 pads=((2, 2), (2, 2))) == "transposed"
    assert _algo(8, stride=(2, 1), gradient=True) == "windows_blas"
    assert _algo(8, stride=(1, 3), gradient=True) == "windows_blas"
    assert _algo(8, gradient=True, finite=False) == "windows_blas"


@pytest.mark.parametrize("x_shape, k, pads, route", [
    ((2, 14, 14, 6), 5, ((0, 0), (0, 0)), "windows_blas"),   # LeNet-5's second layer: 1.96
    ((2, 28, 28, 6), 5, ((0, 0), (0, 0)), "transposed"),     # 784 / 576 = 1.36
    ((2, 10, 10, 4), 3, ((0, 0), (0, 0)), "windows_blas"),   # 100 / 64 = 1.56
    ((2, 10, 10, 4), 3, ((1, 1), (1, 1)), "transposed"),     # 'same': 8x8 from 8x8
    ((2, 6, 6, 8), 3, ((1, 1), (1, 1)), "transposed"),       # 'same' on 4x4 maps
    ((2, 12, 12, 4), 3, ((1, 1), (0, 0)), "transposed"),     # 10 x 12 / (10 x 10) = 1.2
    ((2, 9, 9, 4), 5, ((0, 0), (0, 0)), "windows_blas"),     # 81 / 25
])
def test_input_gradient_takes_the_windows_where_the_transposed_route_is_mostly_zeros(
        x_shape, k, pads, route):
    # the transposed route computes h*w values per channel from all kh*kw*F taps, the
    # windows Ho*Wo windows' products: the windows above 1.5 times fewer
    c = x_shape[3]
    assert _conv._algorithm(x_shape, (k, k * c, 8), 1, 1, np.float32, gradient=True,
                            pads=pads) == route
    # and the values are the input gradient, either way
    (top, bottom), (left, right) = pads
    rng = np.random.default_rng(0)
    h, w = x_shape[1] - top - bottom, x_shape[2] - left - right
    x = rng.standard_normal((x_shape[0], h, w, c))
    wt = rng.standard_normal((8, k, k, c))
    out, saved = conv_ops.forward(x, wt, np.zeros(8), (1, 1), pads, (1, 1))
    g = rng.standard_normal(out.shape)
    gx, _, _ = conv_ops.backward(g, saved)
    ref, _, _ = reference.conv_backward(x, wt, g, 1, pads)
    np.testing.assert_allclose(gx, ref, rtol=1e-10, atol=1e-10)


def test_algorithm_arguments_and_lanes():
    assert _conv._isa() in ("avx512f", "avx2", "generic")
    with pytest.raises(ValueError, match="kw\\*C"):
        _conv._algorithm((1, 5, 5, 3), (3, 8, 4))
    for f in (1, 5, 8, 16, 33):
        for is_double in (False, True):
            lanes = _conv._direct_lanes(f, is_double)
            assert lanes in (2, 4, 8, 16)


def test_every_algorithm_matches_the_loops_and_each_other():
    # one shape per algorithm of the table above that this CPU takes, against the
    # plain loops: each layout of the weights (paired, tap-paired, padded) is right
    seen = set()
    for (f, c, k, w_in, stride, dilation, dtype), _, _, _ in ALGORITHMS:
        name = _algo(f, c, k, w_in, stride, dilation, dtype)
        rng = np.random.default_rng(f * 10 + c)
        x = rng.standard_normal((2, 12, w_in, c)).astype(dtype)
        wt = rng.standard_normal((f, k, k, c)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        sp, dp = _conv._pair(stride), _conv._pair(dilation)
        out = pyx_cnn.conv(x, wt, stride=sp, padding=0, bias=b, dilation=dp)
        ref = _conv_dilated_naive(x, wt, b, sp, dp)
        np.testing.assert_allclose(out, ref, rtol=RTOL[dtype],
                                   atol=RTOL[dtype] * np.sqrt(k * k * c) * 4, err_msg=name)
        seen.add(name)
    expected = {"planar", "direct"} | ({"paired", "tap_paired"}
                                       if _conv._isa() == "avx512f" else set())
    assert seen == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("c", [1, 2, 3])
@pytest.mark.parametrize("w_in", [3, 6, 11, 19, 36, 71])
def test_planar_widths_filters_channels(dtype, f, c, w_in):
    # output widths 1 .. 69: narrower than one register (scalar path), whole
    # blocks, single registers and an overlapping last register; 5 and 6 filters
    # are planar on AVX2 in float32 (their blocks transposed in registers)
    wide = _conv._isa() == "avx2" and dtype == np.float32
    if f <= 4 or wide:
        assert _algo(f, c, 3, w_in, dtype=dtype) == "planar"
    _check(2, 7, w_in, c, f, 3, 3, 1, 0, dtype, seed=f * 100 + c * 10 + w_in)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kh,kw,padding", [(1, 1, 0), (2, 5, 1), (7, 7, 3), (4, 2, 0)])
def test_planar_kernel_shapes_and_padding(dtype, kh, kw, padding):
    _check(1, 20, 41, 2, 3, kh, kw, 1, padding, dtype, seed=kh * kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", [5, 8, 9, 16, 17, 24, 32, 33, 48, 64, 65, 100, 112, 127])
def test_direct_filter_counts(dtype, f):
    # F below, at and above one register, and 1, 2, 3, 4+ registers with a
    # padded last register; the packed weights' panels of 4, 2 and 1 registers
    # (112 floats: 4 + 2 + 1 registers of 16; 100 doubles: 4 + 4 + 4 + 1 of 8)
    # runs of kw*C = 9: no tap pairs (5 filters are planar on AVX2, float32)
    planar = f <= 6 and _conv._isa() == "avx2" and dtype == np.float32
    assert _algo(f, 3, 3, 19, dtype=dtype) == ("planar" if planar else "direct")
    _check(2, 6, 17, 3, f, 3, 3, 1, 1, dtype, seed=f)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("w_out", [1, 2, 3, 5, 6, 7, 11, 12, 13, 18, 25, 30, 37])
@pytest.mark.parametrize("f", [8, 32, 64])
def test_direct_output_widths(dtype, w_out, f):
    # a row cut into blocks of up to 12, 6 or 3 pixels (by the registers of
    # filters), of sizes differing by one: every block size from 1 to 12
    _check(1, 4, w_out + 2, 2, f, 3, 3, 1, 0, dtype, seed=w_out * f)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", [16, 80, 200])
def test_direct_kernel_of_a_large_filter_bank(dtype, f):
    # the direct kernel itself (pyx_cnn.conv hands banks this large to BLAS), its
    # weights packed in panels of 4 registers and the rest, against the loops
    rng = np.random.default_rng(f)
    x = rng.standard_normal((2, 7, 15, 24)).astype(dtype)
    wt = rng.standard_normal((f, 3, 3, 24)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = np.empty((2, 5, 13, f), dtype=dtype)
    _conv._conv2d_forward(x, np.ascontiguousarray(wt.transpose(1, 2, 3, 0).reshape(3, 72, f)),
                          b, out, 1, 2)
    ref = conv_naive(x, wt, 1, 0, b)
    np.testing.assert_allclose(out, ref, rtol=RTOL[dtype], atol=RTOL[dtype] * 72 * 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", [1, 3, 8, 20])
@pytest.mark.parametrize("stride", [2, 3])
def test_strides_never_use_the_planar_kernel(dtype, f, stride):
    # (direct, or tap-paired for F <= 8 in float32 on AVX-512: runs of kw*C = 12)
    expected = ("tap_paired" if f <= 8 and dtype == np.float32 and _conv._isa() == "avx512f"
                else "direct")
    assert _conv._algorithm((2, 15, 31, 3), (3, 12, f), stride, 1, dtype) == expected
    _check(2, 13, 29, 3, f, 3, 4, stride, 1, dtype, seed=f + stride)


@pytest.mark.parametrize("f", [2, 16, 32])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_give_identical_results_both_kernels(f, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 40, 45, 4)).astype(dtype)
    w = rng.standard_normal((f, 3, 3, 4)).astype(dtype)
    try:
        pyx_cnn.set_num_threads(1)
        one = pyx_cnn.conv(x, w, padding=1)
        pyx_cnn.set_num_threads(2)
        with _threads._always_split():
            two = pyx_cnn.conv(x, w, padding=1)
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_array_equal(one, two)


def test_special_values_propagate():
    x = np.zeros((1, 6, 40, 1))
    x[0, 2, 20, 0] = np.nan
    x[0, 4, 5, 0] = np.inf
    for f in (2, 8):    # planar, direct
        out = pyx_cnn.conv(x, np.ones((f, 3, 3)))
        assert np.isnan(out[0, 0:3, 18:21]).all()
        assert np.isinf(out[0, 2:4, 3:6]).all()
        assert np.isfinite(out[0, :, 25:]).all()


@pytest.mark.parametrize("f", [5, 6, 7, 8])
@pytest.mark.parametrize("w_out", [2, 3, 4, 13, 26, 31, 32, 33, 47, 64, 65])
def test_paired_kernel_one_channel_float32(f, w_out):
    # two pixels per register (AVX-512): every filter count it takes, even and odd
    # widths, one block, several balanced blocks
    pairs = _conv._algorithm((3, 5, w_out + 2, 1), (3, 3, f)) == "paired"
    assert pairs == (_conv._isa() == "avx512f")
    out = _check(3, 5, w_out + 2, 1, f, 3, 3, 1, 0, np.float32, seed=f * w_out)
    if pairs:   # the same values as the unpaired kernel would give (same order of sums)
        assert out.shape[2] == w_out


@pytest.mark.parametrize("w_out", [1, 2, 9])
def test_paired_kernel_other_shapes(w_out):
    assert _algo(8, 1, 3, 3) != "paired"                 # one pixel per row
    assert _algo(8, 2, 3, 11) != "paired"                # two channels
    assert _algo(8, 1, 3, 11, stride=2) != "paired"      # stride 2
    assert _algo(9, 1, 3, 11) != "paired"                # more than 8 filters
    assert _algo(8, 1, 3, 11, dtype=np.float64) != "paired"
    _check(2, 7, w_out + 4, 1, 8, 5, 5, 1, 0, np.float32, seed=w_out)
    _check(2, 7, w_out + 4, 1, 7, 5, 5, 1, 1, np.float32, seed=w_out + 1)


@pytest.mark.parametrize("f", [5, 8])
@pytest.mark.parametrize("w_out", [2, 3, 4, 5, 6, 7, 8, 9])
def test_paired_kernel_short_rows_run_several_rows_at_once(f, w_out):
    # rows of 1-4 pairs run 2-8 rows of an image together: every map height (whole
    # groups and leftover rows), the values of the reference, a ReLU, and the same
    # bits at 1, 2 and 3 threads (whose work items cut the rows elsewhere)
    if _conv._isa() == "avx512f":
        assert _conv._algorithm((3, 5, w_out + 2, 1), (3, 3, f)) == "paired"
    rng = np.random.default_rng(f * 10 + w_out)
    for h_out in (1, 2, 3, 5, 6, 8, 9, 17):
        x = rng.standard_normal((3, h_out + 2, w_out + 2, 1)).astype(np.float32)
        wt = rng.standard_normal((f, 3, 3, 1)).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        ref = conv_naive(x, wt, 1, 0, b)
        outs = []
        try:
            for threads in (1, 2, 3):
                pyx_cnn.set_num_threads(threads)
                with _threads._always_split():
                    outs.append(conv_ops.forward(x, wt, b, clamp_max=np.inf)[0])
        finally:
            pyx_cnn.set_num_threads(None)
        np.testing.assert_allclose(outs[0], np.maximum(ref, 0), rtol=1e-5, atol=1e-5)
        for out in outs[1:]:
            np.testing.assert_array_equal(out, outs[0])


def _conv_dilated_naive(x, w, b, stride, dilation):
    """Valid convolution with strides (sh, sw) and dilations (dh, dw), as loops over
    the taps: out += x[taps of (i, j)] @ w[:, i, j, :]^T, in float64."""
    (sh, sw), (dh, dw) = stride, dilation
    f, kh, kw, _ = w.shape
    n, h, wd, _ = x.shape
    ho = (h - (kh - 1) * dh - 1) // sh + 1
    wo = (wd - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, ho, wo, f)) + b
    for i in range(kh):
        for j in range(kw):
            taps = x[:, i * dh: i * dh + (ho - 1) * sh + 1: sh,
                     j * dw: j * dw + (wo - 1) * sw + 1: sw].astype(np.float64)
            out += taps @ w[:, i, j, :].astype(np.float64).T
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f, c", [(2, 3), (4, 1), (6, 1), (8, 1), (16, 8), (5, 2), (33, 3),
                                  (7, 4), (3, 2), (8, 6)])
@pytest.mark.parametrize("stride, dilation", [
    ((1, 1), (2, 2)), ((1, 1), (1, 3)), ((1, 1), (3, 1)), ((2, 1), (1, 1)),
    ((1, 3), (2, 1)), ((2, 2), (2, 2)), ((3, 2), (1, 2)),
])
def test_direct_planar_and_paired_kernels_take_strides_and_dilations(f, c, stride, dilation,
                                                                     dtype):
    # every algorithm (planar: F <= 4 at strides 1; paired: one channel, 5..8 filters,
    # float32 on AVX-512; tap-paired: F <= 8 and runs of an even length, float32 on
    # AVX-512; direct: the rest) with unequal strides and dilations
    rng = np.random.default_rng(f * 100 + c)
    x = rng.standard_normal((2, 13, 40, c)).astype(dtype)
    wt = rng.standard_normal((f, 3, 3, c)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = pyx_cnn.conv(x, wt, stride=stride, padding=0, bias=b, dilation=dilation)
    ref = _conv_dilated_naive(x, wt, b, stride, dilation)
    assert out.shape == ref.shape and out.dtype == dtype
    scale = np.sqrt(9 * c) * 4
    np.testing.assert_allclose(out, ref, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)
    try:
        for threads in (1, 2):     # rows split between threads: the same values
            pyx_cnn.set_num_threads(threads)
            with _threads._always_split():     # (small inputs: threads whatever the cost)
                np.testing.assert_array_equal(
                    pyx_cnn.conv(x, wt, stride=stride, padding=0, bias=b, dilation=dilation),
                    out)
    finally:
        pyx_cnn.set_num_threads(None)


def _filter_grad_naive(x, g, kh, kw, stride, dilation):
    """dL/dW in the kernels' layout (kh, kw*C, F) and dL/db, in float64: for each
    tap (i, j), the input values under it times the output gradients, summed."""
    (sh, sw), (dh, dw) = stride, dilation
    n, ho, wo, f = g.shape
    c = x.shape[3]
    gw = np.zeros((kh, kw, c, f))
    for i in range(kh):
        for j in range(kw):
            taps = x[:, i * dh: i * dh + (ho - 1) * sh + 1: sh,
                     j * dw: j * dw + (wo - 1) * sw + 1: sw].astype(np.float64)
            gw[i, j] = np.einsum("nyxc,nyxf->cf", taps, g.astype(np.float64))
    return gw.reshape(kh, kw * c, f), g.astype(np.float64).sum(axis=(0, 1, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
# short window rows (k*c <= 8: (1, 1, 5), (3, 2, 3), (6, 1, 5), (9, 2, 2), (17, 1, 3),
# (2, 1, 7), (5, 4, 2)) take several kernel rows per block, the last block shorter
@pytest.mark.parametrize("f, c, k", [(1, 1, 5), (3, 2, 3), (6, 1, 5), (8, 3, 3), (9, 2, 2),
                                     (16, 8, 3), (17, 1, 3), (33, 5, 1), (4, 19, 3),
                                     (2, 1, 7), (5, 4, 2)])
@pytest.mark.parametrize("stride, dilation", [((1, 1), (1, 1)), ((1, 1), (2, 2)),
                                              ((2, 1), (1, 3)), ((3, 2), (2, 1))])
def test_filter_gradient_kernel_matches_loops(f, c, k, stride, dilation, dtype):
    rng = np.random.default_rng(f * 31 + c * 7 + k)
    n = 13                               # several groups of samples, the last one short
    h, w = 9 + (k - 1) * dilation[0], 11 + (k - 1) * dilation[1]
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    ho = (h - (k - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (w - (k - 1) * dilation[1] - 1) // stride[1] + 1
    g = rng.standard_normal((n, ho, wo, f)).astype(dtype)
    ref_w, ref_b = _filter_grad_naive(x, g, k, k, stride, dilation)
    results = []
    for threads in (1, 2):
        gw = np.full((k, k * c, f), np.nan, dtype)
        gb = np.full(f, np.nan, dtype)
        with _threads._always_split():
            _conv._conv2d_filter_grad(x, g, gw, gb, stride, threads, dilation)
        results.append((gw, gb))
    scale = np.sqrt(n * ho * wo) * 4
    np.testing.assert_allclose(results[0][0], ref_w, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)
    np.testing.assert_allclose(results[0][1], ref_b, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)
    # the groups' sums are added in order: the same bits whatever the thread count
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
# the kernel takes the pixels a tile of output rows at a time (about 32 KB of input and
# gradient): rows of over 32 KB make tiles of one row; narrow rows make tiles that end
# inside a sample (here 61 rows of 7 per sample in float32)
# (the last three: rows of one or two values of a few filters, so that a register of
# filters read from a pixel runs over several rows: the last ones come from a copy)
@pytest.mark.parametrize("n, h, w, c, f, k", [(2, 5, 300, 16, 24, 3), (3, 40, 9, 3, 40, 3),
                                              (5, 9, 7, 2, 17, 2), (3, 4, 3, 2, 1, 3),
                                              (2, 5, 4, 1, 3, 3), (1, 2, 2, 3, 5, 2)])
def test_filter_gradient_kernel_over_tiles_of_rows(n, h, w, c, f, k, dtype):
    rng = np.random.default_rng(h * w + f)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    g = rng.standard_normal((n, h - k + 1, w - k + 1, f)).astype(dtype)
    ref_w, ref_b = _filter_grad_naive(x, g, k, k, (1, 1), (1, 1))
    gw = np.full((k, k * c, f), np.nan, dtype)
    gb = np.full(f, np.nan, dtype)
    _conv._conv2d_filter_grad(x, g, gw, gb, 1, 1)
    scale = np.sqrt(g[..., 0].size) * 4
    np.testing.assert_allclose(gw, ref_w, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)
    np.testing.assert_allclose(gb, ref_b, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def test_kernels_refuse_outputs_the_windows_do_not_fit():
    x = np.zeros((2, 6, 6, 3), np.float32)
    w = np.zeros((3, 9, 4), np.float32)            # 3x3 filters on 3 channels, 4 filters
    b = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"out of shape \(2, 5, 4, 4\) does not fit the "
                                         r"windows of 3x3 filters .* on \(2, 6, 6, 3\)"):
        _conv._conv2d_forward(x, w, b, np.empty((2, 5, 4, 4), np.float32), 1, 1)
    with pytest.raises(ValueError, match=r"grad_out of shape \(3, 4, 4, 4\) does not fit"):
        _conv._conv2d_filter_grad(x, np.zeros((3, 4, 4, 4), np.float32), np.empty_like(w),
                                  np.empty_like(b), 1, 1)


def test_filter_gradient_kernel_empty_and_special_values():
    x = np.ones((2, 5, 5, 1))
    g = np.zeros((2, 3, 3, 2))
    g[1, 2, 2, 1] = np.nan
    gw = np.empty((3, 3, 2))
    gb = np.empty(2)
    _conv._conv2d_filter_grad(x, g, gw, gb, 1, 1)
    assert (gw[..., 0] == 0).all() and np.isnan(gw[..., 1]).all()
    assert gb[0] == 0 and np.isnan(gb[1])
    _conv._conv2d_filter_grad(x[:0], g[:0], gw, gb, 1, 1)       # no samples: zeros
    assert (gw == 0).all() and (gb == 0).all()


def test_tap_paired_kernel_choice():
    tap_pairs = "tap_paired" if _conv._isa() == "avx512f" else "direct"
    assert _algo(8, 4, 4, 12, stride=2) == tap_pairs     # runs of 16
    assert _algo(1, 2, 1, 12, stride=2) == tap_pairs     # runs of 2
    assert _algo(8, 5, 3, 12, stride=2) == "direct"      # a run of odd length
    assert _algo(9, 4, 4, 12, stride=2) == "direct"      # more than 8 filters
    assert _algo(8, 1, 4, 12) != "tap_paired"            # the pixel pairs first
    assert _algo(8, 4, 4, 12, stride=2, dtype=np.float64) == "direct"


@pytest.mark.parametrize("f", [1, 3, 5, 7, 8])
@pytest.mark.parametrize("w_out", [1, 2, 15, 16, 17, 33])
def test_tap_paired_kernel_widths_and_filter_counts(f, w_out):
    # rows of one block, of several balanced blocks; every filter count up to 8
    _check(2, 6, w_out + 2, 4, f, 3, 3, 2 if f < 5 else 1, 1, np.float32, seed=f + w_out)
    _check(2, 6, w_out + 2, 4, f, 3, 3, 2 if f < 5 else 1, 1, np.float64, seed=f + w_out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, top, left, hp, wp", [
    ((2, 5, 6, 3), 1, 2, 8, 9), ((1, 4, 4, 1), 0, 0, 4, 4), ((3, 2, 7, 2), 3, 0, 5, 10),
    ((2, 0, 5, 2), 1, 1, 3, 7), ((2, 3, 0, 2), 1, 1, 5, 3), ((40, 30, 30, 8), 2, 2, 34, 34),
])
def test_pad_copy_matches_numpy(shape, top, left, hp, wp, dtype):
    rng = np.random.default_rng(sum(shape))
    big = rng.standard_normal((shape[0], shape[1] + 2, shape[2] + 3, shape[3])).astype(dtype)
    src = big[:, 1:1 + shape[1], 2:2 + shape[2]]         # a slice: rows contiguous
    ref = np.zeros((shape[0], hp, wp, shape[3]), dtype)
    ref[:, top:top + shape[1], left:left + shape[2]] = src
    for threads in (1, 2):
        out = np.full(ref.shape, np.nan, dtype)
        with _threads._always_split():
            _conv._pad_copy(src, out, top, left, threads)
        np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match="contiguous rows"):
        _conv._pad_copy(big[:, :, ::2] if shape[2] > 1 else big[..., ::2], out, 0, 0, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, f, k, dilation, stride", [
    (9, 16, 8, 3, (2, 2), (1, 1)),     # tap-paired (AVX-512, float32), per image, one thread
    (40, 16, 8, 3, (2, 2), (1, 1)),    # per image on two threads too
    (40, 1, 6, 5, (1, 1), (1, 1)),     # paired
    (40, 3, 16, 3, (1, 3), (1, 1)),    # direct, one register of filters
    (40, 5, 33, 2, (3, 1), (1, 1)),    # direct, a remainder of filters
    (40, 4, 3, 3, (1, 1), (1, 1)),     # planar: pads first
    (3, 8, 16, 3, (1, 1), (1, 1)),     # too few images for two threads: pads first
    (40, 16, 24, 3, (1, 1), (2, 2)),   # strides: direct, per image
    (40, 5, 33, 2, (2, 1), (3, 2)),    # uneven strides, dilated, a remainder of filters
    (40, 4, 3, 3, (1, 1), (2, 3)),     # planar at strides: pads first
])
def test_forward_padding_per_image_matches_padding_first(n, c, f, k, dilation, stride, dtype):
    # the padded source is a slice (rows contiguous), placed off-centre and
    # cropped on the right, as the input gradient passes it
    rng = np.random.default_rng(n + c + f)
    big = rng.standard_normal((n, 14, 17, c)).astype(dtype)
    src = big[:, 1:12, 2:15]
    top, left, hp, wp = 3, 1, 11 + 3 + 2, 13 + 1
    w = rng.standard_normal((k, k * c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    xp = np.zeros((n, hp, wp, c), dtype)
    xp[:, top:top + 11, left:left + 13] = src
    ho = (hp - (k - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (wp - (k - 1) * dilation[1] - 1) // stride[1] + 1
    ref = np.empty((n, ho, wo, f), dtype)
    _conv._conv2d_forward(xp, w, b, ref, stride, 1, dilation)
    for threads in (1, 2):
        out = np.full(ref.shape, np.nan, dtype)
        with _threads._always_split():
            _conv._conv2d_forward_padding(src, top, left, hp, wp, w, b, out, threads, dilation,
                                          stride=stride)
        np.testing.assert_array_equal(out, ref)
    # and the padded convolution is right (not only the same as padding first)
    wt = w.reshape(k, k, c, f).transpose(3, 0, 1, 2)
    loops = reference.conv(src[:2], wt, padding=((top, hp - top - 11), (left, wp - left - 13)),
                           stride=stride, dilation=dilation, bias=b)
    np.testing.assert_allclose(ref[:2], loops, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.sqrt(k * k * c) * 4)
    with pytest.raises(ValueError, match="does not fit"):
        _conv._conv2d_forward_padding(src, top, left + 2, hp, wp, w, b, out, 1, dilation,
                                      stride=stride)
    with pytest.raises(ValueError, match="is not the output"):
        _conv._conv2d_forward_padding(src, top, left, hp + stride[0], wp, w, b, out, 1,
                                      dilation, stride=stride)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, f, k, pads, dilation, clamp_max, stride", [
    (40, 16, 24, 3, ((1, 1), (1, 1)), (1, 1), None, (1, 1)),   # per image, two threads
    (40, 3, 40, 3, ((2, 0), (1, 3)), (2, 1), np.inf, (1, 1)),  # uneven pads, ReLU
    (40, 8, 16, 5, ((2, 2), (2, 2)), (1, 1), 6.0, (1, 1)),     # ReLU6
    (3, 8, 16, 3, ((1, 1), (1, 1)), (1, 1), 0.5, (1, 1)),      # too few images: pads first
    (40, 4, 3, 3, ((1, 1), (1, 1)), (1, 1), np.inf, (1, 1)),   # planar: pads first
    (40, 16, 24, 3, ((1, 1), (1, 1)), (1, 1), 6.0, (2, 2)),    # strides 2, ReLU6
    # strides 3: the unpadded 9x11 input has as many windows as the padded one
    (40, 8, 16, 3, ((1, 1), (1, 1)), (1, 1), None, (3, 3)),
    (40, 3, 40, 3, ((2, 0), (1, 3)), (2, 1), np.inf, (2, 3)),  # uneven, dilated
    (40, 4, 3, 3, ((1, 1), (1, 1)), (1, 1), np.inf, (2, 2)),   # planar at strides 2
    (40, 5, 9, 3, ((1, 1), (1, 1)), (1, 1), None, (20, 30)),   # strides past the extent
])
def test_inference_pads_per_image_with_the_same_values(n, c, f, k, pads, dilation, clamp_max,
                                                       stride, dtype):
    # forward(training=False) pads one image at a time (never the whole padded
    # batch): the same values as padding first, the clamp included; the input is
    # kept unpadded, and a backward pass after it gives the training pass's gradients
    from pyx_cnn.ops import conv as conv_op
    rng = np.random.default_rng(n + c + f + k)
    x = rng.standard_normal((n, 9, 11, c)).astype(dtype)
    filters = rng.standard_normal((f, k, k, c)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    xp = conv_op.pad(x, pads, dtype)
    ho = (xp.shape[1] - (k - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (xp.shape[2] - (k - 1) * dilation[1] - 1) // stride[1] + 1
    kernel_stride = (min(stride[0], xp.shape[1]), min(stride[1], xp.shape[2]))
    try:
        for threads in (1, 2):
            pyx_cnn.set_num_threads(threads)
            ref = np.empty((n, ho, wo, f), dtype)
            _conv._conv2d_forward(xp, conv_op.weight_layout(filters, dtype), bias, ref,
                                  kernel_stride, threads, dilation, clamp_max)
            with _threads._always_split():
                out, saved = conv_op.forward(x, filters, bias, stride, pads, dilation,
                                             training=False, clamp_max=clamp_max)
            np.testing.assert_array_equal(out, ref)
            assert saved[0] is x
            g = rng.standard_normal(out.shape).astype(dtype)
            _, trained = conv_op.forward(x, filters, bias, stride, pads, dilation)
            for got, want in zip(conv_op.backward(g, saved), conv_op.backward(g, trained)):
                np.testing.assert_array_equal(got, want)
    finally:
        pyx_cnn.set_num_threads(None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, h, c, f, k, zero_rows, stride, dilation", [
    (3, 9, 5, 24, 3, (1, 1), (1, 1), (1, 1)),      # 'same' 3x3: one row each side
    (3, 9, 3, 40, 5, (2, 2), (1, 1), (1, 1)),      # two rows of a 5x5
    (3, 9, 4, 33, 3, (3, 0), (2, 1), (1, 1)),      # uneven, strides
    (2, 12, 6, 16, 3, (2, 3), (1, 1), (2, 1)),     # dilated rows
    (2, 7, 5, 24, 3, (4, 4), (1, 1), (1, 1)),      # padding wider than the kernel:
    (2, 6, 5, 24, 3, (3, 3), (1, 2), (1, 1)),      # outputs whose every row is zeros
])
def test_direct_kernel_leaves_the_zero_rows_out(n, h, c, f, k, zero_rows, stride, dilation,
                                                dtype):
    # the first and last `zero_rows` rows of each image are padding: the direct kernel
    # leaves their products out, with the values of summing them (finite filters) ...
    rng = np.random.default_rng(h + c + f)
    top, bottom = zero_rows
    hp, wp = h + top + bottom, 8
    xp = rng.standard_normal((n, hp, wp, c)).astype(dtype)
    xp[:, :top] = 0
    xp[:, hp - bottom:] = 0
    w = rng.standard_normal((k, k * c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    assert _conv._algorithm(xp.shape, w.shape, stride, dilation, dtype) == "direct"
    ho = (hp - (k - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (wp - (k - 1) * dilation[1] - 1) // stride[1] + 1
    summed = np.empty((n, ho, wo, f), dtype)
    _conv._conv2d_forward(xp, w, b, summed, stride, 1, dilation)
    wt = w.reshape(k, k, c, f).transpose(3, 0, 1, 2)
    np.testing.assert_allclose(summed, reference.conv(xp, wt, stride=stride, dilation=dilation,
                                                      bias=b),
                               rtol=RTOL[dtype], atol=RTOL[dtype] * np.sqrt(k * k * c) * 4)
    # ... and never reads them: NaN there stays out of every output
    xp[:, :top] = np.nan
    xp[:, hp - bottom:] = np.nan
    for threads in (1, 2):
        out = np.full(summed.shape, np.nan, dtype)
        with _threads._always_split():
            _conv._conv2d_forward(xp, w, b, out, stride, threads, dilation, None, None,
                                  zero_rows)
        np.testing.assert_array_equal(out, summed)
    # the inference pass that pads one image at a time: the same values, and with
    # skip_zero_rows the padding's rows left out (seen through an infinite filter value
    # in kernel row 0, which reads the top padding for output row 0: 0 * inf is NaN)
    src = np.ascontiguousarray(xp[:, top:hp - bottom])
    w_inf = w.copy()
    w_inf[0, 0, 0] = np.inf
    for skip in (False, True):
        out = np.empty(summed.shape, dtype)
        _conv._conv2d_forward_padding(src, top, 0, hp, wp, w, b, out, 1, dilation,
                                      stride=stride, skip_zero_rows=skip)
        np.testing.assert_array_equal(out, summed)
        with np.errstate(invalid="ignore", over="ignore"):
            _conv._conv2d_forward_padding(src, top, 0, hp, wp, w_inf, b, out, 1, dilation,
                                          stride=stride, skip_zero_rows=skip)
        assert np.isnan(out[:, 0, :, 0]).any() != skip
        assert np.isfinite(out[..., 1:]).all()
    with pytest.raises(ValueError, match="zero_rows"):
        _conv._conv2d_forward(xp, w, b, out, stride, 1, dilation, None, None, (hp, 1))
    with pytest.raises(ValueError, match="zero_rows"):
        _conv._conv2d_forward(xp, w, b, out, stride, 1, dilation, None, None, (-1, 0))


def test_an_infinite_filter_over_the_padding_rows_still_gives_nan():
    # the padding is part of the formula: with a non-finite filter value nothing is
    # left out, in training and at inference (0 * inf is NaN on the border)
    x = np.ones((2, 6, 6, 3), np.float32)
    filters = np.ones((24, 3, 3, 3), np.float32)
    filters[0, 0, 1, 0] = np.inf        # kernel row 0: over the top padding for output row 0
    bias = np.zeros(24, np.float32)
    for training in (True, False):
        out, _ = conv_ops.forward(x, filters, bias, (1, 1), ((1, 1), (1, 1)),
                                  training=training)
        assert np.isnan(out[:, 0, :, 0]).all() and np.isinf(out[:, 1:, :, 0]).all()
        assert np.isfinite(out[..., 1:]).all()
