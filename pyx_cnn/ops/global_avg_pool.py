"""Global average pooling: the mean over ``(H, W)`` per sample and channel,
``(N, H, W, C) -> (N, C)``, forward and backward.

Arrays are C-contiguous, of one float dtype; the callers validate them
(``H, W >= 1``). The sums run in double precision, then are divided by
``H*W``. The backward pass needs only the input's shape.
"""
import numpy as np

from .. import _avg_pool
from .._threads import get_num_threads

__all__ = ["forward", "backward"]


def forward(x):
    """Mean over ``(H, W)``: ``(N, H, W, C) -> (N, C)``, and what :func:`backward` needs.

    Returns
    -------
    out : ndarray, shape (N, C)
    saved : tuple
        ``(input_shape,)``.

    See Also
    --------
    pyx_cnn.reference.global_avg_pooling : The same means, by loops.
    """
    n, _, _, c = x.shape
    out = np.empty((n, c), dtype=x.dtype)
    acc = np.empty((n, c), dtype=np.float64)
    _avg_pool._global_avgpool_forward(x, out, acc, get_num_threads())
    return out, (x.shape,)


def backward(grad_out, saved):
    """``dL/dx`` ``(N, H, W, C)``: ``grad_out[n, c] / (H*W)`` at every pixel.

    See Also
    --------
    pyx_cnn.reference.global_avg_pooling_backward : The same shares, by loops.
    """
    (input_shape,) = saved
    grad_x = np.empty(input_shape, dtype=grad_out.dtype)
    _avg_pool._global_avgpool_backward(grad_out, grad_x, get_num_threads())
    return grad_x
