"""The tutorial's elementwise functions: ``relu``, ``tanh``, ``leaky_relu``,
``sigmoid`` and ``softmax``, on arrays of any shape.

They follow the conventions of :mod:`pyx_cnn.functional` (which exports them
too): any memory layout, float32 work when the input is float32 and float64
otherwise, a new C-contiguous result, the input never modified, and a dask
array sent to :mod:`pyx_cnn.dask_arrays`. Each validates its input and calls
the op of :mod:`pyx_cnn.ops.activations`.
"""
import numpy as np

from ._dispatch import dispatch
from .ops import activations
from .ops.activations import check_slope, get_activation, softmax_forward
from ._validation import (as_array, as_kernel_array, check_int, check_result_size,
                          needs_kernel_copy, shape_str, working_dtype)

__all__ = ["relu", "tanh", "leaky_relu", "sigmoid", "softmax"]


def _check_not_empty(array, name):
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {shape_str(array.shape)}")

def _elementwise(activation, x, name):
    x = as_array(x, name)
    _check_not_empty(x, name)
    dtype = working_dtype(x)
    buffers = [(x.shape, dtype)]
    if needs_kernel_copy(x, dtype):
        buffers.append((x.shape, dtype))
    check_result_size(name, *buffers)
    out, _ = get_activation(activation).forward(as_kernel_array(x, dtype),
                                                out=np.empty(x.shape, dtype=dtype))
    return out


@dispatch("feature_map")
def relu(feature_map):
    """Rectified linear unit, ``max(x, 0)`` elementwise.

    Parameters
    ----------
    feature_map : array_like, any shape

    Returns
    -------
    out : ndarray, same shape
        float32 for float32 input, else float64. NaN stays NaN; ``-0.0``
        becomes ``0.0``.
    """
    return _elementwise("relu", feature_map, "feature_map")


@dispatch("x")
def tanh(x):
    """Hyperbolic tangent elementwise, in [-1, 1].

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    out : ndarray, same shape
        float32 for float32 input, else float64. NaN stays NaN.
    """
    return _elementwise("tanh", x, "x")


@dispatch("x")
def leaky_relu(x, negative_slope=0.01):
    """``x`` where ``x > 0``, else ``negative_slope * x``, elementwise.

    Parameters
    ----------
    x : array_like, any shape
    negative_slope : float, optional
        >= 0.

    Returns
    -------
    out : ndarray, same shape
        float32 for float32 input, else float64. NaN stays NaN.
    """
    slope = check_slope(negative_slope)
    x = as_array(x, "x")
    _check_not_empty(x, "x")
    dtype = working_dtype(x)
    buffers = [(x.shape, dtype)] + ([(x.shape, dtype)] if needs_kernel_copy(x, dtype) else [])
    check_result_size("leaky_relu", *buffers)
    out, _ = activations.leaky_relu_forward(as_kernel_array(x, dtype), slope,
                                            out=np.empty(x.shape, dtype=dtype))
    return out


@dispatch("x")
def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, stable for large ``|x|``.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    out : ndarray, same shape, values in [0, 1]
        float32 for float32 input, else float64.
    """
    return _elementwise("sigmoid", x, "x")


@dispatch("x")
def softmax(x, axis=-1):
    """Softmax along `axis`, ``exp(x - max) / sum(exp(x - max))``.

    Subtracting the maximum first keeps it finite for large ``|x|``.

    Parameters
    ----------
    x : array_like, any shape with at least one dimension
    axis : int, optional

    Returns
    -------
    out : ndarray, same shape
        Sums to 1 along `axis`; float32 for float32 input, else float64.
    """
    x = as_array(x, "x")
    _check_not_empty(x, "x")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a 0-d array")
    axis = check_int(axis, "axis", -x.ndim)
    if axis >= x.ndim:
        raise ValueError(f"axis {axis} is out of range for x of shape {shape_str(x.shape)}")
    dtype = working_dtype(x)
    buffers = [(x.shape, dtype)]
    if needs_kernel_copy(x, dtype):
        buffers.append((x.shape, dtype))
    check_result_size("softmax", *buffers)
    x = as_kernel_array(x, dtype)   # C order in, so the result is C-contiguous
    out, _ = softmax_forward(x, axis)
    return out
