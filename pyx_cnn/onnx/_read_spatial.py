"""Readers of ONNX's spatial operators: Conv, ConvTranspose, MaxPool, AveragePool,
GlobalAveragePool, GlobalMaxPool, Pad, Resize, Upsample (NCHW image batches)."""
import numpy as np

from .. import layers as _layers
from .._geometry import output_size, pool_output_size, resolve_padding, same_padding
from ._common import check_attributes, unsupported
from ._read_graph import reads

__all__ = []

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def _compact(values):
    """A pair as one int when both are equal (the form pyx_cnn's configs keep)."""
    return int(values[0]) if values[0] == values[1] else (int(values[0]), int(values[1]))


def _padding_argument(pads):
    """``((top, bottom), (left, right))`` as pyx_cnn's shortest ``padding=`` form."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return _compact((top, left))
    return ((int(top), int(bottom)), (int(left), int(right)))


def _window(node, attrs, kernel):
    """``(strides, dilations)`` of a 2-D window node (1 when absent)."""
    strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    dilations = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
    if len(strides) != 2 or len(dilations) != 2 or len(kernel) != 2:
        raise unsupported(node, "pyx_cnn reads 2-D windows only")
    return strides, dilations


def _pads(node, attrs, in_hw, kernel, strides, dilations):
    """The zeros a window node adds, ``((top, bottom), (left, right))``."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return ((0, 0), (0, 0))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = tuple(same_padding(*axis) for axis in zip(in_hw, kernel, strides, dilations))
        return pads if auto_pad == "SAME_UPPER" else tuple(p[::-1] for p in pads)
    pads = [int(p) for p in attrs.get("pads", (0, 0, 0, 0))]
    if len(pads) != 4 or min(pads) < 0:
        raise unsupported(node, f"pads={pads} (pyx_cnn reads 4 pads >= 0)")
    top, left, bottom, right = pads
    return ((top, bottom), (left, right))


def _kernel(node, attrs, shape=None):
    kernel = tuple(int(k) for k in attrs.get("kernel_shape", shape or ()))
    if shape is not None and kernel != tuple(shape):
        raise unsupported(node, f"kernel_shape={list(kernel)} differs from the weights' "
                          f"{list(shape)}")
    if len(kernel) != 2:
        raise unsupported(node, f"kernel_shape={list(kernel)}: pyx_cnn reads 2-D windows")
    return kernel


@reads("Conv")
def read_conv(reader, node, attrs):
    check_attributes(node, attrs, {"group": None, "kernel_shape": None, "strides": None,
                                   "pads": None, "dilations": None, "auto_pad": AUTO_PADS})
    x = reader.data(node)
    reader.need_image(node, x)
    w = reader.const(node, 1, "weight")
    if w.ndim != 4:
        raise unsupported(node, f"weights of shape {w.shape}: pyx_cnn reads 2-D convolutions")
    filters, per_group, kh, kw = w.shape
    h, width, channels = x.shape
    group = int(attrs.get("group", 1))
    if per_group * group != channels or filters % group:
        raise unsupported(node, f"weights of shape {w.shape} and group={group} for "
                          f"{channels} input channels")
    kernel = _kernel(node, attrs, (kh, kw))
    strides, dilations = _window(node, attrs, kernel)
    pads = _pads(node, attrs, (h, width), kernel, strides, dilations)
    bias = reader.const(node, 2, "bias") if reader.has_input(node, 2) else None
    kwargs = {"stride": _compact(strides), "padding": _padding_argument(pads),
              "use_bias": bias is not None}
    if dilations != (1, 1):
        kwargs["dilation"] = _compact(dilations)
    if group > 1 and group == channels and "DepthwiseConv2D" in _layers.LAYER_CLASSES:
        layer = reader.layer("DepthwiseConv2D", node, kernel, depth_multiplier=filters //
                             channels, **kwargs)
    elif group > 1:
        layer = reader.layer("Conv2D", node, filters, kernel, groups=group, **kwargs)
    else:
        layer = reader.layer("Conv2D", node, filters, kernel, **kwargs)
    params = {"W": np.transpose(w, (0, 2, 3, 1))}
    if bias is not None:
        params["b"] = bias
    reader.apply(layer, x, node, params=params)


def _transpose_pads(node, attrs, in_hw, kernel, strides, dilations, output_padding):
    """ONNX's cropping of a transposed convolution, ``((top, bottom), (left, right))``."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    out = attrs.get("output_shape")
    if out is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = [size * s for size, s in zip(in_hw, strides)]
    if out is None:
        return _pads(node, attrs, in_hw, kernel, strides, dilations)
    out = list(out)[-2:]
    pads = []
    for size, k, s, d, extra, want in zip(in_hw, kernel, strides, dilations, output_padding,
                                          out):
        total = s * (size - 1) + extra + (k - 1) * d + 1 - int(want)
        half = total // 2
        if total < 0:                      # rows past the full output: at the end
            pads.append((0, total))
        else:
            pads.append((half, total - half) if auto_pad == "SAME_UPPER" else
                        (total - half, half))
    return tuple(pads)


@reads("ConvTranspose")
def read_conv_transpose(reader, node, attrs):
    check_attributes(node, attrs, {"group": 1, "kernel_shape": None, "strides": None,
                                   "pads": None, "dilations": None, "auto_pad": AUTO_PADS,
                                   "output_padding": None, "output_shape": None})
    x = reader.data(node)
    reader.need_image(node, x)
    w = reader.const(node, 1, "weight")
    if w.ndim != 4 or w.shape[0] != x.shape[2]:
        raise unsupported(node, f"weights of shape {w.shape} for {x.shape[2]} input channels "
                          "(pyx_cnn reads 2-D transposed convolutions of group 1)")
    channels, filters, kh, kw = w.shape
    kernel = _kernel(node, attrs, (kh, kw))
    strides, dilations = _window(node, attrs, kernel)
    output_padding = tuple(int(p) for p in attrs.get("output_padding", (0, 0)))
    pads = _transpose_pads(node, attrs, x.shape[:2], kernel, strides, dilations,
                           output_padding)
    # PyTorch crops `p` rows on both sides and adds `output_padding` at the end:
    # ONNX's (start, end) crop is p = start, output_padding + start - end
    padding = tuple(start for start, _ in pads)
    extra = tuple(o + start - end for o, (start, end) in zip(output_padding, pads))
    if min(extra) < 0:
        raise unsupported(node, f"pads {pads} cropping more at the end than at the start "
                          "(PyTorch's transposed convolution cannot)")
    bias = reader.const(node, 2, "bias") if reader.has_input(node, 2) else None
    kwargs = {"stride": _compact(strides), "padding": _compact(padding),
              "use_bias": bias is not None}
    if extra != (0, 0):
        kwargs["output_padding"] = _compact(extra)
    if dilations != (1, 1):
        kwargs["dilation"] = _compact(dilations)
    layer = reader.layer("Conv2DTranspose", node, filters, kernel, **kwargs)
    params = {"W": np.transpose(w, (0, 2, 3, 1))}
    if bias is not None:
        params["b"] = bias
    reader.apply(layer, x, node, params=params)


def _pool_window(pads, in_hw, kernel, strides, ceil_mode, counts_padding):
    """``{"padding": ..., "ceil_mode": ...}`` of the pyx_cnn pool (PyTorch's rules) that
    takes the windows of an ONNX pool whose padding is never counted (a max, or an
    average without ``count_include_pad``), or None.

    Symmetric pads, and the pads of ``padding="same"``, are themselves. Floor-mode
    pads larger after than before (what :func:`to_onnx` writes for a ceil-mode pool
    whose last window PyTorch drops) take the windows of ``padding=before`` in ceil
    (or floor) mode when their counts are equal, for a pool that does not count the
    padding (`counts_padding` False): the extra zeros after are never read. Other
    pads of such a pool, up to half the window, are its per-side padding
    ``((top, bottom), (left, right))``.
    """
    if all(before == after for before, after in pads):
        return {"padding": _padding_argument(pads), "ceil_mode": ceil_mode}
    if pads == resolve_padding("same", in_hw, kernel, strides):
        return {"padding": "same", "ceil_mode": ceil_mode}
    if counts_padding:
        return None
    if not ceil_mode and all(after >= before for before, after in pads):
        counts = [output_size(size, k, s, p)
                  for size, k, s, p in zip(in_hw, kernel, strides, pads)]
        padding = _compact([before for before, _ in pads])
        for ceil in (True, False):
            if counts == [pool_output_size(size, k, s, (p[0], p[0]), ceil)
                          for size, k, s, p in zip(in_hw, kernel, strides, pads)]:
                return {"padding": padding, "ceil_mode": ceil}
    if max(max(p) for p in pads) <= min(kernel) // 2:    # the pools' bound on pads
        return {"padding": tuple(tuple(p) for p in pads), "ceil_mode": ceil_mode}
    return None


def _read_pool(reader, node, attrs, class_name, average):
    allowed = {"kernel_shape": None, "strides": None, "pads": None, "auto_pad": AUTO_PADS,
               "ceil_mode": (0, 1), "dilations": None, "storage_order": 0}
    if average:
        allowed["count_include_pad"] = (0, 1)
    check_attributes(node, attrs, allowed)
    x = reader.data(node)
    reader.need_image(node, x)
    kernel = _kernel(node, attrs)
    strides, dilations = _window(node, attrs, kernel)
    if dilations != (1, 1):
        raise unsupported(node, f"dilations={list(dilations)} (pyx_cnn pools without)")
    pads = _pads(node, attrs, x.shape[:2], kernel, strides, dilations)
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    include_pad = average and bool(attrs.get("count_include_pad", 0))
    window = _pool_window(pads, x.shape[:2], kernel, strides, ceil_mode, include_pad)
    half = max(max(p) for p in pads) <= min(kernel) // 2     # PyTorch's bound on pads
    if include_pad and not ceil_mode and (window is None or not half):
        # zeros counted in the mean: the same as a zero padding, then an unpadded pool
        x = reader.apply(reader.layer("ZeroPadding2D", node, pads), x, node)
        window = {"padding": 0, "ceil_mode": False}
    if window is None:
        raise unsupported(node, f"pads {pads} with ceil_mode={int(ceil_mode)} (pyx_cnn pools "
                          "pad symmetrically, or as padding='same')")
    if average:
        window["count_include_pad"] = include_pad
    layer = reader.layer(class_name, node, _compact(kernel), _compact(strides), **window)
    reader.apply(layer, x, node)


@reads("MaxPool")
def read_max_pool(reader, node, attrs):
    _read_pool(reader, node, attrs, "MaxPool2D", average=False)


@reads("AveragePool")
def read_average_pool(reader, node, attrs):
    _read_pool(reader, node, attrs, "AvgPool2D", average=True)


@reads("GlobalAveragePool", "GlobalMaxPool")
def read_global_pool(reader, node, attrs):
    check_attributes(node, attrs, {})
    x = reader.data(node)
    reader.need_image(node, x)
    name = "GlobalAvgPool2D" if node.op_type == "GlobalAveragePool" else "GlobalMaxPool2D"
    # ONNX keeps (N, C, 1, 1), pyx_cnn gives (N, C): flat data of ONNX rank 4
    reader.call(reader.layer(name, node), [x], node, (x.shape[2],), layout="flat")


@reads("Pad")
def read_pad(reader, node, attrs):
    check_attributes(node, attrs, {"mode": "constant", "pads": None, "value": None})
    x = reader.data(node)
    reader.need_image(node, x)
    if "pads" in attrs:                                     # opsets before 11
        pads, value = np.array(attrs["pads"]), attrs.get("value", 0.0)
    else:
        pads = reader.const(node, 1, "pads")
        value = reader.const(node, 2, "constant value", np.zeros(()))
        if reader.has_input(node, 3):                       # axes, from opset 18
            axes = [int(a) % 4 for a in reader.const(node, 3, "axes")]
            full = np.zeros(8, np.int64)
            for i, axis in enumerate(axes):
                full[axis], full[axis + 4] = pads[i], pads[i + len(axes)]
            pads = full
    pads = [int(p) for p in np.ravel(pads)]
    if np.any(np.asarray(value) != 0):
        raise unsupported(node, f"a constant value of {np.ravel(value)} (pyx_cnn pads zeros)")
    if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
        raise unsupported(node, f"pads={pads} (pyx_cnn pads H and W only, by >= 0)")
    top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
    if not any((top, left, bottom, right)):
        reader.alias(node, x)
        return
    layer = reader.layer("ZeroPadding2D", node, ((top, bottom), (left, right)))
    reader.apply(layer, x, node)
