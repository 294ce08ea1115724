"""``BatchNormalization`` and ``Dropout``: the layers that behave differently while
training."""
import numpy as np

from .._validation import shape_str
from ..ops import batch_norm, dropout
from .base import Layer

__all__ = ["BatchNormalization", "Dropout"]


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


class BatchNormalization(Layer):
    """Batch normalisation per channel (the last axis), as ``torch.nn.BatchNorm2d``.

    Parameters
    ----------
    momentum : float, optional
        Weight of the batch in the running statistics:
        ``running = (1 - momentum) * running + momentum * batch``, in [0, 1].
    epsilon : float, optional
        Added to the variance, > 0.

    Over ``(N, H, W)`` for ``(N, H, W, C)`` input, over ``N`` for ``(N, F)``
    input. While training, the batch's mean and biased variance normalise it,
    and the running statistics move with the batch's unbiased variance;
    ``predict`` / ``evaluate`` (``training=False``) use the running
    statistics. Learnable ``params["gamma"]`` (ones) and ``params["beta"]``
    (zeros); ``state["mean"]`` (zeros) and ``state["var"]`` (ones), saved with
    the model. The arithmetic is :mod:`pyx_cnn.ops.batch_norm` (``forward``
    while training, ``forward_infer`` otherwise).

    Where to break: ``forward`` / ``backward``, also in a network. One
    exception: in a network with ``fuse=True``, at inference, after a
    ``Conv2D`` without activation, the normalisation is folded into the
    convolution's filters: :func:`pyx_cnn.fusion.batch_norm_into_conv_forward`.
    """

    def __init__(self, momentum=0.1, epsilon=1e-5):
        super().__init__()
        self.momentum = _real(momentum, "momentum")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.epsilon = _real(epsilon, "epsilon")
        if not self.epsilon > 0 or not np.isfinite(self.epsilon):
            raise ValueError(f"epsilon must be a finite number > 0, got {epsilon}")
        self.state = {}

    def get_config(self):
        return {"momentum": self.momentum, "epsilon": self.epsilon}

    def _build(self, input_shape, rng, init_for):
        if len(input_shape) not in (1, 3):
            raise ValueError("BatchNormalization takes samples (H, W, C) or (features,), got "
                             f"input shape {shape_str(input_shape)}")
        c = input_shape[-1]
        self.params["gamma"] = np.ones(c, dtype=self.dtype)
        self.params["beta"] = np.zeros(c, dtype=self.dtype)
        self.state = {"mean": np.zeros(c, dtype=self.dtype), "var": np.ones(c, dtype=self.dtype)}
        return input_shape

    def _forward(self, x, training=False):
        gamma, beta = self.params["gamma"], self.params["beta"]
        if training:
            self._out, self._saved = batch_norm.forward(x, gamma, beta, self.epsilon)
            batch_norm.update_running(self.state["mean"], self.state["var"], self._saved,
                                      self.momentum)
        else:
            self._out = batch_norm.forward_infer(x, gamma, beta, self.state["mean"],
                                                 self.state["var"], self.epsilon)
            self._saved = None
        return self._out

    def _backward(self, grad):
        if self._saved is None:
            raise RuntimeError("BatchNormalization.backward needs a forward pass with "
                               "training=True (the batch statistics)")
        grad_x, grad_gamma, grad_beta = batch_norm.backward(grad, self._saved)
        self.grads["gamma"][...] = grad_gamma
        self.grads["beta"][...] = grad_beta
        return grad_x


class Dropout(Layer):
    """Inverted dropout: while training, each value is zeroed with probability
    `rate` and the kept ones are scaled by ``1 / (1 - rate)``; the identity in
    ``predict`` / ``evaluate``.

    Parameters
    ----------
    rate : float
        In [0, 1).

    The masks are drawn from a generator seeded by the network's seed (a layer
    used alone: by the `rng` given to ``build``), saved with the model. The
    arithmetic is :mod:`pyx_cnn.ops.dropout`; the layer always runs on its own
    in a network (break in ``forward`` / ``backward``).
    """

    def __init__(self, rate):
        super().__init__()
        self.rate = dropout.check_rate(rate)
        self._rng = None

    def get_config(self):
        return {"rate": self.rate}

    def _build(self, input_shape, rng, init_for):
        self._rng = rng.spawn(1)[0]
        return input_shape

    def _forward(self, x, training=False):
        if training and self.rate > 0:
            self._out, self._saved = dropout.forward(x, self.rate, self._rng)
        else:
            self._out, self._saved = x, None
        return self._out

    def _backward(self, grad):
        return grad if self._saved is None else dropout.backward(grad, self._saved)
