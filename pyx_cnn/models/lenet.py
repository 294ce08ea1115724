"""LeNet-5: two convolutions and three dense layers, the classic small CNN."""
from .. import layers
from ..network import NeuralNetwork
from ._checks import check_image_shape, check_num_classes

__all__ = ["lenet5"]

#: the smallest image side :func:`lenet5` takes: the second 5x5 convolution needs
#: 5x5 maps after the first pooling, and its pooling a 2x2 map
LENET5_MIN_SIDE = 12


def lenet5(num_classes=10, input_shape=(28, 28, 1), *, seed=None, dtype="float32"):
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, as is usual today.

    ::

        Conv2D(6, 5, padding=2) ReLU MaxPool2D(2, 2)
        Conv2D(16, 5)           ReLU MaxPool2D(2, 2)
        Flatten  Dense(120, relu)  Dense(84, relu)  Dense(num_classes, softmax)

    On 28x28x1 images (MNIST) the second pooling gives 5x5x16 maps, as LeNet-5's
    32x32 inputs without padding do; 61,706 parameters for 10 classes.

    Parameters
    ----------
    num_classes : int, optional
        Classes of the softmax output, at least 2.
    input_shape : tuple of int, optional
        ``(H, W, C)`` of one image, height and width at least 12.
    seed : int, optional
        Seeds the initial weights (and the shuffling of ``fit``).
    dtype : {"float32", "float64"}, optional
        Dtype of the weights and of the computation.

    Returns
    -------
    net : NeuralNetwork
        A new, untrained network built for `input_shape`: ``predict`` of a batch
        ``(N, H, W, C)`` gives ``(N, num_classes)`` class probabilities.

    Raises
    ------
    ValueError
        `num_classes` is below 2, or `input_shape` is not three positive integers
        or its height or width is below 12.
    TypeError
        `num_classes` is not an integer.
    """
    num_classes = check_num_classes(num_classes)
    shape = check_image_shape(input_shape, LENET5_MIN_SIDE, "lenet5",
                              "two 5x5 convolutions and two 2x2 poolings")
    return NeuralNetwork([
        layers.Conv2D(6, 5, padding=2), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Conv2D(16, 5), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"), layers.Dense(84, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ], input_shape=shape, seed=seed, dtype=dtype)
