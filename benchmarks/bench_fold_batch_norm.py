"""Does the fusion rule ``batch_norm_into_conv`` pay? ``predict`` of the
``pyx-cnn train --model bn`` network (Conv2D, BatchNormalization, ReLU,
MaxPool2D blocks; :func:`pyx_cnn.models.model_network`) on 1000 random
images of 8x8 and 28x28, one channel, three ways:

- ``fuse=False``: every layer's own forward pass;
- ``no fold``: the fused plan without the rule (the other rules apply);
- ``fold``: the fused plan, the batch normalisations folded into the convolutions.

The batch normalisations get random statistics and parameters first (not the
identity of a new layer). The three runners alternate (interleaved, the order
rotating every round); the medians are printed for one and two threads, with
``fold``'s gain over ``no fold`` and over ``fuse=False``.

Run ``python benchmarks/bench_fold_batch_norm.py [--rounds 21] [--dtype float32]``.
"""
import argparse
import statistics
import time
from unittest import mock

import numpy as np

import pyx_cnn
from pyx_cnn import fusion, layers
from pyx_cnn.models import model_network


class _NoBatchNorm:
    """Stands for BatchNormalization in the plan's test: the rule never applies."""


def _network(side, dtype, rng):
    net = model_network("bn", (side, side, 1), 10, seed=0, dtype=dtype)
    for layer in net.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.state["mean"].shape[0]
            layer.state["mean"][...] = rng.standard_normal(c)
            layer.state["var"][...] = rng.uniform(0.5, 2, c)
            layer.params["gamma"][...] = rng.uniform(0.5, 2, c)
            layer.params["beta"][...] = rng.standard_normal(c)
    return net


def _without_fold(net, X):
    with mock.patch.object(fusion, "BatchNormalization", _NoBatchNorm):
        return net.predict(X)


def measure(side, threads, dtype, rounds):
    rng = np.random.default_rng(side)
    net = _network(side, dtype, rng)
    X = rng.random((1000, side, side, 1)).astype(dtype)
    runners = {"fuse=False": lambda: net.predict(X, fuse=False),
               "no fold": lambda: _without_fold(net, X),
               "fold": lambda: net.predict(X)}
    pyx_cnn.set_num_threads(threads)
    try:
        difference = np.abs(runners["fold"]() - runners["fuse=False"]()).max()
        times = {name: [] for name in runners}
        names = list(runners)
        for r in range(rounds):
            for name in names[r % 3:] + names[:r % 3]:
                start = time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - start)
    finally:
        pyx_cnn.set_num_threads(None)
    medians = {name: statistics.median(t) for name, t in times.items()}
    gain = 100 * (1 - medians["fold"] / medians["no fold"])
    gain_plain = 100 * (1 - medians["fold"] / medians["fuse=False"])
    print(f"{side}x{side} {dtype} {threads} thread(s): "
          + ", ".join(f"{name} {1e3 * m:.1f} ms" for name, m in medians.items())
          + f"; fold faster by {gain:.1f}% than no fold, {gain_plain:.1f}% than fuse=False"
          + f" (max |fold - fuse=False| {difference:.2g})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    args = parser.parse_args()
    for side in (8, 28):
        for threads in (1, 2):
            measure(side, threads, args.dtype, args.rounds)


if __name__ == "__main__":
    main()
