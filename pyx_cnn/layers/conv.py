"""The convolution layer, ``Conv2D``."""
import numpy as np

from .._validation import check_int, shape_str
from ..ops import conv as conv_op
from ..ops.activations import get_activation
from .base import Layer, init_weights
from .weighted import OWN, canonical_activation

__all__ = ["Conv2D"]


def _compact(pair):
    """A pair as an int when both halves are equal (the form configs keep)."""
    return pair[0] if pair[0] == pair[1] else tuple(pair)


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
        (see :mod:`pyx_cnn.ops.conv`).
    activation : str or None, optional
        A name from :data:`pyx_cnn.ops.activations.ACTIVATIONS` (softmax over
        the channel axis), applied to the output. Case-insensitive, stored in
        lower case (``"linear"`` as None).
    use_bias : bool, optional
    dilation : int or (int, int), optional
        Spacing between the kernel's taps: a 3x3 kernel of dilation 2 covers 5x5.

    Shapes: ``(N, H, W, C) -> (N, Ho, Wo, F)`` with
    ``Ho = (H + top + bottom - (kh - 1) * dh - 1) // sh + 1``. ``params["W"]``
    is ``(F, kh, kw, C)``, ``params["b"]`` is ``(F,)``. After building, the
    zeros added are in ``pads = ((top, bottom), (left, right))``.
    """

    sample_ndim = 3

    def __init__(self, filters, kernel_size, stride=1, padding=0, activation=None,
                 use_bias=True, dilation=1):
        super().__init__()
        self.filters = check_int(filters, "filters", 1)
        self.kernel_size = conv_op.pair(kernel_size, "kernel_size", 1)
        self.stride = _compact(conv_op.pair(stride, "stride", 1))
        self.dilation = _compact(conv_op.pair(dilation, "dilation", 1))
        if isinstance(padding, str):
            conv_op.resolve_padding(padding, (1, 1), (1, 1), (1, 1), (1, 1))   # checks the name
            self.padding = padding.strip().lower()
        else:
            self.padding = _compact(conv_op.pair(padding, "padding", 0))
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

    @property
    def _pads(self):   # the resolved padding, as the ONNX exporter reads it
        return self.pads

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        kh, kw = self.kernel_size
        stride = conv_op.pair(self.stride, "stride", 1)
        dilation = conv_op.pair(self.dilation, "dilation", 1)
        self.pads = conv_op.resolve_padding(self.padding, (h, w), self.kernel_size, stride,
                                            dilation)
        (top, bottom), (left, right) = self.pads
        eh = conv_op.effective_kernel(kh, dilation[0])
        ew = conv_op.effective_kernel(kw, dilation[1])
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
        return (conv_op.output_size(h, kh, stride[0], self.pads[0], dilation[0]),
                conv_op.output_size(w, kw, stride[1], self.pads[1], dilation[1]), self.filters)

    def _work_buffers(self, n):
        h, w, c = self.input_shape
        (top, bottom), (left, right) = self.pads
        return [((n, h + top + bottom, w + left + right, c), self.dtype)]

    def _forward(self, x, training=False, activation=OWN):
        # `activation`: a network folds a following activation layer in (or leaves
        # a final softmax to a fused loss); backward uses whatever forward applied.
        act = get_activation(self.activation if activation is OWN else activation)
        bias = self.params["b"] if self.use_bias else self._zero_bias
        z, self._saved = conv_op.conv_forward(x, self.params["W"], bias, *self._geometry)
        self._act = act.name
        self._out = act.forward(z, out=z)
        return self._out

    def _backward(self, grad):
        grad = get_activation(self._act).backward(self._out, grad)
        gx, gw, gb = conv_op.conv_backward(grad, self._saved, self.needs_input_grad)
        self.grads["W"][...] = gw
        if self.use_bias:
            self.grads["b"][...] = gb
        return gx
