"""ONNX -> pyx_cnn: one reader method per supported operator (:data:`IMPORTERS`)."""
import inspect
import math
import os

import numpy as np

from .. import layers as _layers
from ._common import MIN_OPSET, _TO_NCHW, _TO_NHWC, _check_opset, _max_opset, _onnx

__all__ = ["from_onnx", "IMPORTERS"]


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
        from ..ops.activations import ACTIVATIONS

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
    from ..network import NeuralNetwork

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
