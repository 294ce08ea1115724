"""The tutorial's functions: ``conv``, ``conv_``, ``relu``, ``pooling``, plus
``avg_pooling``, ``sigmoid`` and ``softmax``.

The image functions (convolution and pooling) are here; the elementwise ones
(``relu``, ``tanh``, ``leaky_relu``, ``sigmoid``, ``softmax``) live in
:mod:`pyx_cnn.elementwise` and are exported here too.

Each function validates and normalises its inputs (dtype rule, any memory
layout, number of dimensions, sizes) and then calls a private compiled kernel.
Conventions (see the README):

- images and feature maps are channels-last: ``(H, W)``, ``(H, W, C)`` or a
  batch ``(N, H, W, C)``; a 4-D array is always a batch;
- filter banks are ``(F, kh, kw)`` (one input channel) or ``(F, kh, kw, C)``;
- when every array argument is float32 the work and result are float32,
  otherwise float64 (bool and integer inputs become float64); complex, object
  and string inputs raise ``TypeError``;
- empty inputs raise ``ValueError``; inputs are never modified; results are new
  C-contiguous arrays;
- a dask array goes to :mod:`pyx_cnn.dask_arrays`, which returns a lazy result
  (the ``dispatch`` decorator of ``pyx_cnn/_dispatch.py``).
"""

import numpy as np

from ._geometry import check_padding, effective_kernel, output_size, pair, resolve_padding
from .ops import conv as conv_op
from .ops import avg_pool, max_pool
from ._geometry import pool_output_size, pool_padding
from ._dispatch import dispatch
from .elementwise import leaky_relu, relu, sigmoid, softmax, tanh
from ._validation import (
    as_array,
    as_kernel_array,
    check_int,
    check_result_size,
    needs_kernel_copy,
    shape_str,
    working_dtype,
)

__all__ = ["conv", "conv_", "relu", "pooling", "avg_pooling", "sigmoid", "tanh", "leaky_relu",
           "softmax", "conv_output_size"]


def conv_output_size(size, kernel, stride=1, padding=0):
    """Output length of a convolution or pooling window along one axis.

    ``(size + 2*padding - kernel) // stride + 1``.

    Raises
    ------
    TypeError, ValueError
        For a non-integer argument, ``size``, ``kernel`` or ``stride`` below 1,
        or ``padding`` below 0.
    """
    size, kernel = check_int(size, "size", 1), check_int(kernel, "kernel", 1)
    stride, padding = check_int(stride, "stride", 1), check_int(padding, "padding", 0)
    return output_size(size, kernel, stride, (padding, padding))


def _check_not_empty(array, name):
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {shape_str(array.shape)}")


def _as_batch(image, name, what="img"):
    """View a (H, W), (H, W, C) or (N, H, W, C) array as (N, H, W, C)."""
    if image.ndim == 2:
        return image[np.newaxis, :, :, np.newaxis]
    if image.ndim == 3:
        return image[np.newaxis]
    if image.ndim == 4:
        return image
    raise ValueError(
        f"{name} must be 2-D (H, W), 3-D (H, W, C) or a 4-D batch (N, H, W, C), "
        f"got {image.ndim}-D array of shape {shape_str(image.shape)}"
    )


def _kernel_stride(stride, extent):
    """`stride`, or a smaller value with the same windows when it exceeds the image.

    A stride at least as large as the (padded) image gives one window per axis,
    whatever its value; passing the image extent instead keeps the kernels'
    index arithmetic (``stride * channels``) far from integer overflow.
    """
    return min(stride, max(int(e) for e in extent))


@dispatch("img")
def conv(img, conv_filter, *, stride=1, padding=0, bias=None, dilation=1, groups=1):
    """Cross-correlate an image (or batch) with a filter bank, summing over channels.

    ``out[n, y, x, f] = bias[f] + sum_{i, j, c} P[n, y*sh + i*dh, x*sw + j*dw, g*Cg + c] * W[f, i, j, c]``
    where ``P`` is the input zero-padded as `padding` says, ``Cg = C // groups``
    and ``g = f // (F // groups)`` (``g = 0`` without groups). No kernel flip (as
    in the tutorial and in every deep-learning framework).

    Parameters
    ----------
    img : array_like, shape (H, W), (H, W, C) or (N, H, W, C)
        The image, channels-last; a 4-D array is a batch.
    conv_filter : array_like, shape (F, kh, kw) or (F, kh, kw, C // groups)
        The filter bank: F filters of kh x kw (any sizes >= 1). The 3-D form
        means one input channel per group.
    stride : int or (int, int), optional
        Step between windows (along H, along W), >= 1.
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int)), optional
        Zeros added on each side of H and W (along H, along W), >= 0, or
        ``((top, bottom), (left, right))``; ``"same"`` gives ``ceil(H / stride)``
        outputs, the total padding split with the extra row / column at the
        bottom / right (TensorFlow's rule, PyTorch's ``padding="same"`` at
        stride 1).
    bias : array_like, shape (F,), optional
        Added to each output map.
    dilation : int or (int, int), optional
        Spacing between the filter's taps, >= 1.
    groups : int, optional
        Divides C and F: the filters come in `groups` groups of ``F // groups``,
        each seeing its own ``C // groups`` consecutive channels (PyTorch's
        ``groups``; ``groups == C`` is a depthwise convolution).

    Returns
    -------
    out : ndarray, shape (Hout, Wout, F) or (N, Hout, Wout, F)
        ``Hout = (H + top + bottom - (kh - 1) * dh - 1) // sh + 1``, likewise
        ``Wout``; float32 when every input is float32, else float64.

    Raises
    ------
    TypeError
        For non-numeric inputs, non-integer `stride`, `padding`, `dilation` or
        `groups`.
    ValueError
        For wrong numbers of dimensions, empty arrays, channels of `img` other
        than ``groups`` times those of `conv_filter`, F not divisible by
        `groups`, ``groups < 1``, a filter (dilated) larger than the
        padded image, ``stride < 1``, ``padding < 0``, ``dilation < 1``, an
        unknown padding name, or a `bias` not of length F.
    MemoryError
        When the result cannot fit in memory (checked before any work).

    Examples
    --------
    >>> import numpy as np
    >>> from pyx_cnn import conv
    >>> img = np.arange(16.0).reshape(4, 4)
    >>> edge = np.array([[[-1.0, 0.0, 1.0]] * 3])      # (1, 3, 3)
    >>> conv(img, edge)[..., 0]
    array([[6., 6.],
           [6., 6.]])
    >>> conv(img, edge, padding="same").shape
    (4, 4, 1)
    """
    img = as_array(img, "img")
    conv_filter = as_array(conv_filter, "conv_filter")
    if bias is not None:
        bias = as_array(bias, "bias")
    stride = pair(stride, "stride", 1)
    dilation = pair(dilation, "dilation", 1)
    groups = check_int(groups, "groups", 1)
    check_padding(padding, asymmetric=True)

    x = _as_batch(img, "img")
    if conv_filter.ndim == 3:
        filters = conv_filter[..., np.newaxis]
    elif conv_filter.ndim == 4:
        filters = conv_filter
    else:
        raise ValueError(
            "conv_filter must be 3-D (F, kh, kw) or 4-D (F, kh, kw, C), "
            f"got {conv_filter.ndim}-D array of shape {shape_str(conv_filter.shape)}"
        )
    _check_not_empty(img, "img")
    _check_not_empty(conv_filter, "conv_filter")
    n_batch, height, width, channels = x.shape
    n_filters, kh, kw, filter_channels = filters.shape
    if groups != 1 and (channels % groups or n_filters % groups):
        raise ValueError(
            f"groups={groups} must divide the channels of img (C={channels}, shape "
            f"{shape_str(img.shape)}) and the filters of conv_filter (F={n_filters}, "
            f"shape {shape_str(conv_filter.shape)})"
        )
    if filter_channels * groups != channels:
        per_group = f" / groups={groups}" if groups != 1 else ""
        raise ValueError(
            f"conv_filter has {filter_channels} input channel(s) (shape "
            f"{shape_str(conv_filter.shape)}) but img has {channels}{per_group} (shape "
            f"{shape_str(img.shape)}): the last axis of a 4-D conv_filter must equal "
            "the channels of img (divided by groups), and a 3-D conv_filter needs one "
            "channel per group"
        )
    pads = resolve_padding(padding, (height, width), (kh, kw), stride, dilation)
    (top, bottom), (left, right) = pads
    eh, ew = effective_kernel(kh, dilation[0]), effective_kernel(kw, dilation[1])
    if eh > height + top + bottom or ew > width + left + right:
        covers = f" (dilated: they cover ({eh}, {ew}))" if dilation != (1, 1) else ""
        raise ValueError(
            f"conv_filter windows ({kh}, {kw}){covers} are larger than the padded image "
            f"({height + top + bottom}, {width + left + right}) (img shape "
            f"{shape_str(img.shape)}, padding={padding!r})"
        )
    arrays = [img, conv_filter]
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != n_filters:
            raise ValueError(
                f"bias must be 1-D of length F={n_filters} (one value per filter), "
                f"got shape {shape_str(bias.shape)}"
            )
        arrays.append(bias)
    dtype = working_dtype(*arrays)

    h_out = output_size(height, kh, stride[0], pads[0], dilation[0])
    w_out = output_size(width, kw, stride[1], pads[1], dilation[1])
    out_shape = (n_batch, h_out, w_out, n_filters)
    buffers = [(out_shape, dtype), ((kh, kw * channels, n_filters), dtype)]
    if top or bottom or left or right or needs_kernel_copy(x, dtype):
        buffers.append(((n_batch, height + top + bottom, width + left + right, channels),
                        dtype))
    check_result_size("conv", *buffers)

    b_kernel = (np.zeros(n_filters, dtype=dtype) if bias is None
                else as_kernel_array(bias, dtype))
    out, _ = conv_op.forward(as_kernel_array(x, dtype), as_kernel_array(filters, dtype),
                             b_kernel, stride, pads, dilation, groups, training=False)
    return out if img.ndim == 4 else out[0]


def conv_(img, conv_filter):
    """Valid cross-correlation of one 2-D image with one 2-D filter.

    Parameters
    ----------
    img : array_like, shape (H, W)
    conv_filter : array_like, shape (kh, kw)
        Any sizes with ``kh <= H`` and ``kw <= W``.

    Returns
    -------
    out : ndarray, shape (H - kh + 1, W - kw + 1)
        ``out[y, x] = sum_{i, j} img[y+i, x+j] * conv_filter[i, j]``.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv`; both arguments must be 2-D.
    """
    img = as_array(img, "img")
    conv_filter = as_array(conv_filter, "conv_filter")
    if img.ndim != 2:
        raise ValueError(f"img must be 2-D (H, W), got shape {shape_str(img.shape)}")
    if conv_filter.ndim != 2:
        raise ValueError(
            f"conv_filter must be 2-D (kh, kw), got shape {shape_str(conv_filter.shape)}"
        )
    return conv(img, conv_filter[np.newaxis])[..., 0].copy()


def _pool(kernel, feature_map, size, stride, padding, ceil_mode, what, **options):
    """Validate a pooling call and run ``kernel(x, size, stride, pads, ceil_mode,
    **options)`` on the (N, H, W, C) view."""
    feature_map = as_array(feature_map, "feature_map")
    size = check_int(size, "size", 1)
    stride = check_int(stride, "stride", 1)
    for name, flag in [("ceil_mode", ceil_mode), *options.items()]:
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {type(flag).__name__} {flag!r}")
    x = _as_batch(feature_map, "feature_map")
    _check_not_empty(feature_map, "feature_map")
    n_batch, height, width, channels = x.shape
    pads = pool_padding(padding, (height, width), size, stride)
    out_h = pool_output_size(height, size, stride, pads[0], ceil_mode)
    out_w = pool_output_size(width, size, stride, pads[1], ceil_mode)
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"size={size} is larger than feature_map's padded height or width "
            f"(shape {shape_str(feature_map.shape)}, H={height}, W={width}, padding {pads})"
        )
    dtype = working_dtype(feature_map)
    buffers = [((n_batch, out_h, out_w, channels), dtype)]
    if needs_kernel_copy(x, dtype):
        buffers.append((x.shape, dtype))
    check_result_size(what, *buffers)
    extent = (height + sum(pads[0]), width + sum(pads[1]))
    out = kernel(as_kernel_array(x, dtype), size, _kernel_stride(stride, extent), pads,
                 bool(ceil_mode), **{k: bool(v) for k, v in options.items()})
    if feature_map.ndim == 2:
        return out[0, :, :, 0].copy()
    return out if feature_map.ndim == 4 else out[0]


@dispatch("feature_map")
def pooling(feature_map, size=2, stride=2, padding=0, ceil_mode=False):
    """Max pooling over ``size x size`` windows every `stride` pixels, per channel.

    Parameters
    ----------
    feature_map : array_like, shape (H, W), (H, W, C) or (N, H, W, C)
    size : int, optional
        Window side, >= 1; the padded map must hold a window.
    stride : int, optional
        Step between windows, >= 1.
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int)), optional
        Rows and columns around the map, at most ``size // 2`` per side: an int
        on every side, a pair ``(ph, pw)`` above and below / left and right,
        ``"same"`` TensorFlow's rule (``ceil(H / stride)`` outputs, the odd
        padded row at the bottom, the odd column at the right). The padding
        never wins a maximum.
    ceil_mode : bool, optional
        Round the number of windows up (a last window that would start in the
        bottom or right padding is dropped).

    Returns
    -------
    out : ndarray, shape (Hout, Wout), (Hout, Wout, C) or (N, Hout, Wout, C)
        ``Hout = (H + top + bottom - size) // stride + 1`` (likewise ``Wout``;
        rounded up in ceil mode): PyTorch's ``max_pool2d`` with the same
        arguments. A window holding NaN gives NaN.

    Raises
    ------
    TypeError, ValueError
        For non-numeric or empty input, wrong number of dimensions,
        ``size < 1``, ``stride < 1``, a side padded by more than ``size // 2``
        or a window larger than the padded map.

    See Also
    --------
    pyx_cnn.reference.pooling : The same maxima, by loops.
    """
    return _pool(max_pool.forward_infer, feature_map, size, stride, padding, ceil_mode,
                 "pooling")


@dispatch("feature_map")
def avg_pooling(feature_map, size=2, stride=2, padding=0, ceil_mode=False,
                count_include_pad=True):
    """Average pooling over ``size x size`` windows every `stride` pixels, per channel.

    Shapes, arguments and errors as :func:`pooling` (PyTorch's ``avg_pool2d``
    with the same arguments); the padding is zeros. A window's sum is divided
    by ``size * size``, except where it reaches past the map: with
    `count_include_pad` (the default) by the number of its positions inside
    the padded map, without it by the number of its values inside the map
    (Keras's ``AveragePooling2D(padding="same")``). A window holding NaN gives
    NaN.

    >>> import numpy as np
    >>> avg_pooling(np.arange(16.0).reshape(4, 4))
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    >>> avg_pooling(np.ones((3, 3)), 2, 2, padding=1, count_include_pad=False)
    array([[1., 1.],
           [1., 1.]])

    See Also
    --------
    pyx_cnn.reference.avg_pooling : The same means, by loops.
    """
    return _pool(_avg_pool_forward, feature_map, size, stride, padding, ceil_mode,
                 "avg_pooling", count_include_pad=count_include_pad)


def _avg_pool_forward(x, size, stride, pads, ceil_mode, count_include_pad):
    out, _ = avg_pool.forward(x, size, stride, pads, ceil_mode, count_include_pad)
    return out   # (nothing saved is needed here)
