"""A learner's path through fit and predict: every layer that a network's plan runs on
its own goes through the layer's public ``forward`` / ``backward`` (so a breakpoint
there stops), with ``fuse=False`` (every layer) and ``fuse=True`` (the layers no rule
fuses), and the fused steps run the functions that pyx_cnn.fusion documents."""
import sys

import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, fusion, layers
from pyx_cnn.layers import Layer


def network():
    return NeuralNetwork([
        layers.Conv2D(3, 3, padding=1), layers.BatchNormalization(),   # batch_norm_into_conv
        layers.ReLU(), layers.MaxPool2D(2, 2),                         # relu_into_max_pool
        layers.Conv2D(4, 2), layers.LeakyReLU(0.2),                    # alone, alone
        layers.AvgPool2D(2, 1), layers.Dropout(0.25), layers.Flatten(),
        layers.Dense(6), layers.Tanh(),                                # activation_in_place
        layers.Dense(3, activation="softmax"),                         # softmax_into_loss
    ], input_shape=(8, 8, 2), seed=0)


X = np.random.default_rng(0).standard_normal((12, 8, 8, 2))
Y = np.arange(12) % 3
BATCH = 4                      # three batches


def counting(layer, calls):
    """Wrap the instance's public forward and backward to count their calls."""
    for name in ("forward", "backward"):
        method = getattr(layer, name)

        def wrapper(*args, _method=method, _name=name, **kwargs):
            calls[(id(layer), _name)] += 1
            return _method(*args, **kwargs)
        setattr(layer, name, wrapper)


def alone(net, training, fuse):
    """Indices of the layers the plan runs on their own, and of those whose public
    passes a fused step calls (batch_norm_into_conv while training)."""
    if training:
        from pyx_cnn.losses import SoftmaxCrossEntropy
        steps = net._chain.plan(SoftmaxCrossEntropy(), fuse).steps
    else:
        steps = fusion.plan(net.layers, fuse)
    indices = set()
    for step in steps:
        if step.rule == "" or (training and step.rule == "batch_norm_into_conv"):
            indices.update(step.layers)
    return indices


@pytest.mark.parametrize("fuse", [False, True])
def test_fit_and_predict_call_the_public_passes_of_every_layer_run_alone(fuse):
    net = network()
    calls = {(id(layer), name): 0 for layer in net.layers for name in ("forward", "backward")}
    for layer in net.layers:
        counting(layer, calls)
    net.fit(X, Y, epochs=1, batch_size=BATCH, fuse=fuse)
    expected = alone(net, True, fuse)
    if not fuse:
        assert expected == set(range(len(net.layers)))
    else:
        assert 0 < len(expected) < len(net.layers)
    for i in expected:
        layer = net.layers[i]
        assert calls[(id(layer), "forward")] == 3, (i, layer)
        # the first layer's backward runs too (it skips only the input gradient)
        assert calls[(id(layer), "backward")] == 3, (i, layer)

    calls.update({key: 0 for key in calls})
    net.predict(X, batch_size=BATCH, fuse=fuse)
    expected = alone(net, False, fuse)
    for i in expected:
        assert calls[(id(net.layers[i]), "forward")] == 3, (i, net.layers[i])
    assert all(calls[(id(layer), "backward")] == 0 for layer in net.layers)


def test_the_first_layer_still_skips_its_input_gradient():
    net = network()
    seen = []
    first = net.layers[0]
    backward = first._backward

    def probe(grad):
        out = backward(grad)
        seen.append(out)
        return out
    first._backward = probe
    net.fit(X, Y, epochs=1, batch_size=BATCH, fuse=False)
    assert len(seen) == 3 and all(out is None for out in seen)
    # used on its own, the layer gives its input gradient
    y = first.forward(X[:2])
    assert first.backward(np.ones_like(y)).shape == X[:2].shape


def stops(code, fn):
    """The layers (``self``) of every call to `code` while `fn` runs: where a
    breakpoint on that function would stop."""
    seen = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is code:
            seen.append(frame.f_locals["self"])
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return seen


@pytest.mark.parametrize("fuse", [False, True])
def test_a_breakpoint_in_layer_forward_stops_in_fit_and_predict(fuse):
    net = network()
    for what, training in (("fit", True), ("predict", False)):
        if what == "fit":
            seen = stops(Layer.forward.__code__,
                         lambda: net.fit(X, Y, epochs=1, batch_size=BATCH, fuse=fuse))
        else:
            seen = stops(Layer.forward.__code__,
                         lambda: net.predict(X, batch_size=BATCH, fuse=fuse))
        for i in alone(net, training, fuse):
            assert sum(s is net.layers[i] for s in seen) == 3, (what, i, net.layers[i])
        if what == "fit":
            backward = stops(Layer.backward.__code__,
                             lambda: net.fit(X, Y, epochs=1, batch_size=BATCH, fuse=fuse))
            for i in alone(net, True, fuse):
                assert sum(s is net.layers[i] for s in backward) == 3, (i, net.layers[i])


def test_fused_steps_run_the_functions_fusion_documents():
    net = network()
    names = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == fusion.__file__:
            names.append(frame.f_code.co_name)
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        net.fit(X, Y, epochs=1, batch_size=BATCH)
        net.predict(X, batch_size=BATCH)
    finally:
        sys.setprofile(previous)
    for name in ("relu_into_max_pool_forward", "relu_into_max_pool_backward",
                 "batch_norm_into_conv_forward", "batch_norm_into_conv_backward"):
        assert names.count(name) >= 3, name
        assert name in fusion.__doc__, name
    for rule in fusion.RULES:
        assert f"``{rule}``" in fusion.__doc__


def test_layer_forward_unchecked_is_the_checked_pass():
    net = network()
    conv = net.layers[0]
    conv.needs_input_grad = True   # a network's first layer leaves dL/dx out unless asked
    x = np.ascontiguousarray(X[:2])
    checked = conv.forward(x)
    unchecked = conv.forward(x, validate=False)
    np.testing.assert_array_equal(checked, unchecked)
    g = np.ones_like(checked)
    np.testing.assert_array_equal(conv.backward(g), conv.backward(g, validate=False))


class _ScaledByTwo(layers.Layer):
    """A user's layer that overrides the public passes with their plain signatures."""

    def _build(self, input_shape, rng, init_for):
        return input_shape

    def forward(self, x, training=False):
        self.calls = getattr(self, "calls", 0) + 1
        return 2.0 * np.asarray(x)

    def backward(self, grad_out):
        return 2.0 * np.asarray(grad_out)


def test_a_layer_overriding_forward_and_backward_plainly_runs_in_a_network():
    rng = np.random.default_rng(0)
    X, y = rng.random((12, 6, 6, 1)), rng.integers(0, 3, 12)
    custom = _ScaledByTwo()
    net = NeuralNetwork([layers.Conv2D(2, 3), custom, layers.Flatten(), layers.Dense(3)],
                        input_shape=(6, 6, 1), seed=0)
    twin = NeuralNetwork([layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)],
                         input_shape=(6, 6, 1), seed=0)
    twin.layers[0].params["W"][...] = 2.0 * net.layers[0].params["W"]
    twin.layers[0].params["b"][...] = 2.0 * net.layers[0].params["b"]
    twin.layers[2].params["W"][...] = net.layers[3].params["W"]
    np.testing.assert_allclose(net.predict(X), twin.predict(X), rtol=1e-12)
    net.fit(X, y, epochs=1, batch_size=4, learning_rate=0.01)
    assert custom.calls > 3
