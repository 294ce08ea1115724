"""Pooling as plain loops: the definitions of the pooling ops."""
import math

import numpy as np


def _pads(padding):
    """``((top, bottom), (left, right))`` from an int, a pair ``(ph, pw)`` or that form."""
    if np.ndim(padding) == 0:
        return ((int(padding),) * 2, (int(padding),) * 2)
    along_h, along_w = padding
    if np.ndim(along_h) == 0:
        return ((int(along_h),) * 2, (int(along_w),) * 2)
    return (tuple(map(int, along_h)), tuple(map(int, along_w)))


def _window_count(n, size, stride, before, after, ceil_mode):
    """PyTorch's number of windows along an axis of `n` values padded by `before`, `after`."""
    if ceil_mode:
        count = math.ceil((n + before + after - size) / stride) + 1
        if (count - 1) * stride >= n + before:   # the last window starts in the padding
            count -= 1
        return count
    return math.floor((n + before + after - size) / stride) + 1


def _windows(x_shape, size, stride, padding, ceil_mode):
    """Yield ``(y, xx, rows, cols, padded_count)`` for every window: its output position,
    the input rows and columns it covers, and how many of its positions lie in the
    padded input (the ceil-mode part past the padding not counted)."""
    _, h, w, _ = x_shape
    (top, bottom), (left, right) = _pads(padding)
    for y in range(_window_count(h, size, stride, top, bottom, ceil_mode)):
        first_row = y * stride - top
        rows = [i for i in range(first_row, first_row + size) if 0 <= i < h]
        padded_rows = [i for i in range(first_row, first_row + size) if i < h + bottom]
        for xx in range(_window_count(w, size, stride, left, right, ceil_mode)):
            first_col = xx * stride - left
            cols = [j for j in range(first_col, first_col + size) if 0 <= j < w]
            padded_cols = [j for j in range(first_col, first_col + size) if j < w + right]
            yield y, xx, rows, cols, len(padded_rows) * len(padded_cols)


def _output(x_shape, size, stride, padding, ceil_mode):
    n, h, w, c = x_shape
    (top, bottom), (left, right) = _pads(padding)
    return np.zeros((n, _window_count(h, size, stride, top, bottom, ceil_mode),
                     _window_count(w, size, stride, left, right, ceil_mode), c))


def pooling(x, size=2, stride=2, padding=0, ceil_mode=False):
    """Max over each ``size x size`` window every `stride` pixels, per channel.

    Window ``(y, xx)`` covers the input rows ``y * stride - top + i`` and
    columns ``xx * stride - left + j``, ``i, j < size``; only those inside the
    input take part (the padding never wins). ``Ho = (H + top + bottom - size)
    // stride + 1`` (floor mode: the last window is kept whenever it fits);
    `ceil_mode` rounds up, then drops a last window starting in the bottom
    padding (likewise ``Wo``). `padding` is an int, a pair ``(ph, pw)`` or
    ``((top, bottom), (left, right))``. A window holding NaN gives NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    out = _output(x.shape, size, stride, padding, ceil_mode)
    for b in range(x.shape[0]):
        for y, xx, rows, cols, _ in _windows(x.shape, size, stride, padding, ceil_mode):
            for ch in range(x.shape[3]):
                out[b, y, xx, ch] = np.max(x[b][np.ix_(rows, cols, [ch])])
    return out


def _first_max(values):
    """Index of the first maximum of a 1-D array (a NaN counts as the maximum)."""
    nans = np.flatnonzero(np.isnan(values))
    return int(nans[0]) if nans.size else int(np.argmax(values))


def pooling_backward(x, grad_out, size=2, stride=2, padding=0, ceil_mode=False):
    """``dL/dx`` of :func:`pooling`: each output's gradient goes to the first
    maximum of its window's input values (row-major order; a NaN counts as the
    maximum); overlapping windows add up."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    dx = np.zeros(x.shape)
    for b in range(x.shape[0]):
        for y, xx, rows, cols, _ in _windows(x.shape, size, stride, padding, ceil_mode):
            for ch in range(x.shape[3]):
                window = x[b][np.ix_(rows, cols, [ch])]
                i, j = divmod(_first_max(window.reshape(-1)), len(cols))
                dx[b, rows[i], cols[j], ch] += g[b, y, xx, ch]
    return dx


def avg_pooling(x, size=2, stride=2, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean of each ``size x size`` window every `stride` pixels, per channel.

    Windows as :func:`pooling`, the padding being zeros. The sum of a window's
    input values is divided by the number of its positions inside the padded
    input with `count_include_pad` (``size * size`` but where a ceil-mode
    window reaches past the padding), else by the number of its input values:
    PyTorch's ``avg_pool2d``.
    """
    x = np.asarray(x, dtype=np.float64)
    out = _output(x.shape, size, stride, padding, ceil_mode)
    for b in range(x.shape[0]):
        for y, xx, rows, cols, padded in _windows(x.shape, size, stride, padding, ceil_mode):
            divisor = padded if count_include_pad else len(rows) * len(cols)
            for ch in range(x.shape[3]):
                total = 0.0
                for i in rows:
                    for j in cols:
                        total += x[b, i, j, ch]
                out[b, y, xx, ch] = total / divisor
    return out


def avg_pooling_backward(x, grad_out, size=2, stride=2, padding=0, ceil_mode=False,
                         count_include_pad=True):
    """``dL/dx`` of :func:`avg_pooling`: each output gradient divided by its
    window's divisor goes to each of the window's input values; overlapping
    windows add up, values no window reaches get 0 (only ``x``'s shape is read)."""
    g = np.asarray(grad_out, dtype=np.float64)
    shape = np.shape(x)
    dx = np.zeros(shape)
    for b in range(shape[0]):
        for y, xx, rows, cols, padded in _windows(shape, size, stride, padding, ceil_mode):
            divisor = padded if count_include_pad else len(rows) * len(cols)
            for ch in range(shape[3]):
                for i in rows:
                    for j in cols:
                        dx[b, i, j, ch] += g[b, y, xx, ch] / divisor
    return dx


def global_avg_pooling(x):
    """Mean of each channel over the whole image: ``(N, H, W, C) -> (N, C)``."""
    x = np.asarray(x, dtype=np.float64)
    n, h, w, c = x.shape
    out = np.zeros((n, c))
    for b in range(n):
        for ch in range(c):
            total = 0.0
            for i in range(h):
                for j in range(w):
                    total += x[b, i, j, ch]
            out[b, ch] = total / (h * w)
    return out


def global_avg_pooling_backward(x, grad_out):
    """``dL/dx`` of :func:`global_avg_pooling`: ``grad[n, c] / (H*W)`` at every
    pixel (only ``x``'s shape is read)."""
    g = np.asarray(grad_out, dtype=np.float64)
    n, h, w, c = np.shape(x)
    dx = np.zeros((n, h, w, c))
    for b in range(n):
        for ch in range(c):
            dx[b, :, :, ch] = g[b, ch] / (h * w)
    return dx


def global_max_pooling(x):
    """Maximum of each channel over the whole image: ``(N, H, W, C) -> (N, C)``
    (NaN when the channel holds one)."""
    x = np.asarray(x, dtype=np.float64)
    n, h, w, c = x.shape
    out = np.zeros((n, c))
    for b in range(n):
        for ch in range(c):
            values = x[b, :, :, ch].reshape(-1)
            out[b, ch] = values[_first_max(values)]
    return out


def global_max_pooling_backward(x, grad_out):
    """``dL/dx`` of :func:`global_max_pooling`: each (sample, channel) gradient
    to the first maximum over ``(H, W)``, row-major (a NaN counts as the
    maximum, the first NaN winning)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    dx = np.zeros(x.shape)
    n, h, w, c = x.shape
    for b in range(n):
        for ch in range(c):
            k = _first_max(x[b, :, :, ch].reshape(-1))
            dx[b, k // w, k % w, ch] = g[b, ch]
    return dx
