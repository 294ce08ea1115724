"""Naive-loop references for the backward passes (independent of pyx_cnn)."""
import numpy as np


def conv_backward_naive(p, w, g, stride):
    """p (N,Hp,Wp,C) padded input, w (F,kh,kw,C), g (N,Ho,Wo,F) -> dP, dW, db (loops)."""
    f, kh, kw, _ = w.shape
    dp = np.zeros(p.shape)
    dw = np.zeros(w.shape)
    n, ho, wo, _ = g.shape
    for b in range(n):
        for y in range(ho):
            for x in range(wo):
                ys, xs = y * stride, x * stride
                for k in range(f):
                    dp[b, ys:ys + kh, xs:xs + kw, :] += g[b, y, x, k] * w[k]
                    dw[k] += g[b, y, x, k] * p[b, ys:ys + kh, xs:xs + kw, :]
    return dp, dw, g.sum(axis=(0, 1, 2))


def maxpool_backward_naive(x, g, size, stride):
    """Each output gradient to the first maximum (row-major; NaN counts as the maximum)."""
    dx = np.zeros(x.shape)
    n, ho, wo, c = g.shape
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    window = x[b, y * stride:y * stride + size, xx * stride:xx * stride + size, ch]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dx[b, y * stride + i, xx * stride + j, ch] += g[b, y, xx, ch]
    return dx
