"""The functional ops on dask arrays: batches chunked along N, large images
chunked along H and W with the halo each kernel needs (see the package docstring)."""
import numpy as np

from .. import functional as _f
from .._geometry import (check_padding, output_size, pair, pool_output_size, pool_padding,
                         resolve_padding, window_bounds)
from .._validation import check_int, is_dask_array, working_dtype

# ----------------------------------------------------------------- helpers
def _da():
    from .._optional import require

    return require("dask.array", "dask[array]", "dask", "pyx_cnn.dask_arrays")


def _as_dask(x, name):
    da = _da()
    if is_dask_array(x):
        return x
    x = np.asarray(x)
    return da.from_array(x, chunks=x.shape or ())


def _dtype_of(*arrays):
    return working_dtype(*(np.empty(0, dtype=a.dtype) for a in arrays if a is not None))


def _as_batch(x, name):
    """(H, W) -> (1, H, W, 1), (H, W, C) -> (1, H, W, C), 4-D unchanged."""
    if x.ndim == 2:
        return x[None, :, :, None]
    if x.ndim == 3:
        return x[None]
    if x.ndim == 4:
        return x
    raise ValueError(f"{name} must be 2-D (H, W), 3-D (H, W, C) or a 4-D batch "
                     f"(N, H, W, C), got a {x.ndim}-D dask array of shape {x.shape}")


def _out_blocks(n_out, block):
    """Split `n_out` output positions into blocks of `block` (the last one shorter)."""
    blocks = [block] * (n_out // block)
    if n_out % block:
        blocks.append(n_out % block)
    return tuple(blocks)


def _axis_plan(in_chunks, size, kernel, stride, dilation, pad):
    """Input chunks (after padding) aligned to the stride, output chunks, halo depth."""
    padded = size + pad[0] + pad[1]
    n_out = output_size(size, kernel, stride, pad, dilation)
    # the first window reads padded rows [0, extent): past the stride rows its
    # output owns by `halo`, which the chunk borrows from the next one
    extent = window_bounds(0, kernel, stride, dilation)[1]
    if n_out < 1:
        raise ValueError(f"the window ({extent} with dilation) is larger than the padded "
                         f"image ({padded})")
    halo = max(0, extent - stride)
    # about as many input rows per chunk as the caller chose; the next chunk must
    # hold the halo
    block = max(1, -(-halo // stride), round(max(in_chunks) / stride))
    out_chunks = _out_blocks(n_out, block)
    in_new = [b * stride for b in out_chunks]
    in_new[-1] = padded - sum(in_new[:-1])
    return tuple(in_new), out_chunks, halo


def windowed(x, block_fn, *, kernel, stride=1, padding=0, dilation=1, out_channels=None,
             dtype=None, pad_value=0, name="x", inner_padding=None, asymmetric=False):
    """Run a sliding-window op on a dask array, batch- or tile-wise, with the halo it needs.

    Parameters
    ----------
    x : dask array, shape (H, W), (H, W, C) or (N, H, W, C)
    block_fn : callable
        ``block_fn(block, padding)`` runs the in-memory op on a 4-D numpy block
        ``(n, h, w, C)`` with the given padding (the caller's `padding` when H
        and W are one chunk each, else 0) and returns ``(n, h_out, w_out, F)``.
    kernel, stride, dilation : int or pair
        The window (before dilation), the step and the dilation.
    padding : int, pair, "valid" or "same"
        Zeros (`pad_value`) around H and W, added at the array's borders only.
    out_channels : int, optional
        F; the input's C when None.
    dtype : numpy dtype
        The result's dtype.
    inner_padding : object, optional
        What to pass `block_fn` as padding in the single-tile case (default: `padding`).
    asymmetric : bool, optional
        Whether `padding` may also be ``((top, bottom), (left, right))``.

    Returns
    -------
    dask array, shape (Hout, Wout, F) for 2-D and 3-D input, (N, Hout, Wout, F) for a batch
    (the caller squeezes further when its in-memory op does).
    """
    da = _da()
    ndim = x.ndim
    x4 = _as_batch(x, name)
    kh, kw = pair(kernel, "kernel", 1)
    sh, sw = pair(stride, "stride", 1)
    dh, dw = pair(dilation, "dilation", 1)
    n, height, width, channels = x4.shape
    f = channels if out_channels is None else out_channels
    dtype = np.dtype(dtype or x.dtype)
    meta = np.empty((0, 0, 0, 0), dtype=dtype)
    x4 = x4.rechunk({3: -1})
    check_padding(padding, asymmetric)
    ph, pw = resolve_padding(padding, (height, width), (kh, kw), (sh, sw), (dh, dw))

    if x4.numblocks[1] == 1 and x4.numblocks[2] == 1:
        # a batch chunked along N only: the in-memory op per chunk, padding and all
        h_out = output_size(height, kh, sh, ph, dh)
        w_out = output_size(width, kw, sw, pw, dw)
        if h_out < 1 or w_out < 1:
            raise ValueError(f"the window is larger than the padded {name} {x.shape}")
        arg = padding if inner_padding is None else inner_padding
        out = x4.map_blocks(block_fn, arg, chunks=(x4.chunks[0], (h_out,), (w_out,), (f,)),
                            dtype=dtype, meta=meta)
    else:
        h_in, h_out, h_halo = _axis_plan(x4.chunks[1], height, kh, sh, dh, ph)
        w_in, w_out, w_halo = _axis_plan(x4.chunks[2], width, kw, sw, dw, pw)
        if any(ph) or any(pw):
            x4 = da.pad(x4, ((0, 0), ph, pw, (0, 0)), mode="constant",
                        constant_values=pad_value)
        x4 = x4.rechunk((x4.chunks[0], h_in, w_in, -1))
        if h_halo or w_halo:
            x4 = da.overlap.overlap(x4, depth={0: 0, 1: (0, h_halo), 2: (0, w_halo), 3: 0},
                                    boundary="none")
        out = x4.map_blocks(block_fn, 0, chunks=(x4.chunks[0], h_out, w_out, (f,)),
                            dtype=dtype, meta=meta)
    return out if ndim == 4 else out[0]


# ------------------------------------------------------------- the ops
def _conv_block(block, padding, conv_filter, bias, stride, dilation, groups=1):
    kwargs = {} if dilation == 1 else {"dilation": dilation}
    if groups != 1:
        kwargs["groups"] = groups
    return _f.conv(block, conv_filter, stride=stride, padding=padding, bias=bias, **kwargs)


def conv(img, conv_filter, *, stride=1, padding=0, bias=None, dilation=1, groups=1):
    """:func:`pyx_cnn.conv` on a dask array: a lazy dask array of the same values.

    `img` is a dask array (a numpy array is wrapped as one chunk); `conv_filter`
    and `bias` are small and taken in memory (a dask filter is computed).
    A batch chunked along N runs per chunk; chunks along H and W run with the
    halo the window needs. `dilation` and `groups` are passed on to the
    in-memory ``conv`` only when they are not 1; `padding` may be
    ``((top, bottom), (left, right))``.
    """
    img = _as_dask(img, "img")
    conv_filter = np.asarray(conv_filter.compute() if is_dask_array(conv_filter)
                             else conv_filter)
    if bias is not None:
        bias = np.asarray(bias.compute() if is_dask_array(bias) else bias)
    filters = conv_filter[..., None] if conv_filter.ndim == 3 else conv_filter
    if filters.ndim != 4:
        raise ValueError("conv_filter must be 3-D (F, kh, kw) or 4-D (F, kh, kw, C), "
                         f"got shape {conv_filter.shape}")
    dtype = _dtype_of(img, conv_filter, bias)
    groups = check_int(groups, "groups", 1)
    return windowed(img, _Bound(_conv_block, (conv_filter, bias, stride, dilation, groups)),
                    kernel=filters.shape[1:3], stride=stride, padding=padding,
                    dilation=dilation, out_channels=filters.shape[0], dtype=dtype, name="img",
                    asymmetric=True)


class _Bound:
    """``block_fn(block, padding)`` from a function and its trailing arguments (picklable)."""

    def __init__(self, fn, args, kwargs=None):
        self.fn, self.args, self.kwargs = fn, tuple(args), dict(kwargs or {})

    def __call__(self, block, padding):
        return self.fn(block, padding, *self.args, **self.kwargs)


def _pool_block(block, padding, fn_name, size, stride, kwargs):
    return getattr(_f, fn_name)(block, size, stride, padding=padding, **kwargs)


def _tiles_agree(fn_name, padding, ceil_mode, kwargs):
    """Whether H and W may be cut into tiles padded at the array's borders only: in
    floor mode, where max pooling's padding (-inf) never wins and average pooling
    that counts the padding divides every window by ``size * size``."""
    if ceil_mode:
        return False
    if fn_name == "avg_pooling" and not kwargs.get("count_include_pad", True):
        if isinstance(padding, str):
            return padding.strip().lower() == "valid"
        return not np.any(padding)
    return True


def _pooling(fn_name, feature_map, size, stride, padding, ceil_mode, **kwargs):
    x = _as_dask(feature_map, "feature_map")
    dtype = _dtype_of(x)
    kwargs = dict(kwargs, ceil_mode=ceil_mode)
    if _tiles_agree(fn_name, padding, ceil_mode, kwargs):
        out = windowed(x.astype(dtype), _Bound(_pool_block, (fn_name, size, stride, kwargs)),
                       kernel=size, stride=stride, padding=padding, dtype=dtype,
                       pad_value=-np.inf if fn_name == "pooling" else 0, name="feature_map",
                       asymmetric=True)
    else:
        # each image one chunk: the in-memory function per chunk of the batch
        x4 = _as_batch(x, "feature_map").rechunk({1: -1, 2: -1, 3: -1})
        pads = pool_padding(padding, x4.shape[1:3], size, stride)
        h_out, w_out = (pool_output_size(n, size, stride, p, ceil_mode)
                        for n, p in zip(x4.shape[1:3], pads))
        if h_out < 1 or w_out < 1:
            raise ValueError(f"the window is larger than the padded feature_map {x.shape}")
        out = x4.map_blocks(_pool_block, padding, fn_name, size, stride, kwargs,
                            chunks=(x4.chunks[0], (h_out,), (w_out,), (x4.shape[3],)),
                            dtype=dtype, meta=np.empty((0, 0, 0, 0), dtype=dtype))
        out = out if x.ndim == 4 else out[0]
    return out[..., 0] if x.ndim == 2 else out


def pooling(feature_map, size=2, stride=2, padding=0, ceil_mode=False):
    """:func:`pyx_cnn.pooling` (max) on a dask array, lazily; chunks along H and W
    get the halo the window needs (in ceil mode each image is made one chunk)."""
    return _pooling("pooling", feature_map, size, stride, padding, ceil_mode)


def avg_pooling(feature_map, size=2, stride=2, padding=0, ceil_mode=False,
                count_include_pad=True):
    """:func:`pyx_cnn.avg_pooling` on a dask array, lazily; chunks along H and W
    get the halo the window needs (in ceil mode, or with padding and
    ``count_include_pad=False``, each image is made one chunk)."""
    return _pooling("avg_pooling", feature_map, size, stride, padding, ceil_mode,
                    count_include_pad=count_include_pad)


def _apply(block, name, kwargs):
    return getattr(_f, name)(block, **kwargs)


ELEMENTWISE = ("relu", "sigmoid", "tanh", "leaky_relu")


def elementwise(name, x, **kwargs):
    """The functional op `name` (one of :data:`ELEMENTWISE`) chunk by chunk on a dask
    array, lazily. Extra keyword arguments go to it."""
    if name not in ELEMENTWISE:
        raise ValueError(f"name must be one of {', '.join(map(repr, ELEMENTWISE))}, "
                         f"got {name!r}")
    x = _as_dask(x, "x")
    dtype = _dtype_of(x)
    return x.map_blocks(_apply, name, kwargs, dtype=dtype,
                        meta=np.empty((0,) * x.ndim, dtype=dtype))


def relu(feature_map):
    """:func:`pyx_cnn.relu` on a dask array, lazily (chunk by chunk)."""
    return elementwise("relu", feature_map)


def sigmoid(x):
    """:func:`pyx_cnn.sigmoid` on a dask array, lazily (chunk by chunk)."""
    return elementwise("sigmoid", x)


def tanh(x):
    """:func:`pyx_cnn.tanh` on a dask array, lazily (chunk by chunk)."""
    return elementwise("tanh", x)


def leaky_relu(x, negative_slope=0.01):
    """:func:`pyx_cnn.leaky_relu` on a dask array, lazily (chunk by chunk)."""
    return elementwise("leaky_relu", x, negative_slope=negative_slope)


def softmax(x, axis=-1):
    """:func:`pyx_cnn.softmax` on a dask array, lazily: `axis` is made one chunk,
    every other axis stays chunked."""
    x = _as_dask(x, "x")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a 0-d array")
    axis = int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for x of shape {x.shape}")
    x = x.rechunk({axis % x.ndim: -1})
    dtype = _dtype_of(x)
    return x.map_blocks(_apply, "softmax", {"axis": axis}, dtype=dtype,
                        meta=np.empty((0,) * x.ndim, dtype=dtype))
