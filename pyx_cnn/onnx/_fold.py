"""Constant folding at load: the nodes whose inputs are all constants are computed once,
so that weights, shapes, pads, clip bounds and scales reach the layer readers as
arrays: the operators of :data:`FOLDERS` with NumPy, any other by onnx's reference
evaluator (:func:`fold`).

``Shape`` of a data tensor is folded too: its batch entry is not known at load, so it
holds the marker :data:`BATCH`, which ``Gather``, ``Unsqueeze``, ``Concat`` and
``Cast`` carry along; a ``Reshape`` to ``[BATCH, -1]`` is then a flatten (what
``torch.onnx.export`` writes for ``x.view(x.size(0), -1)``).
"""
import numpy as np

from ._common import _onnx, unsupported

__all__ = ["BATCH", "FOLDERS", "constant_value", "fold"]

#: the batch size in a folded shape (unknown at load)
BATCH = np.int64(-(2 ** 62))


def constant_value(node, attrs):
    """The value of a ``Constant`` node (any of its attribute forms)."""
    numpy_helper = _onnx().numpy_helper
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise unsupported(node, f"a Constant of {', '.join(attrs) or 'no value'} (pyx_cnn reads "
                      "value, value_float(s), value_int(s))")


def _constant(node, attrs, inputs):
    return constant_value(node, attrs)


def _constant_of_shape(node, attrs, inputs):
    shape = [int(s) for s in inputs[0]]
    if BATCH in shape:
        raise unsupported(node, "a constant of the batch's size")
    value = attrs.get("value")
    value = (np.zeros(1, np.float32) if value is None
             else _onnx().numpy_helper.to_array(value).reshape(-1))
    return np.full(shape, value[0], dtype=value.dtype)


def _axes(node, attrs, inputs):
    axes = attrs.get("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = inputs[1]
    return None if axes is None else [int(a) for a in np.ravel(axes)]


def _unsqueeze(node, attrs, inputs):
    x = inputs[0]
    axes = _axes(node, attrs, inputs)
    rank = x.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = np.expand_dims(x, axis)
    return x


def _squeeze(node, attrs, inputs):
    axes = _axes(node, attrs, inputs)
    x = inputs[0]
    return np.squeeze(x) if axes is None else np.squeeze(x, tuple(a % x.ndim for a in axes))


def _cast(node, attrs, inputs):
    onnx = _onnx()
    dtype = onnx.helper.tensor_dtype_to_np_dtype(attrs["to"])
    if inputs[0].dtype == np.int64 and np.any(inputs[0] == BATCH):
        if dtype != np.int64:
            raise unsupported(node, "a cast of the batch size")
        return inputs[0]
    return inputs[0].astype(dtype)


def _reshape(node, attrs, inputs):
    shape = [int(s) for s in inputs[1]]
    shape = [inputs[0].shape[i] if s == 0 and not attrs.get("allowzero", 0) else s
             for i, s in enumerate(shape)]
    return inputs[0].reshape(shape)


def _slice(node, attrs, inputs):
    x = inputs[0]
    starts, ends = inputs[1], inputs[2]
    axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
    steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return x[tuple(index)]


#: operator -> ``f(node, attrs, input arrays) -> output array`` (inputs all constant;
#: an omitted optional input is None)
FOLDERS = {
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Identity": lambda node, attrs, inputs: inputs[0],
    "Shape": lambda node, attrs, inputs: np.array(
        inputs[0].shape[attrs.get("start", 0):attrs.get("end")], dtype=np.int64),
    "Gather": lambda node, attrs, inputs: np.take(inputs[0], inputs[1].astype(np.int64),
                                                  axis=attrs.get("axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda node, attrs, inputs: np.concatenate(
        [np.atleast_1d(x) for x in inputs], axis=attrs.get("axis", 0)),
    "Cast": _cast,
    "Reshape": _reshape,
    "Transpose": lambda node, attrs, inputs: np.transpose(inputs[0], attrs.get("perm")),
    "Slice": _slice,
}


def _holds_batch(value):
    return value is not None and value.dtype == np.int64 and bool(np.any(value == BATCH))


def fold(node, attrs, inputs, opset):
    """The output of `node` on constant `inputs` (None for an omitted optional input)."""
    folder = FOLDERS.get(node.op_type)
    if folder is not None:
        return folder(node, attrs, inputs)
    if not node.input:
        raise unsupported(node, "an operator without inputs other than Constant")
    if any(_holds_batch(value) for value in inputs):
        raise unsupported(node, "arithmetic on the batch size (pyx_cnn reads shapes whose "
                          "batch entry is only moved, as in a flatten)")
    from onnx.reference import ReferenceEvaluator

    feeds = {name: value for name, value in zip(node.input, inputs) if name}
    evaluator = ReferenceEvaluator(node, opsets={"": opset})
    return evaluator.run(None, feeds)[0]
