"""Naive-loop references for the backward passes (:mod:`pyx_cnn.reference`, and loops
for dilated convolution, average pooling, global max pooling and batch normalisation)."""
import numpy as np

from pyx_cnn import reference


def conv_backward_naive(p, w, g, stride):
    """p (N,Hp,Wp,C) padded input, w (F,kh,kw,C), g (N,Ho,Wo,F) -> dP, dW, db (loops)."""
    return reference.conv_backward(p, w, g, stride, 0)


def maxpool_backward_naive(x, g, size, stride):
    """Each output gradient to the first maximum (row-major; NaN counts as the maximum)."""
    return reference.pooling_backward(x, g, size, stride)


def conv_dilated_backward_naive(p, w, g, stride, dilation):
    """Gradients of a convolution with pairs of strides and dilations, by loops over
    every output and tap: p (N,Hp,Wp,C) padded input, w (F,kh,kw,C), g (N,Ho,Wo,F)
    -> dP (padded), dW, db."""
    p = np.asarray(p, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    (sh, sw), (dh, dw) = stride, dilation
    f, kh, kw, _ = w.shape
    dp, dwt = np.zeros(p.shape), np.zeros(w.shape)
    n, ho, wo, _ = g.shape
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for k in range(f):
                    for i in range(kh):
                        for j in range(kw):
                            row, col = y * sh + i * dh, xx * sw + j * dw
                            dp[b, row, col] += g[b, y, xx, k] * w[k, i, j]
                            dwt[k, i, j] += g[b, y, xx, k] * p[b, row, col]
    return dp, dwt, g.sum(axis=(0, 1, 2))


def avgpool_backward_naive(x_shape, g, size, stride):
    """Each output gradient shared equally, ``g / size**2``, by its window's values;
    overlapping windows add up, values no window reaches get 0."""
    g = np.asarray(g, dtype=np.float64)
    dx = np.zeros(x_shape)
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


def global_maxpool_backward_naive(x, g):
    """Each (sample, channel) gradient to the first maximum over (H, W), row-major;
    a NaN counts as the maximum (the first NaN)."""
    x = np.asarray(x, dtype=np.float64)
    dx = np.zeros(x.shape)
    n, h, w, c = x.shape
    for b in range(n):
        for ch in range(c):
            flat = x[b, :, :, ch].reshape(-1)
            nans = np.flatnonzero(np.isnan(flat))
            k = nans[0] if nans.size else int(np.argmax(flat))
            dx[b, k // w, k % w, ch] = g[b, ch]
    return dx


def batch_norm_backward_naive(x, gamma, g, eps):
    """dL/dx, dL/dgamma, dL/dbeta of training-mode batch normalisation, from the
    Jacobian of ``y_i = gamma * (x_i - mean) / sqrt(var + eps) + beta`` per channel
    (biased variance over the M values of the channel)::

        dy_i / dx_j = gamma / s * (delta_ij - 1/M - xhat_i * xhat_j / M)

    summed against ``g`` over i for each j. x is (..., C), float64.
    """
    x = np.asarray(x, dtype=np.float64)
    rows = x.reshape(-1, x.shape[-1])
    grows = np.asarray(g, dtype=np.float64).reshape(rows.shape)
    m, c = rows.shape
    dx = np.zeros(rows.shape)
    dgamma, dbeta = np.zeros(c), np.zeros(c)
    for ch in range(c):
        values = rows[:, ch]
        mean = sum(values) / m
        s = np.sqrt(sum((v - mean) ** 2 for v in values) / m + eps)
        xhat = (values - mean) / s
        for j in range(m):
            column = gamma[ch] / s * ((np.arange(m) == j) - 1.0 / m - xhat * xhat[j] / m)
            dx[j, ch] = np.dot(grows[:, ch], column)
        dgamma[ch] = sum(grows[i, ch] * xhat[i] for i in range(m))
        dbeta[ch] = sum(grows[:, ch])
    return dx.reshape(x.shape), dgamma, dbeta
