"""What :meth:`~pyx_cnn.NeuralNetwork.predict`, ``predict_classes`` and ``evaluate``
do: the methods call these functions of the network, which carry their docstrings.

Each checks its arguments, then runs the network's plan forward
(``net._chain.plan(...)``: a :class:`~pyx_cnn._chain.Chain` or a
:class:`~pyx_cnn._graph.Graph`) batch by batch; ``evaluate`` hands the batches to
:func:`pyx_cnn.training_loop.evaluate_batches`. A dask array goes to
:mod:`pyx_cnn.dask_arrays` (``_dispatch.py``).
"""
import numpy as np

from . import training_loop
from ._block_cache import reuses_large_blocks
from ._fit_arguments import resolve_loss
from ._kept_weights import keeping_prepared_weights
from ._pieces import forward_in_pieces, piece_size
from ._thread_choice import step_threads
from ._thread_policy import holds_blas_to_one_thread
from ._validation import as_array, check_int, check_result_size

__all__ = ["predict", "predict_classes", "evaluate"]


@holds_blas_to_one_thread
@reuses_large_blocks
@keeping_prepared_weights()
def predict(net, X, batch_size=256, fuse=True):
    """The last layer's output for every sample.

    Parameters
    ----------
    X : array_like
        A batch ``(N,) + input_shape`` (for a one-channel ``input_shape``
        ``(H, W, 1)``, ``(N, H, W)`` too), or one sample of exactly
        ``input_shape``. A dask array gives a lazy dask array
        (:func:`pyx_cnn.dask_arrays.predict`).
    batch_size : int, optional
        Samples per forward pass (bounds the memory used).
    fuse : bool, optional
        Run the layers by the fusion plan (:mod:`pyx_cnn.fusion`); False runs
        every layer's own forward pass, with the same results.

    Returns
    -------
    ndarray
        ``(N,) + output_shape`` for a batch; ``output_shape`` (no batch
        axis) for one sample of exactly ``input_shape``. For
        ``input_shape=(H, W)`` a 3-D ``(N, H, W)`` input is a batch and a
        2-D ``(H, W)`` input one sample.
    """
    one = isinstance(X, np.ndarray) and X.shape == net.input_shape
    if not one and not isinstance(X, np.ndarray):
        X = as_array(X, "X")
        one = X.shape == net.input_shape
    if one:
        return predict(net, X[np.newaxis], batch_size, fuse)[0]
    X = net._prepare_x(X)
    batch_size = check_int(batch_size, "batch_size", 1)
    net._check_bound()
    check_result_size("predict", ((X.shape[0],) + net.output_shape, net.dtype))
    out = np.empty((X.shape[0],) + net.output_shape, dtype=net.dtype)
    plan = net._chain.plan(fuse=fuse)
    piece = piece_size(net, min(batch_size, X.shape[0]))
    threads = step_threads(net, "predict", (piece,) + X.shape[1:])
    for start in range(0, X.shape[0], batch_size):
        stop = min(start + batch_size, X.shape[0])
        forward_in_pieces(threads, plan.forward, X[start:stop], piece, out=out[start:stop])
    return out

def predict_classes(net, X, batch_size=256, fuse=True):
    """Integer class labels: the arg-max of :meth:`predict` over the last axis.

    For a network with one output (``Dense(1, activation="sigmoid")``), 1
    where ``p > 0.5``, else 0, of shape ``(N,)``. One sample of exactly
    ``input_shape`` gives one label (a 0-d array).

    Returns
    -------
    ndarray of int64
    """
    out = predict(net, X, batch_size, fuse)
    if net.output_shape[-1] == 1:
        # 0.5 for a network ending in a sigmoid (probabilities), 0 for a logit
        threshold = 0.5 if net._chain.final_activation == "sigmoid" else 0.0
        return (out[..., 0] > threshold).astype(np.int64)
    return np.argmax(out, axis=-1).astype(np.int64)

@holds_blas_to_one_thread
@reuses_large_blocks
def evaluate(net, X, y, batch_size=256, loss=None, fuse=True):
    """Mean loss and accuracy on (X, y).

    Parameters
    ----------
    X : array_like
        A batch, as for :meth:`fit` (dask arrays: :func:`pyx_cnn.dask_arrays.evaluate`).
    y : array_like
        Integer labels or float targets, as for :meth:`fit`.
    batch_size : int, optional
    loss : {None, "cross_entropy", "binary_cross_entropy", "mse"} or Loss, optional
        Overrides the choice by target type (names are case-insensitive).
    fuse : bool, optional
        As for :meth:`predict`.

    Returns
    -------
    scores : dict
        ``{"loss": float, "accuracy": float}``. The loss is the mean over
        every row of the output's last (class) axis: over ``N*H*W``
        positions for a per-pixel output. Accuracy is the fraction of those
        rows whose arg-max is the label (or the arg-max of the target row);
        it is left out for single-output regression targets and for
        image-shaped mean-squared-error targets.
    """
    X = net._prepare_x(X)
    y = net._prepare_y(y, X.shape[0])
    batch_size = check_int(batch_size, "batch_size", 1)
    net._check_bound()
    plan = net._chain.plan(resolve_loss(net, loss, y), fuse)
    return training_loop.evaluate_batches(plan, X, y, batch_size, owner=net)
