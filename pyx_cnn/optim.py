"""Optimisers: ``SGD``, ``Momentum`` and ``Adam``.

A network keeps all its parameters in one flat array (each layer's
``params[...]`` being a view into it) and all gradients in another, so one
step is a handful of vectorised operations whatever the number of layers.
``step(params, grads, learning_rate)`` updates ``params`` in place.
"""
import numpy as np

__all__ = ["SGD", "Momentum", "Adam", "get_optimizer"]


class SGD:
    """Plain gradient descent: ``p -= learning_rate * g``."""

    name = "sgd"

    def step(self, params, grads, learning_rate):
        tmp = getattr(self, "_tmp", None)
        if tmp is None or tmp.shape != grads.shape or tmp.dtype != grads.dtype:
            tmp = self._tmp = np.empty_like(grads)
        np.multiply(grads, learning_rate, out=tmp)
        params -= tmp


class Momentum:
    """Heavy-ball momentum, as PyTorch's SGD(momentum=beta):
    ``v = beta * v + g``, ``p -= learning_rate * v``.
    """

    name = "momentum"

    def __init__(self, beta=0.9):
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        self.beta = float(beta)
        self._v = None

    def step(self, params, grads, learning_rate):
        if self._v is None or self._v.shape != grads.shape:
            self._v = np.zeros_like(grads)
            self._tmp = np.empty_like(grads)
        self._v *= self.beta
        self._v += grads
        np.multiply(self._v, learning_rate, out=self._tmp)
        params -= self._tmp


class Adam:
    """Adam (Kingma & Ba), with bias correction::

        m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g**2
        p -= lr * (m / (1-b1**t)) / (sqrt(v / (1-b2**t)) + eps)
    """

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= b < 1:
                raise ValueError(f"{name} must be in [0, 1), got {b}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self._m = None
        self.t = 0

    def step(self, params, grads, learning_rate):
        if self._m is None or self._m.shape != grads.shape:
            self._m = np.zeros_like(grads)
            self._v = np.zeros_like(grads)
            self._tmp = np.empty_like(grads)
            self.t = 0
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self._m *= b1
        self._m += (1 - b1) * grads
        self._v *= b2
        np.multiply(grads, grads, out=self._tmp)
        self._tmp *= 1 - b2
        self._v += self._tmp
        step = learning_rate * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        np.sqrt(self._v, out=self._tmp)
        self._tmp += self.eps * np.sqrt(1 - b2 ** self.t)
        np.divide(self._m, self._tmp, out=self._tmp)
        self._tmp *= step
        params -= self._tmp


_OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def get_optimizer(optimizer):
    """An optimiser instance from a name (``"sgd"``, ``"momentum"``, ``"adam"``) or an instance.

    Names are case-insensitive (``"Adam"`` is ``"adam"``), as loss and
    activation names are; the instance's ``name`` is the lower-case form.
    """
    if isinstance(optimizer, (SGD, Momentum, Adam)):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"optimizer must be 'sgd', 'momentum' or 'adam', got {optimizer!r}")
