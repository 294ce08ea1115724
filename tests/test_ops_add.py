"""The residual sum and the copies of its backward pass on the library's threads
(pyx_cnn._add, pyx_cnn.ops.add): numpy's values for every thread count."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import _add, _threads
from pyx_cnn.ops import add as add_op


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [0, 1, 17, 100_003])
def test_sum_and_copy_are_numpys_on_every_thread_count(dtype, size):
    rng = np.random.default_rng(size)
    a = rng.standard_normal(size).astype(dtype)
    b = rng.standard_normal(size).astype(dtype)
    if size > 2:
        a[:3] = [np.inf, np.nan, -0.0]
        b[:3] = [-np.inf, 1.0, -0.0]
    with np.errstate(invalid="ignore"):
        want = a + b
    for threads in (1, 2, 3):
        with _threads._always_split():
            out = np.full(size, 7, dtype)
            _add._sum(a, b, out, threads)
            np.testing.assert_array_equal(out, want)
            assert (np.signbit(out) == np.signbit(want)).all()
            copied = np.full(size, 7, dtype)
            _add._copy(a, copied, threads)
            np.testing.assert_array_equal(copied, a)
            in_place = a.copy()          # out may be an input
            _add._sum(in_place, b, in_place, threads)
            np.testing.assert_array_equal(in_place, want)


def test_forward_backward_and_total_as_numpy():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 5, 6, 3)).astype(np.float32) for _ in range(3)]
    for threads in (1, 2):
        pyx_cnn.set_num_threads(threads)
        try:
            with _threads._always_split():
                out, saved = add_op.forward(xs)
                np.testing.assert_array_equal(out, (xs[0] + xs[1]) + xs[2])
                grads = add_op.backward(xs[0], saved)
        finally:
            pyx_cnn.set_num_threads(None)
        assert grads[0] is xs[0] and len(grads) == 3
        for g in grads[1:]:
            assert g is not xs[0] and g.flags.c_contiguous
            np.testing.assert_array_equal(g, xs[0])
    # other dtypes and layouts: numpy's own addition and copy
    half = xs[0].astype(np.float16)
    np.testing.assert_array_equal(add_op.total(half, half), half + half)
    strided = xs[0][:, ::2]
    np.testing.assert_array_equal(add_op.total(strided, strided), strided + strided)
    assert add_op.backward(strided, (2,))[1].flags.c_contiguous
