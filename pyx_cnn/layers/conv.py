"""The convolution layer, ``Conv2D``."""
import numpy as np

from .._geometry import check_padding, effective_kernel, output_size, pair, resolve_padding
from .._validation import check_int, shape_str
from ..ops import conv
from ..ops.activations import get_activation
from .base import Layer, init_weights
from .weighted import OWN, canonical_activation

__all__ = ["Conv2D"]


def _compact(values):
    """A pair as an int when both halves are equal (the form configs keep)."""
    return values[0] if values[0] == values[1] else tuple(values)


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
    padding : int, (int, int), "valid" or "same", optional
        Zeros on each side of H and W; ``"same"`` gives ``ceil(H / stride)``
        outputs, the extra zero at the bottom / right when the total is odd
        (see :mod:`pyx_cnn._geometry`).
    activation : str or None, optional
        A name from :data:`pyx_cnn.ops.activations.ACTIVATIONS` (softmax over
        the channel axis), applied to the output. Case-insensitive, stored in
        lower case (``"linear"`` as None).
    use_bias : bool, optional
    dilation : int or (int, int), optional
        Spacing between the kernel's taps: a 3x3 kernel of dilation 2 covers 5x5.

    Attributes
    ----------
    padding : int, (int, int), "valid" or "same"
        As given (a pair of equal values as one int, a name in lower case).
    pads : ((int, int), (int, int)) or None
        The zeros added, ``((top, bottom), (left, right))``: `padding`
        resolved for the input shape when the layer is built (None before).

    Notes
    -----
    Shapes: ``(N, H, W, C) -> (N, Ho, Wo, F)`` with
    ``Ho = (H + top + bottom - (kh - 1) * dh - 1) // sh + 1``. ``params["W"]``
    is ``(F, kh, kw, C)``, ``params["b"]`` is ``(F,)``.

    The arithmetic is :func:`pyx_cnn.ops.conv.forward` / ``backward``, then the
    activation's. Where to break: ``forward`` / ``backward`` (the layer's own
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
                 use_bias=True, dilation=1):
        super().__init__()
        self.filters = check_int(filters, "filters", 1)
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = _compact(pair(stride, "stride", 1))
        self.dilation = _compact(pair(dilation, "dilation", 1))
        padding = check_padding(padding)
        self.padding = padding if isinstance(padding, str) else _compact(padding)
        self.activation = canonical_activation(activation)
        self.use_bias = bool(use_bias)
        self.pads = None

    def get_config(self):
        def plain(value):
            return list(value) if isinstance(value, tuple) else value
        config = {"filters": self.filters, "kernel_size": list(self.kernel_size),
                  "stride": plain(self.stride), "padding": plain(self.padding),
                  "activation": self.activation, "use_bias": self.use_bias}
        if self.dilation != 1:
            config["dilation"] = plain(self.dilation)
        return config

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
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
        fan_in, fan_out = kh * kw * c, kh * kw * self.filters
        shape = (self.filters, kh, kw, c)
        self.params["W"] = init_weights(rng, shape, fan_in, fan_out,
                                        self.activation or init_for, self.dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=self.dtype)
        self._zero_bias = np.zeros(self.filters, dtype=self.dtype)
        self._geometry = (stride, self.pads, dilation)
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
        z, self._saved = conv.forward(x, self.params["W"], bias, *self._geometry)
        self._act = act
        self._out, self._act_saved = act.forward(z, out=z)
        return self._out

    def _backward(self, grad):
        grad = self._act.backward(grad, self._act_saved)
        gx, gw, gb = conv.backward(grad, self._saved, self.needs_input_grad)
        self.grads["W"][...] = gw
        if self.use_bias:
            self.grads["b"][...] = gb
        return gx
