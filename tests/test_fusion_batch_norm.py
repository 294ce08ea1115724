"""The fusion rule ``batch_norm_into_conv``: at inference a Conv2D without activation
followed by BatchNormalization runs as one convolution with folded filters and bias.

Fused predict / evaluate equal ``fuse=False`` (float64 to 1e-10, float32 to 1e-5) for
networks with and without bias, the normalisation followed by various layers, after
training (statistics changed), after parameters or statistics are replaced, after
save / load; training never folds (same weights and statistics as ``fuse=False``).
"""
import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, fusion, layers

TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}

#: what follows the Conv2D + BatchNormalization pair, before the head
AFTER_BATCH_NORM = {
    "relu+max_pool": lambda: [layers.ReLU(), layers.MaxPool2D(2, 2)],
    "relu": lambda: [layers.ReLU()],
    "relu6": lambda: [layers.ReLU(max_value=6)],
    "bounded_relu+conv": lambda: [layers.ReLU(max_value=0.5), layers.Conv2D(3, 1)],
    "tanh+avg_pool": lambda: [layers.Tanh(), layers.AvgPool2D(2, 2)],
    "leaky_relu": lambda: [layers.LeakyReLU(0.2)],
    "dropout": lambda: [layers.Dropout(0.3)],
    "conv+bn": lambda: [layers.Conv2D(3, 2, stride=2), layers.BatchNormalization()],
    "global_avg_pool": lambda: [layers.GlobalAvgPool2D()],
    "nothing": lambda: [],
}


def _randomise_batch_norms(net, rng):
    """Statistics and parameters far from a new layer's (mean 0, var 1, gamma 1, beta 0)."""
    for layer in net.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.state["mean"].shape[0]
            layer.state["mean"][...] = rng.standard_normal(c)
            layer.state["var"][...] = rng.uniform(0.2, 3, c)
            layer.params["gamma"][...] = rng.uniform(-2, 2, c)
            layer.params["beta"][...] = rng.standard_normal(c)


def _network(after="relu+max_pool", use_bias=True, dtype="float64", conv_activation=None,
             conv_args=None, seed=0):
    conv_args = conv_args or dict(kernel_size=3, padding="same")
    stack = [layers.Conv2D(4, use_bias=use_bias, activation=conv_activation, **conv_args),
             layers.BatchNormalization(momentum=0.3)]
    stack += AFTER_BATCH_NORM[after]()
    if not isinstance(stack[-1], layers.GlobalAvgPool2D):
        stack.append(layers.Flatten())
    stack.append(layers.Dense(3, activation="softmax"))
    return NeuralNetwork(stack, input_shape=(8, 9, 2), seed=seed, dtype=dtype)


def _data(n=20, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8, 9, 2)), rng.integers(0, 3, n)


def _rules(net):
    return {i: step.rule for step in fusion.plan(net.layers) for i in step.layers}


def _assert_fused_equals_plain(net, X, y=None):
    tolerance = TOLERANCE[str(net.dtype)]
    np.testing.assert_allclose(net.predict(X), net.predict(X, fuse=False), **tolerance)
    if y is not None:
        fused, plain = net.evaluate(X, y), net.evaluate(X, y, fuse=False)
        assert fused.keys() == plain.keys()
        for key in fused:
            np.testing.assert_allclose(fused[key], plain[key], **tolerance)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("after", list(AFTER_BATCH_NORM))
def test_fused_predict_equals_plain(after, use_bias, dtype):
    net = _network(after, use_bias, dtype)
    _randomise_batch_norms(net, np.random.default_rng(3))
    assert _rules(net)[0] == _rules(net)[1] == "batch_norm_into_conv"
    # a ReLU of any bound joins the step (the kernels clamp as they store), unless
    # a max pooling follows it (rule relu_into_max_pool)
    joins = after in ("relu", "relu6", "bounded_relu+conv")
    assert fusion.plan(net.layers)[0].layers == ((0, 1, 2) if joins else (0, 1))
    X, y = _data()
    _assert_fused_equals_plain(net, X.astype(dtype), y)


@pytest.mark.parametrize("conv_args", [
    dict(kernel_size=(2, 3), stride=(2, 1), padding="same"),
    dict(kernel_size=3, dilation=2, padding=1),
    dict(kernel_size=1),
    dict(kernel_size=4, stride=3, padding="valid"),
])
def test_fused_predict_equals_plain_for_every_conv_geometry(conv_args):
    net = _network("relu", conv_args=conv_args)
    _randomise_batch_norms(net, np.random.default_rng(4))
    _assert_fused_equals_plain(net, _data()[0])


def test_the_folded_filters_and_bias():
    net = _network(use_bias=True)
    _randomise_batch_norms(net, np.random.default_rng(5))
    conv, bn = net.layers[0], net.layers[1]
    conv.params["b"][...] = np.arange(4.0)
    weights, bias = fusion.fold_batch_norm(conv, bn)
    for f in range(4):
        scale = bn.params["gamma"][f] / np.sqrt(bn.state["var"][f] + bn.epsilon)
        np.testing.assert_allclose(weights[f], conv.params["W"][f] * scale, rtol=1e-14)
        np.testing.assert_allclose(bias[f], (f - bn.state["mean"][f]) * scale + bn.params["beta"][f],
                                   rtol=1e-14, atol=1e-15)
    assert weights.dtype == bias.dtype == np.float64
    net32 = _network(dtype="float32")
    assert all(a.dtype == np.float32 for a in fusion.fold_batch_norm(*net32.layers[:2]))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_no_fold_after_a_conv_with_its_own_activation(activation):
    net = _network("nothing", conv_activation=activation)
    _randomise_batch_norms(net, np.random.default_rng(6))
    rules = _rules(net)
    assert rules[0] != "batch_norm_into_conv" and rules[1] != "batch_norm_into_conv"
    _assert_fused_equals_plain(net, _data()[0])


def test_linear_activation_folds():
    net = _network("relu", conv_activation="linear")
    assert _rules(net)[0] == "batch_norm_into_conv"


@pytest.mark.parametrize("after", ["relu+max_pool", "relu6"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_training_never_folds_and_the_fold_follows_the_statistics(dtype, after):
    X, y = _data(40)
    X = X.astype(dtype)
    fused_net, plain_net = _network(after, dtype=dtype), _network(after, dtype=dtype)
    bn_before = {k: v.copy() for k, v in fused_net.layers[1].state.items()}
    history = {}
    for name, net, fuse in [("fused", fused_net, True), ("plain", plain_net, False)]:
        history[name] = net.fit(X, y, epochs=3, batch_size=8, learning_rate=0.05,
                                validation_data=(X[:10], y[:10]), fuse=fuse)
    # the statistics moved: the fold uses the new ones
    assert not np.allclose(fused_net.layers[1].state["mean"], bn_before["mean"])
    tolerance = TOLERANCE[dtype]
    for fused_layer, plain_layer in zip(fused_net.layers, plain_net.layers):
        for key in fused_layer.params:
            np.testing.assert_allclose(fused_layer.params[key], plain_layer.params[key],
                                       **tolerance)
        for key in getattr(fused_layer, "state", {}):
            np.testing.assert_allclose(fused_layer.state[key], plain_layer.state[key],
                                       **tolerance)
    for key in history["fused"].history:   # the validation passes ran folded
        np.testing.assert_allclose(history["fused"].history[key],
                                   history["plain"].history[key], **tolerance)
    _assert_fused_equals_plain(fused_net, X, y)
    # a few more steps between two predictions: never a stale fold
    before = fused_net.predict(X)
    fused_net.fit(X, y, epochs=1, batch_size=8, learning_rate=0.05)
    assert not np.allclose(fused_net.predict(X), before)
    _assert_fused_equals_plain(fused_net, X, y)


def test_replaced_parameters_and_statistics_are_folded():
    net = _network()
    X = _data()[0]
    rng = np.random.default_rng(7)
    conv, bn = net.layers[0], net.layers[1]
    for change in [lambda: conv.params.__setitem__("W", rng.standard_normal(conv.params["W"].shape)),
                   lambda: conv.params["b"].__setitem__(Ellipsis, rng.standard_normal(4)),
                   lambda: bn.params.__setitem__("gamma", rng.uniform(0.5, 2, 4)),
                   lambda: bn.state["mean"].__setitem__(Ellipsis, rng.standard_normal(4)),
                   lambda: bn.state.__setitem__("var", rng.uniform(0.5, 2, 4))]:
        before = net.predict(X)
        change()
        after = net.predict(X)
        assert not np.allclose(after, before)
        _assert_fused_equals_plain(net, X)


def test_fused_predict_after_save_and_load(tmp_path):
    X, y = _data(30)
    net = _network("conv+bn")
    net.fit(X, y, epochs=2, batch_size=10, learning_rate=0.05)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = NeuralNetwork.load(path)
    np.testing.assert_allclose(loaded.predict(X), net.predict(X, fuse=False), rtol=1e-10,
                               atol=1e-10)
    _assert_fused_equals_plain(loaded, X, y)
    assert {_rules(loaded)[i] for i in range(4)} == {"batch_norm_into_conv"}


def test_summary_names_the_rule():
    text = _network("conv+bn").summary(print_fn=None)
    lines = {line.split()[0]: line for line in text.splitlines() if line[:2] in ("0:", "1:", "2:")}
    assert lines["0:"].rstrip().endswith("batch_norm_into_conv")
    assert lines["1:"].rstrip().endswith("batch_norm_into_conv")
    assert "batch_norm_into_conv" in fusion.RULES


def test_backward_after_a_folded_forward_needs_training():
    # as BatchNormalization's own inference pass: no batch statistics to go back through
    net = _network()
    step = fusion.plan(net.layers)[0]
    assert step.rule == "batch_norm_into_conv"
    X = _data(4)[0]
    out = step.forward(X, True)
    step.backward(np.ones_like(out))          # after a training forward: fine
    out = step.forward(X, False)
    with pytest.raises(RuntimeError, match="training=True"):
        step.backward(np.ones_like(out))
