"""MobileNetV2 (Sandler et al., 2018) with torchvision's inverted residual layout."""
import numbers

import numpy as np

from .. import layers
from ..network import NeuralNetwork
from ._checks import check_image_shape, check_num_classes
from .resnet import LARGE_INPUT_SIDE

__all__ = ["mobilenet_v2", "make_divisible", "MOBILENET_V2_SETTING", "MOBILENET_V2_MIN_SIDE"]

#: torchvision's inverted residual stages: (expansion t, channels c, blocks n, stride s)
MOBILENET_V2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

#: the smallest image side :func:`mobilenet_v2` takes: the three stride-2 stages of
#: the small-image network leave 1x1 maps of an 8x8 image
MOBILENET_V2_MIN_SIDE = 8


def make_divisible(value, divisor=8, min_value=None):
    """`value` rounded to the nearest multiple of `divisor`, never below `min_value`
    (default `divisor`) nor by more than 10% (torchvision's ``_make_divisible``)."""
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def mobilenet_v2(num_classes=10, input_shape=(32, 32, 3), width_multiplier=1.0, *,
                 seed=None, dtype="float32"):
    """MobileNetV2: torchvision's ``mobilenet_v2`` layout, channels last.

    ::

        features.0      3x3 convolution of 32 channels, stride 2, bn, ReLU6
        features.1-17   inverted residual blocks, stages of MOBILENET_V2_SETTING
        features.18     1x1 convolution of 1280 channels, bn, ReLU6
        avgpool         GlobalAvgPool2D
        classifier      Dropout(0.2), Dense(num_classes, softmax)

    Each inverted residual block (``t`` its expansion, ``s`` its stride)::

        1x1 convolution to round(t * in) channels, bn, ReLU6    (left out when t == 1)
        3x3 depthwise convolution of stride s, padding 1, bn, ReLU6
        1x1 convolution to the block's channels, bn
        + the block's input, when s == 1 and the channels stay the same

    Every convolution has ``use_bias=False`` and is followed by a
    ``BatchNormalization`` (PyTorch's momentum 0.1 and epsilon 1e-5). The channels
    are ``make_divisible(c * width_multiplier)`` (multiples of 8, as torchvision),
    the stem's ``make_divisible(32 * width_multiplier)`` and the last convolution's
    ``make_divisible(1280 * max(1, width_multiplier))``.

    Images below :data:`~pyx_cnn.models.resnet.LARGE_INPUT_SIDE` (64) pixels of height
    or width get the CIFAR convention: the stem has stride 1 and so has the first
    block of the 24-channel stage (the second stage), so that the network halves
    the image three times (a 32x32 image ends in 4x4 maps) instead of five.
    Larger images get torchvision's strides. With width multiplier 1 and 10 classes
    the network has 2,236,682 parameters (as torchvision's
    ``mobilenet_v2(num_classes=10)``).

    ``net.layers`` lists the layers in the order of torchvision's modules
    (``named_modules``), which is also the order they run in: ``features.0`` (the
    stem's convolution, batch normalisation and ReLU6), then each block's expansion
    (convolution, batch normalisation, ReLU6; not in the first block), depthwise
    convolution (``DepthwiseConv2D``, batch normalisation, ReLU6), projection
    (convolution, batch normalisation) and, for a block with a residual connection,
    an ``Add``; ``features.18`` (convolution, batch normalisation, ReLU6); last the
    ``GlobalAvgPool2D``, ``classifier.0`` (``Dropout``) and ``classifier.1``
    (``Dense``). Weights copy to and from torchvision's in that order.

    Parameters
    ----------
    num_classes : int, optional
        Classes of the softmax output, at least 2.
    input_shape : tuple of int, optional
        ``(H, W, C)`` of one image; height and width at least 8
        (:data:`MOBILENET_V2_MIN_SIDE`).
    width_multiplier : float, optional
        Scales every layer's channels (torchvision's ``width_mult``), > 0.
    seed : int, optional
        Seeds the initial weights (and the shuffling and dropout of ``fit``).
    dtype : {"float32", "float64"}, optional

    Returns
    -------
    net : NeuralNetwork
        A new, untrained graph network: ``predict`` of ``(N, H, W, C)`` gives
        ``(N, num_classes)`` class probabilities.

    Raises
    ------
    ValueError
        `num_classes` is below 2, `width_multiplier` is not a positive number, or
        `input_shape` is not three positive integers or is smaller than 8x8.
    TypeError
        `num_classes` is not an integer.
    """
    num_classes = check_num_classes(num_classes)
    if (isinstance(width_multiplier, bool) or not isinstance(width_multiplier, numbers.Real)
            or not np.isfinite(width_multiplier) or width_multiplier <= 0):
        raise ValueError(f"width_multiplier must be a positive number, got "
                         f"{width_multiplier!r}")
    shape = check_image_shape(input_shape, MOBILENET_V2_MIN_SIDE, "mobilenet_v2",
                              "three stride-2 stages")
    large = min(shape[:2]) >= LARGE_INPUT_SIDE
    channels = make_divisible(32 * width_multiplier)
    inputs = layers.Input(shape)
    x = _conv_bn_relu6(inputs, channels, 3, 2 if large else 1)
    for stage, (t, c, n, s) in enumerate(MOBILENET_V2_SETTING):
        filters = make_divisible(c * width_multiplier)
        if stage == 1 and not large:
            s = 1    # the CIFAR convention: the 24-channel stage keeps the image size
        for block in range(n):
            x = _inverted_residual(x, channels, filters, s if block == 0 else 1, t)
            channels = filters
    last = make_divisible(1280 * max(1.0, width_multiplier))
    x = _conv_bn_relu6(x, last, 1, 1)
    x = layers.GlobalAvgPool2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return NeuralNetwork(inputs=inputs, outputs=outputs, seed=seed, dtype=dtype)


def _conv_bn_relu6(x, filters, kernel_size, stride, depthwise=False):
    """torchvision's ``Conv2dNormActivation`` with ReLU6: a convolution of padding
    ``(kernel_size - 1) // 2`` without bias, a batch normalisation, a ReLU6."""
    padding = (kernel_size - 1) // 2
    if depthwise:
        conv = layers.DepthwiseConv2D(kernel_size, stride=stride, padding=padding,
                                      use_bias=False)
    else:
        conv = layers.Conv2D(filters, kernel_size, stride=stride, padding=padding,
                             use_bias=False)
    x = conv(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(max_value=6)(x)


def _inverted_residual(x, in_channels, filters, stride, expansion):
    """torchvision's ``InvertedResidual`` on the symbolic tensor `x`."""
    hidden = int(round(in_channels * expansion))
    h = x
    if expansion != 1:
        h = _conv_bn_relu6(h, hidden, 1, 1)
    h = _conv_bn_relu6(h, hidden, 3, stride, depthwise=True)
    h = layers.Conv2D(filters, 1, use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    if stride == 1 and in_channels == filters:
        h = layers.Add()([x, h])
    return h
