"""Loss functions: softmax cross-entropy, binary cross-entropy, mean squared error,
and :class:`Loss`, the base class of a loss of your own.

Each loss is a :class:`Loss`: ``loss.value_and_grad(output, target)`` (also
``loss(output, target)``) gives the mean loss as a Python float and
``dL/d(output)`` as an array of the output's shape and dtype. ``fit``,
``evaluate`` and ``gradient_descent`` take any of them (``loss=...``).

The class axis is the last one, whatever the output's rank: an output
``(N, K)`` holds one row of K scores per sample, an output ``(N, H, W, K)``
one row per pixel. Integer labels have the output's shape without its last
axis (``(N,)`` or ``(N, H, W)``; ``(N,)`` also fits an output ``(N, 1, 1, K)``).
Cross-entropy is the mean over every row (over ``N*H*W`` positions for an
image-shaped output), as ``torch.nn.functional.cross_entropy`` with
``reduction="mean"``.

``SoftmaxCrossEntropy`` takes *logits* (pre-softmax scores). It is fused with
the softmax: the loss is ``mean(logsumexp(z) - z[label])``, computed with the
maximum subtracted so it never overflows, and the gradient is
``(softmax(z) - onehot) / M`` for M rows. A network whose last layer ends in a
softmax hands the loss that layer's logits and skips the softmax in its
backward pass.

``BinaryCrossEntropy`` takes logits too (one score per sample for a network
ending in ``Dense(1, activation="sigmoid")``): the loss is
``mean(softplus(z) - t * z)``, finite for any score, and the gradient
``(sigmoid(z) - t) / M``. When the network's final sigmoid still ran
(``fuse=False``), the loss takes its probabilities instead
(:meth:`BinaryCrossEntropy.value_grad_correct_from_probabilities`).

A loss of your own subclasses :class:`Loss` and implements ``value_and_grad``;
the built-in losses override :meth:`Loss.value_grad_correct` too, with their
fused kernels, which also count the correct rows in the same pass.
"""
import numpy as np

from . import _cross_entropy
from ._correct import count_binary, count_by_output, count_correct
from ._validation import as_array, as_kernel_array, check_labels, shape_str, working_dtype

__all__ = ["Loss", "SoftmaxCrossEntropy", "BinaryCrossEntropy", "MeanSquaredError",
           "get_loss", "LOSS_CLASSES"]


def _softmax_and_log_sum_exp(z):
    """For 2-D logits (M, K)."""
    shifted = z - z.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = probs.sum(axis=1, keepdims=True)
    probs /= total
    return probs, shifted, np.log(total)


def _label_shape_fits(label_shape, output_shape):
    """True when labels of `label_shape` give one class per row of `output_shape`."""
    rows = output_shape[:-1]
    if label_shape == rows:
        return True
    # (N,) labels for an (N, 1, 1, K) output: one position per sample
    return (len(label_shape) == 1 and len(rows) >= 1 and label_shape[0] == rows[0]
            and all(s == 1 for s in rows[1:]))


def _check_loss_args(output, target, min_ndim=1):
    """Validate a loss's public arguments (the kernel indexes by the labels).

    Returns ``output`` as a C-contiguous float array and ``target`` as int64
    labels (of the output's shape without its last axis) or as a float array
    of ``output``'s shape.
    """
    output = as_array(output, "output")
    target = as_array(target, "target")
    if output.ndim < min_ndim or output.size == 0:
        raise ValueError(f"output must be a non-empty array of at least {min_ndim} dimension(s)"
                         f" (N, ..., K), got shape {shape_str(output.shape)}")
    dtype = working_dtype(output)
    output = as_kernel_array(output, dtype)
    if target.shape == output.shape and not (target.dtype.kind in "iub" and output.ndim == 1):
        return output, as_kernel_array(target, dtype)
    if output.ndim >= 2 and _label_shape_fits(target.shape, output.shape):
        labels = check_labels(target, output.shape[-1], "target")
        return output, labels.reshape(output.shape[:-1])
    if output.ndim >= 2 and target.ndim == 1 and output.ndim == 2:
        raise ValueError(f"target has {target.shape[0]} labels for {output.shape[0]} rows "
                         "of output")
    labels_shape = shape_str(output.shape[:-1]) if output.ndim >= 2 else "(none: 1-D output)"
    raise ValueError(f"target must be integer labels of shape {labels_shape} or targets of "
                     f"output's shape {shape_str(output.shape)}, got {shape_str(target.shape)}")


def _rows(z):
    """``z`` (N, ..., K) as 2-D rows (M, K), a view when ``z`` is C-contiguous."""
    return z.reshape(-1, z.shape[-1])


class Loss:
    """Base class of the losses: subclass it to train with a loss of your own.

    A subclass implements :meth:`value_and_grad`; ``fit(X, y, loss=MyLoss())``,
    ``evaluate`` and :class:`~pyx_cnn.NeuralNetwork` ``(loss=...)`` then use it::

        import numpy as np
        from pyx_cnn import losses

        class Huber(losses.Loss):
            def __init__(self, delta=1.0):
                self.delta = delta

            def value_and_grad(self, output, target):
                diff = output - target
                small = np.abs(diff) <= self.delta
                value = np.where(small, 0.5 * diff ** 2,
                                 self.delta * (np.abs(diff) - 0.5 * self.delta))
                grad = np.where(small, diff, self.delta * np.sign(diff)) / diff.size
                return float(value.mean()), grad

    Attributes
    ----------
    name : str
        Names the loss in messages; the class's name unless the subclass sets
        it. Only the built-in losses are saved with a model (:meth:`NeuralNetwork.save`).
    activation : {None, "softmax", "sigmoid"}
        The activation the loss applies to its input itself (None for a loss
        of your own). Cross-entropy sets ``"softmax"``: a network ending in a
        softmax then hands it the logits (the fusion rule ``softmax_into_loss``)
        and, with ``fuse=False``, the probabilities, through
        :meth:`value_grad_correct_from_probabilities`.
    """

    name = "Loss"
    activation = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in vars(cls):   # a subclass that sets no name is named by its class
            cls.name = cls.__name__

    def value_and_grad(self, output, target):
        """The mean loss of a batch and its gradient with respect to `output`.

        Parameters
        ----------
        output : ndarray, shape (N, ...) + (K,)
            The network's output (C-contiguous, of the network's dtype).
        target : ndarray
            As ``fit`` prepared ``y``: int64 class labels of the output's shape
            without its last axis, or float targets of the output's shape.

        Returns
        -------
        value : float
            The loss of the batch, a mean (over samples, or over every element
            as mean squared error): what ``fit`` reports and minimises.
        grad : ndarray, shape of `output`
            ``d value / d output``, the 1/M of the mean included.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  "value_and_grad(output, target)")

    def __call__(self, output, target):
        """``value_and_grad(output, target)``."""
        return self.value_and_grad(output, target)

    def value_grad_correct(self, output, target, labels):
        """What ``fit`` and ``evaluate`` call for each batch: the value, the gradient
        and the number of correct samples (None when `labels` is None).

        By default :meth:`value_and_grad`, checked (a real value, a gradient of
        the output's shape, cast to its dtype), and the rows whose arg-max over
        the last axis is the label (for one output, ``output > 0.5`` against
        0/1 labels), counted in samples. The built-in losses override it with
        their fused kernels.
        """
        value, grad = self.value_and_grad(output, target)
        return (_checked_value(self, value), _checked_grad(self, grad, output),
                count_by_output(output, labels))

    def value_grad_correct_from_probabilities(self, p, target, labels):
        """As :meth:`value_grad_correct`, when the network's last layer already
        applied :attr:`activation` (``fuse=False``): a loss that sets
        ``activation`` implements it."""
        raise NotImplementedError(f"{type(self).__name__} sets activation="
                                  f"{self.activation!r} but does not implement "
                                  "value_grad_correct_from_probabilities")


def _checked_value(loss, value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{type(loss).__name__}.value_and_grad must return a real number as "
                        f"its value, got {type(value).__name__}") from None


def _checked_grad(loss, grad, output):
    grad = np.asarray(grad)
    if grad.shape != output.shape:
        raise ValueError(f"{type(loss).__name__}.value_and_grad must return a gradient of the "
                         f"output's shape {shape_str(output.shape)}, got "
                         f"{shape_str(grad.shape)}")
    if grad.dtype.kind not in "fiub":
        raise TypeError(f"{type(loss).__name__}.value_and_grad must return a real gradient, "
                        f"got dtype {grad.dtype}")
    return as_kernel_array(grad, output.dtype)


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of ``softmax(z)`` over the last axis, against labels or distributions.

    ``z`` is ``(N, ..., K)``; ``target`` is either integer labels in
    ``[0, K)`` of shape ``z.shape[:-1]`` (``(N,)`` for ``(N, K)`` logits,
    ``(N, H, W)`` for per-pixel logits ``(N, H, W, K)``), or probabilities of
    ``z``'s shape (one-hot rows, for example). The value is the mean over all
    ``M = z.size // K`` rows and the gradient is scaled by ``1 / M``.
    """

    name = "cross_entropy"
    activation = "softmax"

    def value_and_grad(self, z, target):
        z, target = _check_loss_args(z, target, min_ndim=2)
        return self.value_grad_correct(z, target, None)[:2]

    def value_grad_correct(self, z, target, labels):
        """(mean loss, dL/dz, correct rows counted in samples, or None).

        ``z`` is a C-contiguous float array ``(N, ..., K)``; ``target`` int64
        labels (``z.shape[:-1]``, or ``(N,)`` when that has one position per
        sample) or a float array of ``z``'s shape. The third value counts the
        rows whose arg-max is the label, each worth ``N / M`` of a sample, so
        that dividing by N gives the fraction of rows right.
        """
        if not z.flags.c_contiguous:
            z = np.ascontiguousarray(z)
        rows = z if z.ndim == 2 else _rows(z)
        per_sample = rows.shape[0] // z.shape[0]
        if target.dtype.kind in "iu" and z.dtype.char in "fd":
            flat_labels = target if target.ndim == 1 else target.reshape(-1)
            if flat_labels.dtype.type is not np.int64 or not flat_labels.flags.c_contiguous:
                flat_labels = np.ascontiguousarray(flat_labels, dtype=np.int64)
            grad = np.empty_like(z)
            value, correct = _cross_entropy._softmax_cross_entropy_labels(
                rows, flat_labels, grad if z.ndim == 2 else _rows(grad))
            return value, grad, (correct if per_sample == 1 else correct / per_sample)
        value, grad = self._numpy(rows, target.reshape(-1) if target.dtype.kind in "iu"
                                  else _rows(target))
        return value, grad.reshape(z.shape), count_correct(z, labels)

    def value_grad_correct_from_probabilities(self, p, target, labels):
        """As :meth:`value_grad_correct`, for probabilities ``p = softmax(z)``.

        The unfused path (``fuse=False``): the network's last softmax ran, so
        the loss is ``-mean(sum(t * log p))`` and its gradient ``-t / (p * M)``;
        chained with the softmax's backward pass it equals the fused gradient
        ``(p - t) / M`` to rounding. A probability of exactly 0 at a target
        gives an infinite loss (the fused path stays finite).
        """
        rows = _rows(np.ascontiguousarray(p))
        m = rows.shape[0]
        if target.dtype.kind in "iu":
            t = np.zeros_like(rows)
            t[np.arange(m), target.reshape(-1)] = 1
        else:
            t = _rows(target)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = -float(np.sum(t * np.log(rows), where=t != 0)) / m
            grad = np.where(t != 0, -t / (rows * m), 0).astype(p.dtype)
        return value, grad.reshape(p.shape), count_correct(p, labels)

    def _numpy(self, z, target):
        """Value and gradient for 2-D logits (M, K) and labels (M,) or rows (M, K)."""
        m = z.shape[0]
        probs, shifted, log_total = _softmax_and_log_sum_exp(z)
        if target.ndim == 1:
            rows = np.arange(m)
            value = float(np.sum(log_total[:, 0] - shifted[rows, target])) / m
            probs[rows, target] -= 1
        else:
            value = float(np.sum(target * (log_total - shifted))) / m
            probs -= target
        probs /= m
        return value, probs


def _binary_targets(z, target):
    """Targets as floats of `z`'s shape: 0/1 labels ``(N,)`` for ``(N, 1)`` scores, or as given."""
    if target.shape != z.shape:
        target = target.reshape(z.shape)
    if target.dtype != z.dtype:
        target = target.astype(z.dtype)
    return target


def _check_binary_args(output, target):
    output = as_array(output, "output")
    target = as_array(target, "target")
    if output.ndim < 1 or output.size == 0:
        raise ValueError(f"output must be a non-empty array, got shape {shape_str(output.shape)}")
    dtype = working_dtype(output)
    output = as_kernel_array(output, dtype)
    if target.shape != output.shape and not (
            output.ndim == 2 and output.shape[1] == 1 and target.shape == output.shape[:1]):
        raise ValueError(f"target must have output's shape {shape_str(output.shape)}"
                         + (f" or {shape_str(output.shape[:1])}" if output.ndim == 2
                            and output.shape[1] == 1 else "")
                         + f", got {shape_str(target.shape)}")
    values = target.astype(np.float64, copy=False)
    if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()):
        raise ValueError("target must hold values in [0, 1] (labels 0/1 or probabilities)")
    return output, as_kernel_array(target, dtype)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy of ``sigmoid(z)`` against targets in [0, 1], elementwise.

    ``z`` is ``(N, 1)`` (one score per sample) or any shape; ``target`` holds
    0/1 labels ``(N,)`` for ``(N, 1)`` scores, or values in [0, 1] of ``z``'s
    shape. The value is the mean over all elements of
    ``max(z, 0) - t * z + log1p(exp(-|z|))`` (finite for any score), as
    ``torch.nn.functional.binary_cross_entropy_with_logits``; the gradient is
    ``(sigmoid(z) - t) / M``. Accuracy counts ``p > 0.5`` (``z > 0``) against
    the label.
    """

    name = "binary_cross_entropy"
    activation = "sigmoid"

    def value_and_grad(self, z, target):
        z, target = _check_binary_args(z, target)
        return self.value_grad_correct(z, target, None)[:2]

    def from_probabilities(self, p, target):
        """Value and gradient ``dL/dp`` for probabilities ``p = sigmoid(z)`` (not logits)."""
        p, target = _check_binary_args(p, target)
        return self.value_grad_correct_from_probabilities(p, target, None)[:2]

    def value_grad_correct(self, z, target, labels):
        """(mean loss, dL/dz, correct samples or None) for logits `z`."""
        t = _binary_targets(z, target)
        m = z.size
        value = float(np.sum(np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z))))) / m
        # sigmoid without overflow: exp of a non-positive number only
        e = np.exp(-np.abs(z))
        grad = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        grad -= t
        grad /= m
        return value, grad.astype(z.dtype, copy=False), count_binary(z > 0, labels)

    def value_grad_correct_from_probabilities(self, p, target, labels):
        """As :meth:`value_grad_correct`, for probabilities ``p = sigmoid(z)``.

        The unfused path (``fuse=False``): the network's last sigmoid ran, so
        the loss is ``-mean(t log p + (1 - t) log(1 - p))`` and its gradient
        ``(p - t) / (p (1 - p) M)``; chained with the sigmoid's backward pass it
        equals the fused gradient ``(p - t) / M`` to rounding. A probability
        rounded to exactly 0 or 1 against the other label gives an infinite
        loss (the fused path, from logits, stays finite).
        """
        t = _binary_targets(p, target)
        m = p.size
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = np.log(p)
            log_q = np.log1p(-p)
            value = -float(np.sum(np.where(t != 0, t * log_p, 0)
                                  + np.where(t != 1, (1 - t) * log_q, 0))) / m
            grad = (p - t) / (p * (1 - p) * m)
        grad = np.where(p == t, 0, grad).astype(p.dtype, copy=False)
        return value, grad, count_binary(p > 0.5, labels)


class MeanSquaredError(Loss):
    """``mean((output - target) ** 2)`` over all elements.

    Integer labels (the output's shape without its last axis) become one-hot
    rows along the last axis.
    """

    name = "mse"

    def value_grad_correct(self, output, target, labels):
        value, grad = self._compute(output, target)
        return value, grad, count_by_output(output, labels)

    def value_and_grad(self, output, target):
        return self._compute(*_check_loss_args(output, target))

    def _compute(self, output, target):
        if target.dtype.kind in "iu" and output.shape[-1] == 1:   # 0/1 labels, one output
            target = target.reshape(output.shape).astype(output.dtype)
        elif target.dtype.kind in "iu":   # labels: one-hot along the last axis
            onehot = np.zeros_like(output)
            _rows(onehot)[np.arange(target.size), target.reshape(-1)] = 1
            target = onehot
        diff = output - target
        value = float(np.mean(diff * diff))
        diff *= 2.0 / diff.size
        return value, diff


LOSS_CLASSES = {"cross_entropy": SoftmaxCrossEntropy, "binary_cross_entropy": BinaryCrossEntropy,
                "mse": MeanSquaredError}
_ALIASES = {"categorical_crossentropy": "cross_entropy", "softmax_cross_entropy": "cross_entropy",
            "crossentropy": "cross_entropy", "mean_squared_error": "mse",
            "binary_crossentropy": "binary_cross_entropy", "bce": "binary_cross_entropy"}


def get_loss(loss):
    """A loss instance from a name (``"cross_entropy"``, ``"binary_cross_entropy"``,
    ``"mse"``) or a :class:`Loss` instance (returned as it is).

    Names are case-insensitive, as optimiser and activation names are; the
    instance's ``name`` is the canonical lower-case form.
    """
    if isinstance(loss, Loss):
        if (type(loss).value_and_grad is Loss.value_and_grad
                and type(loss).value_grad_correct is Loss.value_grad_correct):
            raise TypeError(f"loss {type(loss).__name__} must implement "
                            "value_and_grad(output, target)")
        return loss
    if isinstance(loss, str):
        key = _ALIASES.get(loss.lower(), loss.lower())
        if key in LOSS_CLASSES:
            return LOSS_CLASSES[key]()
    if isinstance(loss, type) and issubclass(loss, Loss):
        raise TypeError(f"loss must be a Loss instance, got the class {loss.__name__}: "
                        f"pass {loss.__name__}()")
    raise ValueError("loss must be 'cross_entropy', 'binary_cross_entropy', 'mse' or a "
                     f"pyx_cnn.losses.Loss instance, got {loss!r}")
