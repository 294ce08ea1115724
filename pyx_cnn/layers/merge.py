"""Merge layers, called on a list of tensors: ``Add`` and ``Concatenate``.

    x = layers.Input((16, 16, 8))
    h = layers.Conv2D(8, 3, padding=1)(x)
    s = layers.Add()([h, x])                  # a residual connection
    c = layers.Concatenate()([h, x])          # (16, 16, 16): along the channels

On arrays, ``forward`` takes a list of batches and ``backward`` returns a list
of gradients, one per input. The arithmetic is :mod:`pyx_cnn.ops.add` and
:mod:`pyx_cnn.ops.concatenate`; in a network a merge layer always runs on its
own (break in ``forward`` / ``backward``).
"""
import numpy as np

from .._thread_policy import one_blas_thread
from .._validation import as_array, as_kernel_array, check_int, shape_str, working_dtype
from ..ops import add, concatenate
from .base import Layer, check_dtype

__all__ = ["MergeLayer", "Add", "Concatenate"]


def _shapes_str(shapes):
    return ", ".join(shape_str(s) for s in shapes)


class MergeLayer(Layer, register=False):
    """A layer of several inputs: ``input_shape`` is a list of shapes, ``forward`` takes a
    list of batches and ``backward`` returns a list of gradients. Subclasses implement
    ``_output_shape(shapes)`` (ValueError for shapes they cannot merge),
    ``_forward(xs, training)`` and ``_backward(grad)``."""

    takes_list = True

    def build(self, input_shape, rng=None, dtype=np.float64, init_for=None):
        """Check the input shapes (a list of at least two sample shapes); returns the
        output shape. A merge layer has no weights: `rng` and `init_for` are unused."""
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{type(self).__name__} is built for a list of at least 2 input "
                             f"shapes, got {input_shape!r}")
        shapes = [tuple(int(d) for d in s) for s in input_shape]
        output_shape = tuple(self._output_shape(shapes))
        self.dtype = check_dtype(dtype)
        self.input_shape, self.output_shape = shapes, output_shape
        self.grads, self._param_shapes = {}, {}
        return output_shape

    def _output_shape(self, shapes):
        raise NotImplementedError

    def forward(self, xs, training=False, *, validate=True):
        """The merged batch of the list `xs` (``validate`` as :meth:`Layer.forward`).

        Returns
        -------
        out : ndarray, shape (N,) + output_shape
        """
        if not validate:   # a network's plan: the batches are checked arrays
            return self._forward(xs, training)
        name = type(self).__name__
        if not isinstance(xs, (list, tuple)) or len(xs) < 2:
            raise TypeError(f"{name}.forward takes a list of at least 2 batches, got "
                            f"{type(xs).__name__}")
        xs = [as_array(x, f"xs[{i}]") for i, x in enumerate(xs)]
        if any(x.ndim < 1 for x in xs) or len({x.shape[0] for x in xs}) != 1 or (
                xs[0].shape[0] < 1):
            raise ValueError(f"{name}.forward takes non-empty batches of one size N, got "
                             f"shapes {_shapes_str(x.shape for x in xs)}")
        if not self.built:
            self.build([x.shape[1:] for x in xs], dtype=working_dtype(*xs))
        if [x.shape[1:] for x in xs] != self.input_shape:
            raise ValueError(f"{name} was built for samples of shapes "
                             f"{_shapes_str(self.input_shape)}, got batches of shapes "
                             f"{_shapes_str(x.shape for x in xs)}")
        xs = [as_kernel_array(x, self.dtype) for x in xs]
        with one_blas_thread():
            return self._forward(xs, bool(training))

    def backward(self, grad_out, *, validate=True):
        """``dL/d(input)`` for every input, from ``dL/d(output)``.

        Returns
        -------
        grads : list of ndarray
            One per input, of that input's shape.
        """
        if not validate:
            return self._backward(grad_out)
        if self._out is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad_out = as_array(grad_out, "grad_out")
        if grad_out.shape != self._out.shape:
            raise ValueError(f"grad_out must have the shape of the last forward output "
                             f"{shape_str(self._out.shape)}, got {shape_str(grad_out.shape)}")
        return self._backward(as_kernel_array(grad_out, self.dtype))


class Add(MergeLayer):
    """The elementwise sum of its inputs, all of one shape (a residual connection).

    Called on a list of tensors: ``layers.Add()([h, x])``. Inputs of different
    shapes are a ValueError naming the layer and the shapes. The gradient of
    each input is the output's (:mod:`pyx_cnn.ops.add`).
    """

    def _output_shape(self, shapes):
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"Add takes inputs of one shape, got shapes {_shapes_str(shapes)}")
        return shapes[0]

    def _forward(self, xs, training=False):
        self._out, self._saved = add.forward(xs)
        return self._out

    def _backward(self, grad):
        return add.backward(grad, self._saved)


class Concatenate(MergeLayer):
    """Its inputs joined along one axis: the channels by default.

    Parameters
    ----------
    axis : int, optional
        The axis of the batch ``(N, H, W, C)`` to join along, as Keras counts it:
        -1 (the channels), or any other axis but the batch axis (1 or -3 for
        H, 2 or -2 for W). The inputs must be equal in every other axis.

    Attributes
    ----------
    batch_axis : int or None
        `axis` as a non-negative axis of the batch array (>= 1), once built.

    The arithmetic is :mod:`pyx_cnn.ops.concatenate`; the backward pass cuts the
    gradient into the inputs' parts.
    """

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = check_int(axis, "Concatenate axis", -2 ** 62)
        if self.axis == 0:
            raise ValueError("Concatenate axis=0 is the batch axis; join along another "
                             "(-1: the channels)")
        self.batch_axis = None

    def get_config(self):
        return {"axis": self.axis}

    def _output_shape(self, shapes):
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes):
            raise ValueError(f"Concatenate takes inputs of one number of axes, got shapes "
                             f"{_shapes_str(shapes)}")
        if not -ndim <= self.axis <= ndim:
            raise ValueError(f"Concatenate axis={self.axis} is out of range for batches of "
                             f"{ndim + 1} axes (samples of shapes {_shapes_str(shapes)})")
        sample_axis = self.axis - 1 if self.axis > 0 else self.axis + ndim
        rest = {s[:sample_axis] + s[sample_axis + 1:] for s in shapes}
        if len(rest) != 1:
            raise ValueError(f"Concatenate axis={self.axis} takes inputs equal in every other "
                             f"axis, got shapes {_shapes_str(shapes)}")
        self.batch_axis = sample_axis + 1
        shape = list(shapes[0])
        shape[sample_axis] = sum(s[sample_axis] for s in shapes)
        return tuple(shape)

    def _forward(self, xs, training=False):
        self._out, self._saved = concatenate.forward(xs, self.batch_axis)
        return self._out

    def _backward(self, grad):
        return concatenate.backward(grad, self._saved)
