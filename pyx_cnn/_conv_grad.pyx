"""Convolution backward kernels: gradients of the input, the filters and the bias.

Private: :mod:`pyx_cnn.layers` validates shapes, dtypes and memory layout
before calling these, which are compiled without bounds checks (unless built
with ``PYX_CNN_DEBUG=1``).

The forward pass (:func:`pyx_cnn._conv._conv2d_forward`) computes

    out[n, y, x, f] = bias[f] + sum_{i, j, c} P[n, y*s+i, x*s+j, c] * W[i, j*C+c, f]

on the zero-padded input ``P``. With ``G = dL/dout`` the gradients are

    dL/dP[n, y*s+i, x*s+j, c] += sum_f G[n, y, x, f] * W[i, j*C+c, f]
    dL/dW[i, j*C+c, f]         = sum_{n, y, x} P[n, y*s+i, x*s+j, c] * G[n, y, x, f]
    dL/dbias[f]                = sum_{n, y, x} G[n, y, x, f]

Layouts
-------
x, grad_x : (N, Hp, Wp, C)  padded input / its gradient, C-contiguous
w, grad_w : (kh, kw*C, F)   the forward kernel's filter layout
grad_out  : (N, Ho, Wo, F)
grad_b    : (F,)

Both gradients run as BLAS products on gathered windows (im2col / col2im),
a chunk of output rows at a time, on SciPy's BLAS called from
the kernels' own OpenMP threads (:mod:`pyx_cnn._blas`).

Threads: the input gradient is split over the batch (each sample's gradient is
written by one thread, so overlapping windows never race); the filter and bias
gradients are summed per thread into private buffers over a slice of the
batch, then added up.
"""
from cython.parallel cimport prange

import numpy as np

from cython cimport floating
from pyx_cnn._blas cimport gemm

cdef Py_ssize_t _MIN_PARALLEL_WORK = 1 << 16
# The windows are gathered (or scattered back) a chunk of output rows at a
# time, each chunk's matrix at most about this many values (512 KiB in
# float32: it stays in the core's L2 cache between the copy and the product).
# A chunk may run over several samples: a bigger product runs faster.
cdef Py_ssize_t _CHUNK_VALUES = 1 << 17


cdef inline Py_ssize_t _chunk_rows(Py_ssize_t w_out, Py_ssize_t k) noexcept nogil:
    """Output rows (of Wo windows of k values) per chunk, at least 1."""
    cdef Py_ssize_t rows = _CHUNK_VALUES // (w_out * k) if w_out * k > 0 else 1
    return rows if rows > 1 else 1


cdef inline void _gather_windows(
    const floating* x,          # the padded batch, (N, Hp, Wp, C)
    floating* cols,             # (rows * Wo, kh * run): one window per row
    Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t h_out, Py_ssize_t w_out, Py_ssize_t kh,
    Py_ssize_t run, Py_ssize_t stride, Py_ssize_t channels, Py_ssize_t x_row_stride,
    Py_ssize_t x_sample,
) noexcept nogil:
    """im2col of the output rows ``row0 .. row0 + rows`` of the batch (row r is
    row ``r % Ho`` of sample ``r // Ho``); columns in the filter order (i, j, c)."""
    cdef Py_ssize_t r, oy, ox, i, k
    cdef const floating* src
    cdef floating* dst = cols
    for r in range(row0, row0 + rows):
        oy = r % h_out
        for ox in range(w_out):
            src = x + (r // h_out) * x_sample + oy * stride * x_row_stride + ox * stride * channels
            for i in range(kh):
                for k in range(run):
                    dst[k] = src[k]
                dst += run
                src += x_row_stride


cdef inline void _scatter_windows(
    const floating* cols,       # (rows * Wo, kh * run): the gradient of each window
    floating* gx,               # the padded batch's gradient, (N, Hp, Wp, C), added into
    Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t h_out, Py_ssize_t w_out, Py_ssize_t kh,
    Py_ssize_t run, Py_ssize_t stride, Py_ssize_t channels, Py_ssize_t x_row_stride,
    Py_ssize_t x_sample,
) noexcept nogil:
    """col2im: the adjoint of :func:`_gather_windows` (overlapping windows add up)."""
    cdef Py_ssize_t r, oy, ox, i, k
    cdef floating* dst
    cdef const floating* src = cols
    for r in range(row0, row0 + rows):
        oy = r % h_out
        for ox in range(w_out):
            dst = gx + (r // h_out) * x_sample + oy * stride * x_row_stride + ox * stride * channels
            for i in range(kh):
                for k in range(run):
                    dst[k] += src[k]
                src += run
                dst += x_row_stride


def _conv2d_backward_input(
    const floating[:, :, :, ::1] grad_out,
    const floating[:, :, ::1] w,
    floating[:, :, :, ::1] grad_x,
    Py_ssize_t stride,
    int n_threads,
):
    """grad_x (padded, overwritten) = transpose of the convolution applied to grad_out.

    A chunk of output rows at a time: the windows' gradients ``G_chunk @ W^T``
    (one BLAS product, ``(windows, F) x (F, kh*kw*C)``), then added back onto
    the input grid (col2im). Each thread takes whole samples (a static slice of
    the batch), so overlapping windows never race.
    """
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t run = w.shape[1]
    cdef Py_ssize_t n_filters = w.shape[2]
    cdef Py_ssize_t k = kh * run
    cdef Py_ssize_t h_out = grad_out.shape[1]
    cdef Py_ssize_t w_out = grad_out.shape[2]
    cdef Py_ssize_t x_row_stride = grad_x.shape[2] * channels
    cdef Py_ssize_t x_sample = grad_x.shape[1] * x_row_stride
    cdef Py_ssize_t chunk, t, n0, n1, row0, rows
    cdef floating[:, ::1] work
    cdef floating* buf
    cdef int nt = n_threads
    if n_batch == 0 or x_sample == 0:
        return
    grad_x[...] = 0
    if h_out == 0 or w_out == 0 or n_filters == 0:
        return
    if n_batch * h_out * w_out * k * n_filters < _MIN_PARALLEL_WORK:
        nt = 1
    if nt > n_batch:
        nt = <int>n_batch
    chunk = _chunk_rows(w_out, k)
    if chunk > n_batch * h_out:
        chunk = n_batch * h_out
    work = np.empty((nt, chunk * w_out * k), dtype=np.float32 if floating is float else np.float64)
    with nogil:
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            n0 = t * n_batch // nt
            n1 = (t + 1) * n_batch // nt
            buf = &work[t, 0]
            row0 = n0 * h_out
            while row0 < n1 * h_out:
                rows = min(chunk, n1 * h_out - row0)
                gemm(False, True, <int>(rows * w_out), <int>k, <int>n_filters, 1,
                     &grad_out[0, 0, 0, 0] + row0 * w_out * n_filters, <int>n_filters,
                     &w[0, 0, 0], <int>n_filters, 0, buf, <int>k)
                _scatter_windows(buf, &grad_x[0, 0, 0, 0], row0, rows, h_out, w_out, kh, run,
                                 stride, channels, x_row_stride, x_sample)
                row0 = row0 + rows


def _conv2d_backward_weights(
    const floating[:, :, :, ::1] x,
    const floating[:, :, :, ::1] grad_out,
    floating[:, :, ::1] grad_w,
    floating[::1] grad_b,
    Py_ssize_t stride,
    int n_threads,
):
    """grad_w, grad_b (overwritten) = gradients of the filters and the bias.

    A chunk of output rows at a time: the windows are gathered (im2col) and
    ``cols^T @ G_chunk`` is added to the filter gradient (one BLAS product,
    ``(kh*kw*C, windows) x (windows, F)``). Each thread sums a static slice of
    the batch into a private buffer; the buffers are then added in thread order.
    """
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t kh = grad_w.shape[0]
    cdef Py_ssize_t run = grad_w.shape[1]
    cdef Py_ssize_t n_filters = grad_w.shape[2]
    cdef Py_ssize_t k = kh * run
    cdef Py_ssize_t h_out = grad_out.shape[1]
    cdef Py_ssize_t w_out = grad_out.shape[2]
    cdef Py_ssize_t x_row_stride = x.shape[2] * channels
    cdef Py_ssize_t x_sample = x.shape[1] * x_row_stride
    cdef Py_ssize_t w_size = k * n_filters
    cdef Py_ssize_t chunk, t, n0, n1, row0, rows, q, p, f
    cdef floating[:, ::1] cols
    cdef floating[:, ::1] acc
    cdef floating* buf
    cdef floating* gw
    cdef floating* gb
    cdef const floating* g
    cdef int nt = n_threads
    grad_w[...] = 0
    grad_b[...] = 0
    if n_batch == 0 or h_out == 0 or w_out == 0 or w_size == 0:
        return
    if n_batch * h_out * w_out * w_size < _MIN_PARALLEL_WORK:
        nt = 1
    if nt > n_batch:
        nt = <int>n_batch
    chunk = _chunk_rows(w_out, k)
    if chunk > n_batch * h_out:
        chunk = n_batch * h_out
    dtype = np.float32 if floating is float else np.float64
    cols = np.empty((nt, chunk * w_out * k), dtype=dtype)
    acc = np.zeros((nt, w_size + n_filters), dtype=dtype)
    with nogil:
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            n0 = t * n_batch // nt
            n1 = (t + 1) * n_batch // nt
            buf = &cols[t, 0]
            gw = &acc[t, 0]
            gb = gw + w_size
            row0 = n0 * h_out
            while row0 < n1 * h_out:
                rows = min(chunk, n1 * h_out - row0)
                g = &grad_out[0, 0, 0, 0] + row0 * w_out * n_filters
                _gather_windows(&x[0, 0, 0, 0], buf, row0, rows, h_out, w_out, kh, run,
                                stride, channels, x_row_stride, x_sample)
                gemm(True, False, <int>k, <int>n_filters, <int>(rows * w_out), 1,
                     buf, <int>k, g, <int>n_filters, 1, gw, <int>n_filters)
                for p in range(rows * w_out):
                    for f in range(n_filters):
                        gb[f] += g[p * n_filters + f]
                row0 = row0 + rows
        gw = &grad_w[0, 0, 0]
        gb = &grad_b[0]
        for t in range(nt):
            for q in range(w_size):
                gw[q] += acc[t, q]
            for f in range(n_filters):
                gb[f] += acc[t, w_size + f]


def _im2col(
    const floating[:, :, :, ::1] x,
    floating[:, ::1] cols,
    Py_ssize_t kh,
    Py_ssize_t kw,
    Py_ssize_t stride,
    int n_threads,
):
    """cols[(n*Ho + y)*Wo + x, (i*kw + j)*C + c] = x[n, y*stride+i, x*stride+j, c].

    Each row is one window, laid out as the forward kernel's filter rows, so
    ``cols.T @ grad_out.reshape(-1, F)`` is the filter gradient in the
    ``(kh, kw*C, F)`` layout (a BLAS product; worth it while ``cols`` is small).
    When ``cols`` has one more column than ``kh*kw*C``, that column is set to 1,
    so the same product also yields the bias gradient as its last row.
    """
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t x_row_stride = x.shape[2] * channels
    cdef Py_ssize_t x_sample = x.shape[1] * x_row_stride
    cdef Py_ssize_t run = kw * channels
    cdef Py_ssize_t n_cols = kh * run
    cdef Py_ssize_t h_out = (x.shape[1] - kh) // stride + 1
    cdef Py_ssize_t w_out = (x.shape[2] - kw) // stride + 1
    cdef Py_ssize_t rows = n_batch * h_out
    cdef Py_ssize_t width = cols.shape[1]
    cdef bint ones = width > n_cols
    cdef Py_ssize_t r, n, oy, ox, i, k, t
    cdef const floating* src
    cdef floating* dst
    cdef int nt = n_threads
    # offset of every window element from the window's first element: one flat
    # gather per window instead of kh short copies
    cdef Py_ssize_t[::1] offsets = np.empty(max(n_cols, 1), dtype=np.intp)
    cdef const Py_ssize_t* off
    for i in range(kh):
        for k in range(run):
            offsets[i * run + k] = i * x_row_stride + k
    if rows * w_out * n_cols < _MIN_PARALLEL_WORK * 4 or rows < 2:
        nt = 1
    if rows == 0 or w_out == 0:
        return
    off = &offsets[0]
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            n = r // h_out
            oy = r - n * h_out
            for ox in range(w_out):
                dst = &cols[0, 0] + (r * w_out + ox) * width
                src = &x[0, 0, 0, 0] + n * x_sample + oy * stride * x_row_stride \
                    + ox * stride * channels
                for t in range(n_cols):
                    dst[t] = src[off[t]]
                if ones:
                    dst[n_cols] = 1
