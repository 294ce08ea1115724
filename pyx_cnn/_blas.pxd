# Matrix products for the kernels, on the BLAS that SciPy ships
# (scipy.linalg.cython_blas): callable without the GIL, from inside prange.
#
# Thread policy: the kernels call these from their own OpenMP threads, each on
# its own slice of the work, while the library holds the BLAS to one thread
# (pyx_cnn._thread_policy); so one pool of threads runs at a time.
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                      const floating* a, int lda, const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major ``C (m x n) = alpha * op(A) @ op(B) + beta * C``.

    ``op(A)`` is ``(m, k)``: `a` holds A as ``(m, k)`` rows of `lda` values, or
    (`trans_a`) as ``(k, m)``; likewise ``op(B)`` is ``(k, n)``. BLAS is
    column-major: a row-major matrix is its transpose, so the call computes
    ``C^T = op(B)^T @ op(A)^T``.
    """
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    if floating is float:
        sgemm(&ta, &tb, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&ta, &tb, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda,
              &beta, c, &ldc)
