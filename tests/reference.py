"""References for the tests: the naive loops of :mod:`pyx_cnn.reference`, a vectorised
pooling and memory layouts."""
import numpy as np

from pyx_cnn import reference


# the package's documented references (plain loops)
conv_naive = reference.conv
maxpool_naive = reference.pooling


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
