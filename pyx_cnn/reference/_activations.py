"""The activations and the softmax cross-entropy loss as plain loops."""
import math

import numpy as np


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


def relu6(x, max_value=6.0):
    """``min(max(x, 0), max_value)`` elementwise (NaN stays NaN, ``-0.0`` becomes
    ``0.0``): ReLU6 for the default bound.

    >>> relu6(np.array([-1.0, 0.0, 2.0, 6.0, 7.5]))
    array([0., 0., 2., 6., 6.])
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    for i, v in np.ndenumerate(x):
        if math.isnan(v):
            out[i] = v
        elif v >= max_value:
            out[i] = max_value
        elif v > 0:
            out[i] = v
    return out


def relu6_backward(y, grad, max_value=6.0):
    """``dL/dx`` of :func:`relu6` from its output `y`: the gradient where
    ``0 < y < max_value``, 0 at and beyond both bounds (as PyTorch's ``relu6``); a
    NaN output passes it."""
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    out = np.zeros(y.shape)
    for i, v in np.ndenumerate(y):
        if math.isnan(v) or 0 < v < max_value:
            out[i] = g[i]
    return out


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
