"""Readable versions of the tutorial's kernels: plain Python loops, float64.

This module holds the convolution (one integer stride and padding, no
dilation) and its backward pass, ReLU and its backward pass, sigmoid, softmax,
max pooling and its backward pass, and the softmax cross-entropy. The compiled
kernels compute what the function of the same name here computes, and the test
suite proves it (``tests/``: kernel == reference, on random shapes, strides,
paddings and special values). Read these first: they are the definitions,
written as the tutorial writes them, without SIMD, threads or memory layouts.
They are slow (use them on small arrays).

The other operations have their loop references in the test suite instead:
``tests/reference.py`` and ``tests/reference_grad.py`` hold the dilated
convolution (a stride and padding per axis), average pooling, global max
pooling and batch normalisation, with their backward passes; tanh, leaky ReLU,
dropout and batch normalisation are also compared with PyTorch.

Shapes are channels-last, as everywhere in pyx_cnn: a batch ``(N, H, W, C)``,
filters ``(F, kh, kw, C)``.

>>> import numpy as np
>>> from pyx_cnn import reference
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)
>>> reference.pooling(x, 2, 2)[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""
import numpy as np

__all__ = ["conv", "conv_backward", "relu", "relu_backward", "sigmoid", "softmax",
           "pooling", "pooling_backward", "softmax_cross_entropy"]


def _pad(x, padding):
    n, h, w, c = x.shape
    p = np.zeros((n, h + 2 * padding, w + 2 * padding, c))
    p[:, padding:padding + h, padding:padding + w] = x
    return p


def conv(x, w, stride=1, padding=0, bias=None):
    """Cross-correlation of a batch with a filter bank, summed over channels.

    ``out[n, y, x, f] = bias[f] + sum_{i, j, c} P[n, y*stride+i, x*stride+j, c] * w[f, i, j, c]``
    with ``P`` the input zero-padded by `padding` on each side.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    w : array_like, shape (F, kh, kw, C)
    stride, padding : int
    bias : array_like, shape (F,), optional

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, F), float64
        ``Ho = (H + 2*padding - kh) // stride + 1``, likewise ``Wo``.

    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> conv(x, np.ones((1, 2, 2, 1)))[0, :, :, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, h, wd, c = x.shape
    f, kh, kw, _ = w.shape
    p = _pad(x, padding)
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, ho, wo, f))
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                window = p[b, y * stride:y * stride + kh, xx * stride:xx * stride + kw, :]
                for k in range(f):
                    out[b, y, xx, k] = np.sum(window * w[k])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    return out


def conv_backward(x, w, grad_out, stride=1, padding=0):
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
    n, h, wd, c = x.shape
    f, kh, kw, _ = w.shape
    p = _pad(x, padding)
    dp = np.zeros(p.shape)
    dw = np.zeros(w.shape)
    _, ho, wo, _ = g.shape
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                ys, xs = y * stride, xx * stride
                for k in range(f):
                    dp[b, ys:ys + kh, xs:xs + kw, :] += g[b, y, xx, k] * w[k]
                    dw[k] += g[b, y, xx, k] * p[b, ys:ys + kh, xs:xs + kw, :]
    return dp[:, padding:padding + h, padding:padding + wd], dw, g.sum(axis=(0, 1, 2))


def relu(x):
    """``max(x, 0)`` elementwise (NaN stays NaN).

    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    out[x < 0] = 0.0    # NaN < 0 is False: NaN stays
    out[out == 0] = 0.0  # -0.0 becomes 0.0
    return out


def relu_backward(y, grad):
    """``dL/dx`` of ReLU from its output `y`: 0 where ``y <= 0``, else the gradient
    (a NaN output passes it, as in PyTorch)."""
    return np.where(np.asarray(y) <= 0, 0.0, grad)


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


def softmax(x, axis=-1):
    """``exp(x - max) / sum(exp(x - max))`` along `axis` (the shift keeps it finite)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


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
                    flat = window.reshape(-1)
                    nans = np.flatnonzero(np.isnan(flat))
                    k = nans[0] if nans.size else int(np.argmax(flat))
                    i, j = divmod(k, size)
                    dx[b, y * stride + i, xx * stride + j, ch] += g[b, y, xx, ch]
    return dx


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
