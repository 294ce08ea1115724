"""Large blocks of memory kept for reuse while the library computes.

A training step, or a forward pass batch after batch, allocates the same large
arrays again and again: feature maps, their gradients, padded copies. NumPy
takes each from ``malloc``, and glibc's ``malloc`` maps every block of 32 MiB
or more afresh from the operating system and unmaps it at ``free`` (smaller
blocks come back from its heap): each batch then pays for page faults and for
the kernel zeroing the pages. A MobileNetV2 epoch (CIFAR sizes, batches of 64,
1024 images, 2 threads) spent 1.6-1.9 s of system time that way.

While :func:`reusing_large_blocks` is entered (``fit``, ``predict``,
``evaluate`` and ``gradient_descent`` enter it), NumPy allocates array data
through this module's allocator (NumPy's memory handler, NEP 49). A block of 64
KiB or more is made a little larger, up to the next eighth of its power of two
(:func:`_capacity`); when an array of at least :data:`LARGE_BLOCK` bytes is
freed, its block waits in a cache (up to :data:`CACHE_LIMIT` bytes in all, the
oldest blocks freed first) for the next allocation of the same capacity;
``np.zeros`` gets it cleared. Smaller arrays' blocks go back to NumPy's own
allocator. Every block starts on a 64-byte boundary, a cache line (NumPy's
allocator, through ``malloc``, starts large blocks 16 bytes past one): a kernel's
register of 8 float32 values then never straddles two lines where the values per
pixel are a multiple of 16 (64 images of 32x32x144 maps: MobileNetV2's 1x1
layer 24 -> 144 took 11.0-11.4 ms into a block 16 bytes past a line, 7.4-7.9 ms
into an aligned one; its 3x3 depthwise layer 7.3 ms from such an input, 6.3 ms
from an aligned one, on one AMD EPYC core). The block NumPy's allocator gave is
kept in the pointer just before the boundary. When the last call leaves, the
cache is emptied: the library holds no memory between calls. An array that
outlives the call (a prediction, a weight) is an array like any other, and its
block goes back to ``free`` when it is deleted.

NumPy passes each block's size to ``free`` (NEP 49), from which the capacity
follows, so a block is handed out again only for a size it holds. Where a
program has installed a memory handler of its own, the library leaves it in
place and caches nothing. onnxruntime keeps an arena of its buffers for the same
reason.
"""
import os
import threading
from contextlib import contextmanager
from functools import wraps

from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New
from cpython.pythread cimport (PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_release_lock, PyThread_type_lock, WAIT_LOCK)
from libc.string cimport memmove, memset, strncpy
from libc.stdint cimport uint8_t, uintptr_t, SIZE_MAX
cimport numpy as cnp

cnp.import_array()


cdef extern from "numpy/ndarraytypes.h":
    ctypedef struct PyDataMemAllocator:
        void *ctx
        void *(*malloc)(void *ctx, size_t size) noexcept nogil
        void *(*calloc)(void *ctx, size_t nelem, size_t elsize) noexcept nogil
        void *(*realloc)(void *ctx, void *ptr, size_t new_size) noexcept nogil
        void (*free)(void *ctx, void *ptr, size_t size) noexcept nogil

    ctypedef struct PyDataMem_Handler:
        char name[127]
        uint8_t version
        PyDataMemAllocator allocator

cdef extern from "numpy/arrayobject.h":
    object PyDataMem_SetHandler(object handler)
    object PyDataMem_GetHandler()


#: blocks of at least this many bytes are cached (smaller ones stay with NumPy's allocator)
LARGE_BLOCK = 32 << 20
#: bytes the cache holds at most (its oldest blocks are freed to make room)
CACHE_LIMIT = 1 << 30
cdef enum:
    SLOTS = 64          # blocks the cache holds at most
    ALIGN = 64          # every block starts on a boundary of this many bytes (a cache line)

# Blocks from this size are made to their capacity (_capacity), whatever LARGE_BLOCK
# is at the time: a block's capacity then follows from its size alone, even for an
# array made while the smallest cached size was another (_set_sizes)
cdef size_t _ROUND_FROM = 1 << 16
cdef size_t _large = LARGE_BLOCK
cdef size_t _limit = CACHE_LIMIT
cdef void *_blocks[SLOTS]       # the free blocks, oldest first
cdef size_t _sizes[SLOTS]
cdef int _count = 0
cdef size_t _held = 0           # bytes in the cache
cdef bint _open = False         # a call is running: freed large blocks are kept
cdef PyThread_type_lock _cache_lock = PyThread_allocate_lock()
cdef PyDataMemAllocator _numpy     # NumPy's allocator, which the small blocks go to
cdef PyDataMem_Handler _handler


cdef void *_take(size_t size) noexcept nogil:
    """A cached block of exactly `size` bytes (the newest), or NULL."""
    global _count, _held
    cdef void *block = NULL
    cdef int i
    PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
    for i in range(_count - 1, -1, -1):
        if _sizes[i] == size:
            block = _blocks[i]
            memmove(&_blocks[i], &_blocks[i + 1], (_count - 1 - i) * sizeof(void *))
            memmove(&_sizes[i], &_sizes[i + 1], (_count - 1 - i) * sizeof(size_t))
            _count -= 1
            _held -= size
            break
    PyThread_release_lock(_cache_lock)
    return block


cdef bint _keep(void *block, size_t size) noexcept nogil:
    """Put a freed block in the cache (the oldest ones freed to make room); False
    when no call is running or the block alone is over the limit."""
    global _count, _held
    cdef bint kept = False
    PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
    if _open and size <= _limit:
        while _count > 0 and (_count == SLOTS or _held + size > _limit):
            _release(_blocks[0], _sizes[0])
            _held -= _sizes[0]
            _count -= 1
            memmove(&_blocks[0], &_blocks[1], _count * sizeof(void *))
            memmove(&_sizes[0], &_sizes[1], _count * sizeof(size_t))
        _blocks[_count] = block
        _sizes[_count] = size
        _count += 1
        _held += size
        kept = True
    PyThread_release_lock(_cache_lock)
    return kept


cdef inline size_t _capacity(size_t size) noexcept nogil:
    """The bytes of a block made for `size` bytes: from _ROUND_FROM, `size` rounded up
    to a multiple of an eighth of the power of two below it (at most 1/8 more, and
    arrays of nearby sizes share blocks); a smaller `size` itself."""
    cdef size_t power = _ROUND_FROM       # a power of two
    cdef size_t step
    if size < _ROUND_FROM:
        return size
    while power <= size // 2:
        power *= 2                   # power <= size < 2 * power
    step = power // 8
    if size > SIZE_MAX - step:
        return size
    return (size + step - 1) // step * step


cdef inline void *_boundary(void *raw) noexcept nogil:
    """The first ALIGN-byte boundary after `raw` (8 to ALIGN bytes on: malloc's blocks
    are aligned to 8 at least)."""
    return <void *>((<uintptr_t>raw + ALIGN) & ~<uintptr_t>(ALIGN - 1))


cdef inline void *_aligned(void *raw) noexcept nogil:
    """`raw`'s boundary (_boundary), with `raw` stored in the pointer just before it."""
    cdef void *block = _boundary(raw)
    (<void **>block - 1)[0] = raw
    return block


cdef inline void *_raw(void *block) noexcept nogil:
    """The block NumPy's allocator gave for `block` (see _aligned)."""
    return (<void **>block - 1)[0]


cdef inline void _release(void *block, size_t capacity) noexcept nogil:
    """Give `block`, of `capacity` bytes, back to NumPy's allocator."""
    _numpy.free(_numpy.ctx, _raw(block), capacity + ALIGN)


cdef void *_malloc(void *ctx, size_t size) noexcept nogil:
    cdef size_t capacity = _capacity(size)
    cdef void *block
    if size >= _large:
        block = _take(capacity)
        if block != NULL:
            return block
    if capacity > SIZE_MAX - ALIGN:
        return NULL
    block = _numpy.malloc(_numpy.ctx, capacity + ALIGN)
    return _aligned(block) if block != NULL else NULL


cdef void *_calloc(void *ctx, size_t nelem, size_t elsize) noexcept nogil:
    cdef void *block
    cdef size_t size, capacity
    if elsize != 0 and nelem > SIZE_MAX // elsize:
        return NULL
    size = nelem * elsize
    capacity = _capacity(size)
    if size >= _large:
        block = _take(capacity)
        if block != NULL:
            memset(block, 0, size)
            return block
    if capacity > SIZE_MAX - ALIGN:
        return NULL
    block = _numpy.calloc(_numpy.ctx, capacity + ALIGN, 1)
    return _aligned(block) if block != NULL else NULL


cdef void *_realloc(void *ctx, void *ptr, size_t new_size) noexcept nogil:
    # every block is NumPy's allocator's, shifted to a boundary (_aligned): the new
    # one keeps the capacity that free() will expect, and its data moves to the new
    # block's boundary (both offsets are at most ALIGN, so the move stays inside)
    cdef size_t capacity = _capacity(new_size)
    cdef size_t offset
    cdef char *raw
    if ptr == NULL:
        return _malloc(ctx, new_size)
    if capacity > SIZE_MAX - ALIGN:
        return NULL
    offset = <char *>ptr - <char *>_raw(ptr)
    raw = <char *>_numpy.realloc(_numpy.ctx, _raw(ptr), capacity + ALIGN)
    if raw == NULL:
        return NULL
    if <char *>_boundary(raw) != raw + offset:
        memmove(_boundary(raw), raw + offset, capacity)
    return _aligned(raw)


cdef void _free(void *ctx, void *ptr, size_t size) noexcept nogil:
    if ptr == NULL:
        return
    if size >= _large and _keep(ptr, _capacity(size)):
        return
    _release(ptr, _capacity(size))


cdef void _empty_cache() noexcept nogil:
    """Free every cached block (and stop keeping them)."""
    global _count, _held, _open
    PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
    _open = False
    while _count > 0:
        _count -= 1
        _release(_blocks[_count], _sizes[_count])
    _held = 0
    PyThread_release_lock(_cache_lock)


cdef void _set_open() noexcept nogil:
    global _open
    PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
    _open = True
    PyThread_release_lock(_cache_lock)


def _setup():
    """This module's handler, delegating to NumPy's default allocator (None if the
    handler in place at import is not NumPy's default)."""
    global _numpy
    default = PyDataMem_GetHandler()
    cdef PyDataMem_Handler *numpy_handler = <PyDataMem_Handler *>PyCapsule_GetPointer(
        default, "mem_handler")
    if numpy_handler.name != b"default_allocator":
        return None, None
    _numpy = numpy_handler.allocator
    strncpy(_handler.name, b"pyx_cnn_large_block_cache", sizeof(_handler.name) - 1)
    _handler.version = 1
    _handler.allocator.ctx = NULL
    _handler.allocator.malloc = _malloc
    _handler.allocator.calloc = _calloc
    _handler.allocator.realloc = _realloc
    _handler.allocator.free = _free
    return default, PyCapsule_New(&_handler, "mem_handler", NULL)


# NumPy's default handler (kept alive: the blocks go back to it) and this module's
_NUMPY_HANDLER, _HANDLER = _setup()
_lock = threading.Lock()
_depth = 0      # calls running (all threads)


def _after_fork_in_child():
    # another thread of the parent may have held a lock at the fork: the child
    # starts with new ones; its copy of the cached blocks is freed
    global _lock, _depth, _cache_lock
    _lock = threading.Lock()
    _depth = 0
    _cache_lock = PyThread_allocate_lock()
    _empty_cache()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _set_sizes(large_block, cache_limit):
    """Set the smallest cached block and the cache's limit, in bytes (for tests,
    outside any call); returns the previous pair."""
    global _large, _limit
    if _depth:
        raise RuntimeError("the cache's sizes are set outside the library's calls")
    if large_block < _ROUND_FROM or large_block & (large_block - 1):
        raise ValueError(f"large_block must be a power of two of at least {_ROUND_FROM}, "
                         f"got {large_block!r}")
    previous = (_large, _limit)
    _large, _limit = large_block, cache_limit
    return previous


def cached_bytes():
    """Bytes the cache holds now (0 outside the library's calls)."""
    return _held


@contextmanager
def reusing_large_blocks():
    """Inside the block (re-entrant, thread-safe), NumPy arrays allocated by this
    thread take their data from this module's allocator; the cache is emptied when
    the last block entered by any thread ends."""
    global _depth
    if _HANDLER is None or PyDataMem_GetHandler() is not _NUMPY_HANDLER:
        yield        # a handler of the program's own (or ours, entered already)
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _set_open()
    previous = PyDataMem_SetHandler(_HANDLER)
    try:
        yield
    finally:
        PyDataMem_SetHandler(previous)
        with _lock:
            _depth -= 1
            if _depth == 0:
                _empty_cache()


def reuses_large_blocks(function):
    """Decorator: run `function` inside :func:`reusing_large_blocks`."""
    @wraps(function)
    def wrapper(*args, **kwargs):
        with reusing_large_blocks():
            return function(*args, **kwargs)
    return wrapper

