"""The library's thread policy: every BLAS held to one thread while pyx_cnn works
(its own OpenMP team splits the work), the BLAS's own setting restored after."""
import threading

import numpy as np
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

import pyx_cnn  # noqa: E402
from pyx_cnn import NeuralNetwork, _threads, layers  # noqa: E402
from pyx_cnn._thread_policy import one_blas_thread  # noqa: E402


def blas_threads():
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"]


def test_one_blas_thread_inside_and_restored_after():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and all(n == 2 for n in before)
        with one_blas_thread():
            assert all(n == 1 for n in blas_threads())
            with one_blas_thread():               # re-entrant
                assert all(n == 1 for n in blas_threads())
            assert all(n == 1 for n in blas_threads())
        assert blas_threads() == before


def test_fit_and_predict_run_with_one_blas_thread():
    seen = []

    class Probe(layers.Flatten):
        def _forward(self, x, training=False):
            seen.append(blas_threads())
            return super()._forward(x, training)

    net = NeuralNetwork([layers.Conv2D(2, 3), Probe(), layers.Dense(3, activation="softmax")],
                        input_shape=(6, 6, 1), seed=0)
    x = np.random.default_rng(0).random((8, 6, 6, 1))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        net.fit(x, np.arange(8) % 3, epochs=1, batch_size=4)
        net.predict(x)
        net.evaluate(x, np.arange(8) % 3)
        assert all(n == 2 for n in blas_threads())
    assert len(seen) == 2 + 1 + 1 and all(n == 1 for calls in seen for n in calls)


def test_concurrent_callers_restore_the_setting_once_all_are_done():
    barrier = threading.Barrier(4)

    def work():
        with one_blas_thread():
            barrier.wait()
            assert all(n == 1 for n in blas_threads())
            barrier.wait()

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(n == 2 for n in blas_threads())


def test_set_num_threads_governs_the_training_kernels():
    # the same training at 1 and 2 threads: identical weights (the kernels split
    # the batch statically; BLAS runs on the calling thread in both cases). The
    # batches are too small to be worth a team: the kernels split them anyway here
    x = np.random.default_rng(1).random((16, 10, 10, 3))
    y = np.arange(16) % 4
    results = []
    try:
        for n in (1, 2):
            pyx_cnn.set_num_threads(n)
            net = NeuralNetwork([layers.Conv2D(8, 3, padding=1), layers.ReLU(),
                                 layers.MaxPool2D(), layers.Flatten(),
                                 layers.Dense(4, activation="softmax")],
                                input_shape=(10, 10, 3), seed=0)
            with _threads._always_split():
                net.fit(x, y, epochs=2, batch_size=8)
            results.append(net.flat_params.copy())
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-14)
