"""Fully connected (dense) layer: ``out = x @ weights + bias``, forward and backward.

The three matrix products (the output, the weights' gradient ``x.T @ grad_out``
and the input's gradient ``grad_out @ weights.T``) are BLAS products split
over the library's threads by :func:`matmul` (:mod:`pyx_cnn._matmul`): numpy's
``@`` would run them on one thread, as the library holds numpy's BLAS while it
works (:mod:`pyx_cnn._thread_policy`).
"""
import numpy as np

from .. import _matmul
from .._threads import get_num_threads

__all__ = ["matmul", "forward", "backward"]

def matmul(a, b, *, transpose_a=False, transpose_b=False, out=None, bias=None):
    """``op(a) @ op(b)``, `op` transposing where asked, on the library's threads.

    Parameters
    ----------
    a : ndarray, shape (m, k), or (k, m) with `transpose_a`
    b : ndarray, shape (k, n), or (n, k) with `transpose_b`
        C-contiguous, float32 or float64, `a`'s dtype.
    out : ndarray, shape (m, n), optional
        C-contiguous, of the same dtype: written (a new array when None).
    bias : ndarray, shape (n,), optional
        C-contiguous, of the same dtype: added to every row of the product (the
        BLAS adds the product to the bias, in the same pass).

    Returns
    -------
    out : ndarray, shape (m, n)
        The values of numpy's ``a @ b`` (``a.T``, ``b.T`` where transposed) to
        rounding; the same for every thread count. (Small products too: on one
        thread the kernel's call cost less than numpy's on 16 small products, from
        1 x 72 @ 72 x 10 (0.76 us against 1.05) to 2 x 1000 @ 1000 x 60 in float64
        (8.2 us against 8.4), one AMD EPYC core.)
    """
    m = a.shape[1] if transpose_a else a.shape[0]
    n = b.shape[0] if transpose_b else b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
    _matmul._matmul(a, b, out, transpose_a, transpose_b, get_num_threads(), bias)
    return out


def forward(x, weights, bias=None):
    """The layer's output, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, in_features), C-contiguous, float32 or float64
    weights : ndarray, shape (in_features, units), same dtype
    bias : ndarray, shape (units,), same dtype, or None (no bias)

    Returns
    -------
    out : ndarray, shape (N, units)
    saved : tuple
        ``(x, weights, has_bias)``.

    See Also
    --------
    pyx_cnn.reference.dense : The same sums as plain loops.
    """
    return matmul(x, weights, bias=bias), (x, weights, bias is not None)


def backward(grad_out, saved, input_grad=True, grad_weights=None, grad_bias=None):
    """Gradients of :func:`forward` from ``grad_out = dL/dout`` (C-contiguous).

    Parameters
    ----------
    grad_out : ndarray, shape (N, units)
    saved : tuple
        What :func:`forward` returned.
    input_grad : bool, optional
        False skips ``grad_x`` (a network's first layer needs none).
    grad_weights : ndarray, shape (in_features, units), optional
    grad_bias : ndarray, shape (units,), optional
        Written in place where given (a layer's ``grads`` entries).

    Returns
    -------
    grad_x : ndarray, shape (N, in_features), or None when not `input_grad`
        ``grad_out @ weights.T``.
    grad_weights : ndarray, shape (in_features, units)
        ``x.T @ grad_out``.
    grad_bias : ndarray, shape (units,), or None when the forward pass had no bias
        The sum of `grad_out` over the batch.

    See Also
    --------
    pyx_cnn.reference.dense_backward : The same sums as plain loops.
    """
    x, weights, has_bias = saved
    if grad_weights is None:
        grad_weights = np.empty(weights.shape, dtype=grad_out.dtype)
    if not has_bias:
        grad_bias = None
    elif grad_bias is None:
        grad_bias = np.empty(weights.shape[1], dtype=grad_out.dtype)
    grad_x = np.empty(x.shape, dtype=grad_out.dtype) if input_grad else None
    # the two products (split as matmul's) and the bias's column sums, in one call
    _matmul._dense_backward(x, weights, grad_out, grad_weights, grad_bias, grad_x,
                            get_num_threads())
    return grad_x, grad_weights, grad_bias
