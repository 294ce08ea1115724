"""Run pyx_cnn's benchmark suite (the same as ``pyx-cnn bench``) and save the results.

    python benchmarks/run_benchmarks.py [--quick] [--threads 1,all] [--out benchmarks/results]

The suite (``suite.py``) and the training benchmarks (``bench_training.py``,
``bench_digits_epoch.py``) live in this folder. Nothing about threads is set:
the numbers are what a user gets in the default environment (pyx_cnn's own
thread policy keeps its OpenMP team and the BLAS from fighting over the cores).
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no tutorial loops")
    parser.add_argument("--threads", default="1,all", help="thread counts, e.g. '1,all'")
    parser.add_argument("--out", default=str(HERE / "results"),
                        help="folder for results.json / results.md / results.png")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from suite import run_benchmarks

    run_benchmarks(quick=args.quick, out_dir=args.out, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
