"""The fully connected layer as plain loops: ``out = x @ weights + bias`` and its
gradients."""
import numpy as np


def dense(x, weights, bias=None):
    """``out[i, u] = bias[u] + sum_j x[i, j] * weights[j, u]`` for `x` ``(N, in_features)``
    and `weights` ``(in_features, units)``.

    >>> dense(np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 3.0]]), np.array([0.5, 0.0]))
    array([[3.5, 6. ]])
    """
    x = np.asarray(x, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    n, features = x.shape
    units = weights.shape[1]
    out = np.zeros((n, units))
    for i in range(n):
        for u in range(units):
            total = 0.0 if bias is None else float(bias[u])
            for j in range(features):
                total += x[i, j] * weights[j, u]
            out[i, u] = total
    return out


def dense_backward(x, weights, grad):
    """``(dL/dx, dL/dweights, dL/dbias)`` of :func:`dense` from ``grad = dL/dout``
    ``(N, units)``: each output ``out[i, u]`` sends ``grad[i, u] * weights[j, u]`` to
    ``x[i, j]``, ``grad[i, u] * x[i, j]`` to ``weights[j, u]`` and ``grad[i, u]`` to
    ``bias[u]``."""
    x = np.asarray(x, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    n, features = x.shape
    units = weights.shape[1]
    grad_x = np.zeros((n, features))
    grad_weights = np.zeros((features, units))
    grad_bias = np.zeros(units)
    for i in range(n):
        for u in range(units):
            grad_bias[u] += g[i, u]
            for j in range(features):
                grad_x[i, j] += g[i, u] * weights[j, u]
                grad_weights[j, u] += g[i, u] * x[i, j]
    return grad_x, grad_weights, grad_bias
