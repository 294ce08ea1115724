"""U-Net (Ronneberger et al., 2015): a per-pixel classifier of encoder and decoder."""
from .. import layers
from ..network import NeuralNetwork
from ._checks import check_image_shape, check_num_classes, check_positive_int
from ._naming import named

__all__ = ["unet"]


def unet(num_classes=2, input_shape=(64, 64, 1), depth=3, filters=16, *, seed=None,
         dtype="float32"):
    """U-Net: a class for every pixel, from an encoder and a decoder joined by skips.

    ::

        down1 .. down{depth}   a double convolution of filters * 2**(level - 1)
                               channels, kept for the skip, then MaxPool2D(2, 2)
                               (pool1 .. pool{depth})
        bottom                 a double convolution of filters * 2**depth channels
        up{depth} .. up1       Conv2DTranspose(channels, 2, stride=2) (upconv),
                               Concatenate([skip, upsampled]) (concat), and a double
                               convolution of filters * 2**(level - 1) channels
        outc                   Conv2D(num_classes, 1, activation="softmax")

    A double convolution is ``Conv2D(channels, 3, padding=1, use_bias=False)``,
    ``BatchNormalization``, ``ReLU``, twice (``<name>.conv1``, ``<name>.bn1``,
    ``<name>.relu1``, ``<name>.conv2``, ...), the "same" padding keeping the image
    size, so that the output is ``(H, W, num_classes)``: the class probabilities of
    every pixel. ``fit`` trains it on integer labels ``(N, H, W)`` (softmax
    cross-entropy over the classes of each pixel, averaged over the pixels) and
    ``predict_classes`` gives ``(N, H, W)``.

    Parameters
    ----------
    num_classes : int, optional
        Classes of each pixel, at least 2 (for two classes, a softmax over two
        channels).
    input_shape : tuple of int, optional
        ``(H, W, C)`` of one image; height and width multiples of ``2**depth``.
    depth : int, optional
        Poolings of the encoder (and transposed convolutions of the decoder), >= 1.
    filters : int, optional
        Channels of the first level; each level below doubles them, >= 1.
    seed : int, optional
        Seeds the initial weights (and the shuffling of ``fit``).
    dtype : {"float32", "float64"}, optional

    Returns
    -------
    net : NeuralNetwork
        A new, untrained graph network: ``predict`` of ``(N, H, W, C)`` gives
        ``(N, H, W, num_classes)``.

    Raises
    ------
    ValueError
        `num_classes` is below 2, `depth` or `filters` below 1, or `input_shape`
        is not three positive integers or its height or width is not a multiple
        of ``2**depth``.
    """
    num_classes = check_num_classes(num_classes)
    depth = check_positive_int(depth, "depth")
    filters = check_positive_int(filters, "filters")
    scale = 2 ** depth
    shape = check_image_shape(input_shape, scale, f"unet (depth {depth})",
                              f"{depth} halvings")
    if shape[0] % scale or shape[1] % scale:
        raise ValueError(f"input_shape {shape}: height and width must be multiples of "
                         f"2**depth = {scale} for unet (depth {depth}): each of its "
                         f"{depth} poolings halves them and each upsampling doubles them")
    inputs = layers.Input(shape)
    x, skips = inputs, []
    for level in range(1, depth + 1):
        x = _double_conv(x, filters * 2 ** (level - 1), f"down{level}")
        skips.append(x)
        x = named(layers.MaxPool2D(2, 2), f"pool{level}")(x)
    x = _double_conv(x, filters * scale, "bottom")
    for level in range(depth, 0, -1):
        channels = filters * 2 ** (level - 1)
        x = named(layers.Conv2DTranspose(channels, 2, stride=2), f"up{level}.upconv")(x)
        x = named(layers.Concatenate(), f"up{level}.concat")([skips[level - 1], x])
        x = _double_conv(x, channels, f"up{level}")
    outputs = named(layers.Conv2D(num_classes, 1, activation="softmax"), "outc")(x)
    return NeuralNetwork(inputs=inputs, outputs=outputs, seed=seed, dtype=dtype)


def _double_conv(x, channels, name):
    """Two of ``Conv2D(channels, 3, padding=1, use_bias=False)``, batch normalisation,
    ReLU, on the symbolic tensor `x`."""
    for i in (1, 2):
        x = named(layers.Conv2D(channels, 3, padding=1, use_bias=False),
                  f"{name}.conv{i}")(x)
        x = named(layers.BatchNormalization(), f"{name}.bn{i}")(x)
        x = named(layers.ReLU(), f"{name}.relu{i}")(x)
    return x
