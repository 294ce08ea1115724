"""``pyx-cnn train``: a small CNN on scikit-learn's bundled digits.

The 1797 8x8 images (scaled to [0, 1]) are split 80/20, stratified, from the
seed; the network is::

    Conv2D(8, 3) -> ReLU -> MaxPool2D(2, 2) -> Flatten -> Dense(10, softmax)

trained with softmax cross-entropy and SGD. The command prints the test
accuracy and writes ``model.npz`` and ``loss.png`` into the output folder.
"""
import os
import time

import numpy as np

from . import layers
from .network import NeuralNetwork

__all__ = ["load_digits_split", "digits_network", "run_train"]


def load_digits_split(seed=0, test_size=0.2):
    """Digits as ``(X_train, X_test, y_train, y_test)``, X of shape (N, 8, 8, 1) in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
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
        ``model_path``, ``plot_path`` and ``history`` (the History dict).
    """
    from .plot import plot_history

    X_train, X_test, y_train, y_test = load_digits_split(seed)
    net = digits_network(seed)
    if verbose:
        net.summary()
        print(f"training on {len(X_train)} digits, testing on {len(X_test)}")
    start = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate, validation_data=(X_test, y_test),
                      verbose=verbose)
    seconds = time.perf_counter() - start
    scores = net.evaluate(X_test, y_test)
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "model.npz")
    plot_path = os.path.join(out_dir, "loss.png")
    net.save(model_path)
    import matplotlib.pyplot as plt

    fig = plot_history(history, title="pyx_cnn on digits", path=plot_path)
    plt.close(fig)
    print(f"test accuracy: {scores['accuracy']:.4f}  (test loss {scores['loss']:.4f}, "
          f"{epochs} epochs in {seconds:.2f} s)")
    print(f"saved {model_path} and {plot_path}")
    return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
            "seconds": seconds, "model_path": model_path, "plot_path": plot_path,
            "history": history.history}
