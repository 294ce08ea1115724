"""Kernels on a network's flat vectors (:mod:`pyx_cnn._parameters`: every parameter
in one 1-D array, every gradient in another): the finite check of a training
step and the plain gradient-descent update.

Each is one pass over the vector without temporaries: numpy's
``np.isfinite(g).all()`` allocates a mask first, and ``p -= learning_rate * g``
a product. On the digits network's 1314 values (one AMD EPYC core, the best of
nine timings, three runs) the finite check took 1.7-2.0 us on numpy and 0.5-0.8 us
here, the update 1.5-1.7 us and 0.8-1.1 us, in training steps of about 75 us
(``benchmarks/bench_digits_epoch.py``).
"""
from cython cimport floating

cdef enum:
    _LANES = 16     # sums side by side in _all_finite


def _all_finite(const floating[::1] values):
    """True when no value is NaN or infinite (True for an empty vector)."""
    cdef Py_ssize_t n = values.shape[0]
    cdef Py_ssize_t whole = n - n % _LANES
    cdef Py_ssize_t i, j
    cdef floating sums[_LANES]
    cdef bint finite = True
    with nogil:
        # v - v is 0 for every finite v, NaN for NaN and +-inf, and a NaN stays in a
        # sum: _LANES sums side by side, which the compiler runs as SIMD registers
        for j in range(_LANES):
            sums[j] = 0
        for i in range(whole // _LANES):
            for j in range(_LANES):
                sums[j] = sums[j] + (values[i * _LANES + j] - values[i * _LANES + j])
        for i in range(whole, n):
            sums[0] = sums[0] + (values[i] - values[i])
        for j in range(_LANES):
            finite = finite and sums[j] == 0
    return finite


def _sgd_update(floating[::1] params, const floating[::1] grads, double learning_rate):
    """``params -= learning_rate * grads`` in place, as numpy computes it: the product
    rounded to the vectors' dtype (`learning_rate` taken in that dtype first), then
    subtracted."""
    cdef Py_ssize_t i
    cdef floating rate = <floating>learning_rate
    cdef floating step
    with nogil:
        for i in range(params.shape[0]):
            step = rate * grads[i]
            params[i] = params[i] - step
