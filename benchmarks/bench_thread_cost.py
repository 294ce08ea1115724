"""What a team of threads costs, and what a step of each kernel family costs.

The kernels decide how many threads their work is worth with the cost model of
``pyx_cnn/_threads.pyx``: a parallel region of ``n`` threads costs
``region(n)`` (measured by the library itself at first use) and a step of a
kernel family (a multiply-add of a convolution, a window read of a pooling, a
value summed in double, a value of a map, a value of an exp) costs
``step_seconds[family]`` at one thread. This script measures both on this
machine:

- the region cost of teams of 2, 4, ... threads, as the library measures it;
- the seconds per step of one typical kernel of each family at one thread
  (float32, a batch of 64 images of 28x28; the median of `repeats` calls),
  next to the constant the library uses;
- the smallest work (in steps) for which two threads pay, and the thread count
  the model gives each benchmark kernel.

Run ``python benchmarks/bench_thread_cost.py [--repeats 30]``. The machine
should be otherwise idle: on a loaded one both costs come out high and noisy.
"""
import argparse
import statistics
import time

import numpy as np

import pyx_cnn
from pyx_cnn import _activation, _batch_norm, _conv, _max_pool, _threads


def _median_seconds(call, repeats):
    call()                       # warm the caches and the allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def family_kernels(rng):
    """One kernel call per family at one thread: name -> (call, work, units)."""
    n, h, w, c, f = 64, 28, 28, 8, 16
    x = rng.standard_normal((n, h + 2, w + 2, c)).astype(np.float32)
    wk = rng.standard_normal((3, 3 * c, f)).astype(np.float32)
    bias = np.zeros(f, np.float32)
    out = np.empty((n, h, w, f), np.float32)
    feat = rng.standard_normal((n, h, w, f)).astype(np.float32)
    pooled = np.empty((n, h // 2, w // 2, f), np.float32)
    rows = feat.reshape(-1, f)
    blocks = min(256, rows.shape[0], max(1, rows.size // (1 << 14)))
    partial = np.empty((blocks, 3 * f))
    mean, invstd, var = np.empty(f), np.empty(f), np.empty(f)
    flat = feat.reshape(-1)
    flat_out = np.empty_like(flat)
    return {
        "conv": (lambda: _conv._conv2d_forward(x, wk, bias, out, 1, 1),
                 n * h * w * 3 * 3 * c * f, n * h),
        "pool": (lambda: _max_pool._maxpool2d_forward(feat, pooled, 2, 2, 1),
                 n * (h // 2) * (w // 2) * f * 4, n * (h // 2)),
        "sums": (lambda: _batch_norm._statistics(rows, 1e-5, partial, mean, invstd, var, 1),
                 rows.size, rows.shape[0]),
        "map": (lambda: _activation._relu(flat, flat_out, 1), flat.size, flat.size),
        "exp": (lambda: _activation._sigmoid(flat, flat_out, 1), flat.size, flat.size),
    }


def run(repeats=30, seed=0, verbose=False):
    """Measure the region costs and the families' step costs.

    Returns
    -------
    result : dict
        ``"region_us"``: {team size: microseconds per region}; ``"families"``:
        {family: {"measured_ns", "model_ns", "work", "threads", "break_even_work"}}.
    """
    threads = pyx_cnn.get_num_threads()
    sizes = sorted({2 ** k for k in range(1, 9) if 2 ** k <= max(2, threads)})
    region = {n: _threads._region_cost(n) * 1e6 for n in sizes}
    families = {}
    for name, (call, work, units) in family_kernels(np.random.default_rng(seed)).items():
        seconds = _median_seconds(call, repeats)
        model = _threads._step_seconds(name)
        # two threads pay once t1 / 2 + region(2) < t1
        break_even = 2 * _threads._region_cost(2) / model
        families[name] = {
            "measured_ns": seconds / work * 1e9, "model_ns": model * 1e9, "work": work,
            "threads": _threads._threads_for(work, units, name, threads),
            "break_even_work": break_even,
        }
    if verbose:
        print(f"threads: {threads} (get_num_threads)")
        for n, us in region.items():
            print(f"parallel region of {n} threads: {us:9.2f} us")
        print("| family | kernel work (steps) | measured ns/step | model ns/step | "
              "2 threads pay above (steps) | threads for the kernel |")
        print("|---|---|---|---|---|---|")
        for name, r in families.items():
            print(f"| {name} | {r['work']:.3g} | {r['measured_ns']:.3f} | {r['model_ns']:.3f} | "
                  f"{r['break_even_work']:.3g} | {r['threads']} |")
    return {"region_us": region, "families": families}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    return run(args.repeats, verbose=True)


if __name__ == "__main__":
    main()
