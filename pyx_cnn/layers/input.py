"""Symbolic tensors: ``Input(shape)`` and the graph that calling layers on it records.

    from pyx_cnn import NeuralNetwork, layers
    x = layers.Input((32, 32, 3))                 # one sample's shape
    h = layers.Conv2D(16, 3, padding=1)(x)        # a SymbolicTensor (32, 32, 16)
    h = layers.ReLU()(h)
    s = layers.Add()([h, layers.Conv2D(16, 1)(x)])
    net = NeuralNetwork(inputs=x, outputs=s, seed=0)

A :class:`SymbolicTensor` holds no data: its ``shape`` (one sample's, without
the batch axis) and the :class:`Node` that made it (the layer called and the
tensors it read), so that :class:`~pyx_cnn.NeuralNetwork` can walk back from
its output to its input (:mod:`pyx_cnn._graph`). Calling a layer on a symbolic
tensor builds the layer for that shape at once (with throwaway weights: the
network builds every layer again from its own seed), so each tensor's shape
is known and a shape error is raised at the call, naming the layer.

The same layer object called on several tensors is one layer whose weights
every call shares (as in Keras); every call must then see the same input shape.
"""
import numpy as np

__all__ = ["Input", "SymbolicTensor", "Node", "call_symbolic"]


class Node:
    """One call of a layer in a graph: the `layer`, the tensors it read (`inputs`, a
    tuple) and whether it was called on a list (`takes_list`)."""

    def __init__(self, layer, inputs, takes_list):
        self.layer, self.inputs, self.takes_list = layer, tuple(inputs), takes_list


class SymbolicTensor:
    """A placeholder for a batch flowing through a graph (no data).

    Attributes
    ----------
    shape : tuple of int
        One sample's shape (no batch axis).
    node : Node or None
        The layer call that made the tensor; None for an :func:`Input`.
    root : SymbolicTensor
        The :func:`Input` the tensor was computed from (itself for an Input).
    """

    def __init__(self, shape, node=None, root=None, input_shape=None):
        self.shape = tuple(shape)
        self.node = node
        self.root = self if root is None else root
        # an Input's shape as given ((H, W) for one channel): the network's input_shape
        self.input_shape = self.shape if input_shape is None else tuple(input_shape)

    @property
    def is_input(self):
        """True for a tensor made by :func:`Input`."""
        return self.node is None

    def __repr__(self):
        made_by = "Input" if self.node is None else type(self.node.layer).__name__
        return f"<SymbolicTensor shape={self.shape} from {made_by}>"


def Input(shape):
    """The input of a graph network: a :class:`SymbolicTensor` of one sample's `shape`.

    Parameters
    ----------
    shape : tuple of int
        One sample's shape, as a network's ``input_shape``: ``(H, W, C)`` for
        images (``(H, W)`` meaning one channel), ``(features,)`` for vectors.

    Returns
    -------
    SymbolicTensor
    """
    from .._batches import check_input_shape, sample_shape

    shape = check_input_shape(shape)
    return SymbolicTensor(sample_shape(shape), input_shape=shape)


def _describe(layer):
    return repr(layer)


def _as_tensors(layer, inputs):
    """The tensors of a call: a tuple, whether the call took a list, and their root."""
    name = _describe(layer)
    takes_list = getattr(layer, "takes_list", False)
    if takes_list:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise TypeError(f"{name} is called on a list of at least 2 symbolic tensors, got "
                            f"{_given(inputs)}")
        tensors = tuple(inputs)
    else:
        if isinstance(inputs, (list, tuple)):
            raise TypeError(f"{name} is called on one symbolic tensor, got a "
                            f"{type(inputs).__name__} of {len(inputs)}")
        tensors = (inputs,)
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, SymbolicTensor):
            where = f"input {i}" if takes_list else "its input"
            hint = (" (to run a layer on an array, call its forward method: "
                    "layer.forward(x))" if not isinstance(tensor, SymbolicTensor) and
                    hasattr(tensor, "shape") else "")
            raise TypeError(f"{name}: {where} must be a SymbolicTensor (from "
                            f"pyx_cnn.layers.Input or a layer call), got {_given(tensor)}"
                            + hint)
    roots = {id(t.root) for t in tensors}
    if len(roots) > 1:
        raise ValueError(f"{name} is called on tensors of different graphs (computed from "
                         "different Input tensors); a network has one Input")
    return tensors, takes_list


def _given(value):
    if isinstance(value, np.ndarray):
        return f"an ndarray of shape {value.shape}"
    return type(value).__name__


def call_symbolic(layer, inputs):
    """``layer(inputs)`` on symbolic tensors: check the call, build the layer for the
    input shape(s) (throwaway weights) and return the output tensor.

    A layer called before keeps its first build: the shapes must then equal its
    first call's. Raises TypeError for anything that is not a symbolic tensor (or
    a list of them, for a merge layer) and ValueError naming the layer for shapes
    it cannot take.
    """
    tensors, takes_list = _as_tensors(layer, inputs)
    shapes = [t.shape for t in tensors]
    in_shape = shapes if takes_list else shapes[0]
    first = getattr(layer, "_graph_input_shape", None)
    if first is not None:
        if _plain(first) != _plain(in_shape):
            raise ValueError(f"{_describe(layer)} is called again (its weights are shared) on "
                             f"input shape {_plain(in_shape)}, but its first call had "
                             f"{_plain(first)}: a shared layer takes one input shape")
        out_shape = layer.output_shape
    else:
        before = dict(vars(layer))
        try:
            out_shape = layer.build(in_shape, rng=np.random.default_rng(0), dtype=np.float64)
        except ValueError as exc:
            vars(layer).clear()      # a refused call leaves the layer as it was
            vars(layer).update(before)
            raise ValueError(f"{_describe(layer)} called on input shape {_plain(in_shape)}: "
                             f"{exc}") from None
        layer._graph_input_shape = in_shape
    return SymbolicTensor(out_shape, Node(layer, tensors, takes_list), tensors[0].root)


def _plain(shape):
    """A shape (or list of shapes) as tuples, for comparisons and messages."""
    if shape and isinstance(shape[0], (tuple, list)):
        return [tuple(s) for s in shape]
    return tuple(shape)
