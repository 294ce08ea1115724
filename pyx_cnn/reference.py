"""Readable versions of every op: plain Python loops, float64.

Each op of :mod:`pyx_cnn.ops` names, in its docstring's ``See Also``, the
function here that defines what it computes, and the test suite proves that
they agree (``tests/``: kernel == reference, on random shapes, strides,
paddings, dilations and special values). Read these first: they are the
definitions, written as the tutorial writes them, without SIMD, threads or
memory layouts. They are slow (use them on small arrays).

- convolution: :func:`conv`, :func:`conv_backward` (a stride, padding and
  dilation per axis);
- pooling: :func:`pooling` (max), :func:`avg_pooling`,
  :func:`global_avg_pooling`, :func:`global_max_pooling`, each with its
  ``*_backward``;
- batch normalisation: :func:`batch_norm_train` (the batch's statistics),
  :func:`batch_norm_infer` (given statistics), :func:`batch_norm_backward`;
- :func:`dropout` and :func:`dropout_backward`, for a given mask;
- activations: :func:`relu`, :func:`leaky_relu`, :func:`sigmoid`,
  :func:`tanh`, :func:`softmax`, each with its ``*_backward`` (from the output
  ``y``, as the ops compute it);
- the loss :func:`softmax_cross_entropy` and its gradient.

Shapes are channels-last, as everywhere in pyx_cnn: a batch ``(N, H, W, C)``,
filters ``(F, kh, kw, C)``. A backward function takes the forward pass's
arrays, then ``grad_out = dL/dout``. The index arithmetic is written out here
(not taken from :mod:`pyx_cnn._geometry`), so that the tests compare two
independent computations.

>>> import numpy as np
>>> from pyx_cnn import reference
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)
>>> reference.pooling(x, 2, 2)[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""
import math

import numpy as np

__all__ = ["conv", "conv_backward",
           "pooling", "pooling_backward", "avg_pooling", "avg_pooling_backward",
           "global_avg_pooling", "global_avg_pooling_backward",
           "global_max_pooling", "global_max_pooling_backward",
           "batch_norm_train", "batch_norm_infer", "batch_norm_backward",
           "dropout", "dropout_backward",
           "relu", "relu_backward", "leaky_relu", "leaky_relu_backward",
           "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
           "softmax", "softmax_backward", "softmax_cross_entropy"]


# ---------------------------------------------------------------- convolution

def _two(value):
    """An int or a pair as a pair ``(along H, along W)``."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _zeros_around(padding):
    """``((top, bottom), (left, right))`` from an int, a pair ``(along H, along W)``
    or that form itself."""
    ph, pw = _two(padding)
    return _two(ph), _two(pw)


def _pad(x, pads):
    (top, bottom), (left, right) = pads
    n, h, w, c = x.shape
    p = np.zeros((n, h + top + bottom, w + left + right, c))
    p[:, top:top + h, left:left + w] = x
    return p


def conv(x, w, stride=1, padding=0, bias=None, dilation=1):
    """Cross-correlation of a batch with a filter bank, summed over channels.

    ``out[n, y, x, f] = bias[f] + sum_{i, j, c} P[n, y*sh + i*dh, x*sw + j*dw, c] * w[f, i, j, c]``
    with ``P`` the input zero-padded.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    w : array_like, shape (F, kh, kw, C)
    stride, dilation : int or (int, int)
        Along H and W.
    padding : int, (int, int) or ((top, bottom), (left, right))
        Zeros around the input.
    bias : array_like, shape (F,), optional

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, F), float64
        ``Ho = (H + top + bottom - (kh - 1) * dh - 1) // sh + 1``, likewise ``Wo``.

    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> conv(x, np.ones((1, 2, 2, 1)))[0, :, :, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    (sh, sw), (dh, dw) = _two(stride), _two(dilation)
    pads = _zeros_around(padding)
    n, h, wd, c = x.shape
    f, kh, kw, _ = w.shape
    p = _pad(x, pads)
    ho = (p.shape[1] - (kh - 1) * dh - 1) // sh + 1
    wo = (p.shape[2] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, ho, wo, f))
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                # the window's taps: kh rows dh apart, kw columns dw apart
                window = p[b, y * sh:y * sh + (kh - 1) * dh + 1:dh,
                           xx * sw:xx * sw + (kw - 1) * dw + 1:dw, :]
                for k in range(f):
                    out[b, y, xx, k] = np.sum(window * w[k])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    return out


def conv_backward(x, w, grad_out, stride=1, padding=0, dilation=1):
    """Gradients of :func:`conv` given ``grad_out = dL/dout``.

    Each window's output gradient flows back to the window's inputs (weighted
    by the filter) and to the filter (weighted by the window's inputs).

    Returns
    -------
    grad_x : ndarray, shape (N, H, W, C)
    grad_w : ndarray, shape (F, kh, kw, C)
    grad_b : ndarray, shape (F,)
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    (sh, sw), (dh, dw) = _two(stride), _two(dilation)
    (top, bottom), (left, right) = pads = _zeros_around(padding)
    n, h, wd, c = x.shape
    f, kh, kw, _ = w.shape
    p = _pad(x, pads)
    dp = np.zeros(p.shape)
    dw_ = np.zeros(w.shape)
    _, ho, wo, _ = g.shape
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                rows = slice(y * sh, y * sh + (kh - 1) * dh + 1, dh)
                cols = slice(xx * sw, xx * sw + (kw - 1) * dw + 1, dw)
                for k in range(f):
                    dp[b, rows, cols, :] += g[b, y, xx, k] * w[k]
                    dw_[k] += g[b, y, xx, k] * p[b, rows, cols, :]
    return dp[:, top:top + h, left:left + wd], dw_, g.sum(axis=(0, 1, 2))


# ---------------------------------------------------------------- pooling

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


# ---------------------------------------------------------------- batch normalisation

def _channel_rows(x):
    """``(..., C)`` as ``(M, C)``: the M values of each channel in a column."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(-1, x.shape[-1])


def batch_norm_train(x, gamma, beta, eps=1e-5):
    """Batch normalisation with the batch's own statistics, per channel (the last axis).

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta`` with the mean and the
    *biased* variance of the channel's M values (over N, H, W).

    Returns
    -------
    y : ndarray, x's shape
    mean : ndarray, shape (C,)
    var : ndarray, shape (C,)
        The *unbiased* variance ``sum((x - mean)**2) / (M - 1)``: what the
        running statistics take, ``running = (1 - momentum) * running +
        momentum * batch``.
    """
    rows = _channel_rows(x)
    m, c = rows.shape
    y = np.zeros(rows.shape)
    mean, var = np.zeros(c), np.zeros(c)
    for ch in range(c):
        mean[ch] = sum(rows[:, ch]) / m
        squares = sum((v - mean[ch]) ** 2 for v in rows[:, ch])
        s = math.sqrt(squares / m + eps)
        for i in range(m):
            y[i, ch] = gamma[ch] * (rows[i, ch] - mean[ch]) / s + beta[ch]
        var[ch] = squares / (m - 1)
    return y.reshape(np.shape(x)), mean, var


def batch_norm_infer(x, gamma, beta, mean, var, eps=1e-5):
    """Batch normalisation with given (running) statistics, per channel:
    ``y = gamma * (x - mean) / sqrt(var + eps) + beta``."""
    rows = _channel_rows(x)
    y = np.zeros(rows.shape)
    for i in range(rows.shape[0]):
        for ch in range(rows.shape[1]):
            y[i, ch] = gamma[ch] * (rows[i, ch] - mean[ch]) / math.sqrt(var[ch] + eps) + beta[ch]
    return y.reshape(np.shape(x))


def batch_norm_backward(x, gamma, grad_out, eps=1e-5):
    """``(grad_x, grad_gamma, grad_beta)`` of :func:`batch_norm_train`, from the
    Jacobian of ``y_i = gamma * (x_i - mean) / s + beta`` per channel (``s =
    sqrt(biased var + eps)`` over the M values of the channel)::

        dy_i / dx_j = gamma / s * (delta_ij - 1/M - xhat_i * xhat_j / M)

    summed against the output gradient over i for each j.
    """
    rows = _channel_rows(x)
    grows = np.asarray(grad_out, dtype=np.float64).reshape(rows.shape)
    m, c = rows.shape
    dx = np.zeros(rows.shape)
    dgamma, dbeta = np.zeros(c), np.zeros(c)
    for ch in range(c):
        values = rows[:, ch]
        mean = sum(values) / m
        s = math.sqrt(sum((v - mean) ** 2 for v in values) / m + eps)
        xhat = (values - mean) / s
        for j in range(m):
            column = gamma[ch] / s * ((np.arange(m) == j) - 1.0 / m - xhat * xhat[j] / m)
            dx[j, ch] = np.dot(grows[:, ch], column)
        dgamma[ch] = sum(grows[i, ch] * xhat[i] for i in range(m))
        dbeta[ch] = sum(grows[:, ch])
    return dx.reshape(np.shape(x)), dgamma, dbeta


# ---------------------------------------------------------------- dropout

def dropout(x, mask, rate):
    """Inverted dropout for a given keep-mask: ``x * mask / (1 - rate)`` elementwise
    (a multiplication also where dropped: a dropped NaN or infinity gives NaN)."""
    x = np.asarray(x, dtype=np.float64)
    mask = np.asarray(mask)
    out = np.zeros(x.shape)
    for i, v in np.ndenumerate(x):
        out[i] = v * float(mask[i]) / (1.0 - rate)
    return out


def dropout_backward(grad_out, mask, rate):
    """``dL/dx`` of :func:`dropout`: the same mask and scale applied to the gradient."""
    return dropout(grad_out, mask, rate)


# ---------------------------------------------------------------- activations

def relu(x):
    """``max(x, 0)`` elementwise (NaN stays NaN, ``-0.0`` becomes ``0.0``).

    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    for i, v in np.ndenumerate(x):
        out[i] = v if (v > 0 or math.isnan(v)) else 0.0
    return out


def relu_backward(y, grad):
    """``dL/dx`` of ReLU from its output `y`: 0 where ``y <= 0``, else the gradient
    (a NaN output passes it, as in PyTorch)."""
    return np.where(np.asarray(y) <= 0, 0.0, grad)


def leaky_relu(x, negative_slope=0.01):
    """``x`` where ``x > 0``, else ``negative_slope * x``, elementwise."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    for i, v in np.ndenumerate(x):
        out[i] = v if v > 0 else negative_slope * v
    return out


def leaky_relu_backward(y, grad, negative_slope=0.01):
    """``dL/dx`` of leaky ReLU from its output `y`: the gradient where ``y > 0``,
    else ``negative_slope`` times it."""
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    out = np.zeros(y.shape)
    for i, v in np.ndenumerate(y):
        out[i] = g[i] if v > 0 else negative_slope * g[i]
    return out


def sigmoid(x):
    """``1 / (1 + exp(-x))``, written so that neither branch overflows."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for i, v in np.ndenumerate(x):
        if v >= 0:
            out[i] = 1.0 / (1.0 + np.exp(-v))
        else:
            e = np.exp(v)
            out[i] = e / (1.0 + e)
    return out


def sigmoid_backward(y, grad):
    """``dL/dx`` of sigmoid from its output `y`: ``grad * y * (1 - y)``."""
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    out = np.zeros(y.shape)
    for i, v in np.ndenumerate(y):
        out[i] = g[i] * v * (1.0 - v)
    return out


def tanh(x):
    """``tanh(x)`` elementwise (NaN stays NaN)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    for i, v in np.ndenumerate(x):
        out[i] = math.tanh(v)
    return out


def tanh_backward(y, grad):
    """``dL/dx`` of tanh from its output `y`: ``grad * (1 - y**2)``."""
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    out = np.zeros(y.shape)
    for i, v in np.ndenumerate(y):
        out[i] = g[i] * (1.0 - v * v)
    return out


def softmax(x, axis=-1):
    """``exp(x - max) / sum(exp(x - max))`` along `axis` (the shift keeps it finite)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(y, grad):
    """``dL/dx`` of :func:`softmax` (along the last axis) from its output `y`: row
    by row, ``y_i * (g_i - sum_k g_k * y_k)``."""
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64).reshape(-1, y.shape[-1])
    rows = y.reshape(-1, y.shape[-1])
    out = np.zeros(rows.shape)
    for r in range(rows.shape[0]):
        dot = sum(g[r, k] * rows[r, k] for k in range(rows.shape[1]))
        for i in range(rows.shape[1]):
            out[r, i] = rows[r, i] * (g[r, i] - dot)
    return out.reshape(y.shape)


# ---------------------------------------------------------------- loss

def softmax_cross_entropy(z, labels):
    """Mean cross-entropy of ``softmax(z)`` over rows (the class axis is the last)
    against integer labels, and its gradient ``(softmax(z) - onehot) / M``.

    >>> value, grad = softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(value, 6)   # log(4)
    1.386294
    """
    z = np.asarray(z, dtype=np.float64)
    rows = z.reshape(-1, z.shape[-1])
    labels = np.asarray(labels).reshape(-1)
    m = rows.shape[0]
    p = softmax(rows)
    value = -sum(np.log(p[i, labels[i]]) for i in range(m)) / m
    grad = p.copy()
    grad[np.arange(m), labels] -= 1
    return float(value), (grad / m).reshape(z.shape)
