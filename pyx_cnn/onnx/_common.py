"""What the ONNX exporter and importer share: the onnx package, opsets, layouts."""
import numpy as np

from .._optional import require

#: the lowest opset written or read (Softmax takes one axis from opset 13)
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
