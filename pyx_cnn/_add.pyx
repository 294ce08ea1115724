"""The sum of two arrays and a copy, split over the kernels' threads: a residual
connection's forward pass (:mod:`pyx_cnn.ops.add`), its backward pass's copies of
the gradient, and the sum of the gradients that reach a tensor read by several
layers (:mod:`pyx_cnn._graph`).

numpy's ``a + b`` and ``a.copy()`` run on one thread; on a batch of feature maps
they are a pass over memory that two cores take in about half the time. Each value
is the same single IEEE addition (or copy) whatever the split, so the values are
numpy's. Flat C-contiguous arrays of one float dtype; ``out`` may be ``a`` or ``b``.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

from pyx_cnn._threads cimport FAMILY_MAP, threads_for


def _sum(const floating[::1] a, const floating[::1] b, floating[::1] out, int n_threads):
    """``out = a + b``."""
    cdef Py_ssize_t size = out.shape[0]
    cdef Py_ssize_t i
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        if nt == 1:     # no parallel region for one thread (_threads.pxd)
            for i in range(size):
                out[i] = a[i] + b[i]
        else:
            for i in prange(size, num_threads=nt, schedule="static"):
                out[i] = a[i] + b[i]


def _copy(const floating[::1] a, floating[::1] out, int n_threads):
    """``out = a`` (a run of the values per thread)."""
    cdef Py_ssize_t size = out.shape[0]
    cdef Py_ssize_t p
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    if size == 0:
        return
    with nogil:
        if nt == 1:     # no parallel region for one thread (_threads.pxd)
            memcpy(&out[0], &a[0], size * sizeof(floating))
        else:
            for p in prange(nt, num_threads=nt, schedule="static"):
                memcpy(&out[0] + size * p // nt, &a[0] + size * p // nt,
                       (size * (p + 1) // nt - size * p // nt) * sizeof(floating))
