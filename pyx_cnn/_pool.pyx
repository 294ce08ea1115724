"""Max pooling and elementwise kernels (ReLU, sigmoid), channels-last.

Private: :mod:`pyx_cnn.functional` validates arguments before calling these.
"""
from cython.parallel cimport prange
from libc.math cimport exp

ctypedef fused floating:
    float
    double

cdef Py_ssize_t _MIN_PARALLEL_WORK = 1 << 16


cdef inline void _maxpool_output_row(
    const floating* x_row,      # input row oy*stride, column 0, channel 0
    Py_ssize_t x_row_stride,    # W*C
    Py_ssize_t channels,
    Py_ssize_t size,
    Py_ssize_t step,            # stride*C
    floating* out_row,
    Py_ssize_t w_out,
) noexcept nogil:
    cdef Py_ssize_t ox, i, j, c
    cdef const floating* xp
    cdef floating* o
    cdef floating v
    for ox in range(w_out):
        o = out_row + ox * channels
        xp = x_row + ox * step
        for c in range(channels):
            o[c] = xp[c]
        for i in range(size):
            for j in range(size):
                xp = x_row + i * x_row_stride + ox * step + j * channels
                for c in range(channels):
                    v = xp[c]
                    # v != v: a NaN anywhere in the window wins and then stays
                    if v > o[c] or v != v:
                        o[c] = v


def _maxpool2d_forward(
    const floating[:, :, :, ::1] x,
    floating[:, :, :, ::1] out,
    Py_ssize_t size,
    Py_ssize_t stride,
    int n_threads,
):
    """out[n, y, x, c] = max_{i, j < size} x[n, y*stride+i, x*stride+j, c] (NaN propagates)."""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t x_row_stride = x.shape[2] * channels
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t rows = n_batch * h_out
    cdef Py_ssize_t r, n, oy
    cdef int nt = n_threads
    if rows * w_out * channels * size * size < _MIN_PARALLEL_WORK or rows < 2:
        nt = 1
    if rows == 0 or w_out == 0 or channels == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=nt, schedule="static"):
            n = r // h_out
            oy = r - n * h_out
            _maxpool_output_row(
                &x[n, oy * stride, 0, 0], x_row_stride, channels, size,
                stride * channels, &out[n, oy, 0, 0], w_out,
            )


def _relu(const floating[::1] x, floating[::1] out, int n_threads):
    """out = x where x > 0 or x is NaN, else 0 (so -0.0 gives +0.0)."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i
    cdef floating v
    cdef int nt = n_threads if size >= _MIN_PARALLEL_WORK * 4 else 1
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            v = x[i]
            out[i] = 0 if v <= 0 else v


def _sigmoid(const floating[::1] x, floating[::1] out, int n_threads):
    """out = 1 / (1 + exp(-x)), evaluated without overflow for large |x|."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i
    cdef floating v, e
    cdef int nt = n_threads if size >= _MIN_PARALLEL_WORK else 1
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            v = x[i]
            if v >= 0:
                out[i] = 1 / (1 + exp(-v))
            else:
                e = exp(v)
                out[i] = e / (1 + e)
