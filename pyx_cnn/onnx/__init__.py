"""ONNX export and import: ``to_onnx(net, path, opset=17)`` and ``from_onnx(model)``.

Needs the ``onnx`` package (``pip install "pyx_cnn[onnx]"``, which also installs
onnxruntime to run the exported models); it is imported on first use only.

Export
------
``to_onnx`` writes a standard ONNX model whose output equals ``net.predict``, of a
chain or a graph network (each layer call in the graph's order):

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
``f(graph, layer, x) -> name of the output tensor`` (``x`` a list of names for
``Add`` and ``Concatenate``); a new layer is one entry. Each tensor keeps its
layout; a tensor read by several layers is transposed once.

Layer attributes the exporters rely on (the contract with :mod:`pyx_cnn.layers`)
-------------------------------------------------------------------------------
Every built layer: ``input_shape``, ``output_shape`` (one sample, no batch axis),
``params`` (dict of arrays), ``dtype``.

- ``Conv2D``: ``params["W"]`` ``(F, kh, kw, C)``, ``params["b"]`` ``(F,)`` when
  ``use_bias``; ``kernel_size`` ``(kh, kw)``; ``stride`` int or pair;
  ``dilation`` int or pair (default 1 when absent); ``padding`` (int, pair,
  ``"valid"`` or ``"same"``) and, when not None, ``pads`` = ``((top, bottom),
  (left, right))`` (the resolved padding of a built layer), which takes
  precedence; ``activation`` (None or a registry name); ``groups`` (default 1
  when absent), ``params["W"]`` then ``(F, kh, kw, C // groups)``.
- ``DepthwiseConv2D``: as ``Conv2D`` with ``groups`` = its input channels.
- ``Conv2DTranspose``: ``params["W"]`` ``(C, kh, kw, F)``, ``params["b"]``;
  ``kernel_size``, ``stride``, ``padding`` (an int or a pair), ``output_padding``,
  ``dilation``, ``activation``.
- ``Dense``: ``params["W"]`` ``(in, units)``, ``params["b"]`` ``(units,)`` when
  ``use_bias``; ``activation``.
- ``MaxPool2D``, ``AvgPool2D``: ``size`` and ``stride``, each an int or a pair;
  ``padding`` (any form :func:`pyx_cnn._geometry.resolve_padding` reads; 0 when
  absent), ``ceil_mode`` (False when absent); ``AvgPool2D``:
  ``count_include_pad`` (True when absent).
- ``ZeroPadding2D``: ``padding`` (any padding form); ``UpSampling2D``: ``size``
  (an int or a pair).
- ``Add``, ``Concatenate``: called on a list; ``Concatenate.batch_axis`` (the
  axis of the channels-last batch).
- ``GlobalAvgPool2D``, ``GlobalMaxPool2D``: ``(N, H, W, C) -> (N, C)``.
- ``BatchNormalization``: ``params["gamma"]``, ``params["beta"]``,
  ``state["mean"]``, ``state["var"]`` (per channel, the last axis), ``epsilon``;
  for the import, the constructor takes ``momentum`` and ``epsilon`` (pyx_cnn's
  momentum is PyTorch's: ``1 - `` ONNX's).
- ``Dropout``: nothing (the identity at inference); the constructor takes ``rate``.
- Activation layers (``ActivationLayer`` subclasses: ``ReLU``, ``Sigmoid``,
  ``Tanh``, ``LeakyReLU``, ``Softmax``): their registry name ``activation``;
  ``LeakyReLU``: ``negative_slope`` (default 0.01); ``ReLU``: ``max_value``
  (None when absent; else written as ``Clip(0, max_value)``); ``Softmax``: over
  the last (channel) axis.

Activation names (``activation=`` and activation layers) map to ONNX as: relu
-> Relu, relu6 -> Clip(0, 6), sigmoid -> Sigmoid, tanh -> Tanh, leaky_relu ->
LeakyRelu(alpha=0.01), softmax -> Softmax over the channels (axis 1 of NCHW data, the last axis of
channels-last or flat data).

Import
------
``from_onnx(model)`` takes a path, bytes or an ``onnx.ModelProto`` and reads
graphs (one data input, one output, any directed acyclic graph between them)
into a graph network (:func:`pyx_cnn.layers.Input`, layers called on symbolic
tensors), node by node in the graph's order. Each operator has one small reader
function (:mod:`pyx_cnn.onnx._read_ops`, ``_read_spatial``, ``_read_resize``,
registered in ``_read_graph.READERS``):

- Conv (``group``: ``Conv2D(groups=)``, ``DepthwiseConv2D`` when each group is
  one channel; ``auto_pad`` NOTSET, VALID, SAME_UPPER, SAME_LOWER; asymmetric
  pads; dilations), ConvTranspose (``Conv2DTranspose``; ONNX's pads and
  ``output_shape`` where PyTorch's symmetric padding plus ``output_padding``
  equals them), MaxPool and AveragePool (pads, ``ceil_mode``,
  ``count_include_pad``, ``auto_pad``; asymmetric pads other than "same" only
  for an average counting the zeros, read as ``ZeroPadding2D`` then the pool),
  GlobalAveragePool, GlobalMaxPool, Pad (zeros on H and W: ``ZeroPadding2D``),
  Resize and Upsample (nearest, integer factors, where ONNX's coordinate mode
  and rounding read row ``y // factor``: ``UpSampling2D``);
- Add and Sum of data (``Add``), Concat (``Concatenate``), Relu, Clip(0, m)
  (``ReLU(max_value=m)``; min/max attributes before opset 11, inputs after),
  LeakyRelu, Sigmoid, Tanh, Softmax (over the channels), BatchNormalization,
  Gemm, MatMul (an Add of a constant after it is its bias), Flatten and
  Reshape to ``(N, features)``, Dropout of any opset (``Dropout(ratio)``),
  Identity, the layout Transposes of :func:`to_onnx`;
- constant subgraphs, computed at load (:mod:`pyx_cnn.onnx._fold`):
  initializers, Constant, ConstantOfShape, and any node whose inputs are all
  constants (Identity, Shape, Gather, Unsqueeze, Squeeze, Concat, Cast,
  Reshape, Transpose, Slice with NumPy, any other operator by onnx's reference
  evaluator). A ``Shape`` of data gives its batch size as a marker that only
  moves (Gather, Unsqueeze, Concat...), so the Shape/Gather/Unsqueeze/Concat/
  Reshape flatten of ``torch.onnx.export`` reads as a flatten; arithmetic on
  the batch size is refused.

A 4-D graph input consumed as NCHW (what ``torch.onnx.export`` writes) becomes
a channels-last network: feed it ``(N, H, W, C)``. Conv weights become
``(F, kh, kw, C // groups)``; a Gemm/MatMul or batch norm after a flatten of
NCHW data has its features permuted from ``c*H*W + y*W + x`` to
``(y*W + x)*C + c``. An activation read only by a Conv/Gemm before it becomes
that layer's ``activation=``. A graph that ends without a Softmax gives a
network whose last ``Dense`` has no activation (``predict`` returns the
logits). Anything else raises a ``ValueError`` naming the node, its operator
and why (an unknown operator: with the list of those read, :data:`IMPORTERS`);
an attribute value pyx_cnn cannot compute exactly is refused, never
approximated.
"""
from ._common import MIN_OPSET
from .export import EXPORTERS, to_onnx
from .importer import IMPORTERS, from_onnx

__all__ = ["to_onnx", "from_onnx", "EXPORTERS", "IMPORTERS", "MIN_OPSET"]
