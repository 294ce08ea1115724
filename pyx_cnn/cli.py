"""Command line: ``pyx-cnn demo | train | bench`` (also ``python -m pyx_cnn``).

Bad input never ends in a traceback: the parser checks what it can (a missing
image file, ``--threads 0``, ``--epochs -1``), and the errors the library
raises for the rest (an unreadable image, a missing optional dependency, a
folder that cannot be written) are printed as one line
``pyx-cnn: error: ...`` with exit status 2, as argparse does.
"""
import argparse
import os
import sys
from pathlib import Path

from ._optional import MissingExtraError

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum):
    """An argparse type: an integer >= `minimum`."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _positive_float(text):
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _existing_file(text):
    """An argparse type: the path of an existing file."""
    if not os.path.isfile(text):
        what = "is a folder, not a file" if os.path.isdir(text) else "no such file"
        raise argparse.ArgumentTypeError(f"{what}: {text!r}")
    return text


def _demo(args):
    from .demo import run_demo

    run_demo(image_path=args.image, out_dir=args.out, seed=args.seed)
    return 0


def _train(args):
    from .training import run_train

    run_train(epochs=args.epochs, out_dir=args.out, seed=args.seed,
              batch_size=args.batch_size, learning_rate=args.learning_rate,
              dataset=args.dataset,
              image_size=None if args.image_size is None else tuple(args.image_size),
              grayscale=args.grayscale, model=args.model)
    return 0


def _find_suite(folder):
    """The benchmarks/ folder of a source checkout: `folder`, or the current
    directory and its parents. The suite is not part of the installed package."""
    candidates = [Path(folder)] if folder else [
        p / "benchmarks" for p in (Path.cwd(), *Path.cwd().parents)]
    for candidate in candidates:
        if (candidate / "suite.py").is_file():
            return candidate
    where = folder or "the current directory or its parents"
    raise ValueError(f"no benchmark suite (benchmarks/suite.py) in {where}: run "
                     "'pyx-cnn bench' from a clone of the pyx_cnn repository, or pass "
                     "--suite PATH/TO/benchmarks")


def _bench(args):
    folder = _find_suite(args.suite)
    sys.path.insert(0, str(folder))
    from suite import run_benchmarks

    run_benchmarks(quick=args.quick, out_dir=args.out, threads=args.bench_threads)
    return 0


def build_parser():
    """The argument parser, one sub-command per job."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(
        prog="pyx-cnn", formatter_class=formatter,
        description="A convolutional network from scratch with compiled kernels.",
        epilog="Run 'pyx-cnn COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="store_true",
                        help="print the version and the build (OpenMP, SIMD, threads)")
    parser.add_argument("--threads", type=_int_at_least(1), default=None, metavar="N",
                        help="threads for the kernels (default: OMP_NUM_THREADS or all cores)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", formatter_class=formatter,
        help="the tutorial's three conv/ReLU/pool layers on an image",
        description="Run the tutorial's three layers (convolution, ReLU, 2x2 max-pooling) "
                    "on a grey image, print each layer's shapes and times, and write one "
                    "PNG per layer showing its input, its filters and its feature maps. "
                    'Needs scikit-image: pip install "pyx_cnn[demo]".',
    )
    demo.add_argument("--image", type=_existing_file, default=None, metavar="PATH",
                      help="image file to use (default: scikit-image's chelsea picture)")
    demo.add_argument("--out", default="demo_out", metavar="DIR",
                      help="folder for layer1.png, layer2.png and layer3.png")
    demo.add_argument("--seed", type=_int_at_least(0), default=0,
                      help="seed of the random filters of layers 2 and 3")
    demo.set_defaults(func=_demo)

    train = sub.add_parser(
        "train", formatter_class=formatter,
        help="train a small CNN on scikit-learn's digits (or another data set)",
        description="Train Conv2D(8, 3) -> ReLU -> MaxPool2D -> Dense(10, softmax) on 80% "
                    "of scikit-learn's 1797 8x8 digits, print the accuracy on the other 20% "
                    "(the test split), and write model.npz, loss.png, confusion.png and "
                    "filters.png. --dataset picks another data set: faces (scikit-image's "
                    "face / non-face patches), mnist, or the path of an image folder with "
                    "one sub-folder per class; --model a larger network. "
                    'Needs scikit-learn and scikit-image: pip install "pyx_cnn[train]".',
    )
    train.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                       help="digits, faces, mnist, or an image folder (one sub-folder "
                            "per class)")
    train.add_argument("--image-size", type=_int_at_least(1), nargs=2, default=None,
                       metavar=("H", "W"),
                       help="size images of a folder are resized to (default 32 32)")
    train.add_argument("--grayscale", action="store_true",
                       help="read the images of a folder as one grey channel")
    train.add_argument("--model", default="small", choices=["small", "bn", "all"],
                       help="small: the network above; bn: a LeNet-style network with "
                            "batch normalisation and dropout; all: one with a layer of every "
                            "kind (average and global pooling, dilated 'same' convolution, "
                            "tanh, leaky ReLU, softmax layer)")
    train.add_argument("--epochs", type=_int_at_least(1), default=30,
                       help="passes over the training split")
    train.add_argument("--batch-size", type=_int_at_least(1), default=32,
                       help="samples per gradient step")
    train.add_argument("--learning-rate", type=_positive_float, default=0.1,
                       help="step size of stochastic gradient descent")
    train.add_argument("--seed", type=_int_at_least(0), default=0,
                       help="seed of the weights, the split and the shuffling")
    train.add_argument("--out", default="train_out", metavar="DIR",
                       help="folder for the model and the figures")
    train.set_defaults(func=_train)

    bench = sub.add_parser(
        "bench", formatter_class=formatter,
        help="time pyx_cnn against NumPy (and PyTorch if installed)",
        description="Time pyx_cnn's kernels and the training of LeNet-5 and a "
                    "CIFAR-style network against the tutorial's NumPy loops, a "
                    "vectorised NumPy version and PyTorch (when installed), and print "
                    "the tables. Runs the suite of a source checkout (benchmarks/).",
    )
    bench.add_argument("--quick", action="store_true", help="fewer repeats, smaller peers")
    bench.add_argument("--out", default=None, metavar="DIR",
                       help="folder for results.json, results.md and results.png "
                            "(default: print only)")
    bench.add_argument("--threads", dest="bench_threads", default="1,all", metavar="LIST",
                       help="thread counts to run, e.g. '1', '2' or '1,all'")
    bench.add_argument("--suite", default=None, metavar="DIR",
                       help="the repository's benchmarks/ folder (default: found from the "
                            "current directory)")
    bench.set_defaults(func=_bench)
    return parser


def _one_line(exc):
    """The message of `exc` on one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: {exc.filename!r}"
    return text


def main(argv=None):
    """Run the command line; return the exit status (0, or 2 for bad input).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        import pyx_cnn

        if args.threads is not None:
            pyx_cnn.set_num_threads(args.threads)
        if args.version:
            print(pyx_cnn.version_line())
            return 0
        if args.command is None:
            parser.print_help()
            return 2
        return args.func(args)
    except (ValueError, TypeError, OSError, MissingExtraError) as exc:
        # bad input found by the library: one line, as argparse reports errors
        prog = parser.prog if args.command is None else f"{parser.prog} {args.command}"
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
