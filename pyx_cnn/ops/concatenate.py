"""Concatenation of several arrays along one axis (the channels of a U-Net or of
an inception block), forward and backward.

Arrays are C-contiguous, of one float dtype, equal in every axis but the one
joined; the callers (:class:`pyx_cnn.layers.Concatenate`) validate them. The
backward pass cuts the gradient into the inputs' parts.
"""
import numpy as np

__all__ = ["forward", "backward"]


def forward(xs, axis):
    """The arrays of `xs` joined along `axis`, and what :func:`backward` needs.

    Parameters
    ----------
    xs : list of ndarray
        At least two arrays, equal in shape except along `axis`.
    axis : int
        A non-negative axis index (1 or more: the batch axis is never joined).

    Returns
    -------
    out : ndarray
        Of size ``sum(x.shape[axis])`` along `axis`.
    saved : tuple
        ``(axis, sizes)``: the axis and each input's size along it.

    See Also
    --------
    pyx_cnn.reference.concatenate : The same as a plain loop.
    """
    return np.concatenate(xs, axis=axis), (axis, tuple(x.shape[axis] for x in xs))


def backward(grad_out, saved):
    """``dL/dx_i``: the part of `grad_out` at input i's place along the axis.

    Returns
    -------
    grads : list of ndarray
        One C-contiguous array per input, of that input's shape.

    See Also
    --------
    pyx_cnn.reference.concatenate_backward : The same as a plain loop.
    """
    axis, sizes = saved
    cuts = np.cumsum(sizes)[:-1]
    return [np.ascontiguousarray(part) for part in np.split(grad_out, cuts, axis=axis)]
