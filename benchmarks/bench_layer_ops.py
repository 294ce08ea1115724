"""Layer operations against PyTorch CPU: dilated convolution, average pooling,
batch norm, tanh.

Four float32 cases, forward and backward each:

- ``conv_dilated``: 16 filters of 3x3, dilation 2, padding "same" on 64x28x28x8
  (``ops.conv``: the direct kernels, forward and backward),
- ``avg_pool``: 2x2 windows every 2 on 64x28x28x8 (``ops.avg_pool``),
- ``batch_norm``: training forward and backward on 64x16x16x32 (``ops.batch_norm``),
- ``tanh``: on 64x28x28x8 (``ops.activations``).

PyTorch runs ``torch.nn.functional`` on the same data twice: NCHW (contiguous)
and NHWC (``memory_format=torch.channels_last``), its backward through the
functional backward ops (``torch.ops.aten.*_backward``) so that neither side
pays for autograd's bookkeeping. The three runners of a case alternate
(interleaved, the order rotating every round); medians and the ratios
``torch / pyx_cnn`` (above 1: pyx_cnn is faster) are printed, for one thread
and for the default thread count.

PyTorch is optional: without it only pyx_cnn's times are measured and
printed.

Nothing is set in the environment: this measures what a user gets.

Run ``python benchmarks/bench_layer_ops.py [--rounds 15]``.
"""
import argparse
import statistics
import time

import numpy as np

import pyx_cnn
from pyx_cnn._thread_policy import one_blas_thread
from pyx_cnn._geometry import resolve_padding
from pyx_cnn.ops import activations, avg_pool, batch_norm, conv as conv_op


def _pyx_cases(rng):
    x_pool = rng.standard_normal((64, 28, 28, 8)).astype(np.float32)
    g_pool = rng.standard_normal((64, 14, 14, 8)).astype(np.float32)
    x_bn = rng.standard_normal((64, 16, 16, 32)).astype(np.float32)
    g_bn = rng.standard_normal(x_bn.shape).astype(np.float32)
    gamma = np.ones(32, np.float32)
    beta = np.zeros(32, np.float32)
    x_tanh = rng.standard_normal((64, 28, 28, 8)).astype(np.float32)
    g_tanh = rng.standard_normal(x_tanh.shape).astype(np.float32)

    x_conv = rng.standard_normal((64, 28, 28, 8)).astype(np.float32)
    w_conv = rng.standard_normal((16, 3, 3, 8)).astype(np.float32)
    b_conv = np.zeros(16, np.float32)
    g_conv = rng.standard_normal((64, 28, 28, 16)).astype(np.float32)
    pads = resolve_padding("same", (28, 28), (3, 3), (1, 1), (2, 2))

    def conv():
        with one_blas_thread():    # as Conv2D runs it inside fit
            _, saved = conv_op.forward(x_conv, w_conv, b_conv, (1, 1), pads, (2, 2))
            conv_op.backward(g_conv, saved)

    def pool():
        _, saved = avg_pool.forward(x_pool, 2, 2)
        avg_pool.backward(g_pool, saved)

    def bn():
        _, saved = batch_norm.forward(x_bn, gamma, beta, 1e-5)
        batch_norm.backward(g_bn, saved)

    def tanh():
        _, saved = activations.tanh_forward(x_tanh)
        activations.tanh_backward(g_tanh, saved)

    data = {"conv_dilated": (x_conv, g_conv, w_conv), "avg_pool": (x_pool, g_pool),
            "batch_norm": (x_bn, g_bn), "tanh": (x_tanh, g_tanh)}
    return {"conv_dilated": conv, "avg_pool": pool, "batch_norm": bn, "tanh": tanh}, data


def _torch_cases(torch, data, channels_last):
    F = torch.nn.functional
    aten = torch.ops.aten

    def nchw(a):
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
        return t.contiguous(memory_format=torch.channels_last) if channels_last else t

    xc, gc = (nchw(a) for a in data["conv_dilated"][:2])
    wc = nchw(data["conv_dilated"][2])
    bc = torch.zeros(wc.shape[0])
    xp, gp = (nchw(a) for a in data["avg_pool"])
    xb, gb = (nchw(a) for a in data["batch_norm"])
    xt, gt = (nchw(a) for a in data["tanh"])
    weight = torch.ones(32)
    bias = torch.zeros(32)
    rm = torch.zeros(32)
    rv = torch.ones(32)

    def conv():
        F.conv2d(xc, wc, bc, padding=2, dilation=2)
        aten.convolution_backward(gc, xc, wc, [wc.shape[0]], [1, 1], [2, 2], [2, 2], False,
                                  [0, 0], 1, [True, True, True])

    def pool():
        F.avg_pool2d(xp, 2, 2)
        aten.avg_pool2d_backward(gp, xp, [2, 2], [2, 2], [0, 0], False, True, None)

    def bn():
        _, mean, invstd = aten.native_batch_norm(xb, weight, bias, rm, rv, True, 0.1, 1e-5)
        aten.native_batch_norm_backward(gb, xb, weight, rm, rv, mean, invstd, True, 1e-5,
                                        [True, True, True])

    def tanh():
        y = torch.tanh(xt)
        aten.tanh_backward(gt, y)

    return {"conv_dilated": conv, "avg_pool": pool, "batch_norm": bn, "tanh": tanh}


def _time(fn, repeat):
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def _torch():
    """PyTorch, or None when it is not installed (or does not import)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(rounds=15, repeat=5, thread_counts=None, seed=0, repeats=None, quick=False,
        threads=None):
    """Print the table; return ``{"<case>, <n> thread(s)": summary line}`` (what
    ``pyx-cnn bench`` prints) and, under ``"seconds"``, the medians per runner.

    `repeats` (the suite's name) sets `rounds`, `threads` (the suite's thread
    counts) sets `thread_counts`; `quick` times 2 calls a round instead of
    `repeat`. Without PyTorch only pyx_cnn runs.
    """
    torch = _torch()
    if repeats is not None:
        rounds = repeats
    if threads is not None:
        thread_counts = threads
    if quick:
        repeat = min(repeat, 2)

    rng = np.random.default_rng(seed)
    pyx, data = _pyx_cases(rng)
    runners = {"pyx_cnn": pyx}
    if torch is not None:
        runners["torch NCHW"] = _torch_cases(torch, data, False)
        runners["torch channels_last"] = _torch_cases(torch, data, True)
    default = pyx_cnn.get_num_threads()
    if thread_counts is None:
        thread_counts = sorted({1, default})
    torch_default = torch.get_num_threads() if torch is not None else None
    results = {}
    try:
        for threads in thread_counts:
            pyx_cnn.set_num_threads(threads)
            if torch is not None:
                torch.set_num_threads(threads)
            for case in pyx:
                names = list(runners)
                for name in names:            # warm up
                    runners[name][case]()
                times = {name: [] for name in names}
                for r in range(rounds):
                    k = r % len(names)
                    for name in names[k:] + names[:k]:
                        times[name].append(_time(runners[name][case], repeat))
                results[(case, threads)] = {n: statistics.median(t) for n, t in times.items()}
    finally:
        pyx_cnn.set_num_threads(None)
        if torch is not None:
            torch.set_num_threads(torch_default)
    if torch is None:
        print(f"forward + backward, float32, median of {rounds} rounds x {repeat} calls "
              "(PyTorch not installed)")
        print(f"{'case':<13} {'threads':>7} {'pyx_cnn ms':>11}")
        for (case, threads), med in results.items():
            print(f"{case:<13} {threads:>7} {med['pyx_cnn'] * 1e3:>11.3f}")
        summary = {f"{case}, {threads} thread(s)": f"pyx_cnn {med['pyx_cnn'] * 1e3:.3f} ms"
                   for (case, threads), med in results.items()}
    else:
        print(f"forward + backward, float32, median of {rounds} rounds x {repeat} calls; "
              "ratio = torch time / pyx_cnn time")
        print(f"{'case':<13} {'threads':>7} {'pyx_cnn ms':>11} {'NCHW ms':>9} {'ratio':>6} "
              f"{'ch_last ms':>11} {'ratio':>6}")
        for (case, threads), med in results.items():
            p, a, b = med["pyx_cnn"], med["torch NCHW"], med["torch channels_last"]
            print(f"{case:<13} {threads:>7} {p * 1e3:>11.3f} {a * 1e3:>9.3f} {a / p:>6.2f} "
                  f"{b * 1e3:>11.3f} {b / p:>6.2f}")
        summary = {f"{case}, {threads} thread(s)": (
            f"pyx_cnn {med['pyx_cnn'] * 1e3:.3f} ms; torch NCHW "
            f"{med['torch NCHW'] * 1e3:.3f} ms ({med['torch NCHW'] / med['pyx_cnn']:.2f}x), "
            f"channels_last {med['torch channels_last'] * 1e3:.3f} ms "
            f"({med['torch channels_last'] / med['pyx_cnn']:.2f}x)")
            for (case, threads), med in results.items()}
    summary["seconds"] = {f"{case}, {threads}": med for (case, threads), med in results.items()}
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="thread counts (default: 1 and the default count)")
    args = parser.parse_args(argv)
    run(rounds=args.rounds, repeat=args.repeat, thread_counts=args.threads)


if __name__ == "__main__":
    main()
