"""Convolution as plain loops: the definition of :mod:`pyx_cnn.ops.conv`."""
import numpy as np


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


def _group_channels(k, f, c_group, groups):
    """The input channels filter `k` of `f` reads: its group's ``c_group`` channels."""
    g = k // (f // groups)
    return slice(g * c_group, (g + 1) * c_group)


def conv(x, w, stride=1, padding=0, bias=None, dilation=1, groups=1):
    """Cross-correlation of a batch with a filter bank, summed over channels.

    ``out[n, y, x, f] = bias[f] + sum_{i, j, c} P[n, y*sh + i*dh, x*sw + j*dw, g*Cg + c] * w[f, i, j, c]``
    with ``P`` the input zero-padded, ``Cg = C // groups`` and ``g = f // (F // groups)``
    the group of filter ``f``: each group of ``F // groups`` filters sees its own
    ``Cg`` channels (with ``groups == C`` a depthwise convolution).

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    w : array_like, shape (F, kh, kw, C // groups)
    stride, dilation : int or (int, int)
        Along H and W.
    padding : int, (int, int) or ((top, bottom), (left, right))
        Zeros around the input.
    bias : array_like, shape (F,), optional
    groups : int, optional
        Divides C and F.

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
    f, kh, kw, c_group = w.shape
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
                    channels = _group_channels(k, f, c_group, groups)
                    out[b, y, xx, k] = np.sum(window[:, :, channels] * w[k])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    return out


def conv_backward(x, w, grad_out, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of :func:`conv` given ``grad_out = dL/dout``.

    Each window's output gradient flows back to the window's inputs (weighted
    by the filter) and to the filter (weighted by the window's inputs).

    Returns
    -------
    grad_x : ndarray, shape (N, H, W, C)
    grad_w : ndarray, shape (F, kh, kw, C // groups)
    grad_b : ndarray, shape (F,)
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    (sh, sw), (dh, dw) = _two(stride), _two(dilation)
    (top, bottom), (left, right) = pads = _zeros_around(padding)
    n, h, wd, c = x.shape
    f, kh, kw, c_group = w.shape
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
                    channels = _group_channels(k, f, c_group, groups)
                    dp[b, rows, cols, channels] += g[b, y, xx, k] * w[k]
                    dw_[k] += g[b, y, xx, k] * p[b, rows, cols, channels]
    return dp[:, top:top + h, left:left + wd], dw_, g.sum(axis=(0, 1, 2))
