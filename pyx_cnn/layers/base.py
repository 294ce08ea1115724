"""The base class of every layer: shapes, validation, ``params`` / ``grads``."""
import numpy as np

from .._thread_policy import one_blas_thread
from .._validation import (
    as_array, as_kernel_array, check_result_size, needs_kernel_copy, shape_str, working_dtype,
)
from ..ops.activations import get_activation
from .input import call_symbolic

__all__ = ["Layer", "LAYER_CLASSES", "check_dtype", "init_weights"]

#: every layer class by its class name: what a model file names, and what
#: :meth:`NeuralNetwork.load <pyx_cnn.NeuralNetwork.load>` and
#: :func:`pyx_cnn.onnx.from_onnx` build. Each subclass of :class:`Layer` enters
#: it when it is defined (see :meth:`Layer.__init_subclass__`).
LAYER_CLASSES = {}

#: the modules of the built-in layers, whose class names no other class may take
_BUILT_IN_MODULE = "pyx_cnn.layers."


def check_dtype(dtype):
    """float32 or float64 as a numpy dtype; TypeError otherwise."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def init_weights(rng, shape, fan_in, fan_out, activation, dtype):
    """Initial weights suiting the activation that follows (its registry entry's
    ``init``): He normal ``std = sqrt(2 / fan_in)`` or Glorot uniform
    ``limit = sqrt(6 / (fan_in + fan_out))``.

    Raises MemoryError before drawing weights that cannot fit (an absurd
    configuration, or a crafted model file): the float64 draw, the weights,
    their gradients and a network's flat copies of both.
    """
    check_result_size("weights", (shape, np.float64), *[(shape, dtype)] * 4)
    if get_activation(activation).init == "he":
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def _attributes(layer):
    """A layer's attributes, with the contents of its dicts (``params``...) copied."""
    return {k: (v, dict(v) if isinstance(v, dict) else None) for k, v in vars(layer).items()}


def _restore_attributes(layer, saved):
    """Put back what :func:`_attributes` saved (the same dict objects, refilled)."""
    for key in [k for k in vars(layer) if k not in saved]:
        delattr(layer, key)
    for key, (value, contents) in saved.items():
        if contents is not None:
            value.clear()
            value.update(contents)
        setattr(layer, key, value)


class Layer:
    """Base class: shape bookkeeping, validation, ``params`` / ``grads``.

    Subclasses implement ``_build(input_shape, rng, init_for)``,
    ``_forward(x, training)`` and ``_backward(grad)`` on validated,
    C-contiguous arrays of the layer's dtype, each calling its op's
    ``forward`` / ``backward`` (:mod:`pyx_cnn.ops`) and keeping what the op
    saved; the public ``forward`` and ``backward`` validate, then call them.
    A network runs a layer that is not fused with a neighbour through the
    public methods too (``validate=False``), so a breakpoint in ``forward`` or
    ``backward`` stops in ``fit`` and ``predict``; for fused layers see
    :mod:`pyx_cnn.fusion`.

    A layer of your own follows the same rules:

    - ``__init__`` calls ``super().__init__()``, and ``get_config()`` returns
      the constructor's arguments (a JSON-ready dict): a model file stores the
      class name and this dict, and ``load`` calls ``YourLayer(**config)``.
    - ``_backward`` writes each weight's gradient **into** the existing array:
      ``self.grads["alpha"][...] = value``. In a network each ``params``
      entry is a view into one flat array of values and each ``grads`` entry
      a view into one flat array of gradients, which the optimiser reads;
      ``self.grads["alpha"] = value`` would bind a new array that the
      optimiser never sees, so ``fit`` and ``gradient_descent`` refuse it
      with a ValueError after their first backward pass.
    - Defining the class registers it by its name in :data:`LAYER_CLASSES`, so
      a network saved with it loads wherever the class is defined or
      imported (also in the workers of :func:`pyx_cnn.dask_arrays.predict`).
      The name must not be a built-in layer's (``Dense``, ``ReLU``...): the
      class statement raises a TypeError. A later class of the same name
      replaces an earlier one (as when a notebook cell runs again). A base
      class that is not meant to be saved stays out with
      ``class Base(Layer, register=False)``.
    """

    def __init_subclass__(cls, register=True, **kwargs):
        """Register the new class in :data:`LAYER_CLASSES` under its name (unless
        ``register=False``); TypeError when the name is a built-in layer's."""
        super().__init_subclass__(**kwargs)
        if not register:
            return
        name = cls.__name__
        taken = LAYER_CLASSES.get(name)
        if (taken is not None and taken.__module__.startswith(_BUILT_IN_MODULE)
                and (taken.__module__, taken.__qualname__) != (cls.__module__,
                                                              cls.__qualname__)):
            raise TypeError(
                f"a layer class cannot be named {name!r}: that is the built-in layer "
                f"pyx_cnn.layers.{name}, which model files name so; give your class "
                f"another name (such as 'My{name}'), or pass register=False to leave "
                "it out of the layer registry (then a network holding it cannot be "
                "loaded from a file)")
        LAYER_CLASSES[name] = cls

    #: number of dimensions of one input sample, or None for any
    sample_ndim = None
    #: False when a network's backward pass needs no ``dL/d(input)`` from this layer
    #: (NeuralNetwork sets it on its first layer, whose input is the data); the
    #: public :meth:`backward` always returns it
    needs_input_grad = True

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.input_shape = None
        self.output_shape = None
        self.dtype = None
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
        init_for : str, optional
            The activation that follows when the layer has none of its own
            (its registry entry picks He or Glorot initialisation).

        Returns
        -------
        output_shape : tuple of int
        """
        input_shape = tuple(int(s) for s in input_shape)
        if self.sample_ndim is not None and len(input_shape) != self.sample_ndim:
            raise ValueError(
                f"{type(self).__name__} expects samples with {self.sample_ndim} dimension(s), "
                f"got input shape {shape_str(input_shape)}"
                + (" (add a Flatten layer before Dense)" if self.sample_ndim == 1 else "")
            )
        if any(s < 1 for s in input_shape):
            raise ValueError(f"{type(self).__name__}: input shape {shape_str(input_shape)} "
                             "has an empty axis")
        before = _attributes(self)
        try:
            self.dtype = check_dtype(dtype)
            rng = np.random.default_rng(rng)
            self.input_shape = input_shape
            self.output_shape = tuple(self._build(input_shape, rng, init_for))
        except BaseException:      # a refused build leaves the layer as it was
            _restore_attributes(self, before)
            raise
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
    def forward(self, x, training=False, *, validate=True):
        """Output for a batch `x` (see the module docstring for shapes).

        Parameters
        ----------
        x : array_like, shape (N,) + input_shape
        training : bool, optional
            True while a network trains (only ``Dropout`` and
            ``BatchNormalization`` behave differently).
        validate : bool, optional
            False skips the checks and conversions of `x` and of the
            parameters, and runs ``_forward`` directly: for a caller that has
            made `x` a C-contiguous array of the layer's dtype and input shape,
            as a :class:`~pyx_cnn.NeuralNetwork` does for every layer that runs
            on its own in ``fit``, ``predict`` and ``evaluate`` (a breakpoint
            here stops there too). Unchecked input can crash a kernel.

        Returns
        -------
        out : ndarray, shape (N,) + output_shape
            A new array (unchecked: possibly `x` itself, for a layer that
            passes its input on).
        """
        if not validate:   # a network's plan: the batch is checked once, before the layers
            return self._forward(x, training)
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
        x = as_kernel_array(x, self.dtype)
        with one_blas_thread():
            out = self._forward(x, training=bool(training))
        return out.copy() if out is x else out   # a new array, never the input itself

    def _work_buffers(self, n):
        """(shape, dtype) of the arrays a forward pass of `n` samples allocates
        besides its output (for the memory check)."""
        return []

    def backward(self, grad_out, *, validate=True):
        """``dL/d(input)`` from ``dL/d(output)``; fills ``grads`` for weights.

        Parameters
        ----------
        grad_out : array_like, the shape of the last forward output
        validate : bool, optional
            False skips the checks of `grad_out` (then a C-contiguous array of
            the layer's dtype) and of the parameters, and runs ``_backward``
            directly, as a network does in ``fit``; then the input gradient is
            left out (None) when ``needs_input_grad`` is False (a network's
            first layer).

        Returns
        -------
        grad_x : ndarray, the shape of the last forward input
        """
        if not validate:
            return self._backward(grad_out)
        if self._out is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad_out = as_array(grad_out, "grad_out")
        if grad_out.shape != self._out.shape:
            raise ValueError(
                f"grad_out must have the shape of the last forward output "
                f"{shape_str(self._out.shape)}, got {shape_str(grad_out.shape)}"
            )
        saved, self.needs_input_grad = self.needs_input_grad, True
        try:
            self._check_params(with_grads=True)
            with one_blas_thread():
                return self._backward(as_kernel_array(grad_out, self.dtype))
        finally:
            self.needs_input_grad = saved

    #: True for a layer called on a list of tensors (the merge layers ``Add``, ``Concatenate``)
    takes_list = False

    def __call__(self, inputs):
        """Call the layer on a symbolic tensor (a list of them for a merge layer) to record
        a graph: returns the output :class:`~pyx_cnn.layers.input.SymbolicTensor`, whose
        shape is known (see :func:`pyx_cnn.layers.Input`). Arrays are run with
        :meth:`forward`: calling a layer on one is a TypeError."""
        return call_symbolic(self, inputs)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
