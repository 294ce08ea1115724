# When a kernel is worth a team of threads: the one rule every kernel uses
# (implemented in _threads.pyx, where the costs are measured and cached).
#
# A kernel counts its `work` in inner steps of its family (below) and the
# `units` it can split (samples, rows, values): never more threads than units.
# threads_for returns the thread count n <= n_threads that minimises the
# modelled time
#
#     t(1) = work * step_seconds[family]
#     t(n) = t(1) * ceil(units / n) / units + region_seconds(n)
#
# where region_seconds(n) is the cost of starting and joining a parallel
# region of n threads, measured once on this machine at first use. Tiny work
# runs on one thread, as does any work with t(1) under 5 microseconds. The
# kernels give the same bits whatever the count.
#
# A kernel that gets one thread runs its loop without a parallel region where
# it is called once per step of a small network (the forward and filter-gradient
# convolution, max pooling with its argmax and its backward pass, the Dense products,
# the finite check and SGD update of _flat_vectors.pyx, the residual sum and copies of
# _add.pyx): GCC's OpenMP
# (libgomp) starts a team for `prange(..., num_threads=1)` too, and with OpenMP's
# `if` clause, which cost 0.6-0.7 us a call on one AMD EPYC core (a team allocated,
# two futex wake-ups), against 0.1 us for the same loop without it. The loop body
# is then a function, called by the plain loop and by the prange.

cdef enum Family:
    FAMILY_CONV      # multiply-adds of a convolution (every algorithm, the BLAS products too)
    FAMILY_POOL      # window reads of a pooling kernel (max, average, global maximum)
    FAMILY_SUMS      # values summed in double (batch-norm statistics, global average)
    FAMILY_MAP       # values of an elementwise map or a copy (ReLU, dropout, padding,
                     # the SIMD tanh of float32, the backward passes that write values)
    FAMILY_EXP       # values of a map that calls the C library's exp or tanh (sigmoid,
                     # tanh of float64)
    N_FAMILIES

cdef int threads_for(Py_ssize_t work, Py_ssize_t units, int n_threads,
                     Family family) noexcept nogil


# How many ranges to cut `units` into for `nt` threads taking them as they come
# free (prange's schedule="dynamic"): eight per thread, so that a thread whose
# core is busy with another program takes fewer; one range on one thread.
cdef inline Py_ssize_t ranges_for(Py_ssize_t units, int nt) noexcept nogil:
    if nt < 2:
        return 1
    if units < 8 * nt:
        return units
    return 8 * nt
