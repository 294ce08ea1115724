"""Zero padding of the spatial axes, forward and backward.

``(N, H, W, C) -> (N, top + H + bottom, left + W + right, C)``: the input at
``(top, left)``, zeros around, as PyTorch's ``F.pad`` with zeros (and Keras's
``ZeroPadding2D``). The backward pass crops the gradient back to the input's
rows and columns. ``pads = ((top, bottom), (left, right))`` is the resolved form
of :mod:`pyx_cnn._geometry`. Arrays are C-contiguous, of one float dtype; the
callers validate them. The copy is the convolution's padding kernel
(:func:`pyx_cnn.ops.conv.pad`).
"""
import numpy as np

from . import conv

__all__ = ["forward", "backward"]


def forward(x, pads):
    """`x` with zeros around, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    pads : ((int, int), (int, int))
        ``((top, bottom), (left, right))``, each >= 0.

    Returns
    -------
    out : ndarray, shape (N, top + H + bottom, left + W + right, C)
        `x` itself when every pad is 0.
    saved : tuple
        ``(pads,)``.

    See Also
    --------
    pyx_cnn.reference.zero_padding : The same, by loops.
    """
    return conv.pad(x, pads, x.dtype), (pads,)


def backward(grad_out, saved):
    """``dL/dx``: `grad_out` without the padded rows and columns (a new array,
    or `grad_out` itself when every pad is 0).

    Parameters
    ----------
    grad_out : ndarray, shape (N, top + H + bottom, left + W + right, C)
    saved : tuple
        What :func:`forward` returned.

    Returns
    -------
    grad_x : ndarray, shape (N, H, W, C)

    See Also
    --------
    pyx_cnn.reference.zero_padding_backward : The same, by loops.
    """
    ((top, bottom), (left, right)), = saved
    if top == bottom == left == right == 0:
        return grad_out
    _, h, w, _ = grad_out.shape
    return np.ascontiguousarray(grad_out[:, top:h - bottom, left:w - right])
