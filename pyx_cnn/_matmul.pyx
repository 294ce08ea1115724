"""Matrix products split over the kernels' threads: the Dense layer's products (its
output with the bias, ``x.T @ grad`` and ``grad @ W.T``), and the column sums of its
bias gradient.

``out = op(a) @ op(b)`` (``op``: the matrix or its transpose) on the BLAS that
SciPy ships (``scipy.linalg.cython_blas``, :mod:`pyx_cnn._blas`), one product
per piece of `out`: blocks of rows where `out` has more rows than columns,
else blocks of columns, handed out to the OpenMP team as its threads come free.
Each thread runs the BLAS on one thread (the library's thread policy,
:mod:`pyx_cnn._thread_policy`), so the team is the only pool that runs.

A piece's product is the whole product's restricted to its rows or columns: each
output value is the same sum of ``k`` products, in the order the BLAS takes
them, whatever the pieces (``tests/test_ops_dense.py`` checks the values equal
for every thread count).

Why not numpy's ``@`` with its BLAS on two threads: the BLAS's pool and
OpenMP's would take the cores from each other (:mod:`pyx_cnn._thread_policy`).
Why not numpy's ``@`` on one thread: the CIFAR-style network's Dense(128)
layer (64 images, 4096 inputs) then took as long at two threads as at one
(0.93 ms forward, 2.0 ms backward in training on two AMD EPYC cores); split,
0.59 and 1.04 ms. At one thread the pieces cost about 3 % (SciPy's BLAS took
0.84 ms for the forward product, numpy's 0.72; 0.89 against 0.99 for the input
gradient's).
"""
from cython cimport floating
from cython.parallel cimport prange

from pyx_cnn._blas cimport gemm
from pyx_cnn._threads cimport FAMILY_CONV, threads_for

cdef enum:
    _BLOCK = 64     # pieces of a multiple of this many rows or columns (but the last)
    _PIECES = 8     # at most this many pieces, handed out as threads come free


def _matmul(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out,
            bint trans_a, bint trans_b, int n_threads, const floating[::1] bias=None):
    """``out = op(a) @ op(b)`` (``+ bias`` on every row when `bias`, ``(n,)``, is
    given): `a` is ``(m, k)``, or ``(k, m)`` with `trans_a`; `b` is ``(k, n)``, or
    ``(n, k)`` with `trans_b`; `out` is ``(m, n)``. The callers check the shapes
    (:func:`pyx_cnn.ops.dense.matmul`). With a bias each piece of `out` is filled
    with it first, and the BLAS adds the product to it (``beta = 1``): numpy's
    ``a @ b + bias`` without the pass over `out` that adds it."""
    cdef const floating* bias0 = NULL
    if bias is not None:
        bias0 = &bias[0]
    _product(a, b, out, trans_a, trans_b, n_threads, bias0)


def _dense_backward(const floating[:, ::1] x, const floating[:, ::1] weights,
                    const floating[:, ::1] grad_out, floating[:, ::1] grad_weights,
                    floating[::1] grad_bias, floating[:, ::1] grad_x, int n_threads):
    """A Dense layer's gradients from ``grad_out`` ``(m, n)``, in one call:
    ``grad_weights = x.T @ grad_out`` (`x` ``(m, k)``, `grad_weights` ``(k, n)``),
    `grad_bias` ``(n,)`` the column sums of `grad_out` (None: no bias) and
    ``grad_x = grad_out @ weights.T`` (`weights` ``(k, n)``, `grad_x` ``(m, k)``;
    None: not wanted). The callers check the shapes (:mod:`pyx_cnn.ops.dense`)."""
    _product(x, grad_out, grad_weights, True, False, n_threads, NULL)
    if grad_bias is not None:
        _sum_columns(grad_out, grad_bias)
    if grad_x is not None:
        _product(grad_out, weights, grad_x, False, True, n_threads, NULL)


cdef void _product(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out,
                   bint trans_a, bint trans_b, int n_threads, const floating* bias0):
    """:func:`_matmul`, `bias0` the bias's first value (NULL: none)."""
    cdef int m = out.shape[0]
    cdef int n = out.shape[1]
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    cdef int lda = a.shape[1]
    cdef int ldb = b.shape[1]
    cdef bint by_rows = m > n
    cdef int extent = m if by_rows else n
    cdef int blocks = (extent + _BLOCK - 1) // _BLOCK
    cdef int nt, n_pieces, p
    cdef const floating* a0
    cdef const floating* b0
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:, :] = 0
        if bias0 != NULL:
            _fill_rows(&out[0, 0], n, bias0, 0, m, 0, n)
        return
    # the pieces do not depend on the thread count (nor then the values: the BLAS may
    # sum a product of another size in another order)
    n_pieces = min(blocks, _PIECES)
    nt = threads_for(<Py_ssize_t>m * n * k, n_pieces, n_threads, FAMILY_CONV)
    a0, b0 = &a[0, 0], &b[0, 0]
    with nogil:
        if nt == 1:     # no parallel region for one thread (_threads.pxd)
            for p in range(n_pieces):
                _piece(trans_a, trans_b, a0, lda, b0, ldb, bias0, &out[0, 0], m, n, k,
                       by_rows, blocks * p // n_pieces * _BLOCK,
                       min(extent, blocks * (p + 1) // n_pieces * _BLOCK))
        else:
            for p in prange(n_pieces, num_threads=nt, schedule="dynamic"):
                _piece(trans_a, trans_b, a0, lda, b0, ldb, bias0, &out[0, 0], m, n, k,
                       by_rows, blocks * p // n_pieces * _BLOCK,
                       min(extent, blocks * (p + 1) // n_pieces * _BLOCK))


cdef inline void _fill_rows(floating* out, int n, const floating* bias, int r0, int r1,
                            int c0, int c1) noexcept nogil:
    """Columns [c0, c1) of rows [r0, r1) of `out` (rows of `n` values) = the bias's."""
    cdef int r, c
    for r in range(r0, r1):
        for c in range(c0, c1):
            out[r * n + c] = bias[c]


cdef inline void _piece(bint trans_a, bint trans_b, const floating* a0, int lda,
                        const floating* b0, int ldb, const floating* bias, floating* out,
                        int m, int n, int k, bint by_rows, int lo, int hi) noexcept nogil:
    """One piece of :func:`_matmul`'s product: rows [lo, hi) of `out` (``m x n``)
    when `by_rows`, else its columns [lo, hi); the bias's values first, if any."""
    cdef floating beta = 0
    if bias != NULL:
        beta = 1
        if by_rows:
            _fill_rows(out, n, bias, lo, hi, 0, n)
        else:
            _fill_rows(out, n, bias, 0, m, lo, hi)
    if by_rows:     # rows [lo, hi) of op(a) and of out
        gemm(trans_a, trans_b, hi - lo, n, k, <floating>1,
             a0 + (lo if trans_a else lo * lda), lda, b0, ldb, beta, out + lo * n, n)
    else:           # columns [lo, hi) of op(b) and of out
        gemm(trans_a, trans_b, m, hi - lo, k, <floating>1, a0, lda,
             b0 + (lo * ldb if trans_b else lo), ldb, beta, out + lo, n)


cdef void _sum_columns(const floating[:, ::1] x, floating[::1] out) noexcept nogil:
    """``out[j] = x[0, j] + x[1, j] + ...`` in row order (numpy's ``np.add.reduce(x,
    axis=0)``): the bias gradient of a Dense layer, ``x`` its output gradient."""
    cdef Py_ssize_t rows = x.shape[0]
    cdef Py_ssize_t cols = x.shape[1]
    cdef Py_ssize_t r, c
    for c in range(cols):
        out[c] = x[0, c] if rows > 0 else 0
    for r in range(1, rows):
        for c in range(cols):
            out[c] = out[c] + x[r, c]
