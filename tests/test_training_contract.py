"""Losses over the class (last) axis, argument checks that name the argument, refused
calls that leave the network as it was, and non-finite batches that stop training."""
import copy
import re
import warnings

import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, layers
from pyx_cnn.losses import MeanSquaredError, SoftmaxCrossEntropy

RNG = np.random.default_rng(9)


def _torch_ce(z, target):
    """torch's mean cross-entropy and its gradient for channels-last logits."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    zt = torch.tensor(z, requires_grad=True)
    moved = zt.movedim(-1, 1)                       # torch wants the class axis at 1
    if target.dtype.kind in "iu":
        tt = torch.tensor(target.reshape(z.shape[:-1]), dtype=torch.int64)
    else:
        tt = torch.tensor(target).movedim(-1, 1)
    value = F.cross_entropy(moved, tt, reduction="mean")
    value.backward()
    return value.item(), zt.grad.numpy()


def _distributions(shape):
    t = RNG.random(shape)
    return t / t.sum(axis=-1, keepdims=True)


# --- cross-entropy over the last axis -----------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("zshape,target", [
    ((6, 4), "labels"), ((6, 4), "dist"),
    ((3, 5, 4, 3), "labels"), ((3, 5, 4, 3), "dist"),       # per pixel
    ((5, 1, 1, 10), "labels"), ((5, 1, 1, 10), "labels_n"), ((5, 1, 1, 10), "dist"),
    ((2, 3, 7), "labels"),                                   # any rank
])
def test_cross_entropy_matches_torch(zshape, target, dtype):
    z = (RNG.standard_normal(zshape) * 3).astype(dtype)
    if target == "labels":
        t = RNG.integers(0, zshape[-1], zshape[:-1])
    elif target == "labels_n":
        t = RNG.integers(0, zshape[-1], zshape[0])
    else:
        t = _distributions(zshape).astype(dtype)
    value, grad = SoftmaxCrossEntropy()(z, t)
    expected, expected_grad = _torch_ce(z.astype(np.float64),
                                        t if t.dtype.kind in "iu" else t.astype(np.float64))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert grad.shape == z.shape and grad.dtype == dtype
    assert value == pytest.approx(expected, rel=tol, abs=tol)
    np.testing.assert_allclose(grad, expected_grad, rtol=tol * 10, atol=tol)


def test_cross_entropy_kernel_and_numpy_paths_agree():
    # integer labels run the fused kernel, one-hot rows the numpy code
    z = RNG.standard_normal((3, 4, 5, 6))
    labels = RNG.integers(0, 6, (3, 4, 5))
    onehot = np.eye(6)[labels]
    v1, g1 = SoftmaxCrossEntropy()(z, labels)
    v2, g2 = SoftmaxCrossEntropy()(z, onehot)
    assert v1 == pytest.approx(v2, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)


def test_mse_one_hot_along_the_last_axis():
    out = RNG.standard_normal((2, 3, 3, 4))
    labels = RNG.integers(0, 4, (2, 3, 3))
    value, grad = MeanSquaredError()(out, labels)
    onehot = np.eye(4)[labels]
    assert value == pytest.approx(np.mean((out - onehot) ** 2), rel=1e-13)
    np.testing.assert_allclose(grad, 2 * (out - onehot) / out.size, rtol=1e-13)


def _conv_softmax_net(seed=0):
    return NeuralNetwork([layers.Conv2D(3, 3, padding=1, activation="softmax")],
                         input_shape=(5, 4, 2), seed=seed, loss="cross_entropy")


def _torch_conv_sgd_step(net, X, target, lr):
    """Loss and weights after one SGD step of the same conv + cross-entropy in torch."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    conv = net.layers[0]
    W = torch.tensor(conv.params["W"].transpose(0, 3, 1, 2).copy(), requires_grad=True)
    b = torch.tensor(conv.params["b"].copy(), requires_grad=True)
    z = F.conv2d(torch.tensor(X).permute(0, 3, 1, 2), W, b, padding=1)
    if target.dtype.kind in "iu":
        loss = F.cross_entropy(z, torch.tensor(target))
    else:
        loss = F.cross_entropy(z, torch.tensor(target).permute(0, 3, 1, 2))
    loss.backward()
    with torch.no_grad():
        W -= lr * W.grad
        b -= lr * b.grad
    return loss.item(), W.detach().numpy().transpose(0, 2, 3, 1), b.detach().numpy()


@pytest.mark.parametrize("target", ["dist", "labels"])
def test_image_shaped_cross_entropy_training_step_matches_torch(target):
    X = RNG.standard_normal((4, 5, 4, 2))
    y = _distributions((4, 5, 4, 3)) if target == "dist" else RNG.integers(0, 3, (4, 5, 4))
    net = _conv_softmax_net()
    expected_loss, W, b = _torch_conv_sgd_step(net, X, y, 0.5)
    h = net.fit(X, y, epochs=1, batch_size=4, learning_rate=0.5, shuffle=False)
    assert h.history["loss"][0] == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(net.layers[0].params["W"], W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.layers[0].params["b"], b, rtol=1e-12, atol=1e-14)
    # evaluate agrees with the loss before the step, and accuracy is per position
    out = net.predict(X)
    truth = y if target == "labels" else y.argmax(axis=-1)
    scores = net.evaluate(X, y)
    assert scores["accuracy"] == pytest.approx(np.mean(out.argmax(axis=-1) == truth))
    assert isinstance(scores["accuracy"], float)


def test_output_1x1xk_trains_with_sample_labels():
    # (N, 1, 1, 10) output: the class axis is the last, labels are (N,) or (N, 1, 1)
    torch = pytest.importorskip("torch")
    net = NeuralNetwork([layers.Conv2D(10, 4, activation="softmax")], input_shape=(4, 4, 1),
                        seed=3)
    X = RNG.standard_normal((8, 4, 4, 1))
    y = RNG.integers(0, 10, 8)
    z = torch.nn.functional.conv2d(
        torch.tensor(X).permute(0, 3, 1, 2),
        torch.tensor(net.layers[0].params["W"].transpose(0, 3, 1, 2).copy()),
        torch.tensor(net.layers[0].params["b"]))[:, :, 0, 0]
    expected = torch.nn.functional.cross_entropy(z, torch.tensor(y)).item()
    assert expected > 1.0
    scores = net.evaluate(X, y)
    assert scores["loss"] == pytest.approx(expected, rel=1e-12)
    assert net.evaluate(X, y.reshape(8, 1, 1))["loss"] == pytest.approx(expected, rel=1e-12)
    h = net.fit(X, y, epochs=3, batch_size=8, learning_rate=0.5, shuffle=False)
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-12)
    assert h.history["loss"][2] < h.history["loss"][0]


def test_sample_labels_for_a_per_pixel_output_are_refused_clearly():
    net = _conv_softmax_net()
    with pytest.raises(ValueError, match=r"y as labels \(N,\).*\(N, 5, 4\).*\(N, 5, 4, 3\)"):
        net.fit(RNG.standard_normal((4, 5, 4, 2)), np.array([0, 1, 2, 0]))


@pytest.mark.parametrize("bad,shown", [
    (np.array([0, 1, 1e20]), "1e+20"),
    (np.array([0, 1, 2**63], dtype=np.uint64), "9223372036854775808"),
    (np.array([0, 1, -2**63]), "-9223372036854775808"),
    (np.array([0, 1, 10]), "10"),
])
def test_out_of_range_labels_are_reported_as_given(bad, shown):
    net = NeuralNetwork([layers.Flatten(), layers.Dense(10)], input_shape=(3, 3), seed=0)
    X = RNG.standard_normal((3, 3, 3))
    for call in (lambda: net.fit(X, bad), lambda: net.evaluate(X, bad),
                 lambda: SoftmaxCrossEntropy()(np.zeros((3, 10)), bad)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\).*got range "
                               r"\[.*" + re.escape(shown)):
                call()


def test_non_integer_labels_name_the_value():
    net = NeuralNetwork([layers.Flatten(), layers.Dense(3)], input_shape=(2, 2), seed=0)
    with pytest.raises(ValueError, match=r"y must hold integer class labels, got .*nan"):
        net.fit(np.ones((2, 2, 2)), np.array([0.0, np.nan]))


# --- learning rates -------------------------------------------------------------------

@pytest.mark.parametrize("rate,error,message", [
    (None, TypeError, "learning_rate must be a real number, got NoneType"),
    ("fast", TypeError, "learning_rate must be a real number, got str 'fast'"),
    ([0.1], TypeError, "learning_rate must be a real number, got list"),
    (True, TypeError, "learning_rate must be a real number, got bool"),
    (1 + 2j, TypeError, "learning_rate must be a real number, got complex"),
    (float("nan"), ValueError, "learning_rate must be a finite number >= 0, got nan"),
    (float("inf"), ValueError, "learning_rate must be a finite number >= 0, got inf"),
    (-0.1, ValueError, "learning_rate must be a finite number >= 0, got -0.1"),
])
def test_bad_learning_rates_are_refused_by_fit_and_gradient_descent(rate, error, message):
    net = NeuralNetwork([layers.Flatten(), layers.Dense(3)], input_shape=(2, 2), seed=0)
    before = net.flat_params.copy()
    X, y = RNG.standard_normal((4, 2, 2)), np.array([0, 1, 2, 0])
    with pytest.raises(error, match=message.replace("+", r"\+")):
        net.fit(X, y, learning_rate=rate)
    with pytest.raises(error, match=message.replace("+", r"\+")):
        net.gradient_descent(rate, X, y, 3)
    np.testing.assert_array_equal(net.flat_params, before)


def test_numpy_and_zero_d_learning_rates_work():
    net = NeuralNetwork([layers.Flatten(), layers.Dense(3)], input_shape=(2, 2), seed=0)
    X, y = RNG.standard_normal((4, 2, 2)), np.array([0, 1, 2, 0])
    for rate in (np.float32(0.1), np.array(0.1), 1, np.int64(0)):
        net.gradient_descent(rate, X, y, 1)
        net.fit(X, y, learning_rate=rate)


# --- a refused fit leaves the network as it was ------------------------------------

def _state(net):
    opt = net.optimizer
    return {
        "optimizer": opt,
        "optimizer_state": copy.deepcopy(vars(opt)),
        "weights": net.flat_params.copy(),
        "epochs": net.epochs_done,
        "rng": copy.deepcopy(net.shuffle_rng.bit_generator.state),
    }


def _assert_same_state(net, state):
    assert net.optimizer is state["optimizer"]
    now = vars(net.optimizer)
    assert now.keys() == state["optimizer_state"].keys()
    for key, value in state["optimizer_state"].items():
        if isinstance(value, np.ndarray) and not key.startswith("_tmp"):
            np.testing.assert_array_equal(now[key], value, err_msg=key)
        elif not isinstance(value, np.ndarray):
            assert now[key] == value, key
    np.testing.assert_array_equal(net.flat_params, state["weights"])
    assert net.epochs_done == state["epochs"]
    assert net.shuffle_rng.bit_generator.state == state["rng"]


def _digits_like_net(optimizer):
    return NeuralNetwork([layers.Conv2D(2, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
                          layers.Flatten(), layers.Dense(3, activation="softmax")],
                         input_shape=(6, 6), seed=0, optimizer=optimizer)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_refused_fit_changes_nothing(optimizer):
    X = RNG.standard_normal((10, 6, 6))
    y = RNG.integers(0, 3, 10)
    net = _digits_like_net(optimizer)
    twin = _digits_like_net(optimizer)
    for n in (net, twin):
        n.fit(X, y, epochs=1, batch_size=4, learning_rate=0.05)
    state = _state(net)
    refused = [
        dict(optimizer="adam", validation_data=(X,)),
        dict(optimizer="sgd", validation_data=(X, y[:3])),
        dict(optimizer="sgd", validation_data=(X[:, :5], y)),
        dict(optimizer="adam", learning_rate=None),
        dict(optimizer="sgd", learning_rate=float("nan")),
        dict(optimizer="adam", epochs=-1),
        dict(optimizer="adam", batch_size=0),
        dict(optimizer="adam", loss="hinge"),
        dict(optimizer="lbfgs"),
    ]
    for kwargs in refused:
        with pytest.raises((TypeError, ValueError)):
            net.fit(X, y, **kwargs)
        _assert_same_state(net, state)
    with pytest.raises(ValueError):
        net.fit(X, y[:9], optimizer="adam")
    _assert_same_state(net, state)
    # a replaced weight of the wrong shape is refused before any replaced weight is taken in
    bound_w, good_w = net.layers[0].params["W"], net.layers[-1].params["W"]
    net.layers[0].params["W"] = np.zeros_like(net.layers[0].params["W"])
    net.layers[-1].params["W"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="must keep shape"):
        net.fit(X, y, optimizer="adam")
    net.layers[0].params["W"] = bound_w
    net.layers[-1].params["W"] = good_w
    np.testing.assert_array_equal(net.flat_params, state["weights"])
    # and training goes on exactly as for a network that saw no refused call
    net.fit(X, y, epochs=2, batch_size=4, learning_rate=0.05)
    twin.fit(X, y, epochs=2, batch_size=4, learning_rate=0.05)
    np.testing.assert_array_equal(net.flat_params, twin.flat_params)


# --- non-finite batches ---------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("where", ["input", "target"])
def test_non_finite_batch_stops_fit_before_its_update(optimizer, where):
    X = RNG.standard_normal((12, 6, 6))
    y = RNG.integers(0, 3, 12)
    if where == "input":
        X[9, 2, 3] = np.nan                              # batch 3 of 3 (batch_size 4)
    else:
        y = np.eye(3)[y]
        y[9, 1] = np.inf
    net = _digits_like_net(optimizer)
    reference = _digits_like_net(optimizer)
    net.fit(X[:8], y[:8], epochs=1, batch_size=4, learning_rate=0.05, shuffle=False)
    reference.fit(X[:8], y[:8], epochs=1, batch_size=4, learning_rate=0.05, shuffle=False)
    # epoch 1 is clean; epoch 2 trains two batches, then batch 3 holds the NaN/inf
    reference.fit(X[:8], y[:8], epochs=1, batch_size=4, learning_rate=0.05, shuffle=False)
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 3 of 3"):
        net.fit(X, y, epochs=1, batch_size=4, learning_rate=0.05, shuffle=False)
    np.testing.assert_array_equal(net.flat_params, reference.flat_params)      # bitwise
    assert np.isfinite(net.flat_params).all()
    ref_state = vars(reference.optimizer)
    for key, value in vars(net.optimizer).items():
        if isinstance(value, np.ndarray) and not key.startswith("_tmp"):
            np.testing.assert_array_equal(value, ref_state[key], err_msg=key)
        elif not isinstance(value, np.ndarray):
            assert value == ref_state[key], key


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_finite_loss_with_an_overflowing_gradient_stops_fit():
    # logits +-2e298 give a finite loss (4e298), but the gradient reaching the conv
    # is 1e308 + 1e308 = inf: the update would turn its weight into -inf
    net = NeuralNetwork([layers.Conv2D(1, 1, use_bias=False), layers.Flatten(),
                         layers.Dense(2, use_bias=False)], input_shape=(1, 2), seed=0)
    net.layers[0].params["W"][...] = 1e-10
    net.layers[2].params["W"][...] = [[1e308, -1e308], [1e308, -1e308]]
    X = np.ones((1, 1, 2))
    assert np.isfinite(net.evaluate(X, [1])["loss"])
    before = net.flat_params.copy()
    with pytest.raises(FloatingPointError, match="epoch 1, batch 1 of 1.*gradient"):
        net.fit(X, [1], learning_rate=0.1, optimizer="momentum")
    np.testing.assert_array_equal(net.flat_params, before)
    assert net.optimizer.momentum_buffer is None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_loss_stops_gradient_descent():
    net = _digits_like_net("sgd")
    X = RNG.standard_normal((4, 6, 6))
    X[0, 0, 0] = np.inf
    before = net.flat_params.copy()
    with pytest.raises(FloatingPointError, match="iteration 1"):
        net.gradient_descent(0.1, X, [0, 1, 2, 0], 5)
    np.testing.assert_array_equal(net.flat_params, before)


# --- one output per position: targets without the output axis -----------------------

def _one_output_net(activation=None, seed=0):
    return NeuralNetwork([layers.Flatten(), layers.Dense(1, activation=activation)],
                         input_shape=(8, 8, 1), seed=seed)


def _torch_dense_sgd_step(net, X, target, lr):
    """Mean squared error and the Dense layer's weights after one SGD step, in torch."""
    torch = pytest.importorskip("torch")
    dense = net.layers[1]
    W = torch.tensor(dense.params["W"].copy(), requires_grad=True)
    b = torch.tensor(dense.params["b"].copy(), requires_grad=True)
    z = torch.tensor(X.reshape(len(X), -1)) @ W + b                  # (N, 1)
    loss = torch.nn.MSELoss()(z, torch.tensor(target, dtype=torch.float64).reshape(z.shape))
    loss.backward()
    with torch.no_grad():
        return loss.item(), (W - lr * W.grad).numpy(), (b - lr * b.grad).numpy()


@pytest.mark.parametrize("loss", [None, "mse"])
def test_one_output_regression_takes_targets_of_shape_n(loss):
    X = RNG.standard_normal((12, 8, 8, 1))
    y = RNG.standard_normal(12) * 3 + 1                  # float targets, not class labels
    flat, column = _one_output_net(), _one_output_net()
    expected, W, b = _torch_dense_sgd_step(flat, X, y, 0.05)
    histories = [net.fit(X, target, batch_size=12, learning_rate=0.05, loss=loss, shuffle=False)
                 for net, target in ((flat, y), (column, y[:, None]))]
    assert histories[0].history == histories[1].history == {"loss": [pytest.approx(expected)]}
    assert histories[0].history["loss"][0] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(flat.flat_params, column.flat_params)
    np.testing.assert_allclose(flat.layers[1].params["W"], W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(flat.layers[1].params["b"], b, rtol=1e-12, atol=1e-14)
    # evaluate, validation data and gradient descent read (N,) as (N, 1) too
    Xv, yv = RNG.standard_normal((5, 8, 8, 1)), RNG.standard_normal(5)
    scores = flat.evaluate(Xv, yv, loss=loss)
    assert scores == column.evaluate(Xv, yv[:, None], loss=loss)
    assert scores == {"loss": pytest.approx(np.mean((flat.predict(Xv)[:, 0] - yv) ** 2))}
    histories = [net.fit(X, t, validation_data=(Xv, tv), loss=loss, shuffle=False)
                 for net, t, tv in ((flat, y, yv), (column, y[:, None], yv[:, None]))]
    assert histories[0].history == histories[1].history
    assert set(histories[0].history) == {"loss", "val_loss"}
    np.testing.assert_array_equal(flat.gradient_descent(0.05, X, y, 2),
                                  column.gradient_descent(0.05, X, y[:, None], 2))


def test_float_targets_of_shape_n_for_several_outputs_are_refused_clearly():
    net = NeuralNetwork([layers.Flatten(), layers.Dense(3)], input_shape=(8, 8, 1), seed=0)
    X, y = RNG.standard_normal((6, 8, 8, 1)), RNG.standard_normal(6)
    before = net.flat_params.copy()
    expected = (r"must hold integer class labels, got -?\d.*3 outputs per sample.*"
                r"y of shape \(6,\).*class label in \[0, 3\).*\(N, 3\)")
    for call in (lambda: net.fit(X, y, loss="mse"), lambda: net.evaluate(X, y),
                 lambda: net.fit(X, y.argsort() % 3, validation_data=(X, y))):
        with pytest.raises(ValueError, match=expected):
            call()
    np.testing.assert_array_equal(net.flat_params, before)


def test_a_loss_that_does_not_fit_the_output_is_refused():
    # a softmax over one output is 1 whatever the input: the labels 0/1 cannot be learnt
    X, y = RNG.standard_normal((6, 8, 8, 1)), np.array([0, 1, 1, 0, 1, 0])
    net = _one_output_net()
    before = net.flat_params.copy()
    message = r"loss 'cross_entropy' needs at least 2 outputs.*binary_cross_entropy"
    for call in (lambda: net.fit(X, y, loss="cross_entropy"),
                 lambda: net.evaluate(X, y, loss="cross_entropy"),
                 lambda: net.fit(X, y[:, None].astype(float), loss="cross_entropy")):
        with pytest.raises(ValueError, match=message):
            call()
    np.testing.assert_array_equal(net.flat_params, before)
    # binary cross-entropy scores one output per position, not class labels of three
    net = NeuralNetwork([layers.Flatten(), layers.Dense(3)], input_shape=(8, 8, 1), seed=0)
    with pytest.raises(ValueError, match=r"loss 'binary_cross_entropy' takes 0/1 labels of "
                       r"one output.*3 outputs.*use loss 'cross_entropy'"):
        net.fit(X, y + 1, loss="binary_cross_entropy")


def test_integer_labels_of_one_output_beyond_0_and_1_suggest_float_targets():
    net = _one_output_net()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\).*got range \[0, 3\].*"
                       r"one output.*y.astype\(float\)"):
        net.fit(RNG.standard_normal((4, 8, 8, 1)), np.array([0, 1, 2, 3]), loss="mse")


def test_mean_squared_error_on_0_1_labels_of_one_output_counts_accuracy_at_one_half():
    net = _one_output_net(seed=2)
    X = RNG.standard_normal((40, 8, 8, 1))
    out = net.predict(X)[:, 0]
    y = (out > 0.5).astype(np.int64)
    y[:7] = 1 - y[:7]                                   # 33 of 40 right
    assert np.mean(y == 0) != pytest.approx(33 / 40)
    scores = net.evaluate(X, y, loss="mse")
    assert scores["loss"] == pytest.approx(np.mean((out - y) ** 2), rel=1e-12)
    assert scores["accuracy"] == pytest.approx(33 / 40)


def test_per_pixel_binary_labels():
    torch = pytest.importorskip("torch")
    net = NeuralNetwork([layers.Conv2D(1, 3, padding=1, activation="sigmoid")],
                        input_shape=(6, 5, 1), seed=1)
    X = RNG.standard_normal((4, 6, 5, 1))
    y = RNG.integers(0, 2, (4, 6, 5))                  # one 0/1 label per pixel
    p = net.predict(X)[..., 0]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(np.log(p / (1 - p))), torch.tensor(y, dtype=torch.float64)).item()
    scores = net.evaluate(X, y)
    assert scores["loss"] == pytest.approx(expected, rel=1e-8)
    assert scores["accuracy"] == pytest.approx(np.mean((p > 0.5) == y))
    # the same labels as floats, with or without the output axis, choose the same loss
    assert net.evaluate(X, y.astype(float)) == pytest.approx(scores)
    assert net.evaluate(X, y[..., None].astype(float)) == pytest.approx(scores)
    history = net.fit(X, y, epochs=2, batch_size=2, learning_rate=0.5)
    assert set(history.history) == {"loss", "accuracy"}
