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

Threads: the input gradient is split over the batch (each sample's gradient is
written by one thread, so overlapping windows never race); the filter and bias
gradients are summed per thread into private buffers over a slice of the
batch, then added up.
"""
from cython.parallel cimport prange
from libc.string cimport memset

import numpy as np

ctypedef fused floating:
    float
    double

cdef Py_ssize_t _MIN_PARALLEL_WORK = 1 << 16


cdef inline void _input_grad_sample(
    const floating* g,          # grad_out[n], (Ho, Wo, F)
    const floating* w,          # (kh, run, F)
    floating* gx,               # grad_x[n], (Hp, Wp, C), zeroed here
    Py_ssize_t sample_size,     # Hp*Wp*C
    Py_ssize_t x_row_stride,    # Wp*C
    Py_ssize_t h_out,
    Py_ssize_t w_out,
    Py_ssize_t kh,
    Py_ssize_t run,
    Py_ssize_t n_filters,
    Py_ssize_t stride,
    Py_ssize_t channels,
) noexcept nogil:
    cdef Py_ssize_t oy, ox, i, k, f
    cdef const floating* gp
    cdef const floating* wp
    cdef floating* xp
    cdef floating acc
    memset(gx, 0, sample_size * sizeof(floating))
    for oy in range(h_out):
        for ox in range(w_out):
            gp = g + (oy * w_out + ox) * n_filters
            for i in range(kh):
                xp = gx + (oy * stride + i) * x_row_stride + ox * stride * channels
                wp = w + i * run * n_filters
                for k in range(run):
                    acc = 0
                    for f in range(n_filters):
                        acc = acc + gp[f] * wp[k * n_filters + f]
                    xp[k] += acc


def _conv2d_backward_input(
    const floating[:, :, :, ::1] grad_out,
    const floating[:, :, ::1] w,
    floating[:, :, :, ::1] grad_x,
    Py_ssize_t stride,
    int n_threads,
):
    """grad_x (padded, overwritten) = transpose of the convolution applied to grad_out."""
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t run = w.shape[1]
    cdef Py_ssize_t n_filters = w.shape[2]
    cdef Py_ssize_t h_out = grad_out.shape[1]
    cdef Py_ssize_t w_out = grad_out.shape[2]
    cdef Py_ssize_t x_row_stride = grad_x.shape[2] * channels
    cdef Py_ssize_t sample_size = grad_x.shape[1] * x_row_stride
    cdef Py_ssize_t g_sample = h_out * w_out * n_filters
    cdef Py_ssize_t n
    cdef int nt = n_threads
    if n_batch * h_out * w_out * kh * run * n_filters < _MIN_PARALLEL_WORK or n_batch < 2:
        nt = 1
    if n_batch == 0 or sample_size == 0:
        return
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="static"):
            _input_grad_sample(
                &grad_out[0, 0, 0, 0] + n * g_sample, &w[0, 0, 0],
                &grad_x[0, 0, 0, 0] + n * sample_size, sample_size, x_row_stride,
                h_out, w_out, kh, run, n_filters, stride, channels,
            )


cdef inline void _weight_grad_samples(
    const floating* x,          # x[n0], (Hp, Wp, C) per sample
    const floating* g,          # grad_out[n0], (Ho, Wo, F) per sample
    Py_ssize_t n_samples,
    Py_ssize_t x_sample,        # Hp*Wp*C
    Py_ssize_t x_row_stride,    # Wp*C
    Py_ssize_t h_out,
    Py_ssize_t w_out,
    Py_ssize_t kh,
    Py_ssize_t run,
    Py_ssize_t n_filters,
    Py_ssize_t stride,
    Py_ssize_t channels,
    floating* gw,               # (kh, run, F), accumulated into
    floating* gb,               # (F,), accumulated into
) noexcept nogil:
    cdef Py_ssize_t n, oy, ox, i, k, f
    cdef const floating* gp
    cdef const floating* xp
    cdef floating* wp
    cdef floating v
    for n in range(n_samples):
        for oy in range(h_out):
            for ox in range(w_out):
                gp = g + ((n * h_out + oy) * w_out + ox) * n_filters
                for f in range(n_filters):
                    gb[f] += gp[f]
                for i in range(kh):
                    xp = x + n * x_sample + (oy * stride + i) * x_row_stride + ox * stride * channels
                    wp = gw + i * run * n_filters
                    for k in range(run):
                        v = xp[k]
                        for f in range(n_filters):
                            wp[k * n_filters + f] += v * gp[f]


def _conv2d_backward_weights(
    const floating[:, :, :, ::1] x,
    const floating[:, :, :, ::1] grad_out,
    floating[:, :, ::1] grad_w,
    floating[::1] grad_b,
    Py_ssize_t stride,
    int n_threads,
):
    """grad_w, grad_b (overwritten) = gradients of the filters and the bias."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t kh = grad_w.shape[0]
    cdef Py_ssize_t run = grad_w.shape[1]
    cdef Py_ssize_t n_filters = grad_w.shape[2]
    cdef Py_ssize_t h_out = grad_out.shape[1]
    cdef Py_ssize_t w_out = grad_out.shape[2]
    cdef Py_ssize_t x_row_stride = x.shape[2] * channels
    cdef Py_ssize_t x_sample = x.shape[1] * x_row_stride
    cdef Py_ssize_t g_sample = h_out * w_out * n_filters
    cdef Py_ssize_t w_size = kh * run * n_filters
    cdef Py_ssize_t t, n0, n1, q, f, part
    cdef int nt = n_threads
    cdef floating[:, ::1] work
    cdef floating* gw = &grad_w[0, 0, 0]
    cdef floating* gb = &grad_b[0]
    if n_batch * h_out * w_out * kh * run * n_filters < _MIN_PARALLEL_WORK:
        nt = 1
    if nt > n_batch:
        nt = <int>n_batch if n_batch > 0 else 1
    if nt == 1:
        with nogil:
            memset(gw, 0, w_size * sizeof(floating))
            memset(gb, 0, n_filters * sizeof(floating))
            if n_batch > 0:
                _weight_grad_samples(
                    &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0], n_batch, x_sample, x_row_stride,
                    h_out, w_out, kh, run, n_filters, stride, channels, gw, gb,
                )
        return
    # one private (filters + bias) buffer per thread, over a slice of the batch
    part = w_size + n_filters
    work = np.zeros((nt, part), dtype=np.float32 if floating is float else np.float64)
    with nogil:
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            n0 = t * n_batch // nt
            n1 = (t + 1) * n_batch // nt
            _weight_grad_samples(
                &x[0, 0, 0, 0] + n0 * x_sample, &grad_out[0, 0, 0, 0] + n0 * g_sample,
                n1 - n0, x_sample, x_row_stride, h_out, w_out, kh, run, n_filters,
                stride, channels, &work[t, 0], &work[t, w_size],
            )
        for q in range(w_size):
            gw[q] = 0
        for f in range(n_filters):
            gb[f] = 0
        for t in range(nt):
            for q in range(w_size):
                gw[q] += work[t, q]
            for q in range(n_filters):
                gb[q] += work[t, w_size + q]


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
