"""Pooling layers: ``MaxPool2D``, ``AvgPool2D``, ``GlobalAvgPool2D``, ``GlobalMaxPool2D``."""
from .._geometry import output_size
from .._validation import check_int, shape_str
from ..ops import avg_pool, global_avg_pool, global_max_pool, max_pool
from .base import Layer

__all__ = ["MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D"]


class _WindowPool(Layer, register=False):
    """What the ``size x size`` / `stride` pooling layers share: arguments and shapes
    ``(N, H, W, C) -> (N, (H - size) // stride + 1, (W - size) // stride + 1, C)``."""

    sample_ndim = 3

    def __init__(self, size=2, stride=2):
        super().__init__()
        self.size = check_int(size, "size", 1)
        self.stride = check_int(stride, "stride", 1)

    def get_config(self):
        return {"size": self.size, "stride": self.stride}

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        if self.size > h or self.size > w:
            raise ValueError(f"{type(self).__name__} size={self.size} is larger than the "
                             f"input's height or width (input shape {shape_str(input_shape)})")
        return (output_size(h, self.size, self.stride),
                output_size(w, self.size, self.stride), c)


class MaxPool2D(_WindowPool):
    """Max pooling over ``size x size`` windows every `stride` pixels, per channel.

    Shapes: ``(N, H, W, C) -> (N, (H - size) // stride + 1, (W - size) // stride + 1, C)``.
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
        self._out, self._saved = max_pool.forward(x, self.size, self.stride)
        return self._out

    def _backward(self, grad):
        return max_pool.backward(grad, self._saved)


class AvgPool2D(_WindowPool):
    """Average pooling over ``size x size`` windows every `stride` pixels, per channel.

    Floor mode, as ``torch.nn.functional.avg_pool2d(ceil_mode=False)``:
    ``(N, H, W, C) -> (N, (H - size) // stride + 1, (W - size) // stride + 1, C)``.
    The gradient of an output is shared equally by its window's values. The
    arithmetic is :mod:`pyx_cnn.ops.avg_pool`; the layer always runs on its own
    in a network (break in ``forward`` / ``backward``).
    """

    def _forward(self, x, training=False):
        self._out, self._saved = avg_pool.forward(x, self.size, self.stride)
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
