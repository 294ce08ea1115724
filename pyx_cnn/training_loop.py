"""Training: the mini-batch loop of :meth:`NeuralNetwork.fit`, full-batch
``gradient_descent``, and the ``History`` they return.

One batch (:meth:`TrainingMixin._train_batch`) runs the plan's steps forward
(:mod:`pyx_cnn.fusion`), takes the loss and its gradient, runs the steps
backward, and lets the optimiser update the flat parameter array.
"""
import math
import numbers

import numpy as np

from .callbacks import Callback
from .mpi import DataParallel
from .losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy, get_loss
from .optim import SGD, get_optimizer
from .fusion import final_activation
from .schedules import rate_for_epoch
from ._thread_policy import holds_blas_to_one_thread
from ._validation import check_int, check_learning_rate

#: the rate of the first fit call when none is given
DEFAULT_LEARNING_RATE = 0.01


class _Previous:
    """``fit``'s default learning rate: the previous fit's rate or schedule, 0.01 at first."""

    def __repr__(self):
        return "<the previous fit's rate or schedule; 0.01 at first>"


PREVIOUS = _Previous()

__all__ = ["History", "TrainingMixin"]


def _non_finite_message(what, where):
    """`where`: (epoch, batch, of batches) from fit, an iteration from gradient_descent (1-based)."""
    if isinstance(where, tuple):
        where = f"epoch {where[0]}, batch {where[1]} of {where[2]} (counted from 1 in this fit call)"
    elif where is not None:
        where = f"iteration {where} (counted from 1)"
    return (f"{where or 'the batch'}: the {what} (a NaN or inf in the inputs or targets, or a "
            "learning rate too large); training stopped before this batch's update, the "
            "weights and optimiser state are those from before it")


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


def ends_in_sigmoid(layers):
    """True when the last layer's output is a sigmoid."""
    return getattr(layers[-1], "activation", None) == "sigmoid"


def _binary_targets(y):
    """True when float targets of one output per position (``(N, 1)``, ``(N, H, W, 1)``)
    hold only 0 and 1."""
    return y.shape[-1] == 1 and bool(np.all((y == 0) | (y == 1)))


def resolve_loss(net, loss, y):
    """The loss to train or evaluate with: `loss` if given, else the network's,
    else by target: for one output (``Dense(1, activation="sigmoid")``), 0/1
    labels -> binary cross-entropy; other integer labels -> cross-entropy;
    float targets -> mean squared error (binary cross-entropy for 0/1
    targets of a network ending in a sigmoid with one output per position).

    Raises ValueError for a loss that does not fit the output and targets:
    cross-entropy over one output (a softmax over one value is always 1),
    binary cross-entropy against class labels of several outputs.
    """
    if loss is not None:
        loss_fn = get_loss(loss)
    elif net.loss is not None:
        loss_fn = net.loss
    # prepare_y returns labels as int64 and targets as floats
    elif y.dtype.kind == "i":
        loss_fn = BinaryCrossEntropy() if net.output_shape[-1] == 1 else SoftmaxCrossEntropy()
    elif ends_in_sigmoid(net.layers) and _binary_targets(y):
        loss_fn = BinaryCrossEntropy()
    else:
        loss_fn = MeanSquaredError()
    k = net.output_shape[-1]
    if isinstance(loss_fn, SoftmaxCrossEntropy) and k == 1:
        raise ValueError(
            "loss 'cross_entropy' needs at least 2 outputs per position (its softmax over one "
            f"output is always 1), but this network's output is {net.output_shape}: for 0/1 "
            "labels use loss 'binary_cross_entropy' (a last layer Dense(1, "
            "activation='sigmoid')), for regression 'mse'")
    if isinstance(loss_fn, BinaryCrossEntropy) and k > 1 and y.dtype.kind == "i":
        raise ValueError(
            f"loss 'binary_cross_entropy' takes 0/1 labels of one output per position, but "
            f"this network has {k} outputs per position (output {net.output_shape}): for class "
            f"labels in [0, {k}) use loss 'cross_entropy', or give 0/1 targets of the "
            "output's shape")
    return loss_fn


def accuracy_labels(y, loss_fn):
    """Labels to score the output against, or None (no accuracy).

    Integer labels themselves; for float targets, their arg-max over the
    last axis: per row for cross-entropy, and for mean squared error only
    for ``(N, K)`` targets with K > 1 (not image-shaped regression); for
    binary cross-entropy, ``target > 0.5`` of targets of one output per
    position (``(N, 1)``, ``(N, H, W, 1)``).
    """
    if y.dtype.kind == "i":
        return y
    if isinstance(loss_fn, BinaryCrossEntropy):
        if y.shape[-1] == 1:
            return (y[..., 0] > 0.5).astype(np.int64)
        return None
    if y.shape[-1] > 1 and (y.ndim == 2 or isinstance(loss_fn, SoftmaxCrossEntropy)):
        return np.argmax(y, axis=-1)
    return None


def loss_value_grad(loss, steps, layers, out, y, labels):
    """(mean loss, dL/d(output), correct rows) of the network's output `out`.

    Cross-entropy applies the softmax itself (binary cross-entropy the
    sigmoid): it takes logits. When the network's last softmax (sigmoid)
    still ran (``fuse=False``), `out` holds probabilities and the loss takes
    them as such.
    """
    final = final_activation(layers)
    takes_logits = ((isinstance(loss, SoftmaxCrossEntropy) and final == "softmax")
                    or (isinstance(loss, BinaryCrossEntropy) and final == "sigmoid"))
    if takes_logits and not steps[-1].rule.endswith("_into_loss"):
        return loss._value_grad_correct_probabilities(out, y, labels)
    return loss._value_grad_correct(out, y, labels)


def _check_learning_rate_or_schedule(learning_rate):
    if learning_rate is not None and callable(learning_rate):
        return learning_rate
    return check_learning_rate(learning_rate)


def _check_callbacks(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError("callbacks must be a list of pyx_cnn.callbacks.Callback, got "
                        f"{type(callbacks).__name__}") from None
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}] must be a pyx_cnn.callbacks.Callback, got "
                            f"{type(cb).__name__}")
    return callbacks


def _check_validation_split(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"validation_split must be a number, got {type(value).__name__}")
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {value}")
    return value


class TrainingMixin:
    """``fit``, ``gradient_descent`` and the batch step, for :class:`NeuralNetwork`."""

    def _train_batch(self, xb, yb, loss, steps, optimizer, learning_rate, labels=None,
                     where=None):
        """One forward, backward and optimiser step; returns (loss, correct).

        Raises FloatingPointError, before the optimiser step (so the weights
        and the optimiser's state stay as they were), when the loss or a
        gradient is not finite. `where` names the batch in the message.
        """
        for step in steps:
            xb = step.forward(xb, True)
        value, grad, correct = loss_value_grad(loss, steps, self.layers, xb, yb, labels)
        if not math.isfinite(value):
            raise FloatingPointError(_non_finite_message(f"loss is {value}", where))
        for step in reversed(steps):
            grad = step.backward(grad)
        # a finite loss can still overflow in the backward pass (huge weights)
        if not np.isfinite(self._flat_grad).all():
            raise FloatingPointError(_non_finite_message("gradient is not finite", where))
        optimizer.step(self._flat, self._flat_grad, learning_rate)
        return value, correct

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
        loss : {"cross_entropy", "binary_cross_entropy", "mse"}, optional
            Overrides the choice by target type (case-insensitive).
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
            Reshuffle the samples every epoch (from the network's seed).
        verbose : bool, optional
            Show a tqdm progress bar advancing per batch, with the running
            loss and accuracy, samples per second and the time left.
        fuse : bool, optional
            Run the layers by the fusion plan (:mod:`pyx_cnn.fusion`); False runs
            every layer's own forward and backward, with the same results.
        comm : mpi4py communicator, optional
            Train data-parallel over its ranks (SPEC 9, :mod:`pyx_cnn.mpi`):
            every rank passes its own shard (the same N and sample shape on
            every rank; `batch_size` is per rank), rank 0's weights are
            broadcast, each step averages the gradients with one allreduce,
            metrics are averaged over the ranks, and only rank 0 shows the
            progress bar and runs the callbacks that write files. The result
            equals one process training on the same global batches. Every
            rank checks its own arguments, then the ranks compare them (one
            allgather): when some rank's are refused, every rank raises that
            error, of the lowest such rank, its message headed by the rank
            (``"rank 1: y labels must lie in ..."``); when the shards (number
            of samples, sample shape, dtype) or the settings (`epochs`,
            `batch_size`, `learning_rate`, loss, optimiser, validation) differ
            between ranks, every rank raises the same ValueError. A callback
            that sets ``stop_training`` on one rank stops every rank. Once
            training has started, an exception on one rank ends the whole job
            (``MPI_Abort``) rather than leaving the others waiting.

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
        """
        arguments = (X, y, epochs, batch_size, learning_rate, optimizer, loss, validation_data,
                     validation_split, callbacks, shuffle, verbose, fuse)
        if comm is None:
            return self._fit(*arguments, dp=None)
        # data-parallel over MPI ranks (pyx_cnn.mpi): an argument refused on one rank is
        # refused on every rank; a failure on one rank once training started ends the job
        dp = DataParallel(comm)
        return dp.run(lambda: self._fit(*arguments, dp=dp))

    def _fit(self, X, y, epochs, batch_size, learning_rate, optimizer, loss, validation_data,
             validation_split, callbacks, shuffle, verbose, fuse, dp):
        """:meth:`fit` on this process; `dp` is the :class:`~pyx_cnn.mpi.DataParallel`
        of a data-parallel fit, else None."""
        from tqdm.auto import tqdm

        # check every argument before changing anything: a refused call leaves the
        # network (weights, optimiser and its state, epoch count) as it was
        X = self._prepare_x(X)
        y = self._prepare_y(y, X.shape[0])
        epochs = check_int(epochs, "epochs", 0)
        batch_size = check_int(batch_size, "batch_size", 1)
        if learning_rate is PREVIOUS:
            learning_rate = getattr(self, "_learning_rate", None)
            if learning_rate is None:
                learning_rate = DEFAULT_LEARNING_RATE
        learning_rate = _check_learning_rate_or_schedule(learning_rate)
        loss_fn = resolve_loss(self, loss, y)
        new_optimizer = None if optimizer is None else get_optimizer(optimizer)
        callbacks = _check_callbacks(callbacks)
        validation_split = _check_validation_split(validation_split)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, y_val), got "
                                 + (f"a {type(validation_data).__name__} of length "
                                    f"{len(validation_data)}"
                                    if isinstance(validation_data, (tuple, list))
                                    else type(validation_data).__name__))
            x_val = self._prepare_x(validation_data[0], "validation_data X")
            y_val = self._prepare_y(validation_data[1], x_val.shape[0], "validation_data y")
        elif validation_split > 0:
            split_at = int(X.shape[0] * (1 - validation_split))
            if split_at < 1 or split_at >= X.shape[0]:
                raise ValueError(f"validation_split={validation_split} of {X.shape[0]} samples "
                                 f"leaves {split_at} for training and {X.shape[0] - split_at} "
                                 "for validation: both must be at least 1")
            X, x_val = X[:split_at], X[split_at:]
            y, y_val = y[:split_at], y[split_at:]
        has_val = validation_data is not None or validation_split > 0
        self._check_bound()
        if dp is not None:
            # every rank has checked its arguments: the ranks compare them (a rank's
            # refusal is raised on every rank), then take rank 0's weights
            dp.start(self, X, y, epochs=epochs, batch_size=batch_size,
                     learning_rate=learning_rate, loss=loss_fn,
                     optimizer=self.optimizer if new_optimizer is None else new_optimizer,
                     validation=("validation_data" if validation_data is not None else
                                 f"validation_split={validation_split}" if has_val else None))
        if new_optimizer is not None:
            self.optimizer = new_optimizer
        self._learning_rate = learning_rate
        steps = self._steps(loss_fn, fuse)
        # data-parallel: the optimiser averages the gradients over the ranks before each step
        optim = self.optimizer if dp is None else dp.averaging(self.optimizer)
        if dp is not None and not dp.should_print():
            verbose = False
            callbacks = [cb for cb in callbacks if not cb.writes_files]
        n = X.shape[0]
        n_batches = -(-n // batch_size)
        history = History()
        first = self.layers[0]
        first.needs_input_grad = False
        self.stop_training = False
        for cb in callbacks:
            cb.set_model(self)
            cb.on_train_begin({})
        bar = tqdm(total=epochs * n, disable=not verbose, unit="sample", leave=True,
                   dynamic_ncols=True)
        show = bool(verbose) and not bar.disable
        try:
            for epoch in range(epochs):
                epoch_index = self._epochs_done        # from 0, continuing across fits
                rate = rate_for_epoch(learning_rate, epoch_index)
                if show:
                    bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)
                if shuffle:
                    perm = self._shuffle_rng.permutation(n)
                    xe, ye = X[perm], y[perm]
                else:
                    xe, ye = X, y
                acc_labels = accuracy_labels(ye, loss_fn)
                track = acc_labels is not None
                total, correct = 0.0, 0
                train_batch = self._train_batch
                for start in range(0, n, batch_size):
                    stop = start + batch_size
                    size = min(stop, n) - start
                    value, hits = train_batch(xe[start:stop], ye[start:stop], loss_fn, steps,
                                              optim, rate,
                                              acc_labels[start:stop] if track else None,
                                              (epoch + 1, start // batch_size + 1, n_batches))
                    total += value * size
                    if track:
                        correct += hits
                    if callbacks or show:
                        running = {"loss": total / min(stop, n)}
                        if track:
                            running["accuracy"] = correct / min(stop, n)
                        if show:
                            bar.set_postfix({k: f"{v:.4f}" for k, v in running.items()},
                                            refresh=False)
                            bar.update(size)
                        if callbacks:
                            running["size"] = size
                            for cb in callbacks:
                                cb.on_batch_end(start // batch_size, running)
                record = {"loss": total / n}
                if acc_labels is not None:
                    record["accuracy"] = correct / n
                if has_val:
                    scores = self._evaluate(x_val, y_val, loss_fn, fuse=fuse)
                    record["val_loss"] = scores["loss"]
                    if "accuracy" in scores:
                        record["val_accuracy"] = scores["accuracy"]
                if dp is not None:
                    record = dp.reduce_metrics(record, len(x_val) if has_val else 1.0)
                self._epochs_done += 1
                history._append(self._epochs_done, record)
                logs = dict(record, learning_rate=rate)
                if hasattr(learning_rate, "on_epoch_end"):
                    learning_rate.on_epoch_end(epoch_index, logs)
                for cb in callbacks:
                    cb.on_epoch_end(epoch_index, logs)
                if dp is not None:
                    # a callback may stop training on one rank only: every rank stops with it
                    self.stop_training = dp.stop_together(self.stop_training)
                if show:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()}, refresh=True)
                if self.stop_training:
                    break
        except BaseException:
            for cb in callbacks:
                close = getattr(cb, "_close", None)
                if close is not None:
                    close()
            raise
        finally:
            first.needs_input_grad = True
            bar.close()
        for cb in callbacks:
            cb.on_train_end({})
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
        loss_fn = resolve_loss(self, None, y)
        self._check_bound()
        steps = self._steps(loss_fn)
        sgd = SGD()
        losses = np.empty(iterations)
        first = self.layers[0]
        first.needs_input_grad = False
        try:
            for i in range(iterations):
                losses[i], _ = self._train_batch(X, y, loss_fn, steps, sgd, learning_rate,
                                                 where=i + 1)
        finally:
            first.needs_input_grad = True
        return losses
