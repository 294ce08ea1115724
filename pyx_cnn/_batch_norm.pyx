"""Batch normalisation kernels: per-channel sums and the per-channel affine maps.

Private: :mod:`pyx_cnn.ops.batch_norm` is the caller; its callers validate.
The input is seen as ``(M, C)`` rows: channels-last ``(N, H, W, C)`` gives
``M = N*H*W`` (and ``(N, F)`` gives ``M = N``), C-contiguous, one float dtype.

Reductions over the rows are threaded with partial sums: the rows are cut into
``B`` blocks (``B`` = the workspace's rows, chosen by the caller from the shape
alone), block ``b`` being rows ``[M*b//B, M*(b+1)//B)``; each block is summed in
double precision into its row of the workspace, the threads taking contiguous
runs of blocks, and the block sums are then added in block order. The result is
therefore the same, bit for bit, whatever the thread count.
"""
from cython cimport floating
from cython.parallel cimport prange

from pyx_cnn._parallel cimport threads_for


def _channel_sums(
    const floating[:, ::1] x,
    const double[::1] center,
    bint squared,
    double[:, ::1] partial,
    double[::1] total,
    int n_threads,
):
    """total[c] = sum over rows of x[r, c], or with `squared` of (x[r, c] - center[c])**2.

    `partial` is the workspace: one row of C doubles per block, 1 <= blocks <= rows
    (`center` is read only with `squared`).
    """
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t channels = x.shape[1]
    cdef Py_ssize_t t, r, c
    cdef double* p
    cdef const floating* xr
    cdef double d
    cdef Py_ssize_t blocks = partial.shape[0]
    cdef int nt = threads_for(rows * channels, rows, <int>min(<Py_ssize_t>n_threads, blocks))
    for c in range(channels):
        total[c] = 0
    if rows == 0 or channels == 0:
        return
    with nogil:
        for t in prange(blocks, num_threads=nt, schedule="static"):
            p = &partial[t, 0]
            for c in range(channels):
                p[c] = 0
            for r in range(rows * t // blocks, rows * (t + 1) // blocks):
                xr = &x[r, 0]
                if squared:
                    for c in range(channels):
                        d = xr[c] - center[c]
                        p[c] += d * d
                else:
                    for c in range(channels):
                        p[c] += xr[c]
        for t in range(blocks):
            for c in range(channels):
                total[c] += partial[t, c]


def _backward_sums(
    const floating[:, ::1] x,
    const floating[:, ::1] grad,
    const double[::1] mean,
    double[:, ::1] partial,
    double[::1] sum_g,
    double[::1] sum_gx,
    int n_threads,
):
    """sum_g[c] = sum_r grad[r, c]; sum_gx[c] = sum_r grad[r, c] * (x[r, c] - mean[c]).

    `partial` is the workspace: one row of 2*C doubles per block, 1 <= blocks <= rows.
    """
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t channels = x.shape[1]
    cdef Py_ssize_t t, r, c
    cdef double* p
    cdef double* q
    cdef const floating* xr
    cdef const floating* gr
    cdef Py_ssize_t blocks = partial.shape[0]
    cdef int nt = threads_for(rows * channels, rows, <int>min(<Py_ssize_t>n_threads, blocks))
    for c in range(channels):
        sum_g[c] = 0
        sum_gx[c] = 0
    if rows == 0 or channels == 0:
        return
    with nogil:
        for t in prange(blocks, num_threads=nt, schedule="static"):
            p = &partial[t, 0]
            q = p + channels
            for c in range(channels):
                p[c] = 0
                q[c] = 0
            for r in range(rows * t // blocks, rows * (t + 1) // blocks):
                xr = &x[r, 0]
                gr = &grad[r, 0]
                for c in range(channels):
                    p[c] += gr[c]
                    q[c] += gr[c] * (xr[c] - mean[c])
        for t in range(blocks):
            for c in range(channels):
                sum_g[c] += partial[t, c]
                sum_gx[c] += partial[t, channels + c]


def _scale_shift(
    const floating[:, ::1] x,
    const floating[::1] scale,
    const floating[::1] shift,
    floating[:, ::1] out,
    int n_threads,
):
    """out[r, c] = x[r, c] * scale[c] + shift[c]."""
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t channels = x.shape[1]
    cdef Py_ssize_t r, c
    cdef const floating* xr
    cdef floating* orow
    cdef int nt = threads_for(rows * channels, rows, n_threads)
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            xr = &x[r, 0]
            orow = &out[r, 0]
            for c in range(channels):
                orow[c] = xr[c] * scale[c] + shift[c]


def _backward_apply(
    const floating[:, ::1] x,
    const floating[:, ::1] grad,
    const floating[::1] mean,
    const floating[::1] a,
    const floating[::1] b,
    const floating[::1] k,
    floating[:, ::1] grad_x,
    int n_threads,
):
    """grad_x[r, c] = (grad[r, c] - a[c] - (x[r, c] - mean[c]) * b[c]) * k[c]."""
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t channels = x.shape[1]
    cdef Py_ssize_t r, c
    cdef const floating* xr
    cdef const floating* gr
    cdef floating* orow
    cdef int nt = threads_for(rows * channels, rows, n_threads)
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            xr = &x[r, 0]
            gr = &grad[r, 0]
            orow = &grad_x[r, 0]
            for c in range(channels):
                orow[c] = (gr[c] - a[c] - (xr[c] - mean[c]) * b[c]) * k[c]
