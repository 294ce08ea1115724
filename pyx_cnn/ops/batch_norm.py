"""Batch normalisation, forward (training and inference) and backward.

Per channel over ``(N, H, W)`` for channels-last ``(N, H, W, C)`` input, per
feature over ``N`` for ``(N, F)`` input (the same as ``(N, 1, 1, F)``), as
``torch.nn.BatchNorm2d`` / ``BatchNorm1d``. Arrays are C-contiguous and of one
float dtype (``gamma``, ``beta``, running ``mean`` / ``var``: shape ``(C,)``);
the callers validate them.

Training (:func:`forward`) normalises with the batch mean and *biased* variance::

    y = (x - mean) / sqrt(var + eps) * gamma + beta

and :func:`update_running` then moves the running statistics as PyTorch does,
``running = (1 - momentum) * running + momentum * batch``, with the batch's
*unbiased* variance. Inference (:func:`forward_infer`) normalises with given
(running) statistics instead. The statistics are summed in double precision, threaded
over blocks of rows: each block is read twice while in cache (its sum, then the
deviations from its own mean), and the blocks are combined in block order into
the sum of squared deviations from the batch mean, with the accuracy of two
passes over the whole input (which is read from memory once). The blocks depend
on the shape only, so the result is the same, bit for bit, whatever the thread
count.

The backward pass is the standard compact formula, with ``xhat`` the
normalised input and ``M`` the number of values per channel::

    grad_x = gamma / sqrt(var + eps) / M * (M*g - sum(g) - xhat * sum(g * xhat))
    grad_gamma = sum(g * xhat);  grad_beta = sum(g)
"""
from typing import NamedTuple

import numpy as np

from .. import _batch_norm
from .._threads import get_num_threads

__all__ = ["BatchNormSaved", "forward", "forward_infer", "backward", "update_running"]


class BatchNormSaved(NamedTuple):
    """What :func:`forward` keeps for :func:`backward` and :func:`update_running`.

    x : ndarray (M, C)
        The input itself (a reshaped view, not a copy), as PyTorch keeps it:
        the caller must not modify it before the backward pass.
    shape : tuple
        The input's shape, which ``grad_x`` takes.
    gamma : ndarray (C,)
        The scale used (a reference).
    mean, invstd : ndarray (C,) float64
        The batch mean and ``1 / sqrt(biased variance + eps)``.
    var : ndarray (C,) float64
        The batch's unbiased variance (``sum((x - mean)**2) / (M - 1)``), for
        the running statistics.
    """

    x: np.ndarray
    shape: tuple
    gamma: np.ndarray
    mean: np.ndarray
    invstd: np.ndarray
    var: np.ndarray


def _rows(x):
    return x.reshape(-1, x.shape[-1])


# Blocks of rows for the partial sums: from the shape alone (never the thread
# count), about 16k values each, at most 256 of them and at most one per row.
_BLOCK_VALUES = 1 << 14
_MAX_BLOCKS = 256


def _workspace(rows, channels, sums):
    """Room for `sums` partial sums of C channels per block of rows, float64."""
    blocks = min(_MAX_BLOCKS, rows, max(1, rows * channels // _BLOCK_VALUES))
    return np.empty((max(1, blocks), sums * channels), dtype=np.float64)


def forward(x, gamma, beta, eps=1e-5):
    """Normalise `x` with its own batch statistics (training), and what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray (N, H, W, C) or (N, F)
    gamma, beta : ndarray (C,), x's dtype
    eps : float

    Returns
    -------
    y : ndarray, x's shape and dtype
    saved : BatchNormSaved
        ``saved.mean`` and ``saved.var`` are the batch mean and unbiased
        variance (float64), for :func:`update_running`.

    Raises
    ------
    ValueError
        When a channel has fewer than 2 values (the unbiased variance is
        undefined; PyTorch refuses these batches in training too).

    See Also
    --------
    pyx_cnn.reference.batch_norm_train : The same normalisation, by loops.
    """
    xr = _rows(x)
    rows, channels = xr.shape
    if rows < 2:
        raise ValueError(
            f"batch normalisation in training needs more than 1 value per channel, "
            f"got input of shape {tuple(x.shape)}"
        )
    nt = get_num_threads()
    mean = np.empty(channels, dtype=np.float64)
    invstd = np.empty(channels, dtype=np.float64)
    var = np.empty(channels, dtype=np.float64)
    _batch_norm._statistics(xr, eps, _workspace(rows, channels, 3),
                            mean, invstd, var, nt)
    y = np.empty_like(xr)
    _batch_norm._normalize(xr, gamma, beta, mean, invstd, y, nt)
    return y.reshape(x.shape), BatchNormSaved(xr, tuple(x.shape), gamma, mean, invstd, var)


def forward_infer(x, gamma, beta, mean, var, eps=1e-5):
    """Normalise `x` with given (running) statistics: ``(x - mean) / sqrt(var + eps) * gamma + beta``.

    As in training, ``y = x * scale + shift`` with ``scale = gamma / sqrt(var + eps)``
    and ``shift = beta - mean * scale`` computed in double precision (PyTorch's form).

    See Also
    --------
    pyx_cnn.reference.batch_norm_infer : The same normalisation, by loops.
    """
    xr = _rows(x)
    invstd = 1.0 / np.sqrt(var.astype(np.float64, copy=False) + eps)
    y = np.empty_like(xr)
    _batch_norm._normalize(xr, gamma, beta, mean.astype(np.float64, copy=False), invstd, y,
                           get_num_threads())
    return y.reshape(x.shape)


def backward(grad_out, saved):
    """``(grad_x, grad_gamma, grad_beta)`` from ``grad_out = dL/dy`` and :func:`forward`'s `saved`.

    ``grad_x`` has the input's shape; ``grad_gamma`` and ``grad_beta`` are
    ``(C,)``, all in the input's dtype.

    See Also
    --------
    pyx_cnn.reference.batch_norm_backward : The same gradients, by loops.
    """
    xr = saved.x
    rows, channels = xr.shape
    grad_x = np.empty_like(xr)
    grad_gamma = np.empty(channels, dtype=xr.dtype)
    grad_beta = np.empty(channels, dtype=xr.dtype)
    _batch_norm._backward(xr, grad_out.reshape(rows, channels), saved.gamma, saved.mean,
                          saved.invstd, _workspace(rows, channels, 2),
                          grad_x, grad_gamma, grad_beta, get_num_threads())
    return grad_x.reshape(saved.shape), grad_gamma, grad_beta


def update_running(running_mean, running_var, saved, momentum=0.1):
    """In place: ``running = (1 - momentum) * running + momentum * batch``.

    The batch statistics are ``saved.mean`` and the unbiased ``saved.var``;
    the update is computed in double precision and stored in the running
    arrays' dtype, as ``torch.nn.BatchNorm2d(momentum=momentum)`` does.
    """
    m = float(momentum)
    running_mean[...] = (1 - m) * running_mean.astype(np.float64) + m * saved.mean
    running_var[...] = (1 - m) * running_var.astype(np.float64) + m * saved.var
