"""The tutorial's pipeline: three conv/ReLU/pool layers on scikit-image's chelsea.

Layer 1 uses the tutorial's two 3x3 edge filters, layer 2 three random 5x5
filters and layer 3 one random 7x7 filter, drawn from
``numpy.random.default_rng(seed)``. The tutorial draws them uniform in [0, 1);
here each random filter is centred: its weights sum to zero, like the edge
filters'. Layers 2 and 3 read ReLU output, which is never negative, so a
filter whose weights have a positive sum adds a multiple of the local
brightness to every output: its map is nearly all positive and ReLU changes
nothing. With a negative sum the map is nearly all negative and ReLU leaves it
black. A zero-sum filter answers to patterns (edges, textures), not to
brightness, and ReLU keeps about half of its map.

Needs scikit-image (``pip install "pyx_cnn[demo]"``) for the picture.
"""
import time
from pathlib import Path

import numpy as np

from ._optional import require
from .functional import conv, pooling, relu

__all__ = ["edge_filters", "load_image", "tutorial_filters", "run_pipeline", "run_demo"]


def edge_filters():
    """The tutorial's layer-1 bank, shape (2, 3, 3): vertical then horizontal edges."""
    bank = np.zeros((2, 3, 3))
    bank[0] = [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]
    bank[1] = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]
    return bank


def load_image(path=None):
    """Grey image as float64 (H, W): `path` if given, else scikit-image's chelsea.

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        `path` is not an image file scikit-image can read.
    MissingExtraError
        scikit-image is not installed.
    """
    skimage = require("skimage", "scikit-image", "demo", "pyx_cnn.demo")
    require("skimage.color", "scikit-image", "demo", "pyx_cnn.demo")
    require("skimage.util", "scikit-image", "demo", "pyx_cnn.demo")

    if path is None:
        rgb = require("skimage.data", "scikit-image", "demo", "pyx_cnn.demo").chelsea()
    else:
        imread = require("skimage.io", "scikit-image", "demo", "pyx_cnn.demo").imread
        if not Path(path).is_file():
            raise FileNotFoundError(f"image: no such file: {str(path)!r}")
        try:
            rgb = imread(path)
        except Exception as exc:  # each image plugin raises its own error type
            raise ValueError(f"image: cannot read {str(path)!r} as an image ({exc})") from exc
        if rgb.ndim not in (2, 3) or min(rgb.shape[:2]) < 40:
            raise ValueError(f"image: expected a picture of at least 40x40 pixels, got an "
                             f"array of shape {rgb.shape} from {str(path)!r}")
    if rgb.ndim == 3:
        if rgb.shape[-1] == 4:
            rgb = skimage.color.rgba2rgb(rgb)
        return skimage.color.rgb2gray(rgb)
    return skimage.util.img_as_float(rgb)


def tutorial_filters(seed=0):
    """The three filter banks: (2, 3, 3), (3, 5, 5, 2), (1, 7, 7, 3).

    Layer 1: the tutorial's edge filters. Layers 2 and 3: standard normal
    random filters from `seed`, each centred so that its weights sum to zero
    (see the module's description).
    """
    rng = np.random.default_rng(seed)
    return [edge_filters(), _centred(rng.standard_normal((3, 5, 5, 2))),
            _centred(rng.standard_normal((1, 7, 7, 3)))]


def _centred(bank):
    """`bank` (F, kh, kw, C) with each filter's mean subtracted: every filter sums to 0."""
    return bank - bank.mean(axis=(1, 2, 3), keepdims=True)


def run_pipeline(image, filters):
    """Run conv -> ReLU -> pool for each bank.

    Returns
    -------
    layers : list of dict
        One dict per layer: ``{"conv": ..., "relu": ..., "pool": ...}`` arrays
        and ``"seconds"``: {stage: seconds}.
    """
    layers = []
    x = image
    for bank in filters:
        stages, seconds = {}, {}
        for name, fn in (("conv", lambda a: conv(a, bank)), ("relu", relu),
                         ("pool", lambda a: pooling(a, 2, 2))):
            t0 = time.perf_counter()
            x = fn(x)
            seconds[name] = time.perf_counter() - t0
            stages[name] = x
        stages["seconds"] = seconds
        layers.append(stages)
    return layers


def run_demo(image_path=None, out_dir="demo_out", seed=0, plots=True, echo=print):
    """Run the tutorial pipeline, print shapes and times, write one PNG per layer.

    Returns
    -------
    layers : list of dict
        As :func:`run_pipeline`.
    """
    image = load_image(image_path)
    echo(f"input image {image.shape} {image.dtype}")
    filters = tutorial_filters(seed)
    layers = run_pipeline(image, filters)
    out = Path(out_dir)
    if plots:
        out.mkdir(parents=True, exist_ok=True)
    for number, layer in enumerate(layers, start=1):
        sec = layer["seconds"]
        echo(
            f"layer {number}: conv {layer['conv'].shape} {sec['conv'] * 1e3:.2f} ms, "
            f"relu {sec['relu'] * 1e3:.2f} ms, "
            f"pool {layer['pool'].shape} {sec['pool'] * 1e3:.2f} ms"
        )
        if plots:
            from .plot import plot_feature_maps
            import matplotlib.pyplot as plt

            path = out / f"layer{number}.png"
            inputs = image if number == 1 else layers[number - 2]["pool"]
            bank = filters[number - 1]
            kh, kw = bank.shape[1:3]
            fig = plot_feature_maps(
                {k: layer[k] for k in ("conv", "relu", "pool")},
                title=f"Layer {number}: convolution, ReLU, then 2x2 max-pooling",
                path=path, inputs=inputs, filters=bank,
                captions={"conv": f"convolution with\nthe {kh}x{kw} filters",
                          "relu": "ReLU: max(x, 0)\n(negatives set to 0)",
                          "pool": "2x2 max-pooling\n(half the size)"},
            )
            plt.close(fig)
            echo(f"  wrote {path}")
    return layers
