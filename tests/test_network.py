"""NeuralNetwork: gradients of a whole network, training on digits, save/load, errors."""
import zipfile

import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, fusion, layers
from pyx_cnn._fit_arguments import resolve_loss
from pyx_cnn.losses import get_loss
from pyx_cnn.datasets import load_digits_split
from pyx_cnn.models import digits_network
from test_layers import numeric_grad


def small_cnn(seed=0, dtype="float64", last="softmax"):
    return NeuralNetwork([
        layers.Conv2D(3, 3, padding=1),
        layers.ReLU(),
        layers.MaxPool2D(3, 1),
        layers.Conv2D(3, 2, activation="relu"),
        layers.Conv2D(4, (2, 3), stride=2, padding=1),
        layers.Sigmoid(),
        layers.Flatten(),
        layers.Dense(5, activation="relu"),
        layers.Dense(3, activation=last),
    ], input_shape=(9, 10, 2), seed=seed, dtype=dtype)


@pytest.mark.parametrize("last,targets", [("softmax", "labels"), (None, "labels"),
                                          ("sigmoid", "floats"), ("softmax", "floats")])
def test_whole_network_gradient_matches_finite_differences(last, targets):
    rng = np.random.default_rng(0)
    net = small_cnn(seed=1, last=last)
    for layer in net.layers:
        if "b" in layer.params:
            layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape) * 0.1
    X = rng.standard_normal((4, 9, 10, 2))
    y = rng.integers(0, 3, 4) if targets == "labels" else rng.random((4, 3))
    plan = net._chain.plan(resolve_loss(net, None, y))

    def loss():
        return plan.loss_value_grad(plan.forward(X), y)[0]

    # the path fit() takes
    _, grad, _ = plan.loss_value_grad(plan.forward(X, True), y)
    plan.backward(grad)
    analytic = net.flat_grads.copy()
    numeric = numeric_grad(loss, net.flat_params)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    # and the loss matches the definition computed from predict()
    p = net.predict(X)
    if targets == "labels":
        if last == "softmax":
            expected = -np.mean(np.log(p[np.arange(4), y]))
        else:
            q = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
            expected = -np.mean(np.log(q[np.arange(4), y]))
    else:
        expected = np.mean((p - y) ** 2)
    assert loss() == pytest.approx(expected, rel=1e-10)


def test_params_are_views_of_the_flat_vector():
    net = small_cnn()
    layer = net.layers[0]
    layer.params["W"][0, 0, 0, 0] = 123.0
    assert 123.0 in net.flat_params
    # assigning a new array is taken in at the next fit/predict
    new_w = np.zeros_like(layer.params["W"])
    layer.params["W"] = new_w
    net.predict(np.zeros((1, 9, 10, 2)))
    assert not np.any(net.flat_params[:new_w.size])


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(seed=0)


@pytest.fixture(scope="module")
def trained(digits):
    X_train, X_test, y_train, y_test = digits
    net = digits_network(seed=0)
    history = net.fit(X_train[..., 0], y_train, epochs=30, batch_size=32, learning_rate=0.1,
                      validation_data=(X_test, y_test))
    return net, history


def test_digits_reaches_94_percent(digits, trained):
    X_train, X_test, y_train, y_test = digits
    net, history = trained
    assert len(X_train) == 1437 and len(X_test) == 360
    scores = net.evaluate(X_test, y_test)
    assert scores["accuracy"] >= 0.94
    predicted = net.predict(X_test).argmax(axis=1)
    assert scores["accuracy"] == pytest.approx(np.mean(predicted == y_test))
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 30 for v in h.values())
    assert h["loss"][-1] < h["loss"][0] / 5
    assert h["val_accuracy"][-1] == pytest.approx(scores["accuracy"])
    assert history.epoch == list(range(1, 31))


def test_save_load_gives_identical_predictions(tmp_path, digits, trained):
    net, _ = trained
    X_test = digits[1]
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = NeuralNetwork.load(path)
    np.testing.assert_array_equal(loaded.predict(X_test), net.predict(X_test))
    assert [type(a) for a in loaded.layers] == [type(b) for b in net.layers]
    with np.load(path, allow_pickle=False) as data:   # readable without pickle
        assert all(data[k].dtype != object for k in data.files)


def test_load_errors(tmp_path, trained):
    net, _ = trained
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        NeuralNetwork.load(tmp_path / "nope.npz")
    good = tmp_path / "good.npz"
    net.save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.npz"):
        NeuralNetwork.load(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz"):
        NeuralNetwork.load(foreign)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="text.npz"):
        NeuralNetwork.load(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single.npy"):
        NeuralNetwork.load(single)
    # an object array (needs pickle) is refused
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["layers.0.W"] = np.array([None], dtype=object)
    objects = tmp_path / "objects.npz"
    np.savez(objects, **arrays)
    with pytest.raises(ValueError, match="objects.npz"):
        NeuralNetwork.load(objects)
    # a weight of the wrong shape
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["layers.4.W"] = np.zeros((3, 3))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **arrays)
    with pytest.raises(ValueError, match="layers.4.W"):
        NeuralNetwork.load(wrong)
    # a member that is cut short inside a valid zip directory
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(tmp_path / "cut.npz", "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data[:40] if info.filename.startswith("layers.0") else data)
    with pytest.raises(ValueError, match="cut.npz"):
        NeuralNetwork.load(tmp_path / "cut.npz")


def test_article_network_gradient_descent_lowers_loss(digits):
    # the companion article: a 3x3 convolution with sigmoid, then Dense with sigmoid
    X_train, _, y_train, _ = digits
    X, y = X_train[:200], y_train[:200]
    targets = np.eye(10)[y]
    def article_net():
        return NeuralNetwork([
            layers.Conv2D(4, 3, activation="sigmoid"),
            layers.Flatten(),
            layers.Dense(10, activation="sigmoid"),
        ], input_shape=(8, 8), seed=0)

    net = article_net()
    initial = np.mean((net.predict(X) - targets) ** 2)
    losses = net.gradient_descent(2.0, X[..., 0], targets, 40)
    assert losses.shape == (40,)
    assert losses[0] == pytest.approx(initial, rel=1e-12)   # loss before the first update
    assert losses[-1] < 0.8 * losses[0]
    assert np.all(np.diff(losses) < 1e-12)           # full-batch GD, small steps: monotone
    final = np.mean((net.predict(X) - targets) ** 2)
    assert final < losses[-1]


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), ("momentum", 0.05), ("adam", 0.01)])
def test_optimisers_reduce_loss(digits, optimizer, lr):
    X_train, _, y_train, _ = digits
    net = digits_network(seed=3)
    before = net.evaluate(X_train, y_train)["loss"]
    net.fit(X_train, y_train, epochs=2, batch_size=32, learning_rate=lr, optimizer=optimizer)
    after = net.evaluate(X_train, y_train)["loss"]
    assert after < 0.5 * before


def test_fit_continues_and_is_reproducible(digits):
    X_train, _, y_train, _ = digits
    a, b = digits_network(seed=5), digits_network(seed=5)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)
    a.fit(X_train, y_train, epochs=2, learning_rate=0.1)
    b.fit(X_train, y_train, epochs=1, learning_rate=0.1)
    h = b.fit(X_train, y_train, epochs=1, learning_rate=0.1)
    assert h.epoch == [2]
    np.testing.assert_allclose(a.flat_params, b.flat_params, rtol=1e-12, atol=1e-12)
    c = digits_network(seed=6)
    assert not np.array_equal(a.flat_params, c.flat_params)


def test_float32_network_trains(digits):
    X_train, X_test, y_train, y_test = digits
    net = digits_network(seed=0, dtype="float32")
    net.fit(X_train, y_train, epochs=5, learning_rate=0.1)
    assert net.layers[0].params["W"].dtype == np.float32
    out = net.predict(X_test)
    assert out.dtype == np.float32
    assert net.evaluate(X_test, y_test)["accuracy"] > 0.85


def test_summary_lists_layers_and_params():
    net = digits_network()
    text = net.summary(print_fn=None)
    for word in ["Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense", "(None, 6, 6, 8)",
                 "(None, 3, 3, 8)", "(None, 72)", "(None, 10)"]:
        assert word in text
    assert "Total params: 810" in text      # 8*9 + 8 and 72*10 + 10
    assert net.count_params() == 810


def test_argument_errors(digits):
    X_train, _, y_train, _ = digits
    net = digits_network()
    with pytest.raises(ValueError, match="X must be"):
        net.fit(np.zeros((3, 9, 9)), [0, 1, 2])
    with pytest.raises(ValueError, match="labels"):
        net.fit(X_train[:3], [0, 1, 10])
    with pytest.raises(ValueError, match="3 labels for 4"):
        net.fit(X_train[:4], [0, 1, 2])
    with pytest.raises(ValueError, match="optimizer"):
        net.fit(X_train[:4], y_train[:4], optimizer="lbfgs")
    with pytest.raises(ValueError, match="loss"):
        NeuralNetwork([layers.Dense(2)], input_shape=(3,), loss="hinge")
    with pytest.raises(ValueError, match="Flatten"):
        NeuralNetwork([layers.Dense(2)], input_shape=(4, 4))
    with pytest.raises(TypeError, match="layers\\[0\\]"):
        NeuralNetwork(["conv"], input_shape=(4, 4))
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X_train[:4], y_train[:4], batch_size=0)


def test_fused_plan_equals_layer_by_layer():
    # the network folds ReLU into pooling and activations into Conv2D / Dense:
    # running every layer on its own must give the same outputs and gradients
    rng = np.random.default_rng(2)
    net = small_cnn(seed=4)
    X = rng.standard_normal((3, 9, 10, 2))
    net.layers[0].needs_input_grad = True   # compared too (a network leaves it out)
    steps = fusion.plan(net.layers)
    assert len(steps) < len(net.layers)
    assert {step.rule for step in steps} >= {"relu_into_max_pool", "activation_in_place"}
    out = X
    for step in steps:
        out = step.forward(out, True)
    g = rng.standard_normal(out.shape)
    grad = g
    for step in reversed(steps):
        grad = step.backward(grad)
    fused_grads = net.flat_grads.copy()
    ref = X
    for layer in net.layers:
        ref = layer.forward(ref)
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
    ref_g = g
    for layer in net.layers[::-1]:
        ref_g = layer.backward(ref_g)
    np.testing.assert_allclose(grad, ref_g, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fused_grads, net.flat_grads, rtol=1e-12, atol=1e-13)


def test_one_epoch_matches_pytorch():
    # same weights, same batches, float64: PyTorch's autograd is an independent reference
    torch = pytest.importorskip("torch")
    from torch import nn

    X_train, _, y_train, _ = load_digits_split(seed=0)
    X, y = X_train[:200], y_train[:200]
    net = NeuralNetwork([
        layers.Conv2D(4, 3, padding=1), layers.ReLU(), layers.MaxPool2D(2, 2),
        layers.Conv2D(6, 2, stride=2, activation="sigmoid"),
        layers.Flatten(), layers.Dense(10, activation="softmax"),
    ], input_shape=(8, 8, 1), seed=1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                          nn.Conv2d(4, 6, 2, stride=2), nn.Sigmoid(), nn.Flatten(),
                          nn.Linear(24, 10)).double()
    c1, c2, dense = net.layers[0], net.layers[3], net.layers[5]

    def dense_rows(w):  # (y*W + x)*C + c  ->  c*H*W + y*W + x
        return w.reshape(2, 2, 6, 10).transpose(2, 0, 1, 3).reshape(24, 10)

    with torch.no_grad():
        for conv, tconv in ((c1, model[0]), (c2, model[3])):
            tconv.weight.copy_(torch.from_numpy(conv.params["W"].transpose(0, 3, 1, 2).copy()))
            tconv.bias.copy_(torch.from_numpy(conv.params["b"].copy()))
        model[6].weight.copy_(torch.from_numpy(dense_rows(dense.params["W"]).T.copy()))
        model[6].bias.copy_(torch.from_numpy(dense.params["b"].copy()))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    tx = torch.from_numpy(X.transpose(0, 3, 1, 2).copy())
    ty = torch.from_numpy(y.astype(np.int64))
    for start in range(0, 200, 32):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(tx[start:start + 32]), ty[start:start + 32])
        loss.backward()
        opt.step()
    net.fit(X, y, epochs=1, batch_size=32, learning_rate=0.5, shuffle=False)
    np.testing.assert_allclose(c1.params["W"], model[0].weight.detach().numpy()
                               .transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c2.params["b"], model[3].bias.detach().numpy(),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dense_rows(dense.params["W"]).T, model[6].weight.detach().numpy(),
                               rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        expected = torch.softmax(model(tx), dim=1).numpy()
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("last,targets", [("softmax", "labels"), ("softmax", "floats"),
                                          ("sigmoid", "floats")])
def test_unfused_path_gives_the_same_training(last, targets):
    """fuse=False runs every layer's own forward and backward (and the softmax
    before the loss): fit, predict and evaluate agree with the fused plan."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((12, 9, 10, 2))
    y = rng.integers(0, 3, 12) if targets == "labels" else rng.random((12, 3))
    nets = [small_cnn(seed=3, last=last) for _ in range(2)]
    for net, fuse in zip(nets, (True, False)):
        history = net.fit(X, y, epochs=2, batch_size=5, learning_rate=0.05, fuse=fuse)
        net.last_loss = history.history["loss"]
    np.testing.assert_allclose(nets[0].last_loss, nets[1].last_loss, rtol=1e-10)
    np.testing.assert_allclose(nets[0].flat_params, nets[1].flat_params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets[0].predict(X), nets[1].predict(X, fuse=False),
                               rtol=1e-12, atol=1e-14)
    fused, plain = nets[0].evaluate(X, y), nets[0].evaluate(X, y, fuse=False)
    assert fused.keys() == plain.keys()
    for key in fused:
        assert plain[key] == pytest.approx(fused[key], rel=1e-10)


def test_summary_names_the_fusions():
    text = small_cnn(seed=0).summary(print_fn=None)
    assert "relu_into_max_pool" in text and "Runs fused by" in text
    plan_rules = {step.rule for step in fusion.plan(small_cnn(seed=0).layers)}
    assert plan_rules <= set(fusion.RULES) | {""}


def _last_row_and_footnote(net):
    lines = net.summary(print_fn=None).splitlines()
    total = next(i for i, line in enumerate(lines) if line.startswith("Total params"))
    return lines[total - 2], lines[total + 1:]


def _binary_net(loss=None):
    """A network ending in ``Dense(1, activation="sigmoid")``, for 0/1 labels."""
    return NeuralNetwork([layers.Conv2D(2, 3), layers.ReLU(), layers.MaxPool2D(2, 2),
                          layers.Flatten(), layers.Dense(1, activation="sigmoid")],
                         input_shape=(8, 8, 1), seed=0, loss=loss)


def _with_loss(net, loss):
    net.loss = get_loss(loss)
    return net


def test_summary_of_a_sigmoid_output_shows_the_sigmoid_left_to_its_loss():
    net = _binary_net()
    last, footnote = _last_row_and_footnote(net)
    assert last.split()[-1] == "sigmoid_into_loss"
    # as fit runs it for 0/1 labels
    fit_plan = net._chain.plan(resolve_loss(net, None, np.array([0, 1], dtype=np.int64)))
    assert fit_plan.steps[-1].rule == "sigmoid_into_loss"
    note = " ".join(footnote)
    assert "final sigmoid" in note and "'binary_cross_entropy'" in note
    assert "softmax" not in note


def test_summary_of_a_softmax_output_shows_the_softmax_left_to_its_loss():
    net = small_cnn()
    last, footnote = _last_row_and_footnote(net)
    assert last.split()[-1] == "softmax_into_loss"
    fit_plan = net._chain.plan(resolve_loss(net, None, np.array([0, 2], dtype=np.int64)))
    assert fit_plan.steps[-1].rule == "softmax_into_loss"
    note = " ".join(footnote)
    assert "final softmax" in note and "'cross_entropy'" in note
    assert "sigmoid" not in note


@pytest.mark.parametrize("net", [
    lambda: small_cnn(last=None),                        # logits out, as an imported LeNet
    lambda: _with_loss(small_cnn(), "mse"),
    lambda: _binary_net(loss="mse"),                     # a loss that takes probabilities
], ids=["logits", "softmax+mse", "sigmoid+mse"])
def test_summary_without_an_activation_left_to_the_loss_says_none(net):
    last_row, footnote = _last_row_and_footnote(net())
    assert "_into_loss" not in last_row
    assert not any("softmax" in line or "sigmoid" in line or "loss" in line
                   for line in footnote)


def test_a_network_pickles_after_training():
    import pickle

    rng = np.random.default_rng(3)
    net = small_cnn(seed=2)
    X = rng.standard_normal((6, 9, 10, 2))
    net.fit(X, np.arange(6) % 3, epochs=1, batch_size=3)
    copy = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))
