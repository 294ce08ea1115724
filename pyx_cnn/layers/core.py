"""``Flatten`` and the fully connected layer ``Dense``."""
import math

import numpy as np

from .._validation import check_int
from ..ops import dense
from ..ops.activations import get_activation
from .base import Layer, init_weights
from .weighted import OWN, canonical_activation

__all__ = ["Flatten", "Dense"]


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)`` in C order (channels fastest for images).

    A reshape (a view, no op of :mod:`pyx_cnn.ops`); the backward pass reshapes
    the gradient back. It always runs on its own in a network: break in
    ``forward`` / ``backward``.
    """

    def _build(self, input_shape, rng, init_for):
        return (math.prod(input_shape),)   # Python ints: no int64 overflow

    def _forward(self, x, training=False):
        self._out = x.reshape(x.shape[0], -1)
        return self._out

    def _backward(self, grad):
        return grad.reshape((grad.shape[0],) + self.input_shape)


class Dense(Layer):
    """Fully connected layer ``y = activation(x @ W + b)``.

    Parameters
    ----------
    units : int
    activation : str or None, optional
        Case-insensitive, stored in lower case.
    use_bias : bool, optional

    Shapes: ``(N, in_features) -> (N, units)``; ``params["W"]`` is
    ``(in_features, units)``, ``params["b"]`` is ``(units,)``. The op
    :mod:`pyx_cnn.ops.dense` (BLAS products split over the library's threads),
    then the activation's op.

    Where to break: ``forward`` / ``backward`` (the layer's own pass, also in a
    network), ``Dense._forward`` / ``_backward`` (also when a network applies a
    following activation layer in place, or leaves a final softmax or sigmoid
    to the loss: the fusion rules ``activation_in_place``,
    ``softmax_into_loss``, ``sigmoid_into_loss``).
    """

    sample_ndim = 1

    def __init__(self, units, activation=None, use_bias=True):
        super().__init__()
        self.units = check_int(units, "units", 1)
        self.activation = canonical_activation(activation)
        self.use_bias = bool(use_bias)

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias}

    def _build(self, input_shape, rng, init_for):
        (fan_in,) = input_shape
        shape = (fan_in, self.units)
        self.params["W"] = init_weights(rng, shape, fan_in, self.units,
                                        self.activation or init_for, self.dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(self.units, dtype=self.dtype)
        return (self.units,)

    def _forward(self, x, training=False, activation=OWN):
        # `activation` (an Activation): as Conv2D._forward
        act = get_activation(self.activation) if activation is OWN else activation
        z, self._saved = dense.forward(x, self.params["W"],
                                       self.params["b"] if self.use_bias else None)
        self._act = act
        self._out, self._act_saved = act.forward(z, out=z)
        return self._out

    def _backward(self, grad):
        grad = self._act.backward(grad, self._act_saved)
        gx, _, _ = dense.backward(grad, self._saved, self.needs_input_grad,
                                  grad_weights=self.grads["W"],
                                  grad_bias=self.grads["b"] if self.use_bias else None)
        return gx
