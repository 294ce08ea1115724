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


# --- a subclass of a built-in layer that overrides a pass runs its own code -------------
# (a fusion rule replaces the passes of the layers it fuses, so it applies only to layers
# that run their built-in class's passes)

def _count(layer, name):
    layer.__dict__.setdefault("calls", {}).setdefault(name, 0)
    layer.calls[name] += 1


class _HalfTanh(layers.Tanh, register=False):
    """``0.5 * tanh(x)``, by public passes of the plain signatures."""

    def forward(self, x, training=False):
        _count(self, "forward")
        self._y = 0.5 * np.tanh(np.asarray(x))
        return self._y

    def backward(self, grad_out):
        _count(self, "backward")
        return 0.5 * np.asarray(grad_out) * (1.0 - (2.0 * self._y) ** 2)


class _LeakyByHand(layers.ReLU, register=False):
    """A ReLU whose private passes let ``0.1 * x`` through below 0."""

    def _forward(self, x, training=False):
        _count(self, "forward")
        self._x = x
        return np.where(x > 0, x, 0.1 * x)

    def _backward(self, grad):
        _count(self, "backward")
        return np.where(self._x > 0, grad, 0.1 * grad)


class _DoubledMaxPool(layers.MaxPool2D, register=False):
    """Twice the maximum of each window."""

    def _forward(self, x, training=False):
        _count(self, "forward")
        return 2.0 * super()._forward(x, training)

    def _backward(self, grad):
        _count(self, "backward")
        return super()._backward(2.0 * grad)


class _ShiftedConv(layers.Conv2D, register=False):
    """A convolution whose output is shifted by 1 (the gradients are the convolution's)."""

    def _forward(self, x, training=False):
        _count(self, "forward")
        return super()._forward(x, training) + 1.0

    def _backward(self, grad):
        _count(self, "backward")
        return super()._backward(grad)


class _ShiftedDense(layers.Dense, register=False):
    """A dense layer whose output is shifted by 1 (the gradients are the layer's)."""

    def _forward(self, x, training=False):
        _count(self, "forward")
        return super()._forward(x, training) + 1.0

    def _backward(self, grad):
        _count(self, "backward")
        return super()._backward(grad)


class _TemperedSoftmax(layers.Softmax, register=False):
    """``softmax(x / 2)``, by public passes of the plain signatures."""

    def forward(self, x, training=False):
        _count(self, "forward")
        z = np.asarray(x) / 2.0
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        self._y = e / e.sum(axis=-1, keepdims=True)
        return self._y

    def backward(self, grad_out):
        _count(self, "backward")
        y = self._y
        return y * (grad_out - np.sum(grad_out * y, axis=-1, keepdims=True)) / 2.0


class _PlainTanh(layers.Tanh, register=False):
    """A Tanh by another name, overriding no pass: the rules still fuse it."""


# (name, the layers, the index of the user's layer, the rule that fused it before)
SUBCLASS_CASES = [
    ("Tanh subclass after Conv2D", lambda: [
        layers.Conv2D(3, 3, padding=1), _HalfTanh(), layers.Flatten(),
        layers.Dense(3, activation="softmax")], 1, "activation_in_place"),
    ("Tanh subclass after Dense", lambda: [
        layers.Flatten(), layers.Dense(5), _HalfTanh(),
        layers.Dense(3, activation="softmax")], 2, "activation_in_place"),
    ("ReLU subclass before MaxPool2D", lambda: [
        layers.Conv2D(3, 3, padding=1), _LeakyByHand(), layers.MaxPool2D(2, 2),
        layers.Flatten(), layers.Dense(3, activation="softmax")], 1, "relu_into_max_pool"),
    ("MaxPool2D subclass after ReLU", lambda: [
        layers.Conv2D(3, 3, padding=1), layers.ReLU(), _DoubledMaxPool(2, 2),
        layers.Flatten(), layers.Dense(3, activation="softmax")], 2, "relu_into_max_pool"),
    ("Conv2D subclass before BatchNormalization", lambda: [
        _ShiftedConv(3, 3, padding=1), layers.BatchNormalization(), layers.ReLU(),
        layers.Flatten(), layers.Dense(3, activation="softmax")], 0, "batch_norm_into_conv"),
    ("Dense subclass before Tanh", lambda: [
        layers.Flatten(), _ShiftedDense(5), layers.Tanh(),
        layers.Dense(3, activation="softmax")], 1, "activation_in_place"),
    ("last Softmax subclass", lambda: [
        layers.Flatten(), layers.Dense(3), _TemperedSoftmax()], 2,
     "activation_in_place+softmax_into_loss"),
]


def _rules(net, logits):
    return {i: step.rule for step in fusion.plan(net.layers, True, logits)
            for i in step.layers}


@pytest.mark.parametrize("case", SUBCLASS_CASES, ids=[case[0] for case in SUBCLASS_CASES])
def test_a_subclass_overriding_a_pass_runs_on_its_own(case):
    _, make, index, rule = case
    x, y = X[:, :6, :6, :], Y
    net = NeuralNetwork(make(), input_shape=(6, 6, 2), seed=0)
    custom = net.layers[index]
    # predict runs every layer's own forward pass, as calling them one by one does
    expected = x
    for layer in net.layers:
        expected = layer.forward(expected)
    custom.calls = {}
    np.testing.assert_allclose(net.predict(x, batch_size=BATCH), expected, rtol=1e-12)
    assert custom.calls == {"forward": 3}
    custom.calls = {}
    net.fit(x, y, epochs=1, batch_size=BATCH)
    assert custom.calls == {"forward": 3, "backward": 3}
    assert _rules(net, False)[index] == "" and _rules(net, True)[index] == ""   # not `rule`


def test_a_subclass_overriding_no_pass_is_fused_as_its_class():
    net = NeuralNetwork([layers.Conv2D(3, 3, padding=1), _PlainTanh(), layers.Flatten(),
                         layers.Dense(3, activation="softmax")], input_shape=(6, 6, 2), seed=0)
    assert _rules(net, False)[1] == "activation_in_place"
    twin = NeuralNetwork([layers.Conv2D(3, 3, padding=1), layers.Tanh(), layers.Flatten(),
                          layers.Dense(3, activation="softmax")], input_shape=(6, 6, 2), seed=0)
    np.testing.assert_array_equal(net.predict(X[:, :6, :6]), twin.predict(X[:, :6, :6]))


def test_a_pass_patched_onto_a_layer_class_after_a_fit_runs(monkeypatch):
    # the plan is made at every call: a forward pass a learner patches onto their
    # subclass between two fits (to print, to break) runs in the second
    class MyReLU(layers.ReLU):
        pass

    net = NeuralNetwork([layers.Conv2D(3, 3, padding=1), MyReLU(), layers.MaxPool2D(2, 2),
                         layers.Flatten(), layers.Dense(3, activation="softmax")],
                        input_shape=(6, 6, 2), seed=0)
    x, y = X[:, :6, :6, :], Y
    net.fit(x, y, epochs=1, batch_size=BATCH)
    assert _rules(net, False)[1] == "relu_into_max_pool"
    calls = []

    def forward(self, x, training=False, *, validate=True):
        calls.append(x.shape)
        return layers.ReLU.forward(self, x, training, validate=validate)

    monkeypatch.setattr(MyReLU, "forward", forward)
    net.fit(x, y, epochs=1, batch_size=BATCH)
    assert calls and _rules(net, False)[1] == ""
