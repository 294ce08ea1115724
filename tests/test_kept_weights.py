"""Weights prepared once (pyx_cnn._kept_weights): the folded batch normalisations and
the filters' kernel layouts are made at the first batch of a ``predict`` /
``evaluate`` call (or of a validation pass of ``fit``) and reused by the others, and
by the next calls while the weights hold the same bytes; made again when they
change, however they change; the values are those of preparing them every time."""
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


def test_prepared_once_while_the_weights_stay(counted):
    net = _randomised(_network())
    X = np.random.default_rng(0).standard_normal((40, 9, 10, 2))
    net.predict(X, batch_size=8)          # 5 batches
    # two folds (Conv2D + BN, DepthwiseConv2D + BN); the layouts of the three direct
    # convolutions (the depthwise layer's folded filters take a layout of their own)
    assert counted == {"fold": 2, "layout": 3}
    net.predict(X, batch_size=8)          # the same weights: nothing made again
    net.evaluate(X, np.zeros(40, dtype=int), batch_size=10)
    net.predict(X[:1])
    assert counted == {"fold": 2, "layout": 3}


def _changes(net):
    """Ways to change what the preparations are made from: (what, a set-up run before
    the predict that prepares, the change, the folds and layouts it must make again)."""
    conv, bn, dw, bn2, conv3, conv4 = (net.layers[i] for i in (0, 1, 3, 4, 6, 7))

    def bias_zero(sign):
        return lambda: conv3.params["b"].__setitem__(0, sign * 0.0)

    return [
        ("filters in place", None, lambda: conv.params["W"].__setitem__((0, 0, 0, 0), 0.5),
         {"fold": 1, "layout": 1}),
        ("running variance", None, lambda: bn2.state["var"].__imul__(2.0),
         {"fold": 1, "layout": 0}),
        ("epsilon", None, lambda: setattr(bn, "epsilon", bn.epsilon * 10),
         {"fold": 1, "layout": 1}),
        ("depthwise filters", None, lambda: dw.params["W"].__imul__(0.5),
         {"fold": 1, "layout": 0}),
        ("plain conv bias", None, lambda: conv3.params["b"].__iadd__(1.0),
         {"fold": 0, "layout": 1}),
        ("a new array", None, lambda: conv4.params.__setitem__("W", conv4.params["W"] * 2),
         {"fold": 0, "layout": 1}),
        ("weights set", None, lambda: net.set_weights([w * 1.5 for w in net.get_weights()]),
         {"fold": 2, "layout": 3}),
        # the same value to ==, other bytes
        ("-0.0 for 0.0", bias_zero(1), bias_zero(-1), {"fold": 0, "layout": 1}),
    ]


def test_prepared_again_when_the_weights_change(counted):
    net = _randomised(_network())
    X = np.random.default_rng(0).standard_normal((20, 9, 10, 2))
    for what, set_up, change, made in _changes(net):
        if set_up is not None:
            set_up()
        net.predict(X, batch_size=8)
        before = dict(counted)
        change()
        got = net.predict(X, batch_size=8)
        assert {k: counted[k] - before[k] for k in counted} == made, what
        # the values of preparing every batch from the current weights
        plan = net._chain.plan()
        expected = np.concatenate([plan.forward(X[i:i + 8]) for i in range(0, 20, 8)])
        np.testing.assert_array_equal(got, expected, err_msg=what)


def test_fit_lets_go_of_what_its_layers_hold():
    net = _randomised(_network())
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((16, 9, 10, 2)), rng.integers(0, 3, 16)
    net.predict(X)
    held = [layer for layer in net.layers if id(layer) in _kept_weights._HELD]
    assert len(held) == 4      # the two folding batch norms, the two direct convolutions
    net.fit(X, y, epochs=1, batch_size=8, learning_rate=0.05)
    assert not any(id(layer) in _kept_weights._HELD for layer in net.layers)
    # and a layer that goes takes its entry with it
    net.predict(X)
    ids = [id(layer) for layer in net.layers if id(layer) in _kept_weights._HELD]
    assert len(ids) == 4
    del net, held
    import gc
    gc.collect()
    assert not any(i in _kept_weights._HELD for i in ids)


class _EqualByConfig(layers.Conv2D):
    """A layer class with an == of its own (and so no hash)."""

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()


def test_layers_held_by_identity_not_by_their_equality(counted):
    a, b = _EqualByConfig(4, 3), _EqualByConfig(4, 3)
    assert a == b and type(a).__hash__ is None
    nets = [NeuralNetwork([layer, layers.GlobalAvgPool2D()], input_shape=(6, 6, 2), seed=s)
            for s, layer in ((0, a), (1, b))]
    X = np.random.default_rng(0).standard_normal((3, 6, 6, 2))
    outs = [net.predict(X) for net in nets]
    assert counted["layout"] == 2
    again = [net.predict(X) for net in nets]
    assert counted["layout"] == 2          # each held its own
    for out, out2, net in zip(outs, again, nets):
        np.testing.assert_array_equal(out, out2)
        np.testing.assert_array_equal(out, net._chain.plan().forward(X))


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
    w = np.ones((2, 1, 1, 3))
    assert _kept_weights.kept_for(a, (w,)) is None
    with _kept_weights.keeping_prepared_weights():
        kept = _kept_weights.kept_for(a, (w,))
        assert isinstance(kept, dict) and _kept_weights.kept_for(a, (w,)) is kept
        assert _kept_weights.kept_for(b, (w,)) is not kept
        with _kept_weights.keeping_prepared_weights():      # re-entrant: the same dicts
            assert _kept_weights.kept_for(a, (w,)) is kept
        assert _kept_weights.kept_for(a, (w,)) is kept
    assert _kept_weights.kept_for(a, (w,)) is None
    with _kept_weights.keeping_prepared_weights():         # a later call: held
        assert _kept_weights.kept_for(a, (w,)) is kept
    for other in ((w.astype(np.float32),), (w[:1],), (w, 1.0), (w * 2,), ()):
        with _kept_weights.keeping_prepared_weights():
            assert _kept_weights.kept_for(a, other) is not kept
        with _kept_weights.keeping_prepared_weights():
            kept = _kept_weights.kept_for(a, (w,))
