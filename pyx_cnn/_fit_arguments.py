"""The checks of ``fit``'s arguments, and the loss chosen by the targets.

:func:`check_fit_arguments` checks every argument of a ``fit`` call before
anything changes, so that a refused call leaves the network (weights,
optimiser and its state, epoch count) as it was.
"""
import numbers
from typing import NamedTuple

import numpy as np

from .callbacks import Callback
from .losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy, get_loss
from .optim import get_optimizer
from ._validation import check_int, check_learning_rate

__all__ = ["PREVIOUS", "DEFAULT_LEARNING_RATE", "FitArguments", "check_fit_arguments",
           "resolve_loss"]

#: the rate of the first fit call when none is given
DEFAULT_LEARNING_RATE = 0.01


class _Previous:
    """``fit``'s default learning rate: the previous fit's rate or schedule, 0.01 at first."""

    def __repr__(self):
        return "<the previous fit's rate or schedule; 0.01 at first>"


PREVIOUS = _Previous()


class FitArguments(NamedTuple):
    """``fit``'s arguments, checked and converted."""
    X: np.ndarray
    y: np.ndarray
    epochs: int
    batch_size: int
    learning_rate: object          # a float or a schedule (a callable epoch -> rate)
    optimizer: object              # a new optimiser, or None to keep the network's
    loss: object
    validation: object             # (X_val, y_val) or None
    validation_name: object        # how the validation data was given, or None
    callbacks: list
    shuffle: bool
    verbose: bool
    fuse: bool


def check_fit_arguments(net, X, y, epochs, batch_size, learning_rate, optimizer, loss,
                        validation_data, validation_split, callbacks, shuffle, verbose, fuse):
    """Every argument of ``net.fit`` checked (TypeError, ValueError naming it), nothing
    changed; parameter arrays a user assigned are taken in (or refused) too."""
    X = net._prepare_x(X)
    y = net._prepare_y(y, X.shape[0])
    epochs = check_int(epochs, "epochs", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    if learning_rate is PREVIOUS:
        learning_rate = net._learning_rate
        if learning_rate is None:
            learning_rate = DEFAULT_LEARNING_RATE
    learning_rate = _check_learning_rate_or_schedule(learning_rate)
    loss = resolve_loss(net, loss, y)
    optimizer = None if optimizer is None else get_optimizer(optimizer)
    callbacks = _check_callbacks(callbacks)
    validation_split = _check_validation_split(validation_split)
    validation, name = None, None
    if validation_data is not None:
        validation, name = _check_validation_data(net, validation_data), "validation_data"
    elif validation_split > 0:
        X, y, validation = _split(X, y, validation_split)
        name = f"validation_split={validation_split}"
    net._check_bound()
    return FitArguments(X, y, epochs, batch_size, learning_rate, optimizer, loss, validation,
                        name, callbacks, shuffle, verbose, fuse)


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


def _check_validation_data(net, validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a pair (X_val, y_val), got "
                         + (f"a {type(validation_data).__name__} of length "
                            f"{len(validation_data)}"
                            if isinstance(validation_data, (tuple, list))
                            else type(validation_data).__name__))
    x_val = net._prepare_x(validation_data[0], "validation_data X")
    y_val = net._prepare_y(validation_data[1], x_val.shape[0], "validation_data y")
    return x_val, y_val


def _split(X, y, validation_split):
    """The last fraction of the samples held out, before any shuffling (as Keras)."""
    split_at = int(X.shape[0] * (1 - validation_split))
    if split_at < 1 or split_at >= X.shape[0]:
        raise ValueError(f"validation_split={validation_split} of {X.shape[0]} samples "
                         f"leaves {split_at} for training and {X.shape[0] - split_at} "
                         "for validation: both must be at least 1")
    return X[:split_at], y[:split_at], (X[split_at:], y[split_at:])


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

    Raises ValueError for a built-in loss that does not fit the output and
    targets: cross-entropy over one output (a softmax over one value is
    always 1), binary cross-entropy against class labels of several outputs.
    """
    if loss is not None:
        loss_fn = get_loss(loss)
    elif net.loss is not None:
        loss_fn = net.loss
    # prepare_y returns labels as int64 and targets as floats
    elif y.dtype.kind == "i":
        loss_fn = BinaryCrossEntropy() if net.output_shape[-1] == 1 else SoftmaxCrossEntropy()
    elif net._chain.final_activation == "sigmoid" and _binary_targets(y):
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
