"""Kernels on a network's flat vectors (:mod:`pyx_cnn._parameters`: every parameter
in one 1-D array, every gradient in another): the finite check of a training
step and the plain gradient-descent update; and the byte comparison that tells
whether weights still hold what they held (:mod:`pyx_cnn._kept_weights`).

Each is one pass over the vector without temporaries: numpy's
``np.isfinite(g).all()`` allocates a mask first, and ``p -= learning_rate * g``
a product. On the digits network's 1314 values (one AMD EPYC core, the best of
nine timings, three runs) the finite check took 1.7-2.0 us on numpy and 0.5-0.8 us
here, the update 1.5-1.7 us and 0.8-1.1 us, in training steps of about 75 us
(``benchmarks/bench_digits_epoch.py``). Large vectors are split over the
threads the cost model gives (a map's values): the CIFAR-style network's 545 000
parameters took 39 and 53 us on one thread, 24 and 31 us on two.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcmp

from pyx_cnn._threads cimport FAMILY_MAP, threads_for

cdef enum:
    _LANES = 16     # sums side by side in _finite_run


cdef bint _finite_run(const floating* values, Py_ssize_t n) noexcept nogil:
    """Whether the `n` values from `values` on are all finite."""
    cdef Py_ssize_t whole = n - n % _LANES
    cdef Py_ssize_t i, j
    cdef floating sums[_LANES]
    cdef bint finite = True
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


def _all_finite(const floating[::1] values, int n_threads=1):
    """True when no value is NaN or infinite (True for an empty vector). On up to
    `n_threads` threads (the cost model's count), one run of the values each."""
    cdef Py_ssize_t n = values.shape[0]
    cdef Py_ssize_t p, bad = 0
    cdef int nt = threads_for(n, n, n_threads, FAMILY_MAP)
    if n == 0:
        return True
    with nogil:
        if nt == 1:     # no parallel region for one thread (_threads.pxd)
            bad = not _finite_run(&values[0], n)
        else:
            for p in prange(nt, num_threads=nt, schedule="static"):
                bad += not _finite_run(&values[0] + n * p // nt,
                                       n * (p + 1) // nt - n * p // nt)
    return bad == 0


def _sgd_update(floating[::1] params, const floating[::1] grads, double learning_rate,
                int n_threads=1):
    """``params -= learning_rate * grads`` in place, as numpy computes it: the product
    rounded to the vectors' dtype (`learning_rate` taken in that dtype first), then
    subtracted; on up to `n_threads` threads (each value's the same arithmetic)."""
    cdef Py_ssize_t i
    cdef Py_ssize_t n = params.shape[0]
    cdef floating rate = <floating>learning_rate
    cdef floating step
    cdef int nt = threads_for(n, n, n_threads, FAMILY_MAP)
    with nogil:
        if nt == 1:     # no parallel region for one thread (_threads.pxd)
            for i in range(n):
                step = rate * grads[i]
                params[i] = params[i] - step
        else:
            for i in prange(n, num_threads=nt, schedule="static"):
                step = rate * grads[i]
                params[i] = params[i] - step


def _same_bytes(const unsigned char[::1] a, const unsigned char[::1] b):
    """Whether `a` and `b` hold the same bytes (``memcmp``: one pass, no temporary;
    numpy's ``np.array_equal`` makes a mask first, and takes ``-0.0`` for ``0.0``)."""
    cdef Py_ssize_t n = a.shape[0]
    cdef int differ = 0
    if b.shape[0] != n:
        return False
    if n == 0:
        return True
    with nogil:
        differ = memcmp(&a[0], &b[0], <size_t>n)
    return differ == 0
