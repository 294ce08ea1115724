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
from ._validation import as_array, as_kernel_array, shape_str, working_dtype

__all__ = ["SoftmaxCrossEntropy", "MeanSquaredError", "get_loss"]


def _softmax_and_log_sum_exp(z):
    shifted = z - z.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = probs.sum(axis=1, keepdims=True)
    probs /= total
    return probs, shifted, np.log(total)


def _check_loss_args(output, target, output_2d=False):
    """Validate a loss's public arguments (the kernel indexes by the labels).

    Returns ``output`` as a C-contiguous float array and ``target`` as int64
    labels (1-D target) or a float array of ``output``'s shape.
    """
    output = as_array(output, "output")
    target = as_array(target, "target")
    if output.ndim < 1 or output.size == 0 or (output_2d and output.ndim != 2):
        raise ValueError(f"output must be a non-empty {'2-D (N, K)' if output_2d else ''} "
                         f"array, got shape {shape_str(output.shape)}")
    dtype = working_dtype(output)
    output = as_kernel_array(output, dtype)
    if target.ndim == 1:
        if output.ndim != 2:
            raise ValueError("integer labels need an output of shape (N, K), got "
                             f"{shape_str(output.shape)}")
        n, k = output.shape
        if target.shape[0] != n:
            raise ValueError(f"target has {target.shape[0]} labels for {n} rows of output")
        if target.dtype.kind == "f" and not np.all(np.isfinite(target) & (target == np.round(target))):
            raise ValueError("target as a 1-D array must hold integer class labels")
        labels = target.astype(np.int64)
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"target labels must lie in [0, {k}), got range "
                             f"[{labels.min()}, {labels.max()}]")
        return output, labels
    if target.shape != output.shape:
        raise ValueError(f"target must be labels (N,) or of output's shape "
                         f"{shape_str(output.shape)}, got {shape_str(target.shape)}")
    return output, as_kernel_array(target, dtype)


class SoftmaxCrossEntropy:
    """Cross-entropy of ``softmax(z)`` against integer labels or target distributions.

    ``target`` is either 1-D integer labels ``(N,)`` in ``[0, K)`` or
    ``(N, K)`` probabilities (one-hot rows, for example). Mean over the batch.
    """

    name = "cross_entropy"

    def __call__(self, z, target):
        z, target = _check_loss_args(z, target, output_2d=True)
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
        value, grad = self._compute(output, target)
        return value, grad, _count_correct(output, labels)

    def __call__(self, output, target):
        return self._compute(*_check_loss_args(output, target))

    def _compute(self, output, target):
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
