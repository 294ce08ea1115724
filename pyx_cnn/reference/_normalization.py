"""Batch normalisation and dropout as plain loops."""
import math

import numpy as np


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
