"""Callbacks for ``fit(..., callbacks=[...])``, following Keras's rules.

A callback subclasses :class:`Callback` and overrides any of its hooks:

- ``on_train_begin(logs)`` / ``on_train_end(logs)``: once per ``fit`` call;
- ``on_epoch_end(epoch, logs)``: after each epoch, `epoch` counted from 0 and
  continuing across ``fit`` calls, `logs` holding ``loss`` (and ``accuracy``,
  ``val_loss``, ``val_accuracy`` when known) and ``learning_rate``;
- ``on_batch_end(batch, logs)``: after each batch, `batch` counted from 0 within
  the epoch, `logs` holding the epoch's running mean ``loss`` (and
  ``accuracy``) so far and ``size``, the batch's sample count.

``self.model`` is the network being trained; setting ``self.model.stop_training
= True`` ends ``fit`` after the current epoch.

Built in: :class:`EarlyStopping`, :class:`ModelCheckpoint`, :class:`CSVLogger`.
"""
import csv
import math
import os

import numpy as np

from ._validation import check_int, check_learning_rate

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "CSVLogger"]


class Callback:
    """Base class of the callbacks: every hook does nothing."""

    model = None
    #: a callback that writes files runs on rank 0 only in a data-parallel fit
    writes_files = False

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


def _maximise(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode == "max" or (mode == "auto" and "acc" in monitor)


def _check_monitor(monitor):
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
    return monitor


def _monitored(callback, logs):
    value = logs.get(callback.monitor)
    if value is None:
        raise ValueError(
            f"{type(callback).__name__} monitors {callback.monitor!r}, which fit did not record "
            f"(it has {sorted(k for k in logs if k != 'learning_rate')}); "
            + ("pass validation_data or validation_split"
               if callback.monitor.startswith("val_") else "check the name"))
    return float(value)


class EarlyStopping(Callback):
    """Stop ``fit`` when `monitor` stops improving (Keras's rules).

    An epoch improves when its value is below ``best - min_delta`` (above
    ``best + min_delta`` for an accuracy): strictly, so a tie is no
    improvement. Training stops at the end of the epoch that makes `patience`
    epochs in a row without improvement (``patience=0``: the first such
    epoch, the first epoch excepted).

    Parameters
    ----------
    monitor : str, optional
        ``"val_loss"``, ``"val_accuracy"``, ``"loss"`` or ``"accuracy"``.
    patience : int, optional
    min_delta : float, optional
    restore_best_weights : bool, optional
        At the end of ``fit``, put back the weights of the first best epoch, bit
        for bit (:meth:`NeuralNetwork.get_weights`: layer states included).
    mode : {"auto", "min", "max"}, optional
        "auto": "max" for an accuracy, else "min".

    Attributes
    ----------
    stopped_epoch : int or None
        The epoch (from 0, continuing across fits) after which training stopped.
    best_epoch : int or None
    best : float or None
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0,
                 restore_best_weights=False, mode="auto"):
        self.monitor = _check_monitor(monitor)
        self.patience = check_int(patience, "patience", 0)
        self.min_delta = check_learning_rate(min_delta, "min_delta")
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise TypeError("restore_best_weights must be True or False, got "
                            f"{type(restore_best_weights).__name__}")
        self.restore_best_weights = bool(restore_best_weights)
        self.mode = mode
        self._max = _maximise(monitor, mode)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = None
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None
        self._first = True

    def _improves(self, value):
        if self.best is None:
            return True
        if self._max:
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(self, logs)
        first, self._first = self._first, False
        self.wait += 1
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and not first:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the network after an epoch (:meth:`NeuralNetwork.save`).

    Parameters
    ----------
    path : str or path-like
        May hold ``{epoch}`` (from 1, as Keras) and log keys, e.g.
        ``"model-{epoch:02d}-{val_loss:.3f}.npz"``.
    monitor : str, optional
    save_best_only : bool, optional
        Save only when `monitor` improves strictly on the best so far (the
        first epoch always); else after every epoch.
    mode : {"auto", "min", "max"}, optional

    Attributes
    ----------
    saved : list of str
        The paths written, in order.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=True, mode="auto"):
        self.path = os.fspath(path)
        self.monitor = _check_monitor(monitor)
        self.save_best_only = bool(save_best_only)
        self._max = _maximise(monitor, mode)
        self.best = None
        self.saved = []

    writes_files = True   # only rank 0 of a data-parallel fit runs it

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            value = _monitored(self, logs)
            if self.best is not None and not (value > self.best if self._max
                                              else value < self.best):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs)
        self.model.save(path)
        self.saved.append(path)


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (from 0, continuing across fits) and the logs.

    Parameters
    ----------
    path : str or path-like
    separator : str, optional
    append : bool, optional
        Append to an existing file (no second header) instead of overwriting it.
    """

    writes_files = True   # only rank 0 of a data-parallel fit runs it

    def __init__(self, path, separator=",", append=False):
        self.path = os.fspath(path)
        self.separator = separator
        self.append = bool(append)
        self._keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        self._file = open(self.path, "a" if self.append else "w", newline="")
        self._writer = None
        self._header = not exists

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            self._keys = self._keys or sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if self._header:
                self._writer.writerow(["epoch"] + self._keys)
        row = [epoch] + [_csv_value(logs.get(k)) for k in self._keys]
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if getattr(self, "_file", None) is not None and not self._file.closed:
            self._file.close()


def _csv_value(value):
    if value is None:
        return "NA"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(float(value)) if isinstance(value, (float, np.floating)) else value
