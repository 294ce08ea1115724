"""Thread count shared by every kernel, and what the build and the CPU offer.

The count lives here, once; public functions read it with ``_effective_threads``
and pass it to the kernels' ``prange(num_threads=...)``. Without OpenMP the
count is always 1.
"""
import os

cdef extern from "pyx_openmp.h":
    int PYX_HAVE_OPENMP
    int PYX_DEBUG_BUILD
    int pyx_omp_max_threads() noexcept nogil

cdef extern from "cpu_features.h":
    int pyx_cpu_has_avx2() noexcept nogil
    int pyx_cpu_has_fma() noexcept nogil
    int pyx_cpu_has_avx512f() noexcept nogil

cdef int _num_threads = 0   # 0: not set by the user, use the OpenMP default
cdef bint _forked_child = False

# More threads than this never helps a data-parallel kernel, and a team of tens
# of thousands of threads exhausts the process's memory maps and crashes.
MAX_THREADS = max(256, 4 * (os.cpu_count() or 1))


def _after_fork_in_child():
    # GNU libgomp keeps the parent's thread pool in its bookkeeping but the pool's
    # threads do not exist in a forked child: the child's next team of two or
    # more threads waits for them forever. One thread needs no team and is safe.
    global _forked_child
    _forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _in_forked_child():
    """True in a process forked (without exec) after this module was imported."""
    return bool(_forked_child)


def _openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(PYX_HAVE_OPENMP)


def _debug_build():
    """True when the kernels were compiled with bounds checks (PYX_CNN_DEBUG=1)."""
    return bool(PYX_DEBUG_BUILD)


def _cpu_features():
    """SIMD features of the running CPU, as a dict of bools."""
    return {
        "avx2": bool(pyx_cpu_has_avx2()),
        "fma": bool(pyx_cpu_has_fma()),
        "avx512f": bool(pyx_cpu_has_avx512f()),
    }


cdef int _default_cache = 0  # the default, read once (as OpenMP reads its environment)


def _default_threads():
    # omp_get_max_threads honours OMP_NUM_THREADS; read it ourselves as well so
    # the value is right even when the OpenMP runtime was initialised earlier.
    global _default_cache
    if not PYX_HAVE_OPENMP:
        return 1
    if _default_cache > 0:
        return _default_cache
    _default_cache = _read_default_threads()
    return _default_cache


def _read_default_threads():
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return min(int(env), MAX_THREADS)
    return min(max(1, pyx_omp_max_threads()), MAX_THREADS)


def get_num_threads():
    """Number of threads the kernels use.

    Returns
    -------
    n : int
        The value of the last :func:`set_num_threads`, else ``OMP_NUM_THREADS``
        as it was at the first call, else the number of cores OpenMP reports. Always 1 when the
        package was built without OpenMP, and in a process forked from one that
        imported pyx_cnn (multiprocessing's ``fork`` start method): the OpenMP
        runtime cannot start threads there. Use the ``spawn`` or ``forkserver``
        start methods for threaded kernels in child processes.
    """
    if not PYX_HAVE_OPENMP or _forked_child:
        return 1
    if _num_threads > 0:
        return _num_threads
    if _default_cache > 0:
        return _default_cache
    return _default_threads()


def set_num_threads(n):
    """Set the number of threads the kernels use.

    Parameters
    ----------
    n : int or None
        A thread count from 1 to ``MAX_THREADS`` (at least 256), or None to
        go back to the default (``OMP_NUM_THREADS``, else all cores). Without
        OpenMP the setting is accepted and ignored.

    Raises
    ------
    TypeError
        If `n` is not an integer or None.
    ValueError
        If `n` is smaller than 1 or larger than ``MAX_THREADS``.
    """
    global _num_threads
    if n is None:
        _num_threads = 0
        return
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"n must be a positive int or None, got {type(n).__name__}")
    n = n.__index__()
    if n < 1:
        raise ValueError(f"n must be >= 1 (or None for the default), got {n}")
    if n > MAX_THREADS:
        raise ValueError(f"n must be <= MAX_THREADS={MAX_THREADS}, got {n}")
    _num_threads = n
