"""Elementwise sum of several arrays of one shape (a residual connection), forward
and backward.

Arrays are C-contiguous, of one float dtype and one shape; the callers
(:class:`pyx_cnn.layers.Add`) validate them. The gradient of a sum is the
incoming gradient, unchanged, for every input.
"""
import numpy as np

__all__ = ["forward", "backward"]


def forward(xs):
    """``xs[0] + xs[1] + ...``, and what :func:`backward` needs.

    Parameters
    ----------
    xs : list of ndarray, each of shape (N, ...)
        At least two arrays of the same shape and dtype.

    Returns
    -------
    out : ndarray, the shape of each input
        A new array.
    saved : tuple
        ``(number of inputs,)``.

    See Also
    --------
    pyx_cnn.reference.add : The same as a plain loop.
    """
    out = np.add(xs[0], xs[1])
    for x in xs[2:]:
        np.add(out, x, out=out)
    return out, (len(xs),)


def backward(grad_out, saved):
    """``dL/dx_i = grad_out`` for every input.

    Returns
    -------
    grads : list of ndarray
        One per input: `grad_out` itself for the first, a copy for each other
        (so that a caller may write into any of them).

    See Also
    --------
    pyx_cnn.reference.add_backward : The same as a plain loop.
    """
    (count,) = saved
    return [grad_out] + [grad_out.copy() for _ in range(count - 1)]
