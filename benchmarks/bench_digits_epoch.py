"""One training epoch on scikit-learn's digits: pyx_cnn against PyTorch CPU.

The network is the one of ``pyx-cnn train``::

    Conv2D(8, 3) -> ReLU -> MaxPool2D(2, 2) -> Flatten -> Dense(10, softmax)

with softmax cross-entropy, SGD (learning rate 0.1) and batches of 32 over
the 1437 training digits (45 batches an epoch). Both frameworks start from the
same weights (pyx_cnn's initialisation copied into PyTorch: NCHW filters, and
the Dense rows permuted because PyTorch flattens channels-first) and see the
same batches in the same order, on one thread each (numpy's BLAS too, through
threadpoolctl when installed). Each repeat trains both
for `epochs` epochs, alternating which framework runs first; the reported
epoch time is the median over every epoch of every repeat.

PyTorch is timed twice: as installed (oneDNN / mkldnn on, its default) and
with ``torch.backends.mkldnn.enabled = False``, which is faster for a network
this small; the ratio against the faster of the two is the honest figure.

Run ``python benchmarks/bench_digits_epoch.py [--repeats 5] [--epochs 30]``,
or call :func:`run` from Python.
"""
import argparse
import contextlib
import statistics
import time

import numpy as np

import pyx_cnn
from pyx_cnn.datasets import load_digits_split
from pyx_cnn.models import digits_network

BATCH_SIZE = 32
LEARNING_RATE = 0.1


def _one_blas_thread():
    """numpy's BLAS (used by pyx_cnn's Dense and im2col products) limited to one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the bench extra is not installed
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _torch_network(net, dtype):
    """The same network in PyTorch, with pyx_cnn's weights copied in."""
    import torch
    from torch import nn

    conv, dense = net.layers[0], net.layers[4]
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(72, 10)
    ).to(dtype)
    h, w, c = net.layers[2].output_shape            # (3, 3, 8) after pooling
    with torch.no_grad():
        # (F, kh, kw, C) -> (F, C, kh, kw)
        model[0].weight.copy_(torch.from_numpy(conv.params["W"].transpose(0, 3, 1, 2).copy()))
        model[0].bias.copy_(torch.from_numpy(conv.params["b"].copy()))
        # pyx_cnn's row (y*W + x)*C + c is PyTorch's column c*H*W + y*W + x
        rows = dense.params["W"].reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
        model[4].weight.copy_(torch.from_numpy(rows.T.copy()))
        model[4].bias.copy_(torch.from_numpy(dense.params["b"].copy()))
    return model


def _torch_epoch(model, optimizer, loss_fn, xb_list, yb_list):
    for xb, yb in zip(xb_list, yb_list):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()


#: epochs of each repeat in a quick run (``pyx-cnn bench --quick``), instead of 30
QUICK_EPOCHS = 5


def run(repeats=5, epochs=30, seed=0, dtype="float32", verbose=False, quick=False):
    """Time a digits epoch in both frameworks.

    Parameters
    ----------
    repeats : int
        Trainings of `epochs` epochs each, from the same initial weights.
    epochs : int
        Epochs of each repeat (at most :data:`QUICK_EPOCHS` with `quick`).
    seed : int
        Data split, initial weights and batch order.
    dtype : {"float32", "float64"}
        Used by both frameworks.
    quick : bool
        Fewer epochs: a run of a second or two.

    Returns
    -------
    result : dict
        ``pyx_cnn_epoch_s`` and ``torch_epoch_s`` (medians; PyTorch's faster
        setting), ``torch_default_epoch_s``, ``torch_no_mkldnn_epoch_s``,
        ``ratio`` (PyTorch's faster time / pyx_cnn time),
        ``ratio_torch_default``, ``pyx_cnn_accuracy`` and
        ``torch_accuracy`` (test accuracy after the last repeat),
        ``batches_per_epoch``, ``threads`` (1), ``dtype``, ``torch_version``.
        Without PyTorch the torch entries are None.
    """
    try:
        import torch
    except ImportError:
        torch = None
    if quick:
        epochs = min(epochs, QUICK_EPOCHS)
    X_train, X_test, y_train, y_test = load_digits_split(seed)
    np_dtype = np.dtype(dtype)
    orders = [np.random.default_rng([seed, e]).permutation(len(X_train)) for e in range(epochs)]
    previous_threads = pyx_cnn.get_num_threads()
    pyx_cnn.set_num_threads(1)
    if torch is not None:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t_dtype = torch.float32 if np_dtype == np.float32 else torch.float64
        tx_test = torch.from_numpy(X_test.transpose(0, 3, 1, 2).astype(np_dtype))
    pyx_times, torch_times = [], {"default": [], "no_mkldnn": []}
    pyx_acc = torch_acc = None
    mkldnn_before = torch.backends.mkldnn.enabled if torch is not None else None
    blas = _one_blas_thread()
    blas.__enter__()
    try:
        for rep in range(repeats):
            net = digits_network(seed, dtype=dtype)
            if torch is not None:
                models = {}
                for variant in torch_times:
                    model = _torch_network(net, t_dtype)
                    models[variant] = (model, torch.optim.SGD(model.parameters(),
                                                              lr=LEARNING_RATE))
                loss_fn = torch.nn.CrossEntropyLoss()
            for e, order in enumerate(orders):
                xe = np.ascontiguousarray(X_train[order], dtype=np_dtype)
                ye = y_train[order]
                if torch is not None:
                    tx = torch.from_numpy(np.ascontiguousarray(xe.transpose(0, 3, 1, 2)))
                    ty = torch.from_numpy(ye.astype(np.int64))
                    xb_list = list(torch.split(tx, BATCH_SIZE))
                    yb_list = list(torch.split(ty, BATCH_SIZE))
                runs = ["pyx", "default", "no_mkldnn"]
                if (rep + e) % 2:
                    runs.reverse()
                for which in runs:
                    if which == "pyx":
                        start = time.perf_counter()
                        net.fit(xe, ye, epochs=1, batch_size=BATCH_SIZE,
                                learning_rate=LEARNING_RATE, shuffle=False)
                        pyx_times.append(time.perf_counter() - start)
                    elif torch is not None:
                        torch.backends.mkldnn.enabled = which == "default"
                        model, optimizer = models[which]
                        start = time.perf_counter()
                        _torch_epoch(model, optimizer, loss_fn, xb_list, yb_list)
                        torch_times[which].append(time.perf_counter() - start)
            pyx_acc = net.evaluate(X_test, y_test)["accuracy"]
            if torch is not None:
                torch.backends.mkldnn.enabled = mkldnn_before
                with torch.no_grad():
                    predicted = models["default"][0](tx_test).argmax(dim=1).numpy()
                torch_acc = float(np.mean(predicted == y_test))
            if verbose:
                line = f"repeat {rep + 1}/{repeats}: pyx_cnn {statistics.median(pyx_times) * 1e3:.2f} ms"
                for variant, times in torch_times.items():
                    if times:
                        line += f", torch {variant} {statistics.median(times) * 1e3:.2f} ms"
                print(line)
    finally:
        blas.__exit__(None, None, None)
        pyx_cnn.set_num_threads(previous_threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)
            torch.backends.mkldnn.enabled = mkldnn_before
    pyx_epoch = statistics.median(pyx_times)
    if torch is None:
        torch_default = torch_best = None
    else:
        torch_default = statistics.median(torch_times["default"])
        torch_best = min(torch_default, statistics.median(torch_times["no_mkldnn"]))
    return {
        "pyx_cnn_epoch_s": pyx_epoch,
        "torch_epoch_s": torch_best,
        "torch_default_epoch_s": torch_default,
        "torch_no_mkldnn_epoch_s": None if torch is None
        else statistics.median(torch_times["no_mkldnn"]),
        "ratio": None if torch is None else torch_best / pyx_epoch,
        "ratio_torch_default": None if torch is None else torch_default / pyx_epoch,
        "pyx_cnn_accuracy": pyx_acc,
        "torch_accuracy": torch_acc,
        "batches_per_epoch": -(-len(X_train) // BATCH_SIZE),
        "epochs": epochs,
        "repeats": repeats,
        "threads": 1,
        "dtype": np_dtype.name,
        "torch_version": None if torch is None else torch.__version__,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    r = run(repeats=args.repeats, epochs=args.epochs, dtype=args.dtype, verbose=True)
    print(f"digits epoch ({r['batches_per_epoch']} batches of {BATCH_SIZE}, {r['dtype']}, "
          f"1 thread, median of {r['repeats']} x {r['epochs']} epochs)")
    print(f"  pyx_cnn : {r['pyx_cnn_epoch_s'] * 1e3:8.2f} ms   test accuracy "
          f"{r['pyx_cnn_accuracy']:.4f}")
    if r["torch_epoch_s"] is None:
        print("  PyTorch : not installed")
    else:
        print(f"  PyTorch : {r['torch_default_epoch_s'] * 1e3:8.2f} ms as installed, "
              f"{r['torch_no_mkldnn_epoch_s'] * 1e3:.2f} ms without oneDNN   test accuracy "
              f"{r['torch_accuracy']:.4f}   (torch {r['torch_version']})")
        print(f"  PyTorch / pyx_cnn epoch time: {r['ratio']:.1f}x against PyTorch's faster "
              f"setting, {r['ratio_torch_default']:.1f}x against its default")
    return r


if __name__ == "__main__":
    main()
