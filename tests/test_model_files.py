"""Model files: ``NeuralNetwork.save`` / ``load`` round-trip exactly, ``load``
never unpickles, and damaged or foreign files give a clear error (never a
crash, never another exception type)."""
import builtins
import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyx_cnn import NeuralNetwork, layers
from custom_layers import ChannelScale

ARCH_KEY = "__pyx_cnn_architecture__"
CLEAR_ERRORS = (ValueError, MemoryError)   # what a damaged file may raise


def _all_layers_net(dtype="float64", seed=0):
    return NeuralNetwork([
        layers.Conv2D(3, (3, 2), stride=1, padding=1, activation="relu"),
        layers.MaxPool2D(2, 1),
        layers.Conv2D(2, 2, stride=2, use_bias=False),
        layers.Sigmoid(),
        layers.ReLU(),
        layers.Flatten(),
        layers.Dense(5, activation="sigmoid"),
        layers.Dense(4, use_bias=False),
        layers.Dense(3, activation="softmax"),
    ], input_shape=(7, 6, 2), seed=seed, dtype=dtype, optimizer="adam")


def _trained(net, seed=0):
    rng = np.random.default_rng(seed)
    shape = (8,) + net.input_shape
    X = rng.standard_normal(shape).astype(net.dtype)
    y = rng.integers(0, net.output_shape[-1], size=8)
    net.fit(X, y, epochs=2, batch_size=4, learning_rate=0.05)
    return net, X


def _arrays(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _assert_same_network(a, b, X):
    assert type(a) is type(b)
    assert a.input_shape == b.input_shape and a.dtype == b.dtype
    assert [type(la) for la in a.layers] == [type(lb) for lb in b.layers]
    for la, lb in zip(a.layers, b.layers):
        assert la.get_config() == lb.get_config()
        assert la.params.keys() == lb.params.keys()
        for key in la.params:
            np.testing.assert_array_equal(la.params[key], lb.params[key], strict=True)
    np.testing.assert_array_equal(a.predict(X), b.predict(X), strict=True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    net, X = _trained(_all_layers_net())
    path = tmp_path_factory.mktemp("model") / "model.npz"
    net.save(path)
    return net, X, path, path.read_bytes()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_exact(tmp_path, dtype):
    net, X = _trained(_all_layers_net(dtype))
    path = tmp_path / "m.npz"
    net.save(path)
    loaded = NeuralNetwork.load(path)
    _assert_same_network(net, loaded, X)
    # saving the loaded network writes the same arrays
    again = tmp_path / "again.npz"
    loaded.save(again)
    first, second = _arrays(path), _arrays(again)
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], strict=True)
    # the loaded network trains on from the same weights (the optimiser restarts)
    loaded.fit(X, np.zeros(len(X), int), epochs=1)


@st.composite
def architectures(draw):
    h, w = draw(st.integers(3, 7)), draw(st.integers(3, 7))
    c = draw(st.integers(1, 3))
    spec = []
    if draw(st.booleans()):
        k = draw(st.integers(1, 3))
        spec.append(layers.Conv2D(draw(st.integers(1, 3)), k, stride=draw(st.integers(1, 2)),
                                  padding=draw(st.integers(0, 1)),
                                  activation=draw(st.sampled_from([None, "relu", "sigmoid"])),
                                  use_bias=draw(st.booleans())))
        spec.append(draw(st.sampled_from([layers.ReLU, layers.Sigmoid]))())
        if draw(st.booleans()):
            spec.append(layers.MaxPool2D(1, draw(st.integers(1, 2))))
    spec.append(layers.Flatten())
    for _ in range(draw(st.integers(1, 2))):
        spec.append(layers.Dense(draw(st.integers(1, 4)),
                                 activation=draw(st.sampled_from([None, "relu", "sigmoid",
                                                                  "softmax"])),
                                 use_bias=draw(st.booleans())))
    shape = draw(st.sampled_from([(h, w, c), (h, w)])) if c == 1 else (h, w, c)
    return spec, shape, draw(st.sampled_from(["float32", "float64"])), draw(st.integers(0, 99))


@given(architectures())
def test_round_trip_of_random_architectures(tmp_path_factory, case):
    spec, shape, dtype, seed = case
    net = NeuralNetwork(spec, input_shape=shape, seed=seed, dtype=dtype)
    for layer in net.layers:  # non-trivial weights, biases included
        for value in layer.params.values():
            value[...] = np.random.default_rng(seed).standard_normal(value.shape)
    path = tmp_path_factory.mktemp("rt") / "m.npz"
    net.save(path)
    X = np.random.default_rng(seed).standard_normal((3,) + shape).astype(dtype)
    _assert_same_network(net, NeuralNetwork.load(path), X)


# --- load never unpickles ---------------------------------------------------------

class _Trap:
    """Unpickling this calls open(path, 'w'): a file appears if pickle ever runs."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (builtins.open, (self.path, "w"))


@pytest.fixture
def no_pickle(monkeypatch):
    """Fail the test if anything calls pickle while loading."""
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was called")
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def _write_npz(path, arrays):
    np.savez(path, **arrays)   # object arrays are pickled by numpy here


def test_load_never_unpickles(tmp_path, saved, no_pickle):
    marker = tmp_path / "pwned"
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap(marker)
    arrays = _arrays(saved[2])
    cases = {
        "object_weight": dict(arrays, **{"layers.0.W": trap}),
        "object_architecture": dict(arrays, **{ARCH_KEY: trap}),
        "extra_object": dict(arrays, evil=trap),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.npz"
        with open(path, "wb") as fh:   # pickle works here: it is the file being written
            np.savez(fh, **content)
    raw = tmp_path / "raw_pickle.npz"
    raw.write_bytes(pickle.dumps(_Trap(marker)))
    npy = tmp_path / "pickle.npy"
    np.save(npy, trap, allow_pickle=True)
    for path in [*(tmp_path / f"{n}.npz" for n in cases), raw, npy]:
        with pytest.raises(ValueError, match=path.name):
            NeuralNetwork.load(path)
    assert not marker.exists()


# --- damaged and foreign files ------------------------------------------------------

def _mutated(tmp_path, saved, name, change):
    arrays = _arrays(saved[2])
    change(arrays)
    path = tmp_path / f"{name}.npz"
    _write_npz(path, arrays)
    return path


def test_missing_and_extra_entries(tmp_path, saved):
    keys = list(_arrays(saved[2]))
    assert ARCH_KEY in keys and len(keys) > 5
    for key in keys:
        path = _mutated(tmp_path, saved, f"missing_{key}", lambda a, k=key: a.pop(k))
        with pytest.raises(ValueError, match="missing|architecture") as info:
            NeuralNetwork.load(path)
        assert path.name in str(info.value)
    path = _mutated(tmp_path, saved, "extra", lambda a: a.update(extra=np.zeros(2)))
    with pytest.raises(ValueError, match="unexpected"):
        NeuralNetwork.load(path)
    path = tmp_path / "empty.npz"
    _write_npz(path, {})
    with pytest.raises(ValueError, match="empty.npz"):
        NeuralNetwork.load(path)


@pytest.mark.parametrize("change", ["extra_row", "transposed", "flat", "scalar", "more_dims"])
def test_weights_of_the_wrong_shape(tmp_path, saved, change):
    def mutate(arrays):
        w = arrays["layers.0.W"]
        arrays["layers.0.W"] = {
            "extra_row": np.concatenate([w, w[:1]]), "transposed": w.T, "flat": w.ravel(),
            "scalar": np.float64(1.0), "more_dims": w[None]}[change]
    path = _mutated(tmp_path, saved, change, mutate)
    with pytest.raises(ValueError, match="layers.0.W"):
        NeuralNetwork.load(path)


@pytest.mark.parametrize("dtype", ["int64", "int8", "bool", "complex128", "U3", "S3",
                                   "datetime64[s]", "f8,i4"])
def test_weights_of_the_wrong_dtype(tmp_path, saved, dtype):
    def mutate(arrays):
        w = arrays["layers.6.W"]
        arrays["layers.6.W"] = np.zeros(w.shape, dtype=dtype)
    path = _mutated(tmp_path, saved, f"dtype_{dtype.replace(',', '_')}", mutate)
    with pytest.raises(ValueError, match="layers.6.W"):
        NeuralNetwork.load(path)


def _with_architecture(arch):
    def mutate(arrays):
        arrays[ARCH_KEY] = arch if isinstance(arch, np.ndarray) else np.array(arch)
    return mutate


def _arch_edit(saved, **changes):
    arch = json.loads(str(_arrays(saved[2])[ARCH_KEY]))
    arch.update(changes)
    return json.dumps(arch)


def _layer_edit(saved, index, **config):
    arch = json.loads(str(_arrays(saved[2])[ARCH_KEY]))
    arch["layers"][index]["config"].update(config)
    return json.dumps(arch)


def _bad_architectures(saved):
    return {
        "not_json": "{not json",
        "json_list": "[1, 2, 3]",
        "nested": "[" * 100000 + "]" * 100000,
        "wrong_format": _arch_edit(saved, format="keras"),
        "future_version": _arch_edit(saved, format_version=99),
        "no_layers": _arch_edit(saved, layers=[]),
        "layers_not_list": _arch_edit(saved, layers=7),
        "layer_not_dict": _arch_edit(saved, layers=["Conv2D"]),
        "unknown_class": _arch_edit(saved, layers=[{"class": "Evil", "config": {}}]),
        "bad_dtype": _arch_edit(saved, dtype="complex128"),
        "garbage_dtype": _arch_edit(saved, dtype="no such dtype"),
        "bad_input_shape": _arch_edit(saved, input_shape=[7, -6, 2]),
        "input_shape_str": _arch_edit(saved, input_shape="abc"),
        "bad_loss": _arch_edit(saved, loss="hinge"),
        "bad_optimizer": _arch_edit(saved, optimizer="lbfgs"),
        "negative_filters": _layer_edit(saved, 0, filters=-3),
        "string_kernel": _layer_edit(saved, 0, kernel_size="big"),
        "float_stride": _layer_edit(saved, 0, stride=1.5),
        "unknown_option": _layer_edit(saved, 0, dilation=2),
        "bad_activation": _layer_edit(saved, 6, activation="swish"),
        "other_units": _layer_edit(saved, 6, units=6),
        "huge_units": _layer_edit(saved, 6, units=2**40),
        "huge_filters": _layer_edit(saved, 0, filters=2**40),
        "huge_input": _arch_edit(saved, input_shape=[2**40, 2**40, 2]),
        "architecture_1d": np.array(["{}"]),
        "architecture_bytes": np.array(b"{}"),
        "architecture_number": np.array(3.0),
    }


BAD_ARCH_NAMES = ["not_json", "json_list", "nested", "wrong_format", "future_version",
                  "no_layers", "layers_not_list", "layer_not_dict", "unknown_class", "bad_dtype",
                  "garbage_dtype", "bad_input_shape", "input_shape_str", "bad_loss",
                  "bad_optimizer", "negative_filters", "string_kernel", "float_stride",
                  "unknown_option", "bad_activation", "other_units", "huge_units",
                  "huge_filters", "huge_input", "architecture_1d", "architecture_bytes",
                  "architecture_number"]


@pytest.mark.parametrize("name", BAD_ARCH_NAMES)
def test_bad_architecture(tmp_path, saved, name):
    arch = _bad_architectures(saved)[name]
    path = _mutated(tmp_path, saved, name, _with_architecture(arch))
    with pytest.raises(CLEAR_ERRORS) as info:
        NeuralNetwork.load(path)
    if info.type is ValueError:
        assert path.name in str(info.value)


def test_missing_or_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        NeuralNetwork.load(tmp_path / "nope.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("hello")
    (tmp_path / "zip_magic_only.npz").write_bytes(b"PK\x03\x04")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "not a model")
    for name in ["empty.npz", "text.npz", "zip_magic_only.npz", "single.npy", "other.zip"]:
        with pytest.raises(ValueError, match=name):
            NeuralNetwork.load(tmp_path / name)
    with pytest.raises(CLEAR_ERRORS + (IsADirectoryError, PermissionError)):
        NeuralNetwork.load(tmp_path)


def test_truncated_archives(tmp_path, saved):
    data = saved[3]
    cuts = sorted(set(list(range(0, 200, 7)) + list(np.linspace(0, len(data) - 1, 60, dtype=int))
                      + [len(data) - k for k in range(1, 40, 3)]))
    path = tmp_path / "cut.npz"
    for cut in cuts:
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.npz"):
            NeuralNetwork.load(path)


def test_corrupted_bytes(tmp_path, saved):
    """Flipped bytes anywhere: the zip checksums, the npy headers and the checks on
    the architecture turn every corruption into a clear error or a correct load."""
    net, X, _, data = saved
    rng = np.random.default_rng(0)
    path = tmp_path / "flipped.npz"
    positions = rng.choice(len(data), size=150, replace=False)
    for pos in positions:
        corrupted = bytearray(data)
        corrupted[pos] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(corrupted))
        try:
            loaded = NeuralNetwork.load(path)
        except CLEAR_ERRORS:
            continue
        # a flip that left every checksum valid (zip metadata) loads the same model
        _assert_same_network(net, loaded, X)


def test_compressed_files_load_and_declared_sizes_are_checked(tmp_path, saved, monkeypatch):
    net, X, _, _ = saved
    arrays = _arrays(saved[2])
    compressed = tmp_path / "compressed.npz"
    np.savez_compressed(compressed, **arrays)
    _assert_same_network(net, NeuralNetwork.load(compressed), X)
    # a zip bomb: a 64 MiB member compressed to a few KiB must be refused before it is
    # inflated when it cannot fit in the memory available
    bomb = tmp_path / "bomb.npz"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(2**23))
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            inner = io.BytesIO()
            np.lib.format.write_array(inner, value, allow_pickle=False)
            zf.writestr(key + ".npy", inner.getvalue())
        zf.writestr("bomb.npy", buf.getvalue())
    assert bomb.stat().st_size < 2**20
    from pyx_cnn import _validation
    monkeypatch.setattr(_validation, "_memory_limit", lambda: 2**25)
    monkeypatch.setattr(_validation, "_CHECK_ABOVE_BYTES", 2**20)
    with pytest.raises(MemoryError):
        NeuralNetwork.load(bomb)


def test_lying_npy_header_is_a_clear_error(tmp_path, saved):
    """A weight whose header claims far more data than the member holds."""
    arrays = _arrays(saved[2])
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in arrays.items():
            inner = io.BytesIO()
            np.lib.format.write_array(inner, value, allow_pickle=False)
            raw = inner.getvalue()
            if key == "layers.0.W":
                header = {"descr": "<f8", "fortran_order": False, "shape": (2**40,)}
                inner = io.BytesIO()
                np.lib.format.write_array_header_1_0(inner, header)
                raw = inner.getvalue() + raw[-64:]
            zf.writestr(key + ".npy", raw)
    with pytest.raises(CLEAR_ERRORS):
        NeuralNetwork.load(path)


@pytest.mark.parametrize("what", ["encrypted", "unknown_method", "lzma"])
def test_unsupported_zip_features_are_clear_errors(tmp_path, saved, what):
    data = bytearray(saved[3])
    if what == "lzma":
        path = tmp_path / "lzma.npz"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as zf:
            for key, value in _arrays(saved[2]).items():
                inner = io.BytesIO()
                np.lib.format.write_array(inner, value, allow_pickle=False)
                zf.writestr(key + ".npy", inner.getvalue())
        NeuralNetwork.load(path)   # a compression zipfile reads: loads
        return
    # patch every local header (flags at 6, method at 8) and central directory entry
    # (flags at 8, method at 10)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            if what == "encrypted":
                data[start + flag_at] |= 1
            else:
                data[start + method_at:start + method_at + 2] = (99).to_bytes(2, "little")
            start += 4
    path = tmp_path / f"{what}.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=path.name):
        NeuralNetwork.load(path)


# --- layers of your own --------------------------------------------------------------


def _custom_layer_net():
    return NeuralNetwork([layers.Conv2D(3, 3), ChannelScale(initial=0.5), layers.ReLU(),
                          layers.Flatten(), layers.Dense(4, activation="softmax")],
                         input_shape=(6, 6, 1), seed=0, optimizer="adam")


def test_a_layer_of_your_own_saves_loads_and_predicts_the_same(tmp_path):
    net, X = _trained(_custom_layer_net())
    scale = net.layers[1].params["scale"]
    assert not np.allclose(scale, 0.5)      # trained: the file must carry the weights
    net.save(tmp_path / "custom.npz")
    again = NeuralNetwork.load(tmp_path / "custom.npz")
    assert type(again.layers[1]) is ChannelScale and again.layers[1].initial == 0.5
    _assert_same_network(net, again, X)
    h1 = net.fit(X, np.arange(8) % 4, epochs=1, batch_size=4)
    h2 = again.fit(X, np.arange(8) % 4, epochs=1, batch_size=4)
    assert h1.history["loss"] == h2.history["loss"]


def test_an_unknown_layer_class_says_to_define_or_import_it(tmp_path, monkeypatch):
    net = _custom_layer_net()
    net.save(tmp_path / "custom.npz")
    monkeypatch.delitem(layers.LAYER_CLASSES, "ChannelScale", raising=False)
    with pytest.raises(ValueError, match=r"custom\.npz.*unknown layer class 'ChannelScale'.*"
                                         r"define or import.*get_config"):
        NeuralNetwork.load(tmp_path / "custom.npz")


def test_a_layer_class_cannot_take_a_built_in_name():
    with pytest.raises(TypeError, match=r"'Dense'.*built-in layer.*another name"):
        class Dense(layers.Layer):
            pass
    assert layers.LAYER_CLASSES["Dense"] is layers.Dense
    # every layer class of layers.__all__ (Input and SymbolicTensor are not layers)
    not_layers = {"Layer", "Input", "SymbolicTensor"}
    assert {name for name in layers.__all__ if name not in not_layers} <= set(
        layers.LAYER_CLASSES)


def test_a_redefined_layer_class_replaces_the_earlier_one():
    def define():
        class Doubled(layers.Layer):
            def _forward(self, x, training=False):
                return 2 * x
        return Doubled

    first, second = define(), define()
    assert first is not second and layers.LAYER_CLASSES["Doubled"] is second


def test_a_base_class_can_stay_out_of_the_registry():
    class _AbstractScale(layers.Layer, register=False):
        pass

    class Flatten(layers.Flatten, register=False):   # not saved, so no clash
        pass

    assert "_AbstractScale" not in layers.LAYER_CLASSES
    assert layers.LAYER_CLASSES["Flatten"] is layers.Flatten


# --- file objects ---------------------------------------------------------------------

def test_save_to_and_load_from_a_binary_file_object():
    net, X = _trained(_all_layers_net())
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    loaded = NeuralNetwork.load(buffer)
    _assert_same_network(net, loaded, X)
    # training goes on exactly as the saved network's does
    y = np.arange(len(X)) % 3
    again = net.fit(X, y, epochs=2, batch_size=4)
    resumed = loaded.fit(X, y, epochs=2, batch_size=4)
    assert resumed.history["loss"] == again.history["loss"]
    np.testing.assert_array_equal(loaded.flat_params, net.flat_params, strict=True)


def test_load_from_an_open_file(tmp_path, saved):
    net, X, path, _ = saved
    with open(path, "rb") as fh:
        _assert_same_network(net, NeuralNetwork.load(fh), X)
    from pyx_cnn import serialization

    with open(path, "rb") as fh:
        _assert_same_network(net, serialization.load(fh), X)


def test_a_file_object_that_is_not_a_model_names_its_type():
    with pytest.raises(ValueError, match="BytesIO.*not a readable pyx_cnn model file"):
        NeuralNetwork.load(io.BytesIO(b"hello"))


@pytest.mark.parametrize("bad", [3, None, 2.5, ["model.npz"], b"PK\x03\x04",
                                 io.StringIO("text")], ids=lambda bad: type(bad).__name__)
def test_load_refuses_what_is_neither_a_path_nor_a_binary_file(bad):
    with pytest.raises(TypeError, match=rf"path must be .*got .*{type(bad).__name__}"):
        NeuralNetwork.load(bad)


@pytest.mark.parametrize("bad", [3, None, ["model.npz"], b"model.npz", io.StringIO()],
                         ids=lambda bad: type(bad).__name__)
def test_save_refuses_what_is_neither_a_path_nor_a_binary_file(bad, saved):
    with pytest.raises(TypeError, match=rf"path must be .*got .*{type(bad).__name__}"):
        saved[0].save(bad)
