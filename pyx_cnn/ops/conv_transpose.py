"""Transposed convolution, forward and backward, on channels-last batches.

The transposed convolution of `x` ``(N, H, W, C)`` with filters ``(C, kh, kw,
F)`` is the input gradient of the convolution (:mod:`pyx_cnn.ops.conv`) that
has those filters and maps ``F`` channels to ``C``: each input pixel adds its
kernel, weighted by its values, into the output,

    full[n, y*sh + i*dh, x*sw + j*dw, f] += x[n, y, x, c] * W[c, i, j, f]

and ``out`` is ``full`` less ``padding`` rows (columns) on each side, plus
``output_padding`` rows (columns) at the end:
``Hout = (H - 1) * sh - 2 * ph + (kh - 1) * dh + oph + 1``, PyTorch's
``conv_transpose2d``. So every pass is one of the convolution's, run by its
kernels:

- forward: the convolution's input gradient, with `x` as the gradient of its
  output (``Hout`` is the size of the convolution's input);
- the input gradient: the convolution's forward pass over ``grad_out``;
- the filter gradient: the convolution's filter gradient, ``grad_out`` as its
  input and `x` as the gradient of its output.

``output_padding`` makes one of the ``stride`` input sizes that the convolution
maps to ``H`` the output size; it is below the stride or below the dilation,
as PyTorch requires (with ``stride <= output_padding < dilation`` the
convolution has more output rows than `x`: `x` is extended by zeros). Arrays
are C-contiguous, of one float dtype; the callers validate them and the
arguments (the layer, :class:`pyx_cnn.layers.Conv2DTranspose`).
"""
import numpy as np

from .._geometry import output_size
from . import conv

__all__ = ["forward", "backward", "output_shape"]


def output_shape(in_hw, kernel, stride, padding, output_padding, dilation):
    """``(Hout, Wout)``: ``(H - 1) * sh - 2 * ph + (kh - 1) * dh + oph + 1`` per axis."""
    return tuple((size - 1) * s - 2 * p + (k - 1) * d + op + 1 for size, k, s, p, op, d
                 in zip(in_hw, kernel, stride, padding, output_padding, dilation))


def _conv_geometry(x_shape, filters_shape, stride, padding, output_padding, dilation):
    """The convolution whose input gradient this is: its padded input's shape, its
    pads and its output's ``(H, W)`` (``x``'s, or more rows where
    ``output_padding >= stride``)."""
    n, h, w, _ = x_shape
    _, kh, kw, f = filters_shape
    ho, wo = output_shape((h, w), (kh, kw), stride, padding, output_padding, dilation)
    (ph, pw) = padding
    pads = ((ph, ph), (pw, pw))
    conv_hw = tuple(output_size(size, k, s, p, d) for size, k, s, p, d
                    in zip((ho, wo), (kh, kw), stride, pads, dilation))
    return (n, ho + 2 * ph, wo + 2 * pw, f), pads, conv_hw


def _extend(x, hw):
    """`x` with zero rows and columns at the end up to ``hw`` (`x` itself when it fits)."""
    n, h, w, c = x.shape
    if (h, w) == tuple(hw):
        return x
    out = np.zeros((n, hw[0], hw[1], c), dtype=x.dtype)
    out[:, :h, :w] = x
    return out


def forward(x, filters, bias, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
            dilation=(1, 1)):
    """The transposed convolution of `x`, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C), C-contiguous, float32 or float64
    filters : ndarray, shape (C, kh, kw, F), same dtype
        The filters of the convolution mapping ``F`` channels to ``C``.
    bias : ndarray, shape (F,), same dtype (zeros for no bias)
    stride, padding, output_padding, dilation : pair of int
        Each ``(along H, along W)``; `padding` is cut from both sides.

    Returns
    -------
    out : ndarray, shape (N, Hout, Wout, F)
        ``Hout = (H - 1) * sh - 2 * ph + (kh - 1) * dh + oph + 1``, likewise ``Wout``.
    saved : tuple
        ``(x_extended, filters, stride, pads, dilation, (H, W))``: `x` (with
        zeros where the convolution has more outputs, see the module
        docstring), the filters and the convolution's pads.

    See Also
    --------
    pyx_cnn.reference.conv_transpose : The same sums, as a scatter loop.
    """
    padded_shape, pads, conv_hw = _conv_geometry(x.shape, filters.shape, stride, padding,
                                                 output_padding, dilation)
    x_ext = _extend(x, conv_hw)
    wk = conv.weight_layout(filters, x.dtype)
    out = conv.input_gradient(x_ext, wk, padded_shape, stride, pads, dilation)
    if bias.any():
        out += bias
    return out, (x_ext, filters, tuple(stride), pads, tuple(dilation), x.shape[1:3])


def backward(grad_out, saved, input_grad=True):
    """Gradients of :func:`forward` from ``grad_out = dL/dout`` (C-contiguous).

    Parameters
    ----------
    grad_out : ndarray, shape (N, Hout, Wout, F)
    saved : tuple
        What :func:`forward` returned.
    input_grad : bool, optional
        False skips ``grad_x`` (a network's first layer needs none).

    Returns
    -------
    grad_x : ndarray, shape (N, H, W, C), or None when not `input_grad`
        The convolution of `grad_out` with the filters.
    grad_filters : ndarray, shape (C, kh, kw, F)
    grad_bias : ndarray, shape (F,)

    See Also
    --------
    pyx_cnn.reference.conv_transpose_backward : The same sums, by loops.
    """
    x_ext, filters, stride, pads, dilation, (h, w) = saved
    dtype = grad_out.dtype
    grad_x = None
    if input_grad:
        no_bias = np.zeros(filters.shape[0], dtype=dtype)
        grad_x, conv_saved = conv.forward(grad_out, filters, no_bias, stride, pads, dilation)
        if grad_x.shape[1:3] != (h, w):
            grad_x = np.ascontiguousarray(grad_x[:, :h, :w])
    else:
        # what conv.forward saves (its documented tuple), without its output
        conv_saved = (conv.pad(grad_out, pads, dtype), conv.weight_layout(filters, dtype),
                      stride, pads, dilation)
    _, grad_filters, _ = conv.backward(x_ext, conv_saved, input_grad=False)
    rows = grad_out.reshape(-1, grad_out.shape[3])
    grad_bias = np.ones(rows.shape[0], dtype=dtype) @ rows   # the column sums, by BLAS
    return grad_x, grad_filters, grad_bias
