"""Layers that change an image's size without weights: ``ZeroPadding2D`` and
``UpSampling2D``."""
from .._geometry import pair
from ..ops import upsampling, zero_padding
from .base import Layer

__all__ = ["ZeroPadding2D", "UpSampling2D", "zero_pads"]

PADDING_FORMS = "an int >= 0, a pair (along H, along W) or ((top, bottom), (left, right))"


def zero_pads(padding):
    """A ``ZeroPadding2D`` `padding` as ``((top, bottom), (left, right))``.

    >>> zero_pads(1), zero_pads((1, 2)), zero_pads(((0, 1), (2, 3)))
    (((1, 1), (1, 1)), ((1, 1), (2, 2)), ((0, 1), (2, 3)))
    """
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(
            isinstance(p, (tuple, list)) for p in padding):
        return tuple(_one_axis(p) for p in padding)
    if isinstance(padding, (tuple, list)) and len(padding) != 2:
        raise TypeError(f"padding must be {PADDING_FORMS}, got {padding!r}")
    try:
        ph, pw = pair(padding, "padding", 0)
    except TypeError:
        raise TypeError(f"padding must be {PADDING_FORMS}, "
                        f"got {type(padding).__name__} {padding!r}") from None
    return ((ph, ph), (pw, pw))


def _one_axis(pads):
    if len(pads) != 2:
        raise TypeError(f"padding must be {PADDING_FORMS}: each axis a pair "
                        f"(before, after), got {pads!r}")
    return pair(pads, "padding", 0)


class ZeroPadding2D(Layer):
    """Zeros around each image: ``(N, H, W, C) -> (N, top + H + bottom, left + W + right, C)``.

    Parameters
    ----------
    padding : int, (int, int) or ((int, int), (int, int)), optional
        The same on every side; ``(along H, along W)``; or ``((top, bottom),
        (left, right))``, as Keras's ``ZeroPadding2D``. Each >= 0.

    Attributes
    ----------
    pads : ((int, int), (int, int))
        `padding` resolved.

    Notes
    -----
    PyTorch's ``F.pad(x, (left, right, top, bottom))`` on ``(N, C, H, W)``. The
    gradient is the output's gradient without the padded rows and columns. The
    arithmetic is :mod:`pyx_cnn.ops.zero_padding`; the layer always runs on its
    own in a network (break in ``forward`` / ``backward``).
    """

    sample_ndim = 3

    def __init__(self, padding=1):
        super().__init__()
        self.pads = zero_pads(padding)

    @property
    def padding(self):
        """The padding in its shortest form: an int, a pair, or the four values."""
        (top, bottom), (left, right) = self.pads
        if top == bottom and left == right:
            return top if top == left else (top, left)
        return self.pads

    def get_config(self):
        padding = self.padding
        if isinstance(padding, tuple):
            padding = [list(p) if isinstance(p, tuple) else p for p in padding]
        return {"padding": padding}

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        (top, bottom), (left, right) = self.pads
        return (top + h + bottom, left + w + right, c)

    def _forward(self, x, training=False):
        self._out, self._saved = zero_padding.forward(x, self.pads)
        return self._out

    def _backward(self, grad):
        return zero_padding.backward(grad, self._saved)


class UpSampling2D(Layer):
    """Nearest-neighbour upsampling: each pixel becomes an ``sh x sw`` block,
    ``(N, H, W, C) -> (N, H * sh, W * sw, C)``.

    Parameters
    ----------
    size : int or (int, int), optional
        The factors ``(sh, sw)``, each >= 1 (Keras's ``UpSampling2D`` with
        ``interpolation="nearest"``).

    Notes
    -----
    PyTorch's ``F.interpolate(x, scale_factor=(sh, sw), mode="nearest")``. The
    gradient of an input pixel is the sum of its block's gradients. The
    arithmetic is :mod:`pyx_cnn.ops.upsampling`; the layer always runs on its
    own in a network (break in ``forward`` / ``backward``).
    """

    sample_ndim = 3

    def __init__(self, size=2):
        super().__init__()
        sh, sw = pair(size, "size", 1)
        self.size = sh if sh == sw else (sh, sw)
        self._factors = (sh, sw)

    def get_config(self):
        return {"size": list(self.size) if isinstance(self.size, tuple) else self.size}

    def _build(self, input_shape, rng, init_for):
        h, w, c = input_shape
        sh, sw = self._factors
        return (h * sh, w * sw, c)

    def _forward(self, x, training=False):
        self._out, self._saved = upsampling.forward(x, self._factors)
        return self._out

    def _backward(self, grad):
        return upsampling.backward(grad, self._saved)
