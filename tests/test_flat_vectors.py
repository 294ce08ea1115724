"""The kernels on a network's flat vectors (pyx_cnn._flat_vectors) against numpy."""
import numpy as np
import pytest

from pyx_cnn import _flat_vectors
from pyx_cnn.optim import SGD

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 33, 100])
def test_all_finite_finds_every_nan_and_inf(dtype, n):
    rng = np.random.default_rng(n)
    values = (rng.uniform(-1, 1, n) * np.finfo(dtype).max).astype(dtype)    # large, finite
    assert np.isfinite(values).all()
    assert _flat_vectors._all_finite(values)
    for position in range(n):
        for bad in (np.nan, np.inf, -np.inf):
            spoiled = values.copy()
            spoiled[position] = bad
            assert not _flat_vectors._all_finite(spoiled), (position, bad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_finite_extremes_are_finite(dtype):
    info = np.finfo(dtype)
    values = np.array([info.max, -info.max, info.tiny, -info.tiny, info.smallest_subnormal,
                       0.0, -0.0] * 5, dtype=dtype)
    assert _flat_vectors._all_finite(values)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.1, 1e-3, 0.0, 3.7])
def test_sgd_update_is_numpys_bitwise(dtype, rate):
    rng = np.random.default_rng(1)
    params = rng.standard_normal(1001).astype(dtype)
    grads = rng.standard_normal(1001).astype(dtype)
    expected = params - np.multiply(grads, rate)     # the product rounded to dtype first
    _flat_vectors._sgd_update(params, grads, rate)
    np.testing.assert_array_equal(params, expected)


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
                                     {"weight_decay": 0.01}])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_step_is_the_same_on_every_path(options, dtype):
    """The flat vectors' one-pass update and the general path (a 2-D array, a view
    with a stride) give the same bits."""
    rng = np.random.default_rng(2)
    params = rng.standard_normal(64).astype(dtype)
    grads = rng.standard_normal(64).astype(dtype)
    flat, grid, strided = params.copy(), params.reshape(8, 8).copy(), np.repeat(params, 2)
    a, b, c = SGD(**options), SGD(**options), SGD(**options)
    for _ in range(3):
        a.step(flat, grads, 0.05)
        b.step(grid, grads.reshape(8, 8), 0.05)
        c.step(strided[::2], grads, 0.05)
    np.testing.assert_array_equal(flat, grid.reshape(-1))
    np.testing.assert_array_equal(flat, strided[::2])
    np.testing.assert_array_equal(strided[1::2], params)      # untouched


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_over_threads_gives_the_same_answers(dtype):
    # a NaN or inf in any thread's run of values is found; the update is the same bits
    from pyx_cnn import _threads

    rng = np.random.default_rng(3)
    n = 1003
    params = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal(n).astype(dtype)
    with _threads._always_split():
        for threads in (1, 2, 3):
            assert _flat_vectors._all_finite(grads, threads)
            for position in (0, n // 3, n // 2, n - 1):
                spoiled = grads.copy()
                spoiled[position] = np.nan
                assert not _flat_vectors._all_finite(spoiled, threads), (threads, position)
            updated = params.copy()
            _flat_vectors._sgd_update(updated, grads, 0.1, threads)
            np.testing.assert_array_equal(updated, params - np.multiply(grads, 0.1))
