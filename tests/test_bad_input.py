"""Bad input to every public entry point: a clear TypeError / ValueError /
MemoryError naming the argument, never a crash, and the inputs unchanged."""
import datetime
import tracemalloc

import numpy as np
import pytest

import pyx_cnn

RNG = np.random.default_rng(3)

# entry point -> (function, valid keyword arguments, names of the array arguments)
ENTRY_POINTS = {
    "conv": (pyx_cnn.conv,
             dict(img=RNG.standard_normal((2, 6, 6, 2)), conv_filter=RNG.standard_normal((3, 3, 3, 2)),
                  stride=1, padding=1, bias=RNG.standard_normal(3)),
             ["img", "conv_filter", "bias"]),
    "conv_": (pyx_cnn.conv_,
              dict(img=RNG.standard_normal((6, 5)), conv_filter=RNG.standard_normal((2, 3))),
              ["img", "conv_filter"]),
    "pooling": (pyx_cnn.pooling, dict(feature_map=RNG.standard_normal((5, 6, 2)), size=2, stride=2),
                ["feature_map"]),
    "relu": (pyx_cnn.relu, dict(feature_map=RNG.standard_normal((3, 4))), ["feature_map"]),
    "sigmoid": (pyx_cnn.sigmoid, dict(x=RNG.standard_normal((3, 4))), ["x"]),
    "softmax": (pyx_cnn.softmax, dict(x=RNG.standard_normal((3, 4)), axis=-1), ["x"]),
}

INT_ARGS = {"conv": ["stride", "padding"], "pooling": ["size", "stride"], "softmax": ["axis"]}


def _gen():
    yield 1.0


# values that are not arrays of real numbers: TypeError
NOT_REAL_ARRAYS = {
    "None": None,
    "complex": np.ones((4, 4), complex),
    "complex_list": [[1j, 2], [3, 4]],
    "object_floats": np.ones((4, 4), dtype=object),
    "object_mixed": np.array([[1.0, None], [2.0, 3.0]], dtype=object),
    "str": "abc",
    "bytes": b"abc",
    "str_array": np.array([["a", "b"], ["c", "d"]]),
    "bytes_array": np.array([[b"a", b"b"]]),
    "str_list": [["1", "2"], ["3", "4"]],
    "datetime": np.array([["2020-01-01"]], dtype="datetime64[D]"),
    "timedelta": np.ones((2, 2), dtype="timedelta64[s]"),
    "structured": np.zeros((2, 2), dtype=[("a", "f8"), ("b", "i4")]),
    "dict": {"a": 1},
    "set": {1, 2},
    "object": object(),
    "generator": _gen(),
    "date": datetime.date(2020, 1, 1),
    "int_too_big_for_int64": [[2**70, 1], [1, 1]],
}

EMPTY_SHAPES = [(0,), (0, 4), (4, 0), (0, 3, 3), (3, 3, 0), (0, 3, 3, 1), (2, 3, 0, 2)]


def _snapshot(kwargs):
    return {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)}


def _assert_unchanged(kwargs, snap):
    for k, copy in snap.items():
        np.testing.assert_array_equal(kwargs[k], copy, strict=True)


def _call(entry, **changes):
    fn, good, _ = ENTRY_POINTS[entry]
    kwargs = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in good.items()}
    kwargs.update(changes)
    return fn, kwargs


def _array_arg_cases():
    for entry, (_, _, names) in ENTRY_POINTS.items():
        for name in names:
            yield entry, name


@pytest.mark.parametrize("entry,arg", list(_array_arg_cases()))
def test_valid_call_works_and_lists_are_array_likes(entry, arg):
    fn, kwargs = _call(entry)
    expected = fn(**kwargs)
    listed = dict(kwargs, **{arg: kwargs[arg].tolist()})
    np.testing.assert_array_equal(fn(**listed), expected, strict=True)


@pytest.mark.parametrize("bad", list(NOT_REAL_ARRAYS), ids=str)
@pytest.mark.parametrize("entry,arg", list(_array_arg_cases()))
def test_non_real_arrays_raise_type_error(entry, arg, bad):
    fn, kwargs = _call(entry)
    value = NOT_REAL_ARRAYS[bad]
    if bad == "None" and arg == "bias":
        pytest.skip("bias=None means no bias")
    kwargs[arg] = value
    snap = _snapshot(kwargs)
    with pytest.raises(TypeError) as info:
        fn(**kwargs)
    assert arg in str(info.value)
    _assert_unchanged(kwargs, snap)


@pytest.mark.parametrize("entry,arg", list(_array_arg_cases()))
def test_ragged_lists_raise_value_error(entry, arg):
    fn, kwargs = _call(entry, **{arg: [[1.0, 2.0], [3.0]]})
    with pytest.raises(ValueError, match=arg):
        fn(**kwargs)


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("entry,arg", list(_array_arg_cases()))
def test_empty_arrays_raise_value_error(entry, arg, shape):
    fn, kwargs = _call(entry, **{arg: np.ones(shape)})
    snap = _snapshot(kwargs)
    with pytest.raises(ValueError) as info:
        fn(**kwargs)
    assert arg in str(info.value)
    _assert_unchanged(kwargs, snap)


WRONG_NDIM = {
    ("conv", "img"): [(), (6,), (1, 1, 6, 6, 2)],
    ("conv", "conv_filter"): [(), (3,), (3, 3), (1, 3, 3, 3, 2)],
    ("conv", "bias"): [(), (3, 1), (1, 3)],
    ("conv_", "img"): [(), (6,), (6, 5, 1), (1, 6, 5, 1)],
    ("conv_", "conv_filter"): [(), (2,), (1, 2, 3), (1, 2, 3, 1)],
    ("pooling", "feature_map"): [(), (6,), (1, 1, 5, 6, 2)],
    ("softmax", "x"): [()],
}


def _wrong_ndim_cases():
    for (entry, arg), shapes in WRONG_NDIM.items():
        for shape in shapes:
            yield entry, arg, shape


@pytest.mark.parametrize("entry,arg,shape", list(_wrong_ndim_cases()))
def test_wrong_number_of_dimensions_raises_value_error(entry, arg, shape):
    fn, kwargs = _call(entry, **{arg: np.ones(shape)})
    snap = _snapshot(kwargs)
    with pytest.raises(ValueError) as info:
        fn(**kwargs)
    assert arg in str(info.value)
    _assert_unchanged(kwargs, snap)


BAD_INTS = [
    (None, TypeError), (1.5, TypeError), (2.0, TypeError), ("2", TypeError),
    (True, TypeError), (np.float64(2), TypeError), (float("nan"), TypeError),
    ([2], TypeError), (np.array([2, 2]), TypeError), (1 + 0j, TypeError),
]


def _int_cases():
    for entry, names in INT_ARGS.items():
        for name in names:
            for value, exc in BAD_INTS:
                yield entry, name, value, exc


@pytest.mark.parametrize("entry,arg,value,exc", list(_int_cases()), ids=str)
def test_bad_integer_arguments(entry, arg, value, exc):
    fn, kwargs = _call(entry, **{arg: value})
    snap = _snapshot(kwargs)
    with pytest.raises(exc, match=arg):
        fn(**kwargs)
    _assert_unchanged(kwargs, snap)


@pytest.mark.parametrize(
    "entry,arg,value",
    [("conv", "stride", 0), ("conv", "stride", -(2**70)), ("conv", "padding", -1),
     ("pooling", "size", 0), ("pooling", "size", 7), ("pooling", "size", 2**70),
     ("pooling", "stride", 0), ("pooling", "stride", -5),
     ("softmax", "axis", 2), ("softmax", "axis", -3), ("softmax", "axis", 2**70)],
)
def test_out_of_range_integers_raise_value_error(entry, arg, value):
    fn, kwargs = _call(entry, **{arg: value})
    with pytest.raises(ValueError, match=arg):
        fn(**kwargs)


@pytest.mark.parametrize("stride", [7, 100, 2**31, 2**62, 2**70])
def test_huge_strides_give_one_window(stride):
    # a stride beyond the image keeps only the first window along each axis
    img = RNG.standard_normal((5, 6, 2))
    bank = RNG.standard_normal((3, 2, 2, 2))
    out = pyx_cnn.conv(img, bank, stride=stride, padding=1)
    assert out.shape == (1, 1, 3)
    padded = np.pad(img, ((1, 1), (1, 1), (0, 0)))
    np.testing.assert_allclose(out[0, 0], np.einsum("ijc,fijc->f", padded[:2, :2], bank),
                               rtol=1e-12)
    pooled = pyx_cnn.pooling(img, 2, stride)
    np.testing.assert_array_equal(pooled, img[:2, :2].max(axis=(0, 1))[None, None])


def test_mismatched_shapes_between_arguments():
    with pytest.raises(ValueError, match="channel"):
        pyx_cnn.conv(np.ones((6, 6, 3)), np.ones((2, 3, 3, 2)))
    with pytest.raises(ValueError, match="larger"):
        pyx_cnn.conv(np.ones((2, 3, 3, 1)), np.ones((1, 4, 2, 1)))
    with pytest.raises(ValueError, match="larger"):
        pyx_cnn.conv_(np.ones((3, 3)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="bias"):
        pyx_cnn.conv(np.ones((6, 6)), np.ones((2, 3, 3)), bias=np.ones(1))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_array_subclasses_are_plain_arrays():
    m = np.matrix(np.arange(16.0).reshape(4, 4))
    plain = np.asarray(m)
    for fn, args in [(pyx_cnn.relu, ()), (pyx_cnn.sigmoid, ()), (pyx_cnn.softmax, ()),
                     (pyx_cnn.pooling, (2, 2)), (pyx_cnn.conv_, (np.ones((2, 2)),))]:
        out = fn(m, *args)
        assert type(out) is np.ndarray
        np.testing.assert_array_equal(out, fn(plain, *args))
    masked = np.ma.masked_array(np.arange(6.0).reshape(2, 3), mask=[[0, 1, 0], [0, 0, 0]])
    out = pyx_cnn.softmax(masked)
    assert type(out) is np.ndarray


# --- results too large to allocate ---------------------------------------------

def _huge(shape, dtype=np.float64):
    """A read-only view of `shape` that costs one element of memory."""
    return np.broadcast_to(np.ones((), dtype), shape)


HUGE_CALLS = {
    "conv_big_batch": lambda: pyx_cnn.conv(_huge((2**20, 64, 64, 1)), np.ones((8, 3, 3, 1))),
    "conv_big_image": lambda: pyx_cnn.conv(_huge((2**18, 2**18)), np.ones((1, 1, 1))),
    "conv_many_filters": lambda: pyx_cnn.conv(np.ones((4, 4)), _huge((2**34, 1, 1))),
    "conv_big_padding": lambda: pyx_cnn.conv(np.ones((4, 4)), np.ones((1, 1, 1)),
                                             padding=2**20),
    "conv_huge_padding": lambda: pyx_cnn.conv(np.ones((4, 4)), np.ones((1, 1, 1)),
                                              padding=2**62),
    "conv_float32": lambda: pyx_cnn.conv(_huge((2**16, 2**16, 8), np.float32),
                                         np.ones((64, 1, 1, 8), np.float32)),
    "conv_": lambda: pyx_cnn.conv_(_huge((2**20, 2**20)), np.ones((2, 2))),
    "pooling": lambda: pyx_cnn.pooling(_huge((2**20, 2**20, 4)), 1, 1),
    "pooling_copy": lambda: pyx_cnn.pooling(_huge((2**17, 2**17, 8)), 2, 2),
    "relu": lambda: pyx_cnn.relu(_huge((2**20, 2**20))),
    "sigmoid": lambda: pyx_cnn.sigmoid(_huge((2**30, 2**10), np.float32)),
    "softmax": lambda: pyx_cnn.softmax(_huge((2**20, 2**20))),
    "relu_int": lambda: pyx_cnn.relu(_huge((2**40,), np.int8)),
}


@pytest.mark.parametrize("name", list(HUGE_CALLS))
def test_results_too_large_raise_memory_error_before_allocating(name):
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError, match="GiB"):
            HUGE_CALLS[name]()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**24, f"{peak} bytes allocated before the MemoryError"
