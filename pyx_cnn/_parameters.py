"""Every parameter of a network as a view into one flat array, every gradient into another.

An optimiser step is then a few vectorised operations on two arrays, whatever
the number of layers; data-parallel averaging sees one buffer. Here too: the
weights as a list of arrays, Keras's ``get_weights`` / ``set_weights``.
"""
import numpy as np

from ._validation import shape_str

__all__ = ["FlatParameters"]


class FlatParameters:
    """The parameters and gradients of `layers`, moved into one flat array each.

    Attributes
    ----------
    values, grads : ndarray, 1-D
        Each layer's ``params[key]`` / ``grads[key]`` is a view into these, in
        layer order, each layer's keys in the order of its ``params``.
    bound : list of (layer, key, value view, gradient view)
    """

    def __init__(self, layers, dtype):
        self.layers = list(layers)
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

    def check_grads_written_in_place(self):
        """ValueError when a layer's backward pass bound a ``grads`` entry to a new array
        instead of writing into its view of :attr:`grads`: the optimiser reads the flat
        array only, so that weight would silently never learn."""
        for layer, key, _, grad in self.bound:
            if layer.grads.get(key) is not grad:
                where = next(i for i, other in enumerate(self.layers) if other is layer)
                raise ValueError(
                    f"layers[{where}] ({type(layer).__name__}) bound grads[{key!r}] to a new "
                    "array in its backward pass, but the optimiser updates the network's "
                    f"gradient buffer, of which grads[{key!r}] is a view: {key!r} would never "
                    "learn. Write into the existing array instead: "
                    f"self.grads[{key!r}][...] = value")

    def _weight_arrays(self):
        """``[(name, array)]``: every layer's parameters (the views), then its ``state``
        arrays, layer by layer: the order of :meth:`get_weights`."""
        self.take_in_replaced()
        arrays = []
        for i, layer in enumerate(self.layers):
            where = f"layers[{i}] ({type(layer).__name__})"
            arrays += [(f"{where} {key}", value) for key, value in layer.params.items()]
            arrays += [(f"{where} state {key}", value)
                       for key, value in (getattr(layer, "state", None) or {}).items()
                       if isinstance(value, np.ndarray)]
        return arrays

    def get_weights(self):
        """Copies of the arrays :meth:`_weight_arrays` lists."""
        return [value.copy() for _, value in self._weight_arrays()]

    def set_weights(self, weights):
        """Copy `weights` (as :meth:`get_weights` returns them) in, cast to each array's
        dtype; every array is checked before any is copied."""
        targets = self._weight_arrays()
        if not isinstance(weights, (list, tuple)):
            raise TypeError("weights must be a list of arrays, as get_weights returns, got "
                            f"{type(weights).__name__}")
        if len(weights) != len(targets):
            raise ValueError(f"weights must hold {len(targets)} arrays (as get_weights "
                             f"returns: {', '.join(name for name, _ in targets)}), "
                             f"got {len(weights)}")
        checked = []
        for i, (value, (name, target)) in enumerate(zip(weights, targets)):
            try:
                value = np.asarray(value)
            except ValueError as exc:
                raise ValueError(f"weights[{i}] ({name}): {exc}") from None
            if value.dtype.kind not in "fiu":
                raise TypeError(f"weights[{i}] ({name}) must hold real numbers, got dtype "
                                f"{value.dtype}")
            if value.shape != target.shape:
                raise ValueError(f"weights[{i}] ({name}) must have shape "
                                 f"{shape_str(target.shape)}, got {shape_str(value.shape)}")
            checked.append(value)
        for value, (_, target) in zip(checked, targets):
            target[...] = value
