"""Optional parts stay at the edges: the core imports none of the optional libraries,
and arrays of another library reach their implementation through one dispatch point."""
import subprocess
import sys
import types

import numpy as np
import pytest
from childenv import child_env

import pyx_cnn
from pyx_cnn import NeuralNetwork, _dispatch, layers

OPTIONAL = ("dask", "distributed", "onnx", "onnxruntime", "mpi4py", "matplotlib", "sklearn",
            "skimage", "tqdm", "torch")
EDGES = ("pyx_cnn.mpi", "pyx_cnn.dask_arrays", "pyx_cnn.onnx", "pyx_cnn.plot",
         "pyx_cnn.sklearn")


def _loaded_after(code, tmp_path):
    """The optional libraries and edge modules in sys.modules after running `code`."""
    probe = (f"{code}\nimport sys\n"
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {OPTIONAL!r} "
             f"or m in {EDGES!r}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, env=child_env())
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_pyx_cnn_loads_no_optional_library(tmp_path):
    assert _loaded_after("import pyx_cnn", tmp_path) == "[]"


def test_training_and_inference_load_no_optional_library(tmp_path):
    code = """
import numpy as np, pyx_cnn
from pyx_cnn import layers
net = pyx_cnn.NeuralNetwork([layers.Conv2D(2, 3), layers.ReLU(), layers.Flatten(),
                             layers.Dense(2, activation="softmax")], input_shape=(5, 5), seed=0)
X, y = np.random.default_rng(0).random((8, 5, 5)), np.arange(8) % 2
net.fit(X, y, epochs=2, batch_size=4, validation_split=0.25)
net.evaluate(X, y); net.predict_classes(X); net.gradient_descent(0.1, X, y, 1)
pyx_cnn.relu(pyx_cnn.conv(X[0], np.ones((2, 3, 3))))
"""
    assert _loaded_after(code, tmp_path) == "[]"


def test_functional_layers_and_ops_load_no_optional_library(tmp_path):
    code = "import pyx_cnn.functional, pyx_cnn.layers, pyx_cnn.ops, pyx_cnn.training_loop"
    assert _loaded_after(code, tmp_path) == "[]"


def test_models_and_datasets_load_no_optional_library(tmp_path):
    # the loaders import scikit-learn / scikit-image when called, not before
    code = ("import pyx_cnn.models, pyx_cnn.datasets\n"
            "pyx_cnn.models.model_network('all', (8, 8, 1), 3)")
    assert _loaded_after(code, tmp_path) == "[]"


@pytest.fixture
def fake_library(monkeypatch):
    """An array library 'fakearrays' and its pyx_cnn provider module, registered."""
    library = types.ModuleType("fakearrays")
    FakeArray = type("FakeArray", (), {"__module__": "fakearrays.core"})
    library.FakeArray = FakeArray
    provider = types.ModuleType("fake_provider")
    provider.handles = lambda x: isinstance(x, FakeArray)
    provider.relu = lambda feature_map: ("relu", feature_map)
    provider.conv = lambda img, conv_filter, **kwargs: ("conv", img, conv_filter, kwargs)
    provider.predict = lambda net, X, batch_size=256, fuse=True: ("predict", net, X, batch_size)
    provider.evaluate = lambda net, X, y, **kwargs: ("evaluate", net, X, y)
    monkeypatch.setitem(sys.modules, "fakearrays", library)
    monkeypatch.setitem(sys.modules, "fake_provider", provider)
    monkeypatch.setitem(_dispatch.PROVIDERS, "fakearrays", "fake_provider")
    _dispatch._by_type.clear()
    yield FakeArray
    _dispatch._by_type.clear()


def test_an_array_of_a_registered_library_goes_to_its_provider(fake_library):
    x = fake_library()
    assert pyx_cnn.relu(x) == ("relu", x)
    assert pyx_cnn.relu(feature_map=x) == ("relu", x)
    w = np.ones((1, 2, 2))
    assert pyx_cnn.conv(x, w, stride=2) == ("conv", x, w, {"stride": 2})
    net = NeuralNetwork([layers.Flatten(), layers.Dense(2)], input_shape=(2, 2), seed=0)
    assert net.predict(x, 8) == ("predict", net, x, 8)
    y = fake_library()
    result = net.evaluate(np.zeros((2, 2, 2)), y)      # dispatched on y as well
    assert result[0] == "evaluate" and result[1] is net and result[3] is y
    # NumPy arrays and lists stay with the core
    np.testing.assert_array_equal(pyx_cnn.relu([-1.0, 2.0]), [0.0, 2.0])
    assert _dispatch.provider_for(np.zeros(2)) is None


def test_a_type_of_a_listed_package_that_the_provider_refuses_stays_with_the_core(
        fake_library):
    other = type("Scalar", (), {"__module__": "fakearrays.scalars"})
    assert _dispatch.provider_for(other()) is None
    assert _dispatch.provider_for(fake_library()) is sys.modules["fake_provider"]
