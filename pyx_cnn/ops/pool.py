"""Max pooling: ``size x size`` windows every `stride` pixels, per channel, on
channels-last batches ``(N, H, W, C)``.

Two forward kernels for two needs: :func:`max_pool` (inference: a SIMD
maximum, nothing recorded) and :func:`max_pool_forward` (training: records
where each maximum was, as an int32 offset inside its sample, for
:func:`max_pool_backward`). Both give the same values; a window holding NaN
gives NaN.
"""
import numpy as np

from .. import _max_pool
from .._threads import get_num_threads

__all__ = ["pool_output_size", "max_pool", "max_pool_forward", "max_pool_backward"]


def pool_output_size(size_in, window, stride):
    """Windows along one axis, floor mode: ``(size_in - window) // stride + 1``."""
    return (size_in - window) // stride + 1


def _out_shape(x, size, stride):
    n, h, w, c = x.shape
    return (n, pool_output_size(h, size, stride), pool_output_size(w, size, stride), c)


def max_pool(x, size, stride):
    """The maximum of each window (inference: no record for a backward pass)."""
    out = np.empty(_out_shape(x, size, stride), dtype=x.dtype)
    _max_pool._maxpool2d_forward(x, out, size, stride, get_num_threads())
    return out


def max_pool_forward(x, size, stride, relu=False):
    """The maximum of each window, and what :func:`max_pool_backward` needs.

    With `relu`, the maximum of the window and 0: ``relu`` then pooling in one
    pass (the ReLU output never exists).

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, C)
    saved : tuple
        ``(argmax, out, input_shape, relu)``; ``argmax`` holds, for each
        output, the offset ``(iy*W + ix)*C + c`` of the first maximum of its
        window inside the sample.
    """
    out = np.empty(_out_shape(x, size, stride), dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=np.int32)
    _max_pool._maxpool2d_forward_argmax(x, out, argmax, size, stride, relu, get_num_threads())
    return out, (argmax, out, x.shape, relu)


def max_pool_backward(grad, saved):
    """``dL/dx``: each output's gradient added at its window's maximum (and, after
    a folded ReLU, only where the output is positive)."""
    argmax, out, input_shape, relu = saved
    grad_x = np.empty(input_shape, dtype=grad.dtype)
    _max_pool._maxpool2d_backward(grad, argmax, out, grad_x, relu, get_num_threads())
    return grad_x
