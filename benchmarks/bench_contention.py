"""Training while another program keeps a core busy: the default thread count
against one thread.

Two epochs of ``fit`` (float32, plain SGD, learning rate 0.01, no shuffling):

- ``lenet``: LeNet-5 (``bench_training.lenet``) on 2048 random 28x28x1 images,
  batches of 64 (1024 images with ``quick``);
- ``digits``: the ``pyx-cnn train`` network (``pyx_cnn.models.digits_network``)
  on the digits training split, batches of 32.

Each runs first on a quiet machine, then with a second program keeping one
core busy (``python -c "while True: pass"``, started by this benchmark and
stopped at the end), at one thread (``set_num_threads(1)``) and at the
default count (``set_num_threads(None)``: all cores), the two alternating
round by round; the medians are reported. One network per workload serves
every round, as in a long training: what its loops learned about the thread
counts on the quiet machine carries into the busy part (see
``pyx_cnn/_thread_choice.py``). Nothing about threads is set in the
environment.

Run ``python benchmarks/bench_contention.py [--rounds 7] [--out FILE.json]``, or
call :func:`run` from Python; the suite (``pyx-cnn bench``) runs it too and keeps its
result under ``extra``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import pyx_cnn
from pyx_cnn.datasets import load_digits_split
from pyx_cnn.models import digits_network

from bench_training import lenet

BUSY_PROGRAM = "while True: pass"


def _epochs(quick):
    """{name: (description, one epoch of fit)}."""
    rng = np.random.default_rng(0)
    n = 1024 if quick else 2048
    X = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n)
    net = lenet()
    X_digits, _, y_digits, _ = load_digits_split(0)
    X_digits = np.ascontiguousarray(X_digits, dtype=np.float32)
    digits = digits_network(0, dtype="float32")
    return {
        "lenet": (f"LeNet-5 epoch, {n} images of 28x28x1, batches of 64",
                  lambda: net.fit(X, y, epochs=1, batch_size=64, learning_rate=0.01,
                                  verbose=0, shuffle=False)),
        "digits": (f"digits epoch (pyx-cnn train's network), {len(X_digits)} images of "
                   "8x8x1, batches of 32",
                   lambda: digits.fit(X_digits, y_digits, epochs=1, batch_size=32,
                                      learning_rate=0.01, verbose=0, shuffle=False)),
    }


def _median_seconds(epoch, rounds):
    """{1: median seconds on one thread, "default": on the default count}, alternating."""
    times = {1: [], None: []}
    for r in range(rounds):
        for count in ((1, None) if r % 2 else (None, 1)):
            pyx_cnn.set_num_threads(count)
            start = time.perf_counter()
            epoch()
            times[count].append(time.perf_counter() - start)
    return {"one": statistics.median(times[1]), "default": statistics.median(times[None])}


def run(repeats=7, quick=False):
    """Time the epochs quiet and with a core busy.

    Returns
    -------
    result : dict
        ``default_threads``, ``busy_program`` and ``rows``: one per workload
        with ``quiet_one_s``, ``quiet_default_s``, ``busy_one_s``,
        ``busy_default_s`` (medians), ``quiet_speedup`` (one thread's time /
        the default's) and ``busy_slowdown`` (the default's time / one
        thread's, with the core busy). Empty rows when the default is one
        thread (one core, or a build without OpenMP): nothing to compare.
    """
    rounds = max(3, repeats)
    previous = pyx_cnn.get_num_threads()
    pyx_cnn.set_num_threads(None)
    default = pyx_cnn.get_num_threads()
    result = {"default_threads": default, "busy_program": f'python -c "{BUSY_PROGRAM}"',
              "rounds": rounds, "rows": []}
    if default < 2:
        pyx_cnn.set_num_threads(previous)
        return result
    try:
        epochs = _epochs(quick)
        for _, epoch in epochs.values():
            epoch()                                   # first calls: allocation, warm-up
        quiet = {name: _median_seconds(epoch, rounds) for name, (_, epoch) in epochs.items()}
        busy_program = subprocess.Popen([sys.executable, "-c", BUSY_PROGRAM])
        try:
            time.sleep(0.5)
            busy = {name: _median_seconds(epoch, rounds) for name, (_, epoch) in epochs.items()}
        finally:
            busy_program.kill()
            busy_program.wait()
    finally:
        pyx_cnn.set_num_threads(previous)
    for name, (description, _) in epochs.items():
        q, b = quiet[name], busy[name]
        result["rows"].append({
            "workload": name, "description": description,
            "quiet_one_s": q["one"], "quiet_default_s": q["default"],
            "busy_one_s": b["one"], "busy_default_s": b["default"],
            "quiet_speedup": q["one"] / q["default"],
            "busy_slowdown": b["default"] / b["one"]})
    return result


def format_rows(result):
    lines = [f"default threads: {result['default_threads']}; busy core: "
             f"{result['busy_program']}; medians of {result['rounds']} rounds"]
    for r in result["rows"]:
        lines.append(
            f"{r['workload']:7s} quiet: 1 thread {r['quiet_one_s'] * 1e3:7.1f} ms, default "
            f"{r['quiet_default_s'] * 1e3:7.1f} ms ({r['quiet_speedup']:.2f}x faster)   busy: "
            f"1 thread {r['busy_one_s'] * 1e3:7.1f} ms, default "
            f"{r['busy_default_s'] * 1e3:7.1f} ms ({r['busy_slowdown']:.2f}x the time)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="also save the result as JSON")
    args = parser.parse_args(argv)
    from suite import THREAD_VARIABLE_PREFIXES, machine_info

    result = run(args.rounds, args.quick)
    print(format_rows(result))
    if args.out is None:
        return 0
    saved = {"machine": machine_info(), "repeats": result["rounds"], "rows": [],
             "environment": {k: v for k, v in sorted(os.environ.items())
                             if k.startswith(THREAD_VARIABLE_PREFIXES)},
             "extra": {"bench_contention": result}}
    Path(args.out).write_text(json.dumps(saved, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
