"""Activation functions: one registry of each one's forward pass, backward pass and
the weight initialisation that suits it.

``ACTIVATIONS[name]`` is an :class:`Activation`:

- ``forward(z, out=None)``: the activation of `z` (C-contiguous, float32 or
  float64), written into `out` (which may be `z` itself) or a new array;
- ``backward(y, grad)``: ``dL/dz`` from ``y = forward(z)`` and ``grad = dL/dy``;
- ``init``: ``"he"`` (He normal, before ReLU-like activations) or ``"glorot"``
  (Glorot uniform) for the weights of the layer it follows.

Layers, the functional API and the tests read the names from here: adding an
activation is one entry plus its kernels.
"""
from typing import Callable, NamedTuple

import numpy as np

from .. import _pool, _pool_grad
from .._threads import get_num_threads

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "softmax"]


class Activation(NamedTuple):
    name: str
    forward: Callable
    backward: Callable
    init: str


def _elementwise(kernel):
    def forward(z, out=None):
        if out is None:
            out = np.empty_like(z)
        kernel(z.reshape(-1), out.reshape(-1), get_num_threads())
        return out
    return forward


def _from_output(kernel):
    def backward(y, grad):
        out = np.empty_like(y)
        kernel(y.reshape(-1), grad.reshape(-1), out.reshape(-1), get_num_threads())
        return out
    return backward


def _identity_forward(z, out=None):
    if out is None or out is z:
        return z
    out[...] = z
    return out


def _identity_backward(y, grad):
    return grad


def softmax(z, out=None, axis=-1):
    """Softmax along `axis`, each row shifted by its maximum first (never overflows)."""
    with np.errstate(over="ignore", under="ignore"):
        # z - max overflows to -inf only for values whose probability is 0 anyway
        out = np.subtract(z, z.max(axis=axis, keepdims=True), out=out)
        np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def _softmax_backward(y, grad):
    # J^T g = y * (g - sum(g * y)) over the last axis
    return y * (grad - np.sum(grad * y, axis=-1, keepdims=True))


ACTIVATIONS = {
    "linear": Activation("linear", _identity_forward, _identity_backward, "glorot"),
    "relu": Activation("relu", _elementwise(_pool._relu),
                       _from_output(_pool_grad._relu_backward), "he"),
    "sigmoid": Activation("sigmoid", _elementwise(_pool._sigmoid),
                          _from_output(_pool_grad._sigmoid_backward), "glorot"),
    "softmax": Activation("softmax", softmax, _softmax_backward, "glorot"),
}


def _names():
    return ", ".join(repr(n) for n in ACTIVATIONS)


def get_activation(name):
    """The registry entry for `name` (case-insensitive); None means ``"linear"``.

    Raises
    ------
    TypeError
        If `name` is neither a string nor None.
    ValueError
        If `name` is not a registered activation (the message lists them).
    """
    if name is None:
        return ACTIVATIONS["linear"]
    if not isinstance(name, str):
        raise TypeError(f"activation must be None or one of {_names()}, "
                        f"got {type(name).__name__} {name!r}")
    try:
        return ACTIVATIONS[name.lower()]
    except KeyError:
        raise ValueError(f"activation must be one of None, {_names()}, got {name!r}") from None
