"""The network's public seams: get_weights / set_weights, a loss of one's own
(pyx_cnn.losses.Loss), needs_input_grad, flat_params / flat_grads and shuffle_rng."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, callbacks, layers, losses

RNG = np.random.default_rng(0)


def _bn_net(seed=0, dtype="float64"):
    return NeuralNetwork([
        layers.Conv2D(3, 3), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPool2D(2, 2), layers.Flatten(), layers.Dense(4, activation="softmax"),
    ], input_shape=(6, 6, 2), seed=seed, dtype=dtype)


def _data(n=24):
    X = RNG.standard_normal((n, 6, 6, 2))
    return X, RNG.integers(0, 4, n)


# --- get_weights / set_weights ------------------------------------------------------

def test_get_weights_lists_params_then_state_layer_by_layer():
    net = _bn_net()
    weights = net.get_weights()
    conv, bn, dense = net.layers[0], net.layers[1], net.layers[5]
    expected = [conv.params["W"], conv.params["b"], bn.params["gamma"], bn.params["beta"],
                bn.state["mean"], bn.state["var"], dense.params["W"], dense.params["b"]]
    assert len(weights) == len(expected)
    for got, want in zip(weights, expected):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype and not np.shares_memory(got, want)   # copies
    weights[0][...] = 7.0
    assert not np.any(conv.params["W"] == 7.0)


def test_set_weights_of_get_weights_is_exact_and_transfers_predictions():
    X, y = _data()
    trained = _bn_net(seed=1)
    trained.fit(X, y, epochs=3, batch_size=8, learning_rate=0.1)
    assert not np.allclose(trained.layers[1].state["mean"], 0)
    same = trained.get_weights()
    trained.set_weights(same)
    for got, want in zip(trained.get_weights(), same):
        np.testing.assert_array_equal(got, want)
    fresh = _bn_net(seed=2)
    assert not np.array_equal(fresh.predict(X), trained.predict(X))
    fresh.set_weights(trained.get_weights())
    np.testing.assert_array_equal(fresh.predict(X), trained.predict(X))
    np.testing.assert_array_equal(fresh.flat_params, trained.flat_params)
    assert fresh.evaluate(X, y) == trained.evaluate(X, y)


def test_set_weights_casts_to_the_network_dtype():
    source = _bn_net(seed=1)
    target = _bn_net(seed=2, dtype="float32")
    target.set_weights(source.get_weights())
    for got, want in zip(target.get_weights(), source.get_weights()):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want.astype(np.float32))
    target.set_weights([w.astype(np.int64) for w in source.get_weights()])   # ints too
    assert target.get_weights()[0].dtype == np.float32


@pytest.mark.parametrize("change,error,message", [
    (lambda w: w[:-1], ValueError, r"weights must hold 8 arrays .*got 7"),
    (lambda w: w + [np.zeros(1)], ValueError, r"weights must hold 8 arrays .*got 9"),
    (lambda w: w[:6] + [np.zeros((2, 2)), w[7]], ValueError,
     r"weights\[6\] \(layers\[5\] \(Dense\) W\) must have shape \(12, 4\), got \(2, 2\)"),
    (lambda w: w[:4] + [w[4].astype(complex)] + w[5:], TypeError,
     r"weights\[4\] \(layers\[1\] \(BatchNormalization\) state mean\) must hold real numbers"),
    (lambda w: {"W": w[0]}, TypeError, "weights must be a list of arrays"),
])
def test_refused_set_weights_changes_nothing(change, error, message):
    net = _bn_net()
    before = net.get_weights()
    others = [w + 1.0 for w in before]          # every array differs from the net's
    with pytest.raises(error, match=message):
        net.set_weights(change(others))
    for got, want in zip(net.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_early_stopping_restores_weights_and_running_statistics():
    X, y = _data(32)
    net = _bn_net()
    snapshots = []
    values = [1.0, 0.5, 0.9, 0.9]

    class Scripted(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = values[epoch]
            snapshots.append(self.model.get_weights())

    stop = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    net.fit(X, y, epochs=4, batch_size=8, learning_rate=0.1, validation_split=0.25,
            callbacks=[Scripted(), stop])
    assert stop.best_epoch == 1
    for got, want in zip(net.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(got, want)      # running mean/var included


# --- a loss of one's own ------------------------------------------------------------

class UserMSE(losses.Loss):
    """Mean squared error written from its definition."""

    def value_and_grad(self, output, target):
        diff = output - target
        return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


class Huber(losses.Loss):
    def __init__(self, delta=0.5):
        self.delta = delta

    def value_and_grad(self, output, target):
        diff = output - target
        small = np.abs(diff) <= self.delta
        value = np.where(small, 0.5 * diff ** 2, self.delta * (np.abs(diff) - 0.5 * self.delta))
        grad = np.where(small, diff, self.delta * np.sign(diff)) / diff.size
        return float(value.mean()), grad


def _regression_net(seed=0, loss=None):
    return NeuralNetwork([layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
                          layers.Dense(3)], input_shape=(5, 5, 1), seed=seed, loss=loss)


def _regression_data(n=16):
    X = RNG.standard_normal((n, 5, 5, 1))
    return X, np.stack([X.mean(axis=(1, 2, 3)), X.std(axis=(1, 2, 3)), X[:, 2, 2, 0]], axis=1)


def test_a_user_mse_steps_exactly_as_the_built_in_mse():
    X, t = _regression_data()
    nets = [_regression_net(seed=3) for _ in range(2)]
    histories = [net.fit(X, t, epochs=2, batch_size=8, learning_rate=0.05, loss=loss)
                 for net, loss in zip(nets, ("mse", UserMSE()))]
    np.testing.assert_array_equal(nets[0].flat_params, nets[1].flat_params)
    assert histories[0].history == histories[1].history
    assert nets[0].evaluate(X, t) == nets[1].evaluate(X, t, loss=UserMSE())


def test_a_user_loss_gradient_agrees_with_finite_differences():
    output = RNG.standard_normal((4, 3))
    target = RNG.standard_normal((4, 3))
    huber = Huber()
    value, grad = huber(output, target)
    numeric = np.empty_like(output)
    eps = 1e-6
    for index in np.ndindex(output.shape):
        plus, minus = output.copy(), output.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (huber(plus, target)[0] - huber(minus, target)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    # and through a whole network: pyx_cnn.gradcheck uses the network's loss
    net = _regression_net(seed=4, loss=Huber())
    X, t = _regression_data(3)
    assert pyx_cnn.gradcheck(net, X, t)


def test_a_user_loss_trains():
    X, t = _regression_data(32)
    net = _regression_net(seed=5)
    history = net.fit(X, t, epochs=15, batch_size=8, learning_rate=0.05, loss=Huber())
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert net.loss is None                       # fit's loss is for that call only
    assert set(history.history) == {"loss", "accuracy"}   # (N, K) targets: arg-max accuracy


def test_a_user_loss_is_not_saved(tmp_path):
    net = _regression_net(loss=Huber())
    assert net.loss.name == "Huber"
    net.save(tmp_path / "m.npz")
    assert NeuralNetwork.load(tmp_path / "m.npz").loss is None


def test_bad_user_losses_are_refused_naming_the_class():
    X, t = _regression_data(8)

    class Nothing(losses.Loss):
        pass

    class WrongShape(losses.Loss):
        def value_and_grad(self, output, target):
            return 1.0, np.zeros(output.shape[0])

    class NotANumber(losses.Loss):
        def value_and_grad(self, output, target):
            return "one", np.zeros_like(output)

    net = _regression_net()
    before = net.get_weights()
    with pytest.raises(TypeError, match="loss Nothing must implement value_and_grad"):
        net.fit(X, t, loss=Nothing())
    with pytest.raises(TypeError, match=r"pass Huber\(\)"):
        net.fit(X, t, loss=Huber)
    with pytest.raises(ValueError, match=r"WrongShape.value_and_grad must return a gradient of "
                                         r"the output's shape \(8, 3\), got \(8,\)"):
        net.fit(X, t, loss=WrongShape(), batch_size=8)
    with pytest.raises(TypeError, match="NotANumber.value_and_grad must return a real number"):
        net.evaluate(X, t, loss=NotANumber())
    for got, want in zip(net.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_built_in_losses_are_losses():
    for name in ("cross_entropy", "binary_cross_entropy", "mse"):
        loss = losses.get_loss(name)
        assert isinstance(loss, losses.Loss) and loss.name == name
    z, labels = RNG.standard_normal((5, 3)), RNG.integers(0, 3, 5)
    ce = losses.SoftmaxCrossEntropy()
    value, grad = ce.value_and_grad(z, labels)
    assert ce(z, labels)[0] == value and ce.activation == "softmax"
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.log(p[np.arange(5), labels])), rel=1e-12)


# --- needs_input_grad, flat arrays, shuffling -----------------------------------------

def test_the_first_layer_needs_no_input_gradient():
    net = _bn_net()
    assert [layer.needs_input_grad for layer in net.layers] == [False] + [True] * 5
    X, y = _data(4)
    conv = net.layers[0]
    out = conv.forward(X)
    assert conv.backward(np.ones_like(out)).shape == X.shape   # the public pass still gives it
    assert conv.backward(np.ones_like(out), validate=False) is None
    assert layers.Conv2D(2, 3).needs_input_grad


def test_flat_params_and_grads_are_the_layers_arrays():
    net = _bn_net()
    flat = net.flat_params
    assert flat.ndim == 1 and flat.size == net.count_params()
    assert np.shares_memory(flat, net.layers[0].params["W"])
    assert np.shares_memory(net.flat_grads, net.layers[5].grads["b"])
    np.testing.assert_array_equal(
        flat, np.concatenate([w.ravel() for w in net.get_weights()[:4] + net.get_weights()[6:]]))
    net.layers[5].params["b"] = np.full(4, 3.0)       # an assigned array is taken in
    assert np.all(net.flat_params[-4:] == 3.0)


def test_shuffle_rng_is_the_generator_fit_shuffles_with():
    X, y = _data(16)
    a, b = _bn_net(), _bn_net()
    a.shuffle_rng = np.random.default_rng(42)
    b.shuffle_rng = np.random.default_rng(42)
    a.fit(X, y, epochs=2, batch_size=4)
    b.fit(X, y, epochs=2, batch_size=4)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)
    c = _bn_net()
    c.fit(X, y, epochs=2, batch_size=4)
    assert not np.array_equal(a.flat_params, c.flat_params)
    with pytest.raises(TypeError, match="shuffle_rng must be a numpy.random.Generator, got int"):
        a.shuffle_rng = 42
