"""``NeuralNetwork``: a stack of layers trained by mini-batch gradient descent.

    from pyx_cnn import NeuralNetwork, layers
    net = NeuralNetwork([
        layers.Conv2D(8, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(), layers.Dense(10, activation="softmax"),
    ], input_shape=(8, 8, 1), seed=0)
    history = net.fit(X, y, epochs=10, batch_size=32, learning_rate=0.1)

The model lives here (building, predict, evaluate, summary); training in
:mod:`pyx_cnn.training_loop`, the model file in :mod:`pyx_cnn.serialization`,
the fusion plan in :mod:`pyx_cnn.fusion`, the flat parameter arrays in
:mod:`pyx_cnn._parameters`.
"""
import numpy as np

from . import fusion
from . import layers as _layers
from .layers.base import check_dtype
from .losses import BinaryCrossEntropy, SoftmaxCrossEntropy, get_loss
from .optim import get_optimizer
from .serialization import SerializationMixin
from .training_loop import (
    History, TrainingMixin, accuracy_labels, loss_value_grad,
    resolve_loss,
)
from ._batches import prepare_x, prepare_y, sample_shape
from ._parameters import FlatParameters
from ._thread_policy import holds_blas_to_one_thread
from ._validation import is_dask_array, as_array, check_int, check_result_size

__all__ = ["NeuralNetwork", "History"]


def _dask():
    from . import dask_arrays

    return dask_arrays


def _binary_threshold(net):
    """0.5 for a network ending in a sigmoid (probabilities), 0 for a logit."""
    return 0.5 if getattr(net.layers[-1], "activation", None) == "sigmoid" else 0.0


def _check_input_shape(input_shape):
    """`input_shape` as a tuple of ints >= 1 (an int means ``(features,)``)."""
    expected = "a tuple of ints >= 1, (H, W), (H, W, C) or (features,)"
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if isinstance(input_shape, np.ndarray):
        input_shape = input_shape.tolist()
    if not isinstance(input_shape, (tuple, list)):
        given = "None" if input_shape is None else \
            f"{type(input_shape).__name__} {input_shape!r}"
        raise TypeError(f"input_shape must be {expected}, got {given}")
    for size in input_shape:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"input_shape must be {expected}, got {input_shape!r} "
                            f"(holding {type(size).__name__} {size!r})")
    if len(input_shape) not in (1, 2, 3) or min(input_shape) < 1:
        raise ValueError(f"input_shape must be {expected}, got "
                         f"{tuple(int(s) for s in input_shape)}")
    return tuple(int(s) for s in input_shape)


class NeuralNetwork(TrainingMixin, SerializationMixin):
    """A sequential network of :mod:`pyx_cnn.layers`.

    Parameters
    ----------
    layers : list of Layer
        Applied in order. Each is built here for the shapes flowing through.
    input_shape : tuple of int
        One sample's shape: ``(H, W)`` or ``(H, W, C)`` for images (``(H, W)``
        meaning one channel), or ``(features,)`` for a network of Dense layers.
    seed : int, optional
        Seeds the initial weights and the shuffling in :meth:`fit`.
    dtype : {"float64", "float32"}, optional
        Dtype of the parameters and of the computation.
    loss : {None, "cross_entropy", "binary_cross_entropy", "mse"} or loss instance, optional
        None picks by target: integer labels train with softmax
        cross-entropy (over the last axis, the class axis), 0/1 labels of a
        one-output network (``Dense(1, activation="sigmoid")``) with binary
        cross-entropy, float targets with mean squared error.
    optimizer : {"sgd", "momentum", "rmsprop", "adam", "adamw"} or optimiser instance, optional
        An instance of :mod:`pyx_cnn.optim` (``SGD(momentum=0.9, nesterov=True)``,
        ``AdamW(weight_decay=0.05)``, ...) or a name for its defaults.

    Notes
    -----
    Names (``loss``, ``optimizer``, a layer's ``activation``) are
    case-insensitive and stored in lower case, so ``"Adam"`` is ``"adam"`` and
    :meth:`save` writes the canonical name.

    Attributes
    ----------
    layers : list of Layer
    output_shape : tuple of int
        One sample's output shape.
    """

    def __init__(self, layers, input_shape, seed=None, dtype="float64", loss=None,
                 optimizer="sgd"):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, _layers.Layer):
                raise TypeError(f"layers[{i}] must be a pyx_cnn.layers layer, "
                                f"got {type(layer).__name__}")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("layers must not hold the same layer object twice")
        self.input_shape = input_shape = _check_input_shape(input_shape)
        self._sample_shape = sample_shape(input_shape)
        self.dtype = check_dtype(dtype)
        self.loss = None if loss is None else get_loss(loss)
        self.optimizer = get_optimizer(optimizer)
        self.seed = seed
        try:
            init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be None, an int >= 0 or a sequence of them, got "
                            f"{type(seed).__name__} {seed!r}") from None
        self._shuffle_rng = np.random.default_rng(shuffle_seq)
        rng = np.random.default_rng(init_seq)
        shape = self._sample_shape
        for i, layer in enumerate(layers):
            following = layers[i + 1] if i + 1 < len(layers) else None
            init_for = following.activation if isinstance(
                following, _layers.ActivationLayer) else None
            try:
                shape = layer.build(shape, rng=rng, dtype=self.dtype, init_for=init_for)
            except ValueError as exc:
                raise ValueError(f"layers[{i}] ({type(layer).__name__}): {exc}") from None
        self.layers = layers
        self.output_shape = shape
        self._params = FlatParameters(layers, self.dtype)
        self._flat, self._flat_grad = self._params.values, self._params.grads
        self._bound = self._params.bound
        self._epochs_done = 0
        self._learning_rate = None   # the rate or schedule of the last fit (saved)
        self.stop_training = False   # a callback sets it to end fit after the epoch

    # ------------------------------------------------------------ parameters
    def _check_bound(self):
        """Take in parameter arrays a user assigned since (same shapes required)."""
        self._params.take_in_replaced()

    def count_params(self):
        """Number of trainable values."""
        return int(self._flat.size)

    def _prepare_x(self, X, name="X"):
        return prepare_x(X, self.input_shape, self.dtype, name)

    def _prepare_y(self, y, n, name="y"):
        return prepare_y(y, n, self.output_shape, self.dtype, name)

    def _steps(self, loss_fn=None, fuse=True):
        """The fusion plan; a final softmax (sigmoid) is left to a cross-entropy
        (binary cross-entropy) loss when fused."""
        final = fusion.final_activation(self.layers)
        logits = fuse and ((isinstance(loss_fn, SoftmaxCrossEntropy) and final == "softmax")
                           or (isinstance(loss_fn, BinaryCrossEntropy) and final == "sigmoid"))
        return fusion.plan(self.layers, fuse, logits)

    # ------------------------------------------------------------------- API
    @holds_blas_to_one_thread
    def predict(self, X, batch_size=256, fuse=True):
        """The last layer's output for every sample.

        Parameters
        ----------
        X : array_like
            A batch ``(N,) + input_shape`` (for a one-channel ``input_shape``
            ``(H, W, 1)``, ``(N, H, W)`` too), or one sample of exactly
            ``input_shape``.
        batch_size : int, optional
            Samples per forward pass (bounds the memory used).
        fuse : bool, optional
            Run the layers by the fusion plan (:mod:`pyx_cnn.fusion`); False runs
            every layer's own forward pass, with the same results.

        Returns
        -------
        ndarray
            ``(N,) + output_shape`` for a batch; ``output_shape`` (no batch
            axis) for one sample of exactly ``input_shape``. For
            ``input_shape=(H, W)`` a 3-D ``(N, H, W)`` input is a batch and a
            2-D ``(H, W)`` input one sample.
        """
        if is_dask_array(X):   # a lazy result over the chunks (pyx_cnn.dask_arrays)
            return _dask().predict(self, X, batch_size, fuse)
        one = isinstance(X, np.ndarray) and X.shape == self.input_shape
        if not one and not isinstance(X, np.ndarray):
            X = as_array(X, "X")
            one = X.shape == self.input_shape
        if one:
            return self.predict(X[np.newaxis], batch_size, fuse)[0]
        X = self._prepare_x(X)
        batch_size = check_int(batch_size, "batch_size", 1)
        self._check_bound()
        check_result_size("predict", ((X.shape[0],) + self.output_shape, self.dtype))
        out = np.empty((X.shape[0],) + self.output_shape, dtype=self.dtype)
        steps = fusion.plan(self.layers, fuse)
        for start in range(0, X.shape[0], batch_size):
            x = X[start:start + batch_size]
            for step in steps:
                x = step.forward(x, False)
            out[start:start + batch_size] = x
        return out

    def predict_classes(self, X, batch_size=256, fuse=True):
        """Integer class labels: the arg-max of :meth:`predict` over the last axis.

        For a network with one output (``Dense(1, activation="sigmoid")``), 1
        where ``p > 0.5``, else 0, of shape ``(N,)``. One sample of exactly
        ``input_shape`` gives one label (a 0-d array).

        Returns
        -------
        ndarray of int64
        """
        if is_dask_array(X):
            return _dask().predict_classes(self, X, batch_size, fuse)
        out = self.predict(X, batch_size, fuse)
        if self.output_shape[-1] == 1:
            return (out[..., 0] > _binary_threshold(self)).astype(np.int64)
        return np.argmax(out, axis=-1).astype(np.int64)

    def _evaluate(self, X, y, loss_fn, batch_size=256, fuse=True):
        steps = self._steps(loss_fn, fuse)
        acc_labels = accuracy_labels(y, loss_fn)
        total, correct = 0.0, 0
        for start in range(0, X.shape[0], batch_size):
            stop = start + batch_size
            out = X[start:stop]
            for step in steps:
                out = step.forward(out, False)
            value, _, hits = loss_value_grad(
                loss_fn, steps, self.layers, out, y[start:stop],
                None if acc_labels is None else acc_labels[start:stop])
            total += value * out.shape[0]
            if acc_labels is not None:
                correct += hits
        scores = {"loss": total / X.shape[0]}
        if acc_labels is not None:
            scores["accuracy"] = correct / X.shape[0]
        return scores

    @holds_blas_to_one_thread
    def evaluate(self, X, y, batch_size=256, loss=None, fuse=True):
        """Mean loss and accuracy on (X, y).

        Parameters
        ----------
        X : array_like
            A batch, as for :meth:`fit`.
        y : array_like
            Integer labels or float targets, as for :meth:`fit`.
        batch_size : int, optional
        loss : {None, "cross_entropy", "mse"}, optional
            Overrides the choice by target type (case-insensitive).
        fuse : bool, optional
            As for :meth:`predict`.

        Returns
        -------
        scores : dict
            ``{"loss": float, "accuracy": float}``. The loss is the mean over
            every row of the output's last (class) axis: over ``N*H*W``
            positions for a per-pixel output. Accuracy is the fraction of those
            rows whose arg-max is the label (or the arg-max of the target row);
            it is left out for single-output regression targets and for
            image-shaped mean-squared-error targets.
        """
        if is_dask_array(X) or is_dask_array(y):
            return _dask().evaluate(self, X, y, batch_size, loss, fuse)
        X = self._prepare_x(X)
        y = self._prepare_y(y, X.shape[0])
        batch_size = check_int(batch_size, "batch_size", 1)
        self._check_bound()
        return self._evaluate(X, y, resolve_loss(self, loss, y), batch_size, fuse)

    def to_onnx(self, path, opset=17):
        """Write the network as an ONNX model (see :func:`pyx_cnn.onnx.to_onnx`)."""
        from . import onnx as _onnx

        return _onnx.to_onnx(self, path, opset)

    @classmethod
    def from_onnx(cls, path):
        """Read an ONNX model of supported operators (see :func:`pyx_cnn.onnx.from_onnx`)."""
        from . import onnx as _onnx

        return _onnx.from_onnx(path)

    def summary(self, print_fn=print):
        """A table of layers, output shapes, parameter counts and fusions, as Keras's ``summary``.

        Parameters
        ----------
        print_fn : callable or None, optional
            Called with the table as one string (``print`` by default). With
            None, nothing is printed and the table is returned.

        Returns
        -------
        str or None
            The table when `print_fn` is None, else None (so a REPL or a
            notebook does not show it twice).
        """
        if print_fn is not None and not callable(print_fn):
            raise TypeError(f"print_fn must be callable or None, got {type(print_fn).__name__}")
        fused = {}
        for step in fusion.plan(self.layers, logits=fusion.ends_in_softmax(self.layers)):
            for i in step.layers:
                fused[i] = step.rule
        rows = [("Layer", "Output shape", "Params", "Runs fused by")]
        for i, layer in enumerate(self.layers):
            rows.append((f"{i}: {type(layer).__name__}", str((None,) + tuple(layer.output_shape)),
                         str(layer.count_params()), fused.get(i, "")))
        widths = [max(len(r[j]) for r in rows) for j in range(4)]
        line = "-" * (sum(widths) + 6)
        fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}  {{:<{widths[3]}}}"
        text = [f"NeuralNetwork: input {(None,) + self.input_shape}, dtype {self.dtype}",
                line, fmt.format(*rows[0]), line]
        text += [fmt.format(*r) for r in rows[1:]]
        text += [line, f"Total params: {self.count_params()}",
                 "(fusion rules: pyx_cnn.fusion; the softmax is left to a cross-entropy loss)"]
        text = "\n".join(text)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"NeuralNetwork([{inner}], input_shape={self.input_shape})"
