"""Layers of a convolutional network: ``Conv2D``, ``MaxPool2D``, ``ReLU``,
``Sigmoid``, ``Flatten`` and ``Dense``.

Every layer has

- ``forward(x)``: the layer's output for a batch ``x`` (it remembers what the
  backward pass needs);
- ``backward(grad_out)``: given ``dL/d(output)``, returns ``dL/d(input)`` and,
  for a layer with weights, stores ``dL/d(weights)`` in ``grads``;
- ``params`` and ``grads``: dicts with keys ``"W"`` and ``"b"`` (empty for
  layers without weights), ``grads`` holding arrays of the same shapes as
  ``params``.

Shapes are channels-last: ``Conv2D`` and ``MaxPool2D`` take ``(N, H, W, C)``,
``Dense`` takes ``(N, features)``, ``Flatten`` turns ``(N, H, W, C)`` into
``(N, H*W*C)`` in C order (channels fastest). ``Conv2D.params["W"]`` is
``(F, kh, kw, C)``; ``Dense.params["W"]`` is ``(in_features, units)``.

A layer used on its own is built (its weights created) by its first
``forward`` call, with an unseeded generator; call ``build(input_shape,
rng=..., dtype=...)`` first for reproducible weights. Inside a
:class:`pyx_cnn.NeuralNetwork` the network builds its layers from its seed.

Weight initialisation suits the activation that follows the layer: He normal
(``std = sqrt(2 / fan_in)``) before ReLU, Glorot uniform
(``limit = sqrt(6 / (fan_in + fan_out))``) otherwise. Biases start at zero.
"""
import math

import numpy as np

from . import _conv, _conv_grad, _pool, _pool_grad
from ._thread_policy import one_blas_thread
from ._threads import get_num_threads
from ._validation import (
    as_array, as_kernel_array, check_int, check_result_size, needs_kernel_copy, shape_str,
    working_dtype,
)
from .functional import conv_output_size

__all__ = ["Layer", "Conv2D", "MaxPool2D", "ReLU", "Sigmoid", "Flatten", "Dense"]

ACTIVATIONS = (None, "relu", "sigmoid", "softmax")
_OWN = object()   # "apply the layer's own activation" (a network may pass another)


def _check_activation(activation):
    """The activation's canonical name: None or a lower-case name from ACTIVATIONS.

    Names are case-insensitive (``"ReLU"`` is ``"relu"``), as loss and
    optimiser names are; the lower-case form is stored, so ``get_config`` and
    saved files stay canonical.
    """
    if activation is None:
        return None
    if not isinstance(activation, str):
        raise TypeError("activation must be None or one of 'relu', 'sigmoid', 'softmax', "
                        f"got {type(activation).__name__} {activation!r}")
    name = activation.lower()
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of None, 'relu', 'sigmoid', 'softmax', got {activation!r}"
        )
    return name


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


# ---------------------------------------------------------------- activations
# Each works on a C-contiguous array of the layer's dtype. ``z`` may be
# overwritten (it is a buffer the layer just allocated).

def _activation_forward(activation, z):
    if activation is None:
        return z
    if activation == "relu":
        flat = z.reshape(-1)
        _pool._relu(flat, flat, get_num_threads())
        return z
    if activation == "sigmoid":
        flat = z.reshape(-1)
        _pool._sigmoid(flat, flat, get_num_threads())
        return z
    # softmax over the last axis, shifted by the maximum for stability
    out = z - z.max(axis=-1, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)
    return out


def _activation_backward(activation, y, grad):
    """dL/dz from dL/dy, where y = activation(z) is the stored output."""
    if activation is None:
        return grad
    if activation == "softmax":
        # J^T g = y * (g - sum(g * y))
        return y * (grad - np.sum(grad * y, axis=-1, keepdims=True))
    out = np.empty_like(y)
    kernel = _pool_grad._relu_backward if activation == "relu" else _pool_grad._sigmoid_backward
    kernel(y.reshape(-1), grad.reshape(-1), out.reshape(-1), get_num_threads())
    return out


def _check_weight_memory(what, shape, dtype):
    """MemoryError before creating weights that cannot fit (an absurd configuration,
    or a crafted model file): the float64 draw, the weights, their gradients and
    a network's flat copies of both."""
    check_result_size(what, (shape, np.float64), *[(shape, dtype)] * 4)


def _he_normal(rng, shape, fan_in, dtype):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def _glorot_uniform(rng, shape, fan_in, fan_out, dtype):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


class Layer:
    """Base class: shape bookkeeping, validation, ``params`` / ``grads``.

    Subclasses implement ``_build``, ``_forward`` and ``_backward`` on
    validated, C-contiguous arrays of the layer's dtype.
    """

    #: number of dimensions of one input sample, or None for any
    sample_ndim = None

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.input_shape = None
        self.output_shape = None
        self.dtype = None
        self._input_grad = True   # a network skips dL/dx for its first layer
        self._out = None

    # -- building
    def build(self, input_shape, rng=None, dtype=np.float64, init_for=None):
        """Create the weights for samples of shape `input_shape` (batch axis excluded).

        Parameters
        ----------
        input_shape : tuple of int
            ``(H, W, C)`` for ``Conv2D`` / ``MaxPool2D``, ``(features,)`` for ``Dense``.
        rng : numpy.random.Generator or int, optional
            Source of the initial weights (a seed is accepted).
        dtype : float32 or float64
        init_for : {None, 'relu', 'sigmoid', 'softmax'}, optional
            The activation that follows when the layer has none of its own
            (picks He or Glorot initialisation).

        Returns
        -------
        output_shape : tuple of int
        """
        input_shape = tuple(int(s) for s in input_shape)
        if self.sample_ndim is not None and len(input_shape) != self.sample_ndim:
            raise ValueError(
                f"{type(self).__name__} expects samples with {self.sample_ndim} dimension(s), "
                f"got input shape {shape_str(input_shape)}"
                + (" (add a Flatten layer before Dense)" if isinstance(self, Dense) else "")
            )
        if any(s < 1 for s in input_shape):
            raise ValueError(f"{type(self).__name__}: input shape {shape_str(input_shape)} "
                             "has an empty axis")
        self.dtype = _check_dtype(dtype)
        rng = np.random.default_rng(rng)
        self.input_shape = input_shape
        self.output_shape = tuple(self._build(input_shape, rng, init_for))
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._param_shapes = {k: v.shape for k, v in self.params.items()}
        return self.output_shape

    def _check_params(self, with_grads=False):
        """Check weights (and gradients) a user may have replaced since `build`.

        The kernels index them by the layer's shapes without bounds checks, so a
        replaced array must keep its shape; a different dtype or memory layout
        is converted. Gradient arrays are written by the kernels: they must
        also keep the layer's dtype and be writeable C-contiguous arrays.
        """
        name = type(self).__name__
        for key, shape in self._param_shapes.items():
            value = self.params.get(key)
            if value is None:
                raise ValueError(f"{name}.params is missing {key!r}")
            value = as_array(value, f"{name}.params[{key!r}]")
            if value.shape != shape:
                raise ValueError(f"{name}.params[{key!r}] must keep shape {shape_str(shape)}, "
                                 f"got {shape_str(value.shape)}")
            self.params[key] = as_kernel_array(value, self.dtype)
            if not with_grads:
                continue
            grad = self.grads.get(key)
            if (not isinstance(grad, np.ndarray) or grad.shape != shape
                    or grad.dtype != self.dtype or not grad.flags.c_contiguous
                    or not grad.flags.aligned or not grad.flags.writeable):
                raise ValueError(f"{name}.grads[{key!r}] must be a writeable C-contiguous "
                                 f"{self.dtype} array of shape {shape_str(shape)}")

    def _build(self, input_shape, rng, init_for):
        return input_shape

    @property
    def built(self):
        return self.input_shape is not None

    def count_params(self):
        """Number of trainable values."""
        return int(sum(v.size for v in self.params.values()))

    def get_config(self):
        """The constructor's arguments, as a JSON-ready dict."""
        return {}

    # -- public passes (validate, then call the private ones)
    def forward(self, x):
        """Output for a batch `x` (see the class docstring for shapes)."""
        x = as_array(x, "x")
        if not self.built:
            if x.ndim < 1 or x.shape[0] < 1:
                raise ValueError(f"x must be a non-empty batch, got shape {shape_str(x.shape)}")
            self.build(x.shape[1:], dtype=working_dtype(x))
        if x.shape[1:] != self.input_shape or x.shape[0] < 1:
            raise ValueError(
                f"{type(self).__name__} was built for batches of shape (N, "
                f"{', '.join(map(str, self.input_shape))}) with N >= 1, got x of shape "
                f"{shape_str(x.shape)}"
            )
        self._check_params()
        n = x.shape[0]
        buffers = [((n,) + self.output_shape, self.dtype), *self._work_buffers(n)]
        if needs_kernel_copy(x, self.dtype):
            buffers.append((x.shape, self.dtype))
        check_result_size(f"{type(self).__name__}.forward", *buffers)
        with one_blas_thread():
            return self._forward(as_kernel_array(x, self.dtype))

    def _work_buffers(self, n):
        """(shape, dtype) of the arrays a forward pass of `n` samples allocates
        besides its output (for the memory check)."""
        return []

    def backward(self, grad_out):
        """``dL/d(input)`` from ``dL/d(output)``; fills ``grads`` for weights."""
        if self._out is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad_out = as_array(grad_out, "grad_out")
        if grad_out.shape != self._out.shape:
            raise ValueError(
                f"grad_out must have the shape of the last forward output "
                f"{shape_str(self._out.shape)}, got {shape_str(grad_out.shape)}"
            )
        saved, self._input_grad = self._input_grad, True
        try:
            self._check_params(with_grads=True)
            with one_blas_thread():
                return self._backward(as_kernel_array(grad_out, self.dtype))
        finally:
            self._input_grad = saved

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


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
    activation : {None, 'relu', 'sigmoid', 'softmax'}, optional
        Applied to the output (softmax over the channel axis). Case-insensitive,
        stored in lower case.
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
        self.activation = _check_activation(activation)
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
        _check_weight_memory("Conv2D weights", shape, self.dtype)
        if (self.activation or init_for) == "relu":
            self.params["W"] = _he_normal(rng, shape, fan_in, self.dtype)
        else:
            self.params["W"] = _glorot_uniform(rng, shape, fan_in, fan_out, self.dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(self.filters, dtype=self.dtype)
        self._zero_bias = np.zeros(self.filters, dtype=self.dtype)
        return (conv_output_size(h, kh, self.stride, p),
                conv_output_size(w, kw, self.stride, p), self.filters)

    def _work_buffers(self, n):
        h, w, c = self.input_shape
        p = self.padding
        return [((n, h + 2 * p, w + 2 * p, c), self.dtype)] if p else []

    def _forward(self, x, act=_OWN):
        # `act` lets a network fold a following activation layer in (or leave the
        # softmax to a fused loss); backward uses whatever forward applied.
        if act is _OWN:
            act = self.activation
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
        self._x_pad, self._wk, self._act = xp, wk, act
        self._out = _activation_forward(act, z)
        return self._out

    def _backward(self, grad):
        grad = _activation_backward(self._act, self._out, grad)
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


class MaxPool2D(Layer):
    """Max pooling over ``size x size`` windows every `stride` pixels, per channel.

    Shapes: ``(N, H, W, C) -> (N, (H - size) // stride + 1, (W - size) // stride + 1, C)``.
    The gradient goes to the first maximum of each window (row-major order);
    overlapping windows add up.
    """

    sample_ndim = 3

    def __init__(self, size=2, stride=2):
        super().__init__()
        self.size = check_int(size, "size", 1)
        self.stride = check_int(stride, "stride", 1)
        self._fuse_relu = False   # set by a network that folds a ReLU in front

    def get_config(self):
        return {"size": self.size, "stride": self.stride}

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        if self.size > h or self.size > w:
            raise ValueError(f"MaxPool2D size={self.size} is larger than the input's height "
                             f"or width (input shape {shape_str(input_shape)})")
        if h * w * c >= 2 ** 31:
            # the recorded argmax is an int32 offset inside one sample
            raise ValueError(f"MaxPool2D takes samples of fewer than 2**31 values, got input "
                             f"shape {shape_str(input_shape)}")
        return (conv_output_size(h, self.size, self.stride),
                conv_output_size(w, self.size, self.stride), c)

    def _work_buffers(self, n):
        return [((n,) + self.output_shape, np.int32)]   # the argmax of each window

    def _forward(self, x, fuse_relu=False):
        shape = (x.shape[0],) + self.output_shape
        out = np.empty(shape, dtype=self.dtype)
        arg = np.empty(shape, dtype=np.int32)
        _pool_grad._maxpool2d_forward_argmax(x, out, arg, self.size, self.stride, fuse_relu,
                                             get_num_threads())
        self._argmax, self._fused, self._out = arg, fuse_relu, out
        return out

    def _backward(self, grad):
        gx = np.empty((grad.shape[0],) + self.input_shape, dtype=self.dtype)
        _pool_grad._maxpool2d_backward(grad, self._argmax, self._out, gx, self._fused,
                                       get_num_threads())
        return gx


class _Activation(Layer):
    activation = None

    def _forward(self, x):
        out = np.empty_like(x)
        if self.activation == "relu":
            _pool._relu(x.reshape(-1), out.reshape(-1), get_num_threads())
        else:
            _pool._sigmoid(x.reshape(-1), out.reshape(-1), get_num_threads())
        self._out = out
        return out

    def _backward(self, grad):
        return _activation_backward(self.activation, self._out, grad)


class ReLU(_Activation):
    """``max(x, 0)`` elementwise; the gradient is 1 where the output is positive, else 0."""

    activation = "relu"


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))`` elementwise; gradient ``y * (1 - y)``."""

    activation = "sigmoid"


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)`` in C order (channels fastest for images)."""

    def _build(self, input_shape, rng, init_for):
        return (math.prod(input_shape),)   # Python ints: no int64 overflow

    def _forward(self, x):
        self._out = x.reshape(x.shape[0], -1)
        return self._out

    def _backward(self, grad):
        return grad.reshape((grad.shape[0],) + self.input_shape)


class Dense(Layer):
    """Fully connected layer ``y = activation(x @ W + b)``.

    Parameters
    ----------
    units : int
    activation : {None, 'relu', 'sigmoid', 'softmax'}, optional
        Case-insensitive, stored in lower case.
    use_bias : bool, optional

    Shapes: ``(N, in_features) -> (N, units)``; ``params["W"]`` is
    ``(in_features, units)``, ``params["b"]`` is ``(units,)``. The products
    run on numpy's BLAS.
    """

    sample_ndim = 1

    def __init__(self, units, activation=None, use_bias=True):
        super().__init__()
        self.units = check_int(units, "units", 1)
        self.activation = _check_activation(activation)
        self.use_bias = bool(use_bias)

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias}

    def _build(self, input_shape, rng, init_for):
        (fan_in,) = input_shape
        shape = (fan_in, self.units)
        _check_weight_memory("Dense weights", shape, self.dtype)
        if (self.activation or init_for) == "relu":
            self.params["W"] = _he_normal(rng, shape, fan_in, self.dtype)
        else:
            self.params["W"] = _glorot_uniform(rng, shape, fan_in, self.units, self.dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(self.units, dtype=self.dtype)
        return (self.units,)

    def _forward(self, x, act=_OWN):
        if act is _OWN:
            act = self.activation
        z = x @ self.params["W"]
        if self.use_bias:
            z += self.params["b"]
        self._x, self._act = x, act
        self._out = _activation_forward(act, z)
        return self._out

    def _backward(self, grad):
        grad = _activation_backward(self._act, self._out, grad)
        np.matmul(self._x.T, grad, out=self.grads["W"])
        if self.use_bias:
            np.add.reduce(grad, axis=0, out=self.grads["b"])
        if not self._input_grad:
            return None
        return grad @ self.params["W"].T


LAYER_CLASSES = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, ReLU, Sigmoid, Flatten, Dense)}
