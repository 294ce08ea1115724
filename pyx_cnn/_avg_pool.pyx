"""Average pooling and global (average, max) pooling kernels, channels-last.

Private: :mod:`pyx_cnn.ops.avg_pool` and :mod:`pyx_cnn.ops.global_pool` are the
callers; their callers validate. Arrays are C-contiguous ``(N, H, W, C)`` (input)
of one float dtype.

Average pooling (floor mode, no padding, as PyTorch's ``avg_pool2d`` with
``ceil_mode=False``): ``out[n, y, x, c]`` is the sum of the ``size x size``
window at ``(y*stride, x*stride)`` divided by ``size*size``. The backward pass
is written as a gather: each input pixel sums the gradients of the windows that
cover it, so every value of ``grad_x`` is written by one thread only (no races,
and the same result whatever the thread count), and the work splits over the
rows of the whole batch, not only over its samples.

Global pooling reduces ``(N, H, W, C)`` to ``(N, C)``. The average is summed in
double precision. The maximum records where it came from: ``argmax[n, c]`` is
the pixel index ``iy*W + ix``; ties go to the first maximum in row-major order,
and a NaN is the maximum (the first NaN wins), as in max pooling.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.string cimport memset

from pyx_cnn._parallel cimport threads_for


cdef void _avg_rows(
    const floating* x, floating* out, Py_ssize_t height, Py_ssize_t width,
    Py_ssize_t channels, Py_ssize_t h_out, Py_ssize_t w_out, Py_ssize_t size,
    Py_ssize_t stride, Py_ssize_t r0, Py_ssize_t r1,
) noexcept nogil:
    """Output rows r0 <= r < r1 of the batch (r = n*h_out + oy)."""
    cdef Py_ssize_t r, n, oy, ox, i, j, c
    cdef const floating* xp
    cdef floating* op
    cdef floating area = <floating>(size * size)
    for r in range(r0, r1):
        n = r // h_out
        oy = r - n * h_out
        for ox in range(w_out):
            op = out + (r * w_out + ox) * channels
            for c in range(channels):
                op[c] = 0
            for i in range(size):
                xp = x + ((n * height + oy * stride + i) * width + ox * stride) * channels
                for j in range(size):
                    for c in range(channels):
                        op[c] += xp[j * channels + c]
            for c in range(channels):
                op[c] = op[c] / area


def _avgpool2d_forward(
    const floating[:, :, :, ::1] x,
    floating[:, :, :, ::1] out,
    Py_ssize_t size,
    Py_ssize_t stride,
    int n_threads,
):
    """out[n, y, x, c] = mean_{i, j < size} x[n, y*stride+i, x*stride+j, c]."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t height = x.shape[1]
    cdef Py_ssize_t width = x.shape[2]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t rows = n_batch * h_out
    cdef Py_ssize_t t
    cdef int nt
    if rows == 0 or w_out == 0 or channels == 0:
        return
    nt = threads_for(rows * w_out * channels * size * size, rows, n_threads)
    with nogil:
        # one contiguous range of output rows per thread
        for t in prange(nt, num_threads=nt, schedule="static"):
            _avg_rows(&x[0, 0, 0, 0], &out[0, 0, 0, 0], height, width, channels,
                      h_out, w_out, size, stride, rows * t // nt, rows * (t + 1) // nt)


cdef inline Py_ssize_t _first_window(Py_ssize_t i, Py_ssize_t size,
                                     Py_ssize_t stride) noexcept nogil:
    """The first window index o with o*stride + size > i (o >= 0)."""
    if i < size:
        return 0
    return (i - size) // stride + 1


cdef void _avg_backward_rows(
    const floating* g, floating* gx, Py_ssize_t height, Py_ssize_t width,
    Py_ssize_t channels, Py_ssize_t h_out, Py_ssize_t w_out, Py_ssize_t size,
    Py_ssize_t stride, Py_ssize_t r0, Py_ssize_t r1,
) noexcept nogil:
    """Input rows r0 <= r < r1 of the batch (r = n*height + iy) of grad_x."""
    cdef Py_ssize_t r, n, iy, ix, oy, ox, oy0, oy1, ox0, ox1, c
    cdef const floating* gp
    cdef floating* xp
    cdef floating area = <floating>(size * size)
    for r in range(r0, r1):
        n = r // height
        iy = r - n * height
        oy0 = _first_window(iy, size, stride)
        oy1 = min(iy // stride + 1, h_out)       # windows oy0 <= oy < oy1 cover row iy
        for ix in range(width):
            xp = gx + (r * width + ix) * channels
            for c in range(channels):
                xp[c] = 0
            ox0 = _first_window(ix, size, stride)
            ox1 = min(ix // stride + 1, w_out)
            for oy in range(oy0, oy1):
                for ox in range(ox0, ox1):
                    gp = g + ((n * h_out + oy) * w_out + ox) * channels
                    for c in range(channels):
                        xp[c] += gp[c]
            if oy0 < oy1 and ox0 < ox1:
                for c in range(channels):
                    xp[c] = xp[c] / area


def _avgpool2d_backward(
    const floating[:, :, :, ::1] grad_out,
    floating[:, :, :, ::1] grad_x,
    Py_ssize_t size,
    Py_ssize_t stride,
    int n_threads,
):
    """grad_x (overwritten): each input pixel gets the mean share of every window holding it."""
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t height = grad_x.shape[1]
    cdef Py_ssize_t width = grad_x.shape[2]
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t h_out = grad_out.shape[1]
    cdef Py_ssize_t w_out = grad_out.shape[2]
    cdef Py_ssize_t rows = n_batch * height
    cdef Py_ssize_t t, per
    cdef int nt
    if rows == 0 or width == 0 or channels == 0:
        return
    if h_out == 0 or w_out == 0:
        memset(&grad_x[0, 0, 0, 0], 0, rows * width * channels * sizeof(floating))
        return
    # each input value gathers ceil(size/stride)**2 windows at most
    per = (size + stride - 1) // stride
    nt = threads_for(rows * width * channels * (1 + per * per), rows, n_threads)
    with nogil:
        for t in prange(nt, num_threads=nt, schedule="static"):
            _avg_backward_rows(&grad_out[0, 0, 0, 0], &grad_x[0, 0, 0, 0], height, width,
                               channels, h_out, w_out, size, stride,
                               rows * t // nt, rows * (t + 1) // nt)


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
    nt = threads_for(n_batch * pixels * channels, n_batch, n_threads)
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
    nt = threads_for(rows * width * channels, rows, n_threads)
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
    nt = threads_for(n_batch * pixels * channels, n_batch, n_threads)
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
    nt = threads_for(n_batch * sample, n_batch, n_threads)
    with nogil:
        for n in prange(n_batch, num_threads=nt, schedule="static"):
            gx = &grad_x[0, 0, 0, 0] + n * sample
            memset(gx, 0, sample * sizeof(floating))
            for c in range(channels):
                gx[argmax[n, c] * channels + c] = grad_out[n, c]
