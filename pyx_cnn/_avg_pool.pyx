"""Average pooling and global (average, max) pooling kernels, channels-last.

Private: :mod:`pyx_cnn.ops.avg_pool` and :mod:`pyx_cnn.ops.global_pool` are the
callers; their callers validate. Arrays are C-contiguous ``(N, H, W, C)`` (input)
of one float dtype.

Average pooling (as PyTorch's ``avg_pool2d``): ``out[n, y, x, c]`` is the sum of
the ``size x size`` window at ``(y*stride - top, x*stride - left)`` divided by
``size*size`` when the window lies inside the input. With padding ``pads =
((top, bottom), (left, right))`` (or ceil mode's last window past the input) only
the window's values inside the input are summed, and the divisor is their count,
or with `count_include_pad` the count of the window's positions inside the padded
input (see ``src_c/pool_kernels.h``). Every window must hold at least one input
value (checked: ValueError otherwise). The backward pass
is written as a gather: each input pixel sums the gradients of the windows that
cover it, so every value of ``grad_x`` is written by one thread only (no races,
and the same result whatever the thread count), and the work splits over the
rows of the whole batch, not only over its samples. The loops of both passes are
C kernels in ``src_c/pool_simd.c`` (SIMD registers hold consecutive channels).

Global pooling reduces ``(N, H, W, C)`` to ``(N, C)``. The average is summed in
double precision. The maximum records where it came from: ``argmax[n, c]`` is
the pixel index ``iy*W + ix``; ties go to the first maximum in row-major order,
and a NaN is the maximum (the first NaN wins), as in max pooling.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from pyx_cnn._pool_shape cimport pool_shape, pyx_pool_inside, pyx_pool_shape
from pyx_cnn._threads cimport FAMILY_MAP, FAMILY_POOL, FAMILY_SUMS, ranges_for, threads_for


cdef extern from "pool_kernels.h" nogil:
    void pyx_avgpool_rows_f32(const pyx_pool_shape* s, const float* x, float* out,
                              Py_ssize_t r0, Py_ssize_t r1)
    void pyx_avgpool_rows_f64(const pyx_pool_shape* s, const double* x, double* out,
                              Py_ssize_t r0, Py_ssize_t r1)
    void pyx_avgpool_backward_rows_f32(const pyx_pool_shape* s, const float* g, float* gx,
                                       Py_ssize_t r0, Py_ssize_t r1)
    void pyx_avgpool_backward_rows_f64(const pyx_pool_shape* s, const double* g,
                                       double* gx, Py_ssize_t r0, Py_ssize_t r1)
    void pyx_avgpool_scale_rows_f32(const pyx_pool_shape* s, const float* g, float* scaled,
                                    Py_ssize_t r0, Py_ssize_t r1)
    void pyx_avgpool_scale_rows_f64(const pyx_pool_shape* s, const double* g,
                                    double* scaled, Py_ssize_t r0, Py_ssize_t r1)
    void pyx_avgpool_gather_rows_f32(const pyx_pool_shape* s, const float* scaled,
                                     float* gx, Py_ssize_t r0, Py_ssize_t r1)
    void pyx_avgpool_gather_rows_f64(const pyx_pool_shape* s, const double* scaled,
                                     double* gx, Py_ssize_t r0, Py_ssize_t r1)


def _avgpool2d_forward(
    const floating[:, :, :, ::1] x,
    floating[:, :, :, ::1] out,
    Py_ssize_t size,
    Py_ssize_t stride,
    int n_threads,
    pads=((0, 0), (0, 0)),
    bint count_include_pad=True,
):
    """out[n, y, x, c] = mean_{i, j < size} x[n, y*stride+i, x*stride+j, c] (windows
    inside the input; see the module docstring for the others).

    The loops are in ``src_c/pool_simd.c`` (SIMD registers hold consecutive channels).
    """
    cdef Py_ssize_t rows = x.shape[0] * out.shape[1]
    cdef Py_ssize_t t, n_ranges
    cdef int nt
    cdef pyx_pool_shape s = pool_shape(x.shape, out.shape, size, stride, pads,
                                       count_include_pad)
    if rows == 0 or s.out_w == 0 or s.channels == 0:
        return
    nt = threads_for(rows * s.out_w * s.channels * size * size, rows, n_threads, FAMILY_POOL)
    # ranges of rows handed out as threads come free; a row's values do not
    # depend on the range it falls in
    n_ranges = ranges_for(rows, nt)
    with nogil:
        for t in prange(n_ranges, num_threads=nt, schedule="dynamic"):
            if floating is float:
                pyx_avgpool_rows_f32(&s, &x[0, 0, 0, 0], &out[0, 0, 0, 0],
                                     rows * t // n_ranges, rows * (t + 1) // n_ranges)
            else:
                pyx_avgpool_rows_f64(&s, &x[0, 0, 0, 0], &out[0, 0, 0, 0],
                                     rows * t // n_ranges, rows * (t + 1) // n_ranges)


def _avgpool2d_backward(
    const floating[:, :, :, ::1] grad_out,
    floating[:, :, :, ::1] grad_x,
    Py_ssize_t size,
    Py_ssize_t stride,
    int n_threads,
    pads=((0, 0), (0, 0)),
    bint count_include_pad=True,
):
    """grad_x (overwritten): each input pixel gets its share (the window's gradient over
    the window's divisor) of every window holding it.

    The loops are in ``src_c/pool_simd.c``, a gather over the rows of grad_x (with a
    shortcut when the windows do not overlap). Where windows are clipped, the output
    gradients are first divided by their windows' divisors (into a scratch array), then
    gathered.
    """
    cdef Py_ssize_t rows = grad_x.shape[0] * grad_x.shape[1]
    cdef Py_ssize_t t, per, n_ranges
    cdef int nt
    cdef pyx_pool_shape s = pool_shape(grad_x.shape, grad_out.shape, size, stride, pads,
                                       count_include_pad)
    if rows == 0 or s.in_w == 0 or s.channels == 0:
        return
    if s.out_h == 0 or s.out_w == 0:
        memset(&grad_x[0, 0, 0, 0], 0, rows * s.in_w * s.channels * sizeof(floating))
        return
    # each input value gathers ceil(size/stride)**2 windows at most
    per = (size + stride - 1) // stride
    nt = threads_for(rows * s.in_w * s.channels * (1 + per * per), rows, n_threads,
                     FAMILY_POOL)
    n_ranges = ranges_for(rows, nt)
    if not pyx_pool_inside(&s):
        _avgpool2d_backward_clipped(&s, &grad_out[0, 0, 0, 0], &grad_x[0, 0, 0, 0],
                                    grad_x.shape[0], nt)
        return
    with nogil:
        for t in prange(n_ranges, num_threads=nt, schedule="dynamic"):
            if floating is float:
                pyx_avgpool_backward_rows_f32(&s, &grad_out[0, 0, 0, 0], &grad_x[0, 0, 0, 0],
                                              rows * t // n_ranges, rows * (t + 1) // n_ranges)
            else:
                pyx_avgpool_backward_rows_f64(&s, &grad_out[0, 0, 0, 0], &grad_x[0, 0, 0, 0],
                                              rows * t // n_ranges, rows * (t + 1) // n_ranges)


cdef void _avgpool2d_backward_clipped(const pyx_pool_shape* s, const floating* g,
                                      floating* gx, Py_ssize_t n_batch, int nt) except *:
    """The backward pass where windows are clipped: scale, then gather (see
    ``src_c/pool_kernels.h``), each step split over rows."""
    cdef Py_ssize_t out_rows = n_batch * s.out_h
    cdef Py_ssize_t in_rows = n_batch * s.in_h
    cdef Py_ssize_t t, n_ranges
    cdef floating* scaled = <floating*>malloc(out_rows * s.out_w * s.channels
                                              * sizeof(floating))
    if scaled == NULL:
        raise MemoryError("average pooling's backward pass: no memory for the scaled "
                          "gradients")
    try:
        with nogil:
            n_ranges = ranges_for(out_rows, nt)
            for t in prange(n_ranges, num_threads=nt, schedule="dynamic"):
                if floating is float:
                    pyx_avgpool_scale_rows_f32(s, g, scaled, out_rows * t // n_ranges,
                                               out_rows * (t + 1) // n_ranges)
                else:
                    pyx_avgpool_scale_rows_f64(s, g, scaled, out_rows * t // n_ranges,
                                               out_rows * (t + 1) // n_ranges)
            n_ranges = ranges_for(in_rows, nt)
            for t in prange(n_ranges, num_threads=nt, schedule="dynamic"):
                if floating is float:
                    pyx_avgpool_gather_rows_f32(s, scaled, gx, in_rows * t // n_ranges,
                                                in_rows * (t + 1) // n_ranges)
                else:
                    pyx_avgpool_gather_rows_f64(s, scaled, gx, in_rows * t // n_ranges,
                                                in_rows * (t + 1) // n_ranges)
    finally:
        free(scaled)


def _global_avgpool_forward(
    const floating[:, :, :, ::1] x, floating[:, ::1] out, double[:, ::1] acc, int n_threads
):
    """out[n, c] = mean over (H, W) of x[n, :, :, c], summed in `acc` (N, C) doubles."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t pixels = x.shape[1] * x.shape[2]
    cdef Py_ssize_t n, p, c
    cdef double* a
    cdef const floating* xp
    cdef int nt
    if n_batch == 0 or channels == 0:
        return
    nt = threads_for(n_batch * pixels * channels, n_batch, n_threads, FAMILY_SUMS)
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="static"):
            a = &acc[n, 0]
            for c in range(channels):
                a[c] = 0
            for p in range(pixels):
                xp = &x[0, 0, 0, 0] + (n * pixels + p) * channels
                for c in range(channels):
                    a[c] += xp[c]
            for c in range(channels):
                out[n, c] = <floating>(a[c] / pixels)


def _global_avgpool_backward(
    const floating[:, ::1] grad_out, floating[:, :, :, ::1] grad_x, int n_threads
):
    """grad_x[n, y, x, c] = grad_out[n, c] / (H*W)."""
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t height = grad_x.shape[1]
    cdef Py_ssize_t width = grad_x.shape[2]
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t rows = n_batch * height
    cdef Py_ssize_t r, n, ix, c
    cdef floating pixels = <floating>(height * width)
    cdef floating* xp
    cdef int nt
    if rows == 0 or width == 0 or channels == 0:
        return
    nt = threads_for(rows * width * channels, rows, n_threads, FAMILY_MAP)
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            n = r // height
            for ix in range(width):
                xp = &grad_x[0, 0, 0, 0] + (r * width + ix) * channels
                for c in range(channels):
                    xp[c] = grad_out[n, c] / pixels


def _global_maxpool_forward(
    const floating[:, :, :, ::1] x, floating[:, ::1] out, int64_t[:, ::1] argmax,
    int n_threads
):
    """out[n, c] = max over (H, W) of x[n, :, :, c]; argmax[n, c] its pixel iy*W + ix."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t pixels = x.shape[1] * x.shape[2]
    cdef Py_ssize_t n, p, c
    cdef const floating* xp
    cdef floating v, b
    cdef int nt
    if n_batch == 0 or channels == 0 or pixels == 0:
        return
    nt = threads_for(n_batch * pixels * channels, n_batch, n_threads, FAMILY_POOL)
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="static"):
            xp = &x[0, 0, 0, 0] + n * pixels * channels
            for c in range(channels):
                out[n, c] = xp[c]
                argmax[n, c] = 0
            for p in range(1, pixels):
                xp = &x[0, 0, 0, 0] + (n * pixels + p) * channels
                for c in range(channels):
                    v = xp[c]
                    b = out[n, c]
                    # strict '>' keeps the first maximum; the first NaN wins and stays
                    if v > b or (v != v and b == b):
                        out[n, c] = v
                        argmax[n, c] = p


def _global_maxpool_backward(
    const floating[:, ::1] grad_out, const int64_t[:, ::1] argmax,
    floating[:, :, :, ::1] grad_x, int n_threads
):
    """grad_x (overwritten): grad_out[n, c] at pixel argmax[n, c] of channel c, else 0."""
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t sample = grad_x.shape[1] * grad_x.shape[2] * channels
    cdef Py_ssize_t n, c
    cdef floating* gx
    cdef int nt
    if n_batch == 0 or sample == 0:
        return
    nt = threads_for(n_batch * sample, n_batch, n_threads, FAMILY_MAP)
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="static"):
            gx = &grad_x[0, 0, 0, 0] + n * sample
            memset(gx, 0, sample * sizeof(floating))
            for c in range(channels):
                gx[argmax[n, c] * channels + c] = grad_out[n, c]
