"""Readers of ONNX's other operators: activations (Relu, Clip, LeakyRelu, Sigmoid, Tanh,
Softmax), Add, Concat, BatchNormalization, Gemm, MatMul, Flatten, Reshape, Shape,
Dropout, Identity and the layout Transposes."""
import math

import numpy as np

from ..ops.activations import ACTIVATIONS, DEFAULT_NEGATIVE_SLOPE
from ._common import _TO_NCHW, _TO_NHWC, check_attributes, float32_attribute, unsupported
from ._fold import BATCH
from ._read_graph import reads

__all__ = []


def _activate(reader, node, name, class_name, **kwargs):
    """An activation layer, or the `activation=` of the Conv2D / Dense before it (when
    this node is that layer's only reader and `name` is a registry activation)."""
    x = reader.data(node)
    step = reader.foldable_into(node) if name is not None and name in ACTIVATIONS else None
    if step is not None and step.layer.activation is None:
        step.rebuild(activation=name)
        step.onnx_name = node.output[0]
        reader.alias(node, x)
        return
    reader.call(reader.layer(class_name, node, **kwargs), [x], node, x.shape, chw=x.chw)


@reads("Relu", "Sigmoid", "Tanh")
def read_activation(reader, node, attrs):
    check_attributes(node, attrs, {})
    name = node.op_type.lower()
    _activate(reader, node, name, {"Relu": "ReLU"}.get(node.op_type, node.op_type))


@reads("LeakyRelu")
def read_leaky_relu(reader, node, attrs):
    check_attributes(node, attrs, {"alpha": None})
    alpha = float32_attribute(attrs.get("alpha", 0.01))
    if np.float32(alpha) == np.float32(DEFAULT_NEGATIVE_SLOPE):    # a float32 attribute
        _activate(reader, node, "leaky_relu", "LeakyReLU")
    else:
        _activate(reader, node, None, "LeakyReLU", negative_slope=alpha)


def _bound(reader, node, attrs, key, index, default):
    if key in attrs:                        # opsets before 11
        return float(attrs[key])
    if reader.has_input(node, index):
        return float(np.ravel(reader.const(node, index, f"{key} bound"))[0])
    return default


@reads("Clip")
def read_clip(reader, node, attrs):
    check_attributes(node, attrs, {"min": None, "max": None})
    low = _bound(reader, node, attrs, "min", 1, -np.inf)
    high = _bound(reader, node, attrs, "max", 2, np.inf)
    if low != 0 or not high > 0:
        raise unsupported(node, f"Clip({low}, {high}) (pyx_cnn reads Clip(0, m), m > 0: "
                          "ReLU(max_value=m))")
    if high == np.inf:
        _activate(reader, node, "relu", "ReLU")
    elif high == 6:
        _activate(reader, node, "relu6", "ReLU", max_value=6.0)
    else:
        _activate(reader, node, None, "ReLU", max_value=high)


def channel_axis(tensor):
    """The ONNX axis of the channels (or features) of `tensor`."""
    return tensor.rank - 1 if tensor.layout == "NHWC" else 1


@reads("Softmax")
def read_softmax(reader, node, attrs):
    check_attributes(node, attrs, {"axis": None})
    x = reader.data(node)
    axis = int(attrs.get("axis", -1 if reader.opset >= 13 else 1)) % x.rank
    # before opset 13 a Softmax runs over all the axes from `axis` on
    whole = reader.opset < 13 and x.layout != "flat" and axis < x.rank - 1
    if axis != channel_axis(x) or whole or (x.layout == "flat" and x.rank != 2):
        raise unsupported(node, f"Softmax over axis {attrs.get('axis', 'default')} of "
                          f"{x.layout} data of rank {x.rank} (pyx_cnn takes the softmax over "
                          "the channels or features)")
    if x.chw is not None:
        raise unsupported(node, "a Softmax of flattened NCHW features (pyx_cnn orders "
                          "flattened features channels-last)")
    _activate(reader, node, "softmax", "Softmax")


def _same_data(node, tensors):
    first = tensors[0]
    for t in tensors[1:]:
        if (t.layout, t.rank, t.chw) != (first.layout, first.rank, first.chw):
            raise unsupported(node, f"inputs laid out differently ({first.layout} and "
                              f"{t.layout})")


def _bias_vector(bias, x):
    """The per-channel (or per-feature) vector of a constant added to `x`, or None when
    it is not one value per channel."""
    bias = np.asarray(bias)
    n = x.shape[-1]
    if bias.size == 1:
        return np.full(n, bias.reshape(-1)[0])
    shapes = {"flat": ((n,), (1, n)), "NCHW": ((n, 1, 1), (1, n, 1, 1))}.get(x.layout, ())
    return bias.reshape(n) if bias.shape in shapes and x.chw is None else None


def _add_bias(reader, node, index, bias):
    """A constant added to the output of a Dense or convolution read by this node only:
    that layer's bias (a MatMul, or a convolution without bias, then an Add)."""
    x = reader.data(node, index)
    step = reader.foldable_into(node, index)
    vector = _bias_vector(bias, x)
    if step is None or vector is None or step.layer.activation is not None:
        raise unsupported(node, f"adding a constant of shape {np.shape(bias)} to data "
                          "(pyx_cnn reads it as the bias of the Dense or convolution "
                          "before it)")
    if step.layer.use_bias:
        vector = vector + step.params["b"]
    else:
        step.rebuild(use_bias=True)
    step.params["b"] = vector
    step.onnx_name = node.output[0]
    reader.alias(node, x)


@reads("Add", "Sum")
def read_add(reader, node, attrs):
    check_attributes(node, attrs, {})
    names = [name for name in node.input if name]
    if node.op_type == "Add" and any(name in reader.consts for name in names):
        i = 0 if names[1] in reader.consts else 1
        _add_bias(reader, node, i, reader.consts[names[1 - i]])
        return
    tensors = [reader.data(node, i) for i in range(len(node.input)) if node.input[i]]
    _same_data(node, tensors)
    if len({t.shape for t in tensors}) != 1:
        raise unsupported(node, f"adding shapes {[t.shape for t in tensors]} (pyx_cnn adds "
                          "equal shapes)")
    first = tensors[0]
    reader.call(reader.layer("Add", node), tensors, node, first.shape, chw=first.chw,
                merge=True)


#: ONNX axis -> the axis of pyx_cnn's channels-last batch, per layout
_BATCH_AXIS = {"NCHW": {1: 3, 2: 1, 3: 2}, "NHWC": {1: 1, 2: 2, 3: 3}, "flat": {1: 1}}


@reads("Concat")
def read_concat(reader, node, attrs):
    check_attributes(node, attrs, {"axis": None})
    tensors = [reader.data(node, i) for i in range(len(node.input)) if node.input[i]]
    _same_data(node, tensors)
    first = tensors[0]
    axis = _BATCH_AXIS[first.layout].get(int(attrs["axis"]) % first.rank)
    if axis is None or first.chw is not None or (first.layout == "flat" and first.rank != 2):
        raise unsupported(node, f"Concat along axis {attrs['axis']} of {first.layout} data "
                          f"of rank {first.rank} (pyx_cnn joins image batches along H, W or "
                          "the channels, and (N, features) batches along the features)")
    last = len(first.shape)
    layer = reader.layer("Concatenate", node, -1 if axis == last else axis)
    shapes = [t.shape for t in tensors]
    if len({s[:axis - 1] + s[axis:] for s in shapes}) != 1:
        raise unsupported(node, f"concatenating shapes {shapes} along axis {attrs['axis']}")
    shape = list(first.shape)
    shape[axis - 1] = sum(s[axis - 1] for s in shapes)
    reader.call(layer, tensors, node, shape, merge=True)


def permute_features(values, chw, axis=0):
    """Reorder a per-feature axis from NCHW-flatten order to channels-last order."""
    if chw is None:
        return values
    h, w, c = chw
    values = np.moveaxis(np.asarray(values), axis, 0)
    rest = values.shape[1:]
    values = values.reshape((c, h, w) + rest)
    values = values.transpose((1, 2, 0) + tuple(range(3, 3 + len(rest))))
    return np.moveaxis(values.reshape((h * w * c,) + rest), 0, axis)


@reads("BatchNormalization")
def read_batch_norm(reader, node, attrs):
    check_attributes(node, attrs, {"epsilon": None, "momentum": None, "training_mode": 0,
                                   "spatial": 1, "is_test": None, "consumed_inputs": None})
    x = reader.data(node)
    if x.layout == "NHWC":
        raise unsupported(node, "it normalises axis 1 of channels-last data here")
    values = [permute_features(reader.const(node, i, what), x.chw)
              for i, what in enumerate(("scale", "bias", "mean", "variance"), start=1)]
    momentum = round(1.0 - float(attrs.get("momentum", 0.9)), 6)   # a float32 attribute
    layer = reader.layer("BatchNormalization", node, momentum=momentum,
                         epsilon=float32_attribute(attrs.get("epsilon", 1e-5)))
    reader.call(layer, [x], node, x.shape, chw=x.chw,
                params={"gamma": values[0], "beta": values[1]},
                state={"mean": values[2], "var": values[3]})


def _dense(reader, node, x, w, bias):
    if x.layout != "flat" or x.rank != 2:
        raise unsupported(node, f"a matrix product of {x.layout} data of rank {x.rank} "
                          "(flatten it first)")
    if w.ndim != 2 or w.shape[0] != x.shape[0]:
        raise unsupported(node, f"weights of shape {w.shape} for {x.shape[0]} features")
    params = {"W": permute_features(w, x.chw)}
    if bias is not None:
        params["b"] = np.broadcast_to(np.ravel(bias), (w.shape[1],)).copy()
    layer = reader.layer("Dense", node, int(w.shape[1]), use_bias=bias is not None)
    reader.call(layer, [x], node, (int(w.shape[1]),), params=params)


@reads("Gemm")
def read_gemm(reader, node, attrs):
    check_attributes(node, attrs, {"alpha": None, "beta": None, "transA": 0, "transB": None,
                                   "broadcast": None})
    x = reader.data(node)
    w = reader.const(node, 1, "B")
    w = (w.T if attrs.get("transB", 0) else w) * np.float32(attrs.get("alpha", 1.0))
    bias = None
    if reader.has_input(node, 2):
        bias = reader.const(node, 2, "C") * np.float32(attrs.get("beta", 1.0))
        if np.size(bias) not in (1, w.shape[-1]) or np.ndim(bias) > 2 or (
                np.ndim(bias) == 2 and np.shape(bias)[0] != 1):
            raise unsupported(node, f"a bias C of shape {np.shape(bias)} (pyx_cnn reads one "
                              "bias per output)")
    _dense(reader, node, x, w.astype(reader.dtype), bias)


@reads("MatMul")
def read_matmul(reader, node, attrs):
    check_attributes(node, attrs, {})
    _dense(reader, node, reader.data(node), reader.const(node, 1, "second input"), None)


def _flatten(reader, node, x):
    if x.layout == "flat":                 # (N, features) already, or (N, C, 1, 1)
        reader.alias(node, x.with_(rank=2))
        return
    h, w, c = x.shape
    chw = (h, w, c) if x.layout == "NCHW" and h * w > 1 else None
    reader.call(reader.layer("Flatten", node), [x], node, (h * w * c,), layout="flat",
                rank=2, chw=chw)


@reads("Flatten")
def read_flatten(reader, node, attrs):
    check_attributes(node, attrs, {"axis": None})
    x = reader.data(node)
    if int(attrs.get("axis", 1)) % x.rank != 1:
        raise unsupported(node, f"axis={attrs['axis']} (pyx_cnn flattens from axis 1)")
    _flatten(reader, node, x)


@reads("Reshape")
def read_reshape(reader, node, attrs):
    check_attributes(node, attrs, {"allowzero": 0})
    x = reader.data(node)
    shape = [int(s) for s in reader.const(node, 1, "shape")]
    features = math.prod(x.shape)
    batch = shape[0] in (BATCH, 0, -1) or shape[0] == reader.batch
    if len(shape) == 2 and batch and (shape[1] == features or (shape[1] == -1 and
                                                                shape[0] != -1)):
        _flatten(reader, node, x)
        return
    raise unsupported(node, f"a reshape to {[s if s != BATCH else 'N' for s in shape]} "
                      "(pyx_cnn reads reshapes to (N, features))")


@reads("Shape")
def read_shape(reader, node, attrs):
    check_attributes(node, attrs, {"start": None, "end": None})
    x = reader.data(node)
    h_w_c = x.shape
    dims = {"NCHW": lambda: (h_w_c[2],) + h_w_c[:2], "NHWC": lambda: h_w_c}.get(
        x.layout, lambda: h_w_c + (1,) * (x.rank - 2))()
    shape = np.array((BATCH,) + tuple(dims), dtype=np.int64)
    reader.consts[node.output[0]] = shape[attrs.get("start", 0):attrs.get("end")]


@reads("Dropout")
def read_dropout(reader, node, attrs):
    check_attributes(node, attrs, {"ratio": None, "seed": None, "is_test": None,
                                   "consumed_inputs": None})
    x = reader.data(node)
    ratio = float(attrs.get("ratio", 0.5))
    if reader.has_input(node, 1):
        ratio = float(reader.const(node, 1, "ratio"))
    if reader.has_input(node, 2) and bool(reader.const(node, 2, "training_mode")):
        raise unsupported(node, "training_mode=True (a dropout at inference)")
    reader.call(reader.layer("Dropout", node, ratio), [x], node, x.shape, chw=x.chw)


@reads("Identity")
def read_identity(reader, node, attrs):
    reader.alias(node, reader.data(node))


@reads("Transpose")
def read_transpose(reader, node, attrs):
    check_attributes(node, attrs, {"perm": None})
    x = reader.data(node)
    perm = [int(p) for p in attrs.get("perm", ())]
    if x.layout == "NHWC" and perm == _TO_NCHW:
        reader.alias(node, x.with_(layout="NCHW"))
    elif x.layout == "NCHW" and perm == _TO_NHWC:
        reader.alias(node, x.with_(layout="NHWC"))
    else:
        raise unsupported(node, f"Transpose perm={perm} of {x.layout} data (pyx_cnn reads "
                          "the NHWC <-> NCHW layout changes)")
