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


# --- bad arguments name themselves ------------------------------------------------------

def _net(**kwargs):
    kwargs.setdefault("input_shape", (8, 8, 1))
    return NeuralNetwork([layers.Flatten(), layers.Dense(2)], **kwargs)


_X = np.zeros((2, 4, 4, 1))


def _bad_arguments():
    import pyx_cnn
    from pyx_cnn import optim, schedules
    from pyx_cnn.callbacks import EarlyStopping
    from pyx_cnn.functional import conv_output_size

    # (id, call, exception type, the argument's name, what was given as the message shows it)
    return [
        ("leaky_relu slope str", lambda: pyx_cnn.leaky_relu(_X, negative_slope="a"),
         TypeError, "negative_slope", "str 'a'"),
        ("leaky_relu slope None", lambda: pyx_cnn.leaky_relu(_X, negative_slope=None),
         TypeError, "negative_slope", "None"),
        ("leaky_relu slope list", lambda: pyx_cnn.leaky_relu(_X, negative_slope=[0.1, 0.2]),
         TypeError, "negative_slope", "list [0.1, 0.2]"),
        ("leaky_relu slope negative", lambda: pyx_cnn.leaky_relu(_X, negative_slope=-1),
         ValueError, "negative_slope", "-1"),
        ("LeakyReLU slope str", lambda: layers.LeakyReLU(negative_slope="a"),
         TypeError, "negative_slope", "str 'a'"),
        ("BatchNormalization momentum", lambda: layers.BatchNormalization(momentum="a"),
         TypeError, "momentum", "str"),
        ("BatchNormalization epsilon", lambda: layers.BatchNormalization(epsilon="a"),
         TypeError, "epsilon", "str"),
        ("Dropout rate", lambda: layers.Dropout("a"), TypeError, "rate", "'a'"),
        ("SGD momentum", lambda: optim.SGD(momentum="a"), TypeError, "momentum", "str 'a'"),
        ("Momentum beta", lambda: optim.Momentum(beta="a"), TypeError, "beta", "str 'a'"),
        ("RMSprop alpha", lambda: optim.RMSprop(alpha="a"), TypeError, "alpha", "str 'a'"),
        ("Adam beta1", lambda: optim.Adam(beta1="a"), TypeError, "beta1", "str 'a'"),
        ("Adam beta2", lambda: optim.Adam(beta2=[0.9]), TypeError, "beta2", "list [0.9]"),
        ("AdamW eps", lambda: optim.AdamW(eps="a"), TypeError, "eps", "str 'a'"),
        ("StepDecay step_size", lambda: schedules.StepDecay(0.1, "2"),
         TypeError, "step_size", "str '2'"),
        ("CosineDecay initial", lambda: schedules.CosineDecay("a", 2),
         TypeError, "initial", "str 'a'"),
        ("ReduceOnPlateau factor", lambda: schedules.ReduceOnPlateau(0.1, factor="a"),
         TypeError, "factor", "str 'a'"),
        ("EarlyStopping patience", lambda: EarlyStopping(patience="a"),
         TypeError, "patience", "str 'a'"),
        ("MaxPool2D size", lambda: layers.MaxPool2D("2"), TypeError, "size", "str '2'"),
        ("AvgPool2D stride", lambda: layers.AvgPool2D(2, "2"), TypeError, "stride", "str '2'"),
        ("pooling size", lambda: pyx_cnn.pooling(_X[0], size="2"), TypeError, "size", "str '2'"),
        ("conv_output_size size", lambda: conv_output_size("8", 3),
         TypeError, "size", "str '8'"),
        ("conv_output_size stride", lambda: conv_output_size(8, 3, 0),
         ValueError, "stride", "0"),
        ("input_shape str", lambda: _net(input_shape="8x8"),
         TypeError, "input_shape", "str '8x8'"),
        ("input_shape strs", lambda: _net(input_shape=["8", "8"]),
         TypeError, "input_shape", "['8', '8']"),
        ("input_shape floats", lambda: _net(input_shape=[8.0, 8.0]),
         TypeError, "input_shape", "[8.0, 8.0]"),
        ("input_shape negative", lambda: _net(input_shape=(-8, 8)),
         ValueError, "input_shape", "(-8, 8)"),
        ("input_shape None", lambda: _net(input_shape=None), TypeError, "input_shape", "None"),
        ("input_shape 4-D", lambda: _net(input_shape=(1, 8, 8, 1)),
         ValueError, "input_shape", "(1, 8, 8, 1)"),
        ("seed str", lambda: _net(seed="a"), TypeError, "seed", "str 'a'"),
        ("seed float", lambda: _net(seed=1.5), TypeError, "seed", "float 1.5"),
        ("seed negative", lambda: _net(seed=-1), ValueError, "seed", "-1"),
    ]


@pytest.mark.parametrize("case", _bad_arguments(), ids=lambda case: case[0])
def test_bad_arguments_name_the_argument_and_what_was_given(case):
    _, call, error, name, shown = case
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert name in message
    assert shown in message


def test_sequences_of_ints_still_seed_a_network():
    a, b = _net(seed=[1, 2]), _net(seed=(1, 2))
    np.testing.assert_array_equal(a.flat_params, b.flat_params)
    assert not np.array_equal(a.flat_params, _net(seed=1).flat_params)
    assert _net(input_shape=np.array([8, 8])).input_shape == (8, 8)
    assert _net(input_shape=64).input_shape == (64,)
