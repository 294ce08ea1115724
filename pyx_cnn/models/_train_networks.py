"""The networks of ``pyx-cnn train``, each built for its input shape and initialised
from `seed`, ready for :meth:`~pyx_cnn.NeuralNetwork.fit`:

- :func:`digits_network`: the small CNN of ``pyx-cnn train`` for the 8x8 digits;
- :func:`dataset_network`: a small CNN sized for any image shape and class count;
- :func:`model_network`: the networks ``pyx-cnn train --model`` trains
  (:data:`MODELS`: ``"small"``, ``"bn"`` with batch normalisation and dropout,
  ``"all"`` with a layer of every kind, ``"resnet18"`` and ``"mobilenet_v2"``).

Every network ends in ``Dense(1, activation="sigmoid")`` for two classes
(binary cross-entropy) or in a softmax over the classes (cross-entropy), except
``"resnet18"`` and ``"mobilenet_v2"``, which end in a softmax for two classes too.
"""
from .. import layers
from ..network import NeuralNetwork
from .mobilenet import MOBILENET_V2_MIN_SIDE, mobilenet_v2
from .resnet import RESNET_MIN_SIDE, resnet

__all__ = ["digits_network", "dataset_network", "model_network", "MODELS", "MIN_IMAGE_SIDE",
           "MODEL_MIN_SIDE", "MODEL_DTYPE"]

#: the networks :func:`model_network` builds (``pyx-cnn train --model``)
MODELS = ("small", "bn", "all", "resnet18", "mobilenet_v2")

#: the smallest image side the networks of :func:`model_network` take
#: (a 3x3 convolution, then 2x2 pooling)
MIN_IMAGE_SIDE = 4

#: the smallest image side of each network of :func:`model_network`
MODEL_MIN_SIDE = {"small": MIN_IMAGE_SIDE, "bn": MIN_IMAGE_SIDE, "all": MIN_IMAGE_SIDE,
                  "resnet18": RESNET_MIN_SIDE, "mobilenet_v2": MOBILENET_V2_MIN_SIDE}

#: the dtype :func:`model_network` builds each network in by default
MODEL_DTYPE = {"small": "float64", "bn": "float64", "all": "float64",
               "resnet18": "float32", "mobilenet_v2": "float32"}


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


def model_network(model, input_shape, n_classes, seed=0, dtype=None):
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

    ``"resnet18"``: :func:`~pyx_cnn.models.resnet` of depth 18 and width 64;
    ``"mobilenet_v2"``: :func:`~pyx_cnn.models.mobilenet_v2` of width multiplier 1
    (the CIFAR stems for images under 64 pixels; both take images of 8x8 and more).

    The last layer is ``Dense(1, activation="sigmoid")`` for two classes
    (binary cross-entropy), else softmax over the classes; ``"resnet18"`` and
    ``"mobilenet_v2"`` end in a softmax for two classes too. `dtype` (default:
    :data:`MODEL_DTYPE`, float64 for the small networks, float32 for the two
    large ones) is the dtype of the weights and the computation.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if dtype is None:
        dtype = MODEL_DTYPE[model]
    if model == "resnet18":
        return resnet(18, n_classes, tuple(input_shape), seed=seed, dtype=dtype)
    if model == "mobilenet_v2":
        return mobilenet_v2(n_classes, tuple(input_shape), seed=seed, dtype=dtype)
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
