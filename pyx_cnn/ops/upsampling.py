"""Nearest-neighbour upsampling by integer factors, forward and backward.

    out[n, y*sh + a, x*sw + b, c] = x[n, y, x, c]        (0 <= a < sh, 0 <= b < sw)

``(N, H, W, C) -> (N, H*sh, W*sw, C)``: each pixel becomes an ``sh x sw`` block,
as PyTorch's ``interpolate(mode="nearest", scale_factor=(sh, sw))`` (and Keras's
``UpSampling2D``). The backward pass sums each block's gradients. Arrays are
C-contiguous, of one float dtype; the callers validate them and the factors
(:func:`pyx_cnn._geometry.pair`). The kernels are :mod:`pyx_cnn._upsampling`'s.
"""
import numpy as np

from .. import _upsampling
from .._threads import get_num_threads

__all__ = ["forward", "backward"]


def forward(x, size=(2, 2)):
    """`x` upsampled by ``size = (sh, sw)``, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    size : (int, int)
        The factors along H and W, each >= 1.

    Returns
    -------
    out : ndarray, shape (N, H*sh, W*sw, C)
    saved : tuple
        ``(size,)``.

    See Also
    --------
    pyx_cnn.reference.upsampling : The same copies, by loops.
    """
    sh, sw = size
    n, h, w, c = x.shape
    out = np.empty((n, h * sh, w * sw, c), dtype=x.dtype)
    _upsampling._upsample_nearest(x, out, sh, sw, get_num_threads())
    return out, (size,)


def backward(grad_out, saved):
    """``dL/dx``: the sum of each ``sh x sw`` block of `grad_out`.

    Parameters
    ----------
    grad_out : ndarray, shape (N, H*sh, W*sw, C)
    saved : tuple
        What :func:`forward` returned.

    Returns
    -------
    grad_x : ndarray, shape (N, H, W, C)

    See Also
    --------
    pyx_cnn.reference.upsampling_backward : The same sums, by loops.
    """
    (sh, sw), = saved
    n, ho, wo, c = grad_out.shape
    grad_x = np.empty((n, ho // sh, wo // sw, c), dtype=grad_out.dtype)
    _upsampling._upsample_nearest_backward(grad_out, grad_x, sh, sw, get_num_threads())
    return grad_x
