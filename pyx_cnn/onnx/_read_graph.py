"""The walk over an ONNX graph: constants, data tensors and the pyx_cnn layers they
become (one reader function per operator, :data:`READERS`).

A data tensor of the ONNX graph is a :class:`Tensor`: the pyx_cnn tensor it is (the
graph input, or the output of a :class:`Step`, a layer called on tensors) and how the
ONNX graph sees that data. Its ``layout`` is ``"NHWC"`` (pyx_cnn's channels-last
data itself), ``"NCHW"`` (the data transposed by ``(0, 3, 1, 2)``, what
``torch.onnx.export`` writes) or ``"flat"`` (``(N, features)``). A flatten of NCHW
data orders its features ``c*H*W + y*W + x``, pyx_cnn's ``Flatten`` ``(y*W + x)*C +
c``: such a tensor keeps ``chw = (H, W, C)`` and the next ``Dense`` (or batch norm)
has its weights permuted to pyx_cnn's order.
"""
import copy
from dataclasses import dataclass, field

import numpy as np

from .. import layers as _layers
from ._common import attributes, unsupported
from ._fold import FOLDERS, fold

__all__ = ["READERS", "reads", "Tensor", "Step", "GraphReader"]

#: ONNX operator -> reader ``f(reader, node, attrs)``, which calls
#: ``reader.call(layer, inputs, node)`` or ``reader.alias(node, tensor)``
READERS = {}


def reads(*op_types):
    """Register the decorated function as the reader of `op_types`."""
    def register(function):
        for op_type in op_types:
            READERS[op_type] = function
        return function
    return register


@dataclass
class Tensor:
    """One ONNX data tensor: the pyx_cnn tensor (``ref``: -1 for the network's input,
    else the index of the step making it) and how ONNX lays it out."""
    ref: int
    layout: str               # "NHWC", "NCHW" or "flat"
    shape: tuple              # one sample's pyx_cnn shape: (H, W, C) or (features,)
    rank: int                 # the ONNX tensor's rank, batch axis included
    chw: tuple = None         # (H, W, C) when flat features are in NCHW order

    def with_(self, **changes):
        return Tensor(**{**self.__dict__, **changes})


@dataclass
class Step:
    """A pyx_cnn layer called on tensors, and the values its weights take."""
    layer: object
    inputs: list
    onnx_name: str
    params: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    merge: bool = False       # called on a list of tensors (Add, Concatenate)

    def rebuild(self, **changes):
        """Make the layer again with some constructor arguments changed (an activation
        or a bias folded in), from its config: a layer's constructor arguments."""
        self.layer = type(self.layer)(**{**self.layer.get_config(), **changes})


class GraphReader:
    """Reads the nodes of one ONNX graph, in order, into :attr:`steps`."""

    def __init__(self, graph, opset, dtype, consts):
        self.graph = graph
        self.opset = opset
        self.dtype = np.dtype(dtype)
        self.consts = consts          # ONNX name -> ndarray
        self.tensors = {}             # ONNX name -> Tensor
        self.steps = []
        self.batch = None             # the graph input's batch size, when fixed
        self.consumers = {}
        for node in graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        for out in graph.output:
            self.consumers[out.name] = self.consumers.get(out.name, 0) + 1

    # -- the walk
    def read(self):
        for node in self.graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise unsupported(node, f"operator domain {node.domain!r} (pyx_cnn reads "
                                  "the default ai.onnx domain)")
            attrs = attributes(node)
            if self._foldable(node):
                self._fold(node, attrs)
                continue
            reader = READERS.get(node.op_type)
            if reader is None:
                raise unsupported(node, "pyx_cnn.onnx reads " + ", ".join(supported_ops())
                                  + ", and any operator on constants only")
            reader(self, node, attrs)

    def _foldable(self, node):
        """A node computed from constants only (a Constant, or any node of constant
        inputs)."""
        if not node.input:
            return node.op_type in FOLDERS
        return all(name in self.consts for name in node.input if name)

    def _fold(self, node, attrs):
        inputs = [self.consts[name] if name else None for name in node.input]
        try:
            value = fold(node, attrs, inputs, self.opset)
        except (ValueError, TypeError, IndexError, KeyError, RuntimeError) as exc:
            if str(exc).startswith("unsupported ONNX operator"):
                raise
            raise unsupported(node, f"computing it on its constant inputs failed: "
                              f"{type(exc).__name__}: {exc}") from None
        self.consts[node.output[0]] = np.asarray(value)

    # -- what readers call
    def data(self, node, index=0):
        """The data tensor of the node's input `index`."""
        name = node.input[index] if index < len(node.input) else ""
        if name in self.tensors:
            return self.tensors[name]
        what = "a constant" if name in self.consts else "missing" if not name else "unknown"
        raise unsupported(node, f"its input {index} ({name!r}) must be data, got {what}")

    def const(self, node, index, what, default=None):
        """The constant of the node's input `index` (`default` when omitted)."""
        name = node.input[index] if index < len(node.input) else ""
        if not name:
            if default is None:
                raise unsupported(node, f"its {what} (input {index}) is missing")
            return default
        if name not in self.consts:
            raise unsupported(node, f"its {what} (input {index}, {name!r}) must be a constant "
                              "(an initializer, or computed from constants only)")
        return self.consts[name]

    def has_input(self, node, index):
        return index < len(node.input) and bool(node.input[index])

    def alias(self, node, tensor, output=0):
        """The node's output is `tensor` (no layer: a layout change, an identity)."""
        self.tensors[node.output[output]] = tensor

    def call(self, layer, inputs, node, shape, *, layout=None, rank=None, chw=None,
             params=None, state=None, merge=False):
        """Call `layer` on `inputs`; the node's first output is the result, of one
        sample's pyx_cnn `shape` (the layout and rank of the first input unless given)."""
        self.refuse_extra_outputs(node)
        first = inputs[0]
        self.steps.append(Step(layer, [t.ref for t in inputs], node.output[0], params or {},
                               state or {}, merge))
        out = Tensor(len(self.steps) - 1, layout or first.layout, tuple(shape),
                     rank or first.rank, chw)
        self.tensors[node.output[0]] = out
        return out

    def refuse_extra_outputs(self, node):
        used = [name for name in node.output[1:] if name and self.consumers.get(name)]
        if used:
            raise unsupported(node, f"its extra outputs {used} are used (pyx_cnn computes "
                              "the first output only)")

    def layer(self, class_name, node, *args, **kwargs):
        """A new pyx_cnn layer, or a ValueError naming the node when pyx_cnn cannot
        make one with these arguments."""
        cls = _layers.LAYER_CLASSES.get(class_name)
        if cls is None:
            raise unsupported(node, f"pyx_cnn.layers has no {class_name} layer to build "
                              "for it")
        try:
            return cls(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            arguments = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in
                                                       kwargs.items())])
            raise unsupported(node, f"pyx_cnn cannot build {class_name}({arguments}): "
                              f"{exc}") from None

    def output_shape(self, layer, shape, node):
        """One sample's output shape of `layer` for input `shape` (built on a copy)."""
        try:
            return copy.deepcopy(layer).build(shape, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise unsupported(node, f"{type(layer).__name__} on input of shape "
                              f"{tuple(shape)}: {exc}") from None

    def apply(self, layer, tensor, node, **kwargs):
        """Call a one-input `layer` on `tensor`, its output shape from the layer."""
        return self.call(layer, [tensor], node, self.output_shape(layer, tensor.shape, node),
                         **kwargs)

    def foldable_into(self, node, index=0, kinds=("Conv2D", "DepthwiseConv2D",
                                                  "Conv2DTranspose", "Dense")):
        """The step making the node's input `index` when the node may change that layer
        (an activation or a bias folded in): a layer of `kinds` read by this node only."""
        name = node.input[index]
        tensor = self.data(node, index)
        if tensor.ref < 0 or self.consumers.get(name) != 1:
            return None
        step = self.steps[tensor.ref]
        if step.onnx_name != name or type(step.layer).__name__ not in kinds:
            return None
        return step

    def need_image(self, node, tensor):
        """Refuse data other than an NCHW image batch (what ONNX's spatial ops take)."""
        if tensor.layout != "NCHW":
            raise unsupported(node, "it needs an NCHW image batch here, got "
                              + ("channels-last data (no Transpose to NCHW before it)"
                                 if tensor.layout == "NHWC" else "(N, features) data"))


def supported_ops():
    """The ONNX operators :func:`pyx_cnn.onnx.from_onnx` reads, sorted."""
    return sorted(set(READERS) | set(FOLDERS))
