"""SPEC section 8: optimisers, binary cross-entropy, schedules, callbacks, resuming,
predict_classes, gradcheck."""
import copy
import csv
import json

import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, callbacks, layers, optim, schedules
from pyx_cnn.losses import BinaryCrossEntropy, get_loss
from pyx_cnn._fit_arguments import resolve_loss

RNG = np.random.default_rng(2024)


# --- optimisers equal torch.optim ------------------------------------------------------

OPTIMISERS = [
    ("sgd", lambda: optim.SGD(), "SGD", {}),
    ("sgd_wd", lambda: optim.SGD(weight_decay=0.1), "SGD", {"weight_decay": 0.1}),
    ("momentum", lambda: optim.SGD(momentum=0.9), "SGD", {"momentum": 0.9}),
    ("momentum_wd", lambda: optim.SGD(momentum=0.8, weight_decay=0.05), "SGD",
     {"momentum": 0.8, "weight_decay": 0.05}),
    ("nesterov", lambda: optim.SGD(momentum=0.9, nesterov=True), "SGD",
     {"momentum": 0.9, "nesterov": True}),
    ("nesterov_wd", lambda: optim.SGD(momentum=0.7, nesterov=True, weight_decay=0.02), "SGD",
     {"momentum": 0.7, "nesterov": True, "weight_decay": 0.02}),
    ("rmsprop", lambda: optim.RMSprop(), "RMSprop", {"alpha": 0.99, "eps": 1e-8}),
    ("rmsprop_wd", lambda: optim.RMSprop(alpha=0.9, eps=1e-6, weight_decay=0.1), "RMSprop",
     {"alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1}),
    ("adam", lambda: optim.Adam(), "Adam", {"betas": (0.9, 0.999), "eps": 1e-8}),
    ("adam_wd", lambda: optim.Adam(0.8, 0.99, 1e-6, weight_decay=0.1), "Adam",
     {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", lambda: optim.AdamW(), "AdamW",
     {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}),
    ("adamw_0", lambda: optim.AdamW(weight_decay=0.0), "AdamW",
     {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    ("adamw_big", lambda: optim.AdamW(0.85, 0.995, weight_decay=0.3), "AdamW",
     {"betas": (0.85, 0.995), "eps": 1e-8, "weight_decay": 0.3}),
]


@pytest.mark.parametrize("name, make, torch_name, kwargs", OPTIMISERS,
                         ids=[o[0] for o in OPTIMISERS])
def test_optimiser_steps_equal_torch_optim(name, make, torch_name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    params = rng.standard_normal(300)
    tp = torch.tensor(params.copy(), requires_grad=True)
    topt = getattr(torch.optim, torch_name)([tp], lr=0.03, **kwargs)
    ours = make()
    for step in range(5):
        grads = rng.standard_normal(300) * (step + 1)
        ours.step(params, grads, 0.03)
        tp.grad = torch.tensor(grads.copy())
        topt.step()
        np.testing.assert_allclose(params, tp.detach().numpy(), rtol=0, atol=1e-10,
                                   err_msg=f"step {step + 1}")


def test_optimiser_names_and_aliases():
    assert type(optim.get_optimizer("SGD")) is optim.SGD
    m = optim.get_optimizer("momentum")
    assert isinstance(m, optim.SGD) and m.momentum == 0.9 and m.name == "momentum"
    assert type(optim.get_optimizer("rmsprop")) is optim.RMSprop
    assert type(optim.get_optimizer("AdamW")) is optim.AdamW
    assert optim.get_optimizer("adamw").weight_decay == 0.01
    with pytest.raises(ValueError, match="optimizer must be"):
        optim.get_optimizer("lbfgs")


@pytest.mark.parametrize("make, error, match", [
    (lambda: optim.SGD(momentum=-0.1), ValueError, "momentum"),
    (lambda: optim.SGD(momentum=1.0), ValueError, "momentum"),
    (lambda: optim.SGD(momentum="a"), TypeError, "momentum"),
    (lambda: optim.SGD(nesterov=True), ValueError, "nesterov"),
    (lambda: optim.SGD(momentum=0.9, nesterov=1), TypeError, "nesterov"),
    (lambda: optim.SGD(weight_decay=-1), ValueError, "weight_decay"),
    (lambda: optim.RMSprop(alpha=1.5), ValueError, "alpha"),
    (lambda: optim.RMSprop(eps=0), ValueError, "eps"),
    (lambda: optim.Adam(beta1=1.0), ValueError, "beta1"),
    (lambda: optim.Adam(beta2=None), TypeError, "beta2"),
    (lambda: optim.Adam(eps=float("nan")), ValueError, "eps"),
    (lambda: optim.AdamW(weight_decay=float("inf")), ValueError, "weight_decay"),
    (lambda: optim.Momentum(beta=2), ValueError, "beta"),
])
def test_optimiser_arguments_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_state_dict_round_trip():
    opt = optim.Adam()
    p, g = RNG.standard_normal(10), RNG.standard_normal(10)
    opt.step(p, g, 0.1)
    state = opt.state_dict()
    assert set(state) == {"exp_avg", "exp_avg_sq", "t"} and state["t"] == 1
    other = optim.Adam()
    other.load_state_dict(state)
    q = p.copy()
    opt.step(p, g, 0.1)
    other.step(q, g, 0.1)
    np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match="exp_avg"):
        optim.Adam().load_state_dict({**state, "exp_avg": np.zeros(3)}, size=10)
    with pytest.raises(ValueError, match="unexpected"):
        optim.Adam().load_state_dict({**state, "foo": 1})


# --- binary cross-entropy --------------------------------------------------------------

def _torch_bce(z, t):
    torch = pytest.importorskip("torch")
    zt = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        zt, torch.tensor(np.asarray(t, dtype=np.float64).reshape(z.shape)))
    loss.backward()
    return loss.item(), zt.grad.numpy()


@pytest.mark.parametrize("scale", [1.0, 50.0, 1000.0])
@pytest.mark.parametrize("shape", ["labels", "column", "soft"])
def test_binary_cross_entropy_matches_torch(scale, shape):
    z = RNG.standard_normal((9, 1)) * scale
    t = RNG.integers(0, 2, 9)
    if shape == "column":
        t = t.reshape(9, 1).astype(float)
    elif shape == "soft":
        t = RNG.random((9, 1))
    value, grad = BinaryCrossEntropy()(z, t)
    expected, expected_grad = _torch_bce(z, t)
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)


def test_binary_cross_entropy_from_probabilities_matches_torch():
    z = RNG.standard_normal((8, 1)) * 3
    t = RNG.integers(0, 2, 8)
    p = 1 / (1 + np.exp(-z))
    value, grad_p = BinaryCrossEntropy().from_probabilities(p, t)
    expected, expected_grad_z = _torch_bce(z, t)
    assert value == pytest.approx(expected, rel=1e-12)
    # chained with the sigmoid's derivative: the gradient with respect to the logits
    np.testing.assert_allclose(grad_p * p * (1 - p), expected_grad_z, rtol=1e-9, atol=1e-15)


def test_binary_cross_entropy_checks_its_arguments():
    bce = get_loss("binary_cross_entropy")
    with pytest.raises(ValueError, match="target must"):
        bce(np.zeros((4, 1)), np.zeros(3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bce(np.zeros((2, 1)), [0, 2])


def _binary_net(seed=0, fuse_layer=False):
    last = [layers.Dense(1), layers.Sigmoid()] if fuse_layer else \
        [layers.Dense(1, activation="sigmoid")]
    return NeuralNetwork([layers.Conv2D(2, 3), layers.ReLU(), layers.Flatten(), *last],
                         input_shape=(6, 6, 1), seed=seed)


def _binary_data(n=40):
    X = RNG.standard_normal((n, 6, 6, 1))
    return X, (X.mean(axis=(1, 2, 3)) > 0).astype(int)


@pytest.mark.parametrize("fuse_layer", [False, True])
def test_binary_network_trains_fused_and_unfused_alike(fuse_layer):
    X, y = _binary_data()
    nets = [_binary_net(fuse_layer=fuse_layer) for _ in range(2)]
    histories = [net.fit(X, y, epochs=3, batch_size=8, learning_rate=0.3, fuse=fuse)
                 for net, fuse in zip(nets, (True, False))]
    last_step = nets[0]._chain.plan(BinaryCrossEntropy()).steps[-1]
    assert type(last_step.rule) is str and last_step.rule.endswith("sigmoid_into_loss")
    assert isinstance(resolve_loss(nets[0], None, y.astype(np.int64)),
                      BinaryCrossEntropy)
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"],
                               rtol=1e-10)
    np.testing.assert_allclose(nets[0].flat_params, nets[1].flat_params, rtol=1e-9, atol=1e-12)
    assert set(histories[0].history) == {"loss", "accuracy"}
    scores = nets[0].evaluate(X, y)
    p = nets[0].predict(X)[:, 0]
    assert scores["accuracy"] == pytest.approx(np.mean((p > 0.5) == y))
    expected, _ = _torch_bce(np.log(p / (1 - p)).reshape(-1, 1), y)
    assert scores["loss"] == pytest.approx(expected, rel=1e-8)


def test_binary_float_targets_and_column_labels_choose_bce():
    X, y = _binary_data(16)
    net = _binary_net()
    a = net.evaluate(X, y)
    b = net.evaluate(X, y.reshape(-1, 1).astype(float))
    assert a == pytest.approx(b)
    # soft targets of a sigmoid output stay mean squared error by default
    soft = net.evaluate(X, np.full((16, 1), 0.3))
    assert "accuracy" not in soft


def test_binary_one_step_matches_torch():
    torch = pytest.importorskip("torch")
    X, y = _binary_data(10)
    net = NeuralNetwork([layers.Flatten(), layers.Dense(1, activation="sigmoid")],
                        input_shape=(6, 6, 1), seed=3)
    W = torch.tensor(net.layers[1].params["W"].copy(), requires_grad=True)
    b = torch.tensor(net.layers[1].params["b"].copy(), requires_grad=True)
    z = torch.tensor(X.reshape(10, -1)) @ W + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.tensor(y, dtype=torch.float64).reshape(10, 1))
    loss.backward()
    h = net.fit(X, y, epochs=1, batch_size=10, learning_rate=0.5, shuffle=False)
    assert h.history["loss"][0] == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(net.layers[1].params["W"], (W - 0.5 * W.grad).detach().numpy(),
                               rtol=1e-12, atol=1e-15)


def test_predict_classes():
    X, y = _binary_data(12)
    net = _binary_net()
    classes = net.predict_classes(X)
    assert classes.shape == (12,) and classes.dtype == np.int64
    np.testing.assert_array_equal(classes, (net.predict(X)[:, 0] > 0.5).astype(int))
    soft = NeuralNetwork([layers.Flatten(), layers.Dense(4, activation="softmax")],
                         input_shape=(6, 6, 1), seed=0)
    np.testing.assert_array_equal(soft.predict_classes(X), soft.predict(X).argmax(axis=1))
    assert soft.predict_classes(X[0]).shape == ()


# --- schedules -------------------------------------------------------------------------

def test_schedules_follow_their_formulas():
    step = schedules.StepDecay(0.1, 3, gamma=0.5)
    assert [step(e) for e in range(7)] == [0.1 * 0.5 ** (e // 3) for e in range(7)]
    cos = schedules.CosineDecay(0.2, 10, minimum=0.01)
    for e in range(14):
        expected = 0.01 + 0.19 * (1 + np.cos(np.pi * min(e, 10) / 10)) / 2
        assert cos(e) == pytest.approx(expected, rel=1e-15)
    assert cos(0) == pytest.approx(0.2) and cos(10) == pytest.approx(0.01)


def test_reduce_on_plateau_follows_keras():
    sched = schedules.ReduceOnPlateau(1.0, monitor="val_loss", factor=0.5, patience=2,
                                      min_delta=0.0)
    rates = []
    for value in [5, 4, 4, 4, 3.9, 3.9, 3.9, 3.9, 3.9]:
        rates.append(sched(0))
        sched.on_epoch_end(0, {"val_loss": value})
    # reductions after two epochs without a strict improvement
    assert rates == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    acc = schedules.ReduceOnPlateau(1.0, monitor="val_accuracy", factor=0.1, patience=1)
    acc.on_epoch_end(0, {"val_accuracy": 0.5})
    acc.on_epoch_end(1, {"val_accuracy": 0.6})
    assert acc(2) == 1.0
    acc.on_epoch_end(2, {"val_accuracy": 0.6})
    assert acc(3) == pytest.approx(0.1)


def test_fit_uses_the_schedule_per_epoch_continuing_across_calls():
    seen = []

    def rate(epoch):
        seen.append(epoch)
        return 0.1 / (1 + epoch)

    X, y = _binary_data(8)
    net = _binary_net()
    net.fit(X, y, epochs=2, learning_rate=rate)
    net.fit(X, y, epochs=2, learning_rate=rate)
    assert seen == [0, 1, 2, 3]
    # the rate a schedule gives is what the optimiser gets
    a, b = _binary_net(), _binary_net()
    a.fit(X, y, epochs=3, learning_rate=schedules.StepDecay(0.2, 1, 0.5), shuffle=False)
    for e in range(3):
        b.fit(X, y, epochs=1, learning_rate=0.2 * 0.5 ** e, shuffle=False)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)
    with pytest.raises(ValueError, match="schedule's rate for epoch"):
        _binary_net().fit(X, y, learning_rate=lambda e: -1.0)


# --- callbacks and validation_split ----------------------------------------------------

def _labels_data(n=40):
    X = RNG.standard_normal((n, 6, 6, 1))
    return X, RNG.integers(0, 3, n)


def _softmax_net(seed=0):
    return NeuralNetwork([layers.Conv2D(2, 3), layers.ReLU(), layers.Flatten(),
                          layers.Dense(3, activation="softmax")], input_shape=(6, 6, 1),
                         seed=seed)


class Recorder(callbacks.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("begin",))

    def on_batch_end(self, batch, logs=None):
        self.events.append(("batch", batch, logs["size"], logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("end",))


def test_callback_hooks_and_validation_split_holds_out_the_last_samples():
    X, y = _labels_data(20)
    rec = Recorder()
    net = _softmax_net()
    h = net.fit(X, y, epochs=2, batch_size=6, learning_rate=0.1, validation_split=0.25,
                callbacks=[rec])
    assert rec.events[0] == ("begin",) and rec.events[-1] == ("end",)
    batches = [e for e in rec.events if e[0] == "batch"]
    assert [(b[1], b[2]) for b in batches] == [(0, 6), (1, 6), (2, 3)] * 2
    epochs = [e for e in rec.events if e[0] == "epoch"]
    assert [e[1] for e in epochs] == [0, 1]
    assert epochs[1][2]["val_loss"] == h.history["val_loss"][1]
    assert epochs[1][2]["learning_rate"] == 0.1
    # the held-out samples are the last 5, before shuffling
    scores = net.evaluate(X[15:], y[15:])
    assert h.history["val_loss"][-1] == pytest.approx(scores["loss"])
    other = _softmax_net()
    h2 = other.fit(X[:15], y[:15], epochs=2, batch_size=6, learning_rate=0.1,
                   validation_data=(X[15:], y[15:]))
    assert h2.history == h.history
    with pytest.raises(ValueError, match="validation_split"):
        _softmax_net().fit(X, y, validation_split=1.0)
    with pytest.raises(TypeError, match="callbacks"):
        _softmax_net().fit(X, y, callbacks=[object()])


def test_early_stopping_follows_keras_and_restores_the_first_best_epoch():
    values = [1.0, 0.5, 0.5, 0.7, 0.6, 0.4]

    class Fake(callbacks.Callback):
        """Overwrites val_loss with scripted values (runs before EarlyStopping)."""
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = values[epoch]
            snapshots.append(net.flat_params.copy())

    snapshots = []
    X, y = _labels_data(12)
    net = _softmax_net()
    stop = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    h = net.fit(X, y, epochs=6, batch_size=4, learning_rate=0.1, validation_split=0.25,
                callbacks=[Fake(), stop])
    # best 0.5 at epoch 1; epoch 2 ties (no improvement), epoch 3 worse: stop after epoch 3
    assert len(h.epoch) == 4 and stop.stopped_epoch == 3 and stop.best_epoch == 1
    np.testing.assert_array_equal(net.flat_params, snapshots[1])   # bit for bit, the first best
    # min_delta: an improvement must be larger than it
    snapshots.clear()
    values[:] = [1.0, 0.95, 0.9, 0.85]
    net = _softmax_net()
    stop = callbacks.EarlyStopping(patience=1, min_delta=0.1)
    h = net.fit(X, y, epochs=4, learning_rate=0.1, validation_split=0.25,
                callbacks=[Fake(), stop])
    assert len(h.epoch) == 2
    with pytest.raises(ValueError, match="monitors 'val_loss'.*validation"):
        _softmax_net().fit(X, y, epochs=2, callbacks=[callbacks.EarlyStopping()])


def test_model_checkpoint_and_csv_logger(tmp_path):
    X, y = _labels_data(16)
    net = _softmax_net()
    check = callbacks.ModelCheckpoint(tmp_path / "best.npz", monitor="loss")
    every = callbacks.ModelCheckpoint(str(tmp_path / "m{epoch:02d}.npz"), save_best_only=False)
    log = callbacks.CSVLogger(tmp_path / "log.csv")
    h = net.fit(X, y, epochs=3, learning_rate=0.05, validation_split=0.25,
                callbacks=[check, every, log])
    losses = h.history["loss"]
    best = [i for i in range(3) if losses[i] == min(losses[:i + 1])
            and (i == 0 or losses[i] < min(losses[:i]))]
    assert len(check.saved) == len(best)
    assert every.saved == [str(tmp_path / f"m{e:02d}.npz") for e in (1, 2, 3)]
    loaded = NeuralNetwork.load(every.saved[-1])
    np.testing.assert_array_equal(loaded.flat_params, net.flat_params)
    with open(tmp_path / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["val_loss"]) for r in rows] == h.history["val_loss"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                            "learning_rate"}


# --- save, load, resume ----------------------------------------------------------------

RESUME_OPTIMISERS = [lambda: optim.SGD(), lambda: "momentum",
                     lambda: optim.SGD(momentum=0.9, nesterov=True, weight_decay=0.01),
                     lambda: optim.RMSprop(weight_decay=0.01), lambda: optim.Adam(),
                     lambda: optim.Adam(weight_decay=0.05), lambda: optim.AdamW()]


@pytest.mark.parametrize("make_opt", RESUME_OPTIMISERS,
                         ids=["sgd", "momentum", "nesterov", "rmsprop", "adam", "adam_wd",
                              "adamw"])
@pytest.mark.parametrize("make_rate", [
    lambda: 0.05, lambda: schedules.StepDecay(0.1, 1, 0.5),
    lambda: schedules.CosineDecay(0.1, 4),
    lambda: schedules.ReduceOnPlateau(0.1, monitor="loss", patience=0, min_delta=10.0)],
    ids=["number", "step", "cosine", "plateau"])
def test_save_load_fit_equals_an_uninterrupted_fit(tmp_path, make_opt, make_rate):
    X, y = _labels_data(30)
    whole = _softmax_net()
    whole.fit(X, y, epochs=4, batch_size=7, learning_rate=make_rate(), optimizer=make_opt())
    half = _softmax_net()
    half.fit(X, y, epochs=2, batch_size=7, learning_rate=make_rate(), optimizer=make_opt())
    half.save(tmp_path / "half.npz")
    resumed = NeuralNetwork.load(tmp_path / "half.npz")
    resumed.fit(X, y, epochs=2, batch_size=7)
    np.testing.assert_array_equal(resumed.flat_params, whole.flat_params)
    assert resumed.epochs_done == 4
    assert type(resumed.optimizer) is type(whole.optimizer)


def test_model_file_version_3_contents_and_version_1_still_loads(tmp_path):
    X, y = _labels_data(10)
    net = _softmax_net()
    net.fit(X, y, epochs=1, optimizer=optim.Adam(weight_decay=0.1))
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        arch = json.loads(str(data["__pyx_cnn_architecture__"]))
        keys = set(data.files)
        arrays = {k: data[k] for k in data.files}
    assert arch["format_version"] == 3 and arch["graph"] is None   # a chain
    assert arch["optimizer"] == "adam" and arch["optimizer_spec"]["config"]["weight_decay"] == 0.1
    assert {"optimizer.exp_avg", "optimizer.exp_avg_sq"} <= keys
    assert arch["training"]["epochs_done"] == 1
    # a version 1 file: weights only
    v1 = {k: v for k, v in arrays.items() if k.startswith("layers.")}
    old = {k: arch[k] for k in ("format", "input_shape", "dtype", "loss", "optimizer", "layers")}
    old["format_version"] = 1
    v1["__pyx_cnn_architecture__"] = np.array(json.dumps(old))
    np.savez(tmp_path / "v1.npz", **v1)
    loaded = NeuralNetwork.load(tmp_path / "v1.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.optimizer.state_dict() == {} and loaded.epochs_done == 0


def test_layer_state_arrays_are_saved_and_loaded(tmp_path):
    X, _ = _labels_data(4)
    net = _softmax_net()
    net.layers[1].state = {"mean": np.arange(3.0), "var": np.ones((2, 2))}
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        np.testing.assert_array_equal(data["layers.1.state.mean"], np.arange(3.0))

    class Stateful(layers.ReLU):
        def __init__(self):
            super().__init__()
            self.state = {"mean": np.zeros(3), "var": np.zeros((2, 2))}

    original = layers.LAYER_CLASSES["ReLU"]
    layers.LAYER_CLASSES["ReLU"] = Stateful
    try:
        loaded = NeuralNetwork.load(tmp_path / "m.npz")
    finally:
        layers.LAYER_CLASSES["ReLU"] = original
    np.testing.assert_array_equal(loaded.layers[1].state["mean"], np.arange(3.0))
    np.testing.assert_array_equal(loaded.layers[1].state["var"], np.ones((2, 2)))


# --- a layer of your own must write its gradients in place ---------------------------

class _Slope(layers.Layer):
    """``alpha * x``, one learned `alpha`; `in_place=False` binds ``grads["alpha"]`` to a
    new array (the mistake) instead of writing into it."""

    def __init__(self, in_place=True):
        super().__init__()
        self.in_place = in_place

    def get_config(self):
        return {"in_place": self.in_place}

    def _build(self, input_shape, rng, init_for):
        self.params["alpha"] = np.ones(1, dtype=self.dtype)
        return input_shape

    def _forward(self, x, training=False):
        self._x = x
        self._out = self.params["alpha"][0] * x
        return self._out

    def _backward(self, grad):
        value = np.array([np.sum(grad * self._x)], dtype=self.dtype)
        if self.in_place:
            self.grads["alpha"][...] = value
        else:
            self.grads["alpha"] = value
        return grad * self.params["alpha"][0]


def _slope_net(in_place):
    return NeuralNetwork([layers.Conv2D(2, 3), _Slope(in_place), layers.Flatten(),
                          layers.Dense(3, activation="softmax")], input_shape=(6, 6, 1),
                         seed=0, optimizer="adam")


def test_a_gradient_written_in_place_trains():
    X, y = _labels_data(8)
    net = _slope_net(in_place=True)
    net.fit(X, y, epochs=1, batch_size=4)
    assert net.layers[1].params["alpha"][0] != 1.0


@pytest.mark.parametrize("train", ["fit", "gradient_descent"])
def test_a_gradient_bound_to_a_new_array_is_refused_before_any_update(train):
    X, y = _labels_data(8)
    net = _slope_net(in_place=False)
    before = net.get_weights()
    message = (r"layers\[1\] \(_Slope\).*grads\['alpha'\].*new array.*would never learn.*"
               r"self\.grads\['alpha'\]\[\.\.\.\] = ")
    for _ in range(2):   # each call checks (the first refusal put the view back)
        with pytest.raises(ValueError, match=message):
            if train == "fit":
                net.fit(X, y, epochs=2, batch_size=4)
            else:
                net.gradient_descent(0.1, X, y, 3)
        for old, new in zip(before, net.get_weights()):
            np.testing.assert_array_equal(old, new)
    assert net.epochs_done == 0 and net.optimizer.state_dict() == {}


# --- progress bar ----------------------------------------------------------------------

def test_progress_bar_advances_per_batch_with_loss_accuracy_and_rate(capsys):
    X, y = _labels_data(20)
    _softmax_net().fit(X, y, epochs=2, batch_size=5, verbose=True)
    err = capsys.readouterr().err
    assert "40/40" in err and "sample/s" in err
    assert "loss=" in err and "accuracy=" in err and "epoch 2/2" in err


# --- gradcheck -------------------------------------------------------------------------

@pytest.mark.parametrize("layer, shape", [
    (layers.Conv2D(3, 2, stride=2, padding=1, activation="sigmoid"), (2, 5, 5, 2)),
    (layers.Dense(3, activation="softmax"), (3, 4)),
    (layers.Sigmoid(), (2, 3, 3, 1)),
])
def test_gradcheck_passes_on_the_library_layers(layer, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    assert pyx_cnn.gradcheck(layer, x) is True


def test_gradcheck_networks_and_a_wrong_gradient():
    x = np.random.default_rng(1).standard_normal((3, 5, 5, 1))
    net = NeuralNetwork([layers.Conv2D(2, 3), layers.Sigmoid(), layers.Flatten(),
                         layers.Dense(3, activation="softmax")], input_shape=(5, 5, 1), seed=0)
    assert pyx_cnn.gradcheck(net, x, [0, 2, 1])
    assert pyx_cnn.gradcheck(net, x)

    class Wrong(layers.Dense):
        def _backward(self, grad):
            out = super()._backward(grad)
            self.grads["b"][1] *= 1.01
            return out

    with pytest.raises(AssertionError, match=r"Wrong grads\['b'\]\[1\].*difference"):
        pyx_cnn.gradcheck(Wrong(3), x.reshape(3, -1))
    with pytest.raises(TypeError, match="float64"):
        pyx_cnn.gradcheck(NeuralNetwork([layers.Flatten(), layers.Dense(2)],
                                        input_shape=(5, 5, 1), dtype="float32"), x)
