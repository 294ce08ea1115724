"""Activation layers: ``ReLU``, ``Sigmoid``, ``Tanh``, ``LeakyReLU``, ``Softmax``, on the
registry of activations (:mod:`pyx_cnn.ops.activations`)."""
from ..ops.activations import (
    DEFAULT_NEGATIVE_SLOPE, RELU6_MAX_VALUE, bounded_relu_activation, check_max_value,
    check_slope, get_activation, leaky_relu_activation,
)
from .base import Layer

__all__ = ["ActivationLayer", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax"]


class ActivationLayer(Layer, register=False):
    """An elementwise activation, by its registry name (``activation``).

    Forward runs the registry entry's ``forward`` (:mod:`pyx_cnn.ops.activations`);
    backward computes ``dL/dz`` from the saved output.

    Where to break: ``forward`` / ``backward`` when the layer runs on its own.
    In a network with ``fuse=True`` an activation layer after a ``Conv2D`` or
    ``Dense`` without activation is applied by that layer, in place: break in
    ``Conv2D._forward`` / ``Dense._forward`` (rule ``activation_in_place``); a
    ``ReLU`` before a ``MaxPool2D`` runs inside the pooling kernel: break in
    :func:`pyx_cnn.fusion.relu_into_max_pool_forward`; a final ``Softmax`` or
    ``Sigmoid`` is left to the loss (rules ``softmax_into_loss``,
    ``sigmoid_into_loss``). ``NeuralNetwork.summary()`` names each layer's rule.
    """

    activation = None

    def __init__(self):
        super().__init__()
        self._op = get_activation(self.activation)   # the registry entry

    def _forward(self, x, training=False):
        self._out, self._saved = self._op.forward(x)
        return self._out

    def _backward(self, grad):
        return self._op.backward(grad, self._saved)


class ReLU(ActivationLayer):
    """``max(x, 0)`` elementwise, or ``min(max(x, 0), max_value)`` with a bound.

    The gradient is 1 where the output is positive (and below `max_value`),
    else 0: 0 at exactly 0 and at exactly `max_value`, as PyTorch's ``relu`` and
    ``relu6``.

    Parameters
    ----------
    max_value : float, optional
        None (no bound: ReLU) or a finite number >= 0, as Keras's ``ReLU``.
        ``ReLU(max_value=6)`` is ReLU6, the registry's ``"relu6"`` (what
        ``Conv2D(..., activation="relu6")`` applies).

    Notes
    -----
    A ``ReLU`` without bound before a ``MaxPool2D`` runs inside the pooling kernel
    in a network (rule ``relu_into_max_pool``); ReLU and ReLU6 after a ``Conv2D``
    or ``Dense`` without activation are applied by that layer, in place (rule
    ``activation_in_place``); another bound runs as this layer's own pass.
    """

    activation = "relu"

    def __init__(self, max_value=None):
        super().__init__()
        self.max_value = None if max_value is None else check_max_value(max_value)
        if self.max_value is not None:
            # a bound of 6 is the registry's "relu6" (foldable into a Conv2D or Dense)
            self.activation = "relu6" if self.max_value == RELU6_MAX_VALUE else None
            self._op = bounded_relu_activation(self.max_value)

    def get_config(self):
        return {} if self.max_value is None else {"max_value": self.max_value}


class Sigmoid(ActivationLayer):
    """``1 / (1 + exp(-x))`` elementwise; gradient ``y * (1 - y)``."""

    activation = "sigmoid"


class Tanh(ActivationLayer):
    """``tanh(x)`` elementwise; gradient ``1 - y**2``."""

    activation = "tanh"


class Softmax(ActivationLayer):
    """Softmax over the last (channel) axis. Last in a network trained with
    cross-entropy it is left to the loss, exactly as ``Dense(k, activation="softmax")``."""

    activation = "softmax"


class LeakyReLU(ActivationLayer):
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    Parameters
    ----------
    negative_slope : float, optional
        >= 0 (the default 0.01 is the ``"leaky_relu"`` activation's).
    """

    def __init__(self, negative_slope=DEFAULT_NEGATIVE_SLOPE):
        super().__init__()
        self.negative_slope = check_slope(negative_slope)
        # the registry's entry (foldable into a Conv2D or Dense by the network)
        # has the default slope; another slope runs as this layer's own pass
        self.activation = "leaky_relu" if self.negative_slope == DEFAULT_NEGATIVE_SLOPE else None
        self._op = leaky_relu_activation(self.negative_slope)

    def get_config(self):
        return {"negative_slope": self.negative_slope}
