"""Batch normalisation kernels: per-channel sums and the per-channel affine maps.

Private: :mod:`pyx_cnn.ops.batch_norm` is the caller; its callers validate.
The input is seen as ``(M, C)`` rows: channels-last ``(N, H, W, C)`` gives
``M = N*H*W`` (and ``(N, F)`` gives ``M = N``), C-contiguous, one float dtype.
The loops are C kernels in ``src_c/batch_norm_simd.c``, vectorised over the
channels; these wrappers split the rows over threads.

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


cdef extern from "batch_norm_kernels.h" nogil:
    void pyx_bn_sums_f32(const float* x, Py_ssize_t channels, Py_ssize_t r0, Py_ssize_t r1,
                         const double* center, double* sum)
    void pyx_bn_sums_f64(const double* x, Py_ssize_t channels, Py_ssize_t r0, Py_ssize_t r1,
                         const double* center, double* sum)
    void pyx_bn_backward_sums_f32(const float* x, const float* g, Py_ssize_t channels,
                                  Py_ssize_t r0, Py_ssize_t r1, const double* mean,
                                  double* sum_g, double* sum_gx)
    void pyx_bn_backward_sums_f64(const double* x, const double* g, Py_ssize_t channels,
                                  Py_ssize_t r0, Py_ssize_t r1, const double* mean,
                                  double* sum_g, double* sum_gx)
    void pyx_bn_scale_shift_f32(const float* x, Py_ssize_t channels, Py_ssize_t r0,
                                Py_ssize_t r1, const float* scale, const float* shift,
                                float* out)
    void pyx_bn_scale_shift_f64(const double* x, Py_ssize_t channels, Py_ssize_t r0,
                                Py_ssize_t r1, const double* scale, const double* shift,
                                double* out)
    void pyx_bn_backward_apply_f32(const float* x, const float* g, Py_ssize_t channels,
                                   Py_ssize_t r0, Py_ssize_t r1, const float* mean,
                                   const float* a, const float* b, const float* k,
                                   float* grad_x)
    void pyx_bn_backward_apply_f64(const double* x, const double* g, Py_ssize_t channels,
                                   Py_ssize_t r0, Py_ssize_t r1, const double* mean,
                                   const double* a, const double* b, const double* k,
                                   double* grad_x)


cdef inline void _add_blocks(const double* partial, Py_ssize_t blocks, Py_ssize_t stride,
                             Py_ssize_t channels, double* total) noexcept nogil:
    """total[c] = sum over b of partial[b*stride + c], from 0, in block order."""
    cdef Py_ssize_t t, c
    for c in range(channels):
        total[c] = 0
    for t in range(blocks):
        for c in range(channels):
            total[c] += partial[t * stride + c]


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
    cdef Py_ssize_t blocks = partial.shape[0]
    cdef Py_ssize_t t
    cdef const double* cp = NULL
    cdef int nt = threads_for(rows * channels, rows, <int>min(<Py_ssize_t>n_threads, blocks))
    if rows == 0 or channels == 0:
        for t in range(channels):
            total[t] = 0
        return
    if squared:
        cp = &center[0]
    with nogil:
        for t in prange(blocks, num_threads=nt, schedule="static"):
            if floating is float:
                pyx_bn_sums_f32(&x[0, 0], channels, rows * t // blocks,
                                rows * (t + 1) // blocks, cp, &partial[t, 0])
            else:
                pyx_bn_sums_f64(&x[0, 0], channels, rows * t // blocks,
                                rows * (t + 1) // blocks, cp, &partial[t, 0])
        _add_blocks(&partial[0, 0], blocks, partial.shape[1], channels, &total[0])


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
    cdef Py_ssize_t blocks = partial.shape[0]
    cdef Py_ssize_t t
    cdef int nt = threads_for(rows * channels, rows, <int>min(<Py_ssize_t>n_threads, blocks))
    if rows == 0 or channels == 0:
        for t in range(channels):
            sum_g[t] = 0
            sum_gx[t] = 0
        return
    with nogil:
        for t in prange(blocks, num_threads=nt, schedule="static"):
            if floating is float:
                pyx_bn_backward_sums_f32(&x[0, 0], &grad[0, 0], channels, rows * t // blocks,
                                         rows * (t + 1) // blocks, &mean[0],
                                         &partial[t, 0], &partial[t, channels])
            else:
                pyx_bn_backward_sums_f64(&x[0, 0], &grad[0, 0], channels, rows * t // blocks,
                                         rows * (t + 1) // blocks, &mean[0],
                                         &partial[t, 0], &partial[t, channels])
        _add_blocks(&partial[0, 0], blocks, partial.shape[1], channels, &sum_g[0])
        _add_blocks(&partial[0, channels], blocks, partial.shape[1], channels, &sum_gx[0])


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
    cdef Py_ssize_t t
    cdef int nt = threads_for(rows * channels, rows, n_threads)
    if rows == 0 or channels == 0:
        return
    with nogil:
        # one contiguous range of rows per thread
        for t in prange(nt, num_threads=nt, schedule="static"):
            if floating is float:
                pyx_bn_scale_shift_f32(&x[0, 0], channels, rows * t // nt,
                                       rows * (t + 1) // nt, &scale[0], &shift[0], &out[0, 0])
            else:
                pyx_bn_scale_shift_f64(&x[0, 0], channels, rows * t // nt,
                                       rows * (t + 1) // nt, &scale[0], &shift[0], &out[0, 0])


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
    cdef Py_ssize_t t
    cdef int nt = threads_for(rows * channels, rows, n_threads)
    if rows == 0 or channels == 0:
        return
    with nogil:
        for t in prange(nt, num_threads=nt, schedule="static"):
            if floating is float:
                pyx_bn_backward_apply_f32(&x[0, 0], &grad[0, 0], channels, rows * t // nt,
                                          rows * (t + 1) // nt, &mean[0], &a[0], &b[0], &k[0],
                                          &grad_x[0, 0])
            else:
                pyx_bn_backward_apply_f64(&x[0, 0], &grad[0, 0], channels, rows * t // nt,
                                          rows * (t + 1) // nt, &mean[0], &a[0], &b[0], &k[0],
                                          &grad_x[0, 0])
