"""What a network accepts as a batch of inputs ``X`` and of targets ``y``:
checks, conversions, and hints for the common mistakes (one sample instead of a
batch, channels-first images)."""
import numpy as np

from ._validation import (
    as_array, as_kernel_array, check_labels, check_result_size, needs_kernel_copy, shape_str,
)

__all__ = ["check_input_shape", "sample_shape", "prepare_x", "prepare_y", "shape_hint",
           "channels_first_hint"]


def check_input_shape(input_shape):
    """`input_shape` as a tuple of ints >= 1 (an int means ``(features,)``)."""
    expected = "a tuple of ints >= 1, (H, W), (H, W, C) or (features,)"
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if isinstance(input_shape, np.ndarray):
        input_shape = input_shape.tolist()
    if not isinstance(input_shape, (tuple, list)):
        given = "None" if input_shape is None else \
            f"{type(input_shape).__name__} {input_shape!r}"
        raise TypeError(f"input_shape must be {expected}, got {given}")
    for size in input_shape:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"input_shape must be {expected}, got {input_shape!r} "
                            f"(holding {type(size).__name__} {size!r})")
    if len(input_shape) not in (1, 2, 3) or min(input_shape) < 1:
        raise ValueError(f"input_shape must be {expected}, got "
                         f"{tuple(int(s) for s in input_shape)}")
    return tuple(int(s) for s in input_shape)


def sample_shape(input_shape):
    """One sample's array shape: ``(H, W)`` means one channel, ``(H, W, 1)``."""
    return tuple(input_shape) + (1,) if len(input_shape) == 2 else tuple(input_shape)


def _batch_str(shape):
    """``(N, 6, 6)`` for a batch of samples of `shape`."""
    return "(N" + "".join(f", {s}" for s in shape) + (")" if shape else ",)")


def prepare_x(X, input_shape, dtype, name="X"):
    """`X` as a C-contiguous batch of the network's dtype, ``(N,) + sample shape``."""
    X = as_array(X, name)
    sample = sample_shape(input_shape)
    given = X.shape
    if len(sample) == 3 and sample[2] == 1 and X.ndim == 3:
        X = X[..., np.newaxis]
    if X.ndim != len(sample) + 1 or X.shape[1:] != sample or X.shape[0] < 1:
        expected = ", ".join(map(str, input_shape))
        raise ValueError(
            f"{name} must be a non-empty batch of shape (N, {expected})"
            + (f" or (N, {sample[0]}, {sample[1]})" if sample[-1:] == (1,) and len(sample) == 3
               else "")
            + f", got {shape_str(given)}" + shape_hint(given, input_shape))
    if needs_kernel_copy(X, dtype):
        check_result_size(name, (X.shape, dtype))
    return as_kernel_array(X, dtype)


_NCHW_HINT = (": this looks like a channels-first (NCHW) batch; pyx_cnn is channels-last: "
              "use X.transpose(0, 2, 3, 1)")


def shape_hint(shape, input_shape):
    """A hint for a common mistake behind a refused input shape, or ""."""
    sample = sample_shape(input_shape)
    if len(sample) == 3:
        h, w, c = sample
        if len(shape) == 4 and shape[1:] == (c, h, w) != sample:
            return _NCHW_HINT
        if len(shape) == 3 and shape == (c, h, w) != sample:
            return (": this looks like one channels-first (CHW) image; pyx_cnn is "
                    "channels-last: use X.transpose(1, 2, 0)")
    if shape == input_shape or (len(sample) == 3 and sample[2] == 1
                                     and shape == sample[:2]):
        return ": this is one sample; pass a batch of one, X[np.newaxis]"
    return ""


def channels_first_hint(shape):
    """The channels-first hint for a batch that looks like ``(N, C, H, W)`` images, or "".

    For callers with no ``input_shape`` to compare with (the scikit-learn
    estimators take the sample shape from their first ``X``): a 4-D batch
    whose axis 1 is small (at most 4: gray, RGB, RGBA channels) while both
    last axes are larger, as image sizes are. ``(N, 8, 8, 1)``,
    ``(N, 32, 32, 3)`` and ``(N, 1, 1, C)`` are channels-last.
    """
    if len(shape) == 4 and shape[1] <= 4 < min(shape[2], shape[3]):
        return _NCHW_HINT
    return ""


def prepare_y(y, n, output_shape, dtype, name="y"):
    """Integer labels as int64, or float targets of ``(n,) + output_shape``.

    Labels have the output's shape without its last (class) axis:
    ``(N,)`` for an output ``(K,)`` or ``(1, 1, K)``, ``(N, H, W)`` for
    per-pixel outputs ``(H, W, K)``. For one output per position (K = 1),
    integer labels are 0/1 (binary cross-entropy), and float ``y`` of that
    shape is a target per position, as ``y[..., np.newaxis]`` (Keras reads
    ``(N,)`` targets of a one-output network as ``(N, 1)``).
    """
    y = as_array(y, name)
    out = output_shape
    k = out[-1]
    if y.shape == (n,) + out:
        return as_kernel_array(y, dtype)
    label_shapes = [(n,) + out[:-1]]
    if len(out) > 1 and all(s == 1 for s in out[:-1]):
        label_shapes.append((n,))
    if y.shape in label_shapes:
        if k == 1 and y.dtype.kind == "f":    # one float target per position
            return as_kernel_array(y.reshape((n,) + out), dtype)
        try:
            return check_labels(y, 2 if k == 1 else k, name)
        except ValueError as exc:
            raise ValueError(f"{exc}; " + _label_reading(y, out, name)) from None
    if y.ndim == 1:
        if y.shape[0] != n:
            what = "targets" if k == 1 and y.dtype.kind == "f" else "labels"
            raise ValueError(f"{name} has {y.shape[0]} {what} for {n} samples")
        raise ValueError(
            f"{name} as labels (N,) needs one output row per sample, but this network's "
            f"output is {shape_str(out)} per sample: give integer labels of shape "
            f"{_batch_str(out[:-1])} (one class per position) or targets of "
            f"shape {_batch_str(out)}")
    raise ValueError(
        f"{name} must be integer labels of shape {_batch_str(out[:-1])} or targets of "
        f"shape {_batch_str(out)} with N={n}, got {shape_str(y.shape)}")


def _label_reading(y, output_shape, name):
    """How `y` of the labels' shape was read, for a refused label."""
    k = output_shape[-1]
    where = "sample" if y.ndim == 1 else "position"
    if k == 1:
        return (f"this network has one output per {where}: integer {name} holds 0/1 labels "
                f"(binary classification); for regression give float targets, "
                f"{name}.astype(float)")
    return (f"this network has {k} outputs per {where} (output {shape_str(output_shape)}), so "
            f"{name} of shape {shape_str(y.shape)} is read as one class label in [0, {k}) per "
            f"{where}; float targets need shape {_batch_str(output_shape)}")
