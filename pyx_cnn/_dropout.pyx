"""Inverted dropout kernel: the forward and the backward pass are one map.

Private: :mod:`pyx_cnn.ops.dropout` is the caller (it draws the mask).

``out[i] = x[i] * (mask[i] ? scale : 0)``, a multiplication also where the value
is dropped, as PyTorch's ``x * mask / (1 - p)``: a NaN or an infinity dropped
still gives NaN. The backward pass applies the same map to the gradient.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint8_t

from pyx_cnn._threads cimport FAMILY_MAP, threads_for


def _apply_mask(
    const floating[::1] x, const uint8_t[::1] mask, double scale, floating[::1] out,
    int n_threads
):
    """out = x * scale where mask is nonzero, else x * 0."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i
    cdef floating s = <floating>scale
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)   # a multiply per value
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            out[i] = x[i] * (s if mask[i] else <floating>0)
