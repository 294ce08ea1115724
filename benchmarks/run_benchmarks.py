"""Run pyx_cnn's benchmark suite (the same as ``pyx-cnn bench``) and save the results.

    python benchmarks/run_benchmarks.py [--quick] [--threads 1,all] [--out benchmarks/results]

The suite itself lives in the package (``pyx_cnn.benchmark``) so that it also runs
from an installed wheel; this script adds the folder it sits in to ``sys.path`` so
that the extra benchmark modules kept here (listed in
``pyx_cnn.benchmark.EXTRA_BENCHMARKS``) are found.

Several OpenMP runtimes share the cores in one run (pyx_cnn's, PyTorch's, the BLAS
threads): by default their idle threads spin for a while and steal time from each
other's measurements. The script therefore asks for passive waiting unless
``OMP_WAIT_POLICY`` is already set (this must happen before the libraries load).
"""
import argparse
import os
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
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.path.insert(0, str(HERE))
    from pyx_cnn.benchmark import run_benchmarks

    run_benchmarks(quick=args.quick, out_dir=args.out, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
