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
  the small network; the first 16 of a layer of more).

``epochs`` must be at least 1 (0 epochs would save an untrained model with no curve
to draw). Needs scikit-learn (``pip install "pyx_cnn[train]"``) for the digits.

``dataset`` may also be ``"faces"`` (scikit-image's 200 face / non-face
patches), ``"mnist"`` or the path of an image folder (one sub-folder per
class, images resized to ``image_size``), all from :mod:`pyx_cnn.datasets`
(:func:`~pyx_cnn.datasets.load_dataset_split`);
``image_size`` resizes the images of the named data sets too.
Their network is built for their shape by :func:`pyx_cnn.models.dataset_network`:
one or two ``Conv2D -> ReLU -> MaxPool2D`` blocks, then ``Dense(1, sigmoid)``
(binary cross-entropy) for two classes or ``Dense(K, softmax)``.

``model`` picks a larger network (:func:`pyx_cnn.models.model_network`): ``"bn"``,
``"all"``, or ``"resnet18"`` and ``"mobilenet_v2"`` (:func:`pyx_cnn.models.resnet`
and :func:`pyx_cnn.models.mobilenet_v2` with their CIFAR stems for images under 64
pixels, in float32; they take images of 8x8 pixels or more).
"""
import numbers
import os
import tempfile
import time

import numpy as np

from . import mpi
from .datasets import DATASETS, load_dataset_split
from .models import MODEL_MIN_SIDE, MODELS, model_network

__all__ = ["run_train"]

#: the filters ``filters.png`` draws at most (a figure of 64 filters takes long to draw)
MAX_FILTERS_DRAWN = 16


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


def _make_output_folder(path):
    """Make the output folder `path` as a run would, and write and remove a small file
    in it: ``(made, problem)``.

    ``made`` lists the folders this call made, innermost first (so that a run that
    fails later can remove them again: :func:`_remove_made_folders`); ``problem``
    is what keeps `path` from being an output folder (a sentence), or None. The
    checks of :func:`_output_folder_problem` come first, but only writing is
    conclusive: ``os.access`` says yes where nothing can be made (``/proc`` for
    root, a read-only file system). Nothing is left behind when there is a problem.
    """
    problem = _output_folder_problem(path)
    if problem:
        return [], problem
    path = os.fspath(path)
    made = []
    folder = os.path.abspath(path)
    while not os.path.lexists(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(path, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".pyx-cnn-write-check-", dir=path)
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        _remove_made_folders(made)
        return [], f"cannot write in {path!r} ({exc.strerror or exc})"
    return made, None


def _remove_made_folders(made):
    """Remove the folders :func:`_make_output_folder` made, innermost first, while
    they are empty (a folder something was written in stays)."""
    for folder in made:
        try:
            os.rmdir(folder)
        except OSError:
            return


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
        (see :func:`pyx_cnn.datasets.load_dataset_split`).
    image_size : (int, int), optional
        ``(H, W)`` the images of any data set are resized to, each at least the
        model's smallest side (:data:`pyx_cnn.models.MODEL_MIN_SIDE`: 4 for the
        small networks, 8 for ``"resnet18"`` and ``"mobilenet_v2"``; default: the
        data set's own size; 32x32 for an image folder).
    grayscale : bool, optional
        For an image folder: one channel (the named data sets are grey already).
    model : {"small", "bn", "all", "resnet18", "mobilenet_v2"}, optional
        The network (see :func:`pyx_cnn.models.model_network`).

    Raises
    ------
    ValueError
        `epochs` or `batch_size` is below 1, `learning_rate` is not positive,
        `model` is not one of :data:`pyx_cnn.models.MODELS`, `image_size` is not a
        pair of integers >= the model's smallest side, or `out_dir` is a file or cannot
        be made or written in: all checked before any data is loaded (`out_dir`
        is made then, and removed again if the run fails while it is empty).
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
        smallest = MODEL_MIN_SIDE[model]
        if not isinstance(image_size, (tuple, list)) or len(image_size) != 2 or any(
                isinstance(v, bool) or not isinstance(v, numbers.Integral)
                or v < smallest for v in image_size):
            raise ValueError(f"image_size must be a pair (H, W) of integers, each at least "
                             f"{smallest} for model {model!r}, got {image_size!r}")
        image_size = (int(image_size[0]), int(image_size[1]))
    made, problem = _make_output_folder(out_dir)
    if problem:
        raise ValueError(f"out_dir: {problem}")
    try:
        return _train_and_save(epochs, out_dir, seed, batch_size, learning_rate, verbose,
                               dataset, image_size, grayscale, model)
    except BaseException:
        _remove_made_folders(made)     # a run that fails leaves no empty folder behind
        raise


def _check_last_batch(net, n_train, batch_size):
    """ValueError when the last batch of an epoch holds one sample and a batch
    normalisation of `net` sees one value per channel per sample (1x1 maps, or
    after a Dense layer): it has no batch statistics to train on."""
    from .layers import BatchNormalization

    if n_train % batch_size != 1 or n_train == 1:
        return
    for layer in net.layers:
        if (isinstance(layer, BatchNormalization)
                and int(np.prod(layer.input_shape[:-1])) == 1):
            raise ValueError(
                f"batch_size {batch_size} leaves one of the {n_train} training images in "
                "the last batch of each epoch, and a batch normalisation of this model sees "
                "a single value per channel there (1x1 maps or features): pick another "
                "batch size (--batch-size) or larger images (--image-size)")


def _train_and_save(epochs, out_dir, seed, batch_size, learning_rate, verbose, dataset,
                    image_size, grayscale, model):
    """The work of :func:`run_train`, on checked arguments."""
    from .layers import Conv2D
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
    _check_last_batch(net, len(X_train), batch_size)
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
    bank = next(layer for layer in net.layers if isinstance(layer, Conv2D)).params["W"]
    n_filters, kh, kw = bank.shape[:3]
    which = (f"the {n_filters}" if n_filters <= MAX_FILTERS_DRAWN
             else f"the first {MAX_FILTERS_DRAWN} of the {n_filters}")
    fig = plot_filters(bank[:MAX_FILTERS_DRAWN], path=filters_path,
                       title=f"{about}: {which} learned {kh}x{kw} filters "
                             "of the first Conv2D layer")
    plt.close(fig)
    print(f"test accuracy: {scores['accuracy']:.4f}  (test loss {scores['loss']:.4f}, "
          f"{epochs} epochs in {seconds:.2f} s)")
    print(f"saved {model_path}, {plot_path}, {confusion_path} and {filters_path}")
    return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "seconds": seconds, "model_path": model_path, "plot_path": plot_path,
            "confusion_path": confusion_path, "filters_path": filters_path,
            "history": history.history}
