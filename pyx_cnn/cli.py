"""Command line: ``pyx-cnn demo | train | bench`` (also ``python -m pyx_cnn``)."""
import argparse
import sys

__all__ = ["main"]


def _demo(args):
    from .demo import run_demo

    run_demo(image_path=args.image, out_dir=args.out, seed=args.seed)
    return 0


def _train(args):
    from .training import run_train

    run_train(epochs=args.epochs, out_dir=args.out, seed=args.seed,
              batch_size=args.batch_size, learning_rate=args.learning_rate)
    return 0


def _bench(args):
    from .benchmark import run_benchmarks

    run_benchmarks(quick=args.quick, out_dir=args.out, threads=args.bench_threads)
    return 0


def build_parser():
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="pyx-cnn", description="A CNN from scratch with compiled kernels."
    )
    parser.add_argument("--version", action="store_true", help="print the build configuration")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the kernels (default: OMP_NUM_THREADS or all cores)")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="the tutorial's three conv/ReLU/pool layers on an image")
    demo.add_argument("--image", default=None, help="image file (default: scikit-image's chelsea)")
    demo.add_argument("--out", default="demo_out", help="folder for the PNGs (default: demo_out)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the random filters")
    demo.set_defaults(func=_demo)

    train = sub.add_parser("train", help="train a small CNN on scikit-learn's digits")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--learning-rate", type=float, default=0.1)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="train_out",
                       help="folder for the model and the loss curve (default: train_out)")
    train.set_defaults(func=_train)

    bench = sub.add_parser("bench", help="time pyx_cnn against NumPy (and PyTorch if installed)")
    bench.add_argument("--quick", action="store_true", help="fewer repeats, smaller peers")
    bench.add_argument("--out", default=None,
                       help="folder for results.json, results.md and results.png")
    bench.add_argument("--threads", dest="bench_threads", default="1,all",
                       help="thread counts to run, e.g. '1', '2' or '1,all' (default)")
    bench.set_defaults(func=_bench)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    import pyx_cnn

    if args.threads is not None:
        pyx_cnn.set_num_threads(args.threads)
    if args.version:
        print(pyx_cnn.show_config())
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
