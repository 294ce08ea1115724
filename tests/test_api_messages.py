"""predict of one sample, hints for channels-first input, summary's return value, and
case-insensitive names."""
import json

import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, layers

RNG = np.random.default_rng(4)


def _image_net(input_shape):
    return NeuralNetwork([layers.Conv2D(2, 3), layers.ReLU(), layers.Flatten(),
                          layers.Dense(4, activation="softmax")], input_shape=input_shape, seed=0)


@pytest.mark.parametrize("input_shape", [(8, 7, 1), (8, 7), (8, 7, 3)])
def test_predict_of_one_sample_returns_one_row(input_shape):
    net = _image_net(input_shape)
    batch = RNG.standard_normal((5,) + input_shape)
    out = net.predict(batch)
    assert out.shape == (5, 4)
    one = net.predict(batch[2])
    assert one.shape == (4,)
    np.testing.assert_array_equal(one, net.predict(batch[2:3])[0])    # a batch of one
    np.testing.assert_allclose(one, out[2], rtol=1e-12)   # BLAS may round by batch size
    np.testing.assert_array_equal(net.predict(batch[2].tolist()), one)


def test_a_3d_input_is_a_batch_for_a_2d_input_shape():
    net = _image_net((8, 8))
    batch = RNG.standard_normal((8, 8, 8))          # 8 samples of (8, 8)
    assert net.predict(batch).shape == (8, 4)
    assert net.predict(batch[0]).shape == (4,)


def test_dense_network_predicts_one_feature_vector():
    net = NeuralNetwork([layers.Dense(3)], input_shape=(5,), seed=0)
    x = RNG.standard_normal((2, 5))
    assert net.predict(x[1]).shape == (3,)
    np.testing.assert_array_equal(net.predict(x[1]), net.predict(x[1:2])[0])


@pytest.mark.parametrize("input_shape,given,fix", [
    ((28, 28, 1), (6, 1, 28, 28), "X.transpose(0, 2, 3, 1)"),
    ((16, 12, 3), (6, 3, 16, 12), "X.transpose(0, 2, 3, 1)"),
    ((16, 12, 3), (3, 16, 12), "X.transpose(1, 2, 0)"),
])
def test_channels_first_input_gets_a_hint(input_shape, given, fix):
    net = _image_net(input_shape)
    for call in (net.predict, lambda X: net.evaluate(X, np.zeros(given[0], int))):
        with pytest.raises(ValueError, match=r"got " + re_escape(str(given))
                           + r".*channels-last: use " + re_escape(fix)):
            call(np.zeros(given))


def test_one_sample_given_to_evaluate_gets_a_hint():
    net = _image_net((8, 8, 1))
    with pytest.raises(ValueError, match=r"got \(8, 8, 1\): this is one sample"):
        net.evaluate(np.zeros((8, 8, 1)), [0])


def test_refused_shapes_are_reported_as_given():
    net = _image_net((8, 8, 1))
    with pytest.raises(ValueError, match=r"got \(5, 9, 8\)$"):
        net.predict(np.zeros((5, 9, 8)))      # not the (5, 9, 8, 1) it was padded to


def re_escape(text):
    import re
    return re.escape(text)


# --- summary ---------------------------------------------------------------------------

def test_summary_prints_once_and_returns_none(capsys):
    net = _image_net((8, 8))
    assert net.summary() is None
    printed = capsys.readouterr().out
    assert printed.count("Total params") == 1
    text = net.summary(print_fn=None)
    assert capsys.readouterr().out == ""
    assert text + "\n" == printed
    lines = []
    assert net.summary(print_fn=lines.append) is None
    assert lines == [text]
    with pytest.raises(TypeError, match="print_fn must be callable or None, got int"):
        net.summary(print_fn=5)


# --- names -----------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["Relu", "RELU", "relu"])
def test_activation_names_are_case_insensitive(given):
    conv = layers.Conv2D(2, 3, activation=given)
    dense = layers.Dense(2, activation=given.replace("elu", "ELU"))
    assert conv.activation == dense.activation == "relu"
    assert conv.get_config()["activation"] == "relu"


def test_activation_name_errors():
    with pytest.raises(ValueError, match="activation must be one of .*got 'swish'"):
        layers.Dense(2, activation="swish")
    assert layers.Dense(2, activation="TanH").activation == "tanh"
    with pytest.raises(TypeError, match="activation must be None or one of .*got int 5"):
        layers.Conv2D(2, 3, activation=5)


def test_loss_and_optimizer_names_are_stored_lower_case(tmp_path):
    net = NeuralNetwork([layers.Flatten(), layers.Dense(3, activation="SoftMax")],
                        input_shape=(2, 2), seed=0, loss="Cross_Entropy", optimizer="ADAM")
    assert (net.loss.name, net.optimizer.name, net.layers[1].activation) == \
        ("cross_entropy", "adam", "softmax")
    net.fit(np.ones((3, 2, 2)), [0, 1, 2], optimizer="Momentum")
    assert net.optimizer.name == "momentum"
    path = tmp_path / "m.npz"
    net.save(path)
    with np.load(path) as data:
        arch = json.loads(str(data["__pyx_cnn_architecture__"]))
    assert arch["loss"] == "cross_entropy" and arch["optimizer"] == "momentum"
    assert arch["layers"][1]["config"]["activation"] == "softmax"
    loaded = NeuralNetwork.load(path)
    np.testing.assert_array_equal(loaded.predict(np.ones((2, 2))), net.predict(np.ones((2, 2))))
