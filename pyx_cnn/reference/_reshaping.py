"""The ops that change an image's size as plain loops: zero padding, nearest-neighbour
upsampling and transposed convolution (each with its backward pass)."""
import numpy as np


def _two(value):
    """An int or a pair as a pair ``(along H, along W)``."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def zero_padding(x, padding):
    """`x` ``(N, H, W, C)`` with zeros around: `padding` an int, a pair ``(along H,
    along W)`` or ``((top, bottom), (left, right))``.

    >>> zero_padding(np.ones((1, 1, 2, 1)), ((0, 1), (1, 0)))[0, :, :, 0]
    array([[0., 1., 1.],
           [0., 0., 0.]])
    """
    x = np.asarray(x, dtype=np.float64)
    (top, bottom), (left, right) = (_two(p) for p in _two(padding))
    n, h, w, c = x.shape
    out = np.zeros((n, top + h + bottom, left + w + right, c))
    for b, y, xx, ch in np.ndindex(x.shape):
        out[b, top + y, left + xx, ch] = x[b, y, xx, ch]
    return out


def zero_padding_backward(x_shape, grad, padding):
    """``dL/dx`` of :func:`zero_padding`: the gradient of each input pixel is the
    gradient at the place the forward pass copied it to."""
    g = np.asarray(grad, dtype=np.float64)
    (top, bottom), (left, right) = (_two(p) for p in _two(padding))
    out = np.zeros(x_shape)
    for b, y, xx, ch in np.ndindex(*x_shape):
        out[b, y, xx, ch] = g[b, top + y, left + xx, ch]
    return out


def upsampling(x, size=2):
    """Nearest-neighbour upsampling: each pixel of `x` ``(N, H, W, C)`` becomes an
    ``sh x sw`` block, ``size`` an int or a pair ``(sh, sw)``.

    >>> upsampling(np.array([1.0, 2.0]).reshape(1, 1, 2, 1), (2, 1))[0, :, :, 0]
    array([[1., 2.],
           [1., 2.]])
    """
    x = np.asarray(x, dtype=np.float64)
    sh, sw = _two(size)
    n, h, w, c = x.shape
    out = np.zeros((n, h * sh, w * sw, c))
    for b, y, xx, ch in np.ndindex(out.shape):
        out[b, y, xx, ch] = x[b, y // sh, xx // sw, ch]
    return out


def upsampling_backward(grad, size=2):
    """``dL/dx`` of :func:`upsampling`: each input pixel's gradient is the sum of
    the gradients of its ``sh x sw`` block."""
    g = np.asarray(grad, dtype=np.float64)
    sh, sw = _two(size)
    n, ho, wo, c = g.shape
    out = np.zeros((n, ho // sh, wo // sw, c))
    for b, y, xx, ch in np.ndindex(g.shape):
        out[b, y // sh, xx // sw, ch] += g[b, y, xx, ch]
    return out


def _scatter_shape(x_shape, w_shape, stride, dilation, output_padding):
    """Rows and columns every input pixel's kernel reaches, plus `output_padding`."""
    _, h, w, _ = x_shape
    _, kh, kw, _ = w_shape
    (sh, sw), (dh, dw), (oph, opw) = stride, dilation, output_padding
    return ((h - 1) * sh + (kh - 1) * dh + 1 + oph, (w - 1) * sw + (kw - 1) * dw + 1 + opw)


def conv_transpose(x, w, stride=1, padding=0, output_padding=0, bias=None, dilation=1):
    """Transposed convolution as a scatter: each input pixel adds its kernel,
    weighted by its values, into the output.

    ``full[n, y*sh + i*dh, x*sw + j*dw, f] += x[n, y, x, c] * w[c, i, j, f]``, then
    `padding` rows and columns are cut from each side of ``full``, which has
    `output_padding` more rows (columns) at the end than the kernels reach.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C)
    w : array_like, shape (C, kh, kw, F)
        The filters of the ``Conv2D(C, ...)`` whose input gradient this is.
    stride, padding, output_padding, dilation : int or (int, int)
    bias : array_like, shape (F,), optional

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, F), float64
        ``Ho = (H - 1) * sh - 2 * ph + (kh - 1) * dh + oph + 1``, likewise ``Wo``.

    >>> conv_transpose(np.ones((1, 2, 2, 1)), np.ones((1, 2, 2, 1)))[0, :, :, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    (sh, sw), (ph, pw), (dh, dw) = _two(stride), _two(padding), _two(dilation)
    fh, fw = _scatter_shape(x.shape, w.shape, (sh, sw), (dh, dw), _two(output_padding))
    full = np.zeros((x.shape[0], fh, fw, w.shape[3]))
    for b, y, xx, c in np.ndindex(x.shape):
        for i in range(w.shape[1]):
            for j in range(w.shape[2]):
                full[b, y * sh + i * dh, xx * sw + j * dw, :] += x[b, y, xx, c] * w[c, i, j]
    out = full[:, ph:fh - ph, pw:fw - pw]
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)
    return out


def conv_transpose_backward(x, w, grad_out, stride=1, padding=0, output_padding=0,
                            dilation=1):
    """Gradients of :func:`conv_transpose` given ``grad_out = dL/dout``.

    Each place the forward pass added ``x[n, y, x, c] * w[c, i, j, f]`` to sends
    its gradient back to both factors; the rows and columns cut by `padding`
    have no gradient.

    Returns
    -------
    grad_x : ndarray, shape (N, H, W, C)
    grad_w : ndarray, shape (C, kh, kw, F)
    grad_b : ndarray, shape (F,)
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    (sh, sw), (ph, pw), (dh, dw) = _two(stride), _two(padding), _two(dilation)
    fh, fw = _scatter_shape(x.shape, w.shape, (sh, sw), (dh, dw), _two(output_padding))
    gfull = np.zeros((x.shape[0], fh, fw, w.shape[3]))
    gfull[:, ph:fh - ph, pw:fw - pw] = g
    grad_x = np.zeros(x.shape)
    grad_w = np.zeros(w.shape)
    for b, y, xx, c in np.ndindex(x.shape):
        for i in range(w.shape[1]):
            for j in range(w.shape[2]):
                tap = gfull[b, y * sh + i * dh, xx * sw + j * dw, :]
                grad_x[b, y, xx, c] += np.dot(tap, w[c, i, j])
                grad_w[c, i, j] += x[b, y, xx, c] * tap
    return grad_x, grad_w, g.sum(axis=(0, 1, 2))
