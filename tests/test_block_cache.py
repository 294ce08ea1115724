"""The cache of large blocks (pyx_cnn._block_cache): blocks reused inside the
library's calls, NumPy's allocator back in place and the cache empty after them,
and the same results as NumPy's own allocator."""
import threading

import numpy as np
import pytest
from numpy._core.multiarray import get_handler_name

import pyx_cnn
from pyx_cnn import _block_cache, layers

OURS = "pyx_cnn_large_block_cache"


@pytest.fixture
def small_blocks():
    """Cache blocks from 64 KiB (the small networks below then use it)."""
    previous = _block_cache._set_sizes(1 << 16, 1 << 30)
    yield 1 << 16
    _block_cache._set_sizes(*previous)


def test_a_freed_block_serves_the_next_array_of_its_capacity():
    large = _block_cache.LARGE_BLOCK
    assert get_handler_name() == "default_allocator"
    with _block_cache.reusing_large_blocks():
        assert get_handler_name() == OURS
        a = np.empty(large + 1000, np.uint8)
        address = a.ctypes.data
        a[:] = 7
        del a
        assert _block_cache.cached_bytes() >= large + 1000
        b = np.zeros(large + 2000, np.uint8)      # the same capacity, cleared
        assert b.ctypes.data == address
        assert not b.any()
        assert _block_cache.cached_bytes() == 0
        c = np.empty(4 * large, np.uint8)           # another capacity: a new block
        assert c.ctypes.data != address
        kept = np.arange(large // 8, dtype=np.float64)   # outlives the call
        del b, c
    assert get_handler_name() == "default_allocator"
    assert _block_cache.cached_bytes() == 0
    assert get_handler_name(kept) == OURS
    np.testing.assert_array_equal(kept[:5], [0, 1, 2, 3, 4])
    del kept                                        # freed after the call: fine


def test_small_blocks_stay_with_numpy():
    with _block_cache.reusing_large_blocks():
        a = np.ones(1000)
        del a
        assert _block_cache.cached_bytes() == 0


def test_handler_restored_after_an_exception():
    with pytest.raises(KeyError):
        with _block_cache.reusing_large_blocks():
            big = np.empty(_block_cache.LARGE_BLOCK, np.uint8)
            del big
            raise KeyError("x")
    assert get_handler_name() == "default_allocator"
    assert _block_cache.cached_bytes() == 0


def test_nested_and_concurrent_calls():
    large = _block_cache.LARGE_BLOCK
    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def other():
        with _block_cache.reusing_large_blocks():
            seen["handler"] = get_handler_name()
            inside.set()
            done.wait(10)
            block = np.empty(large, np.uint8)
            del block

    with _block_cache.reusing_large_blocks():
        with _block_cache.reusing_large_blocks():      # nested: the same handler
            assert get_handler_name() == OURS
        assert get_handler_name() == OURS
        thread = threading.Thread(target=other)
        thread.start()
        assert inside.wait(10)
        block = np.empty(large, np.uint8)
        del block
        assert _block_cache.cached_bytes() >= large
    # the other thread's call still runs: the cache stays until it leaves
    assert get_handler_name() == "default_allocator"
    assert seen["handler"] == OURS
    done.set()
    thread.join(10)
    assert _block_cache.cached_bytes() == 0


def test_a_block_made_under_another_smallest_size():
    # an array made inside a call while blocks from 32 MiB are cached, freed inside a
    # call that caches from 64 KiB: its block holds what its capacity says (the next
    # array of that capacity is written whole; AddressSanitizer's run checks it)
    with _block_cache.reusing_large_blocks():
        kept = np.empty(100_000, np.uint8)
    previous = _block_cache._set_sizes(1 << 16, 1 << 30)
    try:
        with _block_cache.reusing_large_blocks():
            address = kept.ctypes.data
            del kept
            assert _block_cache.cached_bytes() >= 100_000
            again = np.empty(104_000, np.uint8)      # the same capacity
            assert again.ctypes.data == address
            again[:] = 1
            del again
    finally:
        _block_cache._set_sizes(*previous)


def test_the_limit_holds(small_blocks):
    previous = _block_cache._set_sizes(small_blocks, 3 * small_blocks)
    try:
        with _block_cache.reusing_large_blocks():
            arrays = [np.empty(small_blocks, np.uint8) for _ in range(5)]
            del arrays
            assert _block_cache.cached_bytes() == 3 * small_blocks
    finally:
        _block_cache._set_sizes(*previous)


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="large_block must be a power of two"):
        _block_cache._set_sizes(3000, 1 << 20)
    with _block_cache.reusing_large_blocks():
        with pytest.raises(RuntimeError, match="outside"):
            _block_cache._set_sizes(1 << 16, 1 << 20)


def _net(seed):
    return pyx_cnn.NeuralNetwork([
        layers.Conv2D(16, 3, padding=1), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPool2D(2, 2), layers.Conv2D(24, 3, padding=1), layers.ReLU(),
        layers.GlobalAvgPool2D(), layers.Dense(5, activation="softmax"),
    ], input_shape=(24, 24, 3), seed=seed, dtype="float32")


def _train_and_predict(x, y):
    net = _net(3)
    history = net.fit(x, y, epochs=2, batch_size=32, learning_rate=0.05, shuffle=False)
    return history.history["loss"], net.get_weights(), net.predict(x, batch_size=48)


@pytest.mark.parametrize("threads", [1, 2])
def test_training_and_prediction_same_as_with_numpys_allocator(small_blocks, threads,
                                                              monkeypatch):
    """A network whose arrays go through the cache (blocks from 64 KiB) trains and
    predicts exactly as with NumPy's allocator alone."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 24, 24, 3)).astype(np.float32)
    y = rng.integers(0, 5, 96)
    pyx_cnn.set_num_threads(threads)
    try:
        cached = _train_and_predict(x, y)
        monkeypatch.setattr(_block_cache, "_HANDLER", None)
        plain = _train_and_predict(x, y)
    finally:
        pyx_cnn.set_num_threads(None)
    assert cached[0] == plain[0]
    for a, b in zip(cached[1], plain[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cached[2], plain[2])
    assert get_handler_name() == "default_allocator"
    assert _block_cache.cached_bytes() == 0


def test_calls_enter_the_cache(small_blocks, monkeypatch):
    """fit, predict and evaluate run with the cache's allocator."""
    seen = []
    net = _net(0)
    real = net._chain.plan

    def spy(*args, **kwargs):
        seen.append(get_handler_name())
        return real(*args, **kwargs)

    monkeypatch.setattr(net._chain, "plan", spy)
    x = np.zeros((8, 24, 24, 3), np.float32)
    y = np.zeros(8, np.int64)
    net.fit(x, y, epochs=1, batch_size=8)
    net.predict(x)
    net.evaluate(x, y)
    assert seen and set(seen) == {OURS}
    assert get_handler_name() == "default_allocator"


def test_blocks_start_on_cache_lines():
    # every array made inside a call, small or large, cached or not, starts on a
    # 64-byte boundary; arrays from NumPy's allocator need not (large ones do not)
    large = _block_cache.LARGE_BLOCK
    sizes = [0, 1, 24, 1000, 70_000, 1 << 20, large + 1000]
    with _block_cache.reusing_large_blocks():
        for size in sizes + sizes:              # the second time from the cache too
            for make in (np.empty, np.zeros, np.ones):
                a = make(size, np.uint8)
                assert a.ctypes.data % 64 == 0, (make.__name__, size)
                if make is np.zeros:
                    assert not a.any()
                if size:
                    a[-1] = 1                   # the whole block is there (ASan)
                del a
        kept = np.full(100_000, 3.0)
    assert kept.ctypes.data % 64 == 0 and (kept == 3.0).all()
    del kept                                    # freed through the handler, after the call


@pytest.mark.parametrize("sizes", [(10, 100_000, 17, 3_000_000, 5),
                                   (200_000, 1_000, 5_000_000, 70_000, 1)])
def test_a_resized_array_keeps_its_values_and_its_boundary(sizes):
    # ndarray.resize reallocates: the data moves with its block, to the new
    # block's boundary, whatever the offsets of the old and new blocks
    with _block_cache.reusing_large_blocks():
        a = np.arange(sizes[0], dtype=np.float64)
        for n in sizes[1:]:
            kept = min(n, a.size)
            expected = np.arange(kept, dtype=np.float64)
            a.resize(n, refcheck=False)
            assert a.ctypes.data % 64 == 0
            np.testing.assert_array_equal(a[:kept], expected)
            a[kept:] = np.arange(kept, n)       # the new part written whole
