"""Test-only helpers: a vectorised max pooling, average pooling and batch norm summed
in pyx_cnn's order (for bitwise comparisons), TensorFlow's "same" padding written
independently of pyx_cnn._geometry, and memory layouts.

The plain-loop definition of every op is :mod:`pyx_cnn.reference`: the tests import
it from there."""
import math

import numpy as np


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


def same_pads(in_hw, kernel_hw, stride, dilation):
    """TensorFlow's "same" padding: ``ceil(H / s)`` outputs, the total zeros needed
    split with the extra one at the bottom / right."""
    pads = []
    for size, k, s, d in zip(in_hw, kernel_hw, stride, dilation):
        outputs = math.ceil(size / s)
        total = max((outputs - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)
