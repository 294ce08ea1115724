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
                if (entry, name) == ("conv", "padding") and isinstance(value, str):
                    exc = ValueError   # a string names a padding: "valid" or "same"
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


# --- layers, losses and the network ------------------------------------------------

from pyx_cnn import NeuralNetwork, layers  # noqa: E402
from pyx_cnn.losses import MeanSquaredError, SoftmaxCrossEntropy  # noqa: E402


def _built_layers():
    conv = layers.Conv2D(4, 3, padding=1)
    conv.build((6, 6, 2), rng=0)
    dense = layers.Dense(3)
    dense.build((5,), rng=0)
    pool = layers.MaxPool2D(2, 2)
    pool.build((6, 6, 2))
    relu = layers.ReLU()
    relu.build((6, 6, 2))
    return {"conv": (conv, (2, 6, 6, 2)), "dense": (dense, (2, 5)), "pool": (pool, (2, 6, 6, 2)),
            "relu": (relu, (2, 6, 6, 2))}


@pytest.mark.parametrize("which", ["conv", "dense", "pool", "relu"])
def test_layer_forward_and_backward_bad_input(which):
    layer, shape = _built_layers()[which]
    for bad in ("None", "complex", "object_floats", "str_array", "str", "dict"):
        with pytest.raises(TypeError, match="x"):
            layer.forward(NOT_REAL_ARRAYS[bad])
    for wrong in [(0,) + shape[1:], shape[1:], (2,) + shape, shape[:-1] + (shape[-1] + 1,)]:
        with pytest.raises(ValueError):
            layer.forward(np.ones(wrong))
    x = RNG.standard_normal(shape)
    x_copy = x.copy()
    y = layer.forward(x)
    np.testing.assert_array_equal(x, x_copy)
    with pytest.raises(ValueError, match="grad_out"):
        layer.backward(np.ones(y.shape[:-1] + (y.shape[-1] + 1,)))
    with pytest.raises(TypeError, match="grad_out"):
        layer.backward(np.ones(y.shape, complex))
    g = np.ones(y.shape)
    layer.backward(g)
    np.testing.assert_array_equal(g, 1.0)
    huge = np.broadcast_to(1.0, (2**34,) + shape[1:])
    with pytest.raises(MemoryError):
        layer.forward(huge)


def test_backward_before_forward_is_an_error():
    layer, shape = _built_layers()["conv"]
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 6, 6, 4)))


@pytest.mark.parametrize("which,key", [("conv", "W"), ("conv", "b"), ("dense", "W"),
                                       ("dense", "b")])
def test_replaced_weights_of_the_wrong_shape_are_refused(which, key):
    # the kernels index weights by the layer's shapes: a shorter bias would be read
    # past its end
    layer, shape = _built_layers()[which]
    good = layer.params[key]
    layer.params[key] = np.zeros(good.shape[:-1] + (good.shape[-1] - 1,))
    with pytest.raises(ValueError, match=f"params\\['{key}'\\]"):
        layer.forward(RNG.standard_normal(shape))
    layer.params[key] = good.tolist()                         # a list of the right shape works
    layer.params[key] = np.asfortranarray(np.asarray(layer.params[key], np.float32))
    y = layer.forward(RNG.standard_normal(shape))
    assert layer.params[key].dtype == np.float64 and layer.params[key].flags.c_contiguous
    layer.grads[key] = np.zeros(good.shape[:-1] + (good.shape[-1] - 1,))
    with pytest.raises(ValueError, match=f"grads\\['{key}'\\]"):
        layer.backward(np.ones(y.shape))


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MeanSquaredError()])
def test_loss_bad_targets(loss):
    z = RNG.standard_normal((4, 3))
    for target in ([0, 1, 2, 3], [0, 1, 2, -1], [0, 1], [0, 1, 2, 2**40], [0.5, 1, 2, 0],
                   np.ones((4, 2)), np.ones((3, 3))):
        with pytest.raises(ValueError, match="target|label"):
            loss(z, np.asarray(target))
    with pytest.raises(TypeError):
        loss(z, None)
    with pytest.raises(TypeError):
        loss(z.astype(complex), [0, 1, 2, 0])
    with pytest.raises(ValueError, match="output"):
        loss(np.ones((0, 3)), np.zeros(0, int))


@pytest.fixture(scope="module")
def small_net():
    return NeuralNetwork([layers.Conv2D(2, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
                          layers.Flatten(), layers.Dense(3, activation="softmax")],
                         input_shape=(6, 6), seed=0)


def test_network_bad_input(small_net):
    X = RNG.standard_normal((5, 6, 6))
    y = np.array([0, 1, 2, 0, 1])
    X_copy, y_copy = X.copy(), y.copy()
    for method in (small_net.predict, lambda a: small_net.evaluate(a, y),
                   lambda a: small_net.fit(a, y, epochs=1)):
        for bad in ("None", "complex", "object_floats", "str_array", "dict"):
            with pytest.raises(TypeError):
                method(NOT_REAL_ARRAYS[bad])
        for shape in [(0, 6, 6), (5, 6), (5, 6, 7), (5, 6, 6, 2)]:
            with pytest.raises(ValueError, match="X"):
                method(np.ones(shape))
    # one sample of exactly input_shape: predict gives one row (SPEC 8), the others
    # need a batch and say so
    assert small_net.predict(np.ones((6, 6))).shape == (3,)
    for method in (lambda a: small_net.evaluate(a, y), lambda a: small_net.fit(a, y, epochs=1)):
        with pytest.raises(ValueError, match=r"X must be .*one sample"):
            method(np.ones((6, 6)))
    for labels in ([0, 1, 2, 0], [0, 1, 2, 0, 3], [0, 1, 2, 0, -1], [0, 1, 2, 0, np.nan],
                   np.ones((5, 2))):
        with pytest.raises(ValueError, match="y"):
            small_net.fit(X, np.asarray(labels), epochs=1)
    with pytest.raises(TypeError):
        small_net.fit(X, None)
    for kwargs in ({"epochs": -1}, {"batch_size": 0}, {"learning_rate": float("nan")}):
        with pytest.raises(ValueError):
            small_net.fit(X, y, **kwargs)
    with pytest.raises(MemoryError):
        small_net.predict(np.broadcast_to(1.0, (2**34, 6, 6)))
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    misaligned = np.zeros(X.nbytes + 1, np.uint8)[1:].view(X.dtype).reshape(X.shape)
    misaligned[...] = X
    np.testing.assert_array_equal(small_net.predict(misaligned), small_net.predict(X))


def test_network_construction_errors():
    with pytest.raises(ValueError):
        NeuralNetwork([], input_shape=(4, 4))
    with pytest.raises(TypeError):
        NeuralNetwork([object()], input_shape=(4, 4))
    with pytest.raises(ValueError, match="larger"):
        NeuralNetwork([layers.Conv2D(2, 5)], input_shape=(4, 4))
    with pytest.raises(ValueError):
        NeuralNetwork([layers.Dense(2)], input_shape=(4, 4))
    with pytest.raises(MemoryError):
        NeuralNetwork([layers.Flatten(), layers.Dense(2**20)], input_shape=(2**20, 2**10))
    with pytest.raises(MemoryError):
        NeuralNetwork([layers.Conv2D(2**20, 1)], input_shape=(4, 4, 2**30))


@pytest.mark.parametrize("make, good, bad", [
    (lambda: layers.Conv2D(2, 3), (5, 5, 1), (2, 2, 1)),
    (lambda: layers.Conv2DTranspose(2, 3, padding=2), (3, 3, 1), (1, 1, 1)),
    (lambda: layers.MaxPool2D(3, 2), (6, 6, 2), (2, 2, 2)),
])
def test_a_refused_build_leaves_the_layer_as_it_was(make, good, bad):
    fresh = make()
    with pytest.raises(ValueError):
        fresh.build(bad)
    assert not fresh.built and fresh.params == {}
    layer = make()
    layer.build(good, rng=0)
    weights = {k: v.copy() for k, v in layer.params.items()}
    with pytest.raises(ValueError):
        layer.build(bad)
    assert layer.built and layer.input_shape == good
    assert set(layer.params) == set(weights)
    for k, v in weights.items():
        np.testing.assert_array_equal(layer.params[k], v)


def test_assigning_the_optimizer_takes_a_name_and_refuses_at_once():
    from pyx_cnn import optim

    net = NeuralNetwork([layers.Flatten(), layers.Dense(3)], input_shape=(4, 4, 1), seed=0)
    net.optimizer = "Adam"                    # a name, as the constructor takes it
    assert isinstance(net.optimizer, optim.Adam)
    X = np.random.default_rng(0).random((8, 4, 4, 1))
    net.fit(X, np.arange(8) % 3, epochs=1, verbose=0)
    before = net.optimizer
    with pytest.raises(ValueError, match="optimizer must be"):
        net.optimizer = "adamx"               # refused here, not later inside fit
    assert net.optimizer is before
