"""A network's predict / predict_classes / evaluate over dask arrays, and a folder of
images read lazily."""
import hashlib
import io
import threading

import numpy as np

from .. import serialization
from .._validation import is_dask_array
from .ops import _as_dask, _da


# ------------------------------------------------------------- networks
def _net_to_bytes(net):
    """The network's model file (what ``save`` writes: weights, layer states and all), in
    memory."""
    buffer = io.BytesIO()
    serialization.save(net, buffer)
    return buffer.getvalue()


def _net_from_bytes(cls, data):
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return serialization.from_arrays(arrays, cls)


_rebuilt = {}
_rebuilt_lock = threading.Lock()


class ShippedNetwork:
    """A network as its model file: what travels to the workers.

    ``NeuralNetwork`` pickles, but its parameters are views into one flat array
    and a pickle copies them apart; the model file (``save``'s format) carries
    the weights and the layers' running statistics as they are. Each worker thread rebuilds the
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
    net = shipped.get()
    if classes:
        return net.predict_classes(block, batch_size=batch_size, fuse=fuse)
    return net.predict(block, batch_size=batch_size, fuse=fuse)


def predict(net, X, batch_size=256, fuse=True):
    """``net.predict`` over a dask batch: a lazy dask array ``(N,) + output_shape``.

    `X` is chunked along N (other axes are made one chunk); each chunk runs
    ``net.predict`` in a copy of the network with the weights it has now
    (later training does not change the result).
    """
    return _predict(net, X, batch_size, fuse, classes=False)


def predict_classes(net, X, batch_size=256, fuse=True):
    """``net.predict_classes`` over a dask batch, lazily (int64): the arg-max over the
    last (class) axis, or ``p > 0.5`` for one output."""
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
    loss = net.loss if loss is None else loss   # a loss of the user's own is not in the file
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
        from .._optional import require

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
