"""pyx_cnn -> ONNX: one exporter per layer class (:data:`EXPORTERS`), called on each
layer call of the network in order (a chain, or a graph network's calls)."""
import os

import numpy as np

from .._geometry import pair, resolve_padding
from ._common import _check_opset, _onnx
from ._write_graph import GraphWriter

__all__ = ["to_onnx", "EXPORTERS"]


def _conv_pads(layer, kernel, stride, dilation):
    pads = getattr(layer, "pads", None)   # the resolved padding of a built layer
    if pads is None:
        pads = resolve_padding(layer.padding, layer.input_shape[:2], kernel, stride, dilation)
    (top, bottom), (left, right) = pads
    return [int(top), int(left), int(bottom), int(right)]


def _export_conv(g, layer, x):
    """Conv2D (any ``groups``) and DepthwiseConv2D (``groups`` = its input channels)."""
    x = g.nchw(x)
    kernel = pair(layer.kernel_size, "kernel_size", 1)
    stride = pair(layer.stride, "stride", 1)
    dilation = pair(getattr(layer, "dilation", 1), "dilation", 1)
    groups = (layer.input_shape[-1] if type(layer).__name__ == "DepthwiseConv2D"
              else getattr(layer, "groups", 1))
    w = g.const(np.transpose(layer.params["W"], (0, 3, 1, 2)), "conv.W")
    inputs = [x, w]
    if getattr(layer, "use_bias", True) and "b" in layer.params:
        inputs.append(g.const(layer.params["b"], "conv.b"))
    y = g.node("Conv", inputs, "conv", kernel_shape=list(kernel), strides=list(stride),
               dilations=list(dilation), pads=_conv_pads(layer, kernel, stride, dilation),
               group=int(groups))
    return g.activation(y, layer.activation, "conv_act")


def _export_conv_transpose(g, layer, x):
    x = g.nchw(x)
    kernel = pair(layer.kernel_size, "kernel_size", 1)
    ph, pw = pair(layer.padding, "padding", 0)
    w = g.const(np.transpose(layer.params["W"], (0, 3, 1, 2)), "deconv.W")   # (C, F, kh, kw)
    inputs = [x, w]
    if getattr(layer, "use_bias", True) and "b" in layer.params:
        inputs.append(g.const(layer.params["b"], "deconv.b"))
    y = g.node("ConvTranspose", inputs, "deconv", kernel_shape=list(kernel),
               strides=list(pair(layer.stride, "stride", 1)),
               dilations=list(pair(getattr(layer, "dilation", 1), "dilation", 1)),
               pads=[ph, pw, ph, pw],
               output_padding=list(pair(getattr(layer, "output_padding", 0), "output_padding")))
    return g.activation(y, layer.activation, "deconv_act")


def _ceil_counts_differ(g, layer, pads, kernel, stride):
    """True when ONNX's ceil mode before opset 22 counts another window than
    PyTorch's (a last window starting in the padding, which PyTorch drops)."""
    if g.opset >= 22 or not getattr(layer, "ceil_mode", False):
        return False
    onnx_counts = [-(-(size + p[0] + p[1] - k) // s) + 1
                   for size, p, k, s in zip(layer.input_shape[:2], pads, kernel, stride)]
    return onnx_counts != list(layer.output_shape[:2])


def _export_pool(op):
    def export(g, layer, x):
        x = g.nchw(x)
        kernel = pair(layer.size, "size", 1)
        stride = pair(layer.stride, "stride", 1)
        pads = resolve_padding(getattr(layer, "padding", 0), layer.input_shape[:2], kernel,
                               stride)
        ceil = bool(getattr(layer, "ceil_mode", False))
        include = op == "AveragePool" and bool(getattr(layer, "count_include_pad", True))
        if _ceil_counts_differ(g, layer, pads, kernel, stride):
            # floor mode, the padding after extended to the last window: the extra zeros
            # are not counted (an average counting the zeros pads them with a Pad node)
            size = layer.input_shape[:2]
            if include:
                x = _pad(g, x, pads)
                size = [n + p[0] + p[1] for n, p in zip(size, pads)]
                pads, include = ((0, 0), (0, 0)), False
            pads = [(p[0], max(p[1], (n - 1) * s + k - m - p[0])) for p, n, s, k, m in zip(
                pads, layer.output_shape[:2], stride, kernel, size)]
            ceil = False
        attrs = {"ceil_mode": int(ceil)}
        if op == "AveragePool":
            attrs["count_include_pad"] = int(include)
        (top, bottom), (left, right) = pads
        return g.node(op, [x], op.lower(), kernel_shape=list(kernel), strides=list(stride),
                      pads=[top, left, bottom, right], **attrs)
    return export


def _export_global_pool(op):
    def export(g, layer, x):
        y = g.node(op, [g.nchw(x)], op.lower())            # (N, C, 1, 1)
        return g.node("Flatten", [y], "flatten", layout="flat", axis=1)
    return export


def _export_activation_layer(g, layer, x):
    max_value = getattr(layer, "max_value", None)
    if max_value is not None:
        return g.clip(x, 0.0, max_value, "relu_max")
    slope = getattr(layer, "negative_slope", None)
    # a LeakyReLU of another slope than the registry's has no `activation` name
    name = "leaky_relu" if slope is not None else layer.activation
    return g.activation(x, name, name, negative_slope=0.01 if slope is None else slope)


def _export_flatten(g, layer, x):
    return g.node("Flatten", [g.nhwc(x)], "flatten", layout="flat", axis=1)


def _export_dense(g, layer, x):
    if g.layouts[x] != "flat":
        raise ValueError("Dense needs (N, features) data")
    inputs = [x, g.const(layer.params["W"], "dense.W")]
    if getattr(layer, "use_bias", True) and "b" in layer.params:
        inputs.append(g.const(layer.params["b"], "dense.b"))
    y = g.node("Gemm", inputs, "dense")
    return g.activation(y, layer.activation, "dense_act")


def _export_batch_norm(g, layer, x):
    x = g.nchw(x) if g.layouts[x] == "NHWC" else x
    inputs = [x] + [g.const(value, f"bn.{key}") for key, value in (
        ("scale", layer.params["gamma"]), ("bias", layer.params["beta"]),
        ("mean", layer.state["mean"]), ("var", layer.state["var"]))]
    return g.node("BatchNormalization", inputs, "batch_norm", epsilon=float(layer.epsilon))


def _pad(g, x, pads):
    """Zeros around the NCHW images `x`: ``pads = ((top, bottom), (left, right))``."""
    (top, bottom), (left, right) = pads
    pads = g.const([0, 0, top, left, 0, 0, bottom, right], "pad.pads", np.int64)
    return g.node("Pad", [g.nchw(x), pads], "pad", mode="constant")


def _export_zero_padding(g, layer, x):
    return _pad(g, x, resolve_padding(layer.padding, layer.input_shape[:2], (1, 1)))


def _export_upsampling(g, layer, x):
    sh, sw = pair(layer.size, "size", 1)
    scales = g.const([1.0, 1.0, sh, sw], "upsample.scales", np.float32)
    return g.node("Resize", [g.nchw(x), "", scales], "upsample", mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def _export_add(g, layer, xs):
    layout = g.layouts[xs[0]]
    xs = [g.like(x, layout) for x in xs]
    return g.node("Add" if len(xs) == 2 else "Sum", xs, "add")


def _export_concatenate(g, layer, xs):
    layout = g.layouts[xs[0]]
    xs = [g.like(x, layout) for x in xs]
    axis = layer.batch_axis          # of the channels-last batch
    if layout == "NCHW":
        axis = [0, 2, 3, 1][axis]
    return g.node("Concat", xs, "concat", axis=int(axis))


def _export_identity(g, layer, x):
    return x


#: layer class name -> exporter ``f(graph, layer, x) -> output tensor name`` (`x` the
#: name of the input tensor; a list of names for a merge layer)
EXPORTERS = {
    "Conv2D": _export_conv,
    "DepthwiseConv2D": _export_conv,
    "Conv2DTranspose": _export_conv_transpose,
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
    "ZeroPadding2D": _export_zero_padding,
    "UpSampling2D": _export_upsampling,
    "Add": _export_add,
    "Concatenate": _export_concatenate,
}


def _layer_calls(net):
    """``(layer, input refs, takes a list)`` per layer call, in order: ``-1`` is the
    network's input, ``k`` the output of call ``k``."""
    if getattr(net, "is_graph", False):
        graph = net._chain
        return [(graph.layers[i], refs, takes_list) for i, refs, takes_list in graph.nodes]
    return [(layer, (k - 1,), False) for k, layer in enumerate(net.layers)]


def _sample_shape(net):
    if hasattr(net, "input_shape"):
        from .._batches import sample_shape

        return tuple(sample_shape(net.input_shape))
    return tuple(net.layers[0].input_shape)


def _write_layers(g, net, x):
    """Every layer call of `net` from the input tensor `x`; returns the output's name."""
    names = {-1: x}
    calls = _layer_calls(net)
    for k, (layer, refs, takes_list) in enumerate(calls):
        name = type(layer).__name__
        exporter = EXPORTERS.get(name)
        i = next(j for j, other in enumerate(net.layers) if other is layer)
        if exporter is None:
            raise ValueError(f"layers[{i}] ({name}) has no ONNX exporter "
                             f"(pyx_cnn.onnx.EXPORTERS has {', '.join(sorted(EXPORTERS))})")
        inputs = [names[r] for r in refs]
        try:
            names[k] = exporter(g, layer, inputs if takes_list else inputs[0])
        except (AttributeError, KeyError) as exc:
            raise ValueError(f"layers[{i}] ({name}): missing attribute for the ONNX export: "
                             f"{exc}") from None
    return names[len(calls) - 1]


def _to_model(net, opset=17):
    """The ONNX ``ModelProto`` of `net` (see :func:`to_onnx`)."""
    onnx = _onnx()
    opset = _check_opset(opset)
    dtype = np.dtype(net.dtype)
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    g = GraphWriter(onnx, dtype, opset)
    sample = _sample_shape(net)
    x = g.name("input")
    g.layouts[x] = "NHWC" if len(sample) == 3 else "flat"
    y = g.nhwc(_write_layers(g, net, x))
    out = g.name("output")
    g.nodes.append(onnx.helper.make_node("Identity", [y], [out], name=g.name("output/Identity")))
    graph = onnx.helper.make_graph(
        g.nodes, "pyx_cnn",
        [onnx.helper.make_tensor_value_info(x, elem, ["N", *sample])],
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
        A chain or a graph network.
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
