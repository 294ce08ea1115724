"""Activation functions, forward and backward, and the registry of their names.

Each activation follows the op protocol (:mod:`pyx_cnn.ops`) with a pair of
functions, ``relu_forward`` / ``relu_backward`` (likewise ``relu6``,
``bounded_relu``, ``leaky_relu``, ``sigmoid``, ``tanh``, ``softmax``, ``linear``):

``relu_forward(z, *, out=None) -> (y, saved)``
    ``y = f(z)``, written to `out` when given (`out` may be `z` itself: in
    place), else to a new array. ``saved`` is ``y`` itself: every derivative
    here is exact from the output.
``relu_backward(grad_out, saved, *, out=None) -> grad_z``
    ``dL/dz`` from ``grad_out = dL/dy`` and the saved output ``y``, in a new
    array (or `out`, which may be `grad_out`): ReLU and leaky ReLU ``y > 0``,
    ReLU6 and the bounded ReLU ``0 < y < max_value``,
    sigmoid ``y * (1 - y)``, tanh ``1 - y**2``, softmax
    ``y * (g - sum(g * y, axis=-1))``.

(`out` is passed by keyword: leaky ReLU takes its ``negative_slope``, the
bounded ReLU its ``max_value`` and softmax its ``axis`` before it.)

``ACTIVATIONS`` maps every name a layer's ``activation=`` accepts to an
:class:`Activation` holding that pair as ``forward`` and ``backward``, and
``init``: the weight initialisation that suits it (``"he"`` for ReLU, ReLU6 and
leaky ReLU, ``"glorot"`` otherwise). Layers, the functional API and the tests read
the names from it.

Arrays are C-contiguous, of one float dtype (float32 or float64); the callers
validate them. Gradients at the kinks follow PyTorch: ``relu'(0) = 0``,
``relu6'(0) = relu6'(6) = 0``, ``leaky_relu'(0) = negative_slope``. Special
values follow PyTorch too: NaN in, NaN out (softmax: a row holding NaN or +inf
gives NaN).

The linear activation (``None`` / ``"linear"``) returns its input: `forward`
gives `z` itself (or copies it into `out`), `backward` gives `grad_out` itself.
"""
import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from .. import _activation
from .._threads import get_num_threads
from .._validation import check_real

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation", "leaky_relu_activation", "check_slope",
    "bounded_relu_activation", "check_max_value", "clamp_bound",
    "linear_forward", "linear_backward", "relu_forward", "relu_backward",
    "relu6_forward", "relu6_backward", "bounded_relu_forward", "bounded_relu_backward",
    "leaky_relu_forward", "leaky_relu_backward", "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward", "softmax_forward", "softmax_backward",
]

DEFAULT_NEGATIVE_SLOPE = 0.01
#: the bound of the registry's ``"relu6"``
RELU6_MAX_VALUE = 6.0


@dataclass(frozen=True)
class Activation:
    """One activation: its name, its forward and backward pass, and its weight init.

    ``forward(z, *, out=None) -> (y, saved)`` and ``backward(grad_out, saved, *,
    out=None) -> grad_z`` are this module's pair (``relu_forward``,
    ``relu_backward``...).
    """

    name: str
    forward: Callable
    backward: Callable
    init: str


def _out_like(x, out):
    return np.empty_like(x) if out is None else out


def _elementwise(kernel, x, out, *extra):
    out = _out_like(x, out)
    kernel(x.reshape(-1), out.reshape(-1), *extra, get_num_threads())
    return out, out


def _elementwise_backward(kernel, grad_out, y, out, *extra):
    out = _out_like(y, out)
    kernel(y.reshape(-1), grad_out.reshape(-1), out.reshape(-1), *extra, get_num_threads())
    return out


def check_slope(negative_slope):
    """`negative_slope` as a float; ValueError unless finite and >= 0."""
    slope = check_real(negative_slope, "negative_slope")
    if not (slope >= 0 and np.isfinite(slope)):
        # the backward pass reads the sign of z from y, which needs slope >= 0
        raise ValueError(f"negative_slope must be finite and >= 0, got {negative_slope!r}")
    return slope


def check_max_value(max_value):
    """`max_value` as a float; ValueError unless finite and >= 0."""
    value = check_real(max_value, "max_value")
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"max_value must be None or a finite number >= 0, got {max_value!r}")
    return value


def linear_forward(z, *, out=None):
    """The identity: ``(z, z)``, or `z` copied into `out`."""
    if out is not None and out is not z:
        np.copyto(out, z)
        return out, out
    return z, z


def linear_backward(grad_out, saved, *, out=None):
    """The gradient passes unchanged: `grad_out` itself, or copied into `out`."""
    if out is not None and out is not grad_out:
        np.copyto(out, grad_out)
        return out
    return grad_out


def relu_forward(z, *, out=None):
    """``max(z, 0)``; NaN stays NaN, ``-0.0`` becomes ``0.0``.

    See Also
    --------
    pyx_cnn.reference.relu : The same, by a loop.
    """
    return _elementwise(_activation._relu, z, out)


def relu_backward(grad_out, saved, *, out=None):
    """``grad_out`` where ``y > 0`` (or y is NaN), else 0.

    See Also
    --------
    pyx_cnn.reference.relu_backward : The same, by a loop.
    """
    return _elementwise_backward(_activation._relu_backward, grad_out, saved, out)


def relu6_forward(z, *, out=None):
    """``min(max(z, 0), 6)``: :func:`bounded_relu_forward` with ``max_value=6``.

    See Also
    --------
    pyx_cnn.reference.relu6 : The same, by a loop.
    """
    return _elementwise(_activation._bounded_relu, z, out, RELU6_MAX_VALUE)


def relu6_backward(grad_out, saved, *, out=None):
    """``grad_out`` where ``0 < y < 6``, else 0 (0 at both bounds, as PyTorch).

    See Also
    --------
    pyx_cnn.reference.relu6_backward : The same, by a loop.
    """
    return _elementwise_backward(_activation._bounded_relu_backward, grad_out, saved, out,
                                 RELU6_MAX_VALUE)


def bounded_relu_forward(z, max_value, *, out=None):
    """``min(max(z, 0), max_value)`` (``max_value >= 0``); NaN stays NaN, ``-0.0``
    becomes ``0.0``.

    See Also
    --------
    pyx_cnn.reference.relu6 : The same, by a loop (its ``max_value`` argument).
    """
    return _elementwise(_activation._bounded_relu, z, out, check_max_value(max_value))


def bounded_relu_backward(grad_out, saved, max_value, *, out=None):
    """``grad_out`` where ``0 < y < max_value``, else 0.

    PyTorch's ``hardtanh`` gives the same; at a NaN output it passes
    ``grad_out`` (its scalar path; its vectorised path gives 0).

    See Also
    --------
    pyx_cnn.reference.relu6_backward : The same, by a loop (its ``max_value`` argument).
    """
    return _elementwise_backward(_activation._bounded_relu_backward, grad_out, saved, out,
                                 check_max_value(max_value))


def leaky_relu_forward(z, negative_slope=DEFAULT_NEGATIVE_SLOPE, *, out=None):
    """``z`` where ``z > 0``, else ``negative_slope * z`` (``negative_slope >= 0``).

    See Also
    --------
    pyx_cnn.reference.leaky_relu : The same, by a loop.
    """
    return _elementwise(_activation._leaky_relu, z, out, check_slope(negative_slope))


def leaky_relu_backward(grad_out, saved, negative_slope=DEFAULT_NEGATIVE_SLOPE, *, out=None):
    """``grad_out`` where ``y > 0``, else ``negative_slope * grad_out``.

    See Also
    --------
    pyx_cnn.reference.leaky_relu_backward : The same, by a loop.
    """
    return _elementwise_backward(
        _activation._leaky_relu_backward, grad_out, saved, out, check_slope(negative_slope)
    )


def sigmoid_forward(z, *, out=None):
    """``1 / (1 + exp(-z))``, without overflow for large ``|z|``.

    See Also
    --------
    pyx_cnn.reference.sigmoid : The same, by a loop.
    """
    return _elementwise(_activation._sigmoid, z, out)


def sigmoid_backward(grad_out, saved, *, out=None):
    """``grad_out * (1 - y) * y``.

    See Also
    --------
    pyx_cnn.reference.sigmoid_backward : The same, by a loop.
    """
    return _elementwise_backward(_activation._sigmoid_backward, grad_out, saved, out)


def tanh_forward(z, *, out=None):
    """``tanh(z)``.

    See Also
    --------
    pyx_cnn.reference.tanh : The same, by a loop.
    """
    return _elementwise(_activation._tanh, z, out)


def tanh_backward(grad_out, saved, *, out=None):
    """``grad_out * (1 - y * y)``.

    See Also
    --------
    pyx_cnn.reference.tanh_backward : The same, by a loop.
    """
    return _elementwise_backward(_activation._tanh_backward, grad_out, saved, out)


def softmax_forward(z, axis=-1, *, out=None):
    """Softmax along `axis` (the last by default), each row shifted by its maximum
    first (no overflow).

    See Also
    --------
    pyx_cnn.reference.softmax : The same, by a loop over the rows.
    """
    out = _out_like(z, out)
    with np.errstate(over="ignore", under="ignore"):
        # z - max overflows to -inf only for values whose probability is 0 anyway
        np.subtract(z, z.max(axis=axis, keepdims=True), out=out)
        np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out, out


def softmax_backward(grad_out, saved, *, out=None):
    """``y * (grad_out - sum(grad_out * y, axis=-1))``: the softmax Jacobian
    (transposed) times the gradient, along the last axis.

    See Also
    --------
    pyx_cnn.reference.softmax_backward : The same, by a loop over the rows.
    """
    y = saved
    dot = np.einsum("...k,...k->...", grad_out, y)[..., None]
    out = _out_like(y, out)
    np.subtract(grad_out, dot, out=out)
    out *= y
    return out


def leaky_relu_activation(negative_slope=DEFAULT_NEGATIVE_SLOPE):
    """The :class:`Activation` of leaky ReLU with this slope (the registry's
    ``"leaky_relu"`` has the default slope 0.01)."""
    slope = check_slope(negative_slope)
    return Activation("leaky_relu", partial(leaky_relu_forward, negative_slope=slope),
                      partial(leaky_relu_backward, negative_slope=slope), "he")


def bounded_relu_activation(max_value=RELU6_MAX_VALUE):
    """The :class:`Activation` of ``min(max(z, 0), max_value)`` (the registry's
    ``"relu6"`` is ``max_value=6``; another bound is named ``"bounded_relu"``)."""
    value = check_max_value(max_value)
    if value == RELU6_MAX_VALUE:
        return ACTIVATIONS["relu6"]
    return Activation("bounded_relu", partial(bounded_relu_forward, max_value=value),
                      partial(bounded_relu_backward, max_value=value), "he")


def clamp_bound(activation):
    """The bound ``m`` when `activation` (an :class:`Activation`) is ``min(max(z, 0),
    m)``: ``inf`` for ReLU, 6 for ReLU6, a bounded ReLU's ``max_value``; None for
    any other. A convolution's kernels apply such an activation as they store its
    output (:func:`pyx_cnn.ops.conv.forward`'s ``clamp_max``), with the values of
    its forward pass."""
    if activation.name == "relu":
        return math.inf
    if activation.name == "relu6":
        return RELU6_MAX_VALUE
    if activation.name == "bounded_relu":
        return activation.forward.keywords["max_value"]
    return None


_LINEAR = Activation("linear", linear_forward, linear_backward, "glorot")

#: name -> Activation; ``None`` and ``"linear"`` are the same (identity) entry.
ACTIVATIONS = {
    None: _LINEAR,
    "linear": _LINEAR,
    "relu": Activation("relu", relu_forward, relu_backward, "he"),
    "relu6": Activation("relu6", relu6_forward, relu6_backward, "he"),
    "sigmoid": Activation("sigmoid", sigmoid_forward, sigmoid_backward, "glorot"),
    "tanh": Activation("tanh", tanh_forward, tanh_backward, "glorot"),
    "leaky_relu": leaky_relu_activation(DEFAULT_NEGATIVE_SLOPE),
    "softmax": Activation("softmax", softmax_forward, softmax_backward, "glorot"),
}


_CANONICAL = frozenset(k for k in ACTIVATIONS if k is not None)


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
    if name is None or (type(name) is str and name in _CANONICAL):   # the stored names
        return ACTIVATIONS[name]
    if not isinstance(name, str):
        raise TypeError(f"activation must be None or one of {_valid_names()}, "
                        f"got {type(name).__name__} {name!r}")
    entry = ACTIVATIONS.get(name.strip().lower())
    if entry is None:
        raise ValueError(f"activation must be one of {_valid_names()}, got {name!r}")
    return entry
