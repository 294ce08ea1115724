"""Max pooling: ``size x size`` windows every `stride` pixels, per channel, on
channels-last batches ``(N, H, W, C)``, forward and backward.

As PyTorch's ``max_pool2d``: the input may be padded (`padding`, any form
:func:`pyx_cnn._geometry.resolve_padding` reads, at most ``size // 2`` per
side), and the padding never wins a maximum (a window's maximum is that of its
values inside the input). ``Hout = (H + top + bottom - size) // stride + 1``
(likewise ``Wout``); with ``ceil_mode`` the division rounds up, but a last
window that would start in the bottom (right) padding is dropped
(:func:`pyx_cnn._geometry.pool_output_size`). Arrays are C-contiguous, of one
float dtype; the callers validate them (every window holds an input value).

Two forward kernels for two needs: :func:`forward` records where each maximum
was (an int32 offset inside its sample) for :func:`backward`, and
:func:`forward_infer` takes the maximum only (SIMD, nothing recorded). Both
give the same values; a window holding NaN gives NaN.
"""
import numpy as np

from .. import _max_pool
from .._geometry import pool_output_size, resolve_padding
from .._threads import get_num_threads
from .activations import relu_forward

__all__ = ["output_shape", "forward", "forward_infer", "backward"]


_NO_PADDING = ((0, 0), (0, 0))


def _pads(x_shape, size, stride, padding):
    """`padding` resolved, ``((top, bottom), (left, right))`` (quickly for none)."""
    if isinstance(padding, int) and padding == 0:
        return _NO_PADDING
    if (type(padding) is tuple and len(padding) == 2 and type(padding[0]) is tuple
            and type(padding[1]) is tuple):
        return padding     # resolved already (the layers'); the kernels check it
    return resolve_padding(padding, x_shape[1:3], (size, size), (stride, stride))


def output_shape(x_shape, size, stride, padding=0, ceil_mode=False):
    """``(N, Hout, Wout, C)`` of pooling an ``(N, H, W, C)`` input."""
    return _output_shape(x_shape, size, stride, _pads(x_shape, size, stride, padding),
                         ceil_mode)


def _output_shape(x_shape, size, stride, pads, ceil_mode):
    n, h, w, c = x_shape
    return (n, pool_output_size(h, size, stride, pads[0], ceil_mode),
            pool_output_size(w, size, stride, pads[1], ceil_mode), c)


def forward(x, size=2, stride=2, padding=0, ceil_mode=False, relu=False):
    """The maximum of each window, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    size, stride : int
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int)), optional
        Rows and columns around the input that no maximum takes.
    ceil_mode : bool, optional
        Round the number of windows up (PyTorch's ``ceil_mode``).
    relu : bool, optional
        Take the maximum of the window and 0: ReLU then pooling in one pass
        (the ReLU output never exists; :mod:`pyx_cnn.fusion`'s rule
        ``relu_into_max_pool``).

    Returns
    -------
    out : ndarray, shape (N, Hout, Wout, C)
    saved : tuple
        ``(argmax, out, input_shape, relu)``: ``argmax`` (int32, `out`'s
        shape) holds the offset ``(iy*W + ix)*C + c`` of the first maximum of
        each window inside its sample; with `relu` the backward pass reads the
        sign of `out`.

    See Also
    --------
    pyx_cnn.reference.pooling : The maximum of each window, by loops.
    """
    pads = _pads(x.shape, size, stride, padding)
    out = np.empty(_output_shape(x.shape, size, stride, pads, ceil_mode), dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=np.int32)
    _max_pool._maxpool2d_forward_argmax(x, out, argmax, size, stride, relu, get_num_threads(),
                                        pads)
    return out, (argmax, out, x.shape, relu)


def forward_infer(x, size=2, stride=2, padding=0, ceil_mode=False, relu=False):
    """The maximum of each window, ``(N, Hout, Wout, C)``, recording nothing (inference).

    Arguments as :func:`forward`; with `relu`, ``max(m, 0)`` is taken on the pooled
    maxima ``m`` (the same values as ReLU then pooling: NaN stays NaN, ``-0.0``
    becomes ``0.0``).

    See Also
    --------
    pyx_cnn.reference.pooling : The maximum of each window, by loops.
    """
    pads = _pads(x.shape, size, stride, padding)
    out = np.empty(_output_shape(x.shape, size, stride, pads, ceil_mode), dtype=x.dtype)
    _max_pool._maxpool2d_forward(x, out, size, stride, get_num_threads(), pads)
    if relu:
        relu_forward(out, out=out)
    return out


def backward(grad_out, saved):
    """``dL/dx`` ``(N, H, W, C)``: each output's gradient added at its window's first
    maximum (and, after a folded ReLU, only where the output is positive);
    overlapping windows add up; the padding gets nothing.

    See Also
    --------
    pyx_cnn.reference.pooling_backward : The same sums, by loops.
    """
    argmax, out, input_shape, relu = saved
    grad_x = np.empty(input_shape, dtype=grad_out.dtype)
    _max_pool._maxpool2d_backward(grad_out, argmax, out, grad_x, relu, get_num_threads())
    return grad_x
