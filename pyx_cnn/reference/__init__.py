"""Readable versions of every op: plain Python loops, float64.

Each op of :mod:`pyx_cnn.ops` names, in its docstring's ``See Also``, the
function here that defines what it computes, and the test suite proves that
they agree (``tests/``: kernel == reference, on random shapes, strides,
paddings, dilations and special values). Read these first: they are the
definitions, written as the tutorial writes them, without SIMD, threads or
memory layouts. They are slow (use them on small arrays).

- convolution: :func:`conv`, :func:`conv_backward` (a stride, padding and
  dilation per axis);
- the fully connected layer: :func:`dense`, :func:`dense_backward`;
- pooling: :func:`pooling` (max), :func:`avg_pooling`,
  :func:`global_avg_pooling`, :func:`global_max_pooling`, each with its
  ``*_backward``;
- batch normalisation: :func:`batch_norm_train` (the batch's statistics),
  :func:`batch_norm_infer` (given statistics), :func:`batch_norm_backward`;
- :func:`dropout` and :func:`dropout_backward`, for a given mask;
- activations: :func:`relu`, :func:`relu6`, :func:`leaky_relu`, :func:`sigmoid`,
  :func:`tanh`, :func:`softmax`, each with its ``*_backward`` (from the output
  ``y``, as the ops compute it);
- shape changes: :func:`zero_padding`, :func:`upsampling` (nearest
  neighbour), :func:`conv_transpose` (as a scatter), each with its
  ``*_backward``;
- the loss :func:`softmax_cross_entropy` and its gradient.

Shapes are channels-last, as everywhere in pyx_cnn: a batch ``(N, H, W, C)``,
filters ``(F, kh, kw, C)``. A backward function takes the forward pass's
arrays, then ``grad_out = dL/dout``. The index arithmetic is written out here
(not taken from :mod:`pyx_cnn._geometry`), so that the tests compare two
independent computations.

>>> import numpy as np
>>> from pyx_cnn import reference
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)
>>> reference.pooling(x, 2, 2)[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""
from ._activations import (leaky_relu, leaky_relu_backward, relu, relu6, relu6_backward,
                           relu_backward, sigmoid, sigmoid_backward, softmax, softmax_backward,
                           softmax_cross_entropy, tanh, tanh_backward)
from ._conv import conv, conv_backward
from ._dense import dense, dense_backward
from ._merge import add, add_backward, concatenate, concatenate_backward
from ._normalization import (batch_norm_backward, batch_norm_infer, batch_norm_train,
                             dropout, dropout_backward)
from ._pooling import (avg_pooling, avg_pooling_backward, global_avg_pooling,
                       global_avg_pooling_backward, global_max_pooling,
                       global_max_pooling_backward, pooling, pooling_backward)
from ._reshaping import (conv_transpose, conv_transpose_backward, upsampling,
                         upsampling_backward, zero_padding, zero_padding_backward)

__all__ = ["conv", "conv_backward", "dense", "dense_backward",
           "pooling", "pooling_backward", "avg_pooling", "avg_pooling_backward",
           "global_avg_pooling", "global_avg_pooling_backward",
           "global_max_pooling", "global_max_pooling_backward",
           "batch_norm_train", "batch_norm_infer", "batch_norm_backward",
           "dropout", "dropout_backward",
           "relu", "relu_backward", "relu6", "relu6_backward",
           "leaky_relu", "leaky_relu_backward",
           "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
           "softmax", "softmax_backward", "softmax_cross_entropy",
           "zero_padding", "zero_padding_backward", "upsampling", "upsampling_backward",
           "conv_transpose", "conv_transpose_backward",
           "add", "add_backward", "concatenate", "concatenate_backward"]
