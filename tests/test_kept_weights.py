"""Weights prepared once per inference call (pyx_cnn._kept_weights): the folded
batch normalisations and the filters' kernel layouts are made at the first batch of
a ``predict`` / ``evaluate`` call (or of a validation pass of ``fit``) and reused by
the others, never across calls; the values are those of preparing them every time."""
import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, fusion, layers
from pyx_cnn import _kept_weights
from pyx_cnn.ops import conv as conv_op


def _network(dtype="float64"):
    return NeuralNetwork([
        layers.Conv2D(6, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
        layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
        layers.BatchNormalization(), layers.ReLU(6),
        layers.Conv2D(5, 3, stride=2, activation="relu"),
        layers.Conv2D(4, 1), layers.GlobalAvgPool2D(), layers.Dense(3, activation="softmax"),
    ], input_shape=(9, 10, 2), seed=0, dtype=dtype)


def _randomised(net, seed=3):
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.state["mean"].shape[0]
            layer.state["mean"][...] = rng.standard_normal(c)
            layer.state["var"][...] = rng.uniform(0.2, 3, c)
    return net


@pytest.fixture
def counted(monkeypatch):
    calls = {"fold": 0, "layout": 0}
    fold, layout = fusion.fold_batch_norm, conv_op.weight_layout

    def counting_fold(*args):
        calls["fold"] += 1
        return fold(*args)

    def counting_layout(*args):
        calls["layout"] += 1
        return layout(*args)

    monkeypatch.setattr(fusion, "fold_batch_norm", counting_fold)
    monkeypatch.setattr(conv_op, "weight_layout", counting_layout)
    return calls


def test_prepared_once_per_call(counted):
    net = _randomised(_network())
    X = np.random.default_rng(0).standard_normal((40, 9, 10, 2))
    net.predict(X, batch_size=8)          # 5 batches
    # two folds (Conv2D + BN, DepthwiseConv2D + BN); the layouts of the two direct
    # convolutions that take one (the depthwise layer has its own)
    assert counted == {"fold": 2, "layout": 3}
    net.predict(X, batch_size=8)          # a new call prepares again
    assert counted == {"fold": 4, "layout": 6}
    net.evaluate(X, np.zeros(40, dtype=int), batch_size=10)
    assert counted == {"fold": 6, "layout": 9}


def test_every_batch_prepares_outside_an_inference_call(counted):
    net = _randomised(_network())
    X = np.random.default_rng(0).standard_normal((16, 9, 10, 2))
    plan = net._chain.plan()
    for _ in range(3):
        plan.forward(X)
    assert counted == {"fold": 6, "layout": 9}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_same_values_as_preparing_every_batch(dtype):
    net = _randomised(_network(dtype))
    X = np.random.default_rng(1).standard_normal((30, 9, 10, 2)).astype(dtype)
    kept = net.predict(X, batch_size=7)
    plan = net._chain.plan()
    every_time = np.concatenate([plan.forward(X[i:i + 7]) for i in range(0, 30, 7)])
    np.testing.assert_array_equal(kept, every_time)


def test_never_kept_across_the_epochs_of_fit(counted):
    net = _randomised(_network())
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((24, 9, 10, 2)), rng.integers(0, 3, 24)
    history = net.fit(X, y, epochs=2, batch_size=8, learning_rate=0.05,
                      validation_data=(X[:12], y[:12]))
    # each epoch's validation pass prepares once (the weights moved in between)
    assert counted["fold"] == 2 * 2
    np.testing.assert_allclose(history.history["val_loss"][-1],
                               net.evaluate(X[:12], y[:12], batch_size=3)["loss"],
                               rtol=1e-12)


def test_kept_for_gives_a_dict_per_layer_only_inside_a_call():
    a, b = layers.Conv2D(2, 1), layers.Conv2D(2, 1)
    assert _kept_weights.kept_for(a) is None
    with _kept_weights.keeping_prepared_weights():
        kept = _kept_weights.kept_for(a)
        assert isinstance(kept, dict) and _kept_weights.kept_for(a) is kept
        assert _kept_weights.kept_for(b) is not kept
        with _kept_weights.keeping_prepared_weights():      # re-entrant: the same dicts
            assert _kept_weights.kept_for(a) is kept
        assert _kept_weights.kept_for(a) is kept
    assert _kept_weights.kept_for(a) is None
