"""Average pooling, forward and backward, channels-last ``(N, H, W, C)``.

``size x size`` windows every `stride` pixels, floor mode and no padding (as
PyTorch's ``avg_pool2d(ceil_mode=False)``): ``Hout = (H - size) // stride + 1``
(likewise ``Wout``). Arrays are C-contiguous, of one float dtype; the callers
validate them (``1 <= size <= min(H, W)``, ``stride >= 1``).

The forward pass keeps nothing: the backward pass needs only the input's shape
and the window. Overlapping windows (``stride < size``) add their shares.
"""
import numpy as np

from .. import _avg_pool
from .._threads import get_num_threads

__all__ = ["output_shape", "forward", "backward"]


def output_shape(x_shape, size, stride):
    """``(N, Hout, Wout, C)`` of average pooling an ``(N, H, W, C)`` input."""
    n, h, w, c = x_shape
    return (n, (h - size) // stride + 1, (w - size) // stride + 1, c)


def forward(x, size=2, stride=2):
    """Mean of each ``size x size`` window every `stride`: ``(N, H, W, C) -> (N, Ho, Wo, C)``."""
    out = np.empty(output_shape(x.shape, size, stride), dtype=x.dtype)
    _avg_pool._avgpool2d_forward(x, out, size, stride, get_num_threads())
    return out


def backward(grad, x_shape, size=2, stride=2):
    """dL/dx, ``(N, H, W, C)``, from ``grad = dL/dout`` ``(N, Ho, Wo, C)``.

    Each input value receives ``grad / size**2`` from every window holding it;
    values no window reaches (the edge rows and columns floor mode drops) get 0.
    """
    grad_x = np.empty(tuple(x_shape), dtype=grad.dtype)
    _avg_pool._avgpool2d_backward(grad, grad_x, size, stride, get_num_threads())
    return grad_x
