"""References for the tests: the naive loops of :mod:`pyx_cnn.reference`, loops for
dilated convolution and average pooling, a vectorised pooling, average pooling and batch
norm summed in pyx_cnn's order (for bitwise comparisons), and memory layouts."""
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


def avgpool_ordered(x, size, stride):
    """Average pooling of (N, H, W, C), one window at a time: the window's values added
    to 0 row by row (vectorised over samples and channels only), then divided by
    size*size, in x's dtype."""
    n, h, w, c = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.empty((n, ho, wo, c), dtype=x.dtype)
    area = x.dtype.type(size * size)
    for oy in range(ho):
        for ox in range(wo):
            acc = np.zeros((n, c), dtype=x.dtype)
            for i in range(size):
                for j in range(size):
                    acc += x[:, oy * stride + i, ox * stride + j]
            out[:, oy, ox] = acc / area
    return out


def avgpool_backward_ordered(grad, x_shape, size, stride):
    """dL/dx of average pooling, one input pixel at a time: the gradients of the windows
    holding it (window rows, then columns, ascending) added to 0, divided by size*size;
    0 where no window holds the pixel."""
    n, h, w, c = x_shape
    _, ho, wo, _ = grad.shape
    gx = np.zeros(x_shape, dtype=grad.dtype)
    area = grad.dtype.type(size * size)
    for iy in range(h):
        oys = [oy for oy in range(ho) if oy * stride <= iy < oy * stride + size]
        for ix in range(w):
            oxs = [ox for ox in range(wo) if ox * stride <= ix < ox * stride + size]
            if oys and oxs:
                acc = np.zeros((n, c), dtype=grad.dtype)
                for oy in oys:
                    for ox in oxs:
                        acc += grad[:, oy, ox]
                gx[:, iy, ix] = acc / area
    return gx


def _blocks(rows, blocks):
    """The row ranges of the batch-norm partial sums: block b is [rows*b//B, rows*(b+1)//B)."""
    return [(rows * b // blocks, rows * (b + 1) // blocks) for b in range(blocks)]


def _in_order(values):
    """Per column, the rows of `values` added one after the other, from the first
    (np.cumsum is sequential, unlike np.sum's pairwise sums)."""
    return np.cumsum(values, axis=0)[-1]


def batch_norm_statistics_ordered(xr, blocks, eps):
    """(mean, invstd, unbiased var) of ``(M, C)`` rows as pyx_cnn sums them: per block
    the sum, then the deviations from the block mean, in row order, in double
    precision; the blocks combined in block order."""
    rows, channels = xr.shape
    x = xr.astype(np.float64)
    s = np.zeros(channels)
    parts = []
    for r0, r1 in _blocks(rows, blocks):
        s_b = _in_order(x[r0:r1])
        d = x[r0:r1] - s_b / (r1 - r0)
        parts.append((r1 - r0, s_b, _in_order(d), _in_order(d * d)))
        s = s + s_b
    mean = s / rows
    m2 = np.zeros(channels)
    for n_b, s_b, dev, dev2 in parts:
        e = s_b / n_b - mean
        m2 = m2 + (dev2 + e * (2 * dev + n_b * e))
    return mean, 1.0 / np.sqrt(m2 / rows + eps), m2 / (rows - 1)


def batch_norm_normalize_ordered(xr, gamma, beta, mean, invstd):
    """``x * scale + shift`` in x's dtype, scale and shift computed in double precision."""
    scale = gamma.astype(np.float64) * invstd
    shift = beta.astype(np.float64) - mean * scale
    return xr * scale.astype(xr.dtype) + shift.astype(xr.dtype)


def batch_norm_backward_ordered(xr, gr, gamma, mean, invstd, blocks):
    """(grad_x, grad_gamma, grad_beta) as pyx_cnn computes them (block sums in row order)."""
    rows, channels = xr.shape
    dtype = xr.dtype
    x, g = xr.astype(np.float64), gr.astype(np.float64)
    sum_g = np.zeros(channels)
    sum_gx = np.zeros(channels)
    for r0, r1 in _blocks(rows, blocks):
        sum_g = sum_g + _in_order(g[r0:r1])
        sum_gx = sum_gx + _in_order(g[r0:r1] * (x[r0:r1] - mean))
    a = (sum_g / rows).astype(dtype)
    b = (sum_gx * invstd * invstd / rows).astype(dtype)
    k = (gamma.astype(np.float64) * invstd).astype(dtype)
    grad_x = (gr - a - (xr - mean.astype(dtype)) * b) * k
    return grad_x, (sum_gx * invstd).astype(dtype), sum_g.astype(dtype)


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
