"""Depthwise and grouped convolution against PyTorch CPU.

float32 cases with MobileNetV2's shapes (64 images of 16x16), each timed for
the forward pass alone (inference) and for forward + backward (input, filter
and bias gradients):

- ``dw<C>``: a depthwise 3x3 convolution, padding 1, on C = 96, 144, 192, 384
  channels (``ops.conv`` with ``groups=C``: the depthwise kernels);
- ``dw144/s2``: the same with stride 2 (its input gradient spreads each
  output's gradient back over its window);
- ``g4_64``: a 3x3 convolution of 64 to 64 channels in 4 groups (``groups=4``:
  gathered windows and one BLAS product per group).

PyTorch runs ``torch.nn.functional.conv2d`` with ``groups`` on the same data
twice, NCHW (contiguous) and channels-last (``memory_format=torch.channels_last``),
its backward through ``torch.ops.aten.convolution_backward`` so that neither side
pays for autograd's bookkeeping. The runners alternate (the order rotating every
round); medians and the ratios ``torch / pyx_cnn`` (above 1: pyx_cnn is faster)
are printed for each thread count.

Nothing is set in the environment: this measures what a user gets.

Run ``python benchmarks/bench_grouped_conv.py [--rounds 7] [--threads 1 2]``.
"""
import argparse
import statistics
import time

import numpy as np

import pyx_cnn
from pyx_cnn._thread_policy import one_blas_thread
from pyx_cnn.ops import conv as conv_op

# name: (N, H, W, C, F, groups, stride)
CASES = {
    "dw96": (64, 16, 16, 96, 96, 96, 1),
    "dw144": (64, 16, 16, 144, 144, 144, 1),
    "dw192": (64, 16, 16, 192, 192, 192, 1),
    "dw384": (64, 16, 16, 384, 384, 384, 1),
    "dw144/s2": (64, 16, 16, 144, 144, 144, 2),
    "g4_64": (64, 16, 16, 64, 64, 4, 1),
}


def _data(rng, case):
    n, h, w, c, f, groups, stride = CASES[case]
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    filters = rng.standard_normal((f, 3, 3, c // groups)).astype(np.float32)
    grad = rng.standard_normal((n, ho, wo, f)).astype(np.float32)
    return x, filters, np.zeros(f, np.float32), grad, groups, stride


def _pyx_runner(data, backward):
    x, w, b, g, groups, stride = data
    pads = ((1, 1), (1, 1))

    def run():
        with one_blas_thread():     # as Conv2D runs it inside fit
            _, saved = conv_op.forward(x, w, b, (stride, stride), pads, (1, 1), groups)
            if backward:
                conv_op.backward(g, saved)
    return run


def _torch_runner(torch, data, backward, channels_last):
    x, w, b, g, groups, stride = data

    def nchw(a):
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
        return t.contiguous(memory_format=torch.channels_last) if channels_last else t

    xt, wt, gt, bt = nchw(x), nchw(w), nchw(g), torch.from_numpy(b)

    def run():
        with torch.inference_mode():
            torch.nn.functional.conv2d(xt, wt, bt, stride, 1, 1, groups)
            if backward:
                torch.ops.aten.convolution_backward(
                    gt, xt, wt, [wt.shape[0]], [stride, stride], [1, 1], [1, 1], False,
                    [0, 0], groups, [True, True, True])
    return run


def _time(fn, repeat):
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(rounds=7, repeat=3, thread_counts=(1, 2), seed=0, cases=None):
    """Print the table; return ``{(case, pass, threads): {runner: median seconds}}``."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    results = {}
    torch_default = torch.get_num_threads() if torch is not None else None
    try:
        for case in cases or CASES:
            data = _data(rng, case)
            for backward in (False, True):
                runners = {"pyx_cnn": _pyx_runner(data, backward)}
                if torch is not None:
                    runners["torch NCHW"] = _torch_runner(torch, data, backward, False)
                    runners["torch ch_last"] = _torch_runner(torch, data, backward, True)
                for threads in thread_counts:
                    pyx_cnn.set_num_threads(threads)
                    if torch is not None:
                        torch.set_num_threads(threads)
                    names = list(runners)
                    for name in names:      # warm up
                        runners[name]()
                    times = {name: [] for name in names}
                    for r in range(rounds):
                        k = r % len(names)
                        for name in names[k:] + names[:k]:
                            times[name].append(_time(runners[name], repeat))
                    key = (case, "fwd+bwd" if backward else "forward", threads)
                    results[key] = {n: statistics.median(t) for n, t in times.items()}
    finally:
        pyx_cnn.set_num_threads(None)
        if torch is not None:
            torch.set_num_threads(torch_default)
    _print(results, rounds, repeat)
    return results


def _print(results, rounds, repeat):
    print(f"float32, median of {rounds} rounds x {repeat} calls; "
          "ratio = torch time / pyx_cnn time (above 1: pyx_cnn faster)")
    print(f"{'case':<9} {'pass':<8} {'threads':>7} {'pyx_cnn ms':>11} {'NCHW ms':>9} "
          f"{'ratio':>6} {'ch_last ms':>11} {'ratio':>6}")
    for (case, which, threads), med in results.items():
        p = med["pyx_cnn"]
        line = f"{case:<9} {which:<8} {threads:>7} {p * 1e3:>11.3f}"
        if "torch NCHW" in med:
            a, b = med["torch NCHW"], med["torch ch_last"]
            line += f" {a * 1e3:>9.3f} {a / p:>6.2f} {b * 1e3:>11.3f} {b / p:>6.2f}"
        print(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=None)
    args = parser.parse_args(argv)
    run(args.rounds, args.repeat, tuple(args.threads), cases=args.cases)


if __name__ == "__main__":
    main()
