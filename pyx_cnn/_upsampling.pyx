"""Nearest-neighbour upsampling by integer factors, forward and backward.

Private: :mod:`pyx_cnn.ops.upsampling` is the only caller; its callers validate.
Arrays are C-contiguous ``(N, H, W, C)`` of one float dtype; the output is
``(N, H*sh, W*sw, C)``:

    out[n, y*sh + a, x*sw + b, c] = x[n, y, x, c]         (0 <= a < sh, 0 <= b < sw)
    grad_x[n, y, x, c] = sum over a, b of grad_out[n, y*sh + a, x*sw + b, c]

Each input row ``(n, y)`` is one unit of work: forward writes its first output
row, then copies it to the other ``sh - 1``; backward sums its ``sh`` output rows
in a fixed order (rows, then columns), so the bits do not depend on the
thread count.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

from pyx_cnn._threads cimport FAMILY_MAP, threads_for


def _upsample_nearest(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                      int sh, int sw, int n_threads):
    """out (N, H*sh, W*sw, C) = each pixel of x repeated sh x sw times."""
    cdef Py_ssize_t n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3]
    cdef Py_ssize_t row = w * sw * c          # values in one output row
    cdef Py_ssize_t rows = n * h
    cdef Py_ssize_t r, j, k, ch, a
    cdef const floating* src
    cdef floating* dst
    cdef int nt = threads_for(rows * row * sh, rows, n_threads, FAMILY_MAP)
    if rows == 0 or row == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            src = &x[r // h, r % h, 0, 0]
            dst = &out[r // h, (r % h) * sh, 0, 0]
            for j in range(w):
                for k in range(sw):
                    for ch in range(c):
                        dst[(j * sw + k) * c + ch] = src[j * c + ch]
            for a in range(1, sh):
                memcpy(dst + a * row, dst, row * sizeof(floating))


def _upsample_nearest_backward(const floating[:, :, :, ::1] grad_out,
                               floating[:, :, :, ::1] grad_x, int sh, int sw, int n_threads):
    """grad_x (N, H, W, C) = the sum of each sh x sw block of grad_out."""
    cdef Py_ssize_t n = grad_x.shape[0], h = grad_x.shape[1]
    cdef Py_ssize_t w = grad_x.shape[2], c = grad_x.shape[3]
    cdef Py_ssize_t row = w * sw * c          # values in one row of grad_out
    cdef Py_ssize_t rows = n * h
    cdef Py_ssize_t r, j, k, ch, a
    cdef const floating* src
    cdef floating* dst
    cdef int nt = threads_for(rows * row * sh, rows, n_threads, FAMILY_MAP)
    if rows == 0 or w * c == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            src = &grad_out[r // h, (r % h) * sh, 0, 0]
            dst = &grad_x[r // h, r % h, 0, 0]
            for j in range(w * c):
                dst[j] = 0
            for a in range(sh):
                for j in range(w):
                    for k in range(sw):
                        for ch in range(c):
                            dst[j * c + ch] += src[a * row + (j * sw + k) * c + ch]
