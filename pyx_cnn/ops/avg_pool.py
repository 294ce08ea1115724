"""Average pooling: ``size x size`` windows every `stride` pixels, per channel, on
channels-last batches ``(N, H, W, C)``, forward and backward.

As PyTorch's ``avg_pool2d``: the input may be padded with zeros (`padding`,
any form :func:`pyx_cnn._geometry.resolve_padding` reads, at most
``size // 2`` per side); the output sizes are those of max pooling
(:func:`pyx_cnn._geometry.pool_output_size`, ``ceil_mode`` included). Each
window's sum of its values inside the input is divided by

- ``size * size`` for a window inside the input;
- with ``count_include_pad`` (the default), the number of the window's
  positions inside the padded input: the padding counts, the part of a
  ceil-mode window past the padding does not;
- without it, the number of the window's values inside the input.

Arrays are C-contiguous, of one float dtype; the callers validate them (every
window holds an input value). The backward pass needs only the input's shape
and the window: ``saved`` holds nothing else. Overlapping windows (``stride <
size``) add their shares.
"""
import numpy as np

from .. import _avg_pool
from .._threads import get_num_threads
from .max_pool import _output_shape, _pads, output_shape

__all__ = ["output_shape", "forward", "backward"]


def forward(x, size=2, stride=2, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean of each ``size x size`` window every `stride`, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    size, stride : int
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int)), optional
        Zeros around the input.
    ceil_mode : bool, optional
        Round the number of windows up (PyTorch's ``ceil_mode``).
    count_include_pad : bool, optional
        Whether the divisor counts the padding (see the module docstring).

    Returns
    -------
    out : ndarray, shape (N, Hout, Wout, C)
    saved : tuple
        ``(input_shape, size, stride, pads, count_include_pad)``, `pads` the
        resolved ``((top, bottom), (left, right))``.

    See Also
    --------
    pyx_cnn.reference.avg_pooling : The mean of each window, by loops.
    """
    pads = _pads(x.shape, size, stride, padding)
    out = np.empty(_output_shape(x.shape, size, stride, pads, ceil_mode), dtype=x.dtype)
    _avg_pool._avgpool2d_forward(x, out, size, stride, get_num_threads(), pads,
                                 count_include_pad)
    return out, (x.shape, size, stride, pads, count_include_pad)


def backward(grad_out, saved):
    """``dL/dx`` ``(N, H, W, C)`` from ``grad_out = dL/dout`` ``(N, Hout, Wout, C)``.

    Each input value receives ``grad_out / divisor`` from every window holding
    it (the forward pass's divisor of that window); values no window reaches
    (the edge rows and columns floor mode drops) get 0.

    See Also
    --------
    pyx_cnn.reference.avg_pooling_backward : The same shares, by loops.
    """
    input_shape, size, stride, pads, count_include_pad = saved
    grad_x = np.empty(tuple(input_shape), dtype=grad_out.dtype)
    _avg_pool._avgpool2d_backward(grad_out, grad_x, size, stride, get_num_threads(), pads,
                                  count_include_pad)
    return grad_x
