"""A layer of the tests' own, for the tests of saving, loading and shipping one."""
import numpy as np

from pyx_cnn import layers


class ChannelScale(layers.Layer):
    """A layer of the tests' own: one learned factor per channel, starting at `initial`."""

    def __init__(self, initial=1.0):
        super().__init__()
        self.initial = float(initial)

    def get_config(self):
        return {"initial": self.initial}

    def _build(self, input_shape, rng, init_for):
        self.params["scale"] = np.full(input_shape[-1], self.initial, dtype=self.dtype)
        return input_shape

    def _forward(self, x, training=False):
        self._x = x
        self._out = x * self.params["scale"]
        return self._out

    def _backward(self, grad):
        self.grads["scale"][...] = np.sum(grad * self._x, axis=tuple(range(grad.ndim - 1)))
        return grad * self.params["scale"]
