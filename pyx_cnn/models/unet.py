"""U-Net (Ronneberger et al., 2015): a per-pixel classifier of encoder and decoder."""
from .. import layers
from ..network import NeuralNetwork
from ._checks import check_image_shape, check_num_classes, check_positive_int

__all__ = ["unet"]


def unet(num_classes=2, input_shape=(64, 64, 1), depth=3, filters=16, *, seed=None,
         dtype="float32"):
    """U-Net: a class for every pixel, from an encoder and a decoder joined by skips.

    ::

        encoder, level 1 .. depth   a double convolution of filters * 2**(level - 1)
                                    channels (kept for the skip), MaxPool2D(2, 2)
        bottom                      a double convolution of filters * 2**depth channels
        decoder, level depth .. 1   Conv2DTranspose(filters * 2**(level - 1), 2,
                                    stride=2), Concatenate()([skip, upsampled]), a
                                    double convolution of filters * 2**(level - 1)
        output                      Conv2D(num_classes, 1, activation="softmax")

    A double convolution is ``Conv2D(channels, 3, padding=1, use_bias=False)``,
    ``BatchNormalization``, ``ReLU``, twice, the "same" padding keeping the image
    size, so that the output is ``(H, W, num_classes)``: the class probabilities of
    every pixel. ``fit`` trains it on integer labels ``(N, H, W)`` (softmax
    cross-entropy over the classes of each pixel, averaged over the pixels) and
    ``predict_classes`` gives ``(N, H, W)``. ``net.layers`` lists the layers in the
    order above, which is the order they run in.

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
    TypeError
        `num_classes`, `depth` or `filters` is not an integer.
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
        x = _double_conv(x, filters * 2 ** (level - 1))
        skips.append(x)
        x = layers.MaxPool2D(2, 2)(x)
    x = _double_conv(x, filters * scale)
    for level in range(depth, 0, -1):
        channels = filters * 2 ** (level - 1)
        x = layers.Conv2DTranspose(channels, 2, stride=2)(x)
        x = layers.Concatenate()([skips[level - 1], x])
        x = _double_conv(x, channels)
    outputs = layers.Conv2D(num_classes, 1, activation="softmax")(x)
    return NeuralNetwork(inputs=inputs, outputs=outputs, seed=seed, dtype=dtype)


def _double_conv(x, channels):
    """Two of ``Conv2D(channels, 3, padding=1, use_bias=False)``, batch normalisation,
    ReLU, on the symbolic tensor `x`."""
    for i in (1, 2):
        x = layers.Conv2D(channels, 3, padding=1, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    return x
