"""The merge layers' ops as plain loops: a sum of tensors and a concatenation."""
import numpy as np


def add(xs):
    """``xs[0] + xs[1] + ...``, value by value, for arrays of one shape.

    >>> add([np.ones((1, 2)), np.full((1, 2), 2.0)])
    array([[3., 3.]])
    """
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    out = np.zeros(xs[0].shape)
    for index in np.ndindex(out.shape):
        for x in xs:
            out[index] += x[index]
    return out


def add_backward(xs, grad_out):
    """``dL/dx_i``: each input of a sum receives the output's gradient, unchanged."""
    grad_out = np.asarray(grad_out, dtype=np.float64)
    return [grad_out.copy() for _ in xs]


def concatenate(xs, axis=-1):
    """The arrays of `xs` one after the other along `axis`: output position ``k``
    along the axis is input ``i``'s position ``k - (sizes of the inputs before i)``.

    >>> concatenate([np.zeros((1, 1)), np.ones((1, 2))])
    array([[0., 1., 1.]])
    """
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    axis = axis % xs[0].ndim
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = np.zeros(shape)
    start = 0
    for x in xs:
        for index in np.ndindex(x.shape):
            moved = list(index)
            moved[axis] += start
            out[tuple(moved)] = x[index]
        start += x.shape[axis]
    return out


def concatenate_backward(xs, grad_out, axis=-1):
    """``dL/dx_i``: the values of `grad_out` at the places input ``i``'s values went."""
    grad_out = np.asarray(grad_out, dtype=np.float64)
    axis = axis % grad_out.ndim
    grads, start = [], 0
    for x in xs:
        x = np.asarray(x)
        g = np.zeros(x.shape)
        for index in np.ndindex(x.shape):
            moved = list(index)
            moved[axis] += start
            g[index] = grad_out[tuple(moved)]
        grads.append(g)
        start += x.shape[axis]
    return grads
