"""ResNet-18 and MobileNetV2 on CIFAR-sized images: pyx_cnn against PyTorch and onnxruntime.

Two networks of :mod:`pyx_cnn.models`, float32, 32x32x3 images, 10 classes:

- ``resnet18``: ``models.resnet(18)``, the CIFAR stem (3x3 stride-1 convolution, no
  max pooling), 11.2 million weights;
- ``mobilenet_v2``: ``models.mobilenet_v2()``, the CIFAR strides (stride 1 in the
  stem and the second stage), 2.2 million weights.

Tasks, on identical inputs:

- ``train``: one epoch of batches of 64 with plain SGD (learning rate 0.01) and
  softmax cross-entropy, pyx_cnn's ``fit`` against the same architecture written in
  PyTorch here (:class:`TorchResNet`, :class:`TorchMobileNetV2`, torchvision's
  layouts, NCHW) starting from pyx_cnn's weights;
- ``predict``: batches of 64, pyx_cnn's ``predict`` against PyTorch (eval mode,
  ``inference_mode``) and against onnxruntime running the model ``net.to_onnx``
  writes, its session at the same thread count with spinning off
  (``intra_op_num_threads``, ``session.intra_op.allow_spinning = 0``).

The frameworks' calls alternate (interleaved rounds, the order rotating each round)
and the medians are reported, at each thread count (``set_num_threads``,
``torch.set_num_threads``, the session's threads, and the BLAS through
threadpoolctl). PyTorch and onnxruntime are optional: their columns are left out
without them.

Run ``python benchmarks/bench_models.py [--nets resnet18 mobilenet_v2]
[--threads 1 2] [--rounds 5] [--quick]``, or call :func:`run` (``pyx-cnn bench``
does, through the suite's extra modules).
"""
import argparse
import os
import statistics
import tempfile
import time
from contextlib import contextmanager

import numpy as np

import pyx_cnn
from pyx_cnn import layers, models

from peers import onnxruntime_module, ort_session

BATCH_SIZE = 64
LEARNING_RATE = 0.01
INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10

#: samples of a training epoch and of a predict call (a quick run: :data:`QUICK_SAMPLES`)
SAMPLES = 256
QUICK_SAMPLES = 8


def _torch_resnet18():
    from torch_models import TorchResNet

    return TorchResNet((2, 2, 2, 2), NUM_CLASSES, INPUT_SHAPE[2], width=64)


def _torch_mobilenet_v2():
    from torch_models import TorchMobileNetV2

    return TorchMobileNetV2(NUM_CLASSES, INPUT_SHAPE[2], width_mult=1.0)


#: name: (the pyx_cnn network from a seed, the same architecture in PyTorch)
NETS = {
    "resnet18": (lambda seed: models.resnet(18, NUM_CLASSES, INPUT_SHAPE, seed=seed),
                 _torch_resnet18),
    "mobilenet_v2": (lambda seed: models.mobilenet_v2(NUM_CLASSES, INPUT_SHAPE, seed=seed),
                     _torch_mobilenet_v2),
}

#: the peers of each task, in the order of the columns
PEERS = {"train": ("torch",), "predict": ("torch", "onnxruntime")}


def _torch():
    try:
        import torch
    except Exception:   # not installed, or broken: its columns are left out
        return None
    return torch


# --------------------------------------------------------------------------------------
# The same architectures in PyTorch (torchvision's layouts, the CIFAR strides).

def torch_twin(name, net):
    """The network `name` of :data:`NETS` in ``torch.nn`` (NCHW, written in
    ``torch_models.py``), `net`'s weights copied in."""
    return copy_weights(net, NETS[name][1]())


def copy_weights(net, model):
    """Every weight, batch-norm parameter and statistic of `net` into `model`, in the
    order both list their layers (pyx_cnn's ``net.layers``, torch's ``modules()``)."""
    import torch
    from torch import nn

    mods = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    pyx = [layer for layer in net.layers if layer.params]
    if len(mods) != len(pyx):
        raise ValueError(f"{len(pyx)} weight layers in pyx_cnn, {len(mods)} in PyTorch")
    with torch.no_grad():
        for layer, mod in zip(pyx, mods):
            if isinstance(layer, layers.BatchNormalization):
                pairs = [(mod.weight, layer.params["gamma"]), (mod.bias, layer.params["beta"]),
                         (mod.running_mean, layer.state["mean"]),
                         (mod.running_var, layer.state["var"])]
            elif isinstance(layer, layers.Dense):
                pairs = [(mod.weight, layer.params["W"].T), (mod.bias, layer.params["b"])]
            else:   # Conv2D, DepthwiseConv2D: (F, kh, kw, C / groups) -> (F, C / groups, kh, kw)
                pairs = [(mod.weight, layer.params["W"].transpose(0, 3, 1, 2))]
            for theirs, mine in pairs:
                if tuple(theirs.shape) != mine.shape:
                    raise ValueError(f"{type(layer).__name__} {mine.shape} against "
                                     f"{type(mod).__name__} {tuple(theirs.shape)}")
                theirs.copy_(torch.from_numpy(np.ascontiguousarray(mine)))
    return model


# --------------------------------------------------------------------------------------
# Timing.

@contextmanager
def _threads(n, torch):
    """pyx_cnn, PyTorch and the BLAS at `n` threads."""
    from threadpoolctl import threadpool_limits

    before = pyx_cnn.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else None
    pyx_cnn.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        pyx_cnn.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_before)


def _interleaved(fns, rounds):
    """Median seconds of each callable of `fns` ({who: fn}), after one warm-up call each;
    a round calls each once, the order rotating from round to round."""
    for fn in fns.values():
        fn()
    names = list(fns)
    times = {who: [] for who in names}
    for r in range(rounds):
        k = r % len(names)
        for who in names[k:] + names[:k]:
            start = time.perf_counter()
            fns[who]()
            times[who].append(time.perf_counter() - start)
    return {who: statistics.median(t) for who, t in times.items()}


def _tasks(name, net, x, y, threads, torch, onnxruntime, folder):
    """{task: {who: zero-argument callable}} for the network `name`."""
    def pyx_train():
        net.fit(x, y, epochs=1, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                shuffle=False)

    def pyx_predict():
        net.predict(x, batch_size=BATCH_SIZE)

    tasks = {"train": {"pyx_cnn": pyx_train}, "predict": {"pyx_cnn": pyx_predict}}
    if torch is not None:
        model = torch_twin(name, net)
        opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
        loss_fn = torch.nn.CrossEntropyLoss()
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        ty = torch.from_numpy(y.astype(np.int64))
        batches = list(zip(torch.split(tx, BATCH_SIZE), torch.split(ty, BATCH_SIZE)))

        def torch_train():
            model.train()
            for xb, yb in batches:
                opt.zero_grad(set_to_none=True)
                loss_fn(model(xb), yb).backward()
                opt.step()

        def torch_predict():
            model.eval()
            with torch.inference_mode():
                for xb in torch.split(tx, BATCH_SIZE):
                    model(xb)

        tasks["train"]["torch"] = torch_train
        tasks["predict"]["torch"] = torch_predict
    if onnxruntime is not None:
        path = os.path.join(folder, f"{name}.onnx")
        net.to_onnx(path)
        session = ort_session(onnxruntime, path, threads)
        input_name = session.get_inputs()[0].name
        chunks = [x[i:i + BATCH_SIZE] for i in range(0, len(x), BATCH_SIZE)]

        def ort_predict():
            for chunk in chunks:
                session.run(None, {input_name: chunk})

        tasks["predict"]["onnxruntime"] = ort_predict
    return tasks


def run(repeats=5, nets=tuple(NETS), threads=None, seed=0, verbose=False, quick=False):
    """Time a training epoch and predict of each network at each thread count.

    Parameters
    ----------
    repeats : int
        Interleaved rounds (one call of each framework a round).
    nets : sequence of {"resnet18", "mobilenet_v2"}
    threads : sequence of int, optional
        Thread counts (default: 1 and 2, or 1 on one core).
    quick : bool
        :data:`QUICK_SAMPLES` samples instead of :data:`SAMPLES`, and at most 3
        rounds: seconds per network and thread count.

    Returns
    -------
    result : dict
        ``"rows"``: one dict per network, thread count and task (``"train"``,
        ``"predict"``): ``pyx_cnn_s``, ``torch_s``, ``onnxruntime_s`` (medians, None
        for a peer not installed or without that task), ``torch_ratio`` and
        ``onnxruntime_ratio`` (peer time / pyx_cnn time, > 1: pyx_cnn is faster),
        ``images_per_s``; and one line per row under ``"<net> <task>, <n>
        thread(s)"`` (what ``pyx-cnn bench`` prints).
    """
    torch, onnxruntime = _torch(), onnxruntime_module()
    if threads is None:
        threads = [1] if (os.cpu_count() or 1) == 1 else [1, 2]
    n = QUICK_SAMPLES if quick else SAMPLES
    rounds = min(repeats, 3) if quick else repeats
    rows = []
    with tempfile.TemporaryDirectory(prefix="pyx-cnn-bench-models-") as folder:
        for t in threads:
            with _threads(t, torch):
                for name in nets:
                    net = NETS[name][0](seed)
                    rng = np.random.default_rng(seed)
                    x = rng.random((n,) + net.input_shape, dtype=np.float32)
                    y = rng.integers(0, net.output_shape[-1], n)
                    tasks = _tasks(name, net, x, y, t, torch, onnxruntime, folder)
                    for task, fns in tasks.items():
                        row = _row(name, task, t, n, _interleaved(fns, rounds))
                        rows.append(row)
                        if verbose:
                            print(format_row(row), flush=True)
    result = {f"{r['net']} {r['task']}, {r['threads']} thread(s)": _summary(r) for r in rows}
    result["rows"] = rows
    return result


def _row(name, task, threads, n, seconds):
    row = {"net": name, "task": task, "threads": threads, "samples": n,
           "pyx_cnn_s": seconds["pyx_cnn"], "images_per_s": n / seconds["pyx_cnn"]}
    for peer in ("torch", "onnxruntime"):
        row[f"{peer}_s"] = seconds.get(peer)
        row[f"{peer}_ratio"] = (None if peer not in seconds
                                else seconds[peer] / seconds["pyx_cnn"])
    return row


_PEER_NAMES = {"torch": "PyTorch", "onnxruntime": "onnxruntime"}


def _summary(row):
    parts = [f"pyx_cnn {row['pyx_cnn_s'] * 1e3:.0f} ms ({row['images_per_s']:.0f} images/s)"]
    for peer in PEERS[row["task"]]:
        if row[f"{peer}_s"] is None:
            parts.append(f"{_PEER_NAMES[peer]} not installed")
        else:
            parts.append(f"{_PEER_NAMES[peer]} {row[f'{peer}_s'] * 1e3:.0f} ms, "
                         f"ratio {row[f'{peer}_ratio']:.2f}x")
    return "; ".join(parts)


def format_row(row):
    cells = [row["net"], row["task"], str(row["threads"]), f"{row['pyx_cnn_s'] * 1e3:.0f} ms",
             f"{row['images_per_s']:.0f}"]
    for peer in ("torch", "onnxruntime"):
        seconds = row[f"{peer}_s"]
        cells.append("-" if seconds is None else
                     f"{seconds * 1e3:.0f} ms ({row[f'{peer}_ratio']:.2f}x)")
    return "| " + " | ".join(cells) + " |"


HEADER = ("| net | task | thr | pyx_cnn | images/s | PyTorch (ratio) | onnxruntime (ratio) |\n"
          "|---|---|---|---|---|---|---|")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=sorted(NETS))
    parser.add_argument("--threads", type=int, nargs="+", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(HEADER)
    rows = run(args.rounds, args.nets, args.threads, verbose=True, quick=args.quick)["rows"]
    print(f"(ratio: peer time / pyx_cnn time, > 1 means pyx_cnn is faster; "
          f"{BATCH_SIZE}-sample batches, medians of interleaved rounds)")
    return rows


if __name__ == "__main__":
    main()
