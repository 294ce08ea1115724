"""Loss functions: softmax cross-entropy and mean squared error.

Each loss is a callable ``loss(output, target) -> (value, grad)``: the mean
loss over the batch as a Python float, and ``dL/d(output)`` as an array of the
output's shape and dtype.

``SoftmaxCrossEntropy`` takes *logits* (pre-softmax scores). It is fused with
the softmax: the loss is ``mean(logsumexp(z) - z[label])``, computed with the
maximum subtracted so it never overflows, and the gradient is
``(softmax(z) - onehot) / N``. A network whose last layer ends in a softmax
hands the loss that layer's logits and skips the softmax in its backward pass.
"""
import numpy as np

from . import _loss_grad

__all__ = ["SoftmaxCrossEntropy", "MeanSquaredError", "get_loss"]


def _softmax_and_log_sum_exp(z):
    shifted = z - z.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = probs.sum(axis=1, keepdims=True)
    probs /= total
    return probs, shifted, np.log(total)


class SoftmaxCrossEntropy:
    """Cross-entropy of ``softmax(z)`` against integer labels or target distributions.

    ``target`` is either 1-D integer labels ``(N,)`` in ``[0, K)`` or
    ``(N, K)`` probabilities (one-hot rows, for example). Mean over the batch.
    """

    name = "cross_entropy"

    def __call__(self, z, target):
        return self._value_grad_correct(z, target, None)[:2]

    def _value_grad_correct(self, z, target, labels):
        """(mean loss, dL/dz, number of rows whose arg-max is `labels`, or None)."""
        if target.ndim == 1 and z.ndim == 2 and z.dtype.char in "fd":
            if not z.flags.c_contiguous:
                z = np.ascontiguousarray(z)
            if target.dtype != np.int64 or not target.flags.c_contiguous:
                target = np.ascontiguousarray(target, dtype=np.int64)
            grad = np.empty_like(z)
            value, correct = _loss_grad._softmax_cross_entropy_labels(z, target, grad)
            return value, grad, correct
        value, grad = self._numpy(z, target)
        return value, grad, _count_correct(z, labels)

    def _numpy(self, z, target):
        n = z.shape[0]
        probs, shifted, log_total = _softmax_and_log_sum_exp(z)
        if target.ndim == 1:
            rows = np.arange(n)
            value = float(np.sum(log_total[:, 0] - shifted[rows, target])) / n
            probs[rows, target] -= 1
        else:
            value = float(np.sum(target * (log_total - shifted))) / n
            probs -= target
        probs /= n
        return value, probs


class MeanSquaredError:
    """``mean((output - target) ** 2)`` over all elements; integer labels become one-hot rows."""

    name = "mse"

    def _value_grad_correct(self, output, target, labels):
        value, grad = self(output, target)
        return value, grad, _count_correct(output, labels)

    def __call__(self, output, target):
        if target.ndim == 1:
            onehot = np.zeros_like(output)
            onehot[np.arange(output.shape[0]), target] = 1
            target = onehot
        diff = output - target
        value = float(np.mean(diff * diff))
        diff *= 2.0 / diff.size
        return value, diff


def _count_correct(output, labels):
    if labels is None:
        return None
    return int(np.count_nonzero(output.argmax(axis=1) == labels))


_LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}
_ALIASES = {"categorical_crossentropy": "cross_entropy", "softmax_cross_entropy": "cross_entropy",
            "crossentropy": "cross_entropy", "mean_squared_error": "mse"}


def get_loss(loss):
    """A loss instance from a name (``"cross_entropy"``, ``"mse"``) or an instance."""
    if isinstance(loss, (SoftmaxCrossEntropy, MeanSquaredError)):
        return loss
    if isinstance(loss, str):
        key = _ALIASES.get(loss.lower(), loss.lower())
        if key in _LOSSES:
            return _LOSSES[key]()
    raise ValueError(f"loss must be 'cross_entropy' or 'mse', got {loss!r}")
