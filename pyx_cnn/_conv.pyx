"""Convolution kernels (channels-last cross-correlation).

Private: the public functions in :mod:`pyx_cnn.functional` validate shapes,
dtypes and memory layout before calling these, which are compiled without
bounds checks (unless built with ``PYX_CNN_DEBUG=1``).

Layouts
-------
x    : (N, Hp, Wp, C)   input, already zero-padded, C-contiguous
w    : (kh, kw*C, F)    filter bank with the filter axis last: for a fixed kernel
                        row ``i`` the ``kw*C`` input values under the window are one
                        contiguous run of ``x`` (``kw`` runs of ``C`` with dilation
                        along W), and each of them multiplies one contiguous row of
                        ``F`` weights
bias : (F,)
out  : (N, Ho, Wo, F)

Algorithms
----------
The arithmetic lives in ``src_c/conv_simd.c`` (SIMD microkernels compiled for
AVX-512, AVX2+FMA and the baseline instruction set, chosen at run time). One C
function, ``pyx_conv_choose`` (rules in ``src_c/conv_kernels.h``), picks the
algorithm for a shape; :func:`_algorithm` tells its choice by name:

- *planar*: SIMD registers hold consecutive output columns of one filter, read
  from a planar (N, C, Hp, Wp) copy of the input. Used for strides 1 and
  F <= 4, where the direct kernel would leave most SIMD lanes empty.
- *paired* (AVX-512, float32): for one input channel, strides 1 and 5..8
  filters, a register holds two neighbouring pixels x 8 filters.
- *tap-paired* (AVX-512, float32): for other shapes with at most 8 filters and
  window runs of an even length, a register holds two neighbouring taps of a
  window x 8 filters, the two partial sums added at the end.
- *direct*: SIMD registers hold consecutive filters of one output pixel, a block
  of pixels x registers of filters accumulates in registers. Every other shape.

Output pixel ``(y, x)`` reads ``x[n, y*sh + i*dh, x*sw + j*dw, c]`` (strides
``(sh, sw)``, dilations ``(dh, dw)``; the planar and paired kernels run at
strides 1 only). All four sum each output in the same order (bias, then over
i, j, c) and split the work by output rows only, so results do not depend on
the algorithm's block sizes or on the thread count.

The input gradient runs on these kernels too at strides 1 (*transposed*: a
convolution of the output gradient with the flipped filters, see
:mod:`pyx_cnn.ops.conv`), else on gathered windows and BLAS products
(*windows_blas*, :mod:`pyx_cnn._conv_grad`); the same C function chooses.

The filter and bias gradients run on the direct kernel's layout (filters
innermost: a register holds consecutive filters of one tap, the pixels are
summed in order), in fixed groups of samples whose sums are then added in
group order: also independent of the thread count.
"""

import numpy as np

from cython.parallel cimport prange, threadid

from cython cimport floating
from libc.stdint cimport PTRDIFF_MAX
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset
from pyx_cnn._threads cimport FAMILY_CONV, FAMILY_MAP, threads_for

from pyx_cnn._kept_weights import prepared

cdef extern from "conv_kernels.h" nogil:
    ctypedef struct pyx_conv_shape:
        Py_ssize_t in_h, in_w, channels
        Py_ssize_t kh, kw, filters, filters_padded
        Py_ssize_t out_h, out_w
        Py_ssize_t stride_h, stride_w, dilation_h, dilation_w
        Py_ssize_t zero_top, zero_bottom
        int algorithm
        int clamp
        double clamp_max
    enum:
        PYX_CONV_DIRECT
        PYX_CONV_PAIRED
        PYX_CONV_TAP_PAIRED
        PYX_CONV_PLANAR
        PYX_CONV_TRANSPOSED
        PYX_CONV_WINDOWS_BLAS
    int pyx_conv_choose(const pyx_conv_shape* s, int is_double)
    int pyx_conv_input_grad_route(const pyx_conv_shape* s, Py_ssize_t h, Py_ssize_t w,
                                  int finite_filters)
    const char* pyx_conv_algorithm_name(int algorithm)
    int pyx_conv_direct_lanes(int is_double, Py_ssize_t filters)
    const char* pyx_conv_isa()
    void pyx_conv_pack_direct_f32(const pyx_conv_shape* s, const float* w, const float* bias,
                                  float* w_packed, float* bias_packed)
    void pyx_conv_pack_direct_f64(const pyx_conv_shape* s, const double* w,
                                  const double* bias, double* w_packed, double* bias_packed)
    Py_ssize_t pyx_conv_panels(const pyx_conv_shape* s, int is_double)
    void pyx_conv_rows_f32(const pyx_conv_shape* s, const float* x, const float* w,
                           const float* bias, float* out, Py_ssize_t r0, Py_ssize_t r1,
                           Py_ssize_t p0, Py_ssize_t p1)
    void pyx_conv_rows_f64(const pyx_conv_shape* s, const double* x, const double* w,
                           const double* bias, double* out, Py_ssize_t r0, Py_ssize_t r1,
                           Py_ssize_t p0, Py_ssize_t p1)
    Py_ssize_t pyx_conv_wgrad_rows_per_item(const pyx_conv_shape* s, int is_double)
    void pyx_conv_wgrad_rows_f32(const pyx_conv_shape* s, const float* x, const float* g,
                                 const float* g_tail, Py_ssize_t tail_begin, float* part,
                                 Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t i0, Py_ssize_t i1)
    void pyx_conv_wgrad_rows_f64(const pyx_conv_shape* s, const double* x, const double* g,
                                 const double* g_tail, Py_ssize_t tail_begin, double* part,
                                 Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t i0, Py_ssize_t i1)
    void pyx_conv_wgrad_bias_f32(const pyx_conv_shape* s, const float* g,
                                 const float* g_tail, Py_ssize_t tail_begin, float* bias_part,
                                 Py_ssize_t n0, Py_ssize_t n1)
    void pyx_conv_wgrad_bias_f64(const pyx_conv_shape* s, const double* g,
                                 const double* g_tail, Py_ssize_t tail_begin,
                                 double* bias_part, Py_ssize_t n0, Py_ssize_t n1)


def _isa():
    """Instruction set the convolution kernels run on: "avx512f", "avx2" or "generic"."""
    return pyx_conv_isa().decode()


def _pair(value):
    """An int or a pair ``(along H, along W)`` as a pair."""
    if isinstance(value, tuple):
        return value
    return (value, value)


def _algorithm(x_shape, w_shape, stride=1, dilation=1, dtype=np.float32, gradient=False,
               finite=True, pads=((0, 0), (0, 0))):
    """The algorithm the kernels take for a convolution of this shape, by name.

    Parameters
    ----------
    x_shape : tuple of int
        The padded input's shape ``(N, Hp, Wp, C)``.
    w_shape : tuple of int
        The filters' shape in the kernels' layout ``(kh, kw*C, F)``.
    stride, dilation : int or pair of int
    dtype : float32 or float64
    gradient : bool
        False: the forward kernel, one of ``"planar"``, ``"paired"``,
        ``"tap_paired"``, ``"direct"``. True: the input gradient's route,
        ``"transposed"`` or ``"windows_blas"`` (`finite`: no inf or NaN among
        the filters; `pads`, ``((top, bottom), (left, right))``: the padding
        in `x_shape`, whose gradient is not wanted).

    The choice is ``pyx_conv_choose``'s (forward) or ``pyx_conv_input_grad_route``'s
    (gradient) in ``src_c/conv_simd.c``, the ones every caller uses; the forward
    kernel depends on the instruction set that runs (:func:`_isa`).
    """
    cdef pyx_conv_shape s
    cdef Py_ssize_t sh, sw, dh, dw, channels
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    channels = x_shape[3]
    if channels < 0 or (channels > 0 and w_shape[1] % channels != 0):
        raise ValueError(f"w_shape {tuple(w_shape)} does not hold kw*C rows for C={channels}")
    s = _shape_of(x_shape, w_shape, sh, sw, dh, dw)
    if gradient:
        (top, bottom), (left, right) = pads
        return pyx_conv_algorithm_name(pyx_conv_input_grad_route(
            &s, x_shape[1] - top - bottom, x_shape[2] - left - right, finite)).decode()
    return pyx_conv_algorithm_name(pyx_conv_choose(&s, np.dtype(dtype) == np.float64)).decode()


def _direct_lanes(Py_ssize_t n_filters, bint is_double):
    """SIMD lanes of the direct kernel for F filters (the filter axis is padded to these)."""
    return pyx_conv_direct_lanes(is_double, n_filters)


def _aligned_zeros(shape, dtype, Py_ssize_t alignment=64):
    """Zeros of `shape` whose data starts on an `alignment`-byte boundary."""
    dtype = np.dtype(dtype)
    cdef Py_ssize_t n_bytes = dtype.itemsize
    for extent in shape:
        n_bytes *= extent
    raw = np.zeros(n_bytes + alignment, dtype=np.uint8)
    cdef unsigned char[::1] raw_bytes = raw
    cdef Py_ssize_t offset = (alignment - <size_t>&raw_bytes[0] % alignment) % alignment
    return raw[offset:offset + n_bytes].view(dtype).reshape(shape)


cdef pyx_conv_shape _shape(
    Py_ssize_t[8] x_shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t filters,
    Py_ssize_t filters_padded, Py_ssize_t h_out, Py_ssize_t w_out,
    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
) noexcept:
    """The kernels' description of a convolution of a padded (N, Hp, Wp, C) input."""
    cdef pyx_conv_shape s
    s.in_h, s.in_w, s.channels = x_shape[1], x_shape[2], x_shape[3]
    s.kh, s.kw, s.filters, s.filters_padded = kh, kw, filters, filters_padded
    s.out_h, s.out_w = h_out, w_out
    s.stride_h, s.stride_w, s.dilation_h, s.dilation_w = sh, sw, dh, dw
    s.zero_top, s.zero_bottom = 0, 0     # (a caller that padded the input sets them)
    s.algorithm = PYX_CONV_DIRECT
    s.clamp, s.clamp_max = 0, 0
    return s


cdef (Py_ssize_t, Py_ssize_t) _zero_rows(zero_rows, Py_ssize_t in_h) except *:
    """``(top, bottom)`` zero rows of images of `in_h` rows, checked (none of them may
    be counted twice)."""
    cdef Py_ssize_t top, bottom
    top, bottom = zero_rows
    if top < 0 or bottom < 0 or top + bottom > in_h:
        raise ValueError(f"zero_rows {tuple(zero_rows)} do not fit in images of {in_h} rows")
    return top, bottom


cdef pyx_conv_shape _shape_of(x_shape, w_shape, Py_ssize_t sh, Py_ssize_t sw,
                              Py_ssize_t dh, Py_ssize_t dw):
    """:func:`_shape` from the padded input's and the filters' shapes ``(N, Hp, Wp, C)``
    and ``(kh, kw*C, F)``, the output's size computed."""
    cdef Py_ssize_t full[8]
    cdef Py_ssize_t kh = w_shape[0]
    cdef Py_ssize_t kw = w_shape[1] // x_shape[3] if x_shape[3] > 0 else 1   # (no channels)
    full[1], full[2], full[3] = x_shape[1], x_shape[2], x_shape[3]
    return _shape(full, kh, kw, w_shape[2], w_shape[2],
                  max(0, (x_shape[1] - (kh - 1) * dh - 1) // sh + 1),
                  max(0, (x_shape[2] - (kw - 1) * dw - 1) // sw + 1), sh, sw, dh, dw)


cdef void _pair_up(const floating[:, :, ::1] w, const floating[::1] bias,
                   floating[:, :, ::1] w_pair, floating[::1] b_pair) noexcept:
    """w_pair[i, k, 2f] = w_pair[i, k, 2f+1] = w[i, k, f] (and bias likewise)."""
    cdef Py_ssize_t i, k, f
    for f in range(w.shape[2]):
        b_pair[2 * f] = bias[f]
        b_pair[2 * f + 1] = bias[f]
        for i in range(w.shape[0]):
            for k in range(w.shape[1]):
                w_pair[i, k, 2 * f] = w[i, k, f]
                w_pair[i, k, 2 * f + 1] = w[i, k, f]


cdef inline void _run_rows(
    const pyx_conv_shape* s, const floating* x, const floating* w,
    const floating* bias, floating* out, Py_ssize_t r0, Py_ssize_t r1,
    Py_ssize_t p0, Py_ssize_t p1,
) noexcept nogil:
    """Rows [r0, r1) of the output with the kernel ``s.algorithm`` names: the
    filters of panels [p0, p1) (0, PTRDIFF_MAX: every filter)."""
    if floating is float:
        pyx_conv_rows_f32(s, x, w, bias, out, r0, r1, p0, p1)
    else:
        pyx_conv_rows_f64(s, x, w, bias, out, r0, r1, p0, p1)


def _kernel_weights(const floating[:, :, ::1] w, const floating[::1] bias, int algorithm):
    """The weights and bias in the layout of the kernel `algorithm` (a direct one:
    direct, paired or tap-paired; see ``src_c/conv_kernels.h``), and the filter count
    that layout pads to: ``(w_k, b_k, filters_padded)``."""
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t run = w.shape[1]
    cdef Py_ssize_t n_filters = w.shape[2]
    cdef Py_ssize_t lanes = pyx_conv_direct_lanes(floating is double, n_filters)
    cdef floating[:, :, ::1] w_pair
    cdef floating[::1] b_pair
    dtype = np.float32 if floating is float else np.float64
    if algorithm == PYX_CONV_PAIRED:
        # each of the (up to 8) filters twice, for the two pixels sharing a register;
        # the bias after the weights, in one array
        packed = np.zeros(kh * run * 16 + 16, dtype=dtype)
        w_pad = packed[:kh * run * 16].reshape(kh, run, 16)
        b_pad = packed[kh * run * 16:]
        w_pair = w_pad
        b_pair = b_pad
        _pair_up(w, bias, w_pair, b_pair)
        return w_pad, b_pad, 16
    if algorithm == PYX_CONV_TAP_PAIRED:
        # taps k, k+1 of a run side by side in a register: lane 2f + q holds
        # w[i, 2p + q, f]; the bias in the even lanes
        w_pad = _aligned_zeros((kh, run // 2, 16), dtype)
        w_pad[:, :, :2 * n_filters] = np.asarray(w).reshape(
            kh, run // 2, 2, n_filters).transpose(0, 1, 3, 2).reshape(kh, run // 2, -1)
        b_pad = np.zeros(16, dtype=dtype)
        b_pad[0:2 * n_filters:2] = bias
        return w_pad, b_pad, 16
    # the direct kernel: panels of filters, zero-padded to whole registers, in a
    # copy starting on a cache line (each register of weights is one line, not two)
    cdef pyx_conv_shape s
    s.kh, s.kw, s.channels, s.filters = kh, 1, run, n_filters
    s.filters_padded = (n_filters + lanes - 1) // lanes * lanes
    w_pad = _aligned_zeros((kh, run, s.filters_padded), dtype)
    b_pad = _aligned_zeros((s.filters_padded,), dtype)
    cdef floating[:, :, ::1] w_packed = w_pad
    cdef floating[::1] b_packed = b_pad
    if floating is float:
        pyx_conv_pack_direct_f32(&s, &w[0, 0, 0], &bias[0], &w_packed[0, 0, 0], &b_packed[0])
    else:
        pyx_conv_pack_direct_f64(&s, &w[0, 0, 0], &bias[0], &w_packed[0, 0, 0], &b_packed[0])
    return w_pad, b_pad, s.filters_padded


# The direct kernel's packed weights up to this size run all their panels in one
# work item (half of a 512 KiB L2; see _conv2d_forward).
cdef size_t _ONE_GROUP_BYTES = 256 * 1024


cdef inline Py_ssize_t _windows(Py_ssize_t size, Py_ssize_t extent, Py_ssize_t stride):
    """How many windows of `extent` values, `stride` apart, fit in `size` values."""
    return 0 if size < extent else (size - extent) // stride + 1


cdef tuple _four(const Py_ssize_t* shape):
    return (shape[0], shape[1], shape[2], shape[3])


cdef int _check_windows(const Py_ssize_t* x_shape, Py_ssize_t kh, Py_ssize_t run,
                        const Py_ssize_t* out_shape, Py_ssize_t sh, Py_ssize_t sw,
                        Py_ssize_t dh, Py_ssize_t dw, str what) except -1:
    """ValueError unless `out_shape` ``(N, Ho, Wo, F)`` fits the windows of `kh` x
    ``run // C`` filters on `x_shape` ``(N, Hp, Wp, C)`` (the kernels read no further)."""
    cdef Py_ssize_t n = x_shape[0], hp = x_shape[1], wp = x_shape[2], c = x_shape[3]
    cdef Py_ssize_t kw = run // c if c else run
    if (sh < 1 or sw < 1 or c == 0 or run % c or out_shape[0] != n
            or (out_shape[1] and out_shape[2]
                and (out_shape[1] > _windows(hp, (kh - 1) * dh + 1, sh)
                     or out_shape[2] > _windows(wp, (kw - 1) * dw + 1, sw)))):
        raise ValueError(f"{what} of shape {_four(out_shape)} does not fit the windows "
                         f"of {kh}x{kw} filters dilated {dh}x{dw} at "
                         f"strides {sh}x{sw} on {_four(x_shape)}")
    return 0


def _conv2d_forward(
    const floating[:, :, :, ::1] x,
    const floating[:, :, ::1] w,
    const floating[::1] bias,
    floating[:, :, :, ::1] out,
    stride,
    int n_threads,
    dilation=1,
    clamp_max=None,
    kept=None,
    zero_rows=(0, 0),
):
    """out[n, y, x, f] = bias[f] + sum_{i, j, c} x[n, y*sh + i*dh, x*sw + j*dw, c] * w[i, j*C+c, f].

    `stride` ``(sh, sw)`` and `dilation` ``(dh, dw)`` are ints or pairs. With
    `clamp_max` a float m >= 0, each value v is stored as ``min(max(v, 0), m)``
    (0 where v <= 0, NaN stays NaN; ``inf``: a ReLU), applied as the output is
    stored. `kept`: None, or a dict of the caller's that keeps the weights packed
    for the kernel (:func:`_kernel_weights`, one entry per algorithm) for its next
    calls with the same `w` and `bias` (:mod:`pyx_cnn._kept_weights`).
    `zero_rows` ``(top, bottom)``: how many of the first and of the last rows of
    each image of `x` are zero padding, whose products the direct kernel leaves out
    (``zero_top`` in ``src_c/conv_kernels.h``): for finite filters only (``0 * inf``
    is NaN), where the sums are the same but for the sign of a zero sum.
    """
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t run = w.shape[1]
    cdef Py_ssize_t n_filters = w.shape[2]
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t rows = n_batch * h_out
    cdef Py_ssize_t t
    cdef int nt
    cdef Py_ssize_t sh, sw, dh, dw
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    cdef pyx_conv_shape s
    cdef const floating[:, :, :, ::1] x_k = x
    cdef const floating[:, :, ::1] w_k = w
    cdef const floating[::1] b_k = bias
    cdef Py_ssize_t n_chunks, n_panels, n_groups, per_item, chunk
    if rows == 0 or w_out == 0:
        return
    _check_windows(x.shape, kh, run, out.shape, sh, sw, dh, dw, "out")
    s = _shape(x.shape, kh, run // channels, n_filters, n_filters, h_out, w_out, sh, sw, dh, dw)
    s.algorithm = pyx_conv_choose(&s, floating is double)
    s.zero_top, s.zero_bottom = _zero_rows(zero_rows, x.shape[1])
    if clamp_max is not None:
        s.clamp, s.clamp_max = 1, clamp_max
    if s.algorithm == PYX_CONV_PLANAR:
        if channels > 1:   # (N, Hp, Wp, C) -> (N, C, Hp, Wp); for C == 1 it is the same memory
            x_k = np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))
    else:
        w_k, b_k, s.filters_padded = prepared(kept, ("kernel_weights", s.algorithm),
                                              _kernel_weights, w, bias, s.algorithm)
    nt = threads_for(rows * w_out * kh * run * n_filters, rows, n_threads, FAMILY_CONV)
    # work items of output rows x groups of panels of filters, handed out as
    # threads come free (a thread whose core another program's threads hold
    # takes fewer); a row's arithmetic does not depend on the item it falls in.
    # Weights that fit in L2 make one group: the kernel runs every panel on a
    # tile of rows before the next tile, so the tile's input is read from memory
    # once. Larger weights take a panel per item, whose weights stay in cache
    # over the item's rows.
    n_panels = pyx_conv_panels(&s, floating is double)
    per_item = (n_panels if kh * run * s.filters_padded * sizeof(floating) <= _ONE_GROUP_BYTES
                else 1)
    n_groups = (n_panels + per_item - 1) // per_item
    n_chunks = max(1, min(rows, nt * 8 // n_groups)) if nt > 1 else 1
    with nogil:
        if nt == 1:     # no parallel region for one thread (_threads.pxd)
            for t in range(n_groups):
                _run_rows(&s, &x_k[0, 0, 0, 0], &w_k[0, 0, 0], &b_k[0], &out[0, 0, 0, 0],
                          0, rows, t * per_item, (t + 1) * per_item)
        else:
            for t in prange(n_chunks * n_groups, num_threads=nt, schedule="dynamic"):
                chunk = t % n_chunks
                _run_rows(&s, &x_k[0, 0, 0, 0], &w_k[0, 0, 0], &b_k[0], &out[0, 0, 0, 0],
                          rows * chunk // n_chunks, rows * (chunk + 1) // n_chunks,
                          t // n_chunks * per_item, (t // n_chunks + 1) * per_item)


def _conv2d_forward_padding(
    const floating[:, :, :, :] src,
    Py_ssize_t top,
    Py_ssize_t left,
    Py_ssize_t hp,
    Py_ssize_t wp,
    const floating[:, :, ::1] w,
    const floating[::1] bias,
    floating[:, :, :, ::1] out,
    int n_threads,
    dilation=1,
    clamp_max=None,
    kept=None,
    stride=1,
    bint skip_zero_rows=False,
):
    """:func:`_conv2d_forward` of `src` zero-padded to ``(N, hp, wp, C)``
    (`src` ``(N, h, w, C)``, rows of w*C contiguous values, at rows ``top:top + h``
    and columns ``left:left + w``), without writing the padded batch whole: each
    thread pads one image at a time into a buffer of its own (which stays in its
    cache) and runs the kernel on it (direct, paired or tap-paired, as
    ``pyx_conv_choose`` says). The same arithmetic, so the same values, as padding
    first; `stride`, `clamp_max` and `kept` as :func:`_conv2d_forward`'s.
    `skip_zero_rows`: the padding's rows are its `zero_rows` (the caller knows the
    filters finite, so that leaving their products out changes no value).

    Falls back to padding first where the work is not cut by images: for the
    planar kernel, or when there are too few images for the threads.
    """
    cdef Py_ssize_t n_batch = src.shape[0]
    cdef Py_ssize_t h = src.shape[1]
    cdef Py_ssize_t wd = src.shape[2]
    cdef Py_ssize_t channels = src.shape[3]
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t run = w.shape[1]
    cdef Py_ssize_t n_filters = w.shape[2]
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t image = hp * wp * channels
    cdef Py_ssize_t n, y, tid
    # the rows of zeros the kernel may leave out: the padding's, with finite filters
    cdef Py_ssize_t zero_top = top if skip_zero_rows else 0
    cdef Py_ssize_t zero_bottom = hp - top - h if skip_zero_rows else 0
    cdef size_t row_bytes = wd * channels * sizeof(floating)
    cdef Py_ssize_t sh, sw, dh, dw
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    cdef pyx_conv_shape s
    cdef const floating[:, :, ::1] w_k
    cdef const floating[::1] b_k
    cdef floating[:, ::1] scratch
    cdef floating* padded
    cdef Py_ssize_t x_shape[8]
    cdef int nt = threads_for(n_batch * h_out * w_out * kh * run * n_filters, n_batch,
                              n_threads, FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    if top < 0 or left < 0 or top + h > hp or left + wd > wp:
        raise ValueError(f"src of {h}x{wd} at row {top}, column {left} does not fit in "
                         f"{hp}x{wp}")
    if (out.shape[0] != n_batch or out.shape[3] != n_filters or run % channels != 0
            or sh < 1 or sw < 1 or h_out != _windows(hp, (kh - 1) * dh + 1, sh)
            or w_out != _windows(wp, (run // channels - 1) * dw + 1, sw)):
        raise ValueError(f"out of shape {tuple(out.shape)[:4]} is not the output of "
                         f"{kh}x{run // channels} filters dilated {dh}x{dw} at strides "
                         f"{sh}x{sw} on ({n_batch}, {hp}, {wp}, {channels})")
    if n_batch == 0 or h_out == 0 or w_out == 0:
        return
    if channels > 0:
        x_shape[1], x_shape[2], x_shape[3] = hp, wp, channels
        s = _shape(x_shape, kh, run // channels, n_filters, n_filters, h_out, w_out, sh, sw,
                   dh, dw)
        s.algorithm = pyx_conv_choose(&s, floating is double)
    if (h == 0 or wd == 0 or channels == 0 or s.algorithm == PYX_CONV_PLANAR
            or (nt > 1 and n_batch < 8 * nt)):
        xp = np.empty((n_batch, hp, wp, channels), dtype=dtype)
        _pad_copy(src, xp, top, left, n_threads)
        _conv2d_forward(xp, w, bias, out, (sh, sw), n_threads, (dh, dw), clamp_max, kept,
                        (zero_top, zero_bottom))
        return
    s.zero_top, s.zero_bottom = zero_top, zero_bottom
    if clamp_max is not None:
        s.clamp, s.clamp_max = 1, clamp_max
    if (src.strides[3] != <Py_ssize_t>sizeof(floating)
            or src.strides[2] != channels * <Py_ssize_t>sizeof(floating)):
        raise ValueError("src must have contiguous rows of w*C values")
    w_k, b_k, s.filters_padded = prepared(kept, ("kernel_weights", s.algorithm),
                                          _kernel_weights, w, bias, s.algorithm)
    # one padded image per thread, each on cache lines of its own; the zeros
    # around are written once, only the inside changes from image to image
    scratch = _aligned_zeros((nt, (image + 15) // 16 * 16), dtype)
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="dynamic"):
            tid = threadid()
            padded = &scratch[tid, 0]
            for y in range(h):
                memcpy(padded + ((top + y) * wp + left) * channels, &src[n, y, 0, 0],
                       row_bytes)
            _run_rows(&s, padded, &w_k[0, 0, 0], &b_k[0], &out[n, 0, 0, 0], 0, h_out, 0,
                      PTRDIFF_MAX)


# Filter gradients are summed per group of samples, about this many output
# pixels each (from the shape alone), and the groups' sums added in order; at
# most _MAX_GROUPS groups bound the workspace.
cdef Py_ssize_t _GROUP_PIXELS = 4096
cdef Py_ssize_t _MAX_GROUPS = 64


cdef inline void _wgrad_item(
    const pyx_conv_shape* s, const floating* x, const floating* g, const floating* g_tail,
    Py_ssize_t tail_begin, floating* part, floating* bias_part, Py_ssize_t n0, Py_ssize_t n1,
    Py_ssize_t i0, Py_ssize_t i1,
) noexcept nogil:
    """One work item of the filter gradient: the sums of kernel rows [i0, i1) over samples
    [n0, n1) into `part`, and with kernel row 0 the bias's into `bias_part`."""
    if floating is float:
        pyx_conv_wgrad_rows_f32(s, x, g, g_tail, tail_begin, part, n0, n1, i0, i1)
        if i0 == 0:
            pyx_conv_wgrad_bias_f32(s, g, g_tail, tail_begin, bias_part, n0, n1)
    else:
        pyx_conv_wgrad_rows_f64(s, x, g, g_tail, tail_begin, part, n0, n1, i0, i1)
        if i0 == 0:
            pyx_conv_wgrad_bias_f64(s, g, g_tail, tail_begin, bias_part, n0, n1)


cdef inline void _wgrad_work_item(
    const pyx_conv_shape* s, const floating* x, const floating* g, const floating* g_tail,
    Py_ssize_t tail_begin, floating* part, floating* bias_part, Py_ssize_t item,
    Py_ssize_t row_items, Py_ssize_t rows_per_item, Py_ssize_t per_group, Py_ssize_t n_batch,
) noexcept nogil:
    """Work item `item` of :func:`_conv2d_filter_grad`: group of samples ``item //
    row_items`` (`per_group` samples, of `n_batch`), block of kernel rows ``item %
    row_items`` (`rows_per_item` rows), into that group's slice of `part` and
    `bias_part`."""
    cdef Py_ssize_t grp = item // row_items
    cdef Py_ssize_t i = (item - grp * row_items) * rows_per_item
    cdef Py_ssize_t n0 = grp * per_group
    cdef Py_ssize_t weights = s.kh * s.kw * s.channels
    _wgrad_item(s, x, g, g_tail, tail_begin, part + grp * weights * s.filters_padded,
                bias_part + grp * s.filters_padded, n0, min(n_batch, n0 + per_group), i,
                min(s.kh, i + rows_per_item))


cdef void _add_groups(const floating* part, Py_ssize_t n_groups, Py_ssize_t rows,
                      Py_ssize_t padded, Py_ssize_t width, floating* out) noexcept nogil:
    """out[r, f] = sum over g, in order, of part[g, r, f]: `part` ``(n_groups, rows,
    padded)``, its first `width` columns summed into `out` ``(rows, width)``."""
    cdef Py_ssize_t g, r, f
    for r in range(rows):
        for f in range(width):
            out[r * width + f] = part[r * padded + f]
        for g in range(1, n_groups):
            for f in range(width):
                out[r * width + f] += part[(g * rows + r) * padded + f]


def _conv2d_filter_grad(
    const floating[:, :, :, ::1] x,
    const floating[:, :, :, ::1] grad_out,
    floating[:, :, ::1] grad_w,
    floating[::1] grad_b,
    stride,
    int n_threads,
    dilation=1,
):
    """grad_w, grad_b (overwritten): the gradients of the filters and the bias.

    ``grad_w[i, j*C + c, f] = sum_{n, y, x} x[n, y*sh + i*dh, x*sw + j*dw, c] * grad_out[n, y, x, f]``
    (`x` padded, ``(N, Hp, Wp, C)``; `grad_w` in the forward kernel's layout
    ``(kh, kw*C, F)``) and ``grad_b[f] = sum_{n, y, x} grad_out[n, y, x, f]``.
    `stride` and `dilation` are ints or pairs.
    """
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t kh = grad_w.shape[0]
    cdef Py_ssize_t run = grad_w.shape[1]
    cdef Py_ssize_t n_filters = grad_w.shape[2]
    cdef Py_ssize_t h_out = grad_out.shape[1]
    cdef Py_ssize_t w_out = grad_out.shape[2]
    cdef Py_ssize_t sh, sw, dh, dw, lanes, fp, per_group, n_groups, item
    cdef Py_ssize_t rows_per_item, row_items, row_len, tail_rows, tail_begin, weights
    cdef pyx_conv_shape s
    cdef floating* tail
    cdef floating* part
    cdef floating* bias_part
    cdef int nt
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    if n_batch == 0 or h_out == 0 or w_out == 0 or n_filters == 0 or channels == 0:
        grad_w[:, :, :] = 0
        grad_b[:] = 0
        return
    _check_windows(&x.shape[0], kh, run, &grad_out.shape[0], sh, sw, dh, dw, "grad_out")
    lanes = pyx_conv_direct_lanes(floating is double, n_filters)
    fp = (n_filters + lanes - 1) // lanes * lanes
    s = _shape(x.shape, kh, run // channels, n_filters, fp, h_out, w_out, sh, sw, dh, dw)
    # (cdivision: C integer division, so ceilings are written out)
    per_group = max(1, (_GROUP_PIXELS + h_out * w_out - 1) // (h_out * w_out),
                    (n_batch + _MAX_GROUPS - 1) // _MAX_GROUPS)
    n_groups = (n_batch + per_group - 1) // per_group
    # kernel rows per work item: several when a window row is short (their sums are
    # computed together), else one
    rows_per_item = pyx_conv_wgrad_rows_per_item(&s, floating is double)
    row_items = (kh + rows_per_item - 1) // rows_per_item
    nt = threads_for(n_batch * h_out * w_out * kh * run * n_filters, n_groups * row_items,
                     n_threads, FAMILY_CONV)
    # the kernels load whole registers of filters, up to fp - F values past a pixel's
    # F: the rows whose loads would run past the array are read from a copy of them
    # with zeros after it (`tail`, the rows from tail_begin on); each group of images
    # sums into its own slice of the workspace (`part`, `bias_part`: fp filters)
    row_len = w_out * n_filters
    tail_rows = min(n_batch * h_out, 1 + (fp - n_filters - 1) // row_len) if fp > n_filters else 0
    tail_begin = n_batch * h_out - tail_rows
    weights = kh * run
    tail = <floating*>calloc(tail_rows * row_len + fp, sizeof(floating))
    part = <floating*>malloc(n_groups * weights * fp * sizeof(floating))
    bias_part = <floating*>malloc(n_groups * fp * sizeof(floating))
    try:
        if tail == NULL or part == NULL or bias_part == NULL:
            raise MemoryError("no memory for the filter gradient's workspace")
        with nogil:
            if tail_rows:
                memcpy(tail, &grad_out[0, 0, 0, 0] + tail_begin * row_len,
                       tail_rows * row_len * sizeof(floating))
            # work items (group, block of kernel rows), handed out as threads come free;
            # each writes its own slice of the workspace
            if nt == 1:     # no parallel region for one thread (_threads.pxd)
                for item in range(n_groups * row_items):
                    _wgrad_work_item(&s, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0], tail,
                                     tail_begin, part, bias_part, item, row_items,
                                     rows_per_item, per_group, n_batch)
            else:
                for item in prange(n_groups * row_items, num_threads=nt, schedule="dynamic"):
                    _wgrad_work_item(&s, &x[0, 0, 0, 0], &grad_out[0, 0, 0, 0], tail,
                                     tail_begin, part, bias_part, item, row_items,
                                     rows_per_item, per_group, n_batch)
            # the groups' sums, added in group order (the first F of each fp)
            _add_groups(part, n_groups, weights, fp, n_filters, &grad_w[0, 0, 0])
            _add_groups(bias_part, n_groups, 1, fp, n_filters, &grad_b[0])
    finally:
        free(tail)
        free(part)
        free(bias_part)


def _pad_copy(
    const floating[:, :, :, :] src,
    floating[:, :, :, ::1] out,
    Py_ssize_t top,
    Py_ssize_t left,
    int n_threads,
):
    """out[:, top:top + h, left:left + w] = src (``(N, h, w, C)``, each row of w*C
    values contiguous: a C-contiguous array or a slice of one along H and W), zeros
    elsewhere (`out`: ``(N, Hp, Wp, C)``, C-contiguous): the padded copy the kernels
    read, its rows written by the threads side by side."""
    cdef Py_ssize_t n_batch = src.shape[0]
    cdef Py_ssize_t h = src.shape[1]
    cdef Py_ssize_t w = src.shape[2]
    cdef Py_ssize_t c = out.shape[3]
    cdef Py_ssize_t hp = out.shape[1]
    cdef Py_ssize_t wp = out.shape[2]
    cdef Py_ssize_t r, n, y
    cdef size_t item = sizeof(floating)
    cdef floating* row
    cdef int nt = threads_for(n_batch * hp * wp * c, n_batch * hp, n_threads, FAMILY_MAP)
    if n_batch == 0 or hp == 0 or wp == 0 or c == 0:
        return
    if w > 0 and (src.strides[3] != <Py_ssize_t>item or src.strides[2] != c * <Py_ssize_t>item):
        raise ValueError("src must have contiguous rows of w*C values")
    with nogil:
        # rows handed out as threads come free (a thread whose core is taken does fewer)
        for r in prange(n_batch * hp, num_threads=nt, schedule="dynamic", chunksize=32):
            n = r // hp
            y = r - n * hp
            row = &out[n, y, 0, 0]
            if y < top or y >= top + h or w == 0:
                memset(row, 0, wp * c * item)
            else:
                memset(row, 0, left * c * item)
                memcpy(row + left * c, &src[n, y - top, 0, 0], w * c * item)
                memset(row + (left + w) * c, 0, (wp - left - w) * c * item)
