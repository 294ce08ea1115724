"""Global max pooling: the maximum over ``(H, W)`` per sample and channel,
``(N, H, W, C) -> (N, C)``, forward and backward.

Arrays are C-contiguous, of one float dtype; the callers validate them
(``H, W >= 1``). The forward pass records, for each maximum, the pixel
``iy*W + ix`` it came from (the first maximum in row-major order; a NaN is the
maximum, the first NaN winning): the backward pass sends the whole gradient
there.
"""
import numpy as np

from .. import _avg_pool
from .._threads import get_num_threads

__all__ = ["forward", "backward"]


def forward(x):
    """Maximum over ``(H, W)``: ``(N, H, W, C) -> (N, C)``, and what :func:`backward` needs.

    Returns
    -------
    out : ndarray, shape (N, C)
    saved : tuple
        ``(argmax, input_shape)``: ``argmax`` ``(N, C)`` int64 holds the pixel
        ``iy*W + ix`` of each maximum.

    See Also
    --------
    pyx_cnn.reference.global_max_pooling : The same maxima, by loops.
    """
    n, _, _, c = x.shape
    out = np.empty((n, c), dtype=x.dtype)
    argmax = np.empty((n, c), dtype=np.int64)
    _avg_pool._global_maxpool_forward(x, out, argmax, get_num_threads())
    return out, (argmax, x.shape)


def backward(grad_out, saved):
    """``dL/dx`` ``(N, H, W, C)``: ``grad_out[n, c]`` at the pixel of the maximum, 0 elsewhere.

    See Also
    --------
    pyx_cnn.reference.global_max_pooling_backward : The same, by loops.
    """
    argmax, input_shape = saved
    grad_x = np.empty(input_shape, dtype=grad_out.dtype)
    _avg_pool._global_maxpool_backward(grad_out, argmax, grad_x, get_num_threads())
    return grad_x
