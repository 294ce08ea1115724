"""Slow, obviously-correct references written for the tests (independent of pyx_cnn)."""
import numpy as np


def conv_naive(x, w, stride=1, padding=0, bias=None):
    """x (N, H, W, C), w (F, kh, kw, C) -> (N, Ho, Wo, F), plain loops in float64."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, h, wd, c = x.shape
    f, kh, kw, _ = w.shape
    p = np.zeros((n, h + 2 * padding, wd + 2 * padding, c))
    p[:, padding:padding + h, padding:padding + wd] = x
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


def maxpool_naive(x, size, stride):
    """x (N, H, W, C) -> (N, Ho, Wo, C); NaN in a window gives NaN (np.max does)."""
    x = np.asarray(x)
    n, h, w, c = x.shape
    ho = (h - size) // stride + 1
    wo = (w - size) // stride + 1
    out = np.zeros((n, ho, wo, c), dtype=np.float64)
    for b in range(n):
        for y in range(ho):
            for xx in range(wo):
                for ch in range(c):
                    out[b, y, xx, ch] = np.max(
                        x[b, y * stride:y * stride + size, xx * stride:xx * stride + size, ch]
                    )
    return out


def maxpool_sliding(x, size, stride):
    """Vectorised reference with numpy's sliding_window_view."""
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
    return win[:, ::stride, ::stride].max(axis=(-2, -1))


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
