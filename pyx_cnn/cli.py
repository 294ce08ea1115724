"""Command line: ``pyx-cnn demo | train | bench`` (also ``python -m pyx_cnn``).

Bad input never ends in a traceback, and never after the work: the parser
checks every option before anything is computed (a missing image file,
``--threads 0``, ``--epochs -1``, an ``--out`` that is a file, an unknown
``--dataset``; the ``--out`` folder is then made, and a file written and removed
in it, before any work), and the errors the library raises for the rest (an
unreadable image, a missing optional dependency, a data set that cannot be
downloaded) are printed as one line ``pyx-cnn COMMAND: error: ...`` with exit
status 2, as argparse does.
"""
import argparse
import os
import re
import sys
from pathlib import Path

from ._optional import MissingExtraError

__all__ = ["main", "build_parser"]

#: largest seed: scikit-learn's splits take seeds from 0 to 2**32 - 1
MAX_SEED = 2 ** 32 - 1


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2),
    led by the option's name (``--out: ...``, not ``argument --out: ...``)."""

    def error(self, message):
        message = re.sub(r"^argument ", "", message)
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default once, as ``(default: X)``.

    The default is added unless the help text already says it in words (an
    option whose default is computed, such as ``--threads``), or there is no
    value to show (a default of None, or False for a flag).
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("(default" in text or not action.option_strings or default is None
                or default is False or default is argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def _int_in_range(minimum, maximum=None, why=""):
    """An argparse type: an integer from `minimum` to `maximum` (None: no upper bound)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if maximum is None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{why}, got {value}")
        if maximum is not None and not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be an integer from {minimum} to {maximum}{why}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _int_at_least(minimum, why=""):
    """An argparse type: an integer >= `minimum`."""
    return _int_in_range(minimum, None, why)


def _thread_count(text):
    """An argparse type: a thread count from 1 to ``MAX_THREADS``."""
    from ._threads import MAX_THREADS

    return _int_in_range(1, MAX_THREADS)(text)


def _thread_list(text):
    """An argparse type: thread counts separated by commas, each 1 to ``MAX_THREADS``
    or ``all`` (every core), e.g. ``1,all``."""
    from ._threads import MAX_THREADS

    parts = [part.strip().lower() for part in text.split(",") if part.strip()]
    expected = f"thread counts from 1 to {MAX_THREADS} or 'all', separated by commas"
    if not parts:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    for part in parts:
        if part == "all":
            continue
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {expected}, got {part!r} in {text!r}") from None
        if not 1 <= value <= MAX_THREADS:
            raise argparse.ArgumentTypeError(
                f"thread counts must be from 1 to {MAX_THREADS}, got {value}")
    return ",".join(parts)


def _positive_float(text):
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _existing_file(text):
    """An argparse type: the path of an existing file."""
    if not os.path.isfile(text):
        what = "is a folder, not a file" if os.path.isdir(text) else "no such file"
        raise argparse.ArgumentTypeError(f"{what}: {text!r}")
    return text


def _output_folder(text):
    """An argparse type: a folder that exists or can be made, and can be written, as far
    as permissions tell (:func:`main` then makes it and writes a file in it)."""
    from .train_command import _output_folder_problem

    problem = _output_folder_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _dataset(text):
    """An argparse type: a data set's name or the path of an image folder."""
    from .datasets import DATASETS

    if text in DATASETS or os.path.isdir(text):
        return text
    expected = f"expected {', '.join(DATASETS)} or an image folder"
    if os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder ({expected})")
    raise argparse.ArgumentTypeError(f"{expected}, got {text!r} (no such folder)")


def _suite_folder(text):
    """An argparse type: a folder holding the benchmark suite (``suite.py``)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such folder: {text!r} (expected the "
                                         "repository's benchmarks/ folder)")
    if not os.path.isfile(os.path.join(text, "suite.py")):
        raise argparse.ArgumentTypeError(f"no suite.py in {text!r} (expected the "
                                         "repository's benchmarks/ folder)")
    return text


def _demo(args):
    from .demo import run_demo

    run_demo(image_path=args.image, out_dir=args.out, seed=args.seed)
    return 0


def _train(args):
    from .models import MODEL_MIN_SIDE
    from .train_command import run_train

    smallest = MODEL_MIN_SIDE[args.model]
    if args.image_size is not None and min(args.image_size) < smallest:
        raise ValueError(f"--image-size {args.image_size[0]} {args.image_size[1]} is too "
                         f"small for --model {args.model}: each side must be at least "
                         f"{smallest}")
    run_train(epochs=args.epochs, out_dir=args.out, seed=args.seed,
              batch_size=args.batch_size, learning_rate=args.learning_rate,
              dataset=args.dataset,
              image_size=None if args.image_size is None else tuple(args.image_size),
              grayscale=args.grayscale, model=args.model)
    return 0


def _source_tree():
    """The source checkout pyx_cnn was imported from (an editable install or an
    in-place build), or None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "setup.py").is_file() else None


def _find_suite(folder):
    """The benchmarks/ folder: `folder`, else the one of the current directory or
    of its parents, else the one of the source checkout pyx_cnn was imported from.
    The suite is not part of the installed package (a wheel)."""
    if folder:
        candidates = [Path(folder)]
    else:
        candidates = [p / "benchmarks" for p in (Path.cwd(), *Path.cwd().parents)]
        if _source_tree() is not None:
            candidates.append(_source_tree() / "benchmarks")
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
    from ._threads import MAX_THREADS

    parser = _Parser(
        prog="pyx-cnn", formatter_class=_HelpFormatter,
        description="A convolutional network from scratch with compiled kernels.",
        epilog="Run 'pyx-cnn COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="store_true",
                        help="print the version and the build (OpenMP, SIMD, threads)")
    parser.add_argument("--threads", type=_thread_count, default=None, metavar="N",
                        help=f"threads for the kernels, 1 to {MAX_THREADS} "
                             "(default: OMP_NUM_THREADS or all cores)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo_parser(subparsers)
    _add_train_parser(subparsers)
    _add_bench_parser(subparsers)
    return parser


def _add_demo_parser(subparsers):
    """The ``demo`` sub-command: the tutorial's three layers on an image."""
    demo = subparsers.add_parser(
        "demo", formatter_class=_HelpFormatter,
        help="the tutorial's three conv/ReLU/pool layers on an image",
        description="Run the tutorial's three layers (convolution, ReLU, 2x2 max-pooling) "
                    "on a grey image, print each layer's shapes and times, and write one "
                    "PNG per layer showing its input, its filters and its feature maps. "
                    'Needs scikit-image: pip install "pyx_cnn[demo]".',
    )
    demo.add_argument("--image", type=_existing_file, default=None, metavar="PATH",
                      help="image file to use (default: scikit-image's chelsea picture)")
    demo.add_argument("--out", type=_output_folder, default="demo_out", metavar="DIR",
                      help="folder for layer1.png, layer2.png and layer3.png, made if "
                           "missing")
    demo.add_argument("--seed", type=_int_in_range(0, MAX_SEED), default=0,
                      help=f"seed of the random filters of layers 2 and 3, 0 to {MAX_SEED}")
    demo.set_defaults(func=_demo)


def _add_train_parser(subparsers):
    """The ``train`` sub-command: train a small CNN and write the model and figures."""
    from .models import MIN_IMAGE_SIDE, MODEL_MIN_SIDE, MODELS

    train = subparsers.add_parser(
        "train", formatter_class=_HelpFormatter,
        help="train a small CNN on scikit-learn's digits (or another data set)",
        description="Train Conv2D(8, 3) -> ReLU -> MaxPool2D -> Dense(10, softmax) on 80% "
                    "of scikit-learn's 1797 8x8 digits, print the accuracy on the other 20% "
                    "(the test split), and write model.npz, loss.png, confusion.png and "
                    "filters.png. --dataset picks another data set: faces (scikit-image's "
                    "face / non-face patches), mnist, or the path of an image folder with "
                    "one sub-folder per class; --model a larger network. "
                    'Needs scikit-learn and scikit-image: pip install "pyx_cnn[train]".',
    )
    train.add_argument("--dataset", type=_dataset, default="digits", metavar="NAME|PATH",
                       help="digits, faces, mnist, or an image folder (one sub-folder "
                            "per class)")
    train.add_argument("--image-size", type=_int_at_least(
                           MIN_IMAGE_SIDE, " (the networks' smallest input)"),
                       nargs=2, default=None, metavar=("H", "W"),
                       help=f"resize every image to H x W (each at least {MIN_IMAGE_SIDE}, "
                            f"{MODEL_MIN_SIDE['resnet18']} for resnet18 and mobilenet_v2) "
                            "with scikit-image, whatever the data set: digits (8x8), faces "
                            "(25x25) and mnist (28x28) too (default: the data set's own "
                            "size; 32 32 for an image folder)")
    train.add_argument("--grayscale", action="store_true",
                       help="read the images of a folder as one grey channel instead of "
                            "three (RGB); digits, faces and mnist are grey already")
    train.add_argument("--model", default="small", choices=list(MODELS),
                       help="small: the network above; bn: a LeNet-style network with "
                            "batch normalisation and dropout; all: one with a layer of every "
                            "kind (average and global pooling, dilated 'same' convolution, "
                            "tanh, leaky ReLU, softmax layer); resnet18 and mobilenet_v2: "
                            "torchvision's ResNet-18 and MobileNetV2 in float32, with the "
                            "CIFAR stems for images under 64 pixels (pyx_cnn.models.resnet "
                            "and mobilenet_v2; slow on a CPU: millions of weights)")
    train.add_argument("--epochs", type=_int_at_least(1), default=30,
                       help="passes over the training split")
    train.add_argument("--batch-size", type=_int_at_least(1), default=32,
                       help="samples per gradient step")
    train.add_argument("--learning-rate", type=_positive_float, default=0.1,
                       help="step size of stochastic gradient descent")
    train.add_argument("--seed", type=_int_in_range(0, MAX_SEED), default=0,
                       help=f"seed of the weights, the split and the shuffling, 0 to "
                            f"{MAX_SEED}")
    train.add_argument("--out", type=_output_folder, default="train_out", metavar="DIR",
                       help="folder for the model and the figures, made if missing")
    train.set_defaults(func=_train)


def _add_bench_parser(subparsers):
    """The ``bench`` sub-command: time pyx_cnn against NumPy and PyTorch."""
    bench = subparsers.add_parser(
        "bench", formatter_class=_HelpFormatter,
        help="time pyx_cnn against NumPy (and PyTorch if installed)",
        description="Time pyx_cnn's kernels, the training of LeNet-5 and a "
                    "CIFAR-style network, and the training and predict of ResNet-18 and "
                    "MobileNetV2 on 32x32 images against the tutorial's NumPy loops, a "
                    "vectorised NumPy version, PyTorch and onnxruntime (when installed: "
                    "without them their columns are left out), and print the tables. "
                    "Runs the suite of "
                    "a source checkout (benchmarks/): the folder --suite names, else the "
                    "one of the current directory or of its parents, else the one of the "
                    "checkout pyx_cnn was imported from (an installed wheel holds none).",
    )
    bench.add_argument("--quick", action="store_true",
                       help="fewer repeats, smaller training runs, no tutorial loops: "
                            "seconds instead of minutes (about 30 s with --threads 1 on "
                            "two cores)")
    bench.add_argument("--out", type=_output_folder, default=None, metavar="DIR",
                       help="folder for results.json, results.md and results.png "
                            "(default: print only)")
    bench.add_argument("--threads", dest="bench_threads", type=_thread_list, default="1,all",
                       metavar="LIST",
                       help="thread counts to run, e.g. '1', '2' or '1,all', where all "
                            "is every core")
    bench.add_argument("--suite", type=_suite_folder, default=None, metavar="DIR",
                       help="the repository's benchmarks/ folder (default: found from the "
                            "current directory, or next to the imported pyx_cnn)")
    bench.set_defaults(func=_bench)


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
    from .train_command import _make_output_folder, _remove_made_folders

    parser = build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog if args.command is None else f"{parser.prog} {args.command}"
    made, status = [], 2
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
        if getattr(args, "out", None) is not None:
            # the parser's check of --out reads permissions; only making the folder
            # and writing a file in it is conclusive, so do that before any work
            made, problem = _make_output_folder(args.out)
            if problem:
                print(f"{prog}: error: --out: {problem} (see '{prog} --help')",
                      file=sys.stderr)
                return 2
        status = args.func(args)
        return status
    except (ValueError, TypeError, OSError, MissingExtraError) as exc:
        # bad input found by the library: one line, as argparse reports errors
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        # e.g. a data set resized with a huge --image-size
        print(f"{prog}: error: not enough memory: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        if status != 0:
            _remove_made_folders(made)   # a failed run leaves no empty --out folder behind


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
