"""The operations of a network, each with its forward and backward pass side by side.

Both the functional API (:mod:`pyx_cnn.functional`) and the layers
(:mod:`pyx_cnn.layers`) are built on these. One module per op:

- ``dense``: the fully connected layer's ``x @ weights + bias``, its products
  split over the library's threads;
- ``conv``: convolution (cross-correlation), with a stride, padding and
  dilation per axis, and groups (depthwise when each group is one channel);
- ``conv_transpose``: transposed convolution, the input gradient of a
  convolution (its passes run the convolution's kernels);
- ``max_pool`` and ``avg_pool``: ``size x size`` windows every `stride` pixels,
  with zero padding (which never wins a maximum) and PyTorch's ``ceil_mode``;
- ``global_avg_pool`` and ``global_max_pool``: over the whole image,
  ``(N, H, W, C) -> (N, C)``;
- ``batch_norm``: batch normalisation;
- ``dropout``: inverted dropout;
- ``zero_padding`` and ``upsampling`` (nearest neighbour, integer factors):
  an image made larger;
- ``add`` and ``concatenate``: the merge of several arrays (a list ``xs`` in, a
  list of gradients out);
- ``activations``: linear, ReLU, ReLU6 (and any bound), leaky ReLU, sigmoid,
  tanh and softmax, one pair of functions each, and the registry of their
  names.

(The losses, :mod:`pyx_cnn.losses`, take a network's output and targets
rather than one array, and have their own interface.)

The protocol
------------
Every op has the same two functions, so that having read one you can read
them all:

``forward(x, ...) -> (out, saved)``
    The op's output, and ``saved``: what the backward pass needs (the input
    padded, where each maximum was, the batch statistics...). ``saved`` is a
    tuple whose items the function's docstring lists and ``backward`` unpacks
    first (a named tuple where other code reads it by field: ``batch_norm``,
    ``dropout``). The op's own arguments (window size, stride, parameters such
    as ``filters`` or ``gamma``) follow `x`.
``backward(grad_out, saved) -> grad_x``
    ``dL/dx`` from ``grad_out = dL/dout`` and the forward pass's ``saved``, for
    an op without parameters. An op with parameters returns their gradients
    too, in the order of the forward arguments:
    ``conv.backward -> (grad_x, grad_filters, grad_bias)``,
    ``batch_norm.backward -> (grad_x, grad_gamma, grad_beta)``.
``forward_infer(x, ...) -> out``
    Only where inference computes something else, or can skip what training
    records: ``max_pool`` (no record of the maxima) and ``batch_norm`` (the
    running statistics instead of the batch's). Elsewhere inference is
    ``forward`` with ``saved`` dropped.

The activations share one module, so their pairs carry the activation's name:
``relu_forward(z, *, out=None) -> (y, saved)`` and ``relu_backward(grad_out,
saved, *, out=None) -> grad_z``, where ``saved`` is the output ``y`` itself and
`out` lets a caller work in place; the registry entry
``ACTIVATIONS["relu"]`` holds them as ``.forward`` and ``.backward``.

Conventions
-----------
An op works on validated, C-contiguous arrays of one float dtype (float32 or
float64): the callers validate (the layers, the functional API), the op only
computes, by calling a compiled kernel with the thread count of
:func:`pyx_cnn.get_num_threads`. Images are channels-last ``(N, H, W, C)``;
the window arithmetic (output sizes, padding) is :mod:`pyx_cnn._geometry`'s.
Each op's docstring names its plain-loop definition in
:mod:`pyx_cnn.reference` (its ``See Also`` section), which the tests compare
it with.
"""
