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
  ``dilation`` int or pair (default 1 when absent); ``padding`` (int, pair,
  ``"valid"`` or ``"same"``) and, when not None, ``pads`` = ``((top, bottom),
  (left, right))`` (the resolved padding of a built layer), which takes
  precedence; ``activation`` (None or a registry name).
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
from ._common import MIN_OPSET
from .export import EXPORTERS, to_onnx
from .importer import IMPORTERS, from_onnx

__all__ = ["to_onnx", "from_onnx", "EXPORTERS", "IMPORTERS", "MIN_OPSET"]
