"""Pooling as plain loops: the definitions of the pooling ops."""
import numpy as np


def pooling(x, size=2, stride=2):
    """Max over each ``size x size`` window every `stride` pixels, per channel.

    ``Ho = (H - size) // stride + 1`` (floor mode: the last window is kept
    whenever it fits). A window holding NaN gives NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    n, h, w, c = x.shape
    ho = (h - size) // stride + 1
    wo = (w - size) // stride + 1
    out = np.zeros((n, ho, wo, c))
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    out[b, y, xx, ch] = np.max(
                        x[b, y * stride:y * stride + size, xx * stride:xx * stride + size, ch])
    return out


def _first_max(values):
    """Index of the first maximum of a 1-D array (a NaN counts as the maximum)."""
    nans = np.flatnonzero(np.isnan(values))
    return int(nans[0]) if nans.size else int(np.argmax(values))


def pooling_backward(x, grad_out, size=2, stride=2):
    """``dL/dx`` of :func:`pooling`: each output's gradient goes to the first
    maximum of its window (row-major order; a NaN counts as the maximum);
    overlapping windows add up."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    dx = np.zeros(x.shape)
    n, ho, wo, c = g.shape
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    window = x[b, y * stride:y * stride + size, xx * stride:xx * stride + size, ch]
                    i, j = divmod(_first_max(window.reshape(-1)), size)
                    dx[b, y * stride + i, xx * stride + j, ch] += g[b, y, xx, ch]
    return dx


def avg_pooling(x, size=2, stride=2):
    """Mean of each ``size x size`` window every `stride` pixels (floor mode), per channel."""
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


def avg_pooling_backward(x, grad_out, size=2, stride=2):
    """``dL/dx`` of :func:`avg_pooling`: each output gradient shared equally,
    ``grad / size**2``, by its window's values; overlapping windows add up, values
    no window reaches get 0 (only ``x``'s shape is read)."""
    g = np.asarray(grad_out, dtype=np.float64)
    dx = np.zeros(np.shape(x))
    n, ho, wo, c = g.shape
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    for i in range(size):
                        for j in range(size):
                            dx[b, y * stride + i, xx * stride + j, ch] += \
                                g[b, y, xx, ch] / (size * size)
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
