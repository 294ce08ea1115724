"""Thread count shared by every kernel, when a kernel uses it, and what the build
and the CPU offer.

The count lives here, once; public functions read it with ``get_num_threads``
and pass it to the kernels, which ask :func:`threads_for` (declared in
``_threads.pxd``) how many of those threads their work is worth, then run
``prange(num_threads=...)``. Without OpenMP the count is always 1.

The cost model
--------------
As scikit-learn's ``sklearn/utils/_openmp_helpers.pyx`` does, the cost of a
parallel region is measured on the machine rather than guessed: the first time
a team of ``n`` threads is considered, empty ``prange`` regions of the
power-of-two team size at or below ``n`` are timed (after a warm-up that starts
OpenMP's threads), and the fastest, per thread, is cached for the process (and
measured again, keeping the fastest, at the 10th, 100th, ... decision: a first
measurement that other threads disturbed does not stay). The work a kernel does is counted in inner steps of its
family, each with a cost per step at one thread (``_STEP_SECONDS``, measured
with ``benchmarks/bench_thread_cost.py``). A kernel then gets the thread count
that minimises ``t(1) * ceil(units / n) / units + region(n)``, at most its
number of independent units: tiny work runs on one thread (and any work whose
``t(1)`` is under ``_MIN_SPLIT_SECONDS``, 5 microseconds: the empty regions do not
show what moving a kernel's data between the cores costs), large work on all.
The choice never changes a result: the kernels split their work on a grid
fixed by the shape.
"""
import contextlib
import os

from cython.parallel cimport prange

cdef extern from "pyx_openmp.h":
    int PYX_HAVE_OPENMP
    int PYX_DEBUG_BUILD
    int pyx_omp_max_threads() noexcept nogil
    double pyx_omp_wtime() noexcept nogil

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
        start methods for threaded kernels in child processes. Inside a
        step of ``fit``, ``predict`` or ``evaluate`` that runs on one thread
        because one thread has been measured faster there (another program
        holding a core, see :ref:`threads`), 1.
    """
    cdef int n
    if not PYX_HAVE_OPENMP or _forked_child:
        return 1
    n = _num_threads if _num_threads > 0 else (
        _default_cache if _default_cache > 0 else _default_threads())
    return pyx_step_limit if 0 < pyx_step_limit < n else n


# A limit for the calling Python thread only, below the count above: the batch
# loops of fit, predict and evaluate run a step on one thread when one thread has
# been measured faster there (see _thread_choice.py). A C variable of the thread
# (each Python thread is one of the system's): read at every kernel call, in a few
# nanoseconds (a threading.local without the attribute took 0.4 us, raising and
# catching an AttributeError each time).
cdef extern from *:
    """
    #if defined(_MSC_VER)
    static __declspec(thread) int pyx_step_limit = 0;
    #else
    static __thread int pyx_step_limit = 0;
    #endif
    """
    int pyx_step_limit


def _set_limit(int n):
    """Make :func:`get_num_threads` return at most `n` in the calling Python thread
    (0: no limit); returns the limit before, to restore."""
    global pyx_step_limit
    before = pyx_step_limit
    pyx_step_limit = n
    return before


@contextlib.contextmanager
def _limit_threads(n):
    """Inside the block, :func:`get_num_threads` returns at most `n` (>= 1) in the
    calling Python thread (other threads keep theirs)."""
    before = pyx_step_limit
    _set_limit(n if before <= 0 else min(n, before))
    try:
        yield
    finally:
        _set_limit(before)


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


# ---- when to thread -------------------------------------------------------

# Seconds per inner step at one thread, per family (see _threads.pxd), measured
# with benchmarks/bench_thread_cost.py (float32, a batch of 64 images of 28x28,
# one typical kernel per family) on an AVX-512 Xeon: a 3x3 convolution of 8 to
# 16 channels 0.014-0.019 ns per multiply-add, 2x2 max pooling 0.15-0.18 ns per
# window read, batch-norm statistics 0.30-0.40 ns per value, ReLU 0.26-0.33 ns
# and the SIMD tanh 0.48 ns per value, the sigmoid 8-16 ns per value (exp; the
# float64 tanh of the C library 31 ns). The fastest instruction set: on slower
# copies the model threads a little later than it could.
cdef double _STEP_SECONDS[N_FAMILIES]
_STEP_SECONDS[<int>FAMILY_CONV] = 0.02e-9
_STEP_SECONDS[<int>FAMILY_POOL] = 0.17e-9
_STEP_SECONDS[<int>FAMILY_SUMS] = 0.4e-9
_STEP_SECONDS[<int>FAMILY_MAP] = 0.3e-9
_STEP_SECONDS[<int>FAMILY_EXP] = 15e-9

FAMILIES = {"conv": FAMILY_CONV, "pool": FAMILY_POOL, "sums": FAMILY_SUMS,
            "map": FAMILY_MAP, "exp": FAMILY_EXP}

# The cost of a parallel region per thread, by team size 2**k: the fastest
# measured so far (0: not measured yet). It is measured again at the 10th,
# 100th, 1000th, ... decision that needs it, keeping the fastest: a measurement
# disturbed by other threads (another program's, or a BLAS pool still spinning
# after its last call) does not stay with the process. Read without the GIL,
# written with it held; the counts of uses may race (a measurement comes a
# little earlier or later).
cdef enum:
    _BUCKETS = 32
cdef double _region_per_thread[_BUCKETS]     # (zeros: C arrays of the module)
cdef long long _region_uses[_BUCKETS]
cdef long long _region_next[_BUCKETS]       # the use that measures again (0: the first)

# A region never counts as cheaper than this (seconds per thread): a timer that
# reads 0 must not make every kernel split.
cdef double _MIN_REGION_PER_THREAD = 1e-7

# Work of less than this at one thread (seconds, by the model) runs on one thread,
# whatever the regions measure: the empty regions timed above move no data between the
# cores' caches, which a kernel's do (its output, read next by one thread). On one AMD
# EPYC (Zen 4), 2 threads lost against one on the max-pooling kernels below about 5
# microseconds of work where the model counted a gain (the backward pass on 32 samples
# of 6x6x8: 4.2 us on one thread, 5.6 on two; the model: 3.5 and 2.7).
cdef double _MIN_SPLIT_SECONDS = 5e-6

# For the tests that compare thread counts on small inputs: split whatever the cost.
cdef bint _always_split_flag = False


cdef double _time_region(int n_threads) noexcept nogil:
    """Seconds one empty parallel region of `n_threads` threads takes."""
    cdef int i
    cdef double start = pyx_omp_wtime()
    for i in prange(n_threads, num_threads=n_threads, schedule="static"):
        pass
    return pyx_omp_wtime() - start


cdef double _measure_region(int n_threads) noexcept nogil:
    """The cost of a parallel region of `n_threads` threads on this machine: the
    fastest of up to 64 empty regions, after a warm-up region (the first region of
    a team pays for starting its threads). Other programs on the machine can only
    slow a region down, so the fastest is the least disturbed; the timing stops
    once the regions add up to 5 ms (at least 4 of them), which bounds it on a
    loaded machine, where a region may take milliseconds (about 65 microseconds
    on an idle one)."""
    cdef double best, t, spent = 0
    cdef int r
    _time_region(n_threads)
    best = _time_region(n_threads)
    for r in range(63):
        t = _time_region(n_threads)
        spent += t
        if t < best:
            best = t
        if r >= 2 and spent > 5e-3:
            break
    return best


cdef int _bucket(int n) noexcept nogil:
    """k such that 2**k <= n < 2**(k + 1) (n >= 1)."""
    cdef int k = 0
    while n > 1 and k < _BUCKETS - 1:
        n >>= 1
        k += 1
    return k


cdef double _region_seconds(int n_threads, bint use=True) noexcept nogil:
    """The modelled cost of a parallel region of `n_threads` threads: the fastest
    measured cost per thread of the power-of-two team at or below it, times
    `n_threads`. `use`: a kernel's decision (counted, for the next measurement)."""
    cdef int k = _bucket(n_threads)
    cdef double t
    if use:
        _region_uses[k] += 1
    if _region_per_thread[k] <= 0 or (use and _region_uses[k] >= _region_next[k]):
        with gil:      # one measurement at a time, however many Python threads ask
            if _region_per_thread[k] <= 0 or _region_uses[k] >= _region_next[k]:
                t = max(_measure_region(1 << k) / (1 << k), _MIN_REGION_PER_THREAD)
                if _region_per_thread[k] <= 0 or t < _region_per_thread[k]:
                    _region_per_thread[k] = t
                _region_next[k] = 10 * max(_region_uses[k], 1)
    return _region_per_thread[k] * n_threads


cdef int _best_threads(double one_thread, Py_ssize_t units, int n_threads,
                       double per_thread) noexcept nogil:
    """The n in 1..n_threads minimising one_thread * ceil(units / n) / units + region(n)
    (region(n) = per_thread * n when per_thread > 0, else the measured cost). Stops
    once a region alone costs more than the best time found: larger teams only cost
    more."""
    cdef int n, best = 1
    cdef double region, t, best_t = one_thread
    for n in range(2, n_threads + 1):
        region = per_thread * n if per_thread > 0 else _region_seconds(n)
        if region >= best_t:
            break
        t = one_thread * ((units + n - 1) // n) / units + region
        if t < best_t:
            best_t = t
            best = n
    return best


# Kernel calls so far that took more than one thread (threads_for's answers above 1):
# a step of fit or predict during which it does not move ran on one thread whatever
# the count (_thread_choice.py). Not atomic: a count shared by the Python threads, read
# only to learn whether it moved.
cdef Py_ssize_t _splits = 0


cdef int threads_for(Py_ssize_t work, Py_ssize_t units, int n_threads,
                     Family family) noexcept nogil:
    global _splits
    cdef int nt = _count_for(work, units, n_threads, family)
    if nt > 1:
        _splits += 1
    return nt


cdef inline int _count_for(Py_ssize_t work, Py_ssize_t units, int n_threads,
                           Family family) noexcept nogil:
    if n_threads < 2 or units < 2 or work <= 0 or not PYX_HAVE_OPENMP:
        return 1
    if units < n_threads:
        n_threads = <int>units
    if _always_split_flag:
        return n_threads
    if work * _STEP_SECONDS[<int>family] < _MIN_SPLIT_SECONDS:
        return 1
    return _best_threads(work * _STEP_SECONDS[<int>family], units, n_threads, 0)


def _split_count():
    """Kernel calls so far (in every Python thread) that split their work over more
    than one thread."""
    return _splits


def _family(family):
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    return FAMILIES[family]


def _threads_for(work, units, family, n_threads=None, region_seconds_per_thread=None):
    """The thread count a kernel of `family` ("conv", "pool", "sums", "map", "exp")
    takes for `work` inner steps split in `units` pieces, out of `n_threads`
    (default :func:`get_num_threads`). With `region_seconds_per_thread`, that cost
    of a parallel region replaces the measured one."""
    cdef Family fam = _family(family)
    if n_threads is None:
        n_threads = get_num_threads()
    if region_seconds_per_thread is None:
        return threads_for(work, units, n_threads, fam)
    if n_threads < 2 or units < 2 or work <= 0 or not PYX_HAVE_OPENMP:
        return 1
    return _best_threads(work * _STEP_SECONDS[<int>fam], units, min(n_threads, units),
                         region_seconds_per_thread)


def _region_cost(n_threads):
    """Seconds a parallel region of `n_threads` threads costs in the model (measured
    at first use; 0 without OpenMP)."""
    if not PYX_HAVE_OPENMP or n_threads < 2:
        return 0.0
    return _region_seconds(n_threads, False)


def _step_seconds(family):
    """Seconds per inner step of `family` at one thread, as the model takes it."""
    return _STEP_SECONDS[<int>_family(family)]


@contextlib.contextmanager
def _always_split():
    """Inside the block every kernel splits its work over all its threads (at most
    one per unit) whatever the cost: for tests that compare thread counts on inputs
    too small to be worth a team. Not thread-safe: the setting is the process's."""
    global _always_split_flag
    before = _always_split_flag
    _always_split_flag = True
    try:
        yield
    finally:
        _always_split_flag = before
