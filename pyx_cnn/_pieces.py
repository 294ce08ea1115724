"""How ``predict`` and ``evaluate`` run a batch: in pieces small enough for the cache.

A forward pass allocates every layer's output afresh. For a batch of a few hundred
images those arrays are tens of megabytes each: the allocator maps them from the
system, which zeroes every page as the kernels first touch it, batch after batch,
and the layers pass them on through main memory instead of the cache. (The
CIFAR-style network of ``benchmarks/bench_training.py`` predicted 2048 images in
437 ms in batches of 256 and in 310 ms in batches of 32, on one thread of a
2-core Xeon; with glibc told to keep freed memory, batches of 256 took 334 ms.)

So inference runs the samples of a batch in pieces whose largest activation (the
input or any layer's output) holds at most ``PIECE_BYTES``, each piece's output
written into the batch's, but of at least ``MIN_PIECE_SAMPLES`` samples: every
piece pays each layer's fixed costs (Python, starting the threads), which on a
deep network outweigh the cache (ResNet-18 on 32x32 images, 256 of them in
batches of 64: 3.96 s in pieces of 16, 3.13 s in pieces of 64, on one thread;
MobileNetV2 2.08 s in pieces of 10, 1.54 s in pieces of 40). At inference every
layer computes each sample on its own (batch normalisation uses its running
statistics, dropout passes through), so the
pieces give what one pass over the batch gives. ``batch_size`` keeps its meaning:
it bounds the memory of the output of a pass and, for ``evaluate``, groups the
samples whose loss is averaged first. Training runs whole batches: a batch's
gradient is a sum over its samples.
"""
import math

import numpy as np

__all__ = ["PIECE_BYTES", "MIN_PIECE_SAMPLES", "piece_size", "forward_in_pieces"]

PIECE_BYTES = 4 << 20
MIN_PIECE_SAMPLES = 64


def piece_size(net, batch):
    """Samples per forward pass for batches of `batch` samples of `net`: the batch
    cut into as few pieces of equal size as keep the largest activation within
    ``PIECE_BYTES``; but a piece of at least ``MIN_PIECE_SAMPLES`` samples (the
    last one of a batch may be shorter), or the whole batch."""
    shapes = [net.input_shape] + [layer.output_shape for layer in net.layers]
    # (math.prod: numpy's np.prod takes microseconds a call, tens of them a predict)
    largest = max(math.prod(shape) for shape in shapes) * np.dtype(net.dtype).itemsize
    most = max(1, PIECE_BYTES // max(largest, 1))
    n_pieces = -(-batch // most)
    return min(batch, max(-(-batch // n_pieces), MIN_PIECE_SAMPLES))


def forward_in_pieces(threads, forward, X, piece, *args, out=None):
    """``forward(X, *args)``, computed `piece` samples at a time, written into `out`
    when given (else into a new array, or returned as it is for one piece).

    `threads` (a :class:`pyx_cnn._thread_choice.StepThreads`) runs each piece; a
    piece shorter than `piece` is not timed.
    """
    n = X.shape[0]
    for start in range(0, n, piece):
        stop = min(start + piece, n)
        part = threads.run(forward, X[start:stop], *args, timed=stop - start == piece)
        if out is None:
            if stop == n:
                return part
            out = np.empty((n,) + part.shape[1:], dtype=part.dtype)
        out[start:stop] = part
    return out
