"""``pyx-cnn train``: a small CNN on scikit-learn's bundled digits (or another data set).

The 1797 8x8 images (scaled to [0, 1]) are split 80/20, stratified, from the
seed; the network is::

    Conv2D(8, 3) -> ReLU -> MaxPool2D(2, 2) -> Flatten -> Dense(10, softmax)

trained with softmax cross-entropy and SGD. The 20% test split is never
trained on; its loss and accuracy are recorded after every epoch (as ``fit``'s
``validation_data``) and drawn as the "test" curve. The command prints the test
accuracy and writes into the output folder:

- ``model.npz``: the trained network (:meth:`NeuralNetwork.load` reads it),
- ``loss.png``: loss and accuracy per epoch, training and test,
- ``confusion.png``: which digit the network answers for each true digit (test split),
- ``filters.png``: the learned filters of the first Conv2D layer (eight of 3x3 for
  the small network).

``epochs`` must be at least 1 (0 epochs would save an untrained model with no curve
to draw). Needs scikit-learn (``pip install "pyx_cnn[train]"``) for the digits.

``dataset`` may also be ``"faces"`` (scikit-image's 200 face / non-face
patches), ``"mnist"`` or the path of an image folder (one sub-folder per
class, images resized to ``image_size``), all from :mod:`pyx_cnn.datasets`;
``image_size`` resizes the images of the named data sets too.
Their network is built for their shape by :func:`dataset_network`: one or two
``Conv2D -> ReLU -> MaxPool2D`` blocks, then ``Dense(1, sigmoid)`` (binary
cross-entropy) for two classes or ``Dense(K, softmax)``.
"""
import numbers
import os
import time

import numpy as np

from . import layers, mpi
from ._optional import require
from .network import NeuralNetwork

__all__ = ["load_digits_split", "digits_network", "dataset_network", "load_dataset_split",
           "run_train"]

#: the data sets ``pyx-cnn train --dataset`` knows by name (else: an image folder)
DATASETS = ("digits", "faces", "mnist")

#: the smallest image side the networks of :func:`model_network` take
#: (a 3x3 convolution, then 2x2 pooling)
MIN_IMAGE_SIDE = 4


def load_digits_split(seed=0, test_size=0.2):
    """Digits as ``(X_train, X_test, y_train, y_test)``, X of shape (N, 8, 8, 1) in [0, 1]."""
    datasets = require("sklearn.datasets", "scikit-learn", "train", "pyx_cnn.training")
    model_selection = require("sklearn.model_selection", "scikit-learn", "train",
                              "pyx_cnn.training")
    train_test_split = model_selection.train_test_split

    digits = datasets.load_digits()
    X = (digits.images / 16.0)[..., np.newaxis]
    return train_test_split(X, digits.target, test_size=test_size, stratify=digits.target,
                            random_state=seed)


def digits_network(seed=0, dtype="float64"):
    """The small CNN of ``pyx-cnn train``, initialised from `seed`."""
    return NeuralNetwork([
        layers.Conv2D(8, 3),
        layers.ReLU(),
        layers.MaxPool2D(2, 2),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ], input_shape=(8, 8, 1), seed=seed, dtype=dtype)


def dataset_network(input_shape, n_classes, seed=0, dtype="float64"):
    """A small CNN for images of `input_shape` ``(H, W, C)`` and `n_classes` classes.

    ``Conv2D(8, 3) -> ReLU -> MaxPool2D(2, 2)``, a second block
    ``Conv2D(16, 3) -> ReLU -> MaxPool2D(2, 2)`` when the maps are still larger
    than 12x12, ``Flatten``, then ``Dense(1, activation="sigmoid")`` for two
    classes (binary cross-entropy) or ``Dense(n_classes, activation="softmax")``.
    """
    h, w = input_shape[:2]
    stack = [layers.Conv2D(8, 3), layers.ReLU(), layers.MaxPool2D(2, 2)]
    h, w = (h - 2) // 2, (w - 2) // 2
    if min(h, w) > 12:
        stack += [layers.Conv2D(16, 3), layers.ReLU(), layers.MaxPool2D(2, 2)]
    stack.append(layers.Flatten())
    stack.append(layers.Dense(1, activation="sigmoid") if n_classes == 2
                 else layers.Dense(n_classes, activation="softmax"))
    return NeuralNetwork(stack, input_shape=tuple(input_shape), seed=seed, dtype=dtype)


#: the networks ``pyx-cnn train --model`` builds (besides the default "small")
MODELS = ("small", "bn", "all")


def model_network(model, input_shape, n_classes, seed=0, dtype="float64"):
    """The network ``pyx-cnn train --model`` trains on images of `input_shape` ``(H, W, C)``.

    ``"small"``: :func:`digits_network` for 8x8 digits, else :func:`dataset_network`.
    ``"bn"``: a LeNet-style network with batch normalisation and dropout::

        Conv2D(16, 3, same) BatchNormalization ReLU MaxPool2D
        Conv2D(32, 3, same) BatchNormalization ReLU MaxPool2D  Flatten
        Dense(64) BatchNormalization ReLU Dropout(0.3)  Dense(classes)

    ``"all"``: the layers of every kind::

        Conv2D(16, 3, same) BatchNormalization LeakyReLU(0.1) AvgPool2D
        Conv2D(32, 3, same, dilation 2) Tanh MaxPool2D(2, 1) Dropout(0.2) GlobalAvgPool2D
        Dense(32) BatchNormalization ReLU  Dense(classes) Softmax

    The last layer is ``Dense(1, activation="sigmoid")`` for two classes
    (binary cross-entropy), else softmax over the classes.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if model == "small":
        if tuple(input_shape) == (8, 8, 1) and n_classes == 10:
            return digits_network(seed, dtype)
        return dataset_network(input_shape, n_classes, seed, dtype)
    two = n_classes == 2
    head = [layers.Dense(1, activation="sigmoid")] if two else [layers.Dense(n_classes)]
    if model == "bn":
        stack = [layers.Conv2D(16, 3, padding="same"), layers.BatchNormalization(),
                 layers.ReLU(), layers.MaxPool2D(2, 2),
                 layers.Conv2D(32, 3, padding="same"), layers.BatchNormalization(),
                 layers.ReLU(), layers.MaxPool2D(2, 2), layers.Flatten(),
                 layers.Dense(64), layers.BatchNormalization(), layers.ReLU(),
                 layers.Dropout(0.3)]
        if not two:
            head = [layers.Dense(n_classes, activation="softmax")]
    else:
        stack = [layers.Conv2D(16, 3, padding="same"), layers.BatchNormalization(),
                 layers.LeakyReLU(0.1), layers.AvgPool2D(2, 2),
                 layers.Conv2D(32, 3, padding="same", dilation=2), layers.Tanh(),
                 layers.MaxPool2D(2, 1), layers.Dropout(0.2), layers.GlobalAvgPool2D(),
                 layers.Dense(32), layers.BatchNormalization(), layers.ReLU()]
        if not two:
            head.append(layers.Softmax())
    return NeuralNetwork(stack + head, input_shape=tuple(input_shape), seed=seed, dtype=dtype)


def _split(X, y, seed, test_size=0.2):
    model_selection = require("sklearn.model_selection", "scikit-learn", "train",
                              "pyx_cnn.training")
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
    transform = require("skimage.transform", "scikit-image", "train", "pyx_cnn.training")
    # one call for the whole batch: the sample and channel axes keep their size,
    # so each image is resized on its own
    return transform.resize(X, (len(X), *image_size, X.shape[3]), anti_aliasing=True)


def load_dataset_split(dataset="digits", seed=0, image_size=None, grayscale=False):
    """``(X_train, X_test, y_train, y_test, class_names)`` of a data set, split 80/20.

    Parameters
    ----------
    dataset : str
        ``"digits"``, ``"faces"``, ``"mnist"`` or the path of an image folder.
    seed : int
        Seed of the (stratified) split.
    image_size : (int, int), optional
        ``(H, W)`` the images are resized to, for every data set (default:
        the data set's own size, 8x8 for the digits, 25x25 for the faces,
        28x28 for MNIST; 32x32 for an image folder).
    grayscale : bool, optional
        For an image folder: one channel instead of three. The named data
        sets are grey already (one channel).
    """
    from . import datasets

    if dataset == "digits":
        X_train, X_test, y_train, y_test = load_digits_split(seed)
        return (_resized(X_train, image_size), _resized(X_test, image_size), y_train, y_test,
                [str(d) for d in range(10)])
    if dataset == "faces":
        X, y = datasets.load_faces()
        X = _resized(X, image_size)
        names = ["non-face", "face"]
    elif dataset == "mnist":
        X, y = datasets.load_mnist()
        X = _resized(X, image_size)
        names = [str(d) for d in range(10)]
    elif os.path.isdir(dataset):
        X, y, names = datasets.load_image_folder(dataset, image_size or (32, 32), grayscale)
        if len(names) < 2:
            raise ValueError(f"{dataset!r} holds one class folder ({names[0]!r}): training "
                             "needs at least two")
    else:
        raise ValueError(f"dataset must be {', '.join(DATASETS)} or an image folder, got "
                         f"{dataset!r} (no such folder)")
    return (*_split(X, y, seed), list(names))


def _not_a_folder(path):
    what = "a file, not a folder" if os.path.isfile(path) else "not a folder"
    return f"{path!r} is {what}"


def _output_folder_problem(path):
    """What keeps `path` from being an output folder (a sentence), or None.

    The folder may exist (then it must be writable) or not (then the nearest
    existing folder above it must be writable, so that it can be made).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if not os.access(path, os.W_OK | os.X_OK):
            return f"cannot write in {path!r} (no permission)"
        return None
    if os.path.lexists(path):
        return _not_a_folder(path)
    parent = os.path.dirname(os.path.normpath(path)) or "."
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent) or "."
    if not os.path.isdir(parent):
        return f"{_not_a_folder(parent)}: cannot make {path!r} in it"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot make {path!r}: no permission to write in {parent!r}"
    return None


def run_train(epochs=30, out_dir="train_out", seed=0, batch_size=32, learning_rate=0.1,
              verbose=True, dataset="digits", image_size=None, grayscale=False,
              model="small"):
    """Train the digits CNN, print the test accuracy, save the model and the loss curve.

    Returns
    -------
    result : dict
        ``test_accuracy``, ``test_loss``, ``seconds`` (training time),
        ``model_path``, ``plot_path`` (the loss curve), ``confusion_path``,
        ``filters_path`` and ``history`` (the History dict; its ``val_*``
        series are measured on the test split).

    Other parameters
    ----------------
    dataset : str, optional
        ``"digits"`` (default), ``"faces"``, ``"mnist"`` or an image folder
        (see :func:`load_dataset_split`).
    image_size : (int, int), optional
        ``(H, W)`` the images of any data set are resized to, each at least
        :data:`MIN_IMAGE_SIDE` (default: the data set's own size; 32x32 for
        an image folder).
    grayscale : bool, optional
        For an image folder: one channel (the named data sets are grey already).
    model : {"small", "bn", "all"}, optional
        The network (see :func:`model_network`).

    Raises
    ------
    ValueError
        `epochs` or `batch_size` is below 1, `learning_rate` is not positive,
        `image_size` is not a pair of integers >= :data:`MIN_IMAGE_SIDE`, or
        `out_dir` is a file or cannot be made: all checked before any data is
        loaded.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) \
            or not np.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if image_size is not None:
        if not isinstance(image_size, (tuple, list)) or len(image_size) != 2 or any(
                isinstance(v, bool) or not isinstance(v, numbers.Integral)
                or v < MIN_IMAGE_SIDE for v in image_size):
            raise ValueError(f"image_size must be a pair (H, W) of integers, each at least "
                             f"{MIN_IMAGE_SIDE}, got {image_size!r}")
        image_size = (int(image_size[0]), int(image_size[1]))
    problem = _output_folder_problem(out_dir)
    if problem:
        raise ValueError(f"out_dir: {problem}")
    from .plot import plot_confusion_matrix, plot_filters, plot_history

    X_train, X_test, y_train, y_test, class_names = load_dataset_split(
        dataset, seed, image_size, grayscale)
    # under `mpiexec -n k`: each rank trains on its shard, rank 0 reports and writes
    comm = mpi.comm_from_env()
    n_train = len(X_train)
    if comm is not None:
        X_train, y_train = mpi.shard(X_train, y_train, comm)
        verbose = verbose and mpi.is_root(comm)
    name = dataset if dataset in DATASETS else os.path.basename(os.path.normpath(dataset))
    net = model_network(model, X_train.shape[1:], len(class_names), seed)
    if verbose:
        net.summary()
        what = "digits" if dataset == "digits" else f"{name} images"
        training = f"{n_train} {what}"
        if comm is not None:
            ranks, per_rank = comm.Get_size(), len(X_train)
            left_out = n_train - ranks * per_rank
            training += (f" split over {ranks} ranks ({per_rank} per rank"
                         + (f"; {left_out} left out so that every rank holds as many)"
                            if left_out else ")"))
        print(f"training on {training}, testing on {len(X_test)} others "
              "(test loss and accuracy recorded after each epoch, never trained on)")
    start = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate, validation_data=(X_test, y_test),
                      verbose=verbose, comm=comm)
    seconds = time.perf_counter() - start
    scores = net.evaluate(X_test, y_test)
    if not mpi.is_root(comm):
        return {"test_accuracy": scores.get("accuracy"), "test_loss": scores["loss"],
                "seconds": seconds, "history": history.history}
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "model.npz")
    plot_path = os.path.join(out_dir, "loss.png")
    confusion_path = os.path.join(out_dir, "confusion.png")
    filters_path = os.path.join(out_dir, "filters.png")
    net.save(model_path)
    import matplotlib.pyplot as plt

    # every title names the data set and the model the figure is about
    about = f"model {model!r} on {name}"
    fig = plot_history(history, title=f"{about}: loss and accuracy per epoch",
                       path=plot_path, val_label="test")
    plt.close(fig)
    predicted = net.predict_classes(X_test)
    fig = plot_confusion_matrix(y_test, predicted, path=confusion_path,
                                class_names=class_names,
                                title=f"{about}: test split ({len(y_test)} images)")
    plt.close(fig)
    first = net.layers[0]
    n_filters, kh, kw = first.params["W"].shape[:3]
    fig = plot_filters(first, path=filters_path,
                       title=f"{about}: the {n_filters} learned {kh}x{kw} filters "
                             "of the first Conv2D layer")
    plt.close(fig)
    print(f"test accuracy: {scores['accuracy']:.4f}  (test loss {scores['loss']:.4f}, "
          f"{epochs} epochs in {seconds:.2f} s)")
    print(f"saved {model_path}, {plot_path}, {confusion_path} and {filters_path}")
    return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "seconds": seconds, "model_path": model_path, "plot_path": plot_path,
            "confusion_path": confusion_path, "filters_path": filters_path,
            "history": history.history}
