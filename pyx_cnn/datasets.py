"""Data sets as channels-last arrays ready for :meth:`NeuralNetwork.fit`.

Each loader returns ``(X, y)``: ``X`` float64 in [0, 1] of shape
``(N, H, W, C)``, ``y`` int64 class labels ``(N,)``.

- :func:`load_digits`: scikit-learn's bundled 8x8 digits, ``(1797, 8, 8, 1)``, labels 0-9.
- :func:`load_faces`: scikit-image's bundled face / non-face patches
  (``skimage.data.lfw_subset``), ``(200, 25, 25, 1)``: the first 100 are
  faces (label 1), the next 100 not (label 0).
- :func:`load_mnist`: MNIST ``(70000, 28, 28, 1)`` (the first 60000 are the
  usual training set), read from IDX files in a cache folder, or fetched
  once by scikit-learn's ``fetch_openml`` into that folder.
- :func:`load_image_folder`: your own images, one sub-folder per class.

Split into training and test parts (80/20, stratified, from a seed), as
``pyx-cnn train`` uses them:

- :func:`load_digits_split`: the digits as ``(X_train, X_test, y_train, y_test)``;
- :func:`load_dataset_split`: any of the above by name (:data:`DATASETS`) or an
  image folder, resized if asked, with the class names.

The loaders need scikit-learn or scikit-image: ``pip install "pyx_cnn[datasets]"``.
"""
import gzip
import os
import struct
import warnings

import numpy as np

from ._optional import require
from ._validation import check_int

__all__ = ["load_digits", "load_faces", "load_mnist", "load_image_folder",
           "load_digits_split", "load_dataset_split", "IMAGE_EXTENSIONS", "DATASETS"]

#: file name endings :func:`load_image_folder` reads (case-insensitive); other files are skipped
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm",
                    ".ppm")

#: the data sets :func:`load_dataset_split` (and ``pyx-cnn train --dataset``) knows by
#: name; any other name is read as the path of an image folder
DATASETS = ("digits", "faces", "mnist")


def load_digits():
    """scikit-learn's 1797 digits as ``(X, y)``: X ``(1797, 8, 8, 1)`` in [0, 1], y 0-9."""
    datasets = require("sklearn.datasets", "scikit-learn", "datasets",
                       "pyx_cnn.datasets.load_digits")
    digits = datasets.load_digits()
    X = (digits.images / 16.0)[..., np.newaxis]
    return np.ascontiguousarray(X, dtype=np.float64), digits.target.astype(np.int64)


def load_faces():
    """scikit-image's 200 face / non-face patches as ``(X, y)``.

    Returns
    -------
    X : ndarray, shape (200, 25, 25, 1), in [0, 1]
    y : ndarray of int64, shape (200,)
        1 for a face (the first 100), 0 for a non-face (the next 100).
    """
    data = require("skimage.data", "scikit-image", "datasets", "pyx_cnn.datasets.load_faces")
    images = np.asarray(data.lfw_subset(), dtype=np.float64)
    if images.max() > 1:
        images = images / 255.0
    X = np.clip(images, 0.0, 1.0)[..., np.newaxis]
    y = np.zeros(len(X), dtype=np.int64)
    y[:100] = 1
    return np.ascontiguousarray(X), y


_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def default_data_home():
    """Where the data sets are cached: ``$PYX_CNN_DATA``, else ``~/.cache/pyx_cnn``."""
    return os.environ.get("PYX_CNN_DATA") or os.path.join(
        os.path.expanduser("~"), ".cache", "pyx_cnn")


def read_idx(path):
    """The array in an IDX file (the MNIST format), plain or gzip-compressed.

    Raises
    ------
    ValueError
        When the file is not a valid IDX file (the message names it).
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            header = fh.read(4)
            if len(header) != 4 or header[:2] != b"\x00\x00" or header[2] != 0x08:
                raise ValueError("not an IDX file of unsigned bytes")
            ndim = header[3]
            dims = struct.unpack(f">{ndim}I", fh.read(4 * ndim))
            data = np.frombuffer(fh.read(), dtype=np.uint8)
    except (OSError, EOFError, struct.error, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)!r} is not a readable IDX file: {exc}") from None
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{os.fspath(path)!r} holds {data.size} values, its header "
                         f"declares {dims}")
    return data.reshape(dims)


def _find_idx(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def load_mnist(data_home=None, download=True):
    """MNIST as ``(X, y)``: X ``(70000, 28, 28, 1)`` in [0, 1], y 0-9.

    The first 60000 samples are the usual training set, the last 10000 the
    test set (as in OpenML's ``mnist_784``).

    Parameters
    ----------
    data_home : str or path-like, optional
        The cache folder (default :func:`default_data_home`). The four IDX
        files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, optionally
        ``.gz``) in ``<data_home>/mnist`` are read when present.
    download : bool, optional
        Otherwise fetch MNIST once with scikit-learn's ``fetch_openml`` (it
        caches under `data_home`). False raises FileNotFoundError instead.

    Raises
    ------
    FileNotFoundError
        When the files are not in the cache folder and MNIST cannot be
        downloaded (no network, or `download` is False); the message names
        the folder to put the IDX files in.
    """
    data_home = os.fspath(data_home) if data_home is not None else default_data_home()
    folder = os.path.join(data_home, "mnist")
    paths = {key: _find_idx(folder, stem) for key, stem in _MNIST_FILES.items()}
    if all(paths.values()):
        images = [read_idx(paths["train_images"]), read_idx(paths["test_images"])]
        labels = [read_idx(paths["train_labels"]), read_idx(paths["test_labels"])]
        for im, lab in zip(images, labels):
            if im.ndim != 3 or lab.ndim != 1 or len(im) != len(lab):
                raise ValueError(f"the MNIST files in {folder!r} do not match: images "
                                 f"{im.shape}, labels {lab.shape}")
        X = np.concatenate(images).astype(np.float64) / 255.0
        y = np.concatenate(labels).astype(np.int64)
        return X[..., np.newaxis], y
    if not download:
        missing = [stem for key, stem in _MNIST_FILES.items() if not paths[key]]
        raise FileNotFoundError(f"no MNIST files {missing} in {folder!r} (and download=False)")
    datasets = require("sklearn.datasets", "scikit-learn", "datasets",
                       "pyx_cnn.datasets.load_mnist")
    try:
        with warnings.catch_warnings():
            # fetch_openml warns at each retry; the error below says it once
            warnings.filterwarnings("ignore", message="A network error occurred")
            bunch = datasets.fetch_openml("mnist_784", version=1, data_home=data_home,
                                          as_frame=False, parser="liac-arff")
    except OSError as exc:    # URLError, a timeout, a refused connection: no download
        reason = " ".join(str(getattr(exc, "reason", None) or exc).split())
        raise FileNotFoundError(
            f"MNIST is not on this machine and could not be downloaded ({reason}): put "
            f"the IDX files {', '.join(_MNIST_FILES.values())} (or their .gz) in "
            f"{folder!r}") from None
    X = np.asarray(bunch.data, dtype=np.float64).reshape(-1, 28, 28, 1) / 255.0
    y = np.asarray(bunch.target).astype(np.int64)
    return X, y


def load_image_folder(path, image_size, grayscale=False):
    """Images in one sub-folder per class, resized, as ``(X, y, class_names)``.

    Parameters
    ----------
    path : str or path-like
        A folder holding one sub-folder per class (``cats/``, ``dogs/``, ...);
        the files ending in :data:`IMAGE_EXTENSIONS` are read, others and
        hidden files skipped.
    image_size : (int, int)
        ``(H, W)`` every image is resized to (scikit-image's
        ``transform.resize``, with anti-aliasing).
    grayscale : bool, optional
        One channel (luminance); else three (RGB: grey images repeated,
        an alpha channel dropped).

    Returns
    -------
    X : ndarray, shape (N, H, W, 1 or 3), float64 in [0, 1]
    y : ndarray of int64, shape (N,)
        The index of the image's folder in `class_names`.
    class_names : list of str
        The sub-folder names, sorted.

    Raises
    ------
    FileNotFoundError
        When `path` is not a folder.
    ValueError
        When it has no class sub-folder or no image, or an image cannot be
        read (the message names the file).
    """
    io = require("skimage.io", "scikit-image", "datasets",
                 "pyx_cnn.datasets.load_image_folder")
    transform = require("skimage.transform", "scikit-image", "datasets",
                        "pyx_cnn.datasets.load_image_folder")
    color = require("skimage.color", "scikit-image", "datasets",
                    "pyx_cnn.datasets.load_image_folder")
    path = os.fspath(path)
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise ValueError(f"image_size must be a pair (H, W), got {image_size!r}")
    size = (check_int(image_size[0], "image_size H", 1), check_int(image_size[1],
                                                                     "image_size W", 1))
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no image folder at {path!r}")
    class_names = sorted(d for d in os.listdir(path)
                         if not d.startswith(".") and os.path.isdir(os.path.join(path, d)))
    if not class_names:
        raise ValueError(f"{path!r} has no class sub-folders (expected one folder of "
                         "images per class)")
    files = []
    for label, name in enumerate(class_names):
        folder = os.path.join(path, name)
        for file in sorted(os.listdir(folder)):
            full = os.path.join(folder, file)
            if not file.startswith(".") and file.lower().endswith(IMAGE_EXTENSIONS) \
                    and os.path.isfile(full):
                files.append((full, label))
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders "
                         f"of {path!r}: {class_names}")
    channels = 1 if grayscale else 3
    X = np.empty((len(files), size[0], size[1], channels))
    y = np.empty(len(files), dtype=np.int64)
    for i, (file, label) in enumerate(files):
        try:
            image = io.imread(file)
        except Exception as exc:   # the readers raise many kinds of errors
            raise ValueError(f"cannot read image {file!r}: {' '.join(str(exc).split())}") \
                from None
        X[i] = _to_channels(image, channels, size, file, transform, color)
        y[i] = label
    return X, y, class_names


def _to_channels(image, channels, size, file, transform, color):
    """One image as float ``size + (channels,)`` in [0, 1]."""
    image = np.asarray(image)
    if image.dtype.kind not in "uifb" or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"image {file!r} has unsupported shape {image.shape} / dtype "
                         f"{image.dtype}")
    if image.dtype.kind == "u":
        image = image / float(np.iinfo(image.dtype).max)
    else:
        image = image.astype(np.float64)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim == 3 and image.shape[2] == 2:   # grey + alpha
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] != 3:
        raise ValueError(f"image {file!r} has {image.shape[2]} channels")
    if channels == 1:
        image = color.rgb2gray(image) if image.ndim == 3 else image
        image = image[..., np.newaxis]
    elif image.ndim == 2:
        image = np.repeat(image[..., np.newaxis], 3, axis=2)
    resized = transform.resize(image, size + (channels,), anti_aliasing=True)
    return np.clip(resized, 0.0, 1.0)


# -- training and test splits (``pyx-cnn train``)

def load_digits_split(seed=0, test_size=0.2):
    """Digits as ``(X_train, X_test, y_train, y_test)``, X of shape (N, 8, 8, 1) in [0, 1].

    The split is stratified (each digit in the same proportion on both
    sides) and drawn from `seed`; `test_size` is the fraction held out.
    """
    datasets = require("sklearn.datasets", "scikit-learn", "train",
                       "pyx_cnn.datasets.load_digits_split")
    model_selection = require("sklearn.model_selection", "scikit-learn", "train",
                              "pyx_cnn.datasets.load_digits_split")
    digits = datasets.load_digits()
    X = (digits.images / 16.0)[..., np.newaxis]
    return model_selection.train_test_split(X, digits.target, test_size=test_size,
                                            stratify=digits.target, random_state=seed)


def _split(X, y, seed, test_size=0.2):
    model_selection = require("sklearn.model_selection", "scikit-learn", "train",
                              "pyx_cnn.datasets.load_dataset_split")
    try:
        return model_selection.train_test_split(X, y, test_size=test_size, stratify=y,
                                                random_state=seed)
    except ValueError:   # a class too small to stratify: a plain random split
        return model_selection.train_test_split(X, y, test_size=test_size, random_state=seed)


def _resized(X, image_size):
    """Images `X` of shape (N, H, W, C) resized to `image_size` ``(H2, W2)``.

    Each image is resized as scikit-image's ``transform.resize`` does it
    (bilinear, anti-aliased when shrinking); `X` is returned as it is when
    `image_size` is None or already its size.
    """
    if image_size is None or tuple(X.shape[1:3]) == tuple(image_size):
        return X
    transform = require("skimage.transform", "scikit-image", "train",
                        "pyx_cnn.datasets.load_dataset_split")
    # one call for the whole batch: the sample and channel axes keep their size,
    # so each image is resized on its own
    return transform.resize(X, (len(X), *image_size, X.shape[3]), anti_aliasing=True)


def load_dataset_split(dataset="digits", seed=0, image_size=None, grayscale=False):
    """``(X_train, X_test, y_train, y_test, class_names)`` of a data set, split 80/20.

    Parameters
    ----------
    dataset : str
        ``"digits"``, ``"faces"``, ``"mnist"`` (:data:`DATASETS`) or the path
        of an image folder (:func:`load_image_folder`).
    seed : int
        Seed of the (stratified) split.
    image_size : (int, int), optional
        ``(H, W)`` the images are resized to, for every data set (default:
        the data set's own size, 8x8 for the digits, 25x25 for the faces,
        28x28 for MNIST; 32x32 for an image folder).
    grayscale : bool, optional
        For an image folder: one channel instead of three. The named data
        sets are grey already (one channel).

    Raises
    ------
    ValueError
        When `dataset` is neither a known name nor a folder, or the folder
        holds fewer than two classes.
    """
    if dataset == "digits":
        X_train, X_test, y_train, y_test = load_digits_split(seed)
        return (_resized(X_train, image_size), _resized(X_test, image_size), y_train, y_test,
                [str(d) for d in range(10)])
    if dataset == "faces":
        X, y = load_faces()
        X = _resized(X, image_size)
        names = ["non-face", "face"]
    elif dataset == "mnist":
        X, y = load_mnist()
        X = _resized(X, image_size)
        names = [str(d) for d in range(10)]
    elif os.path.isdir(dataset):
        X, y, names = load_image_folder(dataset, image_size or (32, 32), grayscale)
        if len(names) < 2:
            raise ValueError(f"{dataset!r} holds one class folder ({names[0]!r}): training "
                             "needs at least two")
    else:
        raise ValueError(f"dataset must be {', '.join(DATASETS)} or an image folder, got "
                         f"{dataset!r} (no such folder)")
    return (*_split(X, y, seed), list(names))
