"""Training: the mini-batch loop of :meth:`NeuralNetwork.fit`, full-batch
``gradient_descent``, the evaluation loop, and the ``History`` that ``fit`` returns.

:func:`fit` reads as its steps (:class:`TrainingLoop`): check the arguments
(``check_fit_arguments`` of ``_fit_arguments.py``; nothing changes when one
is refused), begin (take the optimiser and the rate, plan the layers, start
the callbacks), then for each epoch run its batches and end it (validation,
history, schedule, callbacks, stopping). One batch (:func:`train_batch`) runs
the plan forward (``_chain.py``, or ``_graph.py`` for a graph network), takes the
loss and its gradient, runs the plan backward and lets the optimiser update the
flat parameter array.

Where the processes are is the `process` object's business: :class:`OneProcess`
for one, :class:`pyx_cnn.mpi.DataParallel` (imported only for ``comm=...``)
for data-parallel training; both have the same methods.
"""
import math

import numpy as np

from . import _flat_vectors
from .losses import BinaryCrossEntropy, SoftmaxCrossEntropy
from .optim import SGD
from .schedules import rate_for_epoch
from ._pieces import forward_in_pieces, piece_size
from ._thread_choice import step_threads
from ._threads import get_num_threads
from ._fit_arguments import check_fit_arguments, resolve_loss
from ._kept_weights import forget_prepared, keeping_prepared_weights
from ._validation import check_int, check_learning_rate

__all__ = ["History", "OneProcess", "TrainingLoop", "fit", "gradient_descent",
           "train_batch", "evaluate_batches", "accuracy_labels"]


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


class OneProcess:
    """Training in this process alone. :class:`pyx_cnn.mpi.DataParallel` has the same
    methods, for training over MPI ranks."""

    def run(self, fit):
        return fit()

    def start(self, net, X, y, **settings):
        """Called once the arguments are checked, before anything changes."""

    def averaging(self, optimizer):
        """The optimiser the steps use."""
        return optimizer

    def reduce_metrics(self, record, val_weight=1.0):
        return record

    def stop_together(self, stop):
        return stop

    def should_print(self):
        return True


def fit(net, X, y, epochs, batch_size, learning_rate, *, optimizer, loss, validation_data,
        validation_split, callbacks, shuffle, verbose, fuse, comm):
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
        instead of writing into it (``layer.grads[key][...] = value``):
        checked after the first backward pass of each call, before any
        update; the message names the layer and the key.
    """
    arguments = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                     optimizer=optimizer, loss=loss, validation_data=validation_data,
                     validation_split=validation_split, callbacks=callbacks, shuffle=shuffle,
                     verbose=verbose, fuse=fuse)
    if comm is None:
        process = OneProcess()
    else:
        from .mpi import DataParallel   # mpi4py is imported there, when needed

        process = DataParallel(comm)
    return process.run(lambda: TrainingLoop(net, process).fit(X, y, **arguments))


class TrainingLoop:
    """One ``fit`` call on `net`; `process` is :class:`OneProcess` or
    :class:`pyx_cnn.mpi.DataParallel`."""

    def __init__(self, net, process):
        self.net, self.process = net, process

    def fit(self, X, y, **arguments):
        """Train; returns the :class:`History`."""
        self.args = check_fit_arguments(self.net, X, y, **arguments)
        self.begin()
        try:
            for epoch in range(self.args.epochs):
                record = self.run_epoch(epoch)
                if self.end_epoch(record):
                    break
        except BaseException:
            for cb in self.callbacks:
                close = getattr(cb, "_close", None)
                if close is not None:
                    close()
            raise
        finally:
            self.progress.close()
        for cb in self.callbacks:
            cb.on_train_end({})
        return self.history

    def begin(self):
        """Take the new optimiser and rate, plan the layers, start the callbacks."""
        net, args, process = self.net, self.args, self.process
        # with several processes: the ranks compare their arguments, then take rank 0's weights
        process.start(net, args.X, args.y, epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.learning_rate, loss=args.loss,
                      optimizer=net.optimizer if args.optimizer is None else args.optimizer,
                      validation=args.validation_name)
        if args.optimizer is not None:
            net.optimizer = args.optimizer
        net._learning_rate = args.learning_rate
        self.plan = net._chain.plan(args.loss, args.fuse)
        forget_prepared(net.layers)    # inference's prepared weights: about to change
        self.flat_params, self.flat_grads = net.flat_params, net.flat_grads
        # once per fit call, after its first backward pass (then None): every layer
        # still wrote its gradients into the flat buffer the optimiser reads
        self.check_gradients = net._check_grads_written_in_place
        self.optimizer = process.averaging(net.optimizer)
        printing = process.should_print()
        self.callbacks = args.callbacks if printing else [
            cb for cb in args.callbacks if not cb.writes_files]
        self.history = History()
        net.stop_training = False
        for cb in self.callbacks:
            cb.set_model(net)
            cb.on_train_begin({})
        self.progress = _Progress(args.epochs * args.X.shape[0], args.verbose and printing)

    def run_epoch(self, epoch):
        """Train on every batch of the (shuffled) samples; returns the epoch's record."""
        net, args = self.net, self.args
        self.rate = rate_for_epoch(args.learning_rate, net.epochs_done)
        self.progress.start_epoch(epoch, args.epochs)
        X, y = args.X, args.y
        if args.shuffle:
            order = net.shuffle_rng.permutation(X.shape[0])
            X, y = X[order], y[order]
        labels = accuracy_labels(y, args.loss)
        track = labels is not None
        n, batch_size = X.shape[0], args.batch_size
        n_batches = -(-n // batch_size)
        report = bool(self.callbacks) or self.progress.shown
        total, correct = 0.0, 0
        full = min(batch_size, n)                # the size of every batch but the last
        threads = step_threads(net, "fit", (full,) + X.shape[1:])
        for start in range(0, n, batch_size):
            stop = start + batch_size
            size = min(stop, n) - start
            value, hits = threads.run(
                train_batch, self.plan, self.flat_params, self.flat_grads, X[start:stop],
                y[start:stop], self.optimizer, self.rate, labels[start:stop] if track else None,
                (epoch + 1, start // batch_size + 1, n_batches), self.check_gradients,
                timed=size == full)
            self.check_gradients = None
            total += value * size
            if track:
                correct += hits
            if report:
                running = {"loss": total / min(stop, n)}
                if track:
                    running["accuracy"] = correct / min(stop, n)
                self.progress.batch_done(size, running)
                if self.callbacks:
                    running["size"] = size
                    for cb in self.callbacks:
                        cb.on_batch_end(start // batch_size, running)
        record = {"loss": total / n}
        if track:
            record["accuracy"] = correct / n
        return record

    def end_epoch(self, record):
        """Validate, record, step the schedule, run the callbacks; True to stop training."""
        net, args = self.net, self.args
        if args.validation is not None:
            x_val, y_val = args.validation
            scores = evaluate_batches(self.plan, x_val, y_val, owner=net)
            record["val_loss"] = scores["loss"]
            if "accuracy" in scores:
                record["val_accuracy"] = scores["accuracy"]
        record = self.process.reduce_metrics(
            record, len(args.validation[0]) if args.validation is not None else 1.0)
        epoch_index = net.epochs_done          # from 0, continuing across fits
        net.epochs_done += 1
        self.history._append(net.epochs_done, record)
        logs = dict(record, learning_rate=self.rate)
        if hasattr(args.learning_rate, "on_epoch_end"):
            args.learning_rate.on_epoch_end(epoch_index, logs)
        for cb in self.callbacks:
            cb.on_epoch_end(epoch_index, logs)
        # a callback may stop training on one process only: every process stops with it
        net.stop_training = self.process.stop_together(net.stop_training)
        self.progress.end_epoch(record)
        return net.stop_training


def train_batch(plan, flat_params, flat_grads, xb, yb, optimizer, learning_rate, labels=None,
                where=None, check_gradients=None):
    """One forward, backward and optimiser step; returns (loss, correct).

    Raises FloatingPointError, before the optimiser step (so the weights
    and the optimiser's state stay as they were), when the loss or a
    gradient is not finite. `where` names the batch in the message.
    `check_gradients`, when given, is called after the backward pass, before
    the step (it raises to refuse the step).
    """
    out = plan.forward(xb, True)
    value, grad, correct = plan.loss_value_grad(out, yb, labels)
    if not math.isfinite(value):
        raise FloatingPointError(_non_finite_message(f"loss is {value}", where))
    plan.backward(grad)
    if check_gradients is not None:
        check_gradients()
    # a finite loss can still overflow in the backward pass (huge weights)
    if not _flat_vectors._all_finite(flat_grads, get_num_threads()):
        raise FloatingPointError(_non_finite_message("gradient is not finite", where))
    optimizer.step(flat_params, flat_grads, learning_rate)
    return value, correct


def _non_finite_message(what, where):
    """`where`: (epoch, batch, of batches) from fit, an iteration from gradient_descent (1-based)."""
    if isinstance(where, tuple):
        where = f"epoch {where[0]}, batch {where[1]} of {where[2]} (counted from 1 in this fit call)"
    elif where is not None:
        where = f"iteration {where} (counted from 1)"
    return (f"{where or 'the batch'}: the {what} (a NaN or inf in the inputs or targets, or a "
            "learning rate too large); training stopped before this batch's update, the "
            "weights and optimiser state are those from before it")


def gradient_descent(net, learning_rate, x, y, iterations):
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
    X = net._prepare_x(x, "x")
    y = net._prepare_y(y, X.shape[0])
    iterations = check_int(iterations, "iterations", 0)
    learning_rate = check_learning_rate(learning_rate)
    plan = net._chain.plan(resolve_loss(net, None, y))
    net._check_bound()
    flat_params, flat_grads, sgd = net.flat_params, net.flat_grads, SGD()
    losses = np.empty(iterations)
    threads = step_threads(net, "gradient_descent", X.shape)
    for i in range(iterations):
        # after the first backward pass: every layer wrote its gradients in place
        check = net._check_grads_written_in_place if i == 0 else None
        losses[i], _ = threads.run(train_batch, plan, flat_params, flat_grads, X, y, sgd,
                                   learning_rate, None, i + 1, check)
    return losses


@keeping_prepared_weights()
def evaluate_batches(plan, X, y, batch_size=256, owner=None):
    """Mean loss (and accuracy) of `plan`'s loss over checked arrays, by batches;
    `owner`: the network (its steps' thread counts are chosen by timing them)."""
    labels = accuracy_labels(y, plan.loss)
    total, correct = 0.0, 0
    full = min(batch_size, X.shape[0])       # the size of every batch but the last
    piece = full if owner is None else piece_size(owner, full)
    threads = step_threads(owner, "evaluate", (piece,) + X.shape[1:])
    for start in range(0, X.shape[0], batch_size):
        stop = start + batch_size
        out = forward_in_pieces(threads, plan.forward, X[start:stop], piece, False)
        value, _, hits = plan.loss_value_grad(
            out, y[start:stop], None if labels is None else labels[start:stop])
        total += value * out.shape[0]
        if labels is not None:
            correct += hits
    scores = {"loss": total / X.shape[0]}
    if labels is not None:
        scores["accuracy"] = correct / X.shape[0]
    return scores


def accuracy_labels(y, loss):
    """Labels to score the output against, or None (no accuracy).

    Integer labels themselves; for float targets, their arg-max over the
    last axis: per row for cross-entropy, and for other losses only for
    ``(N, K)`` targets with K > 1 (not image-shaped regression); for binary
    cross-entropy, ``target > 0.5`` of targets of one output per position
    (``(N, 1)``, ``(N, H, W, 1)``).
    """
    if y.dtype.kind == "i":
        return y
    if isinstance(loss, BinaryCrossEntropy):
        if y.shape[-1] == 1:
            return (y[..., 0] > 0.5).astype(np.int64)
        return None
    if y.shape[-1] > 1 and (y.ndim == 2 or isinstance(loss, SoftmaxCrossEntropy)):
        return np.argmax(y, axis=-1)
    return None


class _Progress:
    """The progress bar of ``fit(verbose=True)`` (tqdm, imported only then)."""

    def __init__(self, total, shown):
        self.shown, self.bar = bool(shown), None
        if self.shown:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="sample", leave=True, dynamic_ncols=True)

    def start_epoch(self, epoch, epochs):
        if self.shown:
            self.bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)

    def batch_done(self, size, running):
        if self.shown:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in running.items()}, refresh=False)
            self.bar.update(size)

    def end_epoch(self, record):
        if self.shown:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()}, refresh=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
