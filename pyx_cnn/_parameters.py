"""Every parameter of a network as a view into one flat array, every gradient into another.

An optimiser step is then a few vectorised operations on two arrays, whatever
the number of layers; saving and MPI-style averaging see one buffer.
"""
import numpy as np

from ._validation import shape_str

__all__ = ["FlatParameters"]


class FlatParameters:
    """The parameters and gradients of `layers`, moved into one flat array each.

    Attributes
    ----------
    values, grads : ndarray, 1-D
        Each layer's ``params[key]`` / ``grads[key]`` is a view into these.
    bound : list of (layer, key, value view, gradient view)
    """

    def __init__(self, layers, dtype):
        entries = [(layer, key) for layer in layers for key in layer.params]
        total = sum(layer.params[key].size for layer, key in entries)
        self.values = np.empty(total, dtype=dtype)
        self.grads = np.zeros(total, dtype=dtype)
        self.bound = []
        offset = 0
        for layer, key in entries:
            value = layer.params[key]
            view = self.values[offset:offset + value.size].reshape(value.shape)
            grad = self.grads[offset:offset + value.size].reshape(value.shape)
            view[...] = value
            layer.params[key], layer.grads[key] = view, grad
            self.bound.append((layer, key, view, grad))
            offset += value.size

    def take_in_replaced(self):
        """Take in parameter arrays a user assigned since (same shapes required).

        Every replaced array is checked before any is copied, so a refusal
        leaves the network as it was.
        """
        replaced = []
        for layer, key, view, grad in self.bound:
            for store, target in ((layer.params, view), (layer.grads, grad)):
                value = store[key]
                if value is not target:
                    value = np.asarray(value)
                    if value.shape != target.shape:
                        raise ValueError(
                            f"{type(layer).__name__} {key} must keep shape "
                            f"{shape_str(target.shape)}, got {shape_str(value.shape)}")
                    try:
                        value = value.astype(target.dtype, copy=False)
                    except (TypeError, ValueError) as exc:
                        raise TypeError(f"{type(layer).__name__} {key} must hold real "
                                        f"numbers: {exc}") from None
                    replaced.append((store, key, target, value))
        for store, key, target, value in replaced:
            target[...] = value
            store[key] = target
