"""Dask arrays through pyx_cnn: the functional ops and a network's predict/evaluate, lazily.

Needs the ``dask`` extra (``pip install "pyx_cnn[dask]"``); nothing here imports
dask until a function is called with (or asked for) a dask array, and
:func:`is_dask_array` never imports it.

Two ways an array is split:

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
from .._validation import is_dask_array
from .network import evaluate, imread, predict, predict_classes
from .ops import (
    avg_pooling, conv, elementwise, leaky_relu, pooling, relu, sigmoid, softmax, tanh, windowed,
)

__all__ = [
    "handles", "is_dask_array", "conv", "relu", "sigmoid", "tanh", "leaky_relu", "elementwise",
    "pooling", "avg_pooling", "softmax", "windowed", "predict", "predict_classes",
    "evaluate", "imread",
]


def handles(x):
    """True for the arrays this module takes, dask arrays: ``pyx_cnn.conv(x, ...)``,
    ``net.predict(x)`` and the other public functions come here for them."""
    return is_dask_array(x)
