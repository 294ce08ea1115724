"""Benchmark suite: pyx_cnn against the tutorial's loops, vectorised NumPy and PyTorch.

Every workload is run by every implementation on identical inputs (channels-last
arrays; PyTorch gets the same values as NCHW and as channels-last tensors, converted
before timing). Repeats are interleaved (one call of each implementation per round,
so a slow moment of a shared machine hits them all alike) and each time is the median
over rounds of one call (a round calls a fast function several times and divides).

Peers:

``numpy``
    well-vectorised NumPy: ``sliding_window_view`` + ``tensordot`` (BLAS) for the
    convolution, ``np.maximum`` over the ``size*size`` strided views for pooling,
    ``np.maximum(x, 0)`` for ReLU;
``torch`` / ``torch_cl``
    PyTorch on the CPU, NCHW and channels-last, when ``import torch`` works;
``tutorial``
    a faithful copy of the tutorial's ``conv``/``conv_``/``relu``/``pooling`` loops
    (its bugs included), on single images only and not with ``quick=True``: it is
    about a million times slower.

The machine's float32 / float64 peak is measured in the same run by a large NumPy
matmul (its BLAS) at each thread count, so GFLOP/s can be read as a share of what the
cores can do.

Other benchmark modules plug in through :data:`EXTRA_BENCHMARKS`: each named module
(importable, e.g. from the repository's ``benchmarks/`` folder) exposes
``run(repeats) -> dict`` and its result is printed and stored under ``"extra"``;
``quick`` and ``threads`` (the thread counts of the run) are passed too when its
``run`` takes them.

PyTorch is optional: without it the suite runs the other peers and leaves the
PyTorch columns out.
"""
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import pyx_cnn

__all__ = ["run_benchmarks", "WORKLOADS", "TARGETS", "EXTRA_BENCHMARKS",
           "tutorial_conv", "tutorial_conv_", "tutorial_relu", "tutorial_pooling"]

#: Modules with ``run(repeats) -> dict`` run after the built-in workloads (skipped
#: when not importable, e.g. from an installed wheel without ``benchmarks/``).
EXTRA_BENCHMARKS = ["bench_digits_epoch", "bench_training", "bench_layer_ops", "bench_models",
                    "bench_contention"]

#: environment variables that change how threads behave, recorded with the results
#: (the suite sets none: it measures what a user gets)
THREAD_VARIABLE_PREFIXES = ("OMP_", "GOMP_", "KMP_", "OPENBLAS_", "MKL_")


# --------------------------------------------------------------------------------------
# The tutorial's loops, copied faithfully (bugs included) except for the print calls
# and sys.exit: they are the "pure NumPy loops" baseline.

def tutorial_conv_(img, conv_filter):
    filter_size = conv_filter.shape[0]
    result = np.zeros((img.shape))
    # Looping through the image to apply the convolution operation.
    for r in np.uint16(np.arange(filter_size / 2, img.shape[0] - filter_size / 2 - 2)):
        for c in np.uint16(np.arange(filter_size / 2, img.shape[1] - filter_size / 2 - 2)):
            curr_region = img[r:r + filter_size, c:c + filter_size]
            curr_result = curr_region * conv_filter
            conv_sum = np.sum(curr_result)
            result[r, c] = conv_sum
    final_result = result[np.uint16(filter_size / 2):result.shape[0] - np.uint16(filter_size / 2),
                          np.uint16(filter_size / 2):result.shape[1] - np.uint16(filter_size / 2)]
    return final_result


def tutorial_conv(img, conv_filter):
    if len(img.shape) > 2 or len(conv_filter.shape) > 3:
        if img.shape[-1] != conv_filter.shape[-1]:
            raise ValueError("Number of channels in both image and filter must match.")
    if conv_filter.shape[1] != conv_filter.shape[2]:
        raise ValueError("Filter must be a square matrix.")
    if conv_filter.shape[1] % 2 == 0:
        raise ValueError("Filter must have an odd size.")
    feature_maps = np.zeros((img.shape[0] - conv_filter.shape[1] + 1,
                             img.shape[1] - conv_filter.shape[1] + 1,
                             conv_filter.shape[0]))
    for filter_num in range(conv_filter.shape[0]):
        curr_filter = conv_filter[filter_num, :]
        if len(curr_filter.shape) > 2:
            conv_map = tutorial_conv_(img[:, :, 0], curr_filter[:, :, 0])
            for ch_num in range(1, curr_filter.shape[-1]):
                conv_map = conv_map + tutorial_conv_(img[:, :, ch_num], curr_filter[:, :, ch_num])
        else:
            conv_map = tutorial_conv_(img, curr_filter)
        feature_maps[:, :, filter_num] = conv_map
    return feature_maps


def tutorial_relu(feature_map):
    relu_out = np.zeros(feature_map.shape)
    for map_num in range(feature_map.shape[-1]):
        for r in np.arange(0, feature_map.shape[0]):
            for c in np.arange(0, feature_map.shape[1]):
                relu_out[r, c, map_num] = np.max(feature_map[r, c, map_num], 0)
    return relu_out


def tutorial_pooling(feature_map, size=2, stride=2):
    pool_out = np.zeros((np.uint16((feature_map.shape[0] - size + 1) / stride),
                         np.uint16((feature_map.shape[1] - size + 1) / stride),
                         feature_map.shape[-1]))
    for map_num in range(feature_map.shape[-1]):
        r2 = 0
        for r in np.arange(0, feature_map.shape[0] - size - 1, stride):
            c2 = 0
            for c in np.arange(0, feature_map.shape[1] - size - 1, stride):
                pool_out[r2, c2, map_num] = np.max(feature_map[r:r + size, c:c + size])
                c2 = c2 + 1
            r2 = r2 + 1
    return pool_out


# --------------------------------------------------------------------------------------
# Vectorised NumPy peers.

def numpy_conv(x, w):
    """x (N, H, W, C), w (F, kh, kw, C) -> (N, Ho, Wo, F): windows + one BLAS tensordot."""
    _, kh, kw, _ = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    return np.tensordot(win, w, axes=([3, 4, 5], [3, 1, 2]))   # (N, Ho, Wo, C, kh, kw)


def numpy_pool(x, size=2, stride=2):
    """Max over size x size windows of (N, H, W, C): size*size strided views, np.maximum."""
    n, h, w, c = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1

    def view(i, j):
        return x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]

    out = view(0, 0).copy()
    for i in range(size):
        for j in range(size):
            if i or j:
                np.maximum(out, view(i, j), out=out)
    return out


def numpy_relu(x):
    return np.maximum(x, 0)


# --------------------------------------------------------------------------------------
# Workloads.

class Workload:
    """One benchmark: a name, the kind of operation, how to build its inputs."""

    def __init__(self, name, kind, dtype, shape=None, filters=None, kernel=None,
                 size=2, stride=2, tutorial=False, description=""):
        self.name, self.kind, self.dtype = name, kind, np.dtype(dtype)
        self.shape, self.filters, self.kernel = shape, filters, kernel
        self.size, self.stride = size, stride
        self.tutorial = tutorial          # the tutorial's loops can run it (single image)
        self.description = description

    def flops(self):
        """Floating-point operations of the convolutions (2 per multiply-add), else 0."""
        if self.kind == "conv":
            n, h, w, c = self.shape
            k = self.kernel
            return 2 * n * (h - k + 1) * (w - k + 1) * self.filters * k * k * c
        if self.kind == "pipeline":
            total, shape = 0, self.shape
            for bank in self.inputs_cache["filters"]:
                f, kh, kw = bank.shape[:3]
                c = 1 if bank.ndim == 3 else bank.shape[3]
                ho, wo = shape[0] - kh + 1, shape[1] - kw + 1
                total += 2 * ho * wo * f * kh * kw * c
                shape = ((ho - 2) // 2 + 1, (wo - 2) // 2 + 1)
            return total
        return 0

    def inputs(self, rng):
        if self.kind == "pipeline":
            from pyx_cnn.demo import load_image, tutorial_filters

            self.inputs_cache = {"image": load_image().astype(self.dtype),
                                 "filters": [f.astype(self.dtype) for f in tutorial_filters(0)]}
            self.shape = self.inputs_cache["image"].shape
            return self.inputs_cache
        x = rng.standard_normal(self.shape).astype(self.dtype)
        if self.kind == "conv":
            w = rng.standard_normal((self.filters, self.kernel, self.kernel, self.shape[-1]))
            self.inputs_cache = {"x": x, "w": w.astype(self.dtype)}
        else:
            self.inputs_cache = {"x": x}
        return self.inputs_cache


WORKLOADS = [
    Workload("pipeline", "pipeline", np.float64, tutorial=True,
             description="tutorial: 3 x conv/ReLU/pool on chelsea grey (300x451)"),
    Workload("conv a", "conv", np.float32, (1, 300, 451, 1), 2, 3,
             description="1x300x451x1, 2 filters 3x3"),
    Workload("conv a", "conv", np.float64, (1, 300, 451, 1), 2, 3, tutorial=True,
             description="1x300x451x1, 2 filters 3x3"),
    Workload("conv b", "conv", np.float64, (1, 149, 224, 2), 3, 5, tutorial=True,
             description="1x149x224x2, 3 filters 5x5"),
    Workload("conv c", "conv", np.float32, (64, 28, 28, 1), 8, 3,
             description="64x28x28x1, 8 filters 3x3"),
    Workload("conv d", "conv", np.float32, (32, 32, 32, 16), 32, 3,
             description="32x32x32x16, 32 filters 3x3"),
    Workload("conv e", "conv", np.float32, (1, 224, 224, 64), 64, 3,
             description="1x224x224x64, 64 filters 3x3"),
    Workload("pool a", "pool", np.float32, (64, 28, 28, 8),
             description="max pool 2x2/2, 64x28x28x8"),
    Workload("pool b", "pool", np.float64, (1, 300, 451, 2), tutorial=True,
             description="max pool 2x2/2, 300x451x2"),
    Workload("relu", "relu", np.float32, (64, 28, 28, 8), description="ReLU, 64x28x28x8"),
]

PEERS = ["numpy", "torch", "torch_cl", "tutorial"]

#: (workload, dtype, thread setting, what, threshold): a target is met when the
#: measured value is >= threshold. "what" is a peer name (its time / pyx_cnn's),
#: "best" (the fastest of the listed peers / pyx_cnn) or "scaling" (pyx_cnn at
#: 1 thread / at 2 threads).
TARGETS = [
    ("pipeline", "float64", 1, ("torch", "torch_cl"), 5.0),
    ("pipeline", "float64", 1, ("tutorial",), 3000.0),
    ("conv a", "float32", 1, ("torch", "torch_cl"), 3.0),
    ("conv a", "float64", 1, ("torch", "torch_cl"), 3.0),
    ("conv b", "float64", 1, ("torch", "torch_cl"), 3.0),
    ("conv c", "float32", 1, ("torch", "torch_cl"), 3.0),
    ("conv d", "float32", 1, ("numpy", "torch", "torch_cl"), 1.0),
    ("conv e", "float32", 1, ("numpy", "torch", "torch_cl"), 0.9),
    ("pool a", "float32", 1, ("numpy", "torch", "torch_cl"), 4.0),
    ("pool b", "float64", 1, ("numpy", "torch", "torch_cl"), 4.0),
    ("relu", "float32", 1, ("numpy", "torch", "torch_cl"), 1 / 1.1),
    ("conv d", "float32", "scaling", None, 1.8),
    ("conv e", "float32", "scaling", None, 1.8),
]


# --------------------------------------------------------------------------------------
# Implementations of each workload.

def _torch():
    try:
        import torch
    except Exception:  # not installed, or broken: the torch peers are skipped
        return None
    return torch


def _pyx_pipeline(image, filters):
    x = image
    for bank in filters:
        x = pyx_cnn.pooling(pyx_cnn.relu(pyx_cnn.conv(x, bank)), 2, 2)
    return x


def _numpy_pipeline(image, filters):
    x = image[np.newaxis, :, :, np.newaxis]
    for bank in filters:
        w = bank[..., np.newaxis] if bank.ndim == 3 else bank
        x = numpy_pool(numpy_relu(numpy_conv(x, w)), 2, 2)
    return x[0]


def _tutorial_pipeline(image, filters):
    x = image
    for bank in filters:
        x = tutorial_pooling(tutorial_relu(tutorial_conv(x, bank)), 2, 2)
    return x


def _implementations(wl, data, torch):
    """{name: zero-argument callable} for every implementation that can run `wl`."""
    impls = {}
    if wl.kind == "pipeline":
        image, filters = data["image"], data["filters"]
        impls["pyx_cnn"] = lambda: _pyx_pipeline(image, filters)
        impls["numpy"] = lambda: _numpy_pipeline(image, filters)
        impls["tutorial"] = lambda: _tutorial_pipeline(image, filters)
        if torch is not None:
            F = torch.nn.functional
            tx = torch.from_numpy(np.ascontiguousarray(image[np.newaxis, np.newaxis]))
            tws = [torch.from_numpy(np.ascontiguousarray(
                (b[..., np.newaxis] if b.ndim == 3 else b).transpose(0, 3, 1, 2)))
                for b in filters]

            def torch_pipeline(x, ws):
                with torch.inference_mode():
                    for w in ws:
                        x = F.max_pool2d(torch.relu(F.conv2d(x, w)), 2, 2)
                return x

            cl = torch.channels_last
            txc, twsc = tx.contiguous(memory_format=cl), [w.contiguous(memory_format=cl) for w in tws]
            impls["torch"] = lambda: torch_pipeline(tx, tws)
            impls["torch_cl"] = lambda: torch_pipeline(txc, twsc)
        return impls

    x = data["x"]
    if wl.kind == "conv":
        w = data["w"]
        impls["pyx_cnn"] = lambda: pyx_cnn.conv(x, w)
        impls["numpy"] = lambda: numpy_conv(x, w)
        if wl.tutorial:
            # the tutorial's conv takes (H, W) with (F, kh, kw), or (H, W, C) with (F, kh, kw, C)
            img, bank = (x[0], w) if x.shape[-1] > 1 else (x[0, :, :, 0], w[..., 0])
            impls["tutorial"] = lambda: tutorial_conv(img, bank)
    elif wl.kind == "pool":
        impls["pyx_cnn"] = lambda: pyx_cnn.pooling(x, wl.size, wl.stride)
        impls["numpy"] = lambda: numpy_pool(x, wl.size, wl.stride)
        if wl.tutorial:
            impls["tutorial"] = lambda: tutorial_pooling(x[0], wl.size, wl.stride)
    else:
        impls["pyx_cnn"] = lambda: pyx_cnn.relu(x)
        impls["numpy"] = lambda: numpy_relu(x)
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        txc = tx.contiguous(memory_format=torch.channels_last)
        if wl.kind == "conv":
            tw = torch.from_numpy(np.ascontiguousarray(data["w"].transpose(0, 3, 1, 2)))
            twc = tw.contiguous(memory_format=torch.channels_last)

            def call(a, b):
                with torch.inference_mode():
                    return F.conv2d(a, b)

            impls["torch"] = lambda: call(tx, tw)
            impls["torch_cl"] = lambda: call(txc, twc)
        elif wl.kind == "pool":
            def call(a):
                with torch.inference_mode():
                    return F.max_pool2d(a, wl.size, wl.stride)

            impls["torch"] = lambda: call(tx)
            impls["torch_cl"] = lambda: call(txc)
        else:
            def call(a):
                with torch.inference_mode():
                    return torch.relu(a)

            impls["torch"] = lambda: call(tx)
            impls["torch_cl"] = lambda: call(txc)
    return impls


# --------------------------------------------------------------------------------------
# Timing.

@contextmanager
def _threads(n, torch):
    """pyx_cnn, PyTorch and NumPy's BLAS all limited to `n` threads."""
    before_pyx = pyx_cnn.get_num_threads()
    before_torch = torch.get_num_threads() if torch is not None else None
    pyx_cnn.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:   # the BLAS then keeps its own setting (OPENBLAS_NUM_THREADS...)
        limiter = None
    else:
        limiter = threadpool_limits(limits=n, user_api="blas")
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        pyx_cnn.set_num_threads(before_pyx)
        if torch is not None:
            torch.set_num_threads(before_torch)


def _calls_per_sample(fn, min_seconds):
    t0 = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - t0
    return max(1, min(1000, int(math.ceil(min_seconds / max(elapsed, 1e-7))))), elapsed


def _time_interleaved(impls, repeats, min_seconds, once=()):
    """Median seconds per call of each implementation, rounds interleaved.

    Implementations in `once` (very slow ones) are timed by a single call.
    """
    samples = {name: [] for name in impls}
    number = {}
    for name, fn in impls.items():   # warm-up, and how many calls make one sample
        if name in once:
            number[name] = 0
        else:
            number[name], _ = _calls_per_sample(fn, min_seconds)
    for name in once:
        if name in impls:
            t0 = time.perf_counter()
            impls[name]()
            samples[name].append(time.perf_counter() - t0)
    for _ in range(repeats):
        for name, fn in impls.items():
            if number[name] == 0:
                continue
            t0 = time.perf_counter()
            for _ in range(number[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / number[name])
    return {name: statistics.median(s) for name, s in samples.items()}


def _peak_gflops(dtype, n):
    """GFLOP/s of an (n, n) @ (n, n) NumPy matmul (the BLAS), best of 3."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(3))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------
# Machine and results.

def _cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # pragma: no cover - not Linux
        return os.cpu_count() or 1


def machine_info(torch=None):
    """The machine and software the run used."""
    from pyx_cnn import _conv

    info = {
        "cpu": _cpu_name(),
        "cores": _cores(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "pyx_cnn": pyx_cnn.__version__,
        "pyx_cnn_config": pyx_cnn.show_config(),
        "kernel_isa": _conv._isa(),
    }
    return info


def _parse_threads(threads):
    cores = _cores()
    if isinstance(threads, int):
        return [threads]
    out = []
    for part in str(threads).split(","):
        part = part.strip().lower()
        if not part:
            continue
        n = cores if part == "all" else int(part)
        if n < 1:
            raise ValueError(f"threads must be positive integers or 'all', got {threads!r}")
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError(f"threads must list at least one count, got {threads!r}")
    return out


def _evaluate_targets(rows):
    """One dict per target: the measured value, the threshold, whether it is met."""
    out = []
    by_key = {(r["workload"], r["dtype"], r["threads"]): r for r in rows}
    for name, dtype, setting, peers, threshold in TARGETS:
        entry = {"workload": name, "dtype": dtype, "threshold": threshold}
        missing = []   # listed peers that did not run (PyTorch's, without PyTorch)
        if setting == "scaling":
            one, two = by_key.get((name, dtype, 1)), by_key.get((name, dtype, 2))
            entry["what"] = "1 thread / 2 threads"
            value = one["seconds"]["pyx_cnn"] / two["seconds"]["pyx_cnn"] if one and two else None
        else:
            row = by_key.get((name, dtype, setting))
            entry["what"] = ("best of " if len(peers) > 1 else "") + "/".join(peers) + " vs pyx_cnn"
            times = [row["seconds"][p] for p in peers if row and p in row["seconds"]]
            value = min(times) / row["seconds"]["pyx_cnn"] if times else None
            missing = [p for p in peers if not row or p not in row["seconds"]]
            if times and missing:
                entry["what"] += f" ({'/'.join(missing)} not measured)"
        entry["value"] = value
        # no verdict when a listed peer is missing: it may be the fastest
        entry["met"] = None if value is None or missing else bool(value >= threshold)
        out.append(entry)
    return out


def _fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def _fmt_ratio(row, peer):
    t = row["seconds"].get(peer)
    if t is None:
        return "-"
    ratio = t / row["seconds"]["pyx_cnn"]
    digits = 0 if ratio >= 100 else (1 if ratio >= 10 else 2)
    return f"{_fmt_time(t)} ({ratio:.{digits}f}x)"


COLUMNS = ["workload", "dtype", "thr", "pyx_cnn", "GFLOP/s", "% peak"]

#: the column of each peer, in the order of :data:`PEERS`
PEER_COLUMNS = {"numpy": "numpy", "torch": "torch NCHW", "torch_cl": "torch NHWC",
                "tutorial": "tutorial loops"}


def _peers_run(rows):
    """The peers that ran in `rows` (PyTorch's are absent without PyTorch)."""
    return [p for p in PEERS if any(p in r["seconds"] for r in rows)]


def _columns(rows):
    return COLUMNS + [PEER_COLUMNS[p] for p in _peers_run(rows)]


def _table_rows(rows):
    table = []
    peers = _peers_run(rows)
    for r in rows:
        gf = r.get("gflops")
        table.append([
            r["workload"], r["dtype"], str(r["threads"]), _fmt_time(r["seconds"]["pyx_cnn"]),
            "-" if gf is None else f"{gf:.1f}",
            "-" if r.get("peak_fraction") is None else f"{100 * r['peak_fraction']:.0f}%",
        ] + [_fmt_ratio(r, peer) for peer in peers])
    return table


def format_text(result):
    """The printed table: times, and in brackets each peer's time / pyx_cnn's."""
    table = _table_rows(result["rows"])
    columns = _columns(result["rows"])
    widths = [max(len(columns[i]), *(len(t[i]) for t in table)) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)) for t in table]
    lines.append("")
    lines += _summary_lines(result)
    return "\n".join(lines)


def _summary_lines(result):
    m = result["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, kernels: {m['kernel_isa']}; "
             f"numpy {m['numpy']}, torch {m['torch'] or 'not installed'}"]
    for n, peak in result["peak_gflops"].items():
        lines.append(f"matmul peak at {n} thread(s): float32 {peak['float32']:.0f} GFLOP/s, "
                     f"float64 {peak['float64']:.0f} GFLOP/s")
    lines.append("(x): peer time / pyx_cnn time, > 1 means pyx_cnn is faster; medians of "
                 f"{result['repeats']} interleaved repeats")
    env = result.get("environment") or {}
    lines.append("thread variables set: " + (", ".join(f"{k}={v}" for k, v in env.items())
                                              or "none (the default environment)"))
    lines.append("")
    lines.append("targets:")
    for t in result["targets"]:
        value = "n/a (not measured)" if t["value"] is None else f"{t['value']:.2f}"
        verdict = {True: "met", False: "NOT met", None: "-"}[t["met"]]
        setting = "" if t["what"].startswith("1 thread") else " (1 thread)"
        lines.append(f"  {t['workload']} {t['dtype']}{setting}: {t['what']} = {value} "
                     f"(target >= {t['threshold']:.3g}): {verdict}")
    for name, extra in result.get("extra", {}).items():
        lines.append("")
        lines.append(f"{name}:")
        for key, value in extra.items():
            if key not in ("rows", "seconds"):
                lines.append(f"  {key}: {value}")
    return lines


def format_markdown(result):
    """The table as Markdown, with the machine and the targets under it."""
    table = _table_rows(result["rows"])
    columns = _columns(result["rows"])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(t) + " |" for t in table]
    lines.append("")
    lines += [line if not line.startswith("  ") else "- " + line.strip()
              for line in _summary_lines(result)]
    return "\n".join(lines) + "\n"


def plot_results(result, path):
    """Bar chart of each peer's time / pyx_cnn's (log scale), one panel per thread count."""
    from pyx_cnn.plot import _pyplot

    plt = _pyplot()
    settings = sorted({r["threads"] for r in result["rows"]})
    fig, axes = plt.subplots(len(settings), 1, figsize=(12, 4.2 * len(settings)), squeeze=False)
    peers = [p for p in PEERS if any(p in r["seconds"] for r in result["rows"])]
    for ax, n in zip(axes[:, 0], settings):
        rows = [r for r in result["rows"] if r["threads"] == n]
        labels = [f"{r['workload']}\n{r['dtype']}" for r in rows]
        present = [p for p in peers if any(p in r["seconds"] for r in rows)]
        colors = {p: f"C{i}" for i, p in enumerate(peers)}
        width = 0.8 / max(1, len(present))
        for k, peer in enumerate(present):
            xs, ys = [], []
            for i, r in enumerate(rows):
                if peer in r["seconds"]:
                    xs.append(i + (k - (len(present) - 1) / 2) * width)
                    ys.append(r["seconds"][peer] / r["seconds"]["pyx_cnn"])
            ax.bar(xs, ys, width, label=peer, color=colors[peer])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("peer time / pyx_cnn time")
        ax.set_title(f"{n} thread(s): above 1, pyx_cnn is faster")
        ax.legend(fontsize=8, ncol=len(present))
    fig.suptitle(f"pyx_cnn benchmarks on {result['machine']['cpu']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _run_extras(names, repeats, echo, quick=False, threads=None):
    """{name: module.run(repeats=...)} of each importable module; ``quick`` and
    ``threads`` are passed to the ``run`` functions that take them."""
    extras = {}
    for name in names:
        try:
            module = __import__(name)
        except ImportError:
            continue
        echo(f"running {name} ...")
        accepted = inspect.signature(module.run).parameters
        options = {key: value for key, value in (("quick", quick), ("threads", threads))
                   if key in accepted}
        extras[name] = module.run(repeats=repeats, **options)
    return extras


def run_benchmarks(quick=False, out_dir=None, threads="1,all", workloads=None,
                   extra_modules=None, echo=print):
    """Run the suite, print the table, and write results.json / .md / .png to `out_dir`.

    Parameters
    ----------
    quick : bool
        Fewer repeats, a smaller matmul, smaller training runs in the extra
        modules, no tutorial loops: seconds per thread count, not minutes.
    out_dir : str or path-like, optional
        Folder for ``results.json``, ``results.md`` and ``results.png``.
    threads : str or int
        Thread counts, e.g. ``"1"``, ``"2"`` or ``"1,all"``.
    workloads : list of str, optional
        Names to run (default: all of :data:`WORKLOADS`).
    extra_modules : list of str, optional
        Modules with ``run(repeats) -> dict`` (default :data:`EXTRA_BENCHMARKS`).

    Returns
    -------
    result : dict
        ``machine``, ``peak_gflops``, ``rows`` (one per workload and thread count:
        seconds per implementation, GFLOP/s), ``targets`` and ``extra``.
    """
    torch = _torch()
    settings = _parse_threads(threads)
    repeats = 3 if quick else 15
    min_seconds = 0.001 if quick else 0.01
    matmul_n = 1024 if quick else 2048
    selected = [w for w in WORKLOADS if workloads is None or w.name in workloads]
    rng = np.random.default_rng(0)
    data = {id(w): w.inputs(rng) for w in selected}
    flops = {id(w): w.flops() for w in selected}
    result = {"machine": machine_info(torch), "repeats": repeats, "quick": bool(quick),
              "environment": {k: v for k, v in sorted(os.environ.items())
                              if k.startswith(THREAD_VARIABLE_PREFIXES)},
              "peak_gflops": {}, "rows": [], "timing": (
                  "median over interleaved rounds; each round calls every implementation "
                  "(enough times to last >= %g ms) in turn" % (min_seconds * 1e3))}
    for n in settings:
        with _threads(n, torch):
            peak = {dt: _peak_gflops(dt, matmul_n) for dt in ("float32", "float64")}
            result["peak_gflops"][n] = peak
            echo(f"{n} thread(s): matmul peak float32 {peak['float32']:.0f} GFLOP/s, "
                 f"float64 {peak['float64']:.0f} GFLOP/s")
            for wl in selected:
                impls = _implementations(wl, data[id(wl)], torch)
                once = ()
                if "tutorial" in impls:
                    # very slow: once per run, at the first thread count only
                    if quick or n != settings[0] or not wl.tutorial:
                        del impls["tutorial"]
                    else:
                        once = ("tutorial",)
                seconds = _time_interleaved(impls, repeats, min_seconds, once)
                row = {"workload": wl.name, "dtype": wl.dtype.name, "threads": n,
                       "description": wl.description, "seconds": seconds}
                if flops[id(wl)]:
                    row["gflops"] = flops[id(wl)] / seconds["pyx_cnn"] / 1e9
                    row["peak_fraction"] = row["gflops"] / peak[wl.dtype.name]
                result["rows"].append(row)
                echo(f"  {wl.name} {wl.dtype.name}: pyx_cnn {_fmt_time(seconds['pyx_cnn'])}")
    result["targets"] = _evaluate_targets(result["rows"])
    result["extra"] = _run_extras(EXTRA_BENCHMARKS if extra_modules is None else extra_modules,
                                  3 if quick else 10, echo, quick=bool(quick), threads=settings)
    echo("")
    echo(format_text(result))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "results.json", "w") as fh:
            json.dump(result, fh, indent=2, default=str)
        (out / "results.md").write_text(format_markdown(result))
        plot_results(result, out / "results.png")
        echo(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'results.png'}")
    return result


if __name__ == "__main__":  # pragma: no cover
    run_benchmarks(quick="--quick" in sys.argv)
