"""Global average and global max pooling, ``(N, H, W, C) -> (N, C)``, forward and backward.

Arrays are C-contiguous, of one float dtype; the callers validate them
(``H, W >= 1``).

Global average pooling sums in double precision, then divides by ``H*W``.
Global max pooling returns, with the maximum, ``argmax`` ``(N, C)`` int64: the
pixel ``iy*W + ix`` each maximum came from (the first maximum in row-major
order; a NaN is the maximum, the first NaN winning), where the backward pass
sends the whole gradient.
"""
import numpy as np

from .. import _avg_pool
from .._threads import get_num_threads

__all__ = ["avg_forward", "avg_backward", "max_forward", "max_backward"]


def avg_forward(x):
    """Mean over ``(H, W)`` per sample and channel: ``(N, H, W, C) -> (N, C)``."""
    n, _, _, c = x.shape
    out = np.empty((n, c), dtype=x.dtype)
    acc = np.empty((n, c), dtype=np.float64)
    _avg_pool._global_avgpool_forward(x, out, acc, get_num_threads())
    return out


def avg_backward(grad, x_shape):
    """dL/dx ``(N, H, W, C)``: ``grad[n, c] / (H*W)`` at every pixel."""
    grad_x = np.empty(tuple(x_shape), dtype=grad.dtype)
    _avg_pool._global_avgpool_backward(grad, grad_x, get_num_threads())
    return grad_x


def max_forward(x):
    """Maximum over ``(H, W)``: ``(N, H, W, C) -> (out (N, C), argmax (N, C) int64)``."""
    n, _, _, c = x.shape
    out = np.empty((n, c), dtype=x.dtype)
    argmax = np.empty((n, c), dtype=np.int64)
    _avg_pool._global_maxpool_forward(x, out, argmax, get_num_threads())
    return out, argmax


def max_backward(grad, argmax, x_shape):
    """dL/dx ``(N, H, W, C)``: ``grad[n, c]`` at pixel ``argmax[n, c]``, 0 elsewhere."""
    grad_x = np.empty(tuple(x_shape), dtype=grad.dtype)
    _avg_pool._global_maxpool_backward(grad, argmax, grad_x, get_num_threads())
    return grad_x
