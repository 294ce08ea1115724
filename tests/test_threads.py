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
