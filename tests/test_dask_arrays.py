"""pyx_cnn.dask_arrays on a two-worker distributed cluster: lazy results equal to in-memory."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from childenv import child_env

if os.environ.get("PYX_CNN_EXPECT_SANITIZER", "0") not in ("", "0"):
    # other processes (MPI ranks, dask workers) under the preloaded sanitizer
    # runtimes test the launchers, not pyx_cnn's memory safety
    pytest.skip("not in the sanitizer run", allow_module_level=True)

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import pyx_cnn  # noqa: E402
from pyx_cnn import dask_arrays as pda  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    # the workers must import the pyx_cnn under test
    old = os.environ.get("PYTHONPATH")
    path = child_env().get("PYTHONPATH")
    if path:
        os.environ["PYTHONPATH"] = path
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def trained_net():
    from pyx_cnn.models import digits_network

    rng = np.random.default_rng(0)
    X, y = rng.random((64, 8, 8, 1)), rng.integers(0, 10, 64)
    net = digits_network(0)
    net.fit(X, y, epochs=1, batch_size=16, learning_rate=0.1)
    return net


def test_workers_run_this_pyx_cnn(client):
    import pyx_cnn

    files = client.run(lambda: __import__("pyx_cnn").__file__)
    assert all(Path(f).resolve() == Path(pyx_cnn.__file__).resolve() for f in files.values()), files


def test_is_dask_array_does_not_import_dask(tmp_path):
    import subprocess

    code = ("import sys, numpy, pyx_cnn.dask_arrays as m; "
            "print(m.is_dask_array(numpy.zeros(2)), 'dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=child_env(), cwd=tmp_path)
    assert out.stdout.split() == ["False", "False"], out.stderr
    assert pda.is_dask_array(da.zeros(3)) and not pda.is_dask_array(np.zeros(3))


def test_predict_over_four_chunks(client, trained_net):
    rng = np.random.default_rng(1)
    X = rng.random((200, 8, 8, 1))
    lazy = pda.predict(trained_net, da.from_array(X, chunks=50))
    assert pda.is_dask_array(lazy) and lazy.numblocks[0] == 4
    got = lazy.compute()
    # the in-memory predict of the whole batch: equal up to float rounding (a Dense
    # layer's matrix product may sum in another order for another number of rows)
    np.testing.assert_allclose(got, trained_net.predict(X), rtol=1e-12, atol=1e-15)
    # the in-memory predict of the same chunks: bitwise
    per_chunk = np.concatenate([trained_net.predict(X[i:i + 50]) for i in range(0, 200, 50)])
    np.testing.assert_array_equal(got, per_chunk)
    classes = pda.predict_classes(trained_net, da.from_array(X[..., 0], chunks=50))
    np.testing.assert_array_equal(classes.compute(), np.argmax(per_chunk, axis=-1))


def test_evaluate_weighted_means(client, trained_net):
    rng = np.random.default_rng(2)
    X, y = rng.random((130, 8, 8, 1)), rng.integers(0, 10, 130)
    expected = trained_net.evaluate(X, y)
    for y_arg in (y, da.from_array(y, chunks=25)):
        got = pda.evaluate(trained_net, da.from_array(X, chunks=(40, 8, 8, 1)), y_arg)
        assert got.keys() == expected.keys()
        assert got["accuracy"] == expected["accuracy"]
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-12)


@pytest.fixture(scope="module")
def lazy_image():
    # generated on the workers from a seed (no 24 MB array shipped in the graph)
    return da.random.RandomState(3).standard_normal((1000, 1500, 2), chunks=(300, 400, -1))


@pytest.fixture(scope="module")
def big_image(lazy_image):
    return lazy_image.compute(scheduler="sync")


@pytest.mark.parametrize("kernel", [3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_relu_pool_in_tiles_is_bitwise(client, lazy_image, big_image, kernel, stride):
    rng = np.random.default_rng(kernel * 10 + stride)
    w, b = rng.standard_normal((3, kernel, kernel, 2)), rng.standard_normal(3)
    padding = kernel // 2 if stride == 1 else 0
    lazy = pda.pooling(pda.relu(pda.conv(lazy_image, w, stride=stride, padding=padding, bias=b)),
                       2, 2)
    expected = pyx_cnn.pooling(pyx_cnn.relu(
        pyx_cnn.conv(big_image, w, stride=stride, padding=padding, bias=b)), 2, 2)
    got = lazy.compute()
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (3, 1), (2, 3)])
def test_pooling_in_tiles(big_image, size, stride):
    x = da.from_array(big_image[:, :, 0], chunks=(300, 400))
    np.testing.assert_array_equal(pda.pooling(x, size, stride).compute(scheduler="sync"),
                                  pyx_cnn.pooling(big_image[:, :, 0], size, stride))


def test_batch_chunked_along_n_and_hw():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 50, 70, 3)).astype(np.float32)
    w = rng.standard_normal((4, 5, 5, 3)).astype(np.float32)
    for chunks in ((2, -1, -1, -1), (3, 20, 30, 2)):
        lazy = pda.conv(da.from_array(x, chunks=chunks), w, stride=2, padding=2)
        assert lazy.dtype == np.float32
        np.testing.assert_array_equal(lazy.compute(scheduler="sync"),
                                      pyx_cnn.conv(x, w, stride=2, padding=2))


def test_elementwise_and_softmax():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 30, 5))
    lazy = da.from_array(x, chunks=(15, 10, 2))
    np.testing.assert_array_equal(pda.relu(lazy).compute(scheduler="sync"), pyx_cnn.relu(x))
    np.testing.assert_array_equal(pda.sigmoid(lazy).compute(scheduler="sync"),
                                  pyx_cnn.sigmoid(x))
    np.testing.assert_array_equal(pda.softmax(lazy).compute(scheduler="sync"),
                                  pyx_cnn.softmax(x))
    np.testing.assert_array_equal(pda.softmax(lazy, axis=0).compute(scheduler="sync"),
                                  pyx_cnn.softmax(x, axis=0))


def test_one_channel_image_shapes():
    rng = np.random.default_rng(6)
    img, w = rng.standard_normal((90, 120)), rng.standard_normal((2, 3, 3))
    lazy = pda.conv(da.from_array(img, chunks=(40, 50)), w, stride=2, padding=1)
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"),
                                  pyx_cnn.conv(img, w, stride=2, padding=1))


def test_imread_folder(tmp_path):
    pytest.importorskip("dask_image")
    iio = pytest.importorskip("imageio")
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (3, 12, 10, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        iio.imwrite(tmp_path / f"im{i}.png", image)
    lazy = pda.imread(str(tmp_path), scale=1 / 255, dtype="float32")
    assert pda.is_dask_array(lazy) and lazy.shape == (3, 12, 10, 3)
    np.testing.assert_allclose(lazy.compute(scheduler="sync"), images / 255, rtol=1e-6)


def test_predict_and_evaluate_of_a_network_with_batch_norm():
    # the running statistics travel with the weights (they are part of the model)
    from pyx_cnn import NeuralNetwork, layers

    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((24, 6, 6, 1)), rng.integers(0, 3, 24)
    net = NeuralNetwork([layers.Conv2D(2, 3), layers.BatchNormalization(), layers.ReLU(),
                         layers.Flatten(), layers.Dense(3, activation="softmax")],
                        input_shape=(6, 6, 1), seed=0)
    net.fit(X, y, epochs=2, batch_size=8, learning_rate=0.1)
    assert not np.allclose(net.layers[1].state["mean"], 0)
    lazy = da.from_array(X, chunks=8)
    np.testing.assert_allclose(net.predict(lazy).compute(scheduler="sync"), net.predict(X),
                               rtol=1e-12, atol=1e-14)
    scores = net.evaluate(lazy, y)
    expected = net.evaluate(X, y)
    assert scores["loss"] == pytest.approx(expected["loss"], rel=1e-12)
    assert scores["accuracy"] == expected["accuracy"]


def test_predict_classes_of_one_sigmoid_output_thresholds_as_in_memory():
    from pyx_cnn import NeuralNetwork, layers

    rng = np.random.default_rng(2)
    X = rng.standard_normal((16, 5, 5, 1))
    net = NeuralNetwork([layers.Flatten(), layers.Dense(1, activation="sigmoid")],
                        input_shape=(5, 5, 1), seed=0)
    expected = net.predict_classes(X)
    assert 0 < expected.sum() < len(expected)          # both classes occur
    lazy = net.predict_classes(da.from_array(X, chunks=4))
    assert lazy.dtype == np.int64 and lazy.shape == (16,)
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), expected)


def test_predict_of_a_network_with_a_layer_of_your_own():
    # the network travels as its model file: the workers (here threads of this process,
    # where the class is defined) rebuild the layer from its class name and get_config
    from custom_layers import ChannelScale

    net = pyx_cnn.NeuralNetwork([pyx_cnn.layers.Conv2D(2, 3), ChannelScale(initial=0.5),
                                 pyx_cnn.layers.Flatten(), pyx_cnn.layers.Dense(3)],
                                input_shape=(6, 6, 1), seed=0)
    X = np.random.default_rng(4).random((40, 6, 6, 1))
    got = pda.predict(net, da.from_array(X, chunks=10)).compute(scheduler="threads")
    per_chunk = np.concatenate([net.predict(X[i:i + 10]) for i in range(0, 40, 10)])
    np.testing.assert_array_equal(got, per_chunk)
