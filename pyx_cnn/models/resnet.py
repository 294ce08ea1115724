"""ResNet-18 and ResNet-34 (He et al., 2016) with torchvision's BasicBlock layout."""
import numbers

from .. import layers
from ..network import NeuralNetwork
from ._checks import check_image_shape, check_num_classes, check_positive_int

__all__ = ["resnet", "RESNET_STAGES", "RESNET_MIN_SIDE", "LARGE_INPUT_SIDE"]

#: the blocks of each stage, by depth (torchvision's ``resnet18`` and ``resnet34``)
RESNET_STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}

#: images whose height or width is below this get the CIFAR stem (a 3x3 stride-1
#: convolution, no max pooling); larger ones the ImageNet stem (7x7 stride 2, max pool)
LARGE_INPUT_SIDE = 64

#: the smallest image side :func:`resnet` takes: the three stride-2 stages of the
#: CIFAR stem's network leave 1x1 maps of an 8x8 image
RESNET_MIN_SIDE = 8


def resnet(depth=18, num_classes=10, input_shape=(32, 32, 3), width=64, *, seed=None,
           dtype="float32"):
    """ResNet-18 or ResNet-34: torchvision's layout, channels last.

    ::

        stem      conv1 bn1 relu [maxpool]
        layer1    blocks of width channels,     stride 1
        layer2    blocks of 2 * width channels, the first of stride 2
        layer3    blocks of 4 * width channels, the first of stride 2
        layer4    blocks of 8 * width channels, the first of stride 2
        head      avgpool (GlobalAvgPool2D)  fc (Dense(num_classes, softmax))

    with ``(2, 2, 2, 2)`` blocks for depth 18 and ``(3, 4, 6, 3)`` for depth 34
    (:data:`RESNET_STAGES`). Each block is torchvision's ``BasicBlock``::

        conv1 (3x3, stride s) bn1 relu  conv2 (3x3) bn2   + shortcut   relu

    the shortcut being the block's input, or ``downsample`` (a 1x1 convolution of
    stride s and a batch normalisation) when the block changes the size or the
    channels. Every convolution has ``use_bias=False`` and is followed by a
    ``BatchNormalization`` (PyTorch's momentum 0.1 and epsilon 1e-5).

    The stem depends on the image size: below :data:`LARGE_INPUT_SIDE` (64)
    pixels of height or width it is a 3x3 convolution of stride 1 and padding 1
    without max pooling (the CIFAR ResNets), otherwise torchvision's 7x7
    convolution of stride 2 and padding 3 and ``MaxPool2D(3, 2, padding=1)``.
    With ``width=64`` and 10 classes ResNet-18 has 11,173,962 parameters on
    32x32x3 images (torchvision's ``resnet18(num_classes=10)`` with the CIFAR stem).

    ``net.layers`` lists the layers in the order of torchvision's modules
    (``named_modules``), which is also the order they run in: ``conv1``, ``bn1``,
    ``relu`` (and ``maxpool`` for large images); then for each block (``layer1.0``,
    ``layer1.1``, ..., ``layer4.1``) its ``conv1``, ``bn1``, ``relu``, ``conv2``,
    ``bn2``, the ``downsample`` convolution and batch normalisation when it has them,
    then an ``Add`` and a ``ReLU`` (torchvision calls its one ``relu`` module twice);
    last ``avgpool`` (``GlobalAvgPool2D``) and ``fc`` (``Dense``). Weights copy to and
    from torchvision's in that order (filters ``(F, kh, kw, C)`` here, ``(F, C, kh,
    kw)`` there).

    Parameters
    ----------
    depth : {18, 34}, optional
    num_classes : int, optional
        Classes of the softmax output, at least 2.
    input_shape : tuple of int, optional
        ``(H, W, C)`` of one image; height and width at least 8
        (:data:`RESNET_MIN_SIDE`).
    width : int, optional
        Channels of the stem and of the first stage (64 in the paper); the stages
        have ``width``, ``2 * width``, ``4 * width`` and ``8 * width``.
    seed : int, optional
        Seeds the initial weights (and the shuffling of ``fit``).
    dtype : {"float32", "float64"}, optional

    Returns
    -------
    net : NeuralNetwork
        A new, untrained graph network: ``predict`` of ``(N, H, W, C)`` gives
        ``(N, num_classes)`` class probabilities.

    Raises
    ------
    ValueError
        `depth` is not 18 or 34, `num_classes` is below 2, `width` below 1, or
        `input_shape` is not three positive integers or is smaller than 8x8.
    TypeError
        `num_classes` or `width` is not an integer.
    """
    if (isinstance(depth, bool) or not isinstance(depth, numbers.Integral)
            or depth not in RESNET_STAGES):
        raise ValueError(f"depth must be 18 or 34, got {depth!r}")
    num_classes = check_num_classes(num_classes)
    width = check_positive_int(width, "width")
    shape = check_image_shape(input_shape, RESNET_MIN_SIDE, f"resnet (depth {depth})",
                              "three stride-2 stages")
    inputs = layers.Input(shape)
    x = _stem(inputs, width, large=min(shape[:2]) >= LARGE_INPUT_SIDE)
    channels = width
    for stage, blocks in enumerate(RESNET_STAGES[int(depth)], start=1):
        filters = width * 2 ** (stage - 1)
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(x, channels, filters, stride)
            channels = filters
    x = layers.GlobalAvgPool2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return NeuralNetwork(inputs=inputs, outputs=outputs, seed=seed, dtype=dtype)


def _stem(x, width, large):
    """conv1 bn1 relu, and maxpool for large images (torchvision's), else the CIFAR stem."""
    if large:
        x = layers.Conv2D(width, 7, stride=2, padding=3, use_bias=False)(x)
    else:
        x = layers.Conv2D(width, 3, stride=1, padding=1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    if large:
        x = layers.MaxPool2D(3, 2, padding=1)(x)
    return x


def _basic_block(x, in_channels, filters, stride):
    """torchvision's BasicBlock on the symbolic tensor `x` of `in_channels` channels."""
    h = layers.Conv2D(filters, 3, stride=stride, padding=1, use_bias=False)(x)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.Conv2D(filters, 3, padding=1, use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    shortcut = x
    if stride != 1 or in_channels != filters:
        shortcut = layers.Conv2D(filters, 1, stride=stride, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    out = layers.Add()([h, shortcut])
    return layers.ReLU()(out)
