"""No memory growth over many calls of every public function, including calls that raise.

Resident memory (psutil RSS) is measured after a warm-up and after the loop;
a leak of even a few hundred bytes per call would exceed the bound. The
references held on the input arrays are checked too: a kernel that kept a
buffer (memoryview) alive would leave one more reference per call.
"""
import gc
import sys

import numpy as np
import psutil
import pytest

import pyx_cnn
from sanitizer_check import sanitizer_loaded

pytestmark = pytest.mark.skipif(
    sanitizer_loaded(), reason="AddressSanitizer's quarantine holds freed memory by design"
)

RNG = np.random.default_rng(11)
X64 = RNG.standard_normal((2, 12, 12, 3))
X32 = X64.astype(np.float32)
XF = np.asfortranarray(X64)
XMID = RNG.standard_normal((2, 32, 32, 4))      # big enough for a team of threads
W64 = RNG.standard_normal((4, 3, 3, 3))
W32 = W64.astype(np.float32)
WMID = RNG.standard_normal((4, 3, 3, 4))
B64 = RNG.standard_normal(4)
IMG = RNG.standard_normal((9, 8))
FILT = RNG.standard_normal((3, 2))
HUGE = np.broadcast_to(np.float64(1.0), (2**20, 2**20))
INPUTS = [X64, X32, XF, XMID, W64, W32, WMID, B64, IMG, FILT]


def _raises(fn, *args, **kwargs):
    def call():
        try:
            fn(*args, **kwargs)
        except (TypeError, ValueError, MemoryError):
            return
        raise AssertionError("expected an exception")
    return call


CALLS = {
    "conv": [
        lambda: pyx_cnn.conv(X64, W64, stride=2, padding=1, bias=B64),
        lambda: pyx_cnn.conv(X32, W32),
        lambda: pyx_cnn.conv(XF, W64, padding=2),
        lambda: pyx_cnn.conv(XMID, WMID, padding=1),
        lambda: pyx_cnn.conv(X64[0].tolist(), W64),
        _raises(pyx_cnn.conv, X64, W64[..., :2]),
        _raises(pyx_cnn.conv, X64, W64.astype(complex)),
        _raises(pyx_cnn.conv, X64, W64, stride=0),
        _raises(pyx_cnn.conv, HUGE, W64[..., :1]),
        _raises(pyx_cnn.conv, None, W64),
    ],
    "conv_": [
        lambda: pyx_cnn.conv_(IMG, FILT),
        lambda: pyx_cnn.conv_(IMG.T, FILT.astype(np.float32)),
        _raises(pyx_cnn.conv_, IMG, FILT[None]),
        _raises(pyx_cnn.conv_, HUGE, FILT),
    ],
    "pooling": [
        lambda: pyx_cnn.pooling(X64, 2, 2),
        lambda: pyx_cnn.pooling(XF, 3, 1),
        lambda: pyx_cnn.pooling(XMID, 2, 1),
        lambda: pyx_cnn.pooling(IMG, 2, 3),
        _raises(pyx_cnn.pooling, X64, 13, 1),
        _raises(pyx_cnn.pooling, X64.astype(object), 2, 2),
        _raises(pyx_cnn.pooling, HUGE, 1, 1),
    ],
    "relu": [
        lambda: pyx_cnn.relu(X64),
        lambda: pyx_cnn.relu(XF),
        lambda: pyx_cnn.relu(X32[::-1]),
        lambda: pyx_cnn.relu([1.0, -2.0]),
        _raises(pyx_cnn.relu, np.ones(0)),
        _raises(pyx_cnn.relu, "x"),
        _raises(pyx_cnn.relu, HUGE),
    ],
    "sigmoid": [
        lambda: pyx_cnn.sigmoid(X64),
        lambda: pyx_cnn.sigmoid(X32),
        lambda: pyx_cnn.sigmoid(XMID),
        _raises(pyx_cnn.sigmoid, None),
        _raises(pyx_cnn.sigmoid, HUGE),
    ],
    "softmax": [
        lambda: pyx_cnn.softmax(X64),
        lambda: pyx_cnn.softmax(XF, axis=1),
        lambda: pyx_cnn.softmax(X32, axis=0),
        _raises(pyx_cnn.softmax, X64, axis=4),
        _raises(pyx_cnn.softmax, np.ones((2, 0))),
        _raises(pyx_cnn.softmax, HUGE),
    ],
}


def _layer_calls():
    from pyx_cnn import NeuralNetwork, layers
    from pyx_cnn.losses import MeanSquaredError, SoftmaxCrossEntropy

    conv = layers.Conv2D(4, 3, padding=1, activation="relu")
    conv.build((12, 12, 3), rng=0)
    conv_direct = layers.Conv2D(4, 3, stride=2)
    conv_direct.build((32, 32, 4), rng=0)
    pool = layers.MaxPool2D(2, 2)
    pool.build((12, 12, 3))
    dense = layers.Dense(5, activation="softmax")
    dense.build((432,), rng=0)
    sig = layers.Sigmoid()
    sig.build((12, 12, 3))
    net = NeuralNetwork([layers.Conv2D(3, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
                         layers.Flatten(), layers.Dense(3, activation="softmax")],
                        input_shape=(8, 8), seed=0)
    xs = RNG.standard_normal((5, 8, 8))
    ys = np.array([0, 1, 2, 0, 1])
    labels = np.array([0, 1])

    def forward_backward(layer, x, grad_shape):
        return lambda: (layer.forward(x), layer.backward(np.ones(grad_shape)))

    def direct_pass():  # a larger layer: several bands of windows per sample
        conv_direct.forward(XMID)
        conv_direct.backward(np.ones((2, 15, 15, 4)))

    return {
        "layers": [
            forward_backward(conv, X64, (2, 12, 12, 4)),
            direct_pass,
            forward_backward(pool, X64, (2, 6, 6, 3)),
            forward_backward(sig, X64, (2, 12, 12, 3)),
            forward_backward(dense, X64.reshape(2, -1), (2, 5)),
            lambda: SoftmaxCrossEntropy()(X64.reshape(2, -1)[:, :5], labels),
            lambda: MeanSquaredError()(X64.reshape(2, -1)[:, :5], labels),
            _raises(conv.forward, X64[..., :2]),
            _raises(conv.backward, np.ones(3)),
            _raises(SoftmaxCrossEntropy(), X64.reshape(2, -1)[:, :5], np.array([0, 7])),
        ],
        "network": [
            lambda: net.predict(xs),
            lambda: net.gradient_descent(0.01, xs, ys, 1),
            lambda: net.evaluate(xs, ys),
            _raises(net.predict, xs[..., :3]),
            _raises(net.fit, xs, ys + 5),
        ],
        "_net": net,
    }


LAYER_CALLS = _layer_calls()
CALLS["layers"] = LAYER_CALLS["layers"]
CALLS["network"] = LAYER_CALLS["network"]


def _save_load_calls(tmp_path):
    from pyx_cnn import NeuralNetwork

    good = tmp_path / "good.npz"
    LAYER_CALLS["_net"].save(good)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[:-100])
    return [
        lambda: LAYER_CALLS["_net"].save(tmp_path / "again.npz"),
        lambda: NeuralNetwork.load(good),
        _raises(NeuralNetwork.load, bad),
    ]


def _rss():
    gc.collect()
    return psutil.Process().memory_info().rss


def _run(calls, n_calls):
    for i in range(n_calls):
        calls[i % len(calls)]()


def _check_no_growth(name, n_calls, bound, calls=None):
    calls = CALLS[name] if calls is None else calls
    pyx_cnn.set_num_threads(2)
    _run(calls, 2000)                       # warm-up: caches, thread pool, arenas
    refs = [sys.getrefcount(a) for a in INPUTS]
    before = _rss()
    _run(calls, n_calls)
    after = _rss()
    assert [sys.getrefcount(a) for a in INPUTS] == refs, "references leaked on inputs"
    growth = after - before
    print(f"{name}: {n_calls} calls, RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB "
          f"({growth / 2**10:+.0f} KiB)")
    assert growth < bound, (
        f"{name}: RSS grew by {growth / 2**20:.1f} MiB over {n_calls} calls "
        f"({growth / n_calls:.0f} bytes per call)"
    )


@pytest.mark.parametrize("name", list(CALLS))
def test_no_memory_growth(name):
    # 6000 calls: a leak of 1 KiB per call would add 6 MiB
    _check_no_growth(name, 6000, 4 * 2**20)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CALLS))
def test_no_memory_growth_long(name):
    # 50000 calls: a leak of 200 bytes per call would add 10 MB
    _check_no_growth(name, 50000, 8 * 2**20)


def test_no_memory_growth_save_load(tmp_path):
    # 1500 saves and loads (a third of them of a damaged file)
    _check_no_growth("save/load", 1500, 4 * 2**20, _save_load_calls(tmp_path))


@pytest.mark.slow
def test_no_memory_growth_save_load_long(tmp_path):
    _check_no_growth("save/load", 20000, 8 * 2**20, _save_load_calls(tmp_path))
