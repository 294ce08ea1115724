"""``NeuralNetwork``: a stack of layers trained by mini-batch gradient descent.

    from pyx_cnn import NeuralNetwork, layers
    net = NeuralNetwork([
        layers.Conv2D(8, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(), layers.Dense(10, activation="softmax"),
    ], input_shape=(8, 8, 1), seed=0)
    history = net.fit(X, y, epochs=10, batch_size=32, learning_rate=0.1)

The network holds its layers and hands the work to its parts: the order the
layers run in to a ``Chain`` (``_chain.py``: building, the fusion plan, forward
and backward), the parameters to one flat array (``_parameters.py``), training
to :mod:`pyx_cnn.training_loop`, the model file to
:mod:`pyx_cnn.serialization`, and a dask array to :mod:`pyx_cnn.dask_arrays`
(``_dispatch.py``).
"""
import numpy as np

from . import serialization, training_loop
from .layers.base import check_dtype
from .losses import BinaryCrossEntropy, SoftmaxCrossEntropy, get_loss
from .optim import get_optimizer
from .training_loop import History
from ._batches import check_input_shape, prepare_x, prepare_y, sample_shape
from ._chain import Chain
from ._dispatch import dispatch
from ._fit_arguments import PREVIOUS, resolve_loss
from ._parameters import FlatParameters
from ._thread_policy import holds_blas_to_one_thread
from ._validation import as_array, check_int, check_result_size

__all__ = ["NeuralNetwork", "History"]


class NeuralNetwork:
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
    loss : {None, "cross_entropy", "binary_cross_entropy", "mse"} or Loss, optional
        None picks by target: integer labels train with softmax
        cross-entropy (over the last axis, the class axis), 0/1 labels of a
        one-output network (``Dense(1, activation="sigmoid")``) with binary
        cross-entropy, float targets with mean squared error. A
        :class:`pyx_cnn.losses.Loss` instance (a loss of your own) is used as it is.
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
    epochs_done : int
        Epochs trained so far, over every :meth:`fit` call (saved with the model).
    stop_training : bool
        A callback sets it to end :meth:`fit` after the current epoch.
    """

    def __init__(self, layers, input_shape, seed=None, dtype="float64", loss=None,
                 optimizer="sgd"):
        self._chain = Chain(layers)
        self.layers = self._chain.layers
        self.input_shape = check_input_shape(input_shape)
        self.dtype = check_dtype(dtype)
        self.loss = None if loss is None else get_loss(loss)
        self.optimizer = get_optimizer(optimizer)
        self.seed = seed
        try:
            init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be None, an int >= 0 or a sequence of them, got "
                            f"{type(seed).__name__} {seed!r}") from None
        self.output_shape = self._chain.build(sample_shape(self.input_shape),
                                              np.random.default_rng(init_seq), self.dtype)
        self._params = FlatParameters(self.layers, self.dtype)
        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        self.epochs_done = 0
        self._learning_rate = None   # the rate or schedule of the last fit (saved)
        self.stop_training = False

    # ------------------------------------------------------------ parameters
    @property
    def flat_params(self):
        """Every parameter in one 1-D array, of which each ``layer.params[key]`` is a view,
        in the order of :meth:`get_weights` (no state arrays); writing to it changes
        the weights. An array assigned to ``layer.params[key]`` is copied in first.
        The buffer data-parallel training broadcasts (:mod:`pyx_cnn.mpi`)."""
        self._check_bound()
        return self._params.values

    @property
    def flat_grads(self):
        """Every gradient in one 1-D array laid out as :attr:`flat_params`, filled by the
        backward pass (the buffer data-parallel training averages over the ranks)."""
        return self._params.grads

    @property
    def shuffle_rng(self):
        """The ``numpy.random.Generator`` that shuffles the samples in :meth:`fit`
        (from `seed`; saved with the model). Data-parallel training gives each rank one
        of its own."""
        return self._shuffle_rng

    @shuffle_rng.setter
    def shuffle_rng(self, rng):
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"shuffle_rng must be a numpy.random.Generator, got "
                            f"{type(rng).__name__}")
        self._shuffle_rng = rng

    def count_params(self):
        """Number of trainable values."""
        return int(self._params.values.size)

    def get_weights(self):
        """Copies of the weights, as Keras's ``get_weights``.

        Returns
        -------
        list of ndarray
            Layer by layer, in order: the layer's ``params`` (``W`` then ``b``;
            ``gamma`` then ``beta``), then its ``state`` arrays
            (BatchNormalization's running ``mean`` then ``var``). Layers without
            weights add nothing.
        """
        return self._params.get_weights()

    def set_weights(self, weights):
        """Set the weights from a list as :meth:`get_weights` returns it, each array cast
        to the network's dtype: ``set_weights(other.get_weights())`` makes this network
        predict exactly as `other`, of the same architecture.

        Raises TypeError or ValueError, naming the array and its layer, for a wrong
        count, shape or dtype, before anything is copied (the network stays as it was).
        """
        self._params.set_weights(weights)

    def _check_bound(self):
        """Take in parameter arrays a user assigned since (same shapes required)."""
        self._params.take_in_replaced()

    def _check_grads_written_in_place(self):
        """ValueError naming the layer and key when a backward pass bound a ``grads``
        entry to a new array (the optimiser would never see that gradient)."""
        self._params.check_grads_written_in_place()

    def _prepare_x(self, X, name="X"):
        return prepare_x(X, self.input_shape, self.dtype, name)

    def _prepare_y(self, y, n, name="y"):
        return prepare_y(y, n, self.output_shape, self.dtype, name)

    # ------------------------------------------------------------ inference
    @dispatch("X")
    @holds_blas_to_one_thread
    def predict(self, X, batch_size=256, fuse=True):
        """The last layer's output for every sample.

        Parameters
        ----------
        X : array_like
            A batch ``(N,) + input_shape`` (for a one-channel ``input_shape``
            ``(H, W, 1)``, ``(N, H, W)`` too), or one sample of exactly
            ``input_shape``. A dask array gives a lazy dask array
            (:func:`pyx_cnn.dask_arrays.predict`).
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
        plan = self._chain.plan(fuse=fuse)
        for start in range(0, X.shape[0], batch_size):
            out[start:start + batch_size] = plan.forward(X[start:start + batch_size])
        return out

    @dispatch("X")
    def predict_classes(self, X, batch_size=256, fuse=True):
        """Integer class labels: the arg-max of :meth:`predict` over the last axis.

        For a network with one output (``Dense(1, activation="sigmoid")``), 1
        where ``p > 0.5``, else 0, of shape ``(N,)``. One sample of exactly
        ``input_shape`` gives one label (a 0-d array).

        Returns
        -------
        ndarray of int64
        """
        out = self.predict(X, batch_size, fuse)
        if self.output_shape[-1] == 1:
            # 0.5 for a network ending in a sigmoid (probabilities), 0 for a logit
            threshold = 0.5 if self._chain.final_activation == "sigmoid" else 0.0
            return (out[..., 0] > threshold).astype(np.int64)
        return np.argmax(out, axis=-1).astype(np.int64)

    @dispatch("X", "y")
    @holds_blas_to_one_thread
    def evaluate(self, X, y, batch_size=256, loss=None, fuse=True):
        """Mean loss and accuracy on (X, y).

        Parameters
        ----------
        X : array_like
            A batch, as for :meth:`fit` (dask arrays: :func:`pyx_cnn.dask_arrays.evaluate`).
        y : array_like
            Integer labels or float targets, as for :meth:`fit`.
        batch_size : int, optional
        loss : {None, "cross_entropy", "binary_cross_entropy", "mse"} or Loss, optional
            Overrides the choice by target type (names are case-insensitive).
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
        X = self._prepare_x(X)
        y = self._prepare_y(y, X.shape[0])
        batch_size = check_int(batch_size, "batch_size", 1)
        self._check_bound()
        plan = self._chain.plan(resolve_loss(self, loss, y), fuse)
        return training_loop.evaluate_batches(plan, X, y, batch_size)

    # ------------------------------------------------------------- training
    @holds_blas_to_one_thread
    def fit(self, X, y, epochs=1, batch_size=32, learning_rate=PREVIOUS, *, optimizer=None,
            loss=None, validation_data=None, validation_split=0.0, callbacks=None,
            shuffle=True, verbose=False, fuse=True, comm=None):
        """Train by mini-batch gradient descent, continuing from the current weights.

        Parameters
        ----------
        X : array_like, shape (N, H, W), (N, H, W, C) or (N, features)
            Channels-last.
        y : array_like
            Integer class labels of the output's shape without its last (class)
            axis: ``(N,)`` for an output ``(K,)`` or ``(1, 1, K)``, ``(N, H, W)``
            for a per-pixel output ``(H, W, K)``; 0/1 labels ``(N,)`` for one
            output (``Dense(1, activation="sigmoid")``); or float targets
            ``(N,) + output_shape`` (for one output per position, float
            targets without that last axis too: ``(N,)`` as ``(N, 1)``).
        epochs : int, optional
        batch_size : int, optional
            The last batch of an epoch may be smaller.
        learning_rate : float or schedule, optional
            A finite real number >= 0, or a schedule (:mod:`pyx_cnn.schedules`,
            or any callable ``epoch -> rate``, epochs counted from 0 and
            continuing across ``fit`` calls). By default, the rate or schedule
            of the previous ``fit`` call (saved by :meth:`save`, so ``fit``
            after :meth:`load` continues a schedule with its state); 0.01 at first.
        optimizer : str or optimiser instance, optional
            ``"sgd"``, ``"momentum"``, ``"rmsprop"``, ``"adam"``, ``"adamw"`` or a
            :mod:`pyx_cnn.optim` instance. Replaces the network's optimiser (its
            state restarts). Names are case-insensitive.
        loss : {"cross_entropy", "binary_cross_entropy", "mse"} or Loss, optional
            Overrides the choice by target type (case-insensitive), for this
            call; a :class:`pyx_cnn.losses.Loss` instance trains with a loss of
            your own.
        validation_data : (X_val, y_val), optional
            Evaluated after each epoch into ``val_loss`` / ``val_accuracy``.
        validation_split : float, optional
            In [0, 1): hold out the last fraction of the samples (before any
            shuffling, as Keras) as validation data. Ignored when
            `validation_data` is given.
        callbacks : list of pyx_cnn.callbacks.Callback, optional
            Called at the start and end of training, after each batch and
            after each epoch (:mod:`pyx_cnn.callbacks`).
        shuffle : bool, optional
            Reshuffle the samples every epoch (with :attr:`shuffle_rng`).
        verbose : bool, optional
            Show a tqdm progress bar advancing per batch, with the running
            loss and accuracy, samples per second and the time left.
        fuse : bool, optional
            Run the layers by the fusion plan (:mod:`pyx_cnn.fusion`); False runs
            every layer's own forward and backward, with the same results.
        comm : mpi4py communicator, optional
            Train data-parallel over its ranks (:mod:`pyx_cnn.mpi`): every rank
            passes its own shard of the same N (`batch_size` is per rank), rank
            0's weights are broadcast, each step averages the gradients with one
            allreduce, and the result equals one process training on the same
            global batches. An argument refused on one rank, or differing
            between ranks, is refused on every rank (naming the rank); once
            training has started, an exception on one rank ends the job.

        Returns
        -------
        History

        Raises
        ------
        TypeError, ValueError
            For a bad argument, naming it. Every argument is checked before
            anything changes: a refused call leaves the weights, the optimiser
            (and its state) and the epoch count as they were. With `comm`, on
            every rank (see `comm`).
        FloatingPointError
            When a batch's loss or gradient is not finite (a NaN or inf in
            `X` or `y`, or a learning rate too large). The message names the
            epoch and the batch, both counted from 1 within this call. That
            batch's update is not applied: the weights and the optimiser's
            state are those from before it (the earlier batches and epochs of
            this call stay applied).
        ValueError
            When a layer's backward pass bound a ``grads`` entry to a new array
            instead of writing into it (``self.grads[key][...] = value``):
            checked after the first backward pass of each call, before any
            update; the message names the layer and the key.
        """
        return training_loop.fit(
            self, X, y, epochs, batch_size, learning_rate, optimizer=optimizer, loss=loss,
            validation_data=validation_data, validation_split=validation_split,
            callbacks=callbacks, shuffle=shuffle, verbose=verbose, fuse=fuse, comm=comm)

    @holds_blas_to_one_thread
    def gradient_descent(self, learning_rate, x, y, iterations):
        """Full-batch gradient descent, as in the companion article.

        Each iteration runs the whole of `x` forward, takes the loss (chosen
        as in :meth:`fit`), runs backward and updates every weight by
        ``-learning_rate * gradient``.

        Parameters
        ----------
        learning_rate : float
            A finite real number >= 0.
        x : array_like, shape (N, H, W), (N, H, W, C) or (N, features)
        y : array_like
            Integer labels or float targets, as for :meth:`fit`.
        iterations : int

        Returns
        -------
        losses : ndarray, shape (iterations,)
            The loss at each iteration, before its update.

        Raises
        ------
        TypeError, ValueError
            For a bad argument (checked before any update).
        FloatingPointError
            When an iteration's loss or gradient is not finite; the message
            names the iteration (counted from 1) and its update is not
            applied.
        ValueError
            When a layer's backward pass bound a ``grads`` entry to a new
            array (as :meth:`fit`; checked after the first backward pass).
        """
        return training_loop.gradient_descent(self, learning_rate, x, y, iterations)

    # ---------------------------------------------------------------- files
    def save(self, path):
        """Write architecture, weights and training state to one ``.npz`` file (no pickle).

        The file holds the architecture as a JSON string and one array per
        weight, named ``layers.<i>.<key>``, with everything resuming training
        needs: layer states, the optimiser's state, the epoch count, the
        shuffling generator and the learning-rate schedule (see
        :mod:`pyx_cnn.serialization`; a loss or schedule of your own is not saved).
        `path` is a str, a path-like or a binary file object (``io.BytesIO``).
        """
        serialization.save(self, path)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save`.

        `path` is a str, a path-like or a binary file object open for reading
        (``open(name, "rb")``, ``io.BytesIO``), as :meth:`save` takes. Raises
        FileNotFoundError; TypeError naming `path` for anything else; ValueError
        naming the file when it is not a readable pyx_cnn model
        (:func:`pyx_cnn.serialization.load`).
        """
        return serialization.load(path, cls)

    def to_onnx(self, path, opset=17):
        """Write the network as an ONNX model (see :func:`pyx_cnn.onnx.to_onnx`)."""
        from . import onnx as _onnx

        return _onnx.to_onnx(self, path, opset)

    @classmethod
    def from_onnx(cls, path):
        """Read an ONNX model of supported operators (see :func:`pyx_cnn.onnx.from_onnx`)."""
        from . import onnx as _onnx

        return _onnx.from_onnx(path)

    # -------------------------------------------------------------- display
    def summary(self, print_fn=print):
        """A table of layers, output shapes, parameter counts and fusions, as Keras's ``summary``.

        The last column names the fusion rule each layer runs by in ``fit``
        and ``evaluate`` (:mod:`pyx_cnn.fusion`), for the network's loss, or
        when it has none, for the loss ``fit`` picks for labels: binary
        cross-entropy after a final sigmoid, cross-entropy after a final
        softmax. A line under the table says when that final activation is
        left to the loss (rule ``sigmoid_into_loss`` or ``softmax_into_loss``).

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
        text = _summary_table(self)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"NeuralNetwork([{inner}], input_shape={self.input_shape})"


def _summary_loss(net):
    """The loss whose plan the summary shows: the network's own, else the one ``fit``
    picks for the labels of a network ending in a sigmoid (binary cross-entropy) or a
    softmax (cross-entropy), else None (no final activation for a loss to take over)."""
    if net.loss is not None:
        return net.loss
    activation = net._chain.final_activation
    if activation == "sigmoid":
        return BinaryCrossEntropy()
    if activation == "softmax":
        return SoftmaxCrossEntropy()
    return None


def _summary_footnote(rows, loss, own_loss):
    """The lines under the table: where the rules are described (when a layer runs
    fused) and, when the last activation is left to the loss, to which loss."""
    if not any(row[3] for row in rows):
        return []
    lines = ["(fusion rules: pyx_cnn.fusion)"]
    if rows[-1][3].endswith("_into_loss"):
        if own_loss:
            whose = f"the network's loss {loss.name!r}"
        else:
            whose = f"the loss {loss.name!r} (the default for this output)"
        lines.append(f"(fit and evaluate leave the final {loss.activation} to {whose}, "
                     "which takes the logits)")
    return lines


def _summary_table(net):
    """The text of :meth:`NeuralNetwork.summary`."""
    loss = _summary_loss(net)
    layer_rows = net._chain.summary_rows(loss)
    rows = [("Layer", "Output shape", "Params", "Runs fused by")] + layer_rows
    widths = [max(len(r[j]) for r in rows) for j in range(4)]
    line = "-" * (sum(widths) + 6)
    fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}  {{:<{widths[3]}}}"
    text = [f"NeuralNetwork: input {(None,) + net.input_shape}, dtype {net.dtype}",
            line, fmt.format(*rows[0]), line]
    text += [fmt.format(*r) for r in rows[1:]]
    text += [line, f"Total params: {net.count_params()}"]
    text += _summary_footnote(layer_rows, loss, own_loss=net.loss is not None)
    return "\n".join(text)
