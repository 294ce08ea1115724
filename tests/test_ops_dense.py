"""The fully connected op (:mod:`pyx_cnn.ops.dense`) and its split matrix products
(:mod:`pyx_cnn._matmul`).

The products equal numpy's ``@`` (float64 sums of the same values as the
reference) with either operand transposed, in one piece and split; the values are the same bits at 1, 2 and 3 threads
(the pieces are fixed by the shape); forward and backward equal the plain loops
of :mod:`pyx_cnn.reference` and write the given gradient arrays in place.
"""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import _matmul, _threads, reference
from pyx_cnn.ops import dense

RTOL = {np.float32: 1e-4, np.float64: 1e-12}

# (m, k, n): small (one piece), split by columns, split by rows, uneven last pieces
SHAPES = [(3, 5, 7), (64, 4096, 128), (4096, 64, 128), (64, 128, 4096), (129, 200, 1000),
          (1000, 150, 129), (33, 170, 250), (33, 17, 250), (1, 300, 500)]


def _product(a, b, transpose_a, transpose_b):
    """The product in float64, as a reference."""
    a = a.T if transpose_a else a
    b = b.T if transpose_b else b
    return a.astype(np.float64) @ b.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_equals_numpy_at_every_thread_count(m, k, n, transpose_a, transpose_b, dtype):
    rng = np.random.default_rng(m * 7 + n)
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    expected = _product(a, b, transpose_a, transpose_b)
    outs = []
    try:
        for threads in (1, 2, 3):
            pyx_cnn.set_num_threads(threads)
            with _threads._always_split():
                outs.append(dense.matmul(a, b, transpose_a=transpose_a,
                                         transpose_b=transpose_b))
    finally:
        pyx_cnn.set_num_threads(None)
    assert outs[0].shape == (m, n) and outs[0].dtype == dtype
    np.testing.assert_allclose(outs[0], expected, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.sqrt(k))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize("m, k, n", [(0, 4, 300), (300, 0, 400), (200, 300, 0)])
def test_matmul_of_empty_operands(m, k, n):
    # through the op and the split kernel itself at two threads
    a = np.ones((m, k), np.float32)
    b = np.ones((k, n), np.float32)
    out = np.full((m, n), np.nan, np.float32)
    assert dense.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, np.zeros((m, n), np.float32))
    out[...] = np.nan
    _matmul._matmul(a, b, out, False, False, 2)
    np.testing.assert_array_equal(out, np.zeros((m, n), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, features, units", [(5, 7, 3), (6, 120, 200)])   # small, split
def test_forward_and_backward_equal_plain_loops(n, features, units, dtype):
    rng = np.random.default_rng(units)
    x = rng.standard_normal((n, features)).astype(dtype)
    weights = rng.standard_normal((features, units)).astype(dtype)
    bias = rng.standard_normal(units).astype(dtype)
    grad_out = rng.standard_normal((n, units)).astype(dtype)
    out, saved = dense.forward(x, weights, bias)
    grad_weights = np.full((features, units), np.nan, dtype)
    grad_bias = np.full(units, np.nan, dtype)
    gx, gw, gb = dense.backward(grad_out, saved, grad_weights=grad_weights,
                                grad_bias=grad_bias)
    tol = dict(rtol=RTOL[dtype], atol=RTOL[dtype] * np.sqrt(features))
    np.testing.assert_allclose(out, reference.dense(x, weights, bias), **tol)
    expected = reference.dense_backward(x, weights, grad_out)
    assert gw is grad_weights and gb is grad_bias           # written in place
    for got, want in zip((gx, gw, gb), expected):
        np.testing.assert_allclose(got, want, **tol)
    assert dense.backward(grad_out, saved, input_grad=False)[0] is None
    no_bias, saved = dense.forward(x, weights)
    np.testing.assert_allclose(no_bias, reference.dense(x, weights), **tol)
    assert dense.backward(grad_out, saved)[2] is None          # no bias, no gradient


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(3, 5, 7), (33, 17, 250), (129, 200, 1000), (1000, 150, 129),
                                     (4, 0, 6)])
def test_matmul_with_bias_adds_it_to_every_row(m, k, n, dtype):
    rng = np.random.default_rng(m + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    expected = _product(a, b, False, False) + bias
    outs = []
    try:
        for threads in (1, 2, 3):
            pyx_cnn.set_num_threads(threads)
            with _threads._always_split():
                outs.append(dense.matmul(a, b, bias=bias))
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_allclose(outs[0], expected, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.sqrt(k + 1))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n", [(0, 5), (1, 5), (32, 10), (257, 129)])
def test_bias_gradient_is_numpys_row_order_sums(m, n, dtype):
    rng = np.random.default_rng(m)
    grad_out = rng.standard_normal((m, n)).astype(dtype)
    x = rng.standard_normal((m, 3)).astype(dtype)
    weights = rng.standard_normal((3, n)).astype(dtype)
    grad_bias = np.full(n, np.nan, dtype)
    _, _, out = dense.backward(grad_out, (x, weights, True), grad_bias=grad_bias)
    assert out is grad_bias
    np.testing.assert_array_equal(grad_bias, np.add.reduce(grad_out, axis=0))
    expected = np.zeros(n, np.float64)
    for row in grad_out:
        expected += row
    np.testing.assert_allclose(grad_bias, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
