"""``pyx-cnn train``: a small CNN on scikit-learn's bundled digits.

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
- ``filters.png``: the eight learned 3x3 filters of the first layer.

``epochs`` must be at least 1 (0 epochs would save an untrained model with no curve
to draw). Needs scikit-learn (``pip install "pyx_cnn[train]"``) for the digits.
"""
import os
import time

import numbers

import numpy as np

from . import layers
from ._optional import require
from .network import NeuralNetwork

__all__ = ["load_digits_split", "digits_network", "run_train"]


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


def run_train(epochs=30, out_dir="train_out", seed=0, batch_size=32, learning_rate=0.1,
              verbose=True):
    """Train the digits CNN, print the test accuracy, save the model and the loss curve.

    Returns
    -------
    result : dict
        ``test_accuracy``, ``test_loss``, ``seconds`` (training time),
        ``model_path``, ``plot_path`` (the loss curve), ``confusion_path``,
        ``filters_path`` and ``history`` (the History dict; its ``val_*``
        series are measured on the test split).

    Raises
    ------
    ValueError
        `epochs` or `batch_size` is below 1, or `learning_rate` is not positive.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) \
            or not np.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    from .plot import plot_confusion_matrix, plot_filters, plot_history

    X_train, X_test, y_train, y_test = load_digits_split(seed)
    net = digits_network(seed)
    if verbose:
        net.summary()
        print(f"training on {len(X_train)} digits, testing on {len(X_test)} others "
              "(test loss and accuracy recorded after each epoch, never trained on)")
    start = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate, validation_data=(X_test, y_test),
                      verbose=verbose)
    seconds = time.perf_counter() - start
    scores = net.evaluate(X_test, y_test)
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "model.npz")
    plot_path = os.path.join(out_dir, "loss.png")
    confusion_path = os.path.join(out_dir, "confusion.png")
    filters_path = os.path.join(out_dir, "filters.png")
    net.save(model_path)
    import matplotlib.pyplot as plt

    fig = plot_history(history, title="pyx_cnn on digits: loss and accuracy per epoch",
                       path=plot_path, val_label="test")
    plt.close(fig)
    predicted = np.argmax(net.predict(X_test), axis=1)
    fig = plot_confusion_matrix(y_test, predicted, path=confusion_path,
                                title=f"digits test split ({len(y_test)} images)")
    plt.close(fig)
    fig = plot_filters(net.layers[0], path=filters_path,
                       title="learned 3x3 filters of the first Conv2D layer")
    plt.close(fig)
    print(f"test accuracy: {scores['accuracy']:.4f}  (test loss {scores['loss']:.4f}, "
          f"{epochs} epochs in {seconds:.2f} s)")
    print(f"saved {model_path}, {plot_path}, {confusion_path} and {filters_path}")
    return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "seconds": seconds, "model_path": model_path, "plot_path": plot_path,
            "confusion_path": confusion_path, "filters_path": filters_path,
            "history": history.history}
