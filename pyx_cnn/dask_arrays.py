"""Dask arrays through pyx_cnn: the functional ops and a network's predict/evaluate, lazily.

Needs the ``dask`` extra (``pip install "pyx_cnn[dask]"``); nothing here imports
dask until a function is called with (or asked for) a dask array, and
:func:`is_dask_array` never imports it.

Two ways an array is split (SPEC section 9):

- a batch ``(N, H, W, C)`` chunked along N: each chunk runs the in-memory
  function on its own (``map_blocks``);
- a large image ``(H, W)`` / ``(H, W, C)`` (or a batch) chunked along H and W:
  the image is zero-padded at its borders only, rechunked so that every chunk
  starts at a multiple of the stride (chunk ``i`` produces output rows
  ``[o_i, o_{i+1})`` and starts at input row ``o_i * stride``), and each chunk
  borrows a halo of ``max(0, (kernel - 1) * dilation + 1 - stride)`` rows and
  columns from its neighbours below and to the right (``map_overlap`` with an
  asymmetric depth). Each chunk then runs the in-memory function with no
  padding ("valid"), and the outputs tile the result exactly: every output
  pixel is computed from the same input values by the same kernel as in memory.

Every op returns a lazy dask array; ``.compute()`` (on any scheduler,
``distributed.Client`` included) gives the in-memory result. The channel axis
is always one chunk (rechunked when it is not).

    import dask.array as da
    from pyx_cnn import dask_arrays as pda
    img = da.from_array(big_image, chunks=(512, 512, -1))
    out = pda.pooling(pda.relu(pda.conv(img, filters, padding=1)), 2, 2)
    out.compute()
"""
import hashlib
import io
import json
import math
import sys
import threading

import numpy as np

from . import functional as _f
from ._validation import is_dask_array, working_dtype

__all__ = [
    "is_dask_array", "conv", "relu", "sigmoid", "tanh", "leaky_relu", "elementwise",
    "pooling", "avg_pooling", "softmax", "windowed", "predict", "predict_classes",
    "evaluate", "imread",
]


# ----------------------------------------------------------------- helpers
def _da():
    from ._optional import require

    return require("dask.array", "dask[array]", "dask", "pyx_cnn.dask_arrays")


def _as_dask(x, name):
    da = _da()
    if is_dask_array(x):
        return x
    x = np.asarray(x)
    return da.from_array(x, chunks=x.shape or ())


def _dtype_of(*arrays):
    return working_dtype(*(np.empty(0, dtype=a.dtype) for a in arrays if a is not None))


def _pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


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


def _same_padding(size, kernel, stride, dilation):
    """(before, after) zeros for padding="same": output ceil(size / stride)."""
    extent = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def _axis_padding(padding, sizes, kernels, strides, dilations):
    """Per-axis (before, after) from an int, a pair, "valid" or "same"."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return tuple(_same_padding(*a) for a in zip(sizes, kernels, strides, dilations))
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return (ph, ph), (pw, pw)


def _out_blocks(n_out, block):
    """Split `n_out` output positions into blocks of `block` (the last one shorter)."""
    blocks = [block] * (n_out // block)
    if n_out % block:
        blocks.append(n_out % block)
    return tuple(blocks)


def _axis_plan(in_chunks, size, kernel, stride, dilation, pad):
    """Input chunks (after padding) aligned to the stride, output chunks, halo depth."""
    extent = (kernel - 1) * dilation + 1
    padded = size + pad[0] + pad[1]
    n_out = (padded - extent) // stride + 1
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
             dtype=None, pad_value=0, name="x", inner_padding=None):
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

    Returns
    -------
    dask array, shape (Hout, Wout, F) for 2-D and 3-D input, (N, Hout, Wout, F) for a batch
    (the caller squeezes further when its in-memory op does).
    """
    da = _da()
    ndim = x.ndim
    x4 = _as_batch(x, name)
    kh, kw = _pair(kernel, "kernel")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    if min(kh, kw, sh, sw, dh, dw) < 1:
        raise ValueError("kernel, stride and dilation must be >= 1")
    n, height, width, channels = x4.shape
    f = channels if out_channels is None else out_channels
    dtype = np.dtype(dtype or x.dtype)
    meta = np.empty((0, 0, 0, 0), dtype=dtype)
    x4 = x4.rechunk({3: -1})
    ph, pw = _axis_padding(padding, (height, width), (kh, kw), (sh, sw), (dh, dw))

    if x4.numblocks[1] == 1 and x4.numblocks[2] == 1:
        # a batch chunked along N only: the in-memory op per chunk, padding and all
        h_out = (height + sum(ph) - (kh - 1) * dh - 1) // sh + 1
        w_out = (width + sum(pw) - (kw - 1) * dw - 1) // sw + 1
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
def _conv_block(block, padding, conv_filter, bias, stride, dilation):
    kwargs = {} if dilation == 1 else {"dilation": dilation}
    return _f.conv(block, conv_filter, stride=stride, padding=padding, bias=bias, **kwargs)


def conv(img, conv_filter, *, stride=1, padding=0, bias=None, dilation=1):
    """:func:`pyx_cnn.conv` on a dask array: a lazy dask array of the same values.

    `img` is a dask array (a numpy array is wrapped as one chunk); `conv_filter`
    and `bias` are small and taken in memory (a dask filter is computed).
    A batch chunked along N runs per chunk; chunks along H and W run with the
    halo the window needs. `dilation` is passed on to the in-memory ``conv``
    only when it is not 1.
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
    return windowed(img, _Bound(_conv_block, (conv_filter, bias, stride, dilation)),
                    kernel=filters.shape[1:3], stride=stride, padding=padding,
                    dilation=dilation, out_channels=filters.shape[0], dtype=dtype, name="img")


class _Bound:
    """``block_fn(block, padding)`` from a function and its trailing arguments (picklable)."""

    def __init__(self, fn, args, kwargs=None):
        self.fn, self.args, self.kwargs = fn, tuple(args), dict(kwargs or {})

    def __call__(self, block, padding):
        return self.fn(block, padding, *self.args, **self.kwargs)


def _pool_block(block, padding, fn_name, size, stride, kwargs):
    fn = getattr(_f, fn_name)
    if padding not in (0, (0, 0)):
        kwargs = dict(kwargs, padding=padding)
    return fn(block, size, stride, **kwargs)


def _pooling(fn_name, feature_map, size, stride, padding=0, **kwargs):
    x = _as_dask(feature_map, "feature_map")
    out = windowed(x, _Bound(_pool_block, (fn_name, size, stride, kwargs)), kernel=size,
                   stride=stride, padding=padding, dtype=_dtype_of(x), name="feature_map")
    return out[..., 0] if x.ndim == 2 else out


def pooling(feature_map, size=2, stride=2):
    """:func:`pyx_cnn.pooling` (max) on a dask array, lazily; chunks along H and W
    get the halo the window needs."""
    return _pooling("pooling", feature_map, size, stride)


def avg_pooling(feature_map, size=2, stride=2, **kwargs):
    """``pyx_cnn.avg_pooling`` on a dask array, lazily (needs a pyx_cnn that has it).

    Extra keyword arguments go to the in-memory function. A ``padding`` there
    is applied per tile only when H and W are one chunk each.
    """
    if not hasattr(_f, "avg_pooling"):
        raise NotImplementedError("this pyx_cnn has no functional avg_pooling")
    return _pooling("avg_pooling", feature_map, size, stride, **kwargs)


def _apply(block, name, kwargs):
    return getattr(_f, name)(block, **kwargs)


def elementwise(name, x, **kwargs):
    """The functional op `name` (``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"leaky_relu"``,
    ...) chunk by chunk on a dask array, lazily. Extra keyword arguments go to it."""
    if not hasattr(_f, name):
        raise NotImplementedError(f"this pyx_cnn has no functional {name}")
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
    """``pyx_cnn.tanh`` on a dask array, lazily (needs a pyx_cnn that has it)."""
    return elementwise("tanh", x)


def leaky_relu(x, **kwargs):
    """``pyx_cnn.leaky_relu`` on a dask array, lazily (needs a pyx_cnn that has it)."""
    return elementwise("leaky_relu", x, **kwargs)


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


# ------------------------------------------------------------- networks
def _net_to_bytes(net):
    """The network's model file (architecture and weights, as ``save`` writes it), in memory."""
    from .serialization import _ARCH_KEY

    net._check_bound()
    arrays = {_ARCH_KEY: np.array(json.dumps(net._architecture()))}
    for i, layer in enumerate(net.layers):
        for key, value in layer.params.items():
            arrays[f"layers.{i}.{key}"] = value
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _net_from_bytes(cls, data):
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return cls._from_arrays(arrays)


_rebuilt = {}
_rebuilt_lock = threading.Lock()


class ShippedNetwork:
    """A network as its model file: what travels to the workers.

    ``NeuralNetwork`` pickles, but its parameters are views into one flat array
    and a pickle copies them apart; the model file (``save``'s format) carries
    exactly the weights and nothing else. Each worker thread rebuilds the
    network once per model (cached by the file's hash).
    """

    def __init__(self, net):
        self.cls = type(net)
        self.data = _net_to_bytes(net)
        self.token = hashlib.sha256(self.data).hexdigest()

    def __dask_tokenize__(self):
        return ("pyx_cnn.ShippedNetwork", self.token)

    def get(self):
        key = (self.token, threading.get_ident())
        with _rebuilt_lock:
            net = _rebuilt.get(key)
        if net is None:
            net = _net_from_bytes(self.cls, self.data)
            with _rebuilt_lock:
                if len(_rebuilt) > 32:
                    _rebuilt.clear()
                _rebuilt[key] = net
        return net


def _batch_chunks(net, X, name="X"):
    """X as a dask array whose every axis but N is one chunk."""
    X = _as_dask(X, name)
    if X.ndim < 2:
        raise ValueError(f"{name} must be a batch (N, ...) , got shape {X.shape}")
    return X.rechunk({i: -1 for i in range(1, X.ndim)})


def _predict_block(block, shipped, batch_size, fuse, classes):
    out = shipped.get().predict(block, batch_size=batch_size, fuse=fuse)
    return np.argmax(out, axis=-1) if classes else out


def predict(net, X, batch_size=256, fuse=True):
    """``net.predict`` over a dask batch: a lazy dask array ``(N,) + output_shape``.

    `X` is chunked along N (other axes are made one chunk); each chunk runs
    ``net.predict`` in a copy of the network with the weights it has now
    (later training does not change the result).
    """
    return _predict(net, X, batch_size, fuse, classes=False)


def predict_classes(net, X, batch_size=256, fuse=True):
    """The arg-max of :func:`predict` over the last (class) axis, lazily (int64)."""
    return _predict(net, X, batch_size, fuse, classes=True)


def _predict(net, X, batch_size, fuse, classes):
    X = _batch_chunks(net, X)
    if X.shape[1:] != tuple(net.input_shape) and not (
            len(net.input_shape) == 3 and net.input_shape[2] == 1
            and X.shape[1:] == tuple(net.input_shape[:2])):
        raise ValueError(f"X must be (N,) + {tuple(net.input_shape)}, got shape {X.shape}")
    out_shape = tuple(net.output_shape)
    if classes:
        out_shape = out_shape[:-1]
    dtype = np.dtype(np.int64) if classes else np.dtype(net.dtype)
    shipped = ShippedNetwork(net)
    chunks = (X.chunks[0],) + tuple((s,) for s in out_shape)
    extra = X.ndim - len(chunks)
    kwargs = dict(chunks=chunks, dtype=dtype, meta=np.empty((0,) * len(chunks), dtype=dtype))
    if extra > 0:
        kwargs["drop_axis"] = list(range(len(chunks), X.ndim))
    elif extra < 0:
        kwargs["new_axis"] = list(range(X.ndim, len(chunks)))
    return X.map_blocks(_predict_block, shipped, batch_size, fuse, classes, **kwargs)


def _evaluate_block(xb, yb, shipped, batch_size, loss, fuse):
    scores = shipped.get().evaluate(xb, yb, batch_size=batch_size, loss=loss, fuse=fuse)
    n = xb.shape[0]
    out = {"n": n, "loss": scores["loss"] * n}
    if "accuracy" in scores:
        rows = n * _rows_per_sample(shipped)
        out["correct"], out["rows"] = round(scores["accuracy"] * rows), rows
    return out


def _rows_per_sample(shipped):
    """Rows of the output's class axis per sample (1, or H*W for a per-pixel output)."""
    shape = tuple(shipped.get().output_shape)
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def evaluate(net, X, y, batch_size=256, loss=None, fuse=True, compute=True):
    """``net.evaluate`` over dask arrays: per-chunk scores, then their weighted means.

    Returns ``{"loss": ..., "accuracy": ...}`` as floats (computed now), equal to
    the in-memory result up to the order of the float sums. With
    ``compute=False``, a ``dask.delayed`` object of that dict instead.
    `y` may be a dask array (rechunked along N as `X`) or in memory.
    """
    import dask

    X = _batch_chunks(net, X)
    if is_dask_array(y):
        y = y.rechunk({0: X.chunks[0], **{i: -1 for i in range(1, y.ndim)}})
        y_blocks = list(y.to_delayed().reshape(-1))
    else:
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}")
        bounds = np.cumsum((0,) + X.chunks[0])
        y_blocks = [y[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    x_blocks = list(X.to_delayed().reshape(-1))
    shipped = ShippedNetwork(net)
    parts = [dask.delayed(_evaluate_block)(xb, yb, shipped, batch_size, loss, fuse)
             for xb, yb in zip(x_blocks, y_blocks)]
    total = dask.delayed(_combine_scores)(parts)
    return total.compute() if compute else total


def _combine_scores(parts):
    n = sum(p["n"] for p in parts)
    scores = {"loss": sum(p["loss"] for p in parts) / n}
    if all("correct" in p for p in parts):
        scores["accuracy"] = sum(p["correct"] for p in parts) / sum(p["rows"] for p in parts)
    return scores


# ------------------------------------------------------------- images
def _read_image(path):
    try:
        import imageio.v3 as iio
    except ImportError:
        from ._optional import require

        return require("skimage.io", "scikit-image", "demo", "pyx_cnn.dask_arrays.imread").imread(
            path)
    return iio.imread(path)


def imread(pattern, *, scale=None, dtype=None):
    """A folder of images as a lazy dask array ``(N, H, W[, C])``, one chunk per image.

    Parameters
    ----------
    pattern : str
        A glob such as ``"photos/*.png"``, or a folder (all its files), read in
        sorted order. Every image must have the first one's shape and dtype
        (the first is read now to learn them; the others when computed).
    scale : float, optional
        Multiply by this (e.g. ``1/255``), lazily; the result is then floating point.
    dtype : numpy dtype, optional
        Cast to this, lazily (``"float32"`` to feed a float32 network).

    Images are read with imageio (scikit-image's reader as a fallback), one
    ``dask.delayed`` task each.
    """
    import glob
    import os

    import dask

    da = _da()
    if os.path.isdir(pattern):
        pattern = os.path.join(pattern, "*")
    files = sorted(f for f in glob.glob(pattern) if os.path.isfile(f))
    if not files:
        raise FileNotFoundError(f"no image files match {pattern!r}")
    first = np.asarray(_read_image(files[0]))
    images = da.stack([
        da.from_array(first, chunks=first.shape) if i == 0 else
        da.from_delayed(dask.delayed(_read_image)(f), shape=first.shape, dtype=first.dtype)
        for i, f in enumerate(files)
    ])
    if scale is not None:
        images = images * scale
    if dtype is not None:
        images = images.astype(dtype)
    return images
