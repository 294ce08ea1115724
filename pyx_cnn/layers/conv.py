"""The convolution layers, ``Conv2D`` and ``DepthwiseConv2D``."""
import numpy as np

from .._geometry import check_padding, effective_kernel, output_size, pair, resolve_padding
from .._kept_weights import kept_for
from .._validation import check_int, shape_str
from ..ops import conv
from ..ops.activations import clamp_bound, get_activation
from .base import Layer, init_weights
from .weighted import OWN, canonical_activation

__all__ = ["Conv2D", "DepthwiseConv2D"]


def _compact(values):
    """A pair as an int when both halves are equal (the form configs keep)."""
    return values[0] if values[0] == values[1] else tuple(values)


def _stored_padding(padding):
    """A checked ``padding`` in the form a layer keeps: a name, an int, a pair, or
    ``((top, bottom), (left, right))`` when the two sides of an axis differ."""
    padding = check_padding(padding, asymmetric=True)
    if isinstance(padding, str):
        return padding
    if isinstance(padding[0], tuple):
        if padding[0][0] != padding[0][1] or padding[1][0] != padding[1][1]:
            return padding
        padding = (padding[0][0], padding[1][0])
    return _compact(padding)


def _plain(value):
    """Tuples as lists (JSON's form), nested too."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


class Conv2D(Layer):
    """2-D convolution (cross-correlation) over channels-last batches.

    Parameters
    ----------
    filters : int
        Number of output maps F.
    kernel_size : int or (int, int)
        ``kh, kw``; any sizes >= 1.
    stride : int or (int, int), optional
        Step between windows (along H, along W).
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int)), optional
        Zeros on each side of H and W, or ``((top, bottom), (left, right))``;
        ``"same"`` gives ``ceil(H / stride)`` outputs, the extra zero at the
        bottom / right when the total is odd (see :mod:`pyx_cnn._geometry`).
    activation : str or None, optional
        A name from :data:`pyx_cnn.ops.activations.ACTIVATIONS` (softmax over
        the channel axis), applied to the output. Case-insensitive, stored in
        lower case (``"linear"`` as None).
    use_bias : bool, optional
    dilation : int or (int, int), optional
        Spacing between the kernel's taps: a 3x3 kernel of dilation 2 covers 5x5.
    groups : int, optional
        Divides the input's channels C and `filters`: the filters come in
        `groups` groups of ``filters // groups``, each seeing its own
        ``C // groups`` consecutive channels (PyTorch's ``groups``; ``groups ==
        C`` is a depthwise convolution, see :class:`DepthwiseConv2D`).

    Attributes
    ----------
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int))
        As given (a pair of equal values as one int, a name in lower case,
        equal sides as one value).
    pads : ((int, int), (int, int)) or None
        The zeros added, ``((top, bottom), (left, right))``: `padding`
        resolved for the input shape when the layer is built (None before).

    Notes
    -----
    Shapes: ``(N, H, W, C) -> (N, Ho, Wo, F)`` with
    ``Ho = (H + top + bottom - (kh - 1) * dh - 1) // sh + 1``. ``params["W"]``
    is ``(F, kh, kw, C // groups)``, ``params["b"]`` is ``(F,)``.

    The arithmetic is :func:`pyx_cnn.ops.conv.forward` / ``backward``, then the
    activation's; ReLU, ReLU6 and bounded ReLUs are applied by the convolution's
    kernels as they store the output (its ``clamp_max``: the same values, one pass
    over the output fewer). Where to break: ``forward`` / ``backward`` (the layer's own
    pass, also in a network), ``Conv2D._forward`` / ``_backward`` (also when a
    network applies a following activation layer in place, or leaves a final
    softmax or sigmoid to the loss: the fusion rules ``activation_in_place``,
    ``softmax_into_loss``, ``sigmoid_into_loss``), and, with a following
    ``BatchNormalization``, :func:`pyx_cnn.fusion.batch_norm_into_conv_forward`
    (at inference it runs one folded convolution; while training it calls both
    layers' ``forward``).
    """

    sample_ndim = 3

    def __init__(self, filters, kernel_size, stride=1, padding=0, activation=None,
                 use_bias=True, dilation=1, groups=1):
        super().__init__()
        self.filters = check_int(filters, "filters", 1)
        self.groups = check_int(groups, "groups", 1)
        if self.filters % self.groups:
            raise ValueError(f"{type(self).__name__}: filters={self.filters} must be "
                             f"divisible by groups={self.groups}")
        self._set_geometry(kernel_size, stride, padding, activation, use_bias, dilation)

    def _set_geometry(self, kernel_size, stride, padding, activation, use_bias, dilation):
        """The arguments every convolution layer shares, checked and stored."""
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = _compact(pair(stride, "stride", 1))
        self.dilation = _compact(pair(dilation, "dilation", 1))
        self.padding = _stored_padding(padding)
        self.activation = canonical_activation(activation)
        self.use_bias = bool(use_bias)
        self.pads = None

    def get_config(self):
        config = {"filters": self.filters, "kernel_size": list(self.kernel_size),
                  "stride": _plain(self.stride), "padding": _plain(self.padding),
                  "activation": self.activation, "use_bias": self.use_bias}
        if self.dilation != 1:
            config["dilation"] = _plain(self.dilation)
        if self.groups != 1:
            config["groups"] = self.groups
        return config

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        if c % self.groups:
            raise ValueError(
                f"{type(self).__name__}: the input's C={c} channels (input shape "
                f"{shape_str(input_shape)}) must be divisible by groups={self.groups} "
                f"(filters F={self.filters})")
        kh, kw = self.kernel_size
        stride = pair(self.stride, "stride", 1)
        dilation = pair(self.dilation, "dilation", 1)
        self.pads = resolve_padding(self.padding, (h, w), self.kernel_size, stride, dilation)
        (top, bottom), (left, right) = self.pads
        eh = effective_kernel(kh, dilation[0])
        ew = effective_kernel(kw, dilation[1])
        if eh > h + top + bottom or ew > w + left + right:
            raise ValueError(
                f"Conv2D kernel ({kh}, {kw}) with dilation {dilation} covers ({eh}, {ew}), "
                f"larger than the padded input ({h + top + bottom}, {w + left + right}) "
                f"(input shape {shape_str(input_shape)}, padding={self.padding!r})")
        fan_in, fan_out = kh * kw * c // self.groups, kh * kw * self.filters // self.groups
        shape = (self.filters, kh, kw, c // self.groups)
        self.params["W"] = init_weights(rng, shape, fan_in, fan_out,
                                        self.activation or init_for, self.dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=self.dtype)
        self._zero_bias = np.zeros(self.filters, dtype=self.dtype)
        self._geometry = (stride, self.pads, dilation, self.groups)
        return (output_size(h, kh, stride[0], self.pads[0], dilation[0]),
                output_size(w, kw, stride[1], self.pads[1], dilation[1]), self.filters)

    def _work_buffers(self, n):
        h, w, c = self.input_shape
        (top, bottom), (left, right) = self.pads
        return [((n, h + top + bottom, w + left + right, c), self.dtype)]

    def _forward(self, x, training=False, activation=OWN):
        # `activation` (an Activation): a network folds a following activation layer
        # in, or leaves a final softmax to a fused loss; backward uses whatever
        # forward applied.
        act = get_activation(self.activation) if activation is OWN else activation
        bias = self.params["b"] if self.use_bias else self._zero_bias
        # ReLU, ReLU6 and bounded ReLUs are applied by the kernels as they store
        # the output (clamp_max); their backward pass reads the output only
        bound = clamp_bound(act)
        # at inference, the filters' layouts are made once, and made again when the
        # weights change (_kept_weights)
        kept = None if training else kept_for(self, (self.params["W"], bias))
        z, self._saved = conv.forward(x, self.params["W"], bias, *self._geometry,
                                      training=training, clamp_max=bound, kept=kept)
        self._act = act
        if bound is None:
            self._out, self._act_saved = act.forward(z, out=z)
        else:
            self._out = self._act_saved = z
        return self._out

    def _backward(self, grad):
        grad = self._act.backward(grad, self._act_saved)
        gx, gw, gb = conv.backward(grad, self._saved, self.needs_input_grad)
        self.grads["W"][...] = gw
        if self.use_bias:
            self.grads["b"][...] = gb
        return gx


class DepthwiseConv2D(Conv2D):
    """Depthwise 2-D convolution: each input channel convolved with filters of its own.

    ``DepthwiseConv2D(kernel_size, ..., depth_multiplier=m)`` on C channels is
    ``Conv2D(C * m, kernel_size, ..., groups=C)``: output channel ``c*m + j``
    is input channel ``c`` convolved with filter ``c*m + j`` (PyTorch's
    order), plus its bias.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride, padding, activation, use_bias, dilation : optional
        As for :class:`Conv2D`.
    depth_multiplier : int, optional
        Filters per input channel, m >= 1.

    Attributes
    ----------
    filters, groups : int or None
        ``C * depth_multiplier`` and C, set when the layer is built (None
        before).

    Notes
    -----
    Shapes: ``(N, H, W, C) -> (N, Ho, Wo, C * m)``. ``params["W"]`` is
    ``(C * m, kh, kw, 1)``, ``params["b"]`` is ``(C * m,)``. The arithmetic is
    :class:`Conv2D`'s (:func:`pyx_cnn.ops.conv.forward` with ``groups=C``,
    which runs the depthwise kernels of :mod:`pyx_cnn._conv_depthwise`).
    """

    def __init__(self, kernel_size, stride=1, padding=0, depth_multiplier=1, activation=None,
                 use_bias=True, dilation=1):
        Layer.__init__(self)
        self.depth_multiplier = check_int(depth_multiplier, "depth_multiplier", 1)
        self.filters = None
        self.groups = None
        self._set_geometry(kernel_size, stride, padding, activation, use_bias, dilation)

    def get_config(self):
        config = {"kernel_size": list(self.kernel_size), "stride": _plain(self.stride),
                  "padding": _plain(self.padding), "depth_multiplier": self.depth_multiplier,
                  "activation": self.activation, "use_bias": self.use_bias}
        if self.dilation != 1:
            config["dilation"] = _plain(self.dilation)
        return config

    def _build(self, input_shape, rng, init_for):
        channels = input_shape[-1]
        self.filters = channels * self.depth_multiplier
        self.groups = channels
        return super()._build(input_shape, rng, init_for)
