"""Convolution kernels (channels-last cross-correlation).

Private: the public functions in :mod:`pyx_cnn.functional` validate shapes,
dtypes and memory layout before calling these, which are compiled without
bounds checks (unless built with ``PYX_CNN_DEBUG=1``).

Layouts
-------
x    : (N, Hp, Wp, C)   input, already zero-padded, C-contiguous
w    : (kh, kw*C, F)    filter bank with the filter axis last: for a fixed kernel
                        row ``i`` the ``kw*C`` input values under the window are one
                        contiguous run of ``x``, and each of them multiplies one
                        contiguous row of ``F`` weights
bias : (F,)
out  : (N, Ho, Wo, F)
"""
from cython.parallel cimport prange

ctypedef fused floating:
    float
    double

# Below this many multiply-adds a call runs on one thread: starting the team
# costs more than it saves.
cdef Py_ssize_t _MIN_PARALLEL_WORK = 1 << 16


cdef inline void _conv_output_row(
    const floating* x_row,      # input row oy*stride, column 0, channel 0
    Py_ssize_t x_row_stride,    # elements between input rows (Wp*C)
    Py_ssize_t run,             # kw*C
    Py_ssize_t step,            # stride*C: elements between output columns' windows
    const floating* w,
    Py_ssize_t kh,
    Py_ssize_t n_filters,
    const floating* bias,
    floating* out_row,
    Py_ssize_t w_out,
) noexcept nogil:
    cdef Py_ssize_t ox, i, k, f
    cdef const floating* xp
    cdef const floating* wp
    cdef floating* o
    cdef floating v
    for ox in range(w_out):
        o = out_row + ox * n_filters
        for f in range(n_filters):
            o[f] = bias[f]
        for i in range(kh):
            xp = x_row + i * x_row_stride + ox * step
            wp = w + i * run * n_filters
            for k in range(run):
                v = xp[k]
                for f in range(n_filters):
                    o[f] += v * wp[k * n_filters + f]


def _conv2d_forward(
    const floating[:, :, :, ::1] x,
    const floating[:, :, ::1] w,
    const floating[::1] bias,
    floating[:, :, :, ::1] out,
    Py_ssize_t stride,
    int n_threads,
):
    """out[n, y, x, f] = bias[f] + sum_{i, j, c} x[n, y*stride+i, x*stride+j, c] * w[i, j*C+c, f]."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t run = w.shape[1]
    cdef Py_ssize_t n_filters = w.shape[2]
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t x_row_stride = x.shape[2] * channels
    cdef Py_ssize_t rows = n_batch * h_out
    cdef Py_ssize_t r, n, oy
    cdef int nt = n_threads
    if rows * w_out * kh * run * n_filters < _MIN_PARALLEL_WORK or rows < 2:
        nt = 1
    if rows == 0 or w_out == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            n = r // h_out
            oy = r - n * h_out
            _conv_output_row(
                &x[n, oy * stride, 0, 0], x_row_stride, run, stride * channels,
                &w[0, 0, 0], kh, n_filters, &bias[0], &out[n, oy, 0, 0], w_out,
            )
