"""Run pyx_cnn's benchmark suite (the same as ``pyx-cnn bench``) and save the results.

    python benchmarks/run_benchmarks.py [--quick] [--threads 1,all] [--out benchmarks/results]

The suite itself lives in the package (``pyx_cnn.benchmark``) so that it also runs
from an installed wheel; this script adds the folder it sits in to ``sys.path`` so
that the extra benchmark modules kept here (listed in
``pyx_cnn.benchmark.EXTRA_BENCHMARKS``) are found.

Several thread pools share the cores in one run (pyx_cnn's and PyTorch's OpenMP
threads, NumPy's OpenBLAS threads): by default their idle threads keep spinning (OpenBLAS
for about 2**28 cycles after each call) and take the cores from the implementation timed
next, so no multi-threaded number would mean anything. The script therefore sets
``GOMP_SPINCOUNT=10000`` (OpenMP threads spin briefly, enough to catch back-to-back
calls, then sleep) and ``OPENBLAS_THREAD_TIMEOUT=4`` (OpenBLAS threads sleep almost at
once) unless they are already set; this must happen before the libraries load, hence
here and not in ``pyx-cnn bench``.
"""
import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUIET_THREADS = {"GOMP_SPINCOUNT": "10000", "OPENBLAS_THREAD_TIMEOUT": "4"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no tutorial loops")
    parser.add_argument("--threads", default="1,all", help="thread counts, e.g. '1,all'")
    parser.add_argument("--out", default=str(HERE / "results"),
                        help="folder for results.json / results.md / results.png")
    args = parser.parse_args(argv)
    for name, value in QUIET_THREADS.items():
        os.environ.setdefault(name, value)
    sys.path.insert(0, str(HERE))
    from pyx_cnn.benchmark import run_benchmarks

    run_benchmarks(quick=args.quick, out_dir=args.out, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
