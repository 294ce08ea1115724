"""``NeuralNetwork``: a stack of layers trained by mini-batch gradient descent.

    from pyx_cnn import NeuralNetwork, layers
    net = NeuralNetwork([
        layers.Conv2D(8, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(), layers.Dense(10, activation="softmax"),
    ], input_shape=(8, 8, 1), seed=0)
    history = net.fit(X, y, epochs=10, batch_size=32, learning_rate=0.1)

All parameters live in one flat array (each layer's ``params[...]`` is a view
into it) and all gradients in another, so an optimiser step is a few
vectorised operations, whatever the number of layers.
"""
import json
import math
import os
import zipfile
from functools import partial

import numpy as np

from . import layers as _layers
from .losses import MeanSquaredError, SoftmaxCrossEntropy, get_loss
from .optim import SGD, get_optimizer
from ._thread_policy import holds_blas_to_one_thread
from ._validation import (
    as_array, as_kernel_array, check_int, check_labels, check_learning_rate, check_result_size,
    needs_kernel_copy, shape_str,
)

__all__ = ["NeuralNetwork", "History"]

_ARCH_KEY = "__pyx_cnn_architecture__"
_FORMAT = "pyx_cnn.NeuralNetwork"
_FORMAT_VERSION = 1


def _non_finite_message(what, where):
    """`where`: (epoch, batch, of batches) from fit, an iteration from gradient_descent (1-based)."""
    if isinstance(where, tuple):
        where = f"epoch {where[0]}, batch {where[1]} of {where[2]} (counted from 1 in this fit call)"
    elif where is not None:
        where = f"iteration {where} (counted from 1)"
    return (f"{where or 'the batch'}: the {what} (a NaN or inf in the inputs or targets, or a "
            "learning rate too large); training stopped before this batch's update, the "
            "weights and optimiser state are those from before it")


def _batch_str(shape):
    """``(N, 6, 6)`` for a batch of samples of `shape`."""
    return "(N" + "".join(f", {s}" for s in shape) + (")" if shape else ",)")


class History:
    """What :meth:`NeuralNetwork.fit` returns, as Keras does.

    Attributes
    ----------
    history : dict of str -> list of float
        ``"loss"`` and, when known, ``"accuracy"``, ``"val_loss"``,
        ``"val_accuracy"``: one value per epoch. ``loss`` and ``accuracy`` are
        the means over the epoch's mini-batches, measured while training.
    epoch : list of int
        The epoch numbers (continuing over successive ``fit`` calls).
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def _append(self, epoch, values):
        self.epoch.append(epoch)
        for key, value in values.items():
            self.history.setdefault(key, []).append(float(value))

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


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
    loss : {None, "cross_entropy", "mse"}, optional
        None picks by target: integer labels train with softmax
        cross-entropy (over the last axis, the class axis), float targets with
        mean squared error.
    optimizer : {"sgd", "momentum", "adam"} or optimiser instance, optional

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
        if isinstance(input_shape, (int, np.integer)):
            input_shape = (input_shape,)
        input_shape = tuple(check_int(s, "input_shape", 1) for s in input_shape)
        if len(input_shape) not in (1, 2, 3):
            raise ValueError("input_shape must be (H, W), (H, W, C) or (features,), "
                             f"got {input_shape}")
        self.input_shape = input_shape
        self._sample_shape = input_shape + (1,) if len(input_shape) == 2 else input_shape
        self.dtype = _layers._check_dtype(dtype)
        self.loss = None if loss is None else get_loss(loss)
        self.optimizer = get_optimizer(optimizer)
        self.seed = seed
        init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
        self._shuffle_rng = np.random.default_rng(shuffle_seq)
        rng = np.random.default_rng(init_seq)
        shape = self._sample_shape
        for i, layer in enumerate(layers):
            following = layers[i + 1] if i + 1 < len(layers) else None
            init_for = getattr(following, "activation", None) if isinstance(
                following, _layers._Activation) else None
            try:
                shape = layer.build(shape, rng=rng, dtype=self.dtype, init_for=init_for)
            except ValueError as exc:
                raise ValueError(f"layers[{i}] ({type(layer).__name__}): {exc}") from None
        self.layers = layers
        self.output_shape = shape
        self._bind_params()
        self._epochs_done = 0

    # ------------------------------------------------------------ parameters
    def _bind_params(self):
        """Move every parameter and gradient into one flat array each (views)."""
        entries = [(layer, key) for layer in self.layers for key in layer.params]
        total = sum(layer.params[key].size for layer, key in entries)
        self._flat = np.empty(total, dtype=self.dtype)
        self._flat_grad = np.zeros(total, dtype=self.dtype)
        self._bound = []
        offset = 0
        for layer, key in entries:
            value = layer.params[key]
            view = self._flat[offset:offset + value.size].reshape(value.shape)
            grad = self._flat_grad[offset:offset + value.size].reshape(value.shape)
            view[...] = value
            layer.params[key], layer.grads[key] = view, grad
            self._bound.append((layer, key, view, grad))
            offset += value.size

    def _check_bound(self):
        """Take in parameter arrays a user assigned since (same shapes required).

        Every replaced array is checked before any is copied, so a refusal
        leaves the network as it was.
        """
        replaced = []
        for layer, key, view, grad in self._bound:
            for store, target in ((layer.params, view), (layer.grads, grad)):
                value = store[key]
                if value is not target:
                    value = np.asarray(value)
                    if value.shape != target.shape:
                        raise ValueError(
                            f"{type(layer).__name__} {key} must keep shape "
                            f"{shape_str(target.shape)}, got {shape_str(value.shape)}")
                    try:
                        value = value.astype(target.dtype, copy=False)
                    except (TypeError, ValueError) as exc:
                        raise TypeError(f"{type(layer).__name__} {key} must hold real "
                                        f"numbers: {exc}") from None
                    replaced.append((store, key, target, value))
        for store, key, target, value in replaced:
            target[...] = value
            store[key] = target

    def count_params(self):
        """Number of trainable values."""
        return int(self._flat.size)

    # ----------------------------------------------------------------- inputs
    def _prepare_x(self, X, name="X"):
        """`X` as a C-contiguous batch of the network's dtype, ``(N,) + sample shape``."""
        X = as_array(X, name)
        sample = self._sample_shape
        given = X.shape
        if len(sample) == 3 and sample[2] == 1 and X.ndim == 3:
            X = X[..., np.newaxis]
        if X.ndim != len(sample) + 1 or X.shape[1:] != sample or X.shape[0] < 1:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(
                f"{name} must be a non-empty batch of shape (N, {expected})"
                + (f" or (N, {sample[0]}, {sample[1]})" if sample[-1:] == (1,) and len(sample) == 3
                   else "")
                + f", got {shape_str(given)}" + self._shape_hint(given))
        if needs_kernel_copy(X, self.dtype):
            check_result_size(name, (X.shape, self.dtype))
        return as_kernel_array(X, self.dtype)

    def _shape_hint(self, shape):
        """A hint for a common mistake behind a refused input shape, or ""."""
        sample = self._sample_shape
        if len(sample) == 3:
            h, w, c = sample
            if len(shape) == 4 and shape[1:] == (c, h, w) != sample:
                return (": this looks like a channels-first (NCHW) batch; pyx_cnn is "
                        "channels-last: use X.transpose(0, 2, 3, 1)")
            if len(shape) == 3 and shape == (c, h, w) != sample:
                return (": this looks like one channels-first (CHW) image; pyx_cnn is "
                        "channels-last: use X.transpose(1, 2, 0)")
        if shape == self.input_shape or (len(sample) == 3 and sample[2] == 1
                                         and shape == sample[:2]):
            return ": this is one sample; pass a batch of one, X[np.newaxis]"
        return ""

    def _prepare_y(self, y, n, name="y"):
        """Integer labels as int64, or float targets of ``(n,) + output_shape``.

        Labels have the output's shape without its last (class) axis:
        ``(N,)`` for an output ``(K,)`` or ``(1, 1, K)``, ``(N, H, W)`` for
        per-pixel outputs ``(H, W, K)``.
        """
        y = as_array(y, name)
        out = self.output_shape
        k = out[-1]
        if y.shape == (n,) + out:
            return as_kernel_array(y, self.dtype)
        label_shapes = [(n,) + out[:-1]]
        if len(out) > 1 and all(s == 1 for s in out[:-1]):
            label_shapes.append((n,))
        if y.shape in label_shapes:
            return check_labels(y, k, name)
        if y.ndim == 1:
            if y.shape[0] != n:
                raise ValueError(f"{name} has {y.shape[0]} labels for {n} samples")
            raise ValueError(
                f"{name} as labels (N,) needs one output row per sample, but this network's "
                f"output is {shape_str(out)} per sample: give integer labels of shape "
                f"{_batch_str(out[:-1])} (one class per position) or targets of "
                f"shape {_batch_str(out)}")
        raise ValueError(
            f"{name} must be integer labels of shape {_batch_str(out[:-1])} or targets of "
            f"shape {_batch_str(out)} with N={n}, got {shape_str(y.shape)}")

    def _resolve_loss(self, loss, y):
        if loss is not None:
            return get_loss(loss)
        if self.loss is not None:
            return self.loss
        # _prepare_y returns labels as int64 and targets as floats
        return SoftmaxCrossEntropy() if y.dtype.kind == "i" else MeanSquaredError()

    def _accuracy_labels(self, y, loss_fn):
        """Labels to score the output's arg-max against, or None (no accuracy).

        Integer labels themselves; for float targets, their arg-max over the
        last axis: per row for cross-entropy, and for mean squared error only
        for ``(N, K)`` targets with K > 1 (not image-shaped regression).
        """
        if y.dtype.kind == "i":
            return y
        if y.shape[-1] > 1 and (y.ndim == 2 or isinstance(loss_fn, SoftmaxCrossEntropy)):
            return np.argmax(y, axis=-1)
        return None

    # ---------------------------------------------------------------- passes
    def _fused(self, loss):
        last = self.layers[-1]
        return (isinstance(loss, SoftmaxCrossEntropy)
                and isinstance(last, (_layers.Conv2D, _layers.Dense))
                and last.activation == "softmax")

    def _plan(self, logits=False, train=False):
        """The passes as two lists of steps, with layers fused where it pays.

        - ``ReLU`` then ``MaxPool2D`` run as one pooling kernel that takes the
          maximum of the window and of 0 (the ReLU never materialises);
        - ``Conv2D`` / ``Dense`` without activation followed by ``ReLU`` or
          ``Sigmoid`` apply it in place on their output;
        - with `logits`, the last layer leaves out its softmax (a fused loss
          takes the logits);
        - with `train` (a backward pass follows), ``Conv2D`` gathers its input
          windows once and reuses them for the filter gradient.

        The results equal running the layers one by one.
        """
        layers = self.layers
        forward, backward = [], []
        i = 0
        while i < len(layers):
            layer = layers[i]
            following = layers[i + 1] if i + 1 < len(layers) else None
            after = layers[i + 2] if i + 2 < len(layers) else None
            if isinstance(layer, _layers.ReLU) and isinstance(following, _layers.MaxPool2D):
                forward.append(partial(following._forward, fuse_relu=True))
                backward.append(following._backward)
                i += 2
                continue
            extra = {}
            if (isinstance(layer, (_layers.Conv2D, _layers.Dense)) and layer.activation is None
                    and isinstance(following, _layers._Activation)
                    and not (isinstance(following, _layers.ReLU)
                             and isinstance(after, _layers.MaxPool2D))):
                forward.append(partial(layer._forward, act=following.activation, **extra))
                backward.append(layer._backward)
                i += 2
                continue
            if logits and i == len(layers) - 1:
                forward.append(partial(layer._forward, act=None, **extra))
            elif extra:
                forward.append(partial(layer._forward, **extra))
            else:
                forward.append(layer._forward)
            backward.append(layer._backward)
            i += 1
        backward.reverse()
        return forward, backward

    def _forward(self, x, logits=False, train=False):
        for step in self._plan(logits, train)[0]:
            x = step(x)
        return x

    def _backward(self, grad, logits=False):
        for step in self._plan(logits)[1]:
            grad = step(grad)

    def _train_batch(self, xb, yb, loss, plan, optimizer, learning_rate, labels=None,
                     where=None):
        """One forward, backward and optimiser step; returns (loss, correct).

        Raises FloatingPointError, before the optimiser step (so the weights
        and the optimiser's state stay as they were), when the loss or a
        gradient is not finite. `where` names the batch in the message.
        """
        forward, backward = plan
        for step in forward:
            xb = step(xb)
        value, grad, correct = loss._value_grad_correct(xb, yb, labels)
        if not math.isfinite(value):
            raise FloatingPointError(_non_finite_message(f"loss is {value}", where))
        for step in backward:
            grad = step(grad)
        # a finite loss can still overflow in the backward pass (huge weights)
        if not np.isfinite(self._flat_grad).all():
            raise FloatingPointError(_non_finite_message("gradient is not finite", where))
        optimizer.step(self._flat, self._flat_grad, learning_rate)
        return value, correct

    # ------------------------------------------------------------------- API
    @holds_blas_to_one_thread
    def fit(self, X, y, epochs=1, batch_size=32, learning_rate=0.01, *, optimizer=None,
            loss=None, validation_data=None, shuffle=True, verbose=False):
        """Train by mini-batch gradient descent, continuing from the current weights.

        Parameters
        ----------
        X : array_like, shape (N, H, W), (N, H, W, C) or (N, features)
            Channels-last.
        y : array_like
            Integer class labels of the output's shape without its last (class)
            axis: ``(N,)`` for an output ``(K,)`` or ``(1, 1, K)``, ``(N, H, W)``
            for a per-pixel output ``(H, W, K)``; or float targets
            ``(N,) + output_shape``.
        epochs : int, optional
        batch_size : int, optional
            The last batch of an epoch may be smaller.
        learning_rate : float, optional
            A finite real number >= 0.
        optimizer : {"sgd", "momentum", "adam"} or optimiser instance, optional
            Replaces the network's optimiser (its state restarts). Names are
            case-insensitive.
        loss : {"cross_entropy", "mse"}, optional
            Overrides the choice by target type (case-insensitive).
        validation_data : (X_val, y_val), optional
            Evaluated after each epoch into ``val_loss`` / ``val_accuracy``.
        shuffle : bool, optional
            Reshuffle the samples every epoch (from the network's seed).
        verbose : bool, optional
            Show a tqdm progress bar over the epochs.

        Returns
        -------
        History

        Raises
        ------
        TypeError, ValueError
            For a bad argument, naming it. Every argument is checked before
            anything changes: a refused call leaves the weights, the optimiser
            (and its state) and the epoch count as they were.
        FloatingPointError
            When a batch's loss or gradient is not finite (a NaN or inf in
            `X` or `y`, or a learning rate too large). The message names the
            epoch and the batch, both counted from 1 within this call. That
            batch's update is not applied: the weights and the optimiser's
            state are those from before it (the earlier batches and epochs of
            this call stay applied).
        """
        from tqdm.auto import tqdm

        # check every argument before changing anything: a refused call leaves the
        # network (weights, optimiser and its state, epoch count) as it was
        X = self._prepare_x(X)
        y = self._prepare_y(y, X.shape[0])
        epochs = check_int(epochs, "epochs", 0)
        batch_size = check_int(batch_size, "batch_size", 1)
        learning_rate = check_learning_rate(learning_rate)
        loss_fn = self._resolve_loss(loss, y)
        new_optimizer = None if optimizer is None else get_optimizer(optimizer)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, y_val), got "
                                 + (f"a {type(validation_data).__name__} of length "
                                    f"{len(validation_data)}"
                                    if isinstance(validation_data, (tuple, list))
                                    else type(validation_data).__name__))
            x_val = self._prepare_x(validation_data[0], "validation_data X")
            y_val = self._prepare_y(validation_data[1], x_val.shape[0], "validation_data y")
        self._check_bound()
        if new_optimizer is not None:
            self.optimizer = new_optimizer
        plan = self._plan(self._fused(loss_fn), train=True)
        optim = self.optimizer
        n = X.shape[0]
        n_batches = -(-n // batch_size)
        history = History()
        first = self.layers[0]
        first._input_grad = False
        bar = tqdm(total=epochs, disable=not verbose, unit="epoch", leave=True)
        try:
            for epoch in range(epochs):
                if shuffle:
                    perm = self._shuffle_rng.permutation(n)
                    xe, ye = X[perm], y[perm]
                else:
                    xe, ye = X, y
                acc_labels = self._accuracy_labels(ye, loss_fn)
                track = acc_labels is not None
                total, correct = 0.0, 0
                train_batch = self._train_batch
                for start in range(0, n, batch_size):
                    stop = start + batch_size
                    value, hits = train_batch(xe[start:stop], ye[start:stop], loss_fn, plan,
                                              optim, learning_rate,
                                              acc_labels[start:stop] if track else None,
                                              (epoch + 1, start // batch_size + 1, n_batches))
                    total += value * (min(stop, n) - start)
                    if track:
                        correct += hits
                record = {"loss": total / n}
                if acc_labels is not None:
                    record["accuracy"] = correct / n
                if validation_data is not None:
                    scores = self._evaluate(x_val, y_val, loss_fn)
                    record["val_loss"] = scores["loss"]
                    if "accuracy" in scores:
                        record["val_accuracy"] = scores["accuracy"]
                self._epochs_done += 1
                history._append(self._epochs_done, record)
                bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()}, refresh=False)
                bar.update(1)
        finally:
            first._input_grad = True
            bar.close()
        return history

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
        """
        X = self._prepare_x(x, "x")
        y = self._prepare_y(y, X.shape[0])
        iterations = check_int(iterations, "iterations", 0)
        learning_rate = check_learning_rate(learning_rate)
        loss_fn = self._resolve_loss(None, y)
        self._check_bound()
        plan = self._plan(self._fused(loss_fn), train=True)
        sgd = SGD()
        losses = np.empty(iterations)
        first = self.layers[0]
        first._input_grad = False
        try:
            for i in range(iterations):
                losses[i], _ = self._train_batch(X, y, loss_fn, plan, sgd, learning_rate,
                                                 where=i + 1)
        finally:
            first._input_grad = True
        return losses

    @holds_blas_to_one_thread
    def predict(self, X, batch_size=256):
        """The last layer's output for every sample.

        Parameters
        ----------
        X : array_like
            A batch ``(N,) + input_shape`` (for a one-channel ``input_shape``
            ``(H, W, 1)``, ``(N, H, W)`` too), or one sample of exactly
            ``input_shape``.
        batch_size : int, optional
            Samples per forward pass (bounds the memory used).

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
            return self.predict(X[np.newaxis], batch_size)[0]
        X = self._prepare_x(X)
        batch_size = check_int(batch_size, "batch_size", 1)
        self._check_bound()
        check_result_size("predict", ((X.shape[0],) + self.output_shape, self.dtype))
        out = np.empty((X.shape[0],) + self.output_shape, dtype=self.dtype)
        forward = self._plan()[0]
        for start in range(0, X.shape[0], batch_size):
            x = X[start:start + batch_size]
            for step in forward:
                x = step(x)
            out[start:start + batch_size] = x
        return out

    def _evaluate(self, X, y, loss_fn, batch_size=256):
        forward = self._plan(self._fused(loss_fn))[0]
        acc_labels = self._accuracy_labels(y, loss_fn)
        total, correct = 0.0, 0
        for start in range(0, X.shape[0], batch_size):
            stop = start + batch_size
            out = X[start:stop]
            for step in forward:
                out = step(out)
            value, _, hits = loss_fn._value_grad_correct(
                out, y[start:stop], None if acc_labels is None else acc_labels[start:stop])
            total += value * out.shape[0]
            if acc_labels is not None:
                correct += hits
        scores = {"loss": total / X.shape[0]}
        if acc_labels is not None:
            scores["accuracy"] = correct / X.shape[0]
        return scores

    @holds_blas_to_one_thread
    def evaluate(self, X, y, batch_size=256, loss=None):
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
        return self._evaluate(X, y, self._resolve_loss(loss, y), batch_size)

    def summary(self, print_fn=print):
        """A table of layers, output shapes and parameter counts, as Keras's ``summary``.

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
        rows = [("Layer", "Output shape", "Params")]
        for i, layer in enumerate(self.layers):
            rows.append((f"{i}: {type(layer).__name__}", str((None,) + tuple(layer.output_shape)),
                         str(layer.count_params())))
        widths = [max(len(r[j]) for r in rows) for j in range(3)]
        line = "-" * (sum(widths) + 4)
        fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}"
        text = [f"NeuralNetwork: input {(None,) + self.input_shape}, dtype {self.dtype}",
                line, fmt.format(*rows[0]), line]
        text += [fmt.format(*r) for r in rows[1:]]
        text += [line, f"Total params: {self.count_params()}"]
        text = "\n".join(text)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    # -------------------------------------------------------------- save/load
    def _architecture(self):
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype.name,
            "loss": None if self.loss is None else self.loss.name,
            "optimizer": self.optimizer.name,
            "layers": [{"class": type(layer).__name__, "config": layer.get_config()}
                       for layer in self.layers],
        }

    def save(self, path):
        """Write architecture and weights to one ``.npz`` file (no pickle).

        The file holds the architecture as a JSON string (a 0-d unicode array
        under ``__pyx_cnn_architecture__``) and one array per weight, named
        ``layers.<i>.<W|b>``. The optimiser's state is not saved.
        """
        self._check_bound()
        arrays = {_ARCH_KEY: np.array(json.dumps(self._architecture()))}
        for i, layer in enumerate(self.layers):
            for key, value in layer.params.items():
                arrays[f"layers.{i}.{key}"] = value
        with open(os.fspath(path), "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            When `path` does not exist.
        ValueError
            When the file is not a readable pyx_cnn model (truncated, another
            format, missing or misshapen weights); the message names the file.
        MemoryError
            When the file declares more data than the memory available (checked
            before reading it) or an architecture whose weights cannot fit.

        Notes
        -----
        Nothing in the file is unpickled (``allow_pickle=False``): a file
        holding object arrays is refused.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no model file at {path!r}")
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
            if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise ValueError("not a .npz (zip) archive")
            with zipfile.ZipFile(path) as archive:
                declared = sum(info.file_size for info in archive.infolist())
            # a compressed member can inflate far beyond the file's size: refuse
            # before reading what cannot fit (MemoryError, not caught below)
            check_result_size(f"loading {path!r}", ((declared,), np.uint8))
            data = np.load(path, allow_pickle=False)
            with data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError,
                NotImplementedError, RuntimeError) as exc:
            # NotImplementedError: a compression method zipfile lacks;
            # RuntimeError: an encrypted member
            raise ValueError(f"{path!r} is not a readable pyx_cnn model file: {exc}") from None
        try:
            return cls._from_arrays(arrays)
        except (KeyError, ValueError, TypeError, RecursionError) as exc:
            raise ValueError(f"{path!r} is not a valid pyx_cnn model file: {exc}") from None

    @classmethod
    def _from_arrays(cls, arrays):
        if _ARCH_KEY not in arrays:
            raise ValueError(f"no {_ARCH_KEY!r} entry (not saved by NeuralNetwork.save)")
        arch = arrays.pop(_ARCH_KEY)
        if arch.ndim != 0 or arch.dtype.kind != "U":
            raise ValueError(f"{_ARCH_KEY!r} must be a 0-d unicode string")
        arch = json.loads(str(arch))
        if not isinstance(arch, dict) or arch.get("format") != _FORMAT:
            raise ValueError(f"format is not {_FORMAT!r}")
        if arch.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported format_version {arch.get('format_version')!r}")
        built = []
        for spec in arch["layers"]:
            name = spec["class"]
            if name not in _layers.LAYER_CLASSES:
                raise ValueError(f"unknown layer class {name!r}")
            config = dict(spec["config"])
            built.append(_layers.LAYER_CLASSES[name](**config))
        net = cls(built, tuple(arch["input_shape"]), seed=0, dtype=arch["dtype"],
                  loss=arch.get("loss"), optimizer=arch.get("optimizer", "sgd"))
        expected = {f"layers.{i}.{key}": value
                    for i, layer in enumerate(net.layers) for key, value in layer.params.items()}
        missing = sorted(set(expected) - set(arrays))
        extra = sorted(set(arrays) - set(expected))
        if missing or extra:
            raise ValueError(f"weights missing {missing} / unexpected {extra}")
        for key, target in expected.items():
            value = arrays[key]
            if value.dtype.kind != "f":
                raise ValueError(f"{key} has dtype {value.dtype}, expected floating point")
            if value.shape != target.shape:
                raise ValueError(f"{key} has shape {shape_str(value.shape)}, expected "
                                 f"{shape_str(target.shape)}")
            target[...] = value
        return net

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"NeuralNetwork([{inner}], input_shape={self.input_shape})"
