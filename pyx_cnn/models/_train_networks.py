"""Ready-made networks: call a function, get a built :class:`~pyx_cnn.NeuralNetwork`.

Each function returns a network built for its input shape and initialised
from `seed`, ready for :meth:`~pyx_cnn.NeuralNetwork.fit`:

- :func:`digits_network`: the small CNN of ``pyx-cnn train`` for the 8x8 digits;
- :func:`dataset_network`: a small CNN sized for any image shape and class count;
- :func:`model_network`: the networks ``pyx-cnn train --model`` trains
  (:data:`MODELS`: ``"small"``, ``"bn"`` with batch normalisation and dropout,
  ``"all"`` with a layer of every kind).

Every network ends in ``Dense(1, activation="sigmoid")`` for two classes
(binary cross-entropy) or in a softmax over the classes (cross-entropy).
"""
from . import layers
from .network import NeuralNetwork

__all__ = ["digits_network", "dataset_network", "model_network", "MODELS", "MIN_IMAGE_SIDE"]

#: the networks :func:`model_network` builds (``pyx-cnn train --model``)
MODELS = ("small", "bn", "all")

#: the smallest image side the networks of :func:`model_network` take
#: (a 3x3 convolution, then 2x2 pooling)
MIN_IMAGE_SIDE = 4


def digits_network(seed=0, dtype="float64"):
    """The small CNN of ``pyx-cnn train`` for the 8x8 digits, initialised from `seed`::

        Conv2D(8, 3) -> ReLU -> MaxPool2D(2, 2) -> Flatten -> Dense(10, softmax)

    Input ``(8, 8, 1)``, 810 parameters.
    """
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
