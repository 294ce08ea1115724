"""Window geometry: the arithmetic every sliding-window op shares.

A convolution or pooling window has a size ``kernel`` along an axis, taps
``dilation`` apart, and moves ``stride`` at a time over the input padded by
``(before, after)`` zeros. One axis at a time:

- the window covers ``effective_kernel(kernel, dilation) = (kernel - 1) * dilation + 1``
  rows;
- output ``i`` reads padded rows ``i * stride`` to ``i * stride + extent - 1``,
  that is input rows ``window_bounds(i, ...)`` (negative or past the end in the
  padding);
- there are ``output_size(size, kernel, stride, (before, after), dilation) =
  (size + before + after - extent) // stride + 1`` outputs (floor mode: the last
  window is kept whenever it fits).

The arguments the user gives are read here too: :func:`pair` turns ``3`` or
``(3, 2)`` into a pair ``(along H, along W)``, :func:`check_padding` checks a
``padding`` argument, and :func:`resolve_padding` turns it into the zeros to
add, ``((top, bottom), (left, right))``:

- an int ``p``: ``p`` on every side; a pair ``(ph, pw)``: ``ph`` above and
  below, ``pw`` left and right;
- ``"valid"``: none;
- ``"same"``: ``ceil(H / stride)`` outputs (likewise W), with the total padding
  ``max((Hout - 1) * stride + extent - H, 0)`` split with the extra zero at the
  bottom (right) when it is odd: TensorFlow's rule, and PyTorch's
  ``padding="same"`` at stride 1;
- ``((top, bottom), (left, right))``: as given (the resolved form itself).

Every Python caller (the functional API, the layers, the ops, the dask
wrappers, the ONNX exporter) uses these functions. The compiled kernels take
the resolved numbers (``_conv.pyx`` has its own small pair reader for its
``stride`` argument). :mod:`pyx_cnn.reference` does its own index arithmetic on
purpose, so that the tests compare two independent computations.
"""
from ._validation import check_int

__all__ = ["pair", "check_padding", "resolve_padding", "same_padding", "effective_kernel",
           "output_size", "window_bounds", "pool_output_size", "pool_padding"]

PADDING_FORMS = "an int >= 0, a pair (along H, along W), 'valid' or 'same'"


def pair(value, name, minimum=0):
    """An int or a pair of ints ``(along H, along W)``, each >= `minimum`, as a pair.

    Parameters
    ----------
    value : int or (int, int)
    name : str
        The argument's name, for the messages.
    minimum : int, optional

    Returns
    -------
    (int, int)

    Raises
    ------
    TypeError
        For a sequence that is not of length 2, or a value that is not an int.
    ValueError
        For a value below `minimum`.

    >>> pair(3, "stride"), pair((2, 1), "stride")
    ((3, 3), (2, 1))
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise TypeError(f"{name} must be an int or a pair (along H, along W), "
                            f"got {value!r}")
        return (check_int(value[0], name, minimum), check_int(value[1], name, minimum))
    value = check_int(value, name, minimum)
    return (value, value)


def _padding_name(padding):
    mode = padding.strip().lower()
    if mode not in ("valid", "same"):
        raise ValueError(f"padding must be {PADDING_FORMS}, got {padding!r}")
    return mode


def _is_asymmetric(padding):
    """Whether `padding` has the form ``((top, bottom), (left, right))``."""
    return (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding))


def check_padding(padding, asymmetric=False):
    """A ``padding`` argument checked, in the form a layer stores it.

    Returns ``"valid"`` or ``"same"`` (lower case) for a name, else the pair
    ``(along H, along W)``, or (`asymmetric`: the form is accepted) the pairs
    ``((top, bottom), (left, right))``; sizes are not needed
    (:func:`resolve_padding` uses them).

    Raises
    ------
    ValueError
        For an unknown name or a negative value.
    TypeError
        For anything else (a float, a bool, a sequence not of length 2).
    """
    if isinstance(padding, str):
        return _padding_name(padding)
    if asymmetric and _is_asymmetric(padding):
        return tuple(pair(p, "padding", 0) for p in padding)
    try:
        return pair(padding, "padding", 0)
    except TypeError:
        forms = PADDING_FORMS + (" or ((top, bottom), (left, right))" if asymmetric else "")
        raise TypeError(f"padding must be {forms}, "
                        f"got {type(padding).__name__} {padding!r}") from None


def same_padding(size, kernel, stride=1, dilation=1):
    """``(before, after)`` along one axis for ``padding="same"``: ``ceil(size / stride)``
    outputs, the extra zero after when the total is odd.

    >>> same_padding(5, 3), same_padding(6, 3, stride=2), same_padding(7, 3, dilation=2)
    ((1, 1), (0, 1), (2, 2))
    """
    outputs = -(-size // stride)
    total = max((outputs - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    return (total // 2, total - total // 2)


def resolve_padding(padding, in_hw, kernel_hw, stride=(1, 1), dilation=(1, 1)):
    """The zeros to add, ``((top, bottom), (left, right))``, for any padding form.

    Parameters
    ----------
    padding : int, (int, int), "valid", "same" or ((int, int), (int, int))
        See the module docstring.
    in_hw, kernel_hw, stride, dilation : pairs of int
        The input's ``(H, W)``, the kernel's ``(kh, kw)`` and the pairs
        ``(along H, along W)`` (only ``"same"`` needs them).

    Returns
    -------
    ((int, int), (int, int))

    >>> resolve_padding(1, (8, 8), (3, 3))
    ((1, 1), (1, 1))
    >>> resolve_padding("same", (8, 7), (3, 3), stride=(2, 2))
    ((0, 1), (1, 1))
    """
    if isinstance(padding, str):
        if _padding_name(padding) == "valid":
            return ((0, 0), (0, 0))
        return tuple(same_padding(*axis) for axis in zip(in_hw, kernel_hw, stride, dilation))
    if _is_asymmetric(padding):
        (top, bottom), (left, right) = (pair(p, "padding", 0) for p in padding)
        return ((top, bottom), (left, right))
    ph, pw = check_padding(padding)
    return ((ph, ph), (pw, pw))


def effective_kernel(kernel, dilation=1):
    """The rows a dilated kernel covers: ``(kernel - 1) * dilation + 1``."""
    return (kernel - 1) * dilation + 1


def output_size(size, kernel, stride=1, pads=(0, 0), dilation=1):
    """Outputs along one axis: ``(size + before + after - extent) // stride + 1``.

    `pads` is ``(before, after)``; ``extent = (kernel - 1) * dilation + 1``.
    Below 1 when the window does not fit in the padded input.

    >>> output_size(8, 3), output_size(8, 3, stride=2, pads=(1, 1)), output_size(7, 2, 2)
    (6, 4, 3)
    """
    return (size + pads[0] + pads[1] - (kernel - 1) * dilation - 1) // stride + 1


def window_bounds(index, kernel, stride=1, dilation=1, pad_before=0):
    """Input rows ``[start, stop)`` that output `index` reads along one axis.

    ``start = index * stride - pad_before`` and ``stop = start + extent``:
    rows outside ``[0, size)`` are padding. The taps are the rows
    ``start, start + dilation, ...``; two neighbouring windows share
    ``extent - stride`` rows when that is positive.

    >>> window_bounds(0, 3), window_bounds(2, 3, stride=2, pad_before=1)
    ((0, 3), (3, 6))
    """
    start = index * stride - pad_before
    return (start, start + effective_kernel(kernel, dilation))


def pool_output_size(size, kernel, stride=1, pads=(0, 0), ceil_mode=False):
    """Pooling outputs along one axis, PyTorch's rule.

    Floor mode: :func:`output_size`. Ceil mode rounds
    ``(size + before + after - kernel) / stride`` up instead, and drops the last
    window when it would start in the padding after the input
    (``(outputs - 1) * stride >= size + before``). Below 1 when no window fits
    (in ceil mode a window larger than the padded input counts when it starts in
    the input, as in PyTorch).

    >>> pool_output_size(5, 2, 2), pool_output_size(5, 2, 2, ceil_mode=True)
    (2, 3)
    >>> pool_output_size(6, 3, 2, (1, 1), ceil_mode=True), pool_output_size(5, 2, 2, (1, 1), True)
    (4, 3)
    """
    span = size + pads[0] + pads[1] - kernel
    outputs = (span + stride - 1 if ceil_mode else span) // stride + 1
    if ceil_mode and (outputs - 1) * stride >= size + pads[0]:
        outputs -= 1
    return outputs


def pool_padding(padding, in_hw, size, stride, name="padding"):
    """The zeros around a pooling window's input, ``((top, bottom), (left, right))``.

    :func:`resolve_padding` for a ``size x size`` window every `stride`, checked
    as PyTorch checks it: no side gets more than ``size // 2`` (``"same"``
    never does).

    Raises
    ------
    ValueError
        For a side padded by more than ``size // 2`` (the message names `name`).

    >>> pool_padding(1, (8, 8), 3, 2), pool_padding("same", (7, 7), 2, 2)
    (((1, 1), (1, 1)), ((0, 1), (0, 1)))
    """
    pads = resolve_padding(padding, in_hw, (size, size), (stride, stride))
    if max(max(pads[0]), max(pads[1])) > size // 2:
        raise ValueError(f"{name} must be at most half the window size (size // 2 = "
                         f"{size // 2} per side, as in PyTorch), got {padding!r} with "
                         f"size={size}")
    return pads
