"""The checks every model function makes of its arguments before it builds anything."""
import numbers

from .._validation import check_int

__all__ = ["check_image_shape", "check_num_classes", "check_positive_int"]


def check_positive_int(value, name):
    """`value` as an int >= 1 (TypeError for a non-integer, ValueError below 1)."""
    return check_int(value, name, 1)


def check_num_classes(num_classes):
    """`num_classes` as an int >= 2: a classifier needs two classes at least."""
    return check_int(num_classes, "num_classes", 2)


def check_image_shape(input_shape, min_side, model, why):
    """`input_shape` as ``(H, W, C)`` of ints, with ``H, W >= min_side``.

    Parameters
    ----------
    input_shape : tuple of int
        One image's shape, channels last.
    min_side : int
        The smallest height and width the model takes.
    model : str
        The model's name, for the message (``"resnet18"``).
    why : str
        Why the model needs `min_side` (``"three halvings"``), for the message.
    """
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                   for v in input_shape)):
        raise ValueError(f"input_shape must be (H, W, C), three integers >= 1, "
                         f"got {input_shape!r}")
    h, w, c = (int(v) for v in input_shape)
    if min(h, w) < min_side:
        raise ValueError(f"input_shape {(h, w, c)} is too small for {model}: height and "
                         f"width must each be at least {min_side} ({why})")
    return h, w, c
