"""The library's thread policy: one pool of threads at a time.

pyx_cnn's kernels run on an OpenMP team of ``get_num_threads()`` threads.
The BLAS under numpy and SciPy (OpenBLAS in their wheels) keeps a pool of its
own; after a call its threads spin for a while, and so do OpenMP's: on a small
machine the two pools take the cores from each other, and two threads can be
several times slower than one.

So, as scikit-learn does, pyx_cnn holds every BLAS to one thread while it
works (``threadpoolctl``), and splits the work itself: the kernels call BLAS
from their own OpenMP threads, each on a slice of the batch. Only pyx_cnn's
team runs, and ``set_num_threads`` governs all of it. The limit is set when
the outermost pyx_cnn call that needs it starts (``fit``, ``predict``,
``evaluate``, a layer's ``forward`` / ``backward``) and the BLAS's own
setting is restored when it ends, so numpy and SciPy outside pyx_cnn keep
theirs.
"""
import functools
import os
import threading
from contextlib import contextmanager

from ._threads import _in_forked_child

_lock = threading.Lock()
_depth = 0
_saved = None        # the BLAS libraries' own thread counts, restored at the end
_controller = None


def _after_fork_in_child():
    # a thread of the parent may have held the lock (or been inside the BLAS's
    # setter) at the fork: the child starts afresh, and leaves the BLAS alone
    # (its kernels run on one thread, see pyx_cnn.get_num_threads)
    global _lock, _depth, _saved
    _lock = threading.Lock()
    _depth = 0
    _saved = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _blas_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        # created once (it scans the loaded libraries): after the kernels'
        # import, so SciPy's BLAS is loaded and seen
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def _release(lib):
    # threadpoolctl lets one Python thread at a time set a process-wide OpenBLAS
    # pool (the first to do so; others are silently ignored): pyx_cnn may set and
    # restore from different threads (under its own lock), so it lets go each time
    clear = getattr(type(lib), "clear_controlling_thread", None)
    if clear is not None:
        try:
            clear(force=True)
        except TypeError:   # a threadpoolctl without the `force` argument
            clear()


def _set_num_threads(lib, n):
    _release(lib)
    lib.set_num_threads(n)
    _release(lib)


@contextmanager
def one_blas_thread():
    """Hold every loaded BLAS to one thread inside the block (re-entrant, thread-safe)."""
    global _depth, _saved
    if _in_forked_child():
        yield
        return
    with _lock:
        if _depth == 0:
            # the libraries not on one thread already (setting one takes microseconds)
            _saved = [(lib, n) for lib in _blas_controller().lib_controllers
                      if (n := lib.get_num_threads()) != 1]
            for lib, _ in _saved:
                _set_num_threads(lib, 1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lib, n in _saved:
                    _set_num_threads(lib, n)
                _saved = None


def holds_blas_to_one_thread(function):
    """Decorator: run `function` inside :func:`one_blas_thread`."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return function(*args, **kwargs)
    return wrapper
