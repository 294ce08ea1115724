"""Learning-rate schedules for ``fit(..., learning_rate=schedule)``.

A schedule gives the rate of each epoch, epochs counted from 0 and continuing
across ``fit`` calls (the network's epoch count, saved with the model):

- :class:`StepDecay`: ``initial * gamma ** (epoch // step_size)``;
- :class:`CosineDecay`: ``minimum + (initial - minimum) * (1 + cos(pi * e / epochs)) / 2``
  with ``e = min(epoch, epochs)``;
- :class:`ReduceOnPlateau`: ``initial``, multiplied by ``factor`` whenever the
  monitored value (``"val_loss"`` by default) has not improved for ``patience``
  epochs (Keras's ``ReduceLROnPlateau`` rules);
- any callable ``epoch -> rate``.

The built-in schedules have ``get_config()`` and ``state_dict()`` /
``load_state_dict()``: :meth:`NeuralNetwork.save` stores the schedule of the last
``fit`` call, so that ``fit`` after ``load`` continues it.
"""
import math

import numpy as np

from ._validation import check_int, check_learning_rate

__all__ = ["Schedule", "StepDecay", "CosineDecay", "ReduceOnPlateau", "SCHEDULE_CLASSES"]


class Schedule:
    """Base class: ``schedule(epoch) -> rate``; ``on_epoch_end(epoch, logs)`` after each epoch."""

    def __call__(self, epoch):
        raise NotImplementedError

    def on_epoch_end(self, epoch, logs):
        """Called by ``fit`` after each epoch with the epoch's logs (loss, val_loss, ...)."""

    def get_config(self):
        return {}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got {sorted(state)}")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """``initial * gamma ** (epoch // step_size)`` (as ``torch.optim.lr_scheduler.StepLR``).

    Parameters
    ----------
    initial : float
    step_size : int
        Epochs between two decays (>= 1).
    gamma : float, optional
        Factor of each decay (>= 0).
    """

    def __init__(self, initial, step_size, gamma=0.1):
        self.initial = check_learning_rate(initial, "initial")
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_learning_rate(gamma, "gamma")

    def __call__(self, epoch):
        return self.initial * self.gamma ** (epoch // self.step_size)

    def get_config(self):
        return {"initial": self.initial, "step_size": self.step_size, "gamma": self.gamma}


class CosineDecay(Schedule):
    """Cosine annealing from `initial` down to `minimum` over `epochs` epochs, then `minimum`.

    The rate at an epoch::

        minimum + (initial - minimum) * (1 + cos(pi * min(epoch, epochs) / epochs)) / 2

    Parameters
    ----------
    initial : float
    epochs : int
        Length of the decay (>= 1).
    minimum : float, optional
    """

    def __init__(self, initial, epochs, minimum=0.0):
        self.initial = check_learning_rate(initial, "initial")
        self.epochs = check_int(epochs, "epochs", 1)
        self.minimum = check_learning_rate(minimum, "minimum")

    def __call__(self, epoch):
        e = min(epoch, self.epochs)
        return self.minimum + (self.initial - self.minimum) * (
            1 + math.cos(math.pi * e / self.epochs)) / 2

    def get_config(self):
        return {"initial": self.initial, "epochs": self.epochs, "minimum": self.minimum}


class ReduceOnPlateau(Schedule):
    """Multiply the rate by `factor` when `monitor` stops improving (Keras's ``ReduceLROnPlateau``).

    After each epoch: an improvement is a value below ``best - min_delta``
    (above ``best + min_delta`` for a monitored accuracy); it resets the count
    of epochs without one. When that count reaches `patience`, the rate
    becomes ``max(rate * factor, min_lr)``, the count restarts and no epoch
    counts during the `cooldown` epochs that follow.

    Parameters
    ----------
    initial : float
    monitor : str, optional
        A key of ``fit``'s logs: ``"loss"``, ``"accuracy"``, ``"val_loss"``,
        ``"val_accuracy"``. ``"val_*"`` needs validation data.
    factor : float, optional
        In [0, 1).
    patience : int, optional
    mode : {"auto", "min", "max"}, optional
        "auto": "max" for a monitored accuracy, else "min".
    min_delta : float, optional
    cooldown : int, optional
    min_lr : float, optional
    """

    def __init__(self, initial, monitor="val_loss", factor=0.1, patience=10, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        self.initial = check_learning_rate(initial, "initial")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
        self.monitor = monitor
        self.factor = check_learning_rate(factor, "factor")
        if self.factor >= 1:
            raise ValueError(f"factor must be < 1, got {self.factor}")
        self.patience = check_int(patience, "patience", 0)
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.min_delta = check_learning_rate(min_delta, "min_delta")
        self.cooldown = check_int(cooldown, "cooldown", 0)
        self.min_lr = check_learning_rate(min_lr, "min_lr")
        self.rate = self.initial
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def _maximise(self):
        return self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)

    def _improves(self, value):
        if self.best is None:
            return True
        if self._maximise():
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def __call__(self, epoch):
        return self.rate

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"ReduceOnPlateau monitors {self.monitor!r}, which fit did not "
                             f"record (it has {sorted(logs)}); "
                             + ("pass validation_data or validation_split"
                                if self.monitor.startswith("val_") else "check the name"))
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(value):
            self.best = float(value)
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                if self.rate > self.min_lr:
                    self.rate = max(self.rate * self.factor, self.min_lr)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def get_config(self):
        return {"initial": self.initial, "monitor": self.monitor, "factor": self.factor,
                "patience": self.patience, "mode": self.mode, "min_delta": self.min_delta,
                "cooldown": self.cooldown, "min_lr": self.min_lr}

    def state_dict(self):
        return {"rate": self.rate, "best": self.best, "wait": self.wait,
                "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state):
        expected = {"rate", "best", "wait", "cooldown_counter"}
        if set(state) != expected:
            raise ValueError(f"ReduceOnPlateau state must have {sorted(expected)}, "
                             f"got {sorted(state)}")
        self.rate = check_learning_rate(state["rate"], "rate")
        self.best = None if state["best"] is None else float(state["best"])
        self.wait = check_int(state["wait"], "wait", 0)
        self.cooldown_counter = check_int(state["cooldown_counter"], "cooldown_counter", 0)


#: every built-in schedule by name (what a saved model file names)
SCHEDULE_CLASSES = {cls.__name__: cls for cls in (StepDecay, CosineDecay, ReduceOnPlateau)}


def rate_for_epoch(learning_rate, epoch):
    """The rate of `epoch` (from 0) for a number or a schedule; checked finite and >= 0."""
    if callable(learning_rate):
        value = learning_rate(epoch)
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        try:
            return check_learning_rate(value, f"the schedule's rate for epoch {epoch}")
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
    return learning_rate
