"""Convolution (cross-correlation), forward and backward, on channels-last batches.

Shared by :func:`pyx_cnn.conv` and :class:`pyx_cnn.layers.Conv2D`: one padding,
one weight layout.

    out[n, y, x, f] = b[f] + sum_{i, j, c} P[n, y*sh + i*dh, x*sw + j*dw, g*Cg + c] * W[f, i, j, c]

where ``P`` is the input zero-padded by ``pads = ((top, bottom), (left,
right))``; ``Hout = (H + top + bottom - (kh - 1) * dh - 1) // sh + 1``
(likewise ``Wout``). With ``groups`` (dividing C and F; PyTorch's ``groups``)
the filters ``(F, kh, kw, Cg)``, ``Cg = C // groups``, come in groups of
``F // groups``, and group ``g = f // (F // groups)`` sees its own channels
``g*Cg .. (g+1)*Cg - 1`` only; ``groups == C`` is a depthwise convolution
(filter ``c*m + j`` reads channel ``c``, ``m = F // C``). The arguments
``stride`` / ``padding`` / ``dilation`` are read, and ``"same"`` padding
resolved, by :mod:`pyx_cnn._geometry`.

The forward pass runs the SIMD kernels of :mod:`pyx_cnn._conv` for every
stride and dilation; so does the input gradient at strides 1 (a convolution
of the output gradient with the flipped filters; finite filters). The filter
and bias gradients run on the direct kernel's layout too; the input gradient
at other strides on windows gathered into matrices and BLAS products
(:mod:`pyx_cnn._conv_grad`). ``_conv._algorithm`` tells which algorithm a
shape takes (one C function chooses for every caller). One group with a large
filter bank (the notes at ``_route``) computes its filter gradient on BLAS;
3x3 convolutions at strides 1 of many channels on small maps
(``_winograd_shape``) run forward, and for the input and filter gradients, as
Winograd's F(4x4, 3x3) or F(2x2, 3x3) (:mod:`pyx_cnn._winograd`, ``_winograd_tile``).

Grouped convolutions (``groups > 1``) take one of two routes:

- *depthwise* (``groups == C``, at least ``_conv_depthwise._min_channels``
  channels): the kernels of :mod:`pyx_cnn._conv_depthwise`, which read the
  unpadded input once, SIMD over the channels; a depth multiplier ``m > 1``
  runs them once per ``j < m`` on the filters ``j, m + j, 2m + j, ...``;
- *grouped* (any other): windows gathered into matrices (im2col) and one BLAS
  product per group, forward and backward (:mod:`pyx_cnn._conv_grad`).
"""
from typing import NamedTuple

import numpy as np

from .. import _activation, _conv, _conv_depthwise, _conv_grad, _flat_vectors, _winograd
from .._geometry import output_size
from .._kept_weights import prepared
from .._thread_policy import one_blas_thread
from .._threads import get_num_threads

__all__ = ["forward", "backward", "input_gradient", "pad", "weight_layout"]


class _SavedUnpadded(NamedTuple):
    """What :func:`forward` saves on the direct route at inference with padding: the
    input unpadded (the kernels padded one image at a time), which :func:`backward`
    pads if it is asked for the gradients. Any other 5-tuple holds the padded input."""
    x: np.ndarray
    weights: np.ndarray
    stride: tuple
    pads: tuple
    dilation: tuple


def pad(x, pads, dtype):
    """``(N, H, W, C)`` -> C-contiguous ``(N, H + top + bottom, W + left + right, C)``
    of `dtype`, zeros around (`x` itself when no padding and already fit)."""
    (top, bottom), (left, right) = pads
    x = np.ascontiguousarray(x, dtype=dtype)
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    padded = np.empty((n, h + top + bottom, w + left + right, c), dtype=dtype)
    _conv._pad_copy(x, padded, top, left, get_num_threads())
    return padded


def weight_layout(filters, dtype=None):
    """Filters ``(F, kh, kw, C)`` -> C-contiguous ``(kh, kw*C, F)``: the kernels' layout."""
    f, kh, kw, c = filters.shape
    return np.ascontiguousarray(filters.transpose(1, 2, 3, 0), dtype=dtype).reshape(
        kh, kw * c, f)


# A convolution of one group runs on the direct kernels, which keep a block of
# pixels x filters in registers and one panel of the filters' weights in cache
# over the rows, or as BLAS products on gathered windows (the grouped route, with
# one group). Measured at one thread, float32, AVX-512:
# - inference: the direct kernels ran the 3x3 layers of a ResNet-18 on CIFAR-sized
#   images at 99-123 GFLOP/s against BLAS's 84-94, and the 1x1 layers of MobileNetV2
#   at 49-102 against 40-94. Their blocks are up to 6 pixels of a row wide for large
#   filter banks, so BLAS wins on narrower output rows with a large filter matrix
#   (from _INFER_BLAS_MIN_WEIGHTS weights, kh*kw*C x F): 4x4 maps of 512 channels.
# - training: the backward passes of the grouped route (BLAS products again) are
#   faster on large filter banks, from 128 filters or _TRAIN_BLAS_MIN_WEIGHTS
#   weights: a ResNet-18 epoch took 13.0 s that way and 15.8 s on the direct
#   route's backward. There the filter gradient stays on BLAS, while the forward pass
#   runs on the direct kernels where inference's rule sends it, and so does the input
#   gradient at strides 1 (a convolution: _transposed_input_grad): ResNet-18's training
#   step, 64 images, one AMD EPYC (Zen 4) core, 2477 -> 2347 ms (AVX-512), 2476 -> 2383
#   ms (AVX2 kernels); MobileNetV2's 812 -> 788 ms.
_DIRECT_MIN_WIDTH = 6
_INFER_BLAS_MIN_WEIGHTS = 128 * 1024
# A pointwise convolution (1x1 filters, strides 1, no padding) sums each pixel's own
# channels only: a batch is one sequence of pixels, which the direct kernels take as
# rows of up to _POINTWISE_ROW pixels (:func:`_pointwise_rows`), whatever the maps'
# width. On 4x4 and 8x8 maps a row of the map is one or two blocks of 2-3 pixels,
# the blocks of a long row are full: MobileNetV2's 1x1 layers on 64 images ran
# 1.25-1.42x faster on 4x4 maps, 1.03-1.16x on 8x8 and 1.06x on 16x16 (one AMD EPYC
# core, AVX2; rows of 32 to 256 pixels within 5 % of each other), the same values.
_POINTWISE_ROW = 64
# 3x3 convolutions at strides 1 with at least _WINOGRAD_MIN_CHANNELS input channels and
# filters, on maps of at most _WINOGRAD_MAX_PIXELS output pixels, run as Winograd's
# minimal filtering (pyx_cnn._winograd, as BLAS products): F(4x4, 3x3), 4x fewer
# multiplications, or on maps where its 4x4 tiles would mostly fall outside F(2x2, 3x3),
# 2.25x fewer (_winograd_tile). On 64 images, one AMD EPYC (Zen 4) core, forward, against
# the direct kernels (ms): 4x4x512 -> 512 27.2 (F(2x2, 3x3): 30.7) vs 50.9, 8x8x256 -> 256
# 21.8 (31.5) vs 44.2, 16x16x128 -> 128 33.5 (39.1) vs 43.6, 16x16x256 -> 256 78.3 (123)
# vs 171, 32x32x128 -> 128 112 (154) vs 172; 2x2x512 -> 512 F(2x2, 3x3) 13.9 vs 17.9,
# F(4x4, 3x3) 29.5; with 64 channels the transforms' memory traffic outweighs the saving
# as often as not (16x16x64 -> 64 13.1 vs 11.7, 8x8x64 -> 64 2.3 vs 3.0, 32x32x64 -> 64
# 40.3 vs 43.8), and F(4x4, 3x3) rounds more (about 1e-5 of the output's scale in
# float32 on 2304 products per sum, 1e-6 for F(2x2, 3x3)).
_WINOGRAD_MIN_CHANNELS = 128
_WINOGRAD_MAX_PIXELS = 1024
_TRAIN_BLAS_MIN_FILTERS = 128
_TRAIN_BLAS_MIN_WEIGHTS = 48 * 1024


def _winograd_shape(c, f, kh, kw, stride, dilation, groups, ho, wo):
    """Whether a convolution of this shape runs as Winograd's minimal filtering (above)."""
    return (min(c, f) >= _WINOGRAD_MIN_CHANNELS and kh == kw == 3 and groups == 1
            and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and ho * wo <= _WINOGRAD_MAX_PIXELS)


def _winograd_tile(ho, wo):
    """The tiles of an ``ho x wo`` output map: 4 (F(4x4, 3x3)) or 2 (F(2x2, 3x3)),
    whichever computes fewer points, ``(m + 2)**2`` per tile of ``m x m`` pixels (the
    tiles past the map's edge count whole); 2 on a tie (smaller transforms, less
    rounding): 4 on 3x3, 4x4 and 8x8 maps, 2 on 2x2 and 5x5 maps."""
    points = {m: -(-ho // m) * -(-wo // m) * (m + 2) ** 2 for m in (2, 4)}
    return 4 if points[4] < points[2] else 2


def _winograd_forward(xp, filters, bias, out, clamp_max=None, kept=None):
    """`out` = the 3x3 convolution at strides 1 of the padded `xp`, as Winograd's
    minimal filtering on :func:`_winograd_tile`'s tiles: the values of the direct
    kernels to rounding. Only for finite filters and input (a transform mixes the
    values of a patch: an inf would turn into NaN where the direct sums give inf)."""
    tile = _winograd_tile(out.shape[1], out.shape[2])
    u = prepared(kept, ("winograd", tile),
                 lambda: _winograd.filter_transform(filters, xp.dtype, tile,
                                                    n_threads=get_num_threads()))
    with one_blas_thread():   # BLAS products inside OpenMP threads
        _winograd.conv3x3(xp, u, bias, out, clamp_max, get_num_threads(), tile)
    return out


def _all_finite(a):
    """Whether every value of `a` (filters, or a batch) is finite: one pass on the
    threads, no temporary (numpy's ``np.isfinite(a).all()`` writes a mask first)."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype.char not in "fd":
        return bool(np.isfinite(flat).all())
    return bool(_flat_vectors._all_finite(flat, get_num_threads()))


def _pointwise_rows(n, h, w):
    """``(rows, width)``: the ``n*h*w`` pixels of a pointwise convolution's batch as
    rows of ``width = w*k`` pixels, ``k`` the largest divisor of ``n*h`` with ``w*k
    <= _POINTWISE_ROW`` (1 for maps wider than that)."""
    for k in range(max(1, _POINTWISE_ROW // max(w, 1)), 0, -1):
        if (n * h) % k == 0:
            return n * h // k, w * k
    return n * h, w


def _pointwise_forward(x, wk, bias, out, clamp_max=None, kept=None):
    """The direct kernels on a pointwise convolution's batch `x` ``(N, H, W, C)`` taken
    as rows of pixels (:func:`_pointwise_rows`), into `out` ``(N, H, W, F)``."""
    n, h, w, c = x.shape
    rows, width = _pointwise_rows(n, h, w)
    _conv._conv2d_forward(x.reshape(1, rows, width, c), wk, bias,
                          out.reshape(1, rows, width, out.shape[3]), (1, 1),
                          get_num_threads(), (1, 1), clamp_max, kept)


def _route(channels, groups, dtype, window=0, filters=0, out_width=_DIRECT_MIN_WIDTH,
           training=True):
    """Which kernels run a convolution: "direct" (the kernels of
    :mod:`pyx_cnn._conv`), "depthwise" or "grouped" (BLAS products on gathered
    windows, also for one group whose `window` x `filters` matrix is large: see
    above; `out_width` is the width of the rows the kernels run: the output's, or
    a pointwise convolution's rows of pixels, :func:`_pointwise_rows`; `training`
    whether the backward pass will run)."""
    if groups == 1:
        if training:
            large = (filters >= _TRAIN_BLAS_MIN_FILTERS
                     or window * filters >= _TRAIN_BLAS_MIN_WEIGHTS)
        else:
            large = (out_width < _DIRECT_MIN_WIDTH
                     and window * filters >= _INFER_BLAS_MIN_WEIGHTS)
        return "grouped" if large else "direct"
    if groups == channels and channels >= _conv_depthwise._min_channels(
            np.dtype(dtype) == np.float64):
        return "depthwise"
    return "grouped"


def forward(x, filters, bias, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
            groups=1, training=True, clamp_max=None, kept=None):
    """The convolution of `x`, and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C), C-contiguous, float32 or float64
    filters : ndarray, shape (F, kh, kw, C // groups), same dtype
    bias : ndarray, shape (F,), same dtype (zeros for no bias)
    stride, dilation : pair of int
    pads : ((top, bottom), (left, right))
        Resolved by :func:`pyx_cnn._geometry.resolve_padding`.
    groups : int, optional
        Divides C and F (checked by the callers).
    training : bool, optional
        Whether :func:`backward` will be asked for the gradients: with one group,
        the route of a large filter bank is chosen for the forward and backward
        passes together (:func:`_route`). The values do not depend on it.
    clamp_max : float or None, optional
        A float ``m >= 0`` (``inf`` for no upper bound) stores ``min(max(v, 0), m)``
        for each output value v: a ReLU (``inf``) or a bounded ReLU such as ReLU6
        applied by the kernels as they store the output, with the
        values of :func:`pyx_cnn.ops.activations.relu_forward` and
        :func:`~pyx_cnn.ops.activations.bounded_relu_forward` (0 where v <= 0,
        NaN stays NaN). None (the default): the convolution alone.
    kept : dict or None, optional
        A caller that runs the same `filters` and `bias` again (the batches of an
        inference call, :mod:`pyx_cnn._kept_weights`) passes a dict of its own: the
        filters' layouts for the kernels are made at the first call and kept in it.
        None (the default): made at every call.

    Returns
    -------
    out : ndarray, shape (N, Hout, Wout, F)
    saved : tuple
        On the direct route (one group, a small filter bank),
        ``(x_padded, weights, stride, pads, dilation)``: the input padded,
        ``(N, H + top + bottom, W + left + right, C)``, and the filters in the
        kernels' layout ``(kh, kw*C, F)`` (:func:`weight_layout`); at inference
        (``training=False``), the input unpadded (the kernels pad one image at a
        time; :func:`backward` pads it if asked). On the
        grouped and depthwise routes (``groups > 1``, or one group with a large
        filter bank in training, or Winograd's shapes), ``(x_kept, filters, stride,
        pads, dilation, groups)``: the input (padded but on the depthwise route)
        and the filters.

    See Also
    --------
    pyx_cnn.reference.conv : The same sums as plain loops (``groups`` too).
    """
    n, h, w, c = x.shape
    f, kh, kw, _ = filters.shape
    ho = output_size(h, kh, stride[0], pads[0], dilation[0])
    wo = output_size(w, kw, stride[1], pads[1], dilation[1])
    if clamp_max is not None:
        clamp_max = float(clamp_max)
    pointwise = (kh == kw == 1 and tuple(stride) == (1, 1) and not any(map(any, pads))
                 and groups == 1)
    width = _pointwise_rows(n, h, w)[1] if pointwise else wo
    if (_winograd_shape(c, f, kh, kw, stride, dilation, groups, ho, wo)
            and prepared(kept, "finite", _all_finite, filters)
            and _all_finite(x)):
        xp = pad(x, pads, x.dtype)
        filters = np.ascontiguousarray(filters, dtype=x.dtype)
        out = _winograd_forward(xp, filters, bias, np.empty((n, ho, wo, f), dtype=x.dtype),
                                clamp_max, kept)
        # the backward pass reads the grouped route's tuple (and runs Winograd's too)
        return out, (xp, filters, stride, pads, dilation, 1)
    route = _route(c, groups, x.dtype, kh * kw * c, f, width, training)
    # one group whose backward pass runs on BLAS (training, a large bank): the forward
    # pass runs on the direct kernels where they are the faster (inference's rule), and
    # saves what the grouped route's backward pass reads
    direct_forward = route == "direct" or (
        groups == 1 and _route(c, 1, x.dtype, kh * kw * c, f, width, False) == "direct")
    if not direct_forward:
        return _forward_grouped(x, filters, bias, stride, pads, dilation, groups, clamp_max,
                                kept)
    wk = prepared(kept, "layout", weight_layout, filters, x.dtype)
    out = np.empty((n, ho, wo, f), dtype=x.dtype)
    (top, bottom), (left, right) = pads
    hp, wp = h + top + bottom, w + left + right
    # a stride at least the padded extent gives one window whatever its value:
    # the extent keeps the kernel's index arithmetic far from overflow
    kernel_stride = (min(stride[0], hp), min(stride[1], wp))
    # the kernels leave out the products of the padding's rows, all zeros, where the
    # filters are finite (0 * inf is NaN: the padding is part of the formula)
    skip_zero_rows = bool(top or bottom) and prepared(kept, "finite", _all_finite, filters)
    if pointwise:
        xp = x
        _pointwise_forward(x, wk, bias, out, clamp_max, kept)
    elif not training and any(map(any, pads)):
        # inference: each thread pads one image at a time into a buffer of its own,
        # and the padded batch is never written whole (the same values); the input
        # is kept unpadded, and backward pads it if it is asked for
        _conv._conv2d_forward_padding(x, top, left, hp, wp, wk, bias, out,
                                      get_num_threads(), tuple(dilation), clamp_max, kept,
                                      kernel_stride, skip_zero_rows)
        return out, _SavedUnpadded(x, wk, stride, pads, dilation)
    else:
        xp = pad(x, pads, x.dtype)
        _conv._conv2d_forward(xp, wk, bias, out, kernel_stride, get_num_threads(),
                              tuple(dilation), clamp_max, kept,
                              (top, bottom) if skip_zero_rows else (0, 0))
    if route != "direct":     # the grouped route's backward pass (above)
        return out, (xp, np.ascontiguousarray(filters, dtype=x.dtype), stride, pads, dilation,
                     1)
    return out, (xp, wk, stride, pads, dilation)


def _forward_grouped(x, filters, bias, stride, pads, dilation, groups, clamp_max=None,
                     kept=None):
    """:func:`forward` for ``groups > 1``, on the depthwise or the grouped route."""
    n, h, w, c = x.shape
    f, kh, kw, _ = filters.shape
    ho = output_size(h, kh, stride[0], pads[0], dilation[0])
    wo = output_size(w, kw, stride[1], pads[1], dilation[1])
    out = np.empty((n, ho, wo, f), dtype=x.dtype)
    filters = np.ascontiguousarray(filters, dtype=x.dtype)
    if _route(c, groups, x.dtype) == "depthwise":
        m = f // c
        top_left = (pads[0][0], pads[1][0])
        for j in range(m):      # the filters c*m + j, one per channel c
            out_j = out if m == 1 else np.empty((n, ho, wo, c), dtype=x.dtype)
            _conv_depthwise._depthwise_forward(x, prepared(kept, ("depthwise", j),
                                                           lambda: _depthwise_layout(
                                                               filters, m, j)),
                                               np.ascontiguousarray(bias[j::m]), out_j,
                                               tuple(stride), top_left, tuple(dilation),
                                               get_num_threads(), clamp_max)
            if m > 1:
                out[..., j::m] = out_j
        return out, (x, filters, stride, pads, dilation, groups)
    xp = pad(x, pads, x.dtype)
    with one_blas_thread():   # BLAS products inside OpenMP threads (free when held already)
        _conv_grad._grouped_forward(xp, prepared(kept, "groups",
                                                 lambda: _group_layout(filters, groups)),
                                    bias, out, kh, kw, *stride, *dilation, get_num_threads())
    if clamp_max is not None:    # BLAS wrote the output: the clamp is a pass of its own
        flat = out.reshape(-1)
        _activation._bounded_relu(flat, flat, clamp_max, get_num_threads())
    return out, (xp, filters, stride, pads, dilation, groups)


def _depthwise_layout(filters, m, j):
    """The filters ``c*m + j`` of ``(C*m, kh, kw, 1)`` in the depthwise kernels' layout
    ``(kh, kw, C)``."""
    return np.ascontiguousarray(filters[j::m, :, :, 0].transpose(1, 2, 0))


def _group_layout(filters, groups):
    """Filters ``(F, kh, kw, Cg)`` -> C-contiguous ``(groups, kh*kw*Cg, F // groups)``:
    each group's filters as one matrix, the grouped route's layout."""
    f = filters.shape[0]
    return np.ascontiguousarray(
        filters.reshape(groups, f // groups, -1).transpose(0, 2, 1))


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
    grad_filters : ndarray, shape (F, kh, kw, C // groups)
    grad_bias : ndarray, shape (F,)

    See Also
    --------
    pyx_cnn.reference.conv_backward : The same sums as plain loops.
    """
    if len(saved) == 6:
        return _backward_grouped(grad_out, saved, input_grad)
    xp, wk, stride, pads, dilation = saved
    kh, run, f = wk.shape
    c = xp.shape[3]
    if isinstance(saved, _SavedUnpadded):
        # an inference pass kept the input unpadded (forward)
        xp = pad(xp, pads, xp.dtype)
    nt = get_num_threads()
    gw = np.empty(wk.shape, dtype=xp.dtype)
    gb = np.empty(f, dtype=xp.dtype)
    kernel_stride = (min(stride[0], xp.shape[1]), min(stride[1], xp.shape[2]))
    _conv._conv2d_filter_grad(xp, grad_out, gw, gb, kernel_stride, nt, tuple(dilation))
    grad_filters = gw.reshape(kh, run // c, c, f).transpose(3, 0, 1, 2)
    if not input_grad:
        return None, grad_filters, gb
    return input_gradient(grad_out, wk, xp.shape, stride, pads, dilation), grad_filters, gb


def input_gradient(grad_out, wk, padded_shape, stride, pads, dilation):
    """``dL/dx`` of a convolution on the direct route, from ``grad_out = dL/dout``.

    Parameters
    ----------
    grad_out : ndarray, shape (N, Hout, Wout, F), C-contiguous
    wk : ndarray, shape (kh, kw*C, F)
        The filters in the kernels' layout (:func:`weight_layout`).
    padded_shape : tuple
        ``(N, H + top + bottom, W + left + right, C)``: the padded input's shape.
    stride, dilation : pair of int
    pads : ((top, bottom), (left, right))

    Returns
    -------
    grad_x : ndarray, shape (N, H, W, C)
        The padding's share left out. (Also the forward pass of a transposed
        convolution, :mod:`pyx_cnn.ops.conv_transpose`.)
    """
    # the windows' products at a stride, with an inf or NaN among the filters (the
    # zeros around the gradient would meet it and give NaN where no output reaches),
    # and where the zeros would be most of the transposed route's work (a 'valid'
    # convolution of a small map): pyx_conv_input_grad_route in src_c/conv_kernels.h
    route = _conv._algorithm(padded_shape, wk.shape, tuple(stride), tuple(dilation),
                             grad_out.dtype, gradient=True, finite=_all_finite(wk),
                             pads=pads)
    if route == "transposed":
        return _input_grad_direct(grad_out, wk, padded_shape, pads, dilation)
    gxp = np.empty(padded_shape, dtype=grad_out.dtype)
    _conv_grad._conv2d_backward_input(grad_out, wk, gxp, *stride, *dilation,
                                      get_num_threads())
    (top, bottom), (left, right) = pads
    if top or bottom or left or right:
        h, w = padded_shape[1] - top - bottom, padded_shape[2] - left - right
        gxp = np.ascontiguousarray(gxp[:, top:top + h, left:left + w])
    return gxp


def _transposed_input_grad(grad_out, filters, padded_shape, stride, pads, dilation):
    """Whether the input gradient of one group's large filter bank (its filter gradient
    on BLAS) runs as a convolution on the direct kernels (:func:`_input_grad_direct`):
    where :func:`input_gradient` takes that route (strides 1, finite filters), on rows as
    wide as the forward pass's rule for the direct kernels asks (the rows of ``x``, the
    transposed convolution's output; ``C`` filters of ``kh*kw*F`` weights). On one AMD
    EPYC (Zen 4) core, 64 images, ResNet-18's 3x3 layers 16x16x128 and 8x8x256: 44 ms
    against BLAS's 54 (the filter gradient on BLAS: 52-57 ms, 59-81 on the direct
    kernels)."""
    f, kh, kw, c = filters.shape
    if _route(f, 1, grad_out.dtype, kh * kw * f, c, padded_shape[2] - sum(pads[1]),
              training=False) != "direct":
        return False
    route = _conv._algorithm(padded_shape, (kh, kw * c, f), tuple(stride), tuple(dilation),
                             grad_out.dtype, gradient=True,
                             finite=_all_finite(filters), pads=pads)
    return route == "transposed"


def _backward_grouped(grad_out, saved, input_grad):
    """:func:`backward` for ``groups > 1``."""
    x_kept, filters, stride, pads, dilation, groups = saved
    f, kh, kw, c_group = filters.shape
    n, hp, wp, c = x_kept.shape
    nt = get_num_threads()
    dtype = x_kept.dtype
    grad_filters = np.empty(filters.shape, dtype=dtype)
    grad_bias = np.empty(f, dtype=dtype)
    grad_x = None
    if _route(c, groups, dtype) == "depthwise":
        m = f // c
        top_left = (pads[0][0], pads[1][0])
        gw, gb = np.empty((kh, kw, c), dtype=dtype), np.empty(c, dtype=dtype)
        gx = np.empty(x_kept.shape, dtype=dtype) if input_grad else None
        for j in range(m):
            g = grad_out if m == 1 else np.ascontiguousarray(grad_out[..., j::m])
            _conv_depthwise._depthwise_filter_grad(x_kept, g, gw, gb, tuple(stride),
                                                   top_left, tuple(dilation), nt)
            grad_filters[j::m, :, :, 0] = gw.transpose(2, 0, 1)
            grad_bias[j::m] = gb
            if input_grad:
                _conv_depthwise._depthwise_input_grad(g, _depthwise_layout(filters, m, j), gx,
                                                      tuple(stride), top_left, tuple(dilation),
                                                      nt)
                if j == 0:
                    grad_x = gx if m == 1 else gx.copy()
                else:
                    grad_x += gx     # channel c's gradient: the sum over its m filters
        return grad_x, grad_filters, grad_bias
    (top, bottom), (left, right) = pads
    # Winograd's shapes, for the filter gradient (a convolution of x giving grad_out)
    # and the input gradient (of grad_out giving x); finite values only (forward)
    winograd_filters = _winograd_shape(c, f, kh, kw, stride, dilation, groups,
                                       grad_out.shape[1], grad_out.shape[2])
    winograd_input = (input_grad and max(top, bottom, left, right) <= 2
                      and _winograd_shape(f, c, kh, kw, stride, dilation, groups,
                                          hp - top - bottom, wp - left - right))
    finite_grad = (winograd_filters or winograd_input) and _all_finite(grad_out)
    if winograd_filters and finite_grad and _all_finite(x_kept):
        with one_blas_thread():   # BLAS products inside OpenMP threads
            _winograd.filter_grad3x3(x_kept, grad_out, grad_filters, nt,
                                     _winograd_tile(grad_out.shape[1], grad_out.shape[2]))
    else:
        # (groups, F // groups, kh*kw*Cg): the filters' own order, grad_filters reshaped
        _conv_grad._grouped_filter_grad(x_kept, grad_out,
                                        grad_filters.reshape(groups, f // groups, -1),
                                        kh, kw, *stride, *dilation, nt)
    grad_bias[...] = grad_out.reshape(-1, f).sum(axis=0)
    if winograd_input and finite_grad and _all_finite(filters):
        # a convolution of grad_out, padded by the kernel's extent less the forward
        # padding, with the filters flipped and their channel and filter axes swapped
        # (_winograd.conv3x3's `flipped`: the transform of the flipped filters, kept in
        # their own (F, points, C) layout)
        gp = pad(grad_out, ((2 - top, 2 - bottom), (2 - left, 2 - right)), dtype)
        grad_x = np.empty((n, hp - top - bottom, wp - left - right, c), dtype=dtype)
        tile = _winograd_tile(grad_x.shape[1], grad_x.shape[2])
        with one_blas_thread():
            _winograd.conv3x3(gp, _winograd.filter_transform(filters, dtype, tile, True, nt),
                              np.zeros(c, dtype=dtype), grad_x, None, nt, tile, True)
    elif input_grad and groups == 1 and _transposed_input_grad(grad_out, filters, x_kept.shape,
                                                               stride, pads, dilation):
        grad_x = _input_grad_direct(grad_out, weight_layout(filters, dtype), x_kept.shape,
                                    pads, dilation)
    elif input_grad:
        gxp = np.empty(x_kept.shape, dtype=dtype)
        _conv_grad._grouped_backward_input(grad_out, _group_layout(filters, groups), gxp,
                                           kh, kw, *stride, *dilation, nt)
        grad_x = np.ascontiguousarray(gxp[:, top:hp - bottom, left:wp - right])
    return grad_x, grad_filters, grad_bias


def _input_grad_direct(grad, wk, padded_shape, pads, dilation):
    """dL/dx at strides 1, as a convolution of `grad` run by the forward kernels.

    With ``P`` the padded input, ``dL/dP[y, x, c] = sum_{i, j, f} G[y - i*dh,
    x - j*dw, f] * W[f, i, j, c]``: a convolution of ``G``, zero-padded by the
    kernel's extent less one on every side, with the filters flipped in ``i``
    and ``j`` and their channel and filter axes swapped (``C`` outputs from
    ``F`` inputs). Only the rows and columns of ``x`` itself are computed:
    ``G``'s padding shrinks by the forward pass's ``top`` / ``left`` (a margin
    wider than the kernel crops ``G`` instead). For finite filters only: an inf
    or NaN filter value would meet the zeros around ``G`` and give NaN where
    no output reaches.
    """
    n, ho, wo, f = grad.shape
    kh, run, _ = wk.shape
    c = padded_shape[3]
    kw = run // c
    (top, bottom), (left, right) = pads
    h = padded_shape[1] - top - bottom
    w = padded_shape[2] - left - right
    dh, dw = dilation
    ext_h, ext_w = (kh - 1) * dh, (kw - 1) * dw
    # G's row oy lands on row oy + (ext_h - top) of the padded G (likewise columns)
    oy0, ox0 = max(0, top - ext_h), max(0, left - ext_w)
    oy1, ox1 = max(oy0, min(ho, h + top)), max(ox0, min(wo, w + left))
    w_flip = np.ascontiguousarray(
        wk.reshape(kh, kw, c, f)[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(kh, kw * f, c)
    grad_x = np.empty((n, h, w, c), dtype=grad.dtype)
    if kh == kw == 1 and not (top or bottom or left or right):
        # pointwise: the same sums on the batch as rows of pixels
        _pointwise_forward(grad, w_flip, np.zeros(c, dtype=grad.dtype), grad_x)
        return grad_x
    # (finite filters: the padding's rows are left out)
    _conv._conv2d_forward_padding(grad[:, oy0:oy1, ox0:ox1], oy0 + ext_h - top,
                                  ox0 + ext_w - left, h + ext_h, w + ext_w, w_flip,
                                  np.zeros(c, dtype=grad.dtype), grad_x, get_num_threads(),
                                  tuple(dilation), skip_zero_rows=True)
    return grad_x
