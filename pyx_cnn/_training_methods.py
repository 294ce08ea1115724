"""The training methods of :class:`~pyx_cnn.NeuralNetwork`: ``fit`` and
``gradient_descent`` (the class takes them from :class:`TrainingMethods`), each
handing the work to :mod:`pyx_cnn.training_loop`."""
from . import training_loop
from ._fit_arguments import PREVIOUS
from ._thread_policy import holds_blas_to_one_thread

__all__ = ["TrainingMethods"]


class TrainingMethods:
    """``fit`` and ``gradient_descent`` of a network."""

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
