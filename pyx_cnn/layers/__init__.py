"""Layers of a convolutional network: ``Conv2D``, ``DepthwiseConv2D``,
``Conv2DTranspose``; pooling ``MaxPool2D``, ``AvgPool2D``, ``GlobalAvgPool2D``,
``GlobalMaxPool2D``; activations ``ReLU``, ``Sigmoid``, ``Tanh``, ``LeakyReLU``,
``Softmax``; ``BatchNormalization``, ``Dropout``; ``Flatten`` and ``Dense``; the shape layers ``ZeroPadding2D`` and
``UpSampling2D``; the merge layers ``Add`` and ``Concatenate``,
called on a list of tensors; ``Input``, the symbolic input of a graph network
(:mod:`pyx_cnn.layers.input`: calling a layer on a symbolic tensor records a graph).

Every layer has

- ``forward(x, training=False)``: the layer's output for a batch ``x`` (it remembers what the
  backward pass needs);
- ``backward(grad_out)``: given ``dL/d(output)``, returns ``dL/d(input)`` and,
  for a layer with weights, writes ``dL/d(weights)`` into the arrays of ``grads``
  (in place: in a network they are views into one flat array);
- ``params`` and ``grads``: dicts of arrays, ``grads`` holding one array of
  the same shape per entry of ``params``: ``"W"`` and ``"b"`` for ``Conv2D``
  and ``Dense`` (no ``"b"`` with ``use_bias=False``), ``"gamma"`` and
  ``"beta"`` for ``BatchNormalization``, empty for layers without weights.
  ``BatchNormalization`` also keeps its running statistics in ``state``
  (``"mean"``, ``"var"``), which are not learned.

A :class:`pyx_cnn.NeuralNetwork` runs every layer that no fusion rule joins
with a neighbour through these same ``forward`` and ``backward`` (with
``validate=False``: it checks each batch once, before the first layer), so a
breakpoint in them stops in ``fit``, ``predict`` and ``evaluate``; each
layer's docstring says where its fused passes run (:mod:`pyx_cnn.fusion`).

Shapes are channels-last: ``Conv2D`` and ``MaxPool2D`` take ``(N, H, W, C)``,
``Dense`` takes ``(N, features)``, ``Flatten`` turns ``(N, H, W, C)`` into
``(N, H*W*C)`` in C order (channels fastest). ``Conv2D.params["W"]`` is
``(F, kh, kw, C)``; ``Dense.params["W"]`` is ``(in_features, units)``.

A layer used on its own is built (its weights created) by its first
``forward`` call, with an unseeded generator; call ``build(input_shape,
rng=..., dtype=...)`` first for reproducible weights. Inside a
:class:`pyx_cnn.NeuralNetwork` the network builds its layers from its seed.

Weight initialisation suits the activation that follows the layer (the
registry entry's ``init``, :mod:`pyx_cnn.ops.activations`): He normal
(``std = sqrt(2 / fan_in)``) before ReLU, Glorot uniform
(``limit = sqrt(6 / (fan_in + fan_out))``) otherwise. Biases start at zero.

One module per kind of layer: ``base`` (the ``Layer`` class), ``conv``,
``conv_transpose``, ``pooling``, ``activation``, ``normalization`` (batch norm,
dropout), ``core`` (``Flatten``, ``Dense``), ``reshaping`` (zero padding,
upsampling); each layer's arithmetic lives in :mod:`pyx_cnn.ops`.

``forward(x, training=True)`` is the training mode: only ``Dropout`` and
``BatchNormalization`` behave differently (``fit`` passes it; ``predict`` and
``evaluate`` do not).
"""
from .activation import ActivationLayer, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import LAYER_CLASSES, Layer
from .conv import Conv2D, DepthwiseConv2D
from .conv_transpose import Conv2DTranspose
from .core import Dense, Flatten
from .input import Input, SymbolicTensor
from .merge import Add, Concatenate
from .normalization import BatchNormalization, Dropout
from .pooling import AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D
from .reshaping import UpSampling2D, ZeroPadding2D

__all__ = ["Layer", "Conv2D", "DepthwiseConv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D",
           "GlobalMaxPool2D", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax", "Flatten",
           "Dense", "BatchNormalization", "Dropout", "Input", "SymbolicTensor", "Add", "Concatenate",
           "ZeroPadding2D", "UpSampling2D", "Conv2DTranspose"]

# LAYER_CLASSES (base.py) holds every layer class by name, what a model file names: the
# classes above, and each subclass of Layer defined since (Layer.__init_subclass__)
