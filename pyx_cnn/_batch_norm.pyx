"""Batch normalisation kernels: the batch statistics, the normalisation and the
backward pass, per channel.

Private: :mod:`pyx_cnn.ops.batch_norm` is the caller; its callers validate.
The input is seen as ``(M, C)`` rows: channels-last ``(N, H, W, C)`` gives
``M = N*H*W`` (and ``(N, F)`` gives ``M = N``), C-contiguous, one float dtype.
The loops over the rows are C kernels in ``src_c/batch_norm_simd.c``, vectorised
over the channels; these wrappers split the rows over threads and do the
per-channel arithmetic (``C`` values) in between, in double precision.

Reductions over the rows are threaded with partial sums: the rows are cut into
``B`` blocks (``B`` = the workspace's rows, chosen by the caller from the shape
alone), block ``b`` being rows ``[M*b//B, M*(b+1)//B)``; each block is summed in
double precision into its row of the workspace, the threads taking blocks as
they come free, and the block results are then combined in block order. The
result is therefore the same, bit for bit, whatever the thread count (or which
thread took which block). The per-row maps hand out ranges of rows the same way.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdlib cimport free, malloc

from pyx_cnn._threads cimport FAMILY_MAP, FAMILY_SUMS, ranges_for, threads_for


cdef extern from "batch_norm_kernels.h" nogil:
    void pyx_bn_block_stats_f32(const float* x, Py_ssize_t channels, Py_ssize_t r0,
                                Py_ssize_t r1, double* sum, double* dev, double* dev2)
    void pyx_bn_block_stats_f64(const double* x, Py_ssize_t channels, Py_ssize_t r0,
                                Py_ssize_t r1, double* sum, double* dev, double* dev2)
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


cdef inline Py_ssize_t _block_start(Py_ssize_t rows, Py_ssize_t blocks,
                                    Py_ssize_t b) noexcept nogil:
    # the first row of block b (block b is rows [_block_start(b), _block_start(b + 1)))
    return rows * b // blocks


def _statistics(
    const floating[:, ::1] x,
    double eps,
    double[:, ::1] partial,
    double[::1] mean,
    double[::1] invstd,
    double[::1] var,
    int n_threads,
):
    """The batch statistics per channel, summed in double precision (rows >= 2).

    Writes ``mean[c]``, ``invstd[c] = 1 / sqrt(M2[c] / rows + eps)`` (the biased
    variance) and ``var[c] = M2[c] / (rows - 1)`` (the unbiased one), where
    ``M2[c] = sum_r (x[r, c] - mean[c])**2``. Each block ``b`` (``n_b`` rows) is read
    twice while its rows are in cache: once for its sum ``S_b``, once for the
    deviations from its own mean ``m_b = S_b / n_b``, ``D_b = sum (x - m_b)`` and
    ``Q_b = sum (x - m_b)**2``. The blocks are then combined in block order::

        mean = sum_b S_b / rows
        M2 = sum_b (Q_b + e_b * (2 * D_b + n_b * e_b)),   e_b = m_b - mean

    which is ``sum_b sum_{r in b} (x - mean)**2`` expanded around ``m_b``, exactly:
    the sum of squares about the mean that two passes over the whole input would
    give, with its accuracy (``D_b``, about 0 but not exactly, carries the rounding
    of ``m_b``). `partial` is the workspace: one row of 3*C doubles per block,
    1 <= blocks <= rows.
    """
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t channels = x.shape[1]
    cdef Py_ssize_t blocks = partial.shape[0]
    cdef Py_ssize_t t, c
    cdef double n_b, s, m2, e
    cdef int nt = threads_for(rows * channels, rows, <int>min(<Py_ssize_t>n_threads, blocks),
                              FAMILY_SUMS)
    if channels == 0:
        return
    with nogil:
        for t in prange(blocks, num_threads=nt, schedule="dynamic"):
            if floating is float:
                pyx_bn_block_stats_f32(&x[0, 0], channels, _block_start(rows, blocks, t),
                                       _block_start(rows, blocks, t + 1), &partial[t, 0],
                                       &partial[t, channels], &partial[t, 2 * channels])
            else:
                pyx_bn_block_stats_f64(&x[0, 0], channels, _block_start(rows, blocks, t),
                                       _block_start(rows, blocks, t + 1), &partial[t, 0],
                                       &partial[t, channels], &partial[t, 2 * channels])
        for c in range(channels):
            s = 0
            for t in range(blocks):
                s += partial[t, c]
            mean[c] = s / rows
            m2 = 0
            for t in range(blocks):
                n_b = <double>(_block_start(rows, blocks, t + 1) - _block_start(rows, blocks, t))
                e = partial[t, c] / n_b - mean[c]
                m2 += partial[t, 2 * channels + c] + e * (2 * partial[t, channels + c] + n_b * e)
            invstd[c] = 1.0 / sqrt(m2 / rows + eps)
            var[c] = m2 / (rows - 1)


def _normalize(
    const floating[:, ::1] x,
    const floating[::1] gamma,
    const floating[::1] beta,
    const double[::1] mean,
    const double[::1] invstd,
    floating[:, ::1] out,
    int n_threads,
):
    """out[r, c] = x[r, c] * scale[c] + shift[c], PyTorch's form of
    ``(x - mean) * invstd * gamma + beta``.

    ``scale = gamma * invstd`` and ``shift = beta - mean * scale`` are computed in
    double precision, then rounded to x's dtype.
    """
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t channels = x.shape[1]
    cdef Py_ssize_t t, c, n_ranges
    cdef double sc
    cdef floating* scale
    cdef floating* shift
    cdef int nt = threads_for(rows * channels, rows, n_threads, FAMILY_MAP)
    if rows == 0 or channels == 0:
        return
    scale = <floating*>malloc(2 * channels * sizeof(floating))
    if scale == NULL:
        raise MemoryError()
    shift = scale + channels
    try:
        for c in range(channels):
            sc = <double>gamma[c] * invstd[c]
            scale[c] = <floating>sc
            shift[c] = <floating>(<double>beta[c] - mean[c] * sc)
        n_ranges = ranges_for(rows, nt)
        with nogil:
            for t in prange(n_ranges, num_threads=nt, schedule="dynamic"):
                if floating is float:
                    pyx_bn_scale_shift_f32(&x[0, 0], channels, rows * t // n_ranges,
                                           rows * (t + 1) // n_ranges, scale, shift,
                                           &out[0, 0])
                else:
                    pyx_bn_scale_shift_f64(&x[0, 0], channels, rows * t // n_ranges,
                                           rows * (t + 1) // n_ranges, scale, shift,
                                           &out[0, 0])
    finally:
        free(scale)


def _backward(
    const floating[:, ::1] x,
    const floating[:, ::1] grad,
    const floating[::1] gamma,
    const double[::1] mean,
    const double[::1] invstd,
    double[:, ::1] partial,
    floating[:, ::1] grad_x,
    floating[::1] grad_gamma,
    floating[::1] grad_beta,
    int n_threads,
):
    """The backward pass: grad_x, grad_gamma and grad_beta (all written).

    With ``sum_g = sum_r grad[r, c]`` and ``sum_gx = sum_r grad[r, c] * (x[r, c] - mean[c])``
    (double precision, in blocks as above; `partial` holds 2*C doubles per block)::

        grad_x[r, c] = (grad[r, c] - a[c] - (x[r, c] - mean[c]) * b[c]) * k[c]
        a = sum_g / rows,  b = sum_gx * invstd**2 / rows,  k = gamma * invstd
        grad_gamma = sum_gx * invstd,  grad_beta = sum_g

    the per-channel terms computed in double precision, then rounded to x's dtype
    (as are ``mean`` for grad_x and the two parameter gradients).
    """
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t channels = x.shape[1]
    cdef Py_ssize_t blocks = partial.shape[0]
    cdef Py_ssize_t t, c, n_ranges
    cdef double sum_g, sum_gx
    cdef floating* terms
    cdef int nt = threads_for(rows * channels, rows, <int>min(<Py_ssize_t>n_threads, blocks),
                              FAMILY_SUMS)
    if rows == 0 or channels == 0:
        grad_gamma[:] = 0
        grad_beta[:] = 0
        return
    terms = <floating*>malloc(4 * channels * sizeof(floating))   # mean, a, b, k
    if terms == NULL:
        raise MemoryError()
    try:
        with nogil:
            for t in prange(blocks, num_threads=nt, schedule="dynamic"):
                if floating is float:
                    pyx_bn_backward_sums_f32(&x[0, 0], &grad[0, 0], channels,
                                             _block_start(rows, blocks, t),
                                             _block_start(rows, blocks, t + 1), &mean[0],
                                             &partial[t, 0], &partial[t, channels])
                else:
                    pyx_bn_backward_sums_f64(&x[0, 0], &grad[0, 0], channels,
                                             _block_start(rows, blocks, t),
                                             _block_start(rows, blocks, t + 1), &mean[0],
                                             &partial[t, 0], &partial[t, channels])
            for c in range(channels):
                sum_g = 0
                sum_gx = 0
                for t in range(blocks):
                    sum_g += partial[t, c]
                    sum_gx += partial[t, channels + c]
                terms[c] = <floating>mean[c]
                terms[channels + c] = <floating>(sum_g / rows)
                terms[2 * channels + c] = <floating>(sum_gx * invstd[c] * invstd[c] / rows)
                terms[3 * channels + c] = <floating>(<double>gamma[c] * invstd[c])
                grad_gamma[c] = <floating>(sum_gx * invstd[c])
                grad_beta[c] = <floating>sum_g
            nt = threads_for(rows * channels, rows, n_threads, FAMILY_MAP)
            n_ranges = ranges_for(rows, nt)
            for t in prange(n_ranges, num_threads=nt, schedule="dynamic"):
                if floating is float:
                    pyx_bn_backward_apply_f32(&x[0, 0], &grad[0, 0], channels,
                                              rows * t // n_ranges, rows * (t + 1) // n_ranges,
                                              terms, terms + channels, terms + 2 * channels,
                                              terms + 3 * channels, &grad_x[0, 0])
                else:
                    pyx_bn_backward_apply_f64(&x[0, 0], &grad[0, 0], channels,
                                              rows * t // n_ranges, rows * (t + 1) // n_ranges,
                                              terms, terms + channels, terms + 2 * channels,
                                              terms + 3 * channels, &grad_x[0, 0])
    finally:
        free(terms)
