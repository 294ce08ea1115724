"""pyx_cnn: a convolutional network from scratch, with compiled kernels.

Public names
------------
conv, conv_, relu, pooling, sigmoid, softmax
    The tutorial's functions (see :mod:`pyx_cnn.functional`), and beside them
    avg_pooling, tanh, leaky_relu.
set_num_threads, get_num_threads
    Threads used by the kernels (``OMP_NUM_THREADS`` is honoured).
show_config, version_line
    How the package was built and what the CPU offers.
NeuralNetwork, layers
    Layers (Conv2D, pooling, activations, BatchNormalization, Dropout,
    Flatten, Dense) and a network trained by gradient descent (see
    :mod:`pyx_cnn.network`).
optim, losses, schedules, callbacks
    Optimisers (SGD, RMSprop, Adam, AdamW), losses (and ``losses.Loss``, the
    base class of a loss of your own), learning-rate schedules and ``fit``
    callbacks (EarlyStopping, ModelCheckpoint, CSVLogger).
datasets
    Digits, faces, MNIST and image folders as channels-last arrays.
gradcheck
    Finite-difference check of a layer's or a network's gradients.
"""
import os as _os


def _raise_build_error(exc):
    """Explain a failed import of the compiled extensions (as scikit-learn does).

    The chained traceback is left out: the message says what happened and its
    last line says what to do.
    """
    folder = _os.path.dirname(_os.path.abspath(__file__))
    source_tree = _os.path.exists(_os.path.join(folder, "..", "setup.py"))
    where = "its source folder " if source_tree else ""
    here = _os.path.dirname(folder) == _os.getcwd()
    hidden_by = "the pyx_cnn folder in the current directory" if here else \
        "a pyx_cnn source folder in the current directory or on PYTHONPATH"
    raise ImportError(
        f"{exc}: pyx_cnn is being imported from {where}{folder}, which holds no built "
        "extensions (the compiled _*.so modules).\n"
        f"If you installed pyx_cnn with pip, {hidden_by} hides the installed package; "
        "to work on pyx_cnn itself, build the extensions in place "
        "(`pip install -e .` or `python setup.py build_ext --inplace`).\n"
        "To fix: run Python from another directory (e.g. `cd ..`), or run "
        "`pip install -e .` in the repository root."
    ) from None


try:
    from ._threads import get_num_threads, set_num_threads
except ImportError as _exc:  # no compiled extension next to this file
    _raise_build_error(_exc)

from .functional import (
    avg_pooling, conv, conv_, leaky_relu, pooling, relu, sigmoid, softmax, tanh,
)
from . import layers
from .network import NeuralNetwork
from . import callbacks, datasets, losses, optim, schedules
from .gradcheck import gradcheck

__version__ = "0.1.0"

__all__ = [
    "conv",
    "conv_",
    "relu",
    "pooling",
    "avg_pooling",
    "sigmoid",
    "tanh",
    "leaky_relu",
    "softmax",
    "set_num_threads",
    "get_num_threads",
    "show_config",
    "version_line",
    "NeuralNetwork",
    "layers",
    "optim",
    "losses",
    "schedules",
    "callbacks",
    "datasets",
    "gradcheck",
]


def show_config():
    """Build and machine information, as a dict (also what ``pyx-cnn --version`` prints).

    Returns
    -------
    config : dict
        ``openmp`` (kernels threaded), ``debug_build`` (bounds checks compiled
        in), ``num_threads`` and ``cpu`` (SIMD features of the running CPU).
    """
    from . import _threads

    return {
        "version": __version__,
        "openmp": _threads._openmp_enabled(),
        "debug_build": _threads._debug_build(),
        "num_threads": get_num_threads(),
        "cpu": _threads._cpu_features(),
    }


def _simd_level(cpu):
    """The widest SIMD instruction set the kernels use on this CPU."""
    if cpu.get("avx512f") and cpu.get("avx2") and cpu.get("fma"):
        return "AVX-512"
    if cpu.get("avx2") and cpu.get("fma"):
        return "AVX2"
    return "SSE2"


def version_line():
    """One line for ``pyx-cnn --version``, e.g. ``pyx_cnn 0.1.0 (OpenMP, AVX2, 2 threads)``.

    Returns
    -------
    line : str
        The version, whether the kernels are threaded with OpenMP, the widest
        SIMD instruction set the CPU offers the kernels (AVX-512, AVX2 or SSE2),
        the thread count, and "bounds-checked build" for a PYX_CNN_DEBUG build.
    """
    config = show_config()
    parts = [
        "OpenMP" if config["openmp"] else "no OpenMP",
        _simd_level(config["cpu"]),
        f"{config['num_threads']} thread{'s' if config['num_threads'] != 1 else ''}",
    ]
    if config["debug_build"]:
        parts.append("bounds-checked build")
    return f"pyx_cnn {config['version']} ({', '.join(parts)})"
