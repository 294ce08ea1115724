"""Threads and processes: concurrent calls agree, thread counts change safely,
and processes forked after threaded work do not hang."""
import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import pytest

import pyx_cnn

OPENMP = pyx_cnn.show_config()["openmp"]
CHILD_TIMEOUT = 120  # seconds; a hung child fails the test instead of blocking it


def _inputs():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 48, 48, 6))
    w = rng.standard_normal((8, 3, 3, 6))
    return {
        "x": x, "x32": x.astype(np.float32), "w": w, "w32": w.astype(np.float32),
        "img2d": rng.standard_normal((40, 33)), "filt2d": rng.standard_normal((4, 3)),
        "bias": rng.standard_normal(8),
    }


# Big enough that every kernel starts a team of threads when allowed to.
INPUTS = _inputs()
CALLS = {
    "conv": lambda d: pyx_cnn.conv(d["x"], d["w"], stride=1, padding=1, bias=d["bias"]),
    "conv_f32": lambda d: pyx_cnn.conv(d["x32"], d["w32"], stride=2),
    "conv_": lambda d: pyx_cnn.conv_(d["img2d"], d["filt2d"]),
    "pooling": lambda d: pyx_cnn.pooling(d["x"], 3, 2),
    "relu": lambda d: pyx_cnn.relu(d["x"]),
    "sigmoid": lambda d: pyx_cnn.sigmoid(d["x32"]),
    "softmax": lambda d: pyx_cnn.softmax(d["x"], axis=-1),
}


def _all_results():
    return {name: call(INPUTS) for name, call in CALLS.items()}


def _assert_same(results, expected):
    assert results.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(results[name], expected[name], err_msg=name, strict=True)


def test_many_python_threads_at_once_give_identical_results():
    expected = _all_results()
    barrier = threading.Barrier(8)

    def work(i):
        if i < 8:
            barrier.wait(timeout=60)  # start the first eight together
        out = _all_results()
        # a raising call in the middle must not disturb the others
        with pytest.raises(ValueError):
            pyx_cnn.conv(INPUTS["x"], INPUTS["w"][..., :2])
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(40)))
    for res in results:
        _assert_same(res, expected)


@pytest.mark.parametrize("counts", [[1, 2, 3, 1, 2, None, 4, 1]])
def test_thread_count_changes_between_calls(counts):
    pyx_cnn.set_num_threads(1)
    expected = _all_results()
    for n in counts:
        pyx_cnn.set_num_threads(n)
        _assert_same(_all_results(), expected)


def test_thread_count_changed_by_another_thread_during_calls():
    pyx_cnn.set_num_threads(1)
    expected = _all_results()
    stop = threading.Event()

    def toggle():
        k = 0
        while not stop.is_set():
            pyx_cnn.set_num_threads([1, 2, 3, None][k % 4])
            k += 1

    toggler = threading.Thread(target=toggle)
    toggler.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda _: _all_results(), range(16)))
    finally:
        stop.set()
        toggler.join()
    for res in results:
        _assert_same(res, expected)


# --- fork ---------------------------------------------------------------------

def _child_compute(conn, n_threads):
    try:
        if n_threads is not None:
            pyx_cnn.set_num_threads(n_threads)
        conn.send((pyx_cnn.get_num_threads(), _all_results()))
    except BaseException as exc:  # report instead of dying silently
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


def _run_forked_child(n_threads):
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_compute, args=(child_end, n_threads))
    proc.start()
    child_end.close()
    try:
        if not parent_end.poll(CHILD_TIMEOUT):
            pytest.fail(f"forked child still busy after {CHILD_TIMEOUT} s: it hangs")
        result = parent_end.recv()
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    assert proc.exitcode == 0
    assert result[0] != "error", result[1]
    return result


def _start_openmp_team():
    """Run threaded kernels here (as a program would before forking)."""
    pyx_cnn.set_num_threads(2)
    results = _all_results()
    if OPENMP:
        # libgomp keeps its worker threads alive between teams: they are the
        # state a forked child inherits without the threads themselves
        assert psutil.Process().num_threads() > threading.active_count()
    return results


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("child_threads", [None, 1, 2, 4])
def test_fork_after_threaded_work_does_not_hang(child_threads):
    expected = _start_openmp_team()
    got_threads, results = _run_forked_child(child_threads)
    _assert_same(results, expected)
    assert got_threads == 1  # the child runs the kernels on one thread (documented)
    assert pyx_cnn.get_num_threads() == (2 if OPENMP else 1)  # the parent is unchanged
    _assert_same(_all_results(), expected)  # and its threads still work


def _pool_task(i):
    return float(pyx_cnn.conv(INPUTS["x"][i % 4], INPUTS["w"]).sum())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_pool_and_fork_while_other_threads_compute():
    _start_openmp_team()
    expected = [_pool_task(i) for i in range(8)]
    stop = threading.Event()

    def busy():  # keeps an OpenMP team running in the parent while forking
        while not stop.is_set():
            pyx_cnn.conv(INPUTS["x"], INPUTS["w"], padding=1)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            async_result = pool.map_async(_pool_task, range(8))
            got = async_result.get(CHILD_TIMEOUT)  # raises TimeoutError on a hang
    finally:
        stop.set()
        worker.join()
    assert got == expected


def test_set_num_threads_rejects_absurd_counts():
    # tens of thousands of threads exhaust the memory maps: rejected up front
    limit = pyx_cnn._threads.MAX_THREADS
    assert limit >= 256
    with pytest.raises(ValueError, match="MAX_THREADS"):
        pyx_cnn.set_num_threads(limit + 1)
    with pytest.raises(ValueError, match="MAX_THREADS"):
        pyx_cnn.set_num_threads(2**40)
    with pytest.raises(ValueError):
        pyx_cnn.set_num_threads(-3)
    with pytest.raises(TypeError):
        pyx_cnn.set_num_threads(2.0)
    assert pyx_cnn.get_num_threads() >= 1
    pyx_cnn.set_num_threads(1)
    expected = _all_results()
    pyx_cnn.set_num_threads(64)  # oversubscription within the limit works
    _assert_same(_all_results(), expected)


@pytest.mark.skipif(not OPENMP, reason="built without OpenMP")
def test_huge_omp_num_threads_is_capped(tmp_path):
    import subprocess
    import sys
    code = ("import numpy as np, pyx_cnn; n = pyx_cnn.get_num_threads(); "
            "pyx_cnn.conv(np.ones((4, 64, 64, 8)), np.ones((8, 3, 3, 8))); print(n)")
    env = dict(os.environ, OMP_NUM_THREADS="1000000")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=CHILD_TIMEOUT, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == pyx_cnn._threads.MAX_THREADS


# --- layers and networks ---------------------------------------------------------

def test_layers_in_many_threads_give_identical_results():
    """Each thread its own layers (a layer keeps its last input for backward)."""
    from pyx_cnn import layers

    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 20, 20, 3))

    def run(_):
        conv = layers.Conv2D(6, 3, padding=1, activation="relu")
        conv.build((20, 20, 3), rng=1)
        pool = layers.MaxPool2D(2, 2)
        pool.build(conv.output_shape)
        y = pool.forward(conv.forward(x))
        dx = conv.backward(pool.backward(np.ones_like(y)))
        return y, dx, conv.grads["W"].copy()

    pyx_cnn.set_num_threads(2)
    expected = run(None)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, range(24)))
    for res in results:
        for got, want in zip(res, expected):
            np.testing.assert_array_equal(got, want)


def test_one_network_predicting_from_many_threads():
    from pyx_cnn import NeuralNetwork, layers

    net = NeuralNetwork([layers.Conv2D(4, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
                         layers.Flatten(), layers.Dense(5, activation="softmax")],
                        input_shape=(12, 12, 2), seed=0)
    rng = np.random.default_rng(6)
    inputs = [rng.standard_normal((int(rng.integers(1, 9)), 12, 12, 2)) for _ in range(48)]
    expected = [net.predict(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(net.predict, inputs))
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
