"""What the ONNX exporter and importer share: the onnx package, opsets, layouts,
node attributes and the refusal message."""
import numpy as np

from .._optional import require

#: the lowest opset written (Softmax takes one axis from opset 13); the reader
#: takes any opset of the operators it knows
MIN_OPSET = 13

_TO_NCHW = [0, 3, 1, 2]
_TO_NHWC = [0, 2, 3, 1]


def _onnx():
    return require("onnx", "onnx", "onnx", "ONNX export and import (pyx_cnn.onnx)")


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


def attributes(node):
    """``{name: value}`` of a node's attributes (strings decoded)."""
    helper = _onnx().helper
    values = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        values[attr.name] = value.decode() if isinstance(value, bytes) else value
    return values


def float32_attribute(value):
    """A float attribute (stored as float32) as the shortest decimal that is that
    float32: 1e-05, not 9.999999747378752e-06."""
    return float(str(np.float32(value)))


def unsupported(node, why):
    """The ValueError refusing `node`, naming it, its operator and why."""
    return ValueError(f"unsupported ONNX operator {node.op_type!r} (node {node.name!r}): {why}")


def check_attributes(node, attrs, allowed):
    """Refuse an attribute not in `allowed`, or of a value other than ``allowed[key]``
    (None: any value; a tuple: one of those values)."""
    for key, value in attrs.items():
        if key not in allowed:
            raise unsupported(node, f"attribute {key!r} is not supported (pyx_cnn reads "
                              f"{', '.join(sorted(allowed)) or 'no attribute'} here)")
        want = allowed[key]
        if want is None:
            continue
        choices = want if isinstance(want, tuple) else (want,)
        if not any(_same(value, choice) for choice in choices):
            raise unsupported(node, f"attribute {key}={value!r} is not supported (only "
                              + " or ".join(repr(c) for c in choices) + ")")


def _same(value, choice):
    if isinstance(choice, (list, tuple)) or isinstance(value, (list, tuple)):
        return list(np.ravel(value)) == list(np.ravel(choice))
    return value == choice
