"""pyx_cnn -> ONNX: one exporter per layer class (:data:`EXPORTERS`)."""
import os

import numpy as np

from .. import layers as _layers
from .._geometry import pair, resolve_padding
from ._common import _TO_NCHW, _TO_NHWC, _check_opset, _onnx

__all__ = ["to_onnx", "EXPORTERS"]


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
    kh, kw = pair(layer.kernel_size, "kernel_size", 1)
    sh, sw = pair(layer.stride, "stride", 1)
    dh, dw = pair(getattr(layer, "dilation", 1), "dilation", 1)
    pads = getattr(layer, "pads", None)   # the resolved padding of a built layer
    if pads is None:
        pads = resolve_padding(layer.padding, layer.input_shape[:2], (kh, kw), (sh, sw),
                               (dh, dw))
    (top, bottom), (left, right) = pads
    w = g.const(np.transpose(layer.params["W"], (0, 3, 1, 2)), "conv.W")
    inputs = [x, w]
    if getattr(layer, "use_bias", True) and "b" in layer.params:
        inputs.append(g.const(layer.params["b"], "conv.b"))
    y = g.node("Conv", inputs, "conv", kernel_shape=[kh, kw], strides=[sh, sw],
               dilations=[dh, dw], pads=[int(top), int(left), int(bottom), int(right)])
    return g.activation(y, layer.activation, "conv_act")


def _export_pool(op):
    def export(g, layer, x):
        x = g.nchw(x)
        kh, kw = pair(layer.size, "size", 1)
        sh, sw = pair(layer.stride, "stride", 1)
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
