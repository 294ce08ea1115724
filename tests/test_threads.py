import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.reference import conv as conv_naive


def test_set_and_get_num_threads():
    try:
        pyx_cnn.set_num_threads(1)
        assert pyx_cnn.get_num_threads() == 1
        pyx_cnn.set_num_threads(3)
        expected = 3 if pyx_cnn.show_config()["openmp"] else 1
        assert pyx_cnn.get_num_threads() == expected
        with pytest.raises(ValueError):
            pyx_cnn.set_num_threads(0)
        with pytest.raises(TypeError):
            pyx_cnn.set_num_threads(1.5)
        with pytest.raises(TypeError):
            pyx_cnn.set_num_threads("2")
    finally:
        pyx_cnn.set_num_threads(None)
    assert pyx_cnn.get_num_threads() >= 1


@pytest.mark.skipif(not pyx_cnn.show_config()["openmp"], reason="built without OpenMP")
def test_omp_num_threads_is_honoured(tmp_path):
    code = "import pyx_cnn; print(pyx_cnn.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "3"


def test_many_python_threads_give_identical_results():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 32, 32, 4)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 4)).astype(np.float32)
    expected_conv = pyx_cnn.conv(x, w, padding=1)
    expected_pool = pyx_cnn.pooling(expected_conv, 2, 2)

    def work(_):
        c = pyx_cnn.conv(x, w, padding=1)
        return c, pyx_cnn.pooling(pyx_cnn.relu(c), 2, 2)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(32)))
    for c, p in results:
        np.testing.assert_array_equal(c, expected_conv)
        np.testing.assert_array_equal(p, pyx_cnn.pooling(pyx_cnn.relu(expected_conv), 2, 2))
    assert expected_pool.shape == (8, 16, 16, 8)
    np.testing.assert_allclose(expected_conv[:1], conv_naive(x[:1], w, 1, 1), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("fn", ["conv", "pooling", "relu", "sigmoid"])
def test_one_and_two_threads_agree(fn):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 64, 64, 8))
    calls = {
        "conv": lambda: pyx_cnn.conv(x, np.ones((4, 3, 3, 8)), stride=1, padding=1),
        "pooling": lambda: pyx_cnn.pooling(x, 3, 2),
        "relu": lambda: pyx_cnn.relu(x),
        "sigmoid": lambda: pyx_cnn.sigmoid(x),
    }
    try:
        pyx_cnn.set_num_threads(1)
        one = calls[fn]()
        pyx_cnn.set_num_threads(2)
        two = calls[fn]()
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_array_equal(one, two)


# ---- when a kernel uses threads: the cost model of pyx_cnn._threads ----

from pyx_cnn import _threads  # noqa: E402

needs_openmp = pytest.mark.skipif(not pyx_cnn.show_config()["openmp"],
                                  reason="built without OpenMP")


def model_threads(work, units, family, n_threads, per_thread):
    """The rule, written out: the n minimising t1 * ceil(units / n) / units + per_thread * n."""
    t1 = work * _threads._step_seconds(family)
    times = {n: t1 * -(-units // n) / units + (per_thread * n if n > 1 else 0)
             for n in range(1, min(n_threads, units) + 1)}
    return min(times, key=lambda n: (times[n], n))


@needs_openmp
def test_tiny_work_runs_on_one_thread():
    # tiny: work that takes less at one thread than the cheapest region the model
    # allows (0.1 microseconds per thread); how cheap a region measures varies
    # between machines, so 100 steps of every family is not tiny everywhere
    for family in _threads.FAMILIES:
        assert _threads._threads_for(1, 10**6, family, 4) == 1
        tiny = max(1, int(1e-7 / _threads._step_seconds(family)))
        assert _threads._threads_for(tiny, 100, family, 4) == 1
        assert _threads._threads_for(tiny, 100, family, 64) == 1


@needs_openmp
def test_work_under_five_microseconds_stays_on_one_thread():
    # the model alone (a near-free region) would split 4.9 microseconds of work over
    # many units; the measured decision keeps it on one thread (_MIN_SPLIT_SECONDS)
    for family in _threads.FAMILIES:
        work = int(4.9e-6 / _threads._step_seconds(family))
        assert _threads._threads_for(work, 10**6, family, 2, 1e-9) == 2
        assert _threads._threads_for(work, 10**6, family, 2) == 1
        assert _threads._threads_for(work, 10**6, family, 8) == 1


@needs_openmp
def test_large_work_takes_every_thread():
    # an hour of work at one thread: any measured region cost is small beside it
    for family in _threads.FAMILIES:
        work = int(3600 / _threads._step_seconds(family))
        assert _threads._threads_for(work, 10**6, family, 4) == 4
        assert _threads._threads_for(work, 10**6, family, 2) == 2


def test_never_more_threads_than_units_nor_than_asked():
    big = 10**15
    assert _threads._threads_for(big, 3, "conv", 8) == (3 if _threads._openmp_enabled() else 1)
    assert _threads._threads_for(big, 1, "conv", 8) == 1
    assert _threads._threads_for(big, 10**6, "conv", 1) == 1
    assert _threads._threads_for(0, 10**6, "conv", 8) == 1
    for units in (1, 2, 3, 5, 17):
        for n in (1, 2, 4, 8):
            assert 1 <= _threads._threads_for(big, units, "map", n) <= min(units, n)


@needs_openmp
@pytest.mark.parametrize("family", ["conv", "pool", "sums", "map", "exp"])
def test_thread_count_is_the_one_the_costs_give(family):
    # with a fixed region cost the choice is the rule's, step by step: one thread
    # below the break-even work, then more as the work grows, and uneven units
    # (3 units on 2 threads take as long as on 3... less one region)
    per_thread = 2e-6
    step = _threads._step_seconds(family)
    break_even = 4 * per_thread / step     # t1 / 2 + 2 p < t1 from here on (many units)
    for work in (break_even / 2, break_even * 0.99, break_even * 1.01, break_even * 3,
                 break_even * 50, break_even * 1e4):
        for units in (2, 3, 7, 64, 10**6):
            for n_threads in (2, 3, 4, 8):
                got = _threads._threads_for(int(work), units, family, n_threads, per_thread)
                assert got == model_threads(int(work), units, family, n_threads, per_thread)
    assert _threads._threads_for(int(break_even * 0.99), 10**6, family, 2, per_thread) == 1
    assert _threads._threads_for(int(break_even * 1.01), 10**6, family, 2, per_thread) == 2


@needs_openmp
def test_region_cost_is_measured_positive_cached_and_never_grows():
    first = _threads._region_cost(2)
    assert 0 < first < 1.0
    assert _threads._region_cost(2) == first          # cached
    assert _threads._region_cost(3) == pytest.approx(first * 3 / 2)   # per thread, team of 2
    assert _threads._region_cost(1) == 0.0
    for _ in range(200):      # kernels' decisions: measured again at the 10th, 100th, ...
        _threads._threads_for(10**6, 100, "map", 2)
    assert 0 < _threads._region_cost(2) <= first     # the fastest measurement is kept


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="family must be one of"):
        _threads._threads_for(10, 10, "matmul", 2)


@needs_openmp
def test_always_split_ignores_the_costs_for_tests():
    assert _threads._threads_for(1, 10, "map", 4) == 1
    with _threads._always_split():
        assert _threads._threads_for(1, 10, "map", 4) == 4
        assert _threads._threads_for(1, 3, "map", 4) == 3     # still at most one per unit
    assert _threads._threads_for(1, 10, "map", 4) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_inputs_give_the_same_bits_on_one_and_on_several_threads(dtype):
    # inputs the model runs on one thread, forced onto 2 and 3 threads: every
    # kernel family splits on a grid fixed by the shape, so the bits do not change
    from pyx_cnn.ops import avg_pool, batch_norm, conv, max_pool

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 9, 10, 4)).astype(dtype)
    w = rng.standard_normal((6, 3, 3, 4)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)

    def run():
        y, saved = conv.forward(x, w, b, (1, 1), ((1, 1), (1, 1)))
        grads = conv.backward(np.ascontiguousarray(y[..., ::-1]), saved)
        p, psaved = max_pool.forward(y, 2, 2, relu=True)
        a, asaved = avg_pool.forward(y, 3, 2)
        n, nsaved = batch_norm.forward(y, np.ones(6, dtype), np.zeros(6, dtype))
        return [y, *grads, p, max_pool.backward(p, psaved), a, avg_pool.backward(a, asaved),
                n, *batch_norm.backward(n, nsaved)[:1], pyx_cnn.sigmoid(y), pyx_cnn.tanh(y)]

    try:
        pyx_cnn.set_num_threads(1)
        one = run()
        for n_threads in (2, 3):
            pyx_cnn.set_num_threads(n_threads)
            with _threads._always_split():
                many = run()
            for a, b_ in zip(one, many):
                np.testing.assert_array_equal(a, b_)
    finally:
        pyx_cnn.set_num_threads(None)
