"""Readers of ONNX's Resize and Upsample: nearest-neighbour upsampling by integer
factors, pyx_cnn's ``UpSampling2D`` (output row ``y`` reads input row ``y // factor``).

A Resize node is read only when the rows it reads are exactly those: its coordinate
transformation and rounding are evaluated for the node's sizes and compared."""
import numpy as np

from ._common import check_attributes, unsupported
from ._fold import BATCH
from ._read_graph import reads

__all__ = ["source_rows"]


def source_rows(out_size, in_size, scale, mode, nearest_mode):
    """The input row each output row reads, by ONNX's Resize formulas (``nearest``)."""
    x = np.arange(out_size, dtype=np.float64)
    if mode in ("half_pixel", "half_pixel_symmetric"):   # alike at integer scales
        coords = (x + 0.5) / scale - 0.5
    elif mode == "pytorch_half_pixel":
        coords = (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(x)
    elif mode == "align_corners":
        coords = x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros_like(x)
    elif mode == "asymmetric":
        coords = x / scale
    elif mode == "tf_half_pixel_for_nn":
        coords = (x + 0.5) / scale
    else:
        raise ValueError(f"coordinate_transformation_mode={mode!r}")
    if nearest_mode == "floor":
        rows = np.floor(coords)
    elif nearest_mode == "ceil":
        rows = np.ceil(coords)
    elif nearest_mode in ("round_prefer_floor", "round_prefer_ceil"):
        half = coords - np.floor(coords) == 0.5
        rows = np.where(half, np.floor(coords) if nearest_mode == "round_prefer_floor"
                        else np.ceil(coords), np.round(coords))
    else:
        raise ValueError(f"nearest_mode={nearest_mode!r}")
    return np.clip(rows, 0, in_size - 1).astype(np.int64)


def _upsample(reader, node, x, scales, mode="asymmetric", nearest_mode="floor"):
    """``UpSampling2D`` for NCHW `scales` (4 numbers), when it is exact."""
    scales = [float(s) for s in np.ravel(scales)]
    if len(scales) != 4 or scales[:2] != [1.0, 1.0]:
        raise unsupported(node, f"scales {scales} (pyx_cnn resizes H and W only)")
    factors = [int(round(s)) for s in scales[2:]]
    if any(f < 1 or f != s for f, s in zip(factors, scales[2:])):
        raise unsupported(node, f"scales {scales[2:]} of H and W (pyx_cnn upsamples by "
                          "integer factors)")
    for size, factor in zip(x.shape[:2], factors):
        try:
            rows = source_rows(size * factor, size, factor, mode, nearest_mode)
        except ValueError as exc:
            raise unsupported(node, f"{exc} is not read") from None
        if not np.array_equal(rows, np.arange(size * factor) // factor):
            raise unsupported(node, f"coordinate_transformation_mode={mode!r} with "
                              f"nearest_mode={nearest_mode!r} does not read row y // "
                              f"{factor} (pyx_cnn's nearest-neighbour upsampling)")
    if factors == [1, 1]:
        reader.alias(node, x)
        return
    reader.apply(reader.layer("UpSampling2D", node, tuple(factors) if factors[0] !=
                              factors[1] else factors[0]), x, node)


def _nchw_values(values, axes, default):
    """Values of the 4 NCHW axes from those of `axes` (all four when None)."""
    values = [float(v) for v in np.ravel(values)]
    if axes is None:
        return values
    full = list(default)
    for axis, value in zip(axes, values):
        full[int(axis) % 4] = value
    return full


def _scales_of_sizes(reader, node, sizes, x):
    h, w, c = x.shape
    if len(sizes) != 4 or sizes[0] not in (float(BATCH), reader.batch):
        raise unsupported(node, f"sizes {sizes} (pyx_cnn resizes H and W only)")
    return [1.0, sizes[1] / c, sizes[2] / h, sizes[3] / w]


@reads("Resize")
def read_resize(reader, node, attrs):
    check_attributes(node, attrs, {
        "mode": "nearest", "coordinate_transformation_mode": None, "nearest_mode": None,
        "antialias": None, "axes": None, "cubic_coeff_a": None, "exclude_outside": None,
        "extrapolation_value": None, "keep_aspect_ratio_policy": "stretch"})
    x = reader.data(node)
    reader.need_image(node, x)
    axes = attrs.get("axes")
    if reader.opset < 11:                       # Resize-10: (X, scales), as Upsample
        _upsample(reader, node, x, reader.const(node, 1, "scales"))
        return
    scales = reader.const(node, 2, "scales") if reader.has_input(node, 2) else np.zeros(0)
    if np.size(scales):
        scales = _nchw_values(scales, axes, [1.0] * 4)
    else:
        h, w, c = x.shape
        sizes = _nchw_values(reader.const(node, 3, "sizes"), axes, [reader.batch, c, h, w])
        scales = _scales_of_sizes(reader, node, sizes, x)
    mode = attrs.get("coordinate_transformation_mode", "half_pixel")
    _upsample(reader, node, x, scales, mode, attrs.get("nearest_mode", "round_prefer_floor"))


@reads("Upsample")
def read_upsample(reader, node, attrs):
    check_attributes(node, attrs, {"mode": "nearest", "scales": None})
    x = reader.data(node)
    reader.need_image(node, x)
    scales = attrs["scales"] if "scales" in attrs else reader.const(node, 1, "scales")
    _upsample(reader, node, x, scales)
