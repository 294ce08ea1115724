"""Max pooling kernels, channels-last: the inference forward pass (SIMD), and the
training forward pass that records each window's argmax, with its backward pass.

Private: :mod:`pyx_cnn.ops.max_pool` calls these on validated arrays.

Windows may reach into the padding, ``pads = ((top, bottom), (left, right))``
(and past the input in ceil mode): window ``(oy, ox)`` starts at input row
``oy*stride - top`` and column ``ox*stride - left``, and only its values inside
the input take part (the padding never wins). Every window must hold at least one
input value (checked: ValueError otherwise).

The inference kernel's loops are in ``src_c/pool_simd.c`` (SIMD registers hold
consecutive channels of one pixel; NaN propagates).
Max pooling for training records, in the forward pass, where each window's
maximum came from: ``argmax[n, y, x, c]`` is the offset ``(iy*W + ix)*C + c``
of the winning element inside sample ``n`` of the input, an int32 (the layer
checks that a sample holds fewer than 2**31 values; 32-bit offsets next to
float32 values keep the channel loop in lanes of one width). Ties go to the first
maximum in row-major window order; a NaN in a window is the maximum (as in the
inference kernel, where NaN propagates) and the first NaN wins. The backward
pass adds each output gradient to its recorded position. Windows may overlap
(``stride < size``), so two outputs can route to one input: the work is split
over the batch, each sample's gradient being written by one thread only.

With ``fuse_relu`` the forward pass returns ``max(0, max(window))``, which equals
``max(relu(window))``; the backward pass then routes a gradient only where that
output is positive, which is the gradient of ReLU followed by max pooling.
"""
from cython.parallel cimport prange
from libc.stdint cimport int32_t
from libc.string cimport memset

from cython cimport floating
from pyx_cnn._pool_shape cimport pool_shape, pyx_pool_inside, pyx_pool_shape
from pyx_cnn._threads cimport FAMILY_MAP, FAMILY_POOL, ranges_for, threads_for


cdef extern from "pool_kernels.h" nogil:
    void pyx_maxpool_rows_f32(const pyx_pool_shape* s, const float* x, float* out,
                              Py_ssize_t r0, Py_ssize_t r1)
    void pyx_maxpool_rows_f64(const pyx_pool_shape* s, const double* x, double* out,
                              Py_ssize_t r0, Py_ssize_t r1)
    void pyx_maxpool_argmax_sample_f32(const pyx_pool_shape* s, const float* x, float* out,
                                       int32_t* arg, int relu)
    void pyx_maxpool_argmax_sample_f64(const pyx_pool_shape* s, const double* x, double* out,
                                       int32_t* arg, int relu)


def _maxpool2d_forward(
    const floating[:, :, :, ::1] x,
    floating[:, :, :, ::1] out,
    Py_ssize_t size,
    Py_ssize_t stride,
    int n_threads,
    pads=((0, 0), (0, 0)),
):
    """out[n, y, x, c] = max_{i, j < size} x[n, y*stride-top+i, x*stride-left+j, c] over
    the values inside the input (NaN propagates).

    The loops are in ``src_c/pool_simd.c``: SIMD registers hold consecutive
    channels of one pixel (AVX2 when the CPU has it and the channels fill it).
    """
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t rows = n_batch * h_out
    cdef Py_ssize_t t, n_ranges
    cdef int nt
    cdef pyx_pool_shape s = pool_shape(x.shape, out.shape, size, stride, pads, True)
    nt = threads_for(rows * w_out * channels * size * size, rows, n_threads, FAMILY_POOL)
    if rows == 0 or w_out == 0 or channels == 0:
        return
    # ranges of output rows handed out as threads come free (a thread whose core
    # is busy with another program's threads takes fewer); a row's values do not
    # depend on the range it falls in
    n_ranges = min(rows, 8 * nt) if nt > 1 else 1
    with nogil:
        for t in prange(n_ranges, num_threads=nt, schedule="dynamic"):
            if floating is float:
                pyx_maxpool_rows_f32(&s, &x[0, 0, 0, 0], &out[0, 0, 0, 0],
                                     rows * t // n_ranges, rows * (t + 1) // n_ranges)
            else:
                pyx_maxpool_rows_f64(&s, &x[0, 0, 0, 0], &out[0, 0, 0, 0],
                                     rows * t // n_ranges, rows * (t + 1) // n_ranges)


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* take ? a : b through bit masks: never a branch, whatever the compiler
       decides (a window's comparisons are unpredictable on real data) */
    static inline float pyx_select_f(int take, float a, float b) {
        uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)(take != 0);
        memcpy(&ua, &a, sizeof ua); memcpy(&ub, &b, sizeof ub);
        ua = (ua & m) | (ub & ~m);
        memcpy(&a, &ua, sizeof a);
        return a;
    }
    static inline double pyx_select_d(int take, double a, double b) {
        uint64_t ua, ub, m = (uint64_t)0 - (uint64_t)(take != 0);
        memcpy(&ua, &a, sizeof ua); memcpy(&ub, &b, sizeof ub);
        ua = (ua & m) | (ub & ~m);
        memcpy(&a, &ua, sizeof a);
        return a;
    }
    static inline int32_t pyx_select_i(int take, int32_t a, int32_t b) {
        int32_t m = -(int32_t)(take != 0);
        return (a & m) | (b & ~m);
    }
    """
    float pyx_select_f(int take, float a, float b) noexcept nogil
    double pyx_select_d(int take, double a, double b) noexcept nogil
    int32_t pyx_select_i(int take, int32_t a, int32_t b) noexcept nogil

cdef inline void _argmax_window(
    const floating* x,          # x[n], (H, W, C)
    floating* ob,               # the window's output pixel, (C,)
    int32_t* ab,                # its argmax, (C,)
    Py_ssize_t base,            # offset of the window's first value in x[n]
    Py_ssize_t rows,
    Py_ssize_t cols,
    Py_ssize_t width,
    Py_ssize_t channels,
    bint fuse_relu,
) noexcept nogil:
    """The maximum of a rows x cols window and its offset, for every channel."""
    cdef Py_ssize_t i, j, c, pos
    cdef floating v, b
    cdef int take
    cdef const floating* xp
    for c in range(channels):
        ob[c] = x[base + c]
        ab[c] = base + c
    # window elements in row-major order, channels innermost: the channels are
    # independent, and the selects are branch-free (the comparisons are
    # unpredictable on real data)
    for i in range(rows):
        for j in range(cols):
            if i == 0 and j == 0:
                continue
            pos = base + (i * width + j) * channels
            xp = x + pos
            for c in range(channels):
                v = xp[c]
                b = ob[c]
                # strict '>' keeps the first maximum; the first NaN wins
                # and then stays (nothing compares greater than NaN)
                take = (v > b) | ((v != v) & (b == b))
                if floating is float:
                    ob[c] = pyx_select_f(take, v, b)
                else:
                    ob[c] = pyx_select_d(take, v, b)
                ab[c] = pyx_select_i(take, pos + c, ab[c])
    if fuse_relu:
        for c in range(channels):
            b = ob[c]
            take = (b <= 0) & (b == b)
            if floating is float:
                ob[c] = pyx_select_f(take, 0, b)
            else:
                ob[c] = pyx_select_d(take, 0, b)


cdef inline void _pool_argmax_sample_clipped(
    const floating* x,          # x[n], (H, W, C)
    floating* out,              # out[n], (Ho, Wo, C)
    int32_t* arg,               # argmax[n], (Ho, Wo, C)
    Py_ssize_t height,
    Py_ssize_t width,
    Py_ssize_t channels,
    Py_ssize_t h_out,
    Py_ssize_t w_out,
    Py_ssize_t size,
    Py_ssize_t stride,
    Py_ssize_t pad_top,
    Py_ssize_t pad_left,
    bint fuse_relu,
) noexcept nogil:
    cdef Py_ssize_t oy, ox, o
    cdef Py_ssize_t i0, i1, j0, j1
    for oy in range(h_out):
        # the window's rows [i0, i1) and columns [j0, j1) inside the input
        i0 = oy * stride - pad_top
        i1 = min(i0 + size, height)
        i0 = max(i0, 0)
        for ox in range(w_out):
            j0 = ox * stride - pad_left
            j1 = min(j0 + size, width)
            j0 = max(j0, 0)
            o = (oy * w_out + ox) * channels
            _argmax_window(x, out + o, arg + o, (i0 * width + j0) * channels, i1 - i0,
                           j1 - j0, width, channels, fuse_relu)


cdef inline void _argmax_sample(const pyx_pool_shape* s, const floating* x, floating* out,
                                int32_t* argmax, bint fuse_relu) noexcept nogil:
    """One sample's windows: their maxima into `out`, their argmax into `argmax`."""
    if floating is float:
        pyx_maxpool_argmax_sample_f32(s, x, out, argmax, fuse_relu)
    else:
        pyx_maxpool_argmax_sample_f64(s, x, out, argmax, fuse_relu)


cdef inline void _backward_sample(floating* gx, const floating* g, const int32_t* a,
                                  const floating* out, Py_ssize_t x_sample,
                                  Py_ssize_t o_sample) noexcept nogil:
    """One sample's input gradient `gx` (`x_sample` values, overwritten): each of its
    `o_sample` output gradients `g` added at its argmax `a`; with `out` (the fused
    ReLU's output; NULL without) only where that output is positive."""
    cdef Py_ssize_t q
    memset(gx, 0, x_sample * sizeof(floating))
    if out != NULL:
        for q in range(o_sample):
            if floating is float:
                gx[a[q]] += pyx_select_f(out[q] > 0, g[q], 0)
            else:
                gx[a[q]] += pyx_select_d(out[q] > 0, g[q], 0)
    else:
        for q in range(o_sample):
            gx[a[q]] += g[q]


def _maxpool2d_forward_argmax(
    const floating[:, :, :, ::1] x,
    floating[:, :, :, ::1] out,
    int32_t[:, :, :, ::1] argmax,
    Py_ssize_t size,
    Py_ssize_t stride,
    bint fuse_relu,
    int n_threads,
    pads=((0, 0), (0, 0)),
):
    """Max pooling that also records each window's argmax (offset inside the sample)."""
    cdef Py_ssize_t pad_top = pads[0][0]
    cdef Py_ssize_t pad_left = pads[1][0]
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t width = x.shape[2]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t x_sample = x.shape[1] * width * channels
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t o_sample = h_out * w_out * channels
    cdef Py_ssize_t n, chunk
    cdef int nt
    cdef pyx_pool_shape s = pool_shape(x.shape, out.shape, size, stride, pads, True)
    cdef bint inside = pyx_pool_inside(&s)
    if (argmax.shape[0] != out.shape[0] or argmax.shape[1] != out.shape[1]
            or argmax.shape[2] != out.shape[2] or argmax.shape[3] != out.shape[3]):
        raise ValueError("argmax must have the output's shape")
    nt = threads_for(n_batch * o_sample * size * size, n_batch, n_threads, FAMILY_POOL)
    if n_batch == 0 or o_sample == 0:
        return
    # runs of samples handed out as threads come free (ranges_for): one sample at a
    # time, the threads took turns on neighbouring samples, whose outputs share cache
    # lines, and 2 threads pooled 512 samples of 6x6x8 seven times slower than one
    chunk = n_batch // ranges_for(n_batch, nt)
    if inside:
        with nogil:
            if nt == 1:     # no parallel region for one thread (_threads.pxd)
                for n in range(n_batch):
                    _argmax_sample(&s, &x[0, 0, 0, 0] + n * x_sample,
                                   &out[0, 0, 0, 0] + n * o_sample,
                                   &argmax[0, 0, 0, 0] + n * o_sample, fuse_relu)
            else:
                for n in prange(n_batch, num_threads=nt, schedule="dynamic", chunksize=chunk):
                    _argmax_sample(&s, &x[0, 0, 0, 0] + n * x_sample,
                                   &out[0, 0, 0, 0] + n * o_sample,
                                   &argmax[0, 0, 0, 0] + n * o_sample, fuse_relu)
        return
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="dynamic", chunksize=chunk):
            _pool_argmax_sample_clipped(
                &x[0, 0, 0, 0] + n * x_sample, &out[0, 0, 0, 0] + n * o_sample,
                &argmax[0, 0, 0, 0] + n * o_sample, x.shape[1], width, channels, h_out,
                w_out, size, stride, pad_top, pad_left, fuse_relu,
            )


def _maxpool2d_backward(
    const floating[:, :, :, ::1] grad_out,
    const int32_t[:, :, :, ::1] argmax,
    const floating[:, :, :, ::1] out,
    floating[:, :, :, ::1] grad_x,
    bint fuse_relu,
    int n_threads,
):
    """grad_x (overwritten): each grad_out added at its window's argmax.

    With `fuse_relu`, only where the forward output `out` is positive (`out` is
    not read otherwise).
    """
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t x_sample = grad_x.shape[1] * grad_x.shape[2] * grad_x.shape[3]
    cdef Py_ssize_t o_sample = grad_out.shape[1] * grad_out.shape[2] * grad_out.shape[3]
    cdef Py_ssize_t n, chunk
    cdef int nt
    nt = threads_for(n_batch * (x_sample + o_sample), n_batch, n_threads, FAMILY_MAP)
    if n_batch == 0 or x_sample == 0:
        return
    chunk = n_batch // ranges_for(n_batch, nt)     # runs of samples, as above
    with nogil:
        if nt == 1:     # no parallel region for one thread (_threads.pxd)
            for n in range(n_batch):
                _backward_sample(&grad_x[0, 0, 0, 0] + n * x_sample,
                                 &grad_out[0, 0, 0, 0] + n * o_sample,
                                 &argmax[0, 0, 0, 0] + n * o_sample,
                                 &out[0, 0, 0, 0] + n * o_sample if fuse_relu else NULL,
                                 x_sample, o_sample)
        else:
            for n in prange(n_batch, num_threads=nt, schedule="dynamic", chunksize=chunk):
                _backward_sample(&grad_x[0, 0, 0, 0] + n * x_sample,
                                 &grad_out[0, 0, 0, 0] + n * o_sample,
                                 &argmax[0, 0, 0, 0] + n * o_sample,
                                 &out[0, 0, 0, 0] + n * o_sample if fuse_relu else NULL,
                                 x_sample, o_sample)
