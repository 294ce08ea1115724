"""Pooling layers: ``MaxPool2D``, ``AvgPool2D``, ``GlobalAvgPool2D``, ``GlobalMaxPool2D``."""
import numpy as np

from .._geometry import check_padding, pool_output_size, pool_padding
from .._validation import check_int, shape_str
from ..ops import avg_pool, global_avg_pool, global_max_pool, max_pool
from .base import Layer

__all__ = ["MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D"]


def _check_pool_padding(padding, size, name):
    """A pooling layer's `padding` in the form it stores: ``"valid"``, ``"same"``,
    ``(ph, pw)`` or ``((top, bottom), (left, right))``, each side at most ``size // 2``."""
    stored = check_padding(padding, asymmetric=True)
    pool_padding(padding, (1, 1), size, 1, name=f"{name} padding")   # the size // 2 rule
    return stored


def _check_bool(value, name):
    """`value` as a bool; TypeError unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


class _WindowPool(Layer, register=False):
    """What the ``size x size`` / `stride` pooling layers share: arguments and shapes.

    ``(N, H, W, C) -> (N, Hout, Wout, C)`` with ``Hout = (H + top + bottom - size)
    // stride + 1`` (likewise ``Wout``), rounded up with ``ceil_mode`` (then a last
    window starting in the bottom or right padding is dropped): PyTorch's sizes,
    :func:`pyx_cnn._geometry.pool_output_size`. ``pads``, set when the layer is
    built, is `padding` resolved for its input: ``((top, bottom), (left, right))``.
    """

    sample_ndim = 3

    def __init__(self, size=2, stride=2, padding=0, ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.size = check_int(size, "size", 1)
        self.stride = check_int(stride, "stride", 1)
        self.padding = _check_pool_padding(padding, self.size, name)
        self.ceil_mode = _check_bool(ceil_mode, f"{name} ceil_mode")
        self.pads = None

    def get_config(self):
        return {"size": self.size, "stride": self.stride, "padding": self.padding,
                "ceil_mode": self.ceil_mode}

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        name = type(self).__name__
        pads = pool_padding(self.padding, (h, w), self.size, self.stride, f"{name} padding")
        out_h = pool_output_size(h, self.size, self.stride, pads[0], self.ceil_mode)
        out_w = pool_output_size(w, self.size, self.stride, pads[1], self.ceil_mode)
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{name} size={self.size} is larger than the input's padded "
                             f"height or width (input shape {shape_str(input_shape)}, "
                             f"padding {pads})")
        self.pads = pads
        return (out_h, out_w, c)


class MaxPool2D(_WindowPool):
    """Max pooling over ``size x size`` windows every `stride` pixels, per channel.

    Parameters
    ----------
    size, stride : int, optional
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int)), optional
        Rows and columns around the input, at most ``size // 2`` per side (an int:
        every side; a pair ``(ph, pw)``: above and below, left and right;
        ``"same"``: TensorFlow's rule, ``ceil(H / stride)`` outputs, the odd zero
        at the bottom and right). The padding never wins a maximum.
    ceil_mode : bool, optional
        Round the number of windows up, as PyTorch's ``ceil_mode``.

    Shapes and numerics are PyTorch's ``max_pool2d`` (see ``_WindowPool``).
    The gradient goes to the first maximum of each window (row-major order);
    overlapping windows add up. The arithmetic is :mod:`pyx_cnn.ops.max_pool`.

    Where to break: ``forward`` / ``backward``; in a network with
    ``fuse=True``, after a ``ReLU`` layer, the two run as one pooling pass:
    :func:`pyx_cnn.fusion.relu_into_max_pool_forward` and
    :func:`~pyx_cnn.fusion.relu_into_max_pool_backward`.
    """

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        if h * w * c >= 2 ** 31:
            # the recorded argmax is an int32 offset inside one sample
            raise ValueError(f"MaxPool2D takes samples of fewer than 2**31 values, got input "
                             f"shape {shape_str(input_shape)}")
        return super()._build(input_shape, rng, init_for)

    def _work_buffers(self, n):
        return [((n,) + self.output_shape, "int32")]   # the argmax of each window

    def _forward(self, x, training=False):
        self._out, self._saved = max_pool.forward(x, self.size, self.stride, self.pads,
                                                  self.ceil_mode)
        return self._out

    def _backward(self, grad):
        return max_pool.backward(grad, self._saved)


class AvgPool2D(_WindowPool):
    """Average pooling over ``size x size`` windows every `stride` pixels, per channel.

    Parameters
    ----------
    size, stride, padding, ceil_mode
        As :class:`MaxPool2D` (the padding is zeros).
    count_include_pad : bool, optional
        Whether a window's divisor counts its padded positions (PyTorch's
        default, True) or only its values inside the input (False: what Keras's
        ``AveragePooling2D(padding="same")`` computes). The part of a ceil-mode
        window past the padding never counts.

    Shapes and numerics are PyTorch's ``avg_pool2d``. The gradient of an output
    is shared by its window's values, each getting ``grad / divisor``. The
    arithmetic is :mod:`pyx_cnn.ops.avg_pool`; the layer always runs on its own
    in a network (break in ``forward`` / ``backward``).
    """

    def __init__(self, size=2, stride=2, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(size, stride, padding, ceil_mode)
        self.count_include_pad = _check_bool(count_include_pad, "AvgPool2D count_include_pad")

    def get_config(self):
        return {**super().get_config(), "count_include_pad": self.count_include_pad}

    def _forward(self, x, training=False):
        self._out, self._saved = avg_pool.forward(x, self.size, self.stride, self.pads,
                                                  self.ceil_mode, self.count_include_pad)
        return self._out

    def _backward(self, grad):
        return avg_pool.backward(grad, self._saved)


class GlobalAvgPool2D(Layer):
    """The mean of each channel over the whole image: ``(N, H, W, C) -> (N, C)``.

    The arithmetic is :mod:`pyx_cnn.ops.global_avg_pool`; the layer always runs
    on its own in a network (break in ``forward`` / ``backward``).
    """

    sample_ndim = 3

    def _build(self, input_shape, rng, init_for):
        return (input_shape[2],)

    def _forward(self, x, training=False):
        self._out, self._saved = global_avg_pool.forward(x)
        return self._out

    def _backward(self, grad):
        return global_avg_pool.backward(grad, self._saved)


class GlobalMaxPool2D(Layer):
    """The maximum of each channel over the whole image: ``(N, H, W, C) -> (N, C)``.

    The gradient goes to the first maximum (row-major; a NaN is the maximum).
    The arithmetic is :mod:`pyx_cnn.ops.global_max_pool`; the layer always runs
    on its own in a network (break in ``forward`` / ``backward``).
    """

    sample_ndim = 3

    def _build(self, input_shape, rng, init_for):
        return (input_shape[2],)

    def _work_buffers(self, n):
        return [((n, self.input_shape[2]), "int64")]

    def _forward(self, x, training=False):
        self._out, self._saved = global_max_pool.forward(x)
        return self._out

    def _backward(self, grad):
        return global_max_pool.backward(grad, self._saved)
