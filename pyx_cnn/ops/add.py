"""Elementwise sum of several arrays of one shape (a residual connection), forward
and backward.

Arrays are C-contiguous, of one float dtype and one shape; the callers
(:class:`pyx_cnn.layers.Add`) validate them. The gradient of a sum is the
incoming gradient, unchanged, for every input. The sums and copies run on the
library's threads (:mod:`pyx_cnn._add`), with numpy's values.
"""
import numpy as np

from .. import _add
from .._threads import get_num_threads

__all__ = ["forward", "backward", "total"]


def _flat(a):
    """`a` as the kernels' flat array, or None where they do not take it."""
    return a.reshape(-1) if a.dtype.char in "fd" and a.flags.c_contiguous else None


def total(a, b, out=None):
    """``a + b`` (same shape and dtype) into `out` (a new array when None; it may be
    `a` or `b`), on the library's threads: numpy's values."""
    if out is None:
        out = np.empty_like(a, order="C")
    flat_a, flat_b, flat_out = _flat(a), _flat(b), _flat(out)
    if (flat_a is None or flat_b is None or flat_out is None or a.dtype != b.dtype
            or a.dtype != out.dtype or a.shape != b.shape or a.shape != out.shape):
        return np.add(a, b, out=out)
    _add._sum(flat_a, flat_b, flat_out, get_num_threads())
    return out


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
    out = total(xs[0], xs[1])
    for x in xs[2:]:
        total(out, x, out=out)
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
    return [grad_out] + [_copy(grad_out) for _ in range(count - 1)]


def _copy(a):
    """A copy of `a` (C-contiguous), on the library's threads."""
    out = np.empty_like(a, order="C")
    flat_a = _flat(a)
    if flat_a is None:
        out[...] = a
    else:
        _add._copy(flat_a, out.reshape(-1), get_num_threads())
    return out
