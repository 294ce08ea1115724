# When a kernel is worth a team of threads: the one rule every kernel uses.
#
# `work` counts the kernel's inner steps (multiply-adds for a convolution,
# window reads for pooling, values for an elementwise op); below
# MIN_PARALLEL_WORK starting a team costs more than it saves. `units` is how
# many independent pieces the kernel splits (samples, rows): never more
# threads than pieces.

cdef enum:
    MIN_PARALLEL_WORK = 1 << 16


cdef inline int threads_for(Py_ssize_t work, Py_ssize_t units, int n_threads) noexcept nogil:
    if work < MIN_PARALLEL_WORK or units < 2 or n_threads < 2:
        return 1
    if units < n_threads:
        return <int>units
    return n_threads


# How many ranges to cut `units` into for `nt` threads taking them as they come
# free (prange's schedule="dynamic"): eight per thread, so that a thread whose
# core is busy with another program takes fewer; one range on one thread.
cdef inline Py_ssize_t ranges_for(Py_ssize_t units, int nt) noexcept nogil:
    if nt < 2:
        return 1
    if units < 8 * nt:
        return units
    return 8 * nt
