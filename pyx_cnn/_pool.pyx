"""Max pooling and elementwise kernels (ReLU, sigmoid), channels-last.

Private: :mod:`pyx_cnn.functional` validates arguments before calling these.
"""
from cython.parallel cimport prange
from libc.math cimport exp

ctypedef fused floating:
    float
    double

cdef Py_ssize_t _MIN_PARALLEL_WORK = 1 << 16


cdef extern from "pool_kernels.h" nogil:
    ctypedef struct pyx_pool_shape:
        Py_ssize_t in_h, in_w, channels
        Py_ssize_t size, stride
        Py_ssize_t out_h, out_w
    void pyx_maxpool_rows_f32(const pyx_pool_shape* s, const float* x, float* out,
                              Py_ssize_t r0, Py_ssize_t r1)
    void pyx_maxpool_rows_f64(const pyx_pool_shape* s, const double* x, double* out,
                              Py_ssize_t r0, Py_ssize_t r1)


def _maxpool2d_forward(
    const floating[:, :, :, ::1] x,
    floating[:, :, :, ::1] out,
    Py_ssize_t size,
    Py_ssize_t stride,
    int n_threads,
):
    """out[n, y, x, c] = max_{i, j < size} x[n, y*stride+i, x*stride+j, c] (NaN propagates).

    The loops are in ``src_c/pool_simd.c``: SIMD registers hold consecutive
    channels of one pixel (AVX2 when the CPU has it and the channels fill it).
    """
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t channels = x.shape[3]
    cdef Py_ssize_t h_out = out.shape[1]
    cdef Py_ssize_t w_out = out.shape[2]
    cdef Py_ssize_t rows = n_batch * h_out
    cdef Py_ssize_t t, n_ranges
    cdef int nt = n_threads
    cdef pyx_pool_shape s
    if rows * w_out * channels * size * size < _MIN_PARALLEL_WORK or rows < 2:
        nt = 1
    if rows == 0 or w_out == 0 or channels == 0:
        return
    s.in_h = x.shape[1]
    s.in_w = x.shape[2]
    s.channels = channels
    s.size = size
    s.stride = stride
    s.out_h = h_out
    s.out_w = w_out
    nt = <int>min(<Py_ssize_t>nt, rows)
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
