"""Softmax cross-entropy fused with its gradient, in one pass over the logits.

Private: :mod:`pyx_cnn.losses` validates arguments before calling this.
"""
from libc.math cimport exp, log
from libc.stdint cimport int64_t

from cython cimport floating


def _softmax_cross_entropy_labels(
    const floating[:, ::1] z, const int64_t[::1] labels, floating[:, ::1] grad
):
    """Mean softmax cross-entropy of logits z (N, K) against labels in [0, K).

    Writes ``grad = (softmax(z) - onehot(labels)) / N`` and returns
    ``(mean loss, number of rows whose first arg-max equals the label)``.
    Each row is shifted by its maximum, so no exponential overflows; the loss
    is summed in double precision.
    """
    cdef Py_ssize_t n = z.shape[0]
    cdef Py_ssize_t k = z.shape[1]
    cdef Py_ssize_t r, j, best, label
    cdef double m, s, e, total = 0, scale
    cdef Py_ssize_t correct = 0
    if n == 0:
        return 0.0, 0
    with nogil:
        for r in range(n):
            m = z[r, 0]
            best = 0
            for j in range(1, k):
                if z[r, j] > m:
                    m = z[r, j]
                    best = j
            s = 0
            for j in range(k):
                e = exp(z[r, j] - m)
                grad[r, j] = <floating>e
                s = s + e
            label = labels[r]
            total = total + log(s) + m - z[r, label]
            scale = 1.0 / (s * n)
            for j in range(k):
                grad[r, j] = <floating>(grad[r, j] * scale)
            grad[r, label] = <floating>(grad[r, label] - 1.0 / n)
            if best == label:
                correct = correct + 1
    return total / n, correct
