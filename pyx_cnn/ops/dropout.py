"""Inverted dropout, forward and backward.

While training, each value is kept with probability ``1 - rate`` and scaled
by ``1 / (1 - rate)``, so the expected output equals the input; outside
training a dropout layer is the identity (the layer decides, not this op).
The keep-mask is drawn from the caller's ``numpy.random.Generator``:
``rng.random(x.shape, dtype=np.float32) >= rate`` (float32 draws whatever x's
dtype, so one seed gives one mask for float32 and float64 models), stored as
uint8. The map is a multiplication also where a value is dropped, as
PyTorch's ``x * mask / (1 - p)``: a dropped NaN or infinity gives NaN.

Arrays are C-contiguous and of one float dtype; the callers validate them.
"""
from typing import NamedTuple

import numpy as np

from .. import _dropout
from .._threads import get_num_threads

__all__ = ["DropoutSaved", "check_rate", "forward", "backward"]


class DropoutSaved(NamedTuple):
    """What :func:`forward` keeps for :func:`backward`.

    mask : ndarray of uint8 (x's shape), or None for rate 0
        1 where the value was kept.
    scale : float
        ``1 / (1 - rate)``.
    """

    mask: np.ndarray
    scale: float


def check_rate(rate):
    """`rate` as a float, or ValueError unless ``0 <= rate < 1``."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise TypeError(f"rate must be a number in [0, 1), got {rate!r}") from None
    if not 0 <= value < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    return value


def _apply(x, mask, scale):
    out = np.empty_like(x)
    _dropout._apply_mask(x.reshape(-1), mask.reshape(-1), scale, out.reshape(-1),
                         get_num_threads())
    return out


def forward(x, rate, rng):
    """``(y, saved)``: ``y = x * mask / (1 - rate)`` in a new array.

    Rate 0 draws nothing from `rng` and returns a copy of `x`.

    Parameters
    ----------
    x : ndarray, any shape
    rate : float
        In [0, 1).
    rng : numpy.random.Generator
        Draws the mask.

    Returns
    -------
    y : ndarray, x's shape and dtype
    saved : DropoutSaved
        The mask and the scale.

    See Also
    --------
    pyx_cnn.reference.dropout : The same product for a given mask, by loops.
    """
    rate = check_rate(rate)
    if rate == 0:
        return x.copy(), DropoutSaved(None, 1.0)
    mask = (rng.random(x.shape, dtype=np.float32) >= np.float32(rate)).view(np.uint8)
    scale = 1.0 / (1.0 - rate)
    return _apply(x, mask, scale), DropoutSaved(mask, scale)


def backward(grad_out, saved):
    """dL/dx: the forward pass's mask and scale applied to `grad_out` (a new array).

    See Also
    --------
    pyx_cnn.reference.dropout_backward : The same product, by loops.
    """
    if saved.mask is None:
        return grad_out.copy()
    return _apply(grad_out, saved.mask, saved.scale)
