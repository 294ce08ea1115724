"""Average pooling: ``size x size`` windows every `stride` pixels, per channel, on
channels-last batches ``(N, H, W, C)``, forward and backward.

Floor mode and no padding (as PyTorch's ``avg_pool2d(ceil_mode=False)``):
``Hout = (H - size) // stride + 1`` (likewise ``Wout``). Arrays are
C-contiguous, of one float dtype; the callers validate them
(``1 <= size <= min(H, W)``, ``stride >= 1``).

The backward pass needs only the input's shape and the window: ``saved`` holds
nothing else. Overlapping windows (``stride < size``) add their shares.
"""
import numpy as np

from .. import _avg_pool
from .._geometry import output_size
from .._threads import get_num_threads

__all__ = ["output_shape", "forward", "backward"]


def output_shape(x_shape, size, stride):
    """``(N, Hout, Wout, C)`` of average pooling an ``(N, H, W, C)`` input."""
    n, h, w, c = x_shape
    return (n, output_size(h, size, stride), output_size(w, size, stride), c)


def forward(x, size=2, stride=2):
    """Mean of each ``size x size`` window every `stride`, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    size, stride : int

    Returns
    -------
    out : ndarray, shape (N, Hout, Wout, C)
    saved : tuple
        ``(input_shape, size, stride)``.

    See Also
    --------
    pyx_cnn.reference.avg_pooling : The mean of each window, by loops.
    """
    out = np.empty(output_shape(x.shape, size, stride), dtype=x.dtype)
    _avg_pool._avgpool2d_forward(x, out, size, stride, get_num_threads())
    return out, (x.shape, size, stride)


def backward(grad_out, saved):
    """``dL/dx`` ``(N, H, W, C)`` from ``grad_out = dL/dout`` ``(N, Hout, Wout, C)``.

    Each input value receives ``grad_out / size**2`` from every window holding
    it; values no window reaches (the edge rows and columns floor mode drops)
    get 0.

    See Also
    --------
    pyx_cnn.reference.avg_pooling_backward : The same shares, by loops.
    """
    input_shape, size, stride = saved
    grad_x = np.empty(tuple(input_shape), dtype=grad_out.dtype)
    _avg_pool._avgpool2d_backward(grad_out, grad_x, size, stride, get_num_threads())
    return grad_x
