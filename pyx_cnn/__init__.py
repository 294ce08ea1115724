"""pyx_cnn: a convolutional network from scratch, with compiled kernels.

Public names
------------
conv, conv_, relu, pooling, sigmoid, softmax
    The tutorial's functions (see :mod:`pyx_cnn.functional`).
set_num_threads, get_num_threads
    Threads used by the kernels (``OMP_NUM_THREADS`` is honoured).
show_config
    How the package was built and what the CPU offers.
NeuralNetwork, layers
    Layers (Conv2D, MaxPool2D, ReLU, Sigmoid, Flatten, Dense) and a network
    trained by gradient descent (see :mod:`pyx_cnn.network`).
"""
from ._threads import get_num_threads, set_num_threads
from .functional import conv, conv_, pooling, relu, sigmoid, softmax
from . import layers
from .network import NeuralNetwork

__version__ = "0.1.0"

__all__ = [
    "conv",
    "conv_",
    "relu",
    "pooling",
    "sigmoid",
    "softmax",
    "set_num_threads",
    "get_num_threads",
    "show_config",
    "NeuralNetwork",
    "layers",
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
