"""The ONNX graph being written by :func:`pyx_cnn.onnx.to_onnx`: tensor names,
initializers, nodes, and the layout of each tensor."""
import numpy as np

from ._common import _TO_NCHW, _TO_NHWC

__all__ = ["GraphWriter"]


class GraphWriter:
    """Nodes and initializers of the graph being written.

    Each tensor has a layout (:attr:`layouts`): ``"NHWC"`` (pyx_cnn's channels-last
    data), ``"NCHW"`` (ONNX's spatial layout: the data transposed by ``(0, 3, 1,
    2)``) or ``"flat"`` (``(N, features)``). A node's output takes its first input's
    layout unless told otherwise; :meth:`nchw` and :meth:`nhwc` add a Transpose where
    the layout must change (once per tensor, however many layers read it).
    """

    def __init__(self, onnx, dtype, opset):
        self.onnx = onnx
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self.layouts = {}
        self._names = set()
        self._transposed = {}

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

    def node(self, op, inputs, base, layout=None, **attrs):
        """Add one node; returns its output's name (of `layout`, else the first input's)."""
        out = self.name(base)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out],
                                                     name=self.name(f"{base}/{op}"), **attrs))
        self.layouts[out] = layout or self.layouts[inputs[0]]
        return out

    def _transpose(self, x, layout, perm, base):
        key = (x, layout)
        if key not in self._transposed:
            self._transposed[key] = self.node("Transpose", [x], base, layout=layout, perm=perm)
        return self._transposed[key]

    def nchw(self, x):
        """`x` in the NCHW layout (a Transpose when it is channels-last)."""
        layout = self.layouts[x]
        if layout == "NHWC":
            return self._transpose(x, "NCHW", _TO_NCHW, "to_nchw")
        if layout != "NCHW":
            raise ValueError(f"a spatial layer needs 4-D data, got {layout} data")
        return x

    def nhwc(self, x):
        """`x` channels-last (a Transpose when it is NCHW)."""
        if self.layouts[x] == "NCHW":
            return self._transpose(x, "NHWC", _TO_NHWC, "to_nhwc")
        return x

    def like(self, x, layout):
        """`x` in `layout` ("NCHW" or "NHWC"; flat data is left as it is)."""
        if layout == "NCHW":
            return self.nchw(x)
        return self.nhwc(x) if layout == "NHWC" else x

    def clip(self, x, low, high, base):
        """``min(max(x, low), high)`` (Clip's bounds are inputs from opset 11)."""
        return self.node("Clip", [x, self.const(low, f"{base}.min"),
                                  self.const(high, f"{base}.max")], base)

    def activation(self, x, name, base, negative_slope=0.01):
        """`x` through the activation `name` (None or "linear": unchanged)."""
        if name in (None, "linear"):
            return x
        if name == "relu":
            return self.node("Relu", [x], base)
        if name == "relu6":
            return self.clip(x, 0.0, 6.0, base)
        if name == "sigmoid":
            return self.node("Sigmoid", [x], base)
        if name == "tanh":
            return self.node("Tanh", [x], base)
        if name == "leaky_relu":
            return self.node("LeakyRelu", [x], base, alpha=float(negative_slope))
        if name == "softmax":
            axis = 1 if self.layouts[x] == "NCHW" else -1
            return self.node("Softmax", [x], base, axis=axis)
        raise ValueError(f"activation {name!r} has no ONNX exporter")
