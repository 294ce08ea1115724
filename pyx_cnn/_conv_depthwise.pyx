"""Depthwise convolution kernels (groups == C, one filter per channel), channels-last.

Private: :mod:`pyx_cnn.ops.conv` validates shapes, dtypes and memory layout
before calling these, which are compiled without bounds checks (unless built
with ``PYX_CNN_DEBUG=1``). The arithmetic is in ``src_c/conv_depthwise_impl.h``
(SIMD over the channels, which channels-last makes contiguous; one copy per
instruction set, chosen at run time), described in ``src_c/conv_depthwise.h``.

Layouts
-------
x    : (N, H, W, C)      the input itself, not padded: taps in the padding are
                         left out of the sums
w    : (kh, kw, C)       one kh x kw filter per channel
bias : (C,)
out  : (N, Ho, Wo, C)

A convolution is memory-bound when each output sums kh*kw products only: the
kernels read the input once, computing an output row while the input rows
its windows cover stay in the cache. Threads split the work on a grid fixed
by the shape, so that results do not depend on the thread count:

- forward: output rows;
- input gradient: at strides 1 the forward kernel run on the output gradient
  with the filters flipped (a gather, no write conflicts); at other strides
  each sample's output gradient spread back over its windows in a scratch
  buffer of the thread's own, one sample per thread;
- filter and bias gradients: groups of samples (about ``_GROUP_PIXELS``
  output pixels each) summed in pixel order, the groups' sums then added in
  group order.
"""
import numpy as np

from cython.parallel cimport prange, threadid

from cython cimport floating
from pyx_cnn._threads cimport FAMILY_POOL, threads_for

cdef extern from "conv_depthwise.h" nogil:
    ctypedef struct pyx_dw_shape:
        Py_ssize_t in_h, in_w, channels
        Py_ssize_t kh, kw
        Py_ssize_t out_h, out_w
        Py_ssize_t stride_h, stride_w, dilation_h, dilation_w
        Py_ssize_t pad_top, pad_left
        int clamp
        double clamp_max
    int pyx_dw_min_channels(int is_double)
    int pyx_dw_lanes(int is_double, Py_ssize_t channels)
    void pyx_dw_rows_f32(const pyx_dw_shape* s, const float* x, const float* w,
                         const float* bias, float* out, Py_ssize_t r0, Py_ssize_t r1)
    void pyx_dw_rows_f64(const pyx_dw_shape* s, const double* x, const double* w,
                         const double* bias, double* out, Py_ssize_t r0, Py_ssize_t r1)
    Py_ssize_t pyx_dw_scatter_size(const pyx_dw_shape* s)
    void pyx_dw_input_grad_f32(const pyx_dw_shape* s, const float* g, const float* w,
                               float* buf, float* gx, Py_ssize_t n)
    void pyx_dw_input_grad_f64(const pyx_dw_shape* s, const double* g, const double* w,
                               double* buf, double* gx, Py_ssize_t n)
    void pyx_dw_filter_grad_f32(const pyx_dw_shape* s, const float* x, const float* g,
                                float* part_w, float* part_b, Py_ssize_t n0, Py_ssize_t n1)
    void pyx_dw_filter_grad_f64(const pyx_dw_shape* s, const double* x, const double* g,
                                double* part_w, double* part_b, Py_ssize_t n0, Py_ssize_t n1)

# The filter gradient sums groups of samples of about this many output pixels.
cdef Py_ssize_t _GROUP_PIXELS = 1024
cdef Py_ssize_t _MAX_GROUPS = 256


def _min_channels(bint is_double):
    """The fewest channels the kernels take (the narrowest registers' lanes)."""
    return pyx_dw_min_channels(is_double)


def _lanes(Py_ssize_t channels, bint is_double):
    """Lanes per register of the copy that runs for this many channels."""
    return pyx_dw_lanes(is_double, channels)


cdef pyx_dw_shape _shape(Py_ssize_t in_h, Py_ssize_t in_w, Py_ssize_t channels,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t out_h, Py_ssize_t out_w,
                         stride, pads, dilation):
    """The kernels' description: `pads` is ``(top, left)``, `stride` and `dilation` pairs."""
    cdef pyx_dw_shape s
    s.in_h, s.in_w, s.channels = in_h, in_w, channels
    s.kh, s.kw, s.out_h, s.out_w = kh, kw, out_h, out_w
    s.stride_h, s.stride_w = stride
    s.dilation_h, s.dilation_w = dilation
    s.pad_top, s.pad_left = pads
    s.clamp, s.clamp_max = 0, 0
    return s


def _check(Py_ssize_t channels, bint is_double):
    if channels < pyx_dw_min_channels(is_double):
        raise ValueError(f"the depthwise kernels take at least "
                         f"{pyx_dw_min_channels(is_double)} channels, got {channels}")


def _depthwise_forward(
    const floating[:, :, :, ::1] x,
    const floating[:, :, ::1] w,
    const floating[::1] bias,
    floating[:, :, :, ::1] out,
    stride,
    pads,
    dilation,
    int n_threads,
    clamp_max=None,
):
    """out[n, y, x, c] = bias[c] + sum_{i, j} x[n, y*sh + i*dh - top, x*sw + j*dw - left, c] * w[i, j, c]
    (taps outside `x` left out). `stride`, `dilation`: pairs; `pads`: ``(top, left)``,
    any sign; the output's size is `out`'s. With `clamp_max` a float m >= 0, each
    value v is stored as ``min(max(v, 0), m)`` (0 where v <= 0, NaN stays NaN;
    ``inf``: a ReLU), row by row while the row is in cache."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t rows = n_batch * out.shape[1]
    cdef Py_ssize_t t, n_chunks
    cdef int nt
    cdef pyx_dw_shape s
    _check(channels, floating is double)
    if (w.shape[2] != channels or bias.shape[0] != channels or out.shape[0] != n_batch
            or out.shape[3] != channels):
        raise ValueError("x, w, bias and out must have the same channels and batch")
    if rows == 0 or out.shape[2] == 0:
        return
    s = _shape(x.shape[1], x.shape[2], channels, w.shape[0], w.shape[1], out.shape[1],
               out.shape[2], stride, pads, dilation)
    if clamp_max is not None:
        s.clamp, s.clamp_max = 1, clamp_max
    nt = threads_for(rows * out.shape[2] * channels * w.shape[0] * w.shape[1], rows,
                     n_threads, FAMILY_POOL)
    n_chunks = min(rows, nt * 8) if nt > 1 else 1
    with nogil:
        for t in prange(n_chunks, num_threads=nt, schedule="dynamic"):
            if floating is float:
                pyx_dw_rows_f32(&s, &x[0, 0, 0, 0], &w[0, 0, 0], &bias[0], &out[0, 0, 0, 0],
                                rows * t // n_chunks, rows * (t + 1) // n_chunks)
            else:
                pyx_dw_rows_f64(&s, &x[0, 0, 0, 0], &w[0, 0, 0], &bias[0], &out[0, 0, 0, 0],
                                rows * t // n_chunks, rows * (t + 1) // n_chunks)


def _depthwise_input_grad(
    const floating[:, :, :, ::1] grad_out,
    const floating[:, :, ::1] w,
    floating[:, :, :, ::1] grad_x,
    stride,
    pads,
    dilation,
    int n_threads,
):
    """grad_x (overwritten): the input gradient of :func:`_depthwise_forward` (`pads`
    ``(top, left)`` >= 0 of that pass)."""
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t kw = w.shape[1]
    cdef Py_ssize_t n
    cdef int nt
    cdef pyx_dw_shape s
    cdef floating[:, ::1] scratch
    _check(channels, floating is double)
    if n_batch == 0 or grad_x.shape[1] == 0 or grad_x.shape[2] == 0:
        return
    if grad_out.shape[1] == 0 or grad_out.shape[2] == 0:
        np.asarray(grad_x)[...] = 0
        return
    dtype = np.float32 if floating is float else np.float64
    if tuple(stride) == (1, 1):
        # dL/dx[y, x] = sum_{i, j} G[y + top - i*dh, x + left - j*dw] * w[i, j]: the
        # forward kernel on G, with the filters flipped (tap i' = kh - 1 - i)
        ext_h, ext_w = (kh - 1) * dilation[0], (kw - 1) * dilation[1]
        _depthwise_forward(grad_out, np.ascontiguousarray(np.asarray(w)[::-1, ::-1]),
                           np.zeros(channels, dtype=dtype), grad_x, (1, 1),
                           (ext_h - pads[0], ext_w - pads[1]), dilation, n_threads)
        return
    s = _shape(grad_x.shape[1], grad_x.shape[2], channels, kh, kw, grad_out.shape[1],
               grad_out.shape[2], stride, pads, dilation)
    nt = threads_for(n_batch * s.out_h * s.out_w * channels * kh * kw, n_batch, n_threads,
                     FAMILY_POOL)
    scratch = np.empty((nt, pyx_dw_scatter_size(&s)), dtype=dtype)
    with nogil:
        # one sample per item: a sample's gradient is written by one thread
        for n in prange(n_batch, num_threads=nt, schedule="dynamic"):
            if floating is float:
                pyx_dw_input_grad_f32(&s, &grad_out[0, 0, 0, 0], &w[0, 0, 0],
                                      &scratch[threadid(), 0], &grad_x[0, 0, 0, 0], n)
            else:
                pyx_dw_input_grad_f64(&s, &grad_out[0, 0, 0, 0], &w[0, 0, 0],
                                      &scratch[threadid(), 0], &grad_x[0, 0, 0, 0], n)


def _depthwise_filter_grad(
    const floating[:, :, :, ::1] x,
    const floating[:, :, :, ::1] grad_out,
    floating[:, :, ::1] grad_w,
    floating[::1] grad_b,
    stride,
    pads,
    dilation,
    int n_threads,
):
    """grad_w ``(kh, kw, C)`` and grad_b ``(C,)`` (overwritten): the filter and bias
    gradients of :func:`_depthwise_forward`."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t pixels = grad_out.shape[1] * grad_out.shape[2]
    cdef Py_ssize_t per_group, n_groups, grp, n0, n1
    cdef int nt
    cdef pyx_dw_shape s
    cdef floating[:, :, :, ::1] part_w
    cdef floating[:, ::1] part_b
    _check(channels, floating is double)
    if n_batch == 0 or pixels == 0:
        np.asarray(grad_w)[...] = 0
        np.asarray(grad_b)[...] = 0
        return
    dtype = np.float32 if floating is float else np.float64
    s = _shape(x.shape[1], x.shape[2], channels, grad_w.shape[0], grad_w.shape[1],
               grad_out.shape[1], grad_out.shape[2], stride, pads, dilation)
    per_group = max(1, (_GROUP_PIXELS + pixels - 1) // pixels,
                    (n_batch + _MAX_GROUPS - 1) // _MAX_GROUPS)
    n_groups = (n_batch + per_group - 1) // per_group
    part_w = np.empty((n_groups, s.kh, s.kw, channels), dtype=dtype)
    part_b = np.empty((n_groups, channels), dtype=dtype)
    nt = threads_for(n_batch * pixels * channels * s.kh * s.kw, n_groups, n_threads,
                     FAMILY_POOL)
    with nogil:
        for grp in prange(n_groups, num_threads=nt, schedule="dynamic"):
            n0 = grp * per_group
            n1 = min(n_batch, n0 + per_group)
            if floating is float:
                pyx_dw_filter_grad_f32(&s, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0],
                                       &part_w[grp, 0, 0, 0], &part_b[grp, 0], n0, n1)
            else:
                pyx_dw_filter_grad_f64(&s, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0],
                                       &part_w[grp, 0, 0, 0], &part_b[grp, 0], n0, n1)
    # the groups' sums, added in group order
    np.asarray(grad_w)[...] = np.asarray(part_w).sum(axis=0)
    np.asarray(grad_b)[...] = np.asarray(part_b).sum(axis=0)
