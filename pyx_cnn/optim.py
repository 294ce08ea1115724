"""Optimisers: ``SGD`` (with momentum and Nesterov), ``RMSprop``, ``Adam``, ``AdamW``.

A network keeps all its parameters in one flat array (each layer's
``params[...]`` being a view into it) and all gradients in another, so one
step is a handful of vectorised operations whatever the number of layers.
``step(params, grads, learning_rate)`` updates ``params`` in place.

Each step is the one of the ``torch.optim`` class of the same name and
arguments (the tests compare them): weight decay is an L2 term added to the
gradient (``g + weight_decay * p``) for ``SGD``, ``RMSprop`` and ``Adam``, and
decoupled (``p *= 1 - learning_rate * weight_decay``, before the Adam step)
for ``AdamW``.

Every optimiser has ``state_dict()`` (numpy arrays and Python scalars) and
``load_state_dict(state)``, which :meth:`NeuralNetwork.save` and ``load`` use so
that training resumes exactly where it stopped, and ``get_config()`` (its
constructor's arguments).
"""
import math
import numbers

import numpy as np

from . import _flat_vectors
from ._threads import get_num_threads

__all__ = ["Optimizer", "SGD", "Momentum", "RMSprop", "Adam", "AdamW", "get_optimizer"]


def _check_real(value, name, low=None, high=None, low_open=False, high_open=False):
    """`value` as a float, checking it is a finite real number in the given range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) \
            or isinstance(value, np.complexfloating):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}, "
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        where = f"in {lo}{hi}" if low is not None and high is not None else (
            f"{'>' if low_open else '>='} {low}" if low is not None else f"<= {high}")
        raise ValueError(f"{name} must be a finite number {where}, got {value}")
    return value


class Optimizer:
    """Base class: the state arrays, created at the first step, and their (de)serialisation.

    Subclasses list their per-parameter arrays in ``_arrays`` (attribute
    names, e.g. ``("momentum_buffer",)``) and their scalars in ``_scalars``.
    """

    name = None
    _arrays = ()
    _scalars = ()

    def get_config(self):
        """The constructor's arguments, as a JSON-ready dict."""
        return {}

    def _ensure_state(self, grads):
        """Create (zeroed) state arrays for `grads`, or recreate them for another shape."""
        first = self._arrays[0] if self._arrays else None
        if first is not None:
            current = getattr(self, first, None)
            if current is None or current.shape != grads.shape or current.dtype != grads.dtype:
                for key in self._arrays:
                    setattr(self, key, np.zeros_like(grads))
                self._reset_scalars()
        tmp = getattr(self, "_tmp", None)
        if tmp is None or tmp.shape != grads.shape or tmp.dtype != grads.dtype:
            self._tmp = np.empty_like(grads)

    def _reset_scalars(self):
        for key in self._scalars:
            setattr(self, key, 0)

    def _with_weight_decay(self, params, grads):
        """``g + weight_decay * p`` (a new array) when there is coupled weight decay, else g."""
        if self.weight_decay:
            return grads + self.weight_decay * params
        return grads

    def state_dict(self):
        """The optimiser's state: ``{name: ndarray or int}`` (copies), empty before any step."""
        state = {}
        for key in self._arrays:
            value = getattr(self, key, None)
            if value is not None:
                state[key] = value.copy()
        if state or not self._arrays:
            for key in self._scalars:
                state[key] = int(getattr(self, key))
        return state

    def load_state_dict(self, state, size=None, dtype=None):
        """Restore a state from :meth:`state_dict`.

        Parameters
        ----------
        state : dict
        size, dtype : optional
            The flat parameter array's size and dtype, checked against the arrays.

        Raises
        ------
        ValueError
            For a missing, unexpected or misshapen entry (checked before anything changes).
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        expected = set(self._arrays) | set(self._scalars)
        extra = sorted(set(state) - expected)
        if extra:
            raise ValueError(f"{type(self).__name__} state has unexpected entries {extra}")
        if not state:
            for key in self._arrays:
                setattr(self, key, None)
            self._reset_scalars()
            return
        missing = sorted(expected - set(state))
        if missing:
            raise ValueError(f"{type(self).__name__} state is missing {missing}")
        arrays = {}
        for key in self._arrays:
            value = np.asarray(state[key])
            if value.ndim != 1 or value.dtype.kind != "f" or (size is not None
                                                              and value.size != size):
                raise ValueError(f"{type(self).__name__} state {key!r} must be a 1-D float array"
                                 + ("" if size is None else f" of {size} values")
                                 + f", got {value.dtype} of shape {value.shape}")
            arrays[key] = np.array(value, dtype=dtype or value.dtype)
        scalars = {}
        for key in self._scalars:
            value = state[key]
            if isinstance(value, np.ndarray):
                value = value[()] if value.ndim == 0 else value
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,)) \
                    or value < 0:
                raise ValueError(f"{type(self).__name__} state {key!r} must be an int >= 0, "
                                 f"got {value!r}")
            scalars[key] = int(value)
        for key, value in arrays.items():
            setattr(self, key, value)
        for key, value in scalars.items():
            setattr(self, key, value)
        self._tmp = None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` (dampening 0).

    Each step::

        g = g + weight_decay * p
        v = momentum * v + g                  (v = g at the first step)
        g = g + momentum * v if nesterov else v   (when momentum > 0)
        p -= learning_rate * g

    Parameters
    ----------
    momentum : float, optional
        In [0, 1).
    nesterov : bool, optional
        Nesterov momentum (needs momentum > 0).
    weight_decay : float, optional
        L2 penalty (>= 0), added to the gradient.
    """

    name = "sgd"
    _arrays = ("momentum_buffer",)
    _scalars = ()

    def __init__(self, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.momentum = _check_real(momentum, "momentum", 0.0, 1.0, high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {type(nesterov).__name__} "
                            f"{nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.weight_decay = _check_real(weight_decay, "weight_decay", 0.0)
        self.momentum_buffer = None
        self._tmp = None

    def get_config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    def state_dict(self):
        return {} if self.momentum == 0 or self.momentum_buffer is None else \
            {"momentum_buffer": self.momentum_buffer.copy()}

    def step(self, params, grads, learning_rate):
        if (not self.momentum and not self.weight_decay and params.ndim == grads.ndim == 1
                and params.dtype == grads.dtype and params.dtype.char in "fd"
                and params.flags.c_contiguous and grads.flags.c_contiguous):
            # plain gradient descent on a network's flat vectors, in one pass without the
            # product's temporary: the values below for a Python float rate (which numpy
            # takes in the vectors' dtype; fit's rates are Python floats)
            _flat_vectors._sgd_update(params, grads, learning_rate, get_num_threads())
            return
        tmp = self._tmp
        if tmp is None or tmp.shape != grads.shape or tmp.dtype != grads.dtype:
            tmp = self._tmp = np.empty_like(grads)
        g = self._with_weight_decay(params, grads)
        if self.momentum:
            buf = self.momentum_buffer
            if buf is None or buf.shape != grads.shape or buf.dtype != grads.dtype:
                buf = self.momentum_buffer = g.copy()
            else:
                buf *= self.momentum
                buf += g
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        np.multiply(g, learning_rate, out=tmp)
        params -= tmp


class Momentum(SGD):
    """Heavy-ball momentum: ``SGD(momentum=beta)`` (the name ``"momentum"``).

    Each step::

        v = beta * v + g;  p -= learning_rate * v
    """

    name = "momentum"

    def __init__(self, beta=0.9, nesterov=False, weight_decay=0.0):
        try:
            super().__init__(momentum=beta, nesterov=nesterov, weight_decay=weight_decay)
        except (TypeError, ValueError) as exc:
            raise type(exc)(str(exc).replace("momentum", "beta", 1)) from None

    @property
    def beta(self):
        return self.momentum

    def get_config(self):
        return {"beta": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (no momentum, not centred).

    Each step::

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g**2
        p -= learning_rate * g / (sqrt(s) + eps)

    Parameters
    ----------
    alpha : float, optional
        Smoothing constant, in [0, 1).
    eps : float, optional
        > 0.
    weight_decay : float, optional
        L2 penalty (>= 0), added to the gradient.
    """

    name = "rmsprop"
    _arrays = ("square_avg",)
    _scalars = ("step_count",)

    def __init__(self, alpha=0.99, eps=1e-8, weight_decay=0.0):
        self.alpha = _check_real(alpha, "alpha", 0.0, 1.0, high_open=True)
        self.eps = _check_real(eps, "eps", 0.0, low_open=True)
        self.weight_decay = _check_real(weight_decay, "weight_decay", 0.0)
        self.square_avg = None
        self.step_count = 0
        self._tmp = None

    def get_config(self):
        return {"alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay}

    def step(self, params, grads, learning_rate):
        self._ensure_state(grads)
        self.step_count += 1
        g = self._with_weight_decay(params, grads)
        s, tmp = self.square_avg, self._tmp
        s *= self.alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.alpha
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= learning_rate
        params -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``.

    Each step::

        g = g + weight_decay * p
        m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g**2
        p -= lr / (1-b1**t) * m / (sqrt(v) / sqrt(1-b2**t) + eps)

    Parameters
    ----------
    beta1, beta2 : float, optional
        In [0, 1).
    eps : float, optional
        > 0.
    weight_decay : float, optional
        L2 penalty (>= 0), added to the gradient.
    """

    name = "adam"
    _arrays = ("exp_avg", "exp_avg_sq")
    _scalars = ("t",)
    _decoupled = False

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self.beta1 = _check_real(beta1, "beta1", 0.0, 1.0, high_open=True)
        self.beta2 = _check_real(beta2, "beta2", 0.0, 1.0, high_open=True)
        self.eps = _check_real(eps, "eps", 0.0, low_open=True)
        self.weight_decay = _check_real(weight_decay, "weight_decay", 0.0)
        self.exp_avg = self.exp_avg_sq = None
        self.t = 0
        self._tmp = None

    def get_config(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "weight_decay": self.weight_decay}

    def step(self, params, grads, learning_rate):
        self._ensure_state(grads)
        self.t += 1
        if self._decoupled:
            if self.weight_decay:
                params *= 1 - learning_rate * self.weight_decay
            g = grads
        else:
            g = self._with_weight_decay(params, grads)
        b1, b2 = self.beta1, self.beta2
        m, v, tmp = self.exp_avg, self.exp_avg_sq, self._tmp
        m *= b1
        np.multiply(g, 1 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        bias1 = 1 - b1 ** self.t
        bias2_sqrt = math.sqrt(1 - b2 ** self.t)
        np.sqrt(v, out=tmp)
        tmp /= bias2_sqrt
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= learning_rate / bias1
        params -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``: before the
    Adam step (which has no L2 term), ``p *= 1 - learning_rate * weight_decay``.
    """

    name = "adamw"
    _decoupled = True

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
        super().__init__(beta1, beta2, eps, weight_decay)


_OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam,
               "adamw": AdamW}
#: every optimiser class by name (what a saved model file names)
OPTIMIZER_CLASSES = {cls.__name__: cls for cls in (SGD, Momentum, RMSprop, Adam, AdamW)}


def get_optimizer(optimizer):
    """An optimiser instance from a name or an instance.

    Names (case-insensitive): ``"sgd"`` (``SGD()``), ``"momentum"``
    (``SGD(momentum=0.9)``, as the class ``Momentum``), ``"rmsprop"``,
    ``"adam"``, ``"adamw"``, each with its default arguments.
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()]()
    raise ValueError("optimizer must be 'sgd', 'momentum', 'rmsprop', 'adam', 'adamw' or a "
                     f"pyx_cnn.optim optimiser, got {optimizer!r}")
