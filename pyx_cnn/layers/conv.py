"""The convolution layer, ``Conv2D``."""
import numpy as np

from .. import _conv, _conv_grad
from .._threads import get_num_threads
from .._validation import check_int, shape_str
from ..ops.activations import get_activation
from ..ops.pool import pool_output_size
from .base import Layer, init_weights
from .weighted import OWN, canonical_activation

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """2-D convolution (cross-correlation) over channels-last batches.

    Parameters
    ----------
    filters : int
        Number of output maps F.
    kernel_size : int or (int, int)
        ``kh, kw``; any sizes >= 1.
    stride : int, optional
    padding : int, optional
        Zeros on each side of H and W.
    activation : str or None, optional
        A name from :data:`pyx_cnn.ops.activations.ACTIVATIONS` (softmax over
        the channel axis), applied to the output. Case-insensitive, stored in
        lower case (``"linear"`` as None).
    use_bias : bool, optional

    Shapes: ``(N, H, W, C) -> (N, Ho, Wo, F)`` with
    ``Ho = (H + 2*padding - kh) // stride + 1``. ``params["W"]`` is
    ``(F, kh, kw, C)``, ``params["b"]`` is ``(F,)``.
    """

    sample_ndim = 3

    def __init__(self, filters, kernel_size, stride=1, padding=0, activation=None,
                 use_bias=True):
        super().__init__()
        self.filters = check_int(filters, "filters", 1)
        if isinstance(kernel_size, (tuple, list)):
            if len(kernel_size) != 2:
                raise ValueError(f"kernel_size must be an int or a pair, got {kernel_size!r}")
            kh, kw = kernel_size
        else:
            kh = kw = kernel_size
        self.kernel_size = (check_int(kh, "kernel_size", 1), check_int(kw, "kernel_size", 1))
        self.stride = check_int(stride, "stride", 1)
        self.padding = check_int(padding, "padding", 0)
        self.activation = canonical_activation(activation)
        self.use_bias = bool(use_bias)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": self.stride, "padding": self.padding,
                "activation": self.activation, "use_bias": self.use_bias}

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        kh, kw = self.kernel_size
        p = self.padding
        if kh > h + 2 * p or kw > w + 2 * p:
            raise ValueError(
                f"Conv2D kernel ({kh}, {kw}) is larger than the padded input "
                f"({h + 2 * p}, {w + 2 * p}) (input shape {shape_str(input_shape)}, padding={p})"
            )
        fan_in, fan_out = kh * kw * c, kh * kw * self.filters
        shape = (self.filters, kh, kw, c)
        self.params["W"] = init_weights(rng, shape, fan_in, fan_out,
                                        self.activation or init_for, self.dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=self.dtype)
        self._zero_bias = np.zeros(self.filters, dtype=self.dtype)
        return (pool_output_size(h + 2 * p, kh, self.stride),
                pool_output_size(w + 2 * p, kw, self.stride), self.filters)

    def _work_buffers(self, n):
        h, w, c = self.input_shape
        p = self.padding
        return [((n, h + 2 * p, w + 2 * p, c), self.dtype)] if p else []

    def _forward(self, x, training=False, activation=OWN):
        # `activation`: a network folds a following activation layer in (or leaves
        # a final softmax to a fused loss); backward uses whatever forward applied.
        act = get_activation(self.activation if activation is OWN else activation)
        n, h, w, c = x.shape
        p = self.padding
        (kh, kw), f = self.kernel_size, self.filters
        if p:
            xp = np.zeros((n, h + 2 * p, w + 2 * p, c), dtype=self.dtype)
            xp[:, p:p + h, p:p + w] = x
        else:
            xp = x
        wk = self.params["W"].transpose(1, 2, 3, 0).reshape(kh, kw * c, f)
        if not wk.flags.c_contiguous:
            wk = wk.copy()
        z = np.empty((n,) + self.output_shape, dtype=self.dtype)
        bias = self.params["b"] if self.use_bias else self._zero_bias
        _conv._conv2d_forward(xp, wk, bias, z, self.stride, get_num_threads())
        self._x_pad, self._wk, self._act = xp, wk, act.name
        self._out = act.forward(z, out=z)
        return self._out

    def _backward(self, grad):
        grad = get_activation(self._act).backward(self._out, grad)
        f, (kh, kw), c = self.filters, self.kernel_size, self.input_shape[2]
        nt = get_num_threads()
        gb = self.grads["b"] if self.use_bias else np.empty(f, dtype=self.dtype)
        gw = np.empty((kh, kw * c, f), dtype=self.dtype)
        _conv_grad._conv2d_backward_weights(self._x_pad, grad, gw, gb, self.stride, nt)
        self.grads["W"][...] = gw.reshape(kh, kw, c, f).transpose(3, 0, 1, 2)
        if not self._input_grad:
            return None
        gxp = np.empty(self._x_pad.shape, dtype=self.dtype)
        _conv_grad._conv2d_backward_input(grad, self._wk, gxp, self.stride, nt)
        p = self.padding
        if p:
            h, w = self.input_shape[:2]
            return np.ascontiguousarray(gxp[:, p:p + h, p:p + w])
        return gxp
