import numpy as np
import pytest
from scipy import ndimage, signal

import pyx_cnn
from pyx_cnn.reference import conv as conv_naive
from reference import layouts

RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def _tol(dtype, scale):
    return dict(rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


@pytest.mark.parametrize("kh,kw", [(1, 1), (2, 2), (3, 3), (2, 5), (4, 1), (7, 7)])
def test_conv_2d_matches_scipy_correlate2d(kh, kw):
    rng = np.random.default_rng(kh * 10 + kw)
    img = rng.standard_normal((23, 19))
    bank = rng.standard_normal((3, kh, kw))
    out = pyx_cnn.conv(img, bank)
    assert out.shape == (23 - kh + 1, 19 - kw + 1, 3)
    for f in range(3):
        np.testing.assert_allclose(out[..., f], signal.correlate2d(img, bank[f], "valid"),
                                   rtol=1e-12, atol=1e-12)


def test_conv_multichannel_matches_ndimage():
    rng = np.random.default_rng(1)
    img = rng.standard_normal((15, 12, 4))
    bank = rng.standard_normal((2, 3, 5, 4))
    out = pyx_cnn.conv(img, bank)
    assert out.shape == (13, 8, 2)
    for f in range(2):
        # ndimage.correlate centres the (3, 5, 4) kernel at (1, 2, 2): its channel
        # index 2 sums all four channels, and the valid part drops 1 row and 2
        # columns at each border
        full = ndimage.correlate(img, bank[f], mode="constant", cval=0.0)
        np.testing.assert_allclose(out[..., f], full[1:-1, 2:-2, 2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "n,h,w,c,f,kh,kw,stride,padding",
    [
        (1, 9, 9, 1, 1, 3, 3, 1, 0),
        (2, 10, 7, 3, 4, 3, 2, 2, 1),
        (3, 8, 11, 2, 5, 4, 4, 3, 2),
        (1, 5, 5, 2, 2, 5, 5, 1, 0),      # kernel equal to the image
        (2, 4, 6, 1, 3, 1, 1, 2, 0),      # 1x1 kernel, stride 2
        (1, 6, 6, 3, 2, 2, 3, 4, 3),      # stride larger than the kernel, big padding
        (4, 12, 9, 16, 17, 3, 3, 1, 1),   # more filters than a SIMD register
        (1, 3, 3, 1, 1, 5, 5, 1, 1),      # kernel larger than the image, fits the padding
    ],
)
def test_conv_batch_matches_naive_loops(dtype, n, h, w, c, f, kh, kw, stride, padding):
    rng = np.random.default_rng(n * h * w + f)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((f, kh, kw, c)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = pyx_cnn.conv(x, wt, stride=stride, padding=padding, bias=b)
    ref = conv_naive(x, wt, stride, padding, b)
    assert out.dtype == dtype
    assert out.shape == ref.shape
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, ref, **_tol(dtype, np.sqrt(kh * kw * c) * 4))


def test_conv_single_image_shapes():
    rng = np.random.default_rng(2)
    assert pyx_cnn.conv(rng.random((10, 12)), rng.random((2, 3, 3))).shape == (8, 10, 2)
    assert pyx_cnn.conv(rng.random((10, 12)), rng.random((2, 3, 3, 1))).shape == (8, 10, 2)
    assert pyx_cnn.conv(rng.random((10, 12, 1)), rng.random((2, 3, 3))).shape == (8, 10, 2)
    assert pyx_cnn.conv(rng.random((10, 12, 3)), rng.random((4, 3, 3, 3))).shape == (8, 10, 4)
    assert pyx_cnn.conv(rng.random((5, 10, 12, 3)), rng.random((4, 3, 3, 3)),
                        stride=2, padding=1).shape == (5, 5, 6, 4)


def test_conv_3d_image_equals_batch_of_one():
    rng = np.random.default_rng(3)
    img = rng.random((9, 8, 2))
    bank = rng.random((3, 2, 3, 2))
    np.testing.assert_array_equal(pyx_cnn.conv(img, bank), pyx_cnn.conv(img[None], bank)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_any_memory_layout_and_inputs_unchanged(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 9, 8, 3)).astype(dtype)
    wt = rng.standard_normal((4, 3, 2, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    expected = pyx_cnn.conv(x, wt, stride=2, padding=1, bias=b)
    np.testing.assert_allclose(expected, conv_naive(x, wt, 2, 1, b), **_tol(dtype, 10))
    for (lx, xv), (lw, wv), (lb, bv) in zip(layouts(x), layouts(wt), layouts(b)):
        copies = [xv.copy(), wv.copy(), bv.copy()]
        out = pyx_cnn.conv(xv, wv, stride=2, padding=1, bias=bv)
        np.testing.assert_array_equal(out, expected, err_msg=f"{lx}/{lw}/{lb}")
        assert out.flags.c_contiguous
        for before, after in zip(copies, (xv, wv, bv)):
            np.testing.assert_array_equal(before, after)


def test_conv_dtype_rule():
    x32 = np.ones((5, 5), np.float32)
    w32 = np.ones((1, 3, 3), np.float32)
    assert pyx_cnn.conv(x32, w32).dtype == np.float32
    assert pyx_cnn.conv(x32, w32.astype(np.float64)).dtype == np.float64
    assert pyx_cnn.conv(x32, w32, bias=np.zeros(1)).dtype == np.float64
    assert pyx_cnn.conv(x32, w32, bias=np.zeros(1, np.float32)).dtype == np.float32
    out = pyx_cnn.conv(np.arange(25, dtype=np.int64).reshape(5, 5), np.ones((1, 3, 3), bool))
    assert out.dtype == np.float64
    assert out[0, 0, 0] == sum(range(0, 3)) + sum(range(5, 8)) + sum(range(10, 13))
    # lists are array-likes
    assert pyx_cnn.conv([[1, 2], [3, 4]], [[[1, 0], [0, 1]]]).tolist() == [[[5.0]]]


def test_conv_float32_accuracy_against_float64():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 30, 30, 8))
    w = rng.standard_normal((16, 3, 3, 8))
    out32 = pyx_cnn.conv(x.astype(np.float32), w.astype(np.float32))
    np.testing.assert_allclose(out32, conv_naive(x, w), rtol=1e-4, atol=1e-4)


def test_conv_underscore_is_valid_correlation():
    rng = np.random.default_rng(6)
    for shape, k in [((10, 10), (3, 3)), ((7, 12), (2, 4)), ((5, 5), (5, 5)), ((4, 9), (1, 1))]:
        img, filt = rng.random(shape), rng.random(k)
        out = pyx_cnn.conv_(img, filt)
        np.testing.assert_allclose(out, signal.correlate2d(img, filt, "valid"), rtol=1e-12)
        assert out.flags.c_contiguous and out.flags.owndata


def test_conv_has_correct_borders_unlike_the_tutorial():
    # a constant image gives a constant map, with no zero rows or columns at the border
    out = pyx_cnn.conv_(np.ones((8, 8)), np.ones((3, 3)))
    np.testing.assert_array_equal(out, np.full((6, 6), 9.0))


def test_conv_analytic_identity_and_shift():
    rng = np.random.default_rng(7)
    img = rng.random((6, 7, 2))
    ident = np.zeros((2, 3, 3, 2))
    ident[0, 1, 1, 0] = 1   # centre of channel 0
    ident[1, 0, 0, 1] = 1   # top-left of channel 1
    out = pyx_cnn.conv(img, ident, padding=1)
    np.testing.assert_array_equal(out[..., 0], img[..., 0])
    np.testing.assert_array_equal(out[1:, 1:, 1], img[:-1, :-1, 1])
    np.testing.assert_array_equal(out[0, :, 1], 0)
