"""ONNX export and import: ``to_onnx(net, path, opset=17)`` and ``from_onnx(path)``.

Needs the ``onnx`` package (``pip install "pyx_cnn[onnx]"``, which also installs
onnxruntime to run the exported models); it is imported on first use only.

Export
------
``to_onnx`` writes a standard ONNX model whose output equals ``net.predict``:

- one input, ``"input"``, channels-last ``(N, H, W, C)`` with a dynamic batch
  dimension ``N`` (a network built with ``input_shape=(H, W)`` takes
  ``(N, H, W, 1)``), of the network's dtype (float32 or float64);
- one output, ``"output"``, of the shape ``predict`` returns (softmax included).

The ONNX spatial operators are NCHW: the graph transposes the input to NCHW
before the first spatial layer, stays NCHW between consecutive spatial layers,
and transposes back to channels-last only where the layout matters: before a
``Flatten`` (so that the flattened order is pyx_cnn's, ``(y*W + x)*C + c``, and
the ``Dense`` weights are written unchanged) and before a spatial output.

Exporters are a registry, :data:`EXPORTERS`: layer class name -> function
``f(graph, layer, x) -> name of the output tensor``; a new layer is one entry.

Layer attributes the exporters rely on (the contract with :mod:`pyx_cnn.layers`)
-------------------------------------------------------------------------------
Every built layer: ``input_shape``, ``output_shape`` (one sample, no batch axis),
``params`` (dict of arrays), ``dtype``.

- ``Conv2D``: ``params["W"]`` ``(F, kh, kw, C)``, ``params["b"]`` ``(F,)`` when
  ``use_bias``; ``kernel_size`` ``(kh, kw)``; ``stride`` int or pair;
  ``dilation`` int or pair (default 1 when absent); ``padding`` int or pair, or,
  when present, ``_pads`` = ``((top, bottom), (left, right))`` (the resolved
  padding, e.g. of ``"same"``), which takes precedence; ``activation`` (None or a
  registry name).
- ``Dense``: ``params["W"]`` ``(in, units)``, ``params["b"]`` ``(units,)`` when
  ``use_bias``; ``activation``.
- ``MaxPool2D``, ``AvgPool2D``: ``size`` and ``stride``, each an int or a pair
  (no padding, floor mode).
- ``GlobalAvgPool2D``, ``GlobalMaxPool2D``: ``(N, H, W, C) -> (N, C)``.
- ``BatchNormalization``: ``params["gamma"]``, ``params["beta"]``,
  ``state["mean"]``, ``state["var"]`` (per channel, the last axis), ``epsilon``;
  for the import, the constructor takes ``momentum`` and ``epsilon`` (pyx_cnn's
  momentum is PyTorch's: ``1 - `` ONNX's).
- ``Dropout``: nothing (the identity at inference); the constructor takes ``rate``.
- Activation layers (``ActivationLayer`` subclasses: ``ReLU``, ``Sigmoid``,
  ``Tanh``, ``LeakyReLU``, ``Softmax``): their registry name ``activation``;
  ``LeakyReLU``: ``negative_slope`` (default 0.01); ``Softmax``: over the last
  (channel) axis.

Activation names (``activation=`` and activation layers) map to ONNX as: relu
-> Relu, sigmoid -> Sigmoid, tanh -> Tanh, leaky_relu -> LeakyRelu(alpha=0.01),
softmax -> Softmax over the channels (axis 1 of NCHW data, the last axis of
channels-last or flat data).

Import
------
``from_onnx`` reads sequential graphs (one input, one output, a chain of
nodes) of the operators Conv (group 1), Relu, LeakyRelu, Sigmoid, Tanh,
MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, BatchNormalization,
Gemm, MatMul (+ Add), Flatten, Reshape (to ``(N, features)``), Softmax,
Dropout, Identity, and the layout Transposes of :func:`to_onnx`. A 4-D graph
input consumed as NCHW (what ``torch.onnx.export`` writes) becomes a
channels-last network: feed it ``(N, H, W, C)``. Conv weights become
``(F, kh, kw, C)``; the first Gemm/MatMul after a flatten of NCHW data has its
rows permuted from ``c*H*W + y*W + x`` to ``(y*W + x)*C + c``. An activation
right after a Conv or a Gemm becomes that layer's ``activation=``. A graph that
ends without a Softmax gives a network whose last ``Dense`` has no activation
(``predict`` returns the logits). Only layers that exist in
:mod:`pyx_cnn.layers` are built; anything else raises a ``ValueError`` naming
the operator (and the attribute, for an unsupported setting).
"""
import inspect
import math
import os

import numpy as np

from . import layers as _layers
from ._optional import require

__all__ = ["to_onnx", "from_onnx", "EXPORTERS", "IMPORTERS", "MIN_OPSET"]

#: the lowest opset written or read (Softmax takes one axis from opset 13)
MIN_OPSET = 13

_TO_NCHW = [0, 3, 1, 2]
_TO_NHWC = [0, 2, 3, 1]


def _onnx():
    return require("onnx", "onnx", "onnx", "ONNX export and import (pyx_cnn.onnx)")


def _pair(value, name):
    """An int or a pair as a pair of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _max_opset():
    return _onnx().defs.onnx_opset_version()


def _check_opset(opset):
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int, got {type(opset).__name__} {opset!r}")
    top = _max_opset()
    if not MIN_OPSET <= int(opset) <= top:
        raise ValueError(f"opset must be between {MIN_OPSET} and {top} (the newest the "
                         f"installed onnx package knows), got {opset}")
    return int(opset)


# ====================================================================== export
class _Graph:
    """The ONNX graph being written, and the layout of the current tensor.

    ``layout`` is ``"NHWC"`` (pyx_cnn's channels-last), ``"NCHW"`` (ONNX's
    spatial layout: the data transposed by ``(0, 3, 1, 2)``) or ``"flat"``
    (``(N, features)``).
    """

    def __init__(self, onnx, dtype, opset):
        self.onnx = onnx
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self.layout = "NHWC"
        self._names = set()

    def name(self, base):
        """A new tensor name starting with `base`."""
        i, name = 0, base
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, value, base, dtype=None):
        """An initializer holding `value` (in the graph's dtype unless `dtype`)."""
        name = self.name(base)
        value = np.ascontiguousarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op, inputs, base, **attrs):
        """Add one node; returns its output's name."""
        out = self.name(base)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out],
                                                     name=self.name(f"{base}/{op}"), **attrs))
        return out

    def nchw(self, x):
        """`x` in the NCHW layout (a Transpose when it is channels-last)."""
        if self.layout == "NHWC":
            x = self.node("Transpose", [x], "to_nchw", perm=_TO_NCHW)
            self.layout = "NCHW"
        elif self.layout != "NCHW":
            raise ValueError(f"a spatial layer needs 4-D data, got {self.layout} data")
        return x

    def nhwc(self, x):
        """`x` channels-last (a Transpose when it is NCHW)."""
        if self.layout == "NCHW":
            x = self.node("Transpose", [x], "to_nhwc", perm=_TO_NHWC)
            self.layout = "NHWC"
        return x

    def activation(self, x, name, base, negative_slope=0.01):
        """`x` through the activation `name` (None or "linear": unchanged)."""
        if name in (None, "linear"):
            return x
        if name == "relu":
            return self.node("Relu", [x], base)
        if name == "sigmoid":
            return self.node("Sigmoid", [x], base)
        if name == "tanh":
            return self.node("Tanh", [x], base)
        if name == "leaky_relu":
            return self.node("LeakyRelu", [x], base, alpha=float(negative_slope))
        if name == "softmax":
            return self.node("Softmax", [x], base, axis=1 if self.layout == "NCHW" else -1)
        raise ValueError(f"activation {name!r} has no ONNX exporter")


def _export_conv(g, layer, x):
    x = g.nchw(x)
    kh, kw = _pair(layer.kernel_size, "kernel_size")
    sh, sw = _pair(layer.stride, "stride")
    dh, dw = _pair(getattr(layer, "dilation", 1), "dilation")
    pads = getattr(layer, "_pads", None)
    if pads is not None:
        (top, bottom), (left, right) = pads
    elif isinstance(layer.padding, str):
        top, bottom, left, right = _string_pads(layer, (kh, kw), (sh, sw), (dh, dw))
    else:
        top, left = _pair(layer.padding, "padding")
        bottom, right = top, left
    w = g.const(np.transpose(layer.params["W"], (0, 3, 1, 2)), "conv.W")
    inputs = [x, w]
    if getattr(layer, "use_bias", True) and "b" in layer.params:
        inputs.append(g.const(layer.params["b"], "conv.b"))
    y = g.node("Conv", inputs, "conv", kernel_shape=[kh, kw], strides=[sh, sw],
               dilations=[dh, dw], pads=[int(top), int(left), int(bottom), int(right)])
    return g.activation(y, layer.activation, "conv_act")


def _string_pads(layer, kernel, stride, dilation):
    """(top, bottom, left, right) of ``padding="valid"`` or ``"same"`` (TensorFlow's
    rule: the extra row / column at the bottom / right)."""
    if layer.padding.lower() == "valid":
        return 0, 0, 0, 0
    if layer.padding.lower() != "same":
        raise ValueError(f"Conv2D padding {layer.padding!r} has no ONNX exporter")
    pads = []
    for size, out, k, s, d in zip(layer.input_shape[:2], layer.output_shape[:2],
                                  kernel, stride, dilation):
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads[0][0], pads[0][1], pads[1][0], pads[1][1]


def _export_pool(op):
    def export(g, layer, x):
        x = g.nchw(x)
        kh, kw = _pair(layer.size, "size")
        sh, sw = _pair(layer.stride, "stride")
        return g.node(op, [x], op.lower(), kernel_shape=[kh, kw], strides=[sh, sw])
    return export


def _export_global_pool(op):
    def export(g, layer, x):
        x = g.nchw(x)
        y = g.node(op, [x], op.lower())            # (N, C, 1, 1)
        g.layout = "flat"
        return g.node("Flatten", [y], "flatten", axis=1)
    return export


def _export_activation_layer(g, layer, x):
    slope = getattr(layer, "negative_slope", None)
    # a LeakyReLU of another slope than the registry's has no `activation` name
    name = "leaky_relu" if slope is not None else layer.activation
    return g.activation(x, name, name, negative_slope=0.01 if slope is None else slope)


def _export_flatten(g, layer, x):
    x = g.nhwc(x)
    g.layout = "flat"
    return g.node("Flatten", [x], "flatten", axis=1)


def _export_dense(g, layer, x):
    if g.layout != "flat":
        raise ValueError("Dense needs (N, features) data")
    inputs = [x, g.const(layer.params["W"], "dense.W")]
    if getattr(layer, "use_bias", True) and "b" in layer.params:
        inputs.append(g.const(layer.params["b"], "dense.b"))
    y = g.node("Gemm", inputs, "dense")
    return g.activation(y, layer.activation, "dense_act")


def _export_batch_norm(g, layer, x):
    if g.layout == "NHWC":
        x = g.nchw(x)
    inputs = [x] + [g.const(value, f"bn.{key}") for key, value in (
        ("scale", layer.params["gamma"]), ("bias", layer.params["beta"]),
        ("mean", layer.state["mean"]), ("var", layer.state["var"]))]
    return g.node("BatchNormalization", inputs, "batch_norm", epsilon=float(layer.epsilon))


def _export_identity(g, layer, x):
    return x


#: layer class name -> exporter ``f(graph, layer, x) -> output tensor name``
EXPORTERS = {
    "Conv2D": _export_conv,
    "MaxPool2D": _export_pool("MaxPool"),
    "AvgPool2D": _export_pool("AveragePool"),
    "GlobalAvgPool2D": _export_global_pool("GlobalAveragePool"),
    "GlobalMaxPool2D": _export_global_pool("GlobalMaxPool"),
    "ReLU": _export_activation_layer,
    "Sigmoid": _export_activation_layer,
    "Tanh": _export_activation_layer,
    "LeakyReLU": _export_activation_layer,
    "Softmax": _export_activation_layer,
    "Flatten": _export_flatten,
    "Dense": _export_dense,
    "BatchNormalization": _export_batch_norm,
    "Dropout": _export_identity,
}


def _to_model(net, opset=17):
    """The ONNX ``ModelProto`` of `net` (see :func:`to_onnx`)."""
    onnx = _onnx()
    opset = _check_opset(opset)
    dtype = np.dtype(net.dtype)
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    g = _Graph(onnx, dtype, opset)
    sample = tuple(net.layers[0].input_shape)
    g.layout = "NHWC" if len(sample) == 3 else "flat"
    x = g.name("input")
    for i, layer in enumerate(net.layers):
        name = type(layer).__name__
        exporter = EXPORTERS.get(name)
        if exporter is None:
            raise ValueError(f"layers[{i}] ({name}) has no ONNX exporter "
                             f"(pyx_cnn.onnx.EXPORTERS has {', '.join(sorted(EXPORTERS))})")
        try:
            x = exporter(g, layer, x)
        except (AttributeError, KeyError) as exc:
            raise ValueError(f"layers[{i}] ({name}): missing attribute for the ONNX export: "
                             f"{exc}") from None
    x = g.nhwc(x)
    out = g.name("output")
    g.nodes.append(onnx.helper.make_node("Identity", [x], [out], name=g.name("output/Identity")))
    graph = onnx.helper.make_graph(
        g.nodes, "pyx_cnn",
        [onnx.helper.make_tensor_value_info("input", elem, ["N", *sample])],
        [onnx.helper.make_tensor_value_info(out, elem, ["N", *net.output_shape])],
        initializer=g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="pyx_cnn")
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    return model


def to_onnx(net, path, opset=17):
    """Write `net` as an ONNX model whose output equals ``net.predict``.

    Parameters
    ----------
    net : NeuralNetwork
    path : str or path-like
        The ``.onnx`` file to write.
    opset : int, optional
        ONNX operator set version, from :data:`MIN_OPSET` (13) to the newest
        the installed onnx package knows.

    Returns
    -------
    model : onnx.ModelProto
        What was written (checked with ``onnx.checker.check_model``).

    Raises
    ------
    ImportError
        When the onnx package is missing (``pip install "pyx_cnn[onnx]"``).
    TypeError, ValueError
        For a bad `opset`, or a layer without an exporter (named).
    """
    onnx = _onnx()
    model = _to_model(net, opset)
    onnx.checker.check_model(model, full_check=True)
    onnx.save_model(model, os.fspath(path))
    return model


# ====================================================================== import
def _unsupported(node, why=""):
    return ValueError(f"unsupported ONNX operator {node.op_type!r} (node {node.name!r})"
                      + (f": {why}" if why else ""))


def _layer_class(name, node):
    cls = _layers.LAYER_CLASSES.get(name)
    if cls is None:
        raise _unsupported(node, f"pyx_cnn.layers has no {name} layer (yet) to build for it")
    return cls


def _accepts(cls, arg):
    try:
        return arg in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


class _Reader:
    """Walks a sequential ONNX graph, building pyx_cnn layers.

    The current tensor's ``layout`` says how the ONNX tensor relates to
    pyx_cnn's channels-last data: ``"NHWC"`` (equal), ``"NCHW"`` (the data
    transposed by ``(0, 3, 1, 2)``) or ``"flat"``. ``shape`` is one sample's
    pyx_cnn shape ``(H, W, C)`` or ``(features,)``; ``chw`` is ``(H, W, C)`` when
    the flat features are in NCHW order (a flatten of NCHW data) and the next
    weights must be permuted.
    """

    def __init__(self, onnx, model):
        self.onnx = onnx
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          None)
        self.consts = {t.name: onnx.numpy_helper.to_array(t) for t in self.graph.initializer}
        self.layers = []     # (layer, {param key: value}, {state key: value})
        self.layout = None
        self.shape = None
        self.chw = None

    # -- helpers
    def attrs(self, node):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, node, name, what):
        if name not in self.consts:
            raise _unsupported(node, f"its {what} must be a constant (an initializer)")
        return self.consts[name]

    def check_attrs(self, node, attrs, allowed):
        for key, value in attrs.items():
            if key in allowed and allowed[key] is not None and value != allowed[key]:
                if isinstance(value, bytes):
                    value = value.decode()
                raise _unsupported(node, f"attribute {key}={value!r} is not supported "
                                   f"(only {allowed[key]!r})")
            if key not in allowed:
                raise _unsupported(node, f"attribute {key!r} is not supported")

    def need_spatial(self, node):
        if self.layout != "NCHW":
            raise _unsupported(node, "it needs NCHW image data here, got "
                               + ("channels-last data" if self.layout == "NHWC" else
                                  "flat (N, features) data"))

    def add(self, layer, params=None, state=None):
        self.layers.append((layer, params or {}, state or {}))

    def last_foldable(self):
        """The last layer if it is a Conv2D or Dense without activation (an
        activation that follows becomes its ``activation=``)."""
        if self.layers and type(self.layers[-1][0]).__name__ in ("Conv2D", "Dense"):
            layer = self.layers[-1][0]
            if layer.activation is None:
                return layer
        return None

    def permute_features(self, values, axis=0):
        """Reorder a per-feature axis from NCHW-flatten order to channels-last order."""
        if self.chw is None:
            return values
        h, w, c = self.chw
        values = np.moveaxis(values, axis, 0)
        rest = values.shape[1:]
        values = values.reshape((c, h, w) + rest).transpose((1, 2, 0) + tuple(
            range(3, 3 + len(rest)))).reshape((h * w * c,) + rest)
        return np.moveaxis(values, 0, axis)

    # -- operators
    def activation(self, node, name, layer_name, **layer_args):
        from .ops.activations import ACTIVATIONS

        foldable = self.last_foldable()
        default_slope = layer_args.get("negative_slope", 0.01) == np.float32(0.01)
        if (foldable is not None and name in ACTIVATIONS
                and (name != "leaky_relu" or default_slope)):
            foldable.activation = name
            return
        cls = _layer_class(layer_name, node)
        if name == "leaky_relu" and default_slope:
            layer_args = {}
        self.add(cls(**layer_args))

    def op_Relu(self, node, a):
        self.check_attrs(node, a, {})
        self.activation(node, "relu", "ReLU")

    def op_Sigmoid(self, node, a):
        self.check_attrs(node, a, {})
        self.activation(node, "sigmoid", "Sigmoid")

    def op_Tanh(self, node, a):
        self.check_attrs(node, a, {})
        self.activation(node, "tanh", "Tanh")

    def op_LeakyRelu(self, node, a):
        self.check_attrs(node, a, {"alpha": None})
        self.activation(node, "leaky_relu", "LeakyReLU", negative_slope=float(a.get("alpha", 0.01)))

    def op_Softmax(self, node, a):
        self.check_attrs(node, a, {"axis": None})
        rank = 2 if self.layout == "flat" else 4
        axis = a.get("axis", -1 if self.opset >= 13 else 1) % rank
        channel = {"flat": 1, "NHWC": 3, "NCHW": 1}[self.layout]
        if self.opset < 13 and rank != 2:
            raise _unsupported(node, "a Softmax of 4-D data before opset 13 (over C*H*W)")
        if axis != channel:
            raise _unsupported(node, f"Softmax over axis {a.get('axis')} (pyx_cnn takes the "
                               "softmax over the channels / features)")
        if self.chw is not None:
            raise _unsupported(node, "Softmax of flattened NCHW features before a Dense "
                               "(the output order would differ)")
        self.activation(node, "softmax", "Softmax")

    def op_Transpose(self, node, a):
        self.check_attrs(node, a, {"perm": None})
        perm = list(a.get("perm", []))
        if self.layout == "NHWC" and perm == _TO_NCHW:
            self.layout = "NCHW"
        elif self.layout == "NCHW" and perm == _TO_NHWC:
            self.layout = "NHWC"
        else:
            raise _unsupported(node, f"Transpose perm={perm} of {self.layout} data (only the "
                               "NHWC <-> NCHW layout changes are read)")

    def op_Identity(self, node, a):
        pass

    def op_Dropout(self, node, a):
        self.check_attrs(node, a, {"seed": None})
        ratio = 0.5
        if len(node.input) > 1 and node.input[1]:
            ratio = float(self.const(node, node.input[1], "ratio"))
        if len(node.input) > 2 and node.input[2]:
            if bool(self.const(node, node.input[2], "training_mode")):
                raise _unsupported(node, "training_mode=True")
        cls = _layers.LAYER_CLASSES.get("Dropout")
        if cls is not None:        # else the identity, which is what predict runs
            self.add(cls(ratio))

    def op_Conv(self, node, a):
        self.need_spatial(node)
        self.check_attrs(node, a, {"group": 1, "kernel_shape": None, "strides": None,
                                   "pads": None, "dilations": None, "auto_pad": None})
        w = self.const(node, node.input[1], "weight")
        if w.ndim != 4:
            raise _unsupported(node, f"a {w.ndim - 2}-D convolution")
        f, c, kh, kw = w.shape
        h, wd, cin = self.shape
        if c != cin:
            raise _unsupported(node, f"weights for {c} channels, the data has {cin}")
        strides = tuple(a.get("strides", (1, 1)))
        dilations = tuple(a.get("dilations", (1, 1)))
        pads = tuple(a.get("pads", (0, 0, 0, 0)))
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad not in ("NOTSET", "VALID") or (auto_pad == "VALID" and any(pads)):
            raise _unsupported(node, f"attribute auto_pad={auto_pad!r} (only NOTSET, VALID)")
        if auto_pad == "VALID":
            pads = (0, 0, 0, 0)
        cls = _layer_class("Conv2D", node)
        kwargs = {}
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise _unsupported(node, f"attribute pads={list(pads)}: asymmetric padding")
        kwargs["padding"] = pads[0] if pads[0] == pads[1] else (pads[0], pads[1])
        kwargs["stride"] = strides[0] if strides[0] == strides[1] else strides
        if dilations != (1, 1):
            if not _accepts(cls, "dilation"):
                raise _unsupported(node, f"attribute dilations={list(dilations)}: this "
                                   "pyx_cnn Conv2D has no dilation")
            kwargs["dilation"] = dilations[0] if dilations[0] == dilations[1] else dilations
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self.const(node, node.input[2], "bias")
        try:
            layer = cls(f, (kh, kw), use_bias=bias is not None, **kwargs)
        except (TypeError, ValueError) as exc:
            raise _unsupported(node, f"{kwargs}: {exc}") from None
        params = {"W": np.transpose(w, (0, 2, 3, 1))}
        if bias is not None:
            params["b"] = bias
        self.add(layer, params)
        ph, pw = pads[0], pads[1]
        dh, dw = dilations
        self.shape = ((h + 2 * ph - dh * (kh - 1) - 1) // strides[0] + 1,
                      (wd + 2 * pw - dw * (kw - 1) - 1) // strides[1] + 1, f)

    def pool(self, node, a, layer_name, extra=()):
        self.need_spatial(node)
        allowed = {"kernel_shape": None, "strides": None, "pads": None, "ceil_mode": 0,
                   "auto_pad": None, "dilations": None, "storage_order": 0}
        allowed.update(dict(extra))
        self.check_attrs(node, a, allowed)
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad not in ("NOTSET", "VALID"):
            raise _unsupported(node, f"attribute auto_pad={auto_pad!r}")
        if any(a.get("pads", ())):
            raise _unsupported(node, f"attribute pads={list(a['pads'])}: padded pooling")
        if any(d != 1 for d in a.get("dilations", ())):
            raise _unsupported(node, f"attribute dilations={list(a['dilations'])}")
        kh, kw = a["kernel_shape"]
        sh, sw = a.get("strides", (1, 1))
        if kh != kw or sh != sw:
            raise _unsupported(node, f"kernel_shape={[kh, kw]}, strides={[sh, sw]}: pyx_cnn "
                               "pools square windows with one stride")
        cls = _layer_class(layer_name, node)
        self.add(cls(int(kh), int(sh)))
        h, w, c = self.shape
        self.shape = ((h - kh) // sh + 1, (w - kw) // sw + 1, c)

    def op_MaxPool(self, node, a):
        if len(node.output) > 1 and node.output[1]:
            raise _unsupported(node, "the Indices output")
        self.pool(node, a, "MaxPool2D")

    def op_AveragePool(self, node, a):
        self.pool(node, a, "AvgPool2D", {"count_include_pad": None})

    def global_pool(self, node, a, layer_name):
        self.need_spatial(node)
        self.check_attrs(node, a, {})
        self.add(_layer_class(layer_name, node)())
        h, w, c = self.shape
        # ONNX keeps (N, C, 1, 1); the pyx_cnn layer gives (N, C): a later
        # Flatten/Reshape of it is a no-op
        self.layout, self.shape, self.chw = "flat", (c,), None

    def op_GlobalAveragePool(self, node, a):
        self.global_pool(node, a, "GlobalAvgPool2D")

    def op_GlobalMaxPool(self, node, a):
        self.global_pool(node, a, "GlobalMaxPool2D")

    def op_BatchNormalization(self, node, a):
        self.check_attrs(node, a, {"epsilon": None, "momentum": None, "training_mode": 0,
                                   "spatial": 1})
        if self.layout == "NHWC":
            raise _unsupported(node, "it needs NCHW or (N, features) data here")
        if len(node.output) > 1 and any(node.output[1:]):
            raise _unsupported(node, "training outputs (running mean / var)")
        scale, bias, mean, var = (self.const(node, name, what) for name, what in zip(
            node.input[1:5], ("scale", "bias", "mean", "var")))
        cls = _layer_class("BatchNormalization", node)
        momentum = round(1.0 - float(a.get("momentum", 0.9)), 6)   # float32 attribute
        layer = cls(momentum=momentum, epsilon=float(a.get("epsilon", 1e-5)))
        p = self.permute_features
        self.add(layer, {"gamma": p(scale), "beta": p(bias)}, {"mean": p(mean), "var": p(var)})

    def flatten(self, node):
        if self.layout == "flat":      # (N, features) already: nothing to do
            return
        h, w, c = self.shape
        self.chw = (h, w, c) if self.layout == "NCHW" and h * w > 1 else None
        self.add(_layer_class("Flatten", node)())
        self.layout, self.shape = "flat", (h * w * c,)

    def op_Flatten(self, node, a):
        self.check_attrs(node, a, {"axis": None})
        if a.get("axis", 1) != 1:
            raise _unsupported(node, f"attribute axis={a['axis']} (only 1)")
        self.flatten(node)

    def op_Reshape(self, node, a):
        self.check_attrs(node, a, {"allowzero": 0})
        shape = [int(s) for s in self.const(node, node.input[1], "shape")]
        n_features = math.prod(self.shape)
        if len(shape) != 2 or shape[1] not in (-1, n_features) or (
                shape[1] == -1 and shape[0] not in (0, -1)):
            raise _unsupported(node, f"a reshape to {shape} (only to (N, features))")
        self.flatten(node)

    def dense(self, node, w, b):
        cls = _layer_class("Dense", node)
        if self.layout != "flat":
            raise _unsupported(node, "a matrix product of 4-D data (flatten it first)")
        if w.ndim != 2 or w.shape[0] != self.shape[0]:
            raise _unsupported(node, f"weights of shape {w.shape} for {self.shape[0]} features")
        params = {"W": self.permute_features(w, axis=0)}
        if b is not None:
            b = np.broadcast_to(np.asarray(b), (1, w.shape[1])).reshape(-1)
            params["b"] = b
        self.add(cls(int(w.shape[1]), use_bias=b is not None), params)
        self.shape, self.chw = (int(w.shape[1]),), None

    def op_Gemm(self, node, a):
        self.check_attrs(node, a, {"alpha": None, "beta": None, "transA": 0, "transB": None})
        w = self.const(node, node.input[1], "B")
        if a.get("transB", 0):
            w = w.T
        w = w * a["alpha"] if a.get("alpha", 1.0) != 1.0 else w
        b = None
        if len(node.input) > 2 and node.input[2]:
            b = self.const(node, node.input[2], "C")
            b = b * a["beta"] if a.get("beta", 1.0) != 1.0 else b
            if b.size not in (1, w.shape[1]) or b.ndim > 2 or (b.ndim == 2 and b.shape[0] != 1):
                raise _unsupported(node, f"a bias C of shape {b.shape}")
        self.dense(node, w, b)

    def op_MatMul(self, node, a, add=None):
        self.check_attrs(node, a, {})
        w = self.const(node, node.input[1], "second input")
        b = None
        if add is not None:
            other = [n for n in add.input if n != node.output[0]]
            b = self.const(add, other[0], "second input")
            if b.size not in (1, w.shape[1]):
                raise _unsupported(add, f"adding shape {b.shape} after a MatMul")
        self.dense(node, w, b)


#: ONNX operators read by :func:`from_onnx`
IMPORTERS = sorted(name[3:] for name in vars(_Reader) if name.startswith("op_")) + [
    "Add (after MatMul)"]


def _chain(onnx, graph, reader):
    """The nodes from the graph input to its output, checked to form one chain."""
    inputs = [i for i in graph.input if i.name not in reader.consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ValueError(f"from_onnx reads graphs with one input and one output, got "
                         f"{len(inputs)} inputs and {len(graph.output)} outputs")
    nodes = []
    for node in graph.node:
        if node.op_type == "Constant":
            attr = {a.name: a for a in node.attribute}
            if "value" not in attr:
                raise _unsupported(node, "only Constant value= is read")
            reader.consts[node.output[0]] = onnx.numpy_helper.to_array(attr["value"].t)
        elif node.domain not in ("", "ai.onnx"):
            raise _unsupported(node, f"domain {node.domain!r}")
        else:
            nodes.append(node)
    current, chain = inputs[0].name, []
    for node in nodes:
        data = [n for n in node.input if n and n not in reader.consts]
        if data != [current] and not (node.op_type == "Add" and current in data):
            raise ValueError(f"from_onnx reads sequential graphs only: node {node.name!r} "
                             f"({node.op_type}) takes {data}, expected the output of the "
                             "node before it")
        chain.append(node)
        current = node.output[0]
    if current != graph.output[0].name:
        raise ValueError("from_onnx reads sequential graphs only: the last node's output is "
                         "not the graph output")
    return inputs[0], chain


def _dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else None
            for d in value_info.type.tensor_type.shape.dim]


def from_onnx(path):
    """Read a sequential ONNX model into a :class:`~pyx_cnn.NeuralNetwork`.

    Parameters
    ----------
    path : str or path-like
        An ``.onnx`` file (see the module docstring for the operators read).

    Returns
    -------
    NeuralNetwork
        Channels-last: an NCHW graph input ``(N, C, H, W)`` becomes
        ``input_shape=(H, W, C)``. float32 when the graph input is float,
        float64 when it is double.

    Raises
    ------
    ImportError
        When the onnx package is missing (``pip install "pyx_cnn[onnx]"``).
    ValueError
        For a graph that is not sequential, or the first unsupported operator
        or attribute (named in the message).
    """
    onnx = _onnx()
    from .network import NeuralNetwork

    model = onnx.load_model(os.fspath(path))
    reader = _Reader(onnx, model)
    if reader.opset is None:
        raise ValueError("the model imports no default-domain (ai.onnx) opset")
    graph_input, chain = _chain(onnx, model.graph, reader)
    elem = graph_input.type.tensor_type.elem_type
    dtypes = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64"}
    if elem not in dtypes:
        raise ValueError(f"graph input {graph_input.name!r} has element type "
                         f"{onnx.TensorProto.DataType.Name(elem)}; pyx_cnn reads float and "
                         "double models")
    dims = _dims(graph_input)
    if len(dims) not in (2, 4) or any(d is None or d < 1 for d in dims[1:]):
        raise ValueError(f"graph input {graph_input.name!r} must be (N, C, H, W), "
                         f"(N, H, W, C) or (N, features) with fixed sizes after N, got {dims}")
    if len(dims) == 2:
        reader.layout, reader.shape = "flat", (dims[1],)
    elif chain and chain[0].op_type == "Transpose" and list(
            reader.attrs(chain[0]).get("perm", [])) == _TO_NCHW:
        reader.layout, reader.shape = "NHWC", tuple(dims[1:])          # a pyx_cnn export
    else:
        reader.layout, reader.shape = "NCHW", (dims[2], dims[3], dims[1])
    input_shape = reader.shape
    i = 0
    while i < len(chain):
        node = chain[i]
        handler = getattr(reader, f"op_{node.op_type}", None)
        if handler is None:
            raise _unsupported(node, "pyx_cnn.onnx reads " + ", ".join(IMPORTERS))
        attrs = reader.attrs(node)
        if node.op_type == "MatMul" and i + 1 < len(chain) and chain[i + 1].op_type == "Add":
            handler(node, attrs, add=chain[i + 1])
            i += 2
            continue
        handler(node, attrs)
        i += 1
    if reader.chw is not None:
        raise ValueError("the graph output is a flatten of NCHW data, whose order pyx_cnn's "
                         "channels-last Flatten does not reproduce")
    if not reader.layers:
        raise ValueError("the graph holds no layer pyx_cnn builds")
    dtype = dtypes[elem]
    net = NeuralNetwork([layer for layer, _, _ in reader.layers], input_shape, seed=0,
                        dtype=dtype)
    for layer, params, state in reader.layers:
        for store, values in ((layer.params, params), (getattr(layer, "state", {}), state)):
            for key, value in values.items():
                target = store[key]
                value = np.asarray(value)
                if value.shape != target.shape:
                    raise ValueError(f"{type(layer).__name__} {key}: the model holds shape "
                                     f"{value.shape}, the layer needs {target.shape}")
                target[...] = value
    return net
