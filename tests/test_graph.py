"""Graph networks (NeuralNetwork(inputs=, outputs=)) do everything a network does: a
chain written as a graph equals the list form (weights, fusion, training with every
optimiser, schedule and callback), fuse=False equals the fused plan, save/load
round-trips and resumes, files of format version 2 still load, summary names what
each layer reads, gradcheck, dask predict, the scikit-learn estimators with a model
function, the weights' accessors, and bad graphs are refused naming the layer."""
import io
import json
from pathlib import Path

import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, callbacks, layers, optim, schedules

DATA = Path(__file__).resolve().parent / "data"
RNG = np.random.default_rng(0)
X = RNG.standard_normal((12, 6, 6, 2))
Y = np.arange(12) % 3


def chain_layers():
    return [layers.Conv2D(4, 3, padding=1), layers.BatchNormalization(), layers.ReLU(),
            layers.MaxPool2D(2, 2), layers.Conv2D(4, 2, padding=1, activation="relu"),
            layers.Dropout(0.25), layers.Flatten(), layers.Dense(5), layers.Tanh(),
            layers.Dense(3, activation="softmax")]


def as_graph(layer_list, shape, **kwargs):
    x = h = layers.Input(shape)
    for layer in layer_list:
        h = layer(h)
    return NeuralNetwork(inputs=x, outputs=h, **kwargs)


def residual(seed=0, **kwargs):
    """Shared convolution, a tensor read three times, an Add and a Concatenate."""
    x = layers.Input((6, 6, 2))
    stem = layers.Conv2D(3, 3, padding=1)(x)
    shared = layers.Conv2D(3, 3, padding=1)
    h = shared(layers.ReLU()(layers.BatchNormalization()(stem)))
    h = shared(layers.ReLU()(h))                                # called twice
    s = layers.ReLU()(layers.Add()([h, stem]))
    c = layers.Concatenate()([s, stem, layers.Dropout(0.2)(stem)])
    out = layers.Dense(3, activation="softmax")(layers.GlobalAvgPool2D()(c))
    return NeuralNetwork(inputs=x, outputs=out, seed=seed, **kwargs)


# ------------------------------------------------------------------ a chain as a graph
SCHEDULES = [lambda: schedules.StepDecay(0.05, 1, gamma=0.5),
             lambda: schedules.CosineDecay(0.05, 3),
             lambda: schedules.ReduceOnPlateau(0.05, patience=0, factor=0.5),
             lambda: 0.05]


@pytest.mark.parametrize("optimizer, schedule", [
    ("sgd", SCHEDULES[0]), (lambda: optim.Momentum(0.9), SCHEDULES[1]),
    ("rmsprop", SCHEDULES[2]), ("adam", SCHEDULES[3]),
    (lambda: optim.AdamW(weight_decay=0.01), SCHEDULES[0])])
def test_a_chain_as_a_graph_trains_as_the_list_form(optimizer, schedule, tmp_path):
    fresh = optimizer if isinstance(optimizer, str) else None
    chain = NeuralNetwork(chain_layers(), (6, 6, 2), seed=3, optimizer=fresh or optimizer())
    graph = as_graph(chain_layers(), (6, 6, 2), seed=3, optimizer=fresh or optimizer())
    for a, b in zip(chain.get_weights(), graph.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert ([step.rule for step in chain._chain.plan(chain.loss).steps]
            == [step.rule for step in graph._chain.plan(graph.loss).steps])
    histories = []
    for net in (chain, graph):
        log = tmp_path / f"{id(net)}.csv"
        histories.append(net.fit(
            X, Y, epochs=3, batch_size=5, learning_rate=schedule(), validation_split=0.25,
            callbacks=[callbacks.EarlyStopping(patience=1, restore_best_weights=True),
                       callbacks.CSVLogger(log),
                       callbacks.ModelCheckpoint(tmp_path / "best.npz")]).history)
    assert histories[0] == histories[1]
    np.testing.assert_array_equal(chain.flat_params, graph.flat_params)
    np.testing.assert_array_equal(chain.predict(X), graph.predict(X))
    assert NeuralNetwork.load(tmp_path / "best.npz").is_graph
    np.testing.assert_array_equal(chain.gradient_descent(0.01, X, Y, 2),
                                  graph.gradient_descent(0.01, X, Y, 2))


# ------------------------------------------------------------------ fuse=False
def test_fuse_false_runs_the_same_graph():
    fused, plain = residual(), residual()
    np.testing.assert_allclose(fused.predict(X), plain.predict(X, fuse=False), rtol=1e-12)
    a = fused.fit(X, Y, epochs=2, batch_size=4, learning_rate=0.1).history
    b = plain.fit(X, Y, epochs=2, batch_size=4, learning_rate=0.1, fuse=False).history
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-10)
    np.testing.assert_allclose(fused.flat_params, plain.flat_params, rtol=1e-9, atol=1e-12)
    assert fused.evaluate(X, Y) == pytest.approx(plain.evaluate(X, Y, fuse=False))
    np.testing.assert_array_equal(fused.predict_classes(X), np.argmax(fused.predict(X), -1))
    assert fused.predict(X[0]).shape == (3,)


def test_fuse_false_calls_every_layers_public_passes():
    net = residual()
    counts = {}
    for layer in net.layers:
        for name in ("forward", "backward"):
            method = getattr(layer, name)

            def wrapper(*args, _method=method, _key=(id(layer), name), **kwargs):
                counts[_key] = counts.get(_key, 0) + 1
                return _method(*args, **kwargs)
            setattr(layer, name, wrapper)
    net.fit(X[:4], Y[:4], epochs=1, batch_size=4, fuse=False)
    for layer in net.layers:
        calls = 2 if layer is net.layers[3] else 1          # the shared convolution
        assert counts[id(layer), "forward"] == calls, layer
        assert counts[id(layer), "backward"] == calls, layer


# ------------------------------------------------------------------ files
def test_save_load_round_trip_and_resume():
    net = residual(optimizer="adam")
    net.fit(X, Y, epochs=1, batch_size=4)
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    loaded = NeuralNetwork.load(buffer)
    assert loaded.is_graph and loaded._chain.nodes == net._chain.nodes
    assert [type(a) for a in loaded.layers] == [type(b) for b in net.layers]
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    arch = json.loads(str(np.load(io.BytesIO(buffer.getvalue()))["__pyx_cnn_architecture__"]))
    assert arch["format_version"] == 3
    assert arch["graph"]["nodes"][:3] == [{"layer": 0, "inputs": [-1]},
                                          {"layer": 1, "inputs": [0]},
                                          {"layer": 2, "inputs": [1]}]
    net.fit(X, Y, epochs=2, batch_size=4)
    loaded.fit(X, Y, epochs=2, batch_size=4)
    np.testing.assert_array_equal(loaded.flat_params, net.flat_params)


def test_a_format_version_2_file_still_loads_and_trains():
    expected = np.load(DATA / "model_format_2_expected.npz")
    net = NeuralNetwork.load(DATA / "model_format_2.npz")
    assert not net.is_graph and net.epochs_done == 2
    np.testing.assert_allclose(net.predict(expected["X"]), expected["predict"], rtol=1e-9)
    net.fit(expected["X"], expected["y"], epochs=1, batch_size=4)
    # the file's optimiser state, schedule and shuffling carry on as when it was written;
    # the rounding of another build (bounds-checked, another instruction set) moves the
    # trained weights by about 1e-10, a state read wrongly by far more
    np.testing.assert_allclose(net.predict(expected["X"]), expected["after_fit"], rtol=1e-7)


@pytest.mark.parametrize("graph, message", [
    ({"nodes": []}, "non-empty list"),
    ({"nodes": [{"layer": 9, "inputs": [-1]}]}, "index into layers"),
    ({"nodes": [{"layer": 0, "inputs": [3]}]}, "made before it"),
    ({"nodes": [{"layer": 0, "inputs": [-1, -1]}]}, "made before it"),
])
def test_a_malformed_graph_in_a_file_is_refused(graph, message):
    net = as_graph([layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)], (5, 5, 1))
    arrays = pyx_cnn.serialization.to_arrays(net)
    arch = json.loads(str(arrays["__pyx_cnn_architecture__"]))
    arch["graph"] = graph
    arrays["__pyx_cnn_architecture__"] = np.array(json.dumps(arch))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with pytest.raises(ValueError, match=message):
        NeuralNetwork.load(buffer)


# ------------------------------------------------------------------ summary, weights
def test_summary_names_what_each_layer_reads():
    text = residual().summary(print_fn=None)
    lines = text.splitlines()
    header = lines[2].split()
    assert header[:5] == ["Layer", "Output", "shape", "Params", "Reads"]
    rows = {line.split()[1]: line for line in lines[4:15]}
    assert "input" in lines[4] and lines[4].startswith("0: Conv2D")
    assert "2: ReLU | 4: ReLU" in lines[7]              # the shared convolution's calls
    assert "3: Conv2D, 0: Conv2D" in rows["Add"] and "activation_into_add" in rows["Add"]
    assert "5: Add" in lines[10] and "activation_into_add" in lines[10]   # its ReLU
    assert "6: ReLU, 0: Conv2D, 7: Dropout" in rows["Concatenate"]
    assert "softmax_into_loss" in rows["Dense"]
    assert f"Total params: {residual().count_params()}" in text


def test_weights_of_a_graph_count_a_shared_layer_once():
    net, other = residual(seed=0), residual(seed=1)
    sizes = [w.size for w in net.get_weights()]
    # stem conv, batch norm (+ 2 states), shared conv, dense
    assert sizes == [54, 3, 3, 3, 3, 3, 81, 3, 27, 3]
    assert net.count_params() == net.flat_params.size == 54 + 3 + 6 + 81 + 3 + 27 + 3
    other.set_weights(net.get_weights())
    np.testing.assert_array_equal(other.predict(X), net.predict(X))
    net.flat_params[:] = 0
    assert not net.layers[0].params["W"].any()


def test_gradcheck_checks_a_graph():
    x = layers.Input((4, 4, 2))
    shared = layers.Conv2D(2, 3, padding=1, activation="tanh")
    h = shared(shared(x))
    c = layers.Concatenate(axis=1)([h, layers.Add()([h, x])])
    out = layers.Dense(3)(layers.Flatten()(c))
    net = NeuralNetwork(inputs=x, outputs=out, seed=0)
    assert pyx_cnn.gradcheck(net, RNG.standard_normal((2, 4, 4, 2)), np.array([0, 2]))
    assert pyx_cnn.gradcheck(net, RNG.standard_normal((2, 4, 4, 2)))
    with pytest.raises(TypeError, match="merge layer Add"):
        pyx_cnn.gradcheck(layers.Add(), X)


def test_dask_predict_equals_predict():
    da = pytest.importorskip("dask.array")
    net = residual()
    lazy = net.predict(da.from_array(X, chunks=(5, 6, 6, 2)))
    np.testing.assert_array_equal(lazy.compute(), net.predict(X))
    np.testing.assert_array_equal(net.predict_classes(da.from_array(X, chunks=5)).compute(),
                                  net.predict_classes(X))


# ------------------------------------------------------------------ scikit-learn
def small_resnet(input_shape, n_outputs):
    x = layers.Input(input_shape)
    h = layers.Conv2D(3, 3, padding=1, activation="relu")(x)
    h = layers.ReLU()(layers.Add()([layers.Conv2D(3, 3, padding=1)(h), h]))
    return NeuralNetwork(inputs=x, outputs=layers.Dense(n_outputs, activation="softmax")(
        layers.GlobalAvgPool2D()(h)))


def test_sklearn_estimators_take_a_model_function():
    pytest.importorskip("sklearn")
    import pickle

    from pyx_cnn.sklearn import CNNClassifier, CNNRegressor

    labels = np.array(["cat", "dog", "eel"])[Y]
    clf = CNNClassifier(small_resnet, epochs=2, random_state=0).fit(X, labels)
    assert clf.network_.is_graph and clf.network_.optimizer.name == "adam"
    assert set(clf.predict(X)) <= set(labels)
    again = CNNClassifier(small_resnet, epochs=2, random_state=0).fit(X, labels)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X),
                                  clf.predict_proba(X))
    with pytest.raises(ValueError, match="ending in no activation.*got one ending in softmax"):
        CNNRegressor(small_resnet, epochs=1).fit(X, RNG.standard_normal(12))

    def linear(input_shape, n_outputs):
        return NeuralNetwork([layers.Flatten(), layers.Dense(n_outputs)], input_shape)

    reg = CNNRegressor(linear, epochs=1, random_state=0).fit(X, RNG.standard_normal(12))
    assert reg.predict(X).shape == (12,)
    with pytest.raises(TypeError, match="must return a pyx_cnn NeuralNetwork"):
        CNNRegressor(lambda shape, n: None, epochs=1).fit(X, RNG.standard_normal(12))
    with pytest.raises(ValueError, match=r"output \(1,\)"):
        CNNRegressor(lambda shape, n: linear(shape, 2), epochs=1).fit(X, Y * 1.0)


# ------------------------------------------------------------------ bad graphs
def test_calling_a_layer_on_an_array_is_a_type_error():
    with pytest.raises(TypeError, match=r"forward\(x\)"):
        layers.ReLU()(X)
    with pytest.raises(TypeError, match="list of at least 2"):
        layers.Add()(layers.Input((3,)))
    with pytest.raises(TypeError, match="one symbolic tensor"):
        layers.ReLU()([layers.Input((3,))])


def test_bad_shapes_name_the_layer():
    x = layers.Input((6, 6, 2))
    h = layers.Conv2D(4, 3)(x)
    with pytest.raises(ValueError, match=r"Add\(\).*\(4, 4, 4\).*\(6, 6, 2\)"):
        layers.Add()([h, x])
    with pytest.raises(ValueError, match=r"Concatenate\(axis=-1\).*equal in every other axis"):
        layers.Concatenate()([h, x])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Concatenate(axis=0)
    with pytest.raises(ValueError, match="out of range"):
        layers.Concatenate(axis=4)([x, x])
    with pytest.raises(ValueError, match=r"Dense.*expects samples with 1 dimension"):
        layers.Dense(3)(x)
    big = layers.Conv2D(2, 9)
    with pytest.raises(ValueError, match=r"Conv2D\(filters=2.*larger than the padded input"):
        big(x)
    assert not big.built and big.params == {}         # left as it was
    conv = layers.Conv2D(2, 3, padding=1)
    conv(x)
    with pytest.raises(ValueError, match=r"Conv2D\(filters=2.*called again.*\(6, 6, 4\)"):
        conv(layers.Conv2D(4, 1)(x))


def test_bad_graphs_are_refused_naming_the_layer():
    x, other = layers.Input((4,)), layers.Input((4,))
    h = layers.Dense(3)(x)
    with pytest.raises(ValueError, match="different graphs"):
        layers.Add()([layers.Dense(4)(x), other])
    with pytest.raises(ValueError, match=r"outputs \(computed by the Dense layer.*does not "
                                         r"depend on inputs"):
        NeuralNetwork(inputs=x, outputs=layers.Dense(2)(other))
    with pytest.raises(ValueError, match="at least one layer"):
        NeuralNetwork(inputs=x, outputs=x)
    with pytest.raises(ValueError, match="outputs is another Input"):
        NeuralNetwork(inputs=x, outputs=other)
    with pytest.raises(ValueError, match="inputs must be what pyx_cnn.layers.Input returned"):
        NeuralNetwork(inputs=h, outputs=layers.Dense(2)(h))
    with pytest.raises(ValueError, match="one input and one output"):
        NeuralNetwork(inputs=[x, other], outputs=h)
    with pytest.raises(TypeError, match="both inputs= and outputs="):
        NeuralNetwork(inputs=x)
    with pytest.raises(TypeError, match="not both"):
        NeuralNetwork([layers.Dense(2)], (4,), inputs=x, outputs=h)
    with pytest.raises(TypeError, match="NeuralNetwork.inputs=x, outputs=y."):
        NeuralNetwork(x, h)
    with pytest.raises(TypeError, match="outputs must be a SymbolicTensor"):
        NeuralNetwork(inputs=x, outputs=X)


def test_a_second_input_and_a_cycle_are_refused_naming_the_layer():
    x = layers.Input((4,))
    h = layers.Dense(3)(x)
    stray = layers.Input((3,))
    stray.root = x                      # a tensor made to pass the call's check
    mixed = layers.Add()([h, stray])
    with pytest.raises(ValueError, match=r"the Add layer Add\(\) reads an Input that is not "
                                         "the network's inputs"):
        NeuralNetwork(inputs=x, outputs=mixed)
    looped = layers.Dense(3)(h)
    h.node.inputs = (looped,)           # a graph edited into a cycle
    with pytest.raises(ValueError, match="cycle through the Dense layer"):
        NeuralNetwork(inputs=x, outputs=looped)


def test_a_one_channel_input_and_float32():
    x = layers.Input((6, 6))                      # (H, W): one channel, as input_shape
    assert x.shape == (6, 6, 1)
    h = layers.Conv2D(2, 3, padding=1, activation="relu")(x)
    out = layers.Dense(2)(layers.Flatten()(layers.Concatenate()([h, x])))
    net = NeuralNetwork(inputs=x, outputs=out, seed=0, dtype="float32")
    assert net.input_shape == (6, 6) and net.output_shape == (2,)
    images = RNG.standard_normal((4, 6, 6))
    assert net.predict(images).dtype == np.float32
    np.testing.assert_array_equal(net.predict(images), net.predict(images[..., np.newaxis]))
    history = net.fit(images, Y[:4] % 2, epochs=2, batch_size=2)
    assert np.isfinite(history.history["loss"]).all()
    assert "NeuralNetwork(inputs=Input((6, 6))" in repr(net)
