"""Activation layers: ``ReLU``, ``Sigmoid``, one class per entry of the registry
(:mod:`pyx_cnn.ops.activations`)."""
from ..ops.activations import get_activation
from .base import Layer

__all__ = ["ActivationLayer", "ReLU", "Sigmoid"]


class ActivationLayer(Layer):
    """An elementwise activation, by its registry name (``activation``).

    Forward applies the registry's forward kernel; backward computes ``dL/dz``
    from the stored output.
    """

    activation = None

    def _forward(self, x, training=False):
        self._out = get_activation(self.activation).forward(x)
        return self._out

    def _backward(self, grad):
        return get_activation(self.activation).backward(self._out, grad)


class ReLU(ActivationLayer):
    """``max(x, 0)`` elementwise; the gradient is 1 where the output is positive, else 0."""

    activation = "relu"


class Sigmoid(ActivationLayer):
    """``1 / (1 + exp(-x))`` elementwise; gradient ``y * (1 - y)``."""

    activation = "sigmoid"
