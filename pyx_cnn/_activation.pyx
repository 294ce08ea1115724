"""Elementwise activation kernels, forward and backward: ReLU, bounded ReLU (ReLU6),
sigmoid, tanh, leaky ReLU.

Private: :mod:`pyx_cnn.ops.activations` is the only caller; its callers validate.
Every kernel works on flat C-contiguous arrays of one float dtype; ``out`` may be
``x`` itself (in place). The backward kernels take the forward *output* ``y``,
from which each derivative is exact:

    relu        y > 0 ? g : 0                (relu'(0) = 0, as PyTorch)
    bounded     0 < y < max_value ? g : 0    (0 at both bounds, as PyTorch's relu6)
    leaky_relu  y > 0 ? g : g * slope        (slope >= 0; leaky'(0) = slope, as PyTorch)
    sigmoid     g * (1 - y) * y
    tanh        g * (1 - y * y)

Special values follow PyTorch: a NaN input gives a NaN output, and a NaN in ``y``
(or in ``g``) gives a NaN gradient except for ReLU, whose gradient at a NaN
passes ``g`` through as PyTorch's ``threshold_backward`` does (and so does the
bounded ReLU's, as PyTorch's ``hardtanh_backward`` does on its scalar path).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, tanh

from pyx_cnn._threads cimport FAMILY_EXP, FAMILY_MAP, threads_for

# the work of threads_for is the number of values: a compare or a multiply per
# value is a map (memory-bound), the C library's exp or tanh costs more (FAMILY_EXP)


def _relu(const floating[::1] x, floating[::1] out, int n_threads):
    """out = x where x > 0 or x is NaN, else 0 (so -0.0 gives +0.0)."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i
    cdef floating v
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            v = x[i]
            out[i] = 0 if v <= 0 else v


def _relu_backward(
    const floating[::1] y, const floating[::1] grad_out, floating[::1] grad_in, int n_threads
):
    """grad_in = 0 where the ReLU output y <= 0, else grad_out (a NaN y passes it)."""
    cdef Py_ssize_t size = y.shape[0]
    cdef Py_ssize_t i
    cdef floating g
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            # both values loaded, then a select (no branch on the data: SIMD)
            g = grad_out[i]
            grad_in[i] = 0 if y[i] <= 0 else g


def _bounded_relu(const floating[::1] x, floating[::1] out, double max_value,
                  int n_threads):
    """out = min(max(x, 0), max_value): 0 where x <= 0 (so -0.0 gives +0.0),
    max_value where x >= max_value, NaN stays NaN (max_value >= 0)."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i
    cdef floating v
    cdef floating m = <floating>max_value
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            v = x[i]
            out[i] = 0 if v <= 0 else (m if v >= m else v)


def _bounded_relu_backward(
    const floating[::1] y, const floating[::1] grad_out, floating[::1] grad_in,
    double max_value, int n_threads
):
    """grad_in = 0 where the output y <= 0 or y >= max_value, else grad_out."""
    cdef Py_ssize_t size = y.shape[0]
    cdef Py_ssize_t i
    cdef floating v, g
    cdef floating m = <floating>max_value
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            # both values loaded, the two tests joined without a branch (`|`, not
            # `or`), then a select: SIMD
            v = y[i]
            g = grad_out[i]
            grad_in[i] = 0 if ((v <= 0) | (v >= m)) else g


def _leaky_relu(const floating[::1] x, floating[::1] out, double negative_slope,
                int n_threads):
    """out = x where x > 0, else x * negative_slope (NaN stays NaN)."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i
    cdef floating v
    cdef floating s = <floating>negative_slope
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            v = x[i]
            out[i] = v if v > 0 else v * s


def _leaky_relu_backward(
    const floating[::1] y, const floating[::1] grad_out, floating[::1] grad_in,
    double negative_slope, int n_threads
):
    """grad_in = grad_out where y > 0, else grad_out * negative_slope (slope >= 0)."""
    cdef Py_ssize_t size = y.shape[0]
    cdef Py_ssize_t i
    cdef floating g
    cdef floating s = <floating>negative_slope
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            g = grad_out[i]
            grad_in[i] = g if y[i] > 0 else g * s


def _sigmoid(const floating[::1] x, floating[::1] out, int n_threads):
    """out = 1 / (1 + exp(-x)), evaluated without overflow for large |x|."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i
    cdef floating v, e
    cdef int nt = threads_for(size, size, n_threads, FAMILY_EXP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            v = x[i]
            if v >= 0:
                out[i] = 1 / (1 + exp(-v))
            else:
                e = exp(v)
                out[i] = e / (1 + e)


def _sigmoid_backward(
    const floating[::1] y, const floating[::1] grad_out, floating[::1] grad_in, int n_threads
):
    """grad_in = grad_out * (1 - y) * y, y being the sigmoid's output."""
    cdef Py_ssize_t size = y.shape[0]
    cdef Py_ssize_t i
    cdef floating v
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    with nogil:
        for i in prange(size, num_threads=nt, schedule="static"):
            v = y[i]
            grad_in[i] = grad_out[i] * (1 - v) * v


cdef extern from "activation_kernels.h" nogil:
    void pyx_tanh_f32(const float* x, float* out, Py_ssize_t n)
    void pyx_tanh_backward_f32(const float* y, const float* g, float* out, Py_ssize_t n)
    void pyx_tanh_backward_f64(const double* y, const double* g, double* out, Py_ssize_t n)


def _tanh(const floating[::1] x, floating[::1] out, int n_threads):
    """out = tanh(x): float64 from the C library, float32 from the SIMD kernel of
    ``src_c/activation_simd.c`` (a rational function within 5 ulp; see there).

    Each thread takes one contiguous range of the array."""
    cdef Py_ssize_t size = x.shape[0]
    cdef Py_ssize_t i, t, lo, hi
    # (the SIMD tanh costs what a map does; the C library's, an exp's)
    cdef int nt = threads_for(size, size, n_threads,
                              FAMILY_MAP if floating is float else FAMILY_EXP)
    if size == 0:
        return
    with nogil:
        if floating is float:
            for t in prange(nt, num_threads=nt, schedule="static"):
                lo = size * t // nt
                hi = size * (t + 1) // nt
                pyx_tanh_f32(&x[lo], &out[lo], hi - lo)
        else:
            for i in prange(size, num_threads=nt, schedule="static"):
                out[i] = tanh(x[i])


def _tanh_backward(
    const floating[::1] y, const floating[::1] grad_out, floating[::1] grad_in, int n_threads
):
    """grad_in = grad_out * (1 - y * y), y being tanh's output (SIMD kernel, one
    contiguous range per thread)."""
    cdef Py_ssize_t size = y.shape[0]
    cdef Py_ssize_t t, lo, hi
    cdef int nt = threads_for(size, size, n_threads, FAMILY_MAP)
    if size == 0:
        return
    with nogil:
        for t in prange(nt, num_threads=nt, schedule="static"):
            lo = size * t // nt
            hi = size * (t + 1) // nt
            if floating is float:
                pyx_tanh_backward_f32(&y[lo], &grad_out[lo], &grad_in[lo], hi - lo)
            else:
                pyx_tanh_backward_f64(&y[lo], &grad_out[lo], &grad_in[lo], hi - lo)
