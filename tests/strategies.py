"""Hypothesis strategies and memory layouts shared by the property tests.

Arrays are drawn as a seed for numpy's generator plus a dtype and a memory
layout: the values are random, and what hypothesis explores (and shrinks) are the
shapes, sizes, dtypes and layouts, where the kernels' edge cases live.
"""
import numpy as np
from hypothesis import strategies as st

# dtypes accepted by every public function: float32 stays float32 when every
# argument is float32, everything else is computed in float64
DTYPES = ["float32", "float64", "float16", "int8", "int64", "uint8", "bool", ">f8", "<f4"]
FLOAT_DTYPES = ["float32", "float64"]

LAYOUTS = ["C", "F", "strided", "reversed", "transposed", "unaligned", "readonly",
           "byteswapped"]


def in_layout(array, layout):
    """The same values as `array` (same dtype, same shape) in another memory layout."""
    a = np.ascontiguousarray(array)
    if layout == "C" or a.ndim == 0:
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), dtype=a.dtype)
        sl = tuple(slice(1, 1 + 2 * s, 2) for s in a.shape)
        big[sl] = a
        return big[sl]
    if layout == "reversed":
        rev = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[rev])[rev]
    if layout == "transposed":
        # stored with the axes in reverse order, viewed back: Fortran-like but
        # reached through transpose (strides in decreasing order of axis)
        axes = tuple(range(a.ndim))[::-1]
        return np.ascontiguousarray(a.transpose(axes)).transpose(axes)
    if layout == "unaligned":
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        out = raw[1:].view(a.dtype).reshape(a.shape)
        out[...] = a
        return out
    if layout == "readonly":
        out = a.copy()
        out.flags.writeable = False
        return out
    if layout == "byteswapped":
        swapped = a.dtype.newbyteorder()
        if swapped == a.dtype:          # bool, uint8, int8: no byte order
            return a
        return a.astype(swapped)
    raise ValueError(layout)


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])


def random_values(rng, shape, dtype, scale=1.0, specials=0.0):
    """Random values of `dtype`: normal floats times `scale`, small ints, or bools.

    For float dtypes, a fraction `specials` of the values is replaced by NaN,
    +inf, -inf, 0.0 or -0.0.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low = 0 if dtype.kind == "u" else -5
        return rng.integers(low, 6, size=shape).astype(dtype)
    values = np.asarray(rng.standard_normal(shape) * scale)
    if specials:
        where = rng.random(shape) < specials
        values[where] = rng.choice(SPECIALS, size=int(where.sum()))
    return values.astype(dtype)


seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from(DTYPES)
float_dtypes = st.sampled_from(FLOAT_DTYPES)
# fractions of special values: a few, many, or all of them
special_fractions = st.sampled_from([0.02, 0.1, 0.3, 1.0])
layouts = st.sampled_from(LAYOUTS)


@st.composite
def arrays(draw, shape, dtype=None, scale=1.0, specials=None):
    """An array of `shape` with a drawn (or given) dtype, random values and a drawn layout.

    `dtype` is a dtype or a strategy for one (every accepted dtype by default);
    `specials` a strategy for the fraction of NaN/inf/signed zeros (none by default).
    """
    if dtype is None:
        dtype = dtypes
    if isinstance(dtype, st.SearchStrategy):
        dtype = draw(dtype)
    fraction = 0.0 if specials is None else draw(specials)
    rng = np.random.default_rng(draw(seeds))
    return in_layout(random_values(rng, shape, dtype, scale, fraction), draw(layouts))


@st.composite
def conv_cases(draw, max_side=9, max_channels=4, max_filters=4, max_batch=3,
               dtype=None, specials=None):
    """(img, conv_filter, stride, padding, bias) for ``pyx_cnn.conv``.

    Covers 2-D, 3-D and batched images, 3-D and 4-D filter banks, kernels from
    1x1 up to the whole padded image, strides larger than the kernel, and mixed
    dtypes and layouts between the arguments.
    """
    img_ndim = draw(st.sampled_from([2, 3, 4]))
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    c = 1 if img_ndim == 2 else draw(st.integers(1, max_channels))
    n = draw(st.integers(1, max_batch)) if img_ndim == 4 else 1
    padding = draw(st.integers(0, 3))
    kh = draw(st.integers(1, h + 2 * padding))
    kw = draw(st.integers(1, w + 2 * padding))
    f = draw(st.integers(1, max_filters))
    stride = draw(st.integers(1, 5))
    img_shape = {2: (h, w), 3: (h, w, c), 4: (n, h, w, c)}[img_ndim]
    filter_4d = c > 1 or draw(st.booleans())
    filter_shape = (f, kh, kw, c) if filter_4d else (f, kh, kw)
    img = draw(arrays(img_shape, dtype, specials=specials))
    bank = draw(arrays(filter_shape, dtype, specials=specials))
    bias = draw(st.none() | arrays((f,), dtype, specials=specials))
    return img, bank, stride, padding, bias


@st.composite
def pool_cases(draw, max_side=10, max_channels=4, max_batch=3, dtype=None, specials=None):
    """(feature_map, size, stride) for ``pyx_cnn.pooling``, windows from 1x1 to the map."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    c = 1 if ndim == 2 else draw(st.integers(1, max_channels))
    n = draw(st.integers(1, max_batch)) if ndim == 4 else 1
    size = draw(st.integers(1, min(h, w)))
    stride = draw(st.integers(1, 5))
    shape = {2: (h, w), 3: (h, w, c), 4: (n, h, w, c)}[ndim]
    return draw(arrays(shape, dtype, specials=specials)), size, stride


def any_shape(max_dims=4, max_side=7):
    """Non-empty shapes of 0 to `max_dims` dimensions."""
    return st.lists(st.integers(1, max_side), min_size=0, max_size=max_dims).map(tuple)
