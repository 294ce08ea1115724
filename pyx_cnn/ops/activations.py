"""Activation functions, forward and backward, and the registry of their names.

``ACTIVATIONS`` maps every name a layer's ``activation=`` accepts to an
:class:`Activation`; layers, the functional API and the tests read the names
from it. Each entry has

``forward(z, out=None) -> y``
    ``y = f(z)``, written to `out` when given (`out` may be `z` itself: in
    place), else to a new array.
``backward(y, grad, out=None) -> grad_z``
    ``dL/dz`` from the stored forward output ``y`` and ``grad = dL/dy``, in a
    new array (or `out`, which may be `grad`). Every derivative here is exact
    from ``y``: ReLU and leaky ReLU ``y > 0``, sigmoid ``y * (1 - y)``, tanh
    ``1 - y**2``, softmax ``y * (g - sum(g * y, axis=-1))``.
``init``
    The weight initialisation that suits it: ``"he"`` for ReLU and leaky ReLU,
    ``"glorot"`` otherwise.

Arrays are C-contiguous, of one float dtype (float32 or float64); the callers
validate them. Gradients at the kinks follow PyTorch: ``relu'(0) = 0``,
``leaky_relu'(0) = negative_slope``. Special values follow PyTorch too: NaN in,
NaN out (softmax: a row holding NaN or +inf gives NaN).

The linear activation (``None`` / ``"linear"``) returns its input: `forward`
gives `z` itself (or copies it into `out`), `backward` gives `grad` itself.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import _activation
from .._threads import get_num_threads
from .._validation import check_real

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "leaky_relu", "leaky_relu_backward", "softmax", "softmax_backward",
    "linear", "linear_backward",
]

DEFAULT_NEGATIVE_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """One activation: its name, forward and backward pass, and its weight init."""

    name: str
    forward: Callable
    backward: Callable
    init: str


def _out_like(x, out):
    return np.empty_like(x) if out is None else out


def _elementwise(kernel, x, out, *extra):
    out = _out_like(x, out)
    kernel(x.reshape(-1), out.reshape(-1), *extra, get_num_threads())
    return out


def _elementwise_backward(kernel, y, grad, out, *extra):
    out = _out_like(y, out)
    kernel(y.reshape(-1), grad.reshape(-1), out.reshape(-1), *extra, get_num_threads())
    return out


def check_slope(negative_slope):
    slope = check_real(negative_slope, "negative_slope")
    if not (slope >= 0 and np.isfinite(slope)):
        # the backward pass reads the sign of z from y, which needs slope >= 0
        raise ValueError(f"negative_slope must be finite and >= 0, got {negative_slope!r}")
    return slope


def linear(z, out=None):
    """The identity: `z` itself, or `z` copied into `out`."""
    if out is None or out is z:
        return z
    np.copyto(out, z)
    return out


def linear_backward(y, grad, out=None):
    """The gradient passes unchanged: `grad` itself, or copied into `out`."""
    return linear(grad, out)


def relu(z, out=None):
    """``max(z, 0)``; NaN stays NaN, ``-0.0`` becomes ``0.0``."""
    return _elementwise(_activation._relu, z, out)


def relu_backward(y, grad, out=None):
    """``grad`` where ``y > 0`` (or y is NaN), else 0."""
    return _elementwise_backward(_activation._relu_backward, y, grad, out)


def leaky_relu(z, negative_slope=DEFAULT_NEGATIVE_SLOPE, out=None):
    """``z`` where ``z > 0``, else ``negative_slope * z`` (``negative_slope >= 0``)."""
    return _elementwise(_activation._leaky_relu, z, out, check_slope(negative_slope))


def leaky_relu_backward(y, grad, negative_slope=DEFAULT_NEGATIVE_SLOPE, out=None):
    """``grad`` where ``y > 0``, else ``negative_slope * grad``."""
    return _elementwise_backward(
        _activation._leaky_relu_backward, y, grad, out, check_slope(negative_slope)
    )


def sigmoid(z, out=None):
    """``1 / (1 + exp(-z))``, without overflow for large ``|z|``."""
    return _elementwise(_activation._sigmoid, z, out)


def sigmoid_backward(y, grad, out=None):
    """``grad * (1 - y) * y``."""
    return _elementwise_backward(_activation._sigmoid_backward, y, grad, out)


def tanh(z, out=None):
    """``tanh(z)``."""
    return _elementwise(_activation._tanh, z, out)


def tanh_backward(y, grad, out=None):
    """``grad * (1 - y * y)``."""
    return _elementwise_backward(_activation._tanh_backward, y, grad, out)


def softmax(z, out=None, axis=-1):
    """Softmax along `axis` (the last by default), each row shifted by its maximum
    first (no overflow)."""
    out = _out_like(z, out)
    with np.errstate(over="ignore", under="ignore"):
        # z - max overflows to -inf only for values whose probability is 0 anyway
        np.subtract(z, z.max(axis=axis, keepdims=True), out=out)
        np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def softmax_backward(y, grad, out=None):
    """``y * (grad - sum(grad * y, axis=-1))``: the softmax Jacobian (transposed) times grad."""
    dot = np.einsum("...k,...k->...", grad, y)[..., None]
    out = _out_like(y, out)
    np.subtract(grad, dot, out=out)
    out *= y
    return out


def _leaky_default(z, out=None):
    return leaky_relu(z, DEFAULT_NEGATIVE_SLOPE, out)


def _leaky_default_backward(y, grad, out=None):
    return leaky_relu_backward(y, grad, DEFAULT_NEGATIVE_SLOPE, out)


_LINEAR = Activation("linear", linear, linear_backward, "glorot")

#: name -> Activation; ``None`` and ``"linear"`` are the same (identity) entry.
ACTIVATIONS = {
    None: _LINEAR,
    "linear": _LINEAR,
    "relu": Activation("relu", relu, relu_backward, "he"),
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_backward, "glorot"),
    "tanh": Activation("tanh", tanh, tanh_backward, "glorot"),
    "leaky_relu": Activation("leaky_relu", _leaky_default, _leaky_default_backward, "he"),
    "softmax": Activation("softmax", softmax, softmax_backward, "glorot"),
}


def _valid_names():
    return ", ".join(repr(k) for k in ACTIVATIONS)


def get_activation(name):
    """The :class:`Activation` called `name` (case-insensitive; None is linear).

    Raises
    ------
    TypeError
        For a value that is neither a string nor None.
    ValueError
        For an unknown name (the message lists the valid ones).
    """
    if name is None:
        return ACTIVATIONS[None]
    if not isinstance(name, str):
        raise TypeError(f"activation must be None or one of {_valid_names()}, "
                        f"got {type(name).__name__} {name!r}")
    entry = ACTIVATIONS.get(name.strip().lower())
    if entry is None:
        raise ValueError(f"activation must be one of {_valid_names()}, got {name!r}")
    return entry
