"""Training and inference of real networks: pyx_cnn against PyTorch CPU (and, for
inference, onnxruntime).

Two networks, float32, batches of 64, plain SGD (learning rate 0.01), softmax
cross-entropy:

- ``lenet``: LeNet-5 on 28x28x1 images::

      Conv2D(6, 5, padding=2) ReLU MaxPool2D  Conv2D(16, 5) ReLU MaxPool2D
      Flatten  Dense(120, relu)  Dense(84, relu)  Dense(10, softmax)

- ``cifar``: a CIFAR-style network on 32x32x3 images::

      Conv2D(32, 3, padding=1) ReLU MaxPool2D  Conv2D(64, 3, padding=1) ReLU MaxPool2D
      Flatten  Dense(128, relu)  Dense(10, softmax)

Both frameworks start from the same weights (pyx_cnn's initialisation copied
into PyTorch: NCHW filters, Dense rows permuted for PyTorch's channels-first
flatten) and see the same batches. Epochs of the two alternate (interleaved,
the order flipping each round) and the medians are reported, for one thread
and for every core (``set_num_threads`` / ``torch.set_num_threads``). Predict
is timed against onnxruntime too, when it is installed: the model that
``net.to_onnx`` writes, its session on the same thread count with spinning off
(``peers.py``).

Nothing about threads is set in the environment: this measures what a user
gets. The matmul peak (numpy float32, 2048 x 2048) is measured in the same
run, at the same thread counts, so GFLOP/s can be read as a share of what the
machine's BLAS reaches.

Run ``python benchmarks/bench_training.py [--nets lenet cifar] [--rounds 5]``,
or call :func:`run` from Python.
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import pyx_cnn
from pyx_cnn import NeuralNetwork, layers

from peers import onnxruntime_module, ort_session

BATCH_SIZE = 64
LEARNING_RATE = 0.01


def lenet(seed=0):
    """LeNet-5 for 28x28x1 inputs (float32)."""
    return NeuralNetwork([
        layers.Conv2D(6, 5, padding=2), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Conv2D(16, 5), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"), layers.Dense(84, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], input_shape=(28, 28, 1), seed=seed, dtype="float32")


def cifar_net(seed=0):
    """A small CIFAR-style network for 32x32x3 inputs (float32)."""
    return NeuralNetwork([
        layers.Conv2D(32, 3, padding=1), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Conv2D(64, 3, padding=1), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ], input_shape=(32, 32, 3), seed=seed, dtype="float32")


NETS = {"lenet": (lenet, 2048), "cifar": (cifar_net, 2048)}

#: samples of an epoch in a quick run (``pyx-cnn bench --quick``), instead of 2048
QUICK_SAMPLES = 256


def torch_copy(net):
    """The same network in ``torch.nn`` (NCHW), with pyx_cnn's weights copied in."""
    import torch
    from torch import nn

    modules = []
    for layer in net.layers:
        if isinstance(layer, layers.Conv2D):
            f, kh, kw, c = layer.params["W"].shape
            conv = nn.Conv2d(c, f, (kh, kw), stride=layer.stride, padding=layer.padding,
                             bias=layer.use_bias)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(layer.params["W"].transpose(0, 3, 1, 2).copy()))
                if layer.use_bias:
                    conv.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
            modules.append(conv)
        elif isinstance(layer, layers.MaxPool2D):
            modules.append(nn.MaxPool2d(layer.size, layer.stride))
        elif isinstance(layer, layers.ReLU):
            modules.append(nn.ReLU())
        elif isinstance(layer, layers.Flatten):
            modules.append(nn.Flatten())
        elif isinstance(layer, layers.Dense):
            w = layer.params["W"]
            if len(layer.input_shape) == 1 and modules and isinstance(modules[-1], nn.Flatten):
                # pyx_cnn's row (y*W + x)*C + c is PyTorch's column c*H*W + y*W + x
                h, wd, c = net.layers[net.layers.index(layer) - 1].input_shape
                w = w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(h * wd * c, -1)
            linear = nn.Linear(w.shape[0], w.shape[1], bias=layer.use_bias)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w.T.copy()))
                if layer.use_bias:
                    linear.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
            modules.append(linear)
            if layer.activation == "relu":
                modules.append(nn.ReLU())
            # a final softmax is left to CrossEntropyLoss, as pyx_cnn fuses it
        else:
            raise TypeError(f"no PyTorch counterpart for {type(layer).__name__}")
    return nn.Sequential(*modules)


def training_flops(net, n, dtype_bytes=4):
    """Multiply-adds x 2 of one epoch of `n` samples: forward, filter and input gradients
    of every Conv2D and Dense (the first layer computes no input gradient)."""
    total = 0
    for i, layer in enumerate(net.layers):
        if isinstance(layer, layers.Conv2D):
            ho, wo, f = layer.output_shape
            kh, kw = layer.kernel_size
            macs = ho * wo * f * kh * kw * layer.input_shape[2]
        elif isinstance(layer, layers.Dense):
            macs = layer.input_shape[0] * layer.units
        else:
            continue
        total += 2 * macs * (2 if i == 0 else 3)
    return total * n


def inference_flops(net, n):
    total = 0
    for layer in net.layers:
        if isinstance(layer, layers.Conv2D):
            ho, wo, f = layer.output_shape
            kh, kw = layer.kernel_size
            total += 2 * ho * wo * f * kh * kw * layer.input_shape[2]
        elif isinstance(layer, layers.Dense):
            total += 2 * layer.input_shape[0] * layer.units
    return total * n


def matmul_peak(threads, size=2048, repeats=5):
    """numpy float32 matmul GFLOP/s at `threads` BLAS threads (median of repeats)."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    times = []
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ a
        for _ in range(repeats):
            start = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(times) / 1e9


def _data(net, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + tuple(net.input_shape), dtype=np.float32)
    y = rng.integers(0, net.output_shape[-1], n)
    return x, y


def run(repeats=5, nets=("lenet", "cifar"), threads=None, seed=0, verbose=False,
        quick=False):
    """Time training epochs and predict for each net at each thread count.

    Parameters
    ----------
    nets : sequence of {"lenet", "cifar"}
    threads : sequence of int, optional
        Thread counts (default: 1 and every core).
    repeats : int
        Interleaved rounds (one epoch / one predict of each framework a round).
    quick : bool
        Epochs of :data:`QUICK_SAMPLES` samples instead of 2048, and a
        1024 x 1024 matmul for the peak: a run of seconds.

    Returns
    -------
    result : dict
        ``"rows"``: one dict per net, thread count and task ("train",
        "predict"): ``pyx_cnn_s``, ``torch_s`` (medians), ``ratio`` (torch /
        pyx_cnn), for "predict" ``onnxruntime_s`` and ``onnxruntime_ratio`` too
        (None without onnxruntime), ``images_per_s``, ``gflops``, ``peak_gflops`` and
        ``pct_peak`` (of the matmul peak at that thread count); and one line
        per row under ``"<net> <task>, <n> thread(s)"`` (what ``pyx-cnn bench``
        prints).
    """
    rounds = repeats
    try:
        import torch
    except ImportError:
        torch = None
    if threads is None:
        cores = os.cpu_count() or 1
        threads = [1] if cores == 1 else [1, cores]
    onnxruntime = onnxruntime_module()
    before = pyx_cnn.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else None
    rows = []
    folder = tempfile.TemporaryDirectory()
    try:
        for t in threads:
            peak = matmul_peak(t, size=1024 if quick else 2048)
            pyx_cnn.set_num_threads(t)
            if torch is not None:
                torch.set_num_threads(t)
            for name in nets:
                make, n = NETS[name]
                if quick:
                    n = min(n, QUICK_SAMPLES)
                net = make(seed)
                x, y = _data(net, n, seed)
                model = torch_copy(net) if torch is not None else None
                if torch is not None:
                    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
                    loss_fn = torch.nn.CrossEntropyLoss()
                    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
                    ty = torch.from_numpy(y.astype(np.int64))
                    batches = list(zip(torch.split(tx, BATCH_SIZE), torch.split(ty, BATCH_SIZE)))

                def pyx_train():
                    net.fit(x, y, epochs=1, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                            shuffle=False)

                def torch_train():
                    for xb, yb in batches:
                        opt.zero_grad(set_to_none=True)
                        loss_fn(model(xb), yb).backward()
                        opt.step()

                def pyx_predict():
                    net.predict(x, batch_size=256)

                def torch_predict():
                    with torch.no_grad():
                        for xb in torch.split(tx, 256):
                            model(xb)

                ort_predict = (None if onnxruntime is None else
                               _ort_predict(onnxruntime, net, x, t, folder.name, name))
                tasks = {"train": (pyx_train, {"torch": torch_train}, training_flops(net, n)),
                         "predict": (pyx_predict, {"torch": torch_predict,
                                                   "onnxruntime": ort_predict},
                                     inference_flops(net, n))}
                for task, (mine, peers, flops) in tasks.items():
                    peers = {"torch": peers["torch"] if torch is not None else None,
                             "onnxruntime": peers.get("onnxruntime")}
                    runs = [("pyx", mine)] + [(who, fn) for who, fn in peers.items()
                                              if fn is not None]
                    seconds = _interleaved(runs, rounds)
                    pyx_s = seconds["pyx"]
                    torch_s = seconds.get("torch")
                    ort_s = seconds.get("onnxruntime")
                    row = {
                        "net": name, "task": task, "threads": t, "samples": n,
                        "pyx_cnn_s": pyx_s, "torch_s": torch_s,
                        "ratio": None if torch_s is None else torch_s / pyx_s,
                        "images_per_s": n / pyx_s, "gflops": flops / pyx_s / 1e9,
                        "peak_gflops": peak, "pct_peak": 100 * flops / pyx_s / 1e9 / peak,
                    }
                    if task == "predict":
                        row["onnxruntime_s"] = ort_s
                        row["onnxruntime_ratio"] = None if ort_s is None else ort_s / pyx_s
                    rows.append(row)
                    if verbose:
                        print(format_row(row), flush=True)
    finally:
        pyx_cnn.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_before)
        folder.cleanup()
    result = {f"{r['net']} {r['task']}, {r['threads']} thread(s)": _summary(r) for r in rows}
    result["rows"] = rows
    return result


def _ort_predict(onnxruntime, net, x, threads, folder, name):
    """A callable running onnxruntime on the model ``net.to_onnx`` writes, over `x` in
    batches of 256 as ``net.predict`` takes it, on `threads` threads."""
    path = os.path.join(folder, f"{name}.onnx")
    net.to_onnx(path)
    session = ort_session(onnxruntime, path, threads)
    input_name = session.get_inputs()[0].name

    def predict():
        for start in range(0, len(x), 256):
            session.run(None, {input_name: x[start:start + 256]})
    return predict


def _interleaved(runs, rounds):
    """Median seconds of each ``(who, callable)`` of `runs`, over `rounds` rounds that call
    each in turn (the order reversed every other round), after one warm-up call each."""
    for _, fn in runs:
        fn()
    times = {who: [] for who, _ in runs}
    for r in range(rounds):
        for who, fn in (runs[::-1] if r % 2 else runs):
            start = time.perf_counter()
            fn()
            times[who].append(time.perf_counter() - start)
    return {who: statistics.median(t) for who, t in times.items()}


def _summary(row):
    torch_part = ("PyTorch not installed" if row["torch_s"] is None else
                  f"PyTorch {row['torch_s'] * 1e3:.1f} ms, ratio {row['ratio']:.2f}x")
    if row.get("onnxruntime_s") is not None:
        torch_part += (f"; onnxruntime {row['onnxruntime_s'] * 1e3:.1f} ms, ratio "
                       f"{row['onnxruntime_ratio']:.2f}x")
    return (f"pyx_cnn {row['pyx_cnn_s'] * 1e3:.1f} ms ({row['images_per_s']:.0f} images/s, "
            f"{row['gflops']:.1f} GFLOP/s, {row['pct_peak']:.0f}% of the matmul peak); "
            + torch_part)


def format_row(row):
    def peer(seconds, ratio):
        return "-" if seconds is None else f"{seconds * 1e3:.1f} ms ({ratio:.2f}x)"

    return (f"| {row['net']} | {row['task']} | {row['threads']} | {row['pyx_cnn_s'] * 1e3:.1f} ms | "
            f"{row['images_per_s']:.0f} | {row['gflops']:.1f} | {row['pct_peak']:.0f}% | "
            f"{peer(row['torch_s'], row['ratio'])} | "
            f"{peer(row.get('onnxruntime_s'), row.get('onnxruntime_ratio'))} |")


HEADER = ("| net | task | thr | pyx_cnn | images/s | GFLOP/s | % matmul peak | PyTorch (ratio) "
          "| onnxruntime (ratio) |\n|---|---|---|---|---|---|---|---|---|")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["lenet", "cifar"], choices=sorted(NETS))
    parser.add_argument("--threads", type=int, nargs="+", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(HEADER)
    rows = run(args.rounds, args.nets, args.threads, verbose=True)["rows"]
    print("(ratio: PyTorch time / pyx_cnn time, > 1 means pyx_cnn is faster; "
          f"epochs of {BATCH_SIZE}-sample batches, medians of {args.rounds} interleaved rounds)")
    return rows


if __name__ == "__main__":
    main()
