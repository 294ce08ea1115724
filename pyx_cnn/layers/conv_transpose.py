"""The transposed convolution layer, ``Conv2DTranspose``."""
import numpy as np

from .._geometry import pair
from .._validation import check_int, shape_str
from ..ops import conv_transpose
from ..ops.activations import get_activation
from .base import Layer, init_weights
from .weighted import OWN, canonical_activation

__all__ = ["Conv2DTranspose"]


def _compact(values):
    """A pair as an int when both halves are equal, else a list (the form configs keep)."""
    return values[0] if values[0] == values[1] else list(values)


def _padding_pair(padding):
    try:
        return pair(padding, "padding", 0)
    except TypeError:
        raise TypeError(f"Conv2DTranspose padding must be an int >= 0 or a pair (along H, "
                        f"along W), got {type(padding).__name__} {padding!r}") from None


class Conv2DTranspose(Layer):
    """Transposed convolution (the input gradient of a convolution) over channels-last
    batches, as PyTorch's ``ConvTranspose2d``.

    Parameters
    ----------
    filters : int
        Number of output maps F.
    kernel_size : int or (int, int)
        ``kh, kw``; any sizes >= 1.
    stride : int or (int, int), optional
        Step between the places two neighbouring input pixels write to.
    padding : int or (int, int), optional
        Rows (columns) cut from each side of the output.
    output_padding : int or (int, int), optional
        Rows (columns) added at the end of the output: below `stride` or below
        `dilation` along each axis (PyTorch's rule). It picks one of the
        ``stride`` output sizes that a ``Conv2D`` of that stride maps to the
        input's.
    activation : str or None, optional
        A name from :data:`pyx_cnn.ops.activations.ACTIVATIONS`, applied to the
        output (stored in lower case, ``"linear"`` as None).
    use_bias : bool, optional
    dilation : int or (int, int), optional
        Spacing between the kernel's taps.

    Notes
    -----
    Shapes: ``(N, H, W, C) -> (N, Ho, Wo, F)`` with
    ``Ho = (H - 1) * sh - 2 * ph + (kh - 1) * dh + oph + 1`` (likewise ``Wo``).
    ``params["W"]`` is ``(C, kh, kw, F)``: the filter bank of the
    ``Conv2D(C, kernel_size, stride, padding, dilation=dilation)`` whose input
    gradient this layer's forward pass is (PyTorch's weight ``(C, F, kh, kw)``
    transposed to ``(C, kh, kw, F)``); ``params["b"]`` is ``(F,)``. He or
    Glorot initialisation (by the activation that follows) with
    ``fan_in = kh * kw * C`` and ``fan_out = kh * kw * F``.

    The arithmetic is :mod:`pyx_cnn.ops.conv_transpose` (on the convolution's
    kernels), then the activation's. The layer always runs on its own in a
    network (break in ``forward`` / ``backward``, or ``_forward`` /
    ``_backward``).
    """

    sample_ndim = 3

    def __init__(self, filters, kernel_size, stride=1, padding=0, output_padding=0,
                 activation=None, use_bias=True, dilation=1):
        super().__init__()
        self.filters = check_int(filters, "filters", 1)
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        stride = pair(stride, "stride", 1)
        dilation = pair(dilation, "dilation", 1)
        output_padding = pair(output_padding, "output_padding", 0)
        for op, s, d in zip(output_padding, stride, dilation):
            if op >= s and op >= d:
                raise ValueError(
                    f"Conv2DTranspose output_padding must be smaller than the stride or "
                    f"the dilation along each axis, got output_padding="
                    f"{_compact(output_padding)!r} with stride={_compact(stride)!r} and "
                    f"dilation={_compact(dilation)!r}")
        self.stride = _compact(stride)
        self.padding = _compact(_padding_pair(padding))
        self.output_padding = _compact(output_padding)
        self.dilation = _compact(dilation)
        self.activation = canonical_activation(activation)
        self.use_bias = bool(use_bias)
        self._geometry = (stride, _padding_pair(padding), output_padding, dilation)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": self.stride, "padding": self.padding,
                "output_padding": self.output_padding, "activation": self.activation,
                "use_bias": self.use_bias, "dilation": self.dilation}

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        kh, kw = self.kernel_size
        ho, wo = conv_transpose.output_shape((h, w), self.kernel_size, *self._geometry)
        if ho < 1 or wo < 1:
            raise ValueError(
                f"Conv2DTranspose padding={self.padding!r} cuts the whole output: "
                f"({ho}, {wo}) rows and columns for input shape {shape_str(input_shape)}, "
                f"kernel_size={self.kernel_size}, stride={self.stride!r}")
        shape = (c, kh, kw, self.filters)
        self.params["W"] = init_weights(rng, shape, kh * kw * c, kh * kw * self.filters,
                                        self.activation or init_for, self.dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=self.dtype)
        self._zero_bias = np.zeros(self.filters, dtype=self.dtype)
        return (ho, wo, self.filters)

    def _work_buffers(self, n):
        ho, wo, f = self.output_shape
        ph, pw = self._geometry[1]
        return [((n, ho + 2 * ph, wo + 2 * pw, f), self.dtype)]   # the padded output

    def _forward(self, x, training=False, activation=OWN):
        act = get_activation(self.activation) if activation is OWN else activation
        bias = self.params["b"] if self.use_bias else self._zero_bias
        z, self._saved = conv_transpose.forward(x, self.params["W"], bias, *self._geometry)
        self._act = act
        self._out, self._act_saved = act.forward(z, out=z)
        return self._out

    def _backward(self, grad):
        grad = self._act.backward(grad, self._act_saved)
        gx, gw, gb = conv_transpose.backward(grad, self._saved, self.needs_input_grad)
        self.grads["W"][...] = gw
        if self.use_bias:
            self.grads["b"][...] = gb
        return gx
