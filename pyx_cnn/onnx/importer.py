"""ONNX -> pyx_cnn: :func:`from_onnx`, the graph read node by node (one reader
function per operator, :data:`pyx_cnn.onnx._read_graph.READERS`), then built as a
graph network by calling the layers on symbolic tensors."""
import os

import numpy as np

from .. import layers as _layers
from ._common import _TO_NCHW, _onnx, attributes
from ._read_graph import GraphReader, supported_ops
from . import _read_ops, _read_resize, _read_spatial  # noqa: F401  (register the readers)

__all__ = ["from_onnx", "IMPORTERS"]

#: the ONNX operators :func:`from_onnx` reads (folded constants included)
IMPORTERS = supported_ops()


def load_model(model):
    """An ``onnx.ModelProto`` from a path, bytes or a ``ModelProto`` (checked)."""
    onnx = _onnx()
    if isinstance(model, onnx.ModelProto):
        proto = model
    elif isinstance(model, (bytes, bytearray, memoryview)):
        proto = onnx.ModelProto()
        try:
            proto.ParseFromString(bytes(model))
        except Exception as exc:        # protobuf's DecodeError
            raise ValueError(f"model: these {len(model)} bytes are not an ONNX model "
                             f"({type(exc).__name__}: {exc})") from None
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model: no ONNX file at {path!r}")
        try:
            proto = onnx.load_model(path)
        except Exception as exc:
            raise ValueError(f"model: {path!r} is not an ONNX model ({type(exc).__name__}: "
                             f"{exc})") from None
    else:
        raise TypeError("model must be a path, bytes or an onnx.ModelProto, got "
                        f"{type(model).__name__}")
    if not proto.HasField("graph") or not proto.graph.node:
        raise ValueError("model: an ONNX model without graph nodes (are these bytes a "
                         "model?)")
    return proto


def _opset(model):
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ValueError("model: it imports no default-domain (ai.onnx) opset")
    return int(versions[0])


def _graph_input(onnx, graph, consts):
    """The one data input of `graph`: (value info, dtype name, dims)."""
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ValueError(f"model: from_onnx reads graphs of one data input and one output, "
                         f"got inputs {[i.name for i in inputs]} and outputs "
                         f"{[o.name for o in graph.output]}")
    info = inputs[0]
    elem = info.type.tensor_type.elem_type
    dtypes = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64"}
    if elem not in dtypes:
        raise ValueError(f"model: graph input {info.name!r} has element type "
                         f"{onnx.TensorProto.DataType.Name(elem)}; pyx_cnn reads float and "
                         "double models")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in info.type.tensor_type.shape.dim]
    if len(dims) not in (2, 4) or any(d is None or d < 1 for d in dims[1:]):
        raise ValueError(f"model: graph input {info.name!r} must be (N, C, H, W), "
                         f"(N, H, W, C) or (N, features) with fixed sizes after N, got "
                         f"{['N' if d is None else d for d in dims]}")
    return info, dtypes[elem], dims


def _input_tensor(graph, name, dims):
    """The graph input as a Tensor: NCHW, or channels-last when every node reading it is
    a Transpose to NCHW (what :func:`to_onnx` writes)."""
    from ._read_graph import Tensor

    if len(dims) == 2:
        return Tensor(-1, "flat", (dims[1],), 2)
    readers = [n for n in graph.node if name in n.input]
    if readers and all(n.op_type == "Transpose" and list(attributes(n).get("perm", []))
                       == _TO_NCHW for n in readers):
        return Tensor(-1, "NHWC", tuple(dims[1:]), 4)
    return Tensor(-1, "NCHW", (dims[2], dims[3], dims[1]), 4)


def _build(reader, input_tensor, output, dtype):
    """The graph network of the reader's steps, its weights set to the model's."""
    from ..network import NeuralNetwork

    symbols = {-1: _layers.Input(input_tensor.shape)}
    for i, step in enumerate(reader.steps):
        inputs = [symbols[ref] for ref in step.inputs]
        symbols[i] = step.layer(inputs if step.merge else inputs[0])
    net = NeuralNetwork(inputs=symbols[-1], outputs=symbols[output.ref], seed=0, dtype=dtype)
    return _set_weights(net, reader)


def _set_weights(net, reader):
    for step in reader.steps:
        layer = step.layer
        for store, values in ((layer.params, step.params),
                              (getattr(layer, "state", {}), step.state)):
            for key, value in values.items():
                target = store[key]
                value = np.asarray(value)
                if value.shape != target.shape:
                    raise ValueError(f"{type(layer).__name__} {key}: the model holds shape "
                                     f"{value.shape}, the layer needs {target.shape}")
                target[...] = value
    return net


def from_onnx(model):
    """Read an ONNX model into a :class:`~pyx_cnn.NeuralNetwork`.

    Parameters
    ----------
    model : str, path-like, bytes or onnx.ModelProto
        An ``.onnx`` file, its bytes, or a loaded model (left unchanged). See
        :mod:`pyx_cnn.onnx` for the operators read.

    Returns
    -------
    NeuralNetwork
        A graph network, channels-last: an NCHW graph input ``(N, C, H, W)``
        becomes ``Input((H, W, C))``. float32 when the graph input is float,
        float64 when it is double.

    Raises
    ------
    ImportError
        When the onnx package is missing (``pip install "pyx_cnn[onnx]"``).
    TypeError
        For a `model` of another type.
    FileNotFoundError
        For a path where there is no file.
    ValueError
        For bytes or a file that are not an ONNX model, a graph of several
        inputs or outputs, and the first unsupported node (named with its
        operator and why; an unknown operator with the list of supported ones).
    """
    onnx = _onnx()
    proto = load_model(model)
    graph = proto.graph
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    info, dtype, dims = _graph_input(onnx, graph, consts)
    reader = GraphReader(graph, _opset(proto), dtype, consts)
    reader.batch = dims[0]
    first = _input_tensor(graph, info.name, dims)
    reader.tensors[info.name] = first
    reader.read()
    name = graph.output[0].name
    output = reader.tensors.get(name)
    if output is None:
        raise ValueError(f"model: the graph output {name!r} is "
                         + ("a constant" if name in reader.consts else "not computed"))
    if output.chw is not None:
        raise ValueError("model: the graph output is a flatten of NCHW data, whose order "
                         "pyx_cnn's channels-last Flatten does not reproduce")
    if output.ref < 0:
        raise ValueError("model: the graph holds no layer pyx_cnn builds (its output is "
                         "its input)")
    return _build(reader, first, output, dtype)
