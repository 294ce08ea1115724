"""References for the tests: the naive loops of :mod:`pyx_cnn.reference`, a vectorised
pooling, average-pooling and batch-norm loops, and memory layouts."""
import numpy as np

from pyx_cnn import reference


# the package's documented references (plain loops)
conv_naive = reference.conv
maxpool_naive = reference.pooling


def maxpool_sliding(x, size, stride):
    """Vectorised reference with numpy's sliding_window_view."""
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
    return win[:, ::stride, ::stride].max(axis=(-2, -1))


def avgpool_naive(x, size, stride):
    """Average pooling of (N, H, W, C), one window at a time: the window's values added
    to 0 row by row (vectorised over samples and channels only), then divided by
    size*size, in x's dtype."""
    n, h, w, c = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.empty((n, ho, wo, c), dtype=x.dtype)
    area = x.dtype.type(size * size)
    for oy in range(ho):
        for ox in range(wo):
            acc = np.zeros((n, c), dtype=x.dtype)
            for i in range(size):
                for j in range(size):
                    acc += x[:, oy * stride + i, ox * stride + j]
            out[:, oy, ox] = acc / area
    return out


def avgpool_backward_naive(grad, x_shape, size, stride):
    """dL/dx of average pooling, one input pixel at a time: the gradients of the windows
    holding it (window rows, then columns, ascending) added to 0, divided by size*size;
    0 where no window holds the pixel."""
    n, h, w, c = x_shape
    _, ho, wo, _ = grad.shape
    gx = np.zeros(x_shape, dtype=grad.dtype)
    area = grad.dtype.type(size * size)
    for iy in range(h):
        oys = [oy for oy in range(ho) if oy * stride <= iy < oy * stride + size]
        for ix in range(w):
            oxs = [ox for ox in range(wo) if ox * stride <= ix < ox * stride + size]
            if oys and oxs:
                acc = np.zeros((n, c), dtype=grad.dtype)
                for oy in oys:
                    for ox in oxs:
                        acc += grad[:, oy, ox]
                gx[:, iy, ix] = acc / area
    return gx


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
