"""References for the tests: the naive loops of :mod:`pyx_cnn.reference`, loops for
dilated convolution and average pooling, a vectorised pooling and memory layouts."""
import math

import numpy as np

from pyx_cnn import reference


# the package's documented references (plain loops)
conv_naive = reference.conv
maxpool_naive = reference.pooling


def maxpool_sliding(x, size, stride):
    """Vectorised reference with numpy's sliding_window_view."""
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
    return win[:, ::stride, ::stride].max(axis=(-2, -1))


def layouts(array):
    """The same values in several memory layouts: C, Fortran, strided slice, reversed."""
    a = np.ascontiguousarray(array)
    yield "C", a
    yield "F", np.asfortranarray(a)
    big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
    sl = tuple(slice(None, None, 2) for _ in a.shape)
    big[sl] = a
    yield "strided", big[sl]
    rev = tuple(slice(None, None, -1) for _ in a.shape)
    yield "reversed", np.ascontiguousarray(a[rev])[rev]


def conv_dilated_naive(x, w, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), bias=None):
    """Plain loops over every output and tap, for pairs of strides and dilations and
    unequal paddings (the general form of :func:`conv_naive`).

    ``out[n, y, x, f] = bias[f] + sum_{i, j, c} P[n, y*sh + i*dh, x*sw + j*dw, c] * w[f, i, j, c]``
    with ``P`` = x (N, H, W, C) zero-padded by ``pads = ((top, bottom), (left, right))``;
    w is (F, kh, kw, C). float64.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    (top, bottom), (left, right) = pads
    (sh, sw), (dh, dw) = stride, dilation
    n, h, wd, c = x.shape
    f, kh, kw, _ = w.shape
    p = np.zeros((n, h + top + bottom, wd + left + right, c))
    p[:, top:top + h, left:left + wd] = x
    ho = (p.shape[1] - (kh - 1) * dh - 1) // sh + 1
    wo = (p.shape[2] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, ho, wo, f))
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for k in range(f):
                    total = 0.0 if bias is None else float(bias[k])
                    for i in range(kh):
                        for j in range(kw):
                            total += np.dot(p[b, y * sh + i * dh, xx * sw + j * dw], w[k, i, j])
                    out[b, y, xx, k] = total
    return out


def same_pads(in_hw, kernel_hw, stride, dilation):
    """TensorFlow's "same" padding: ``ceil(H / s)`` outputs, the total zeros needed
    split with the extra one at the bottom / right."""
    pads = []
    for size, k, s, d in zip(in_hw, kernel_hw, stride, dilation):
        outputs = math.ceil(size / s)
        total = max((outputs - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def avgpool_naive(x, size, stride):
    """Mean of each ``size x size`` window every `stride` pixels (floor mode), by loops."""
    x = np.asarray(x, dtype=np.float64)
    n, h, w, c = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((n, ho, wo, c))
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    total = 0.0
                    for i in range(size):
                        for j in range(size):
                            total += x[b, y * stride + i, xx * stride + j, ch]
                    out[b, y, xx, ch] = total / (size * size)
    return out
