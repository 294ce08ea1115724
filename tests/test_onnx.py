"""ONNX export and import (pyx_cnn.onnx): onnxruntime equals predict, round trips are
exact, PyTorch exports load as channels-last networks, and refusals name what is
unsupported."""
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from pyx_cnn import NeuralNetwork, layers as L                      # noqa: E402
from pyx_cnn import onnx as px                                       # noqa: E402
from pyx_cnn.ops.activations import ACTIVATIONS                      # noqa: E402

ACTIVATION_NAMES = [None] + [name for name in ACTIVATIONS if name != "linear"]


def run_ort(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return out


def check_round_trip(net, x, tmp_path, atol=1e-5):
    """ONNX checker passes, onnxruntime equals predict, from_onnx predicts the same bits."""
    path = tmp_path / "model.onnx"
    model = px.to_onnx(net, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert [i.name for i in model.graph.input] == ["input"]
    expected = net.predict(x)
    np.testing.assert_allclose(run_ort(path, x), expected, rtol=0, atol=atol)
    back = px.from_onnx(path)
    assert back.dtype == net.dtype
    assert back.input_shape == net.layers[0].input_shape
    np.testing.assert_array_equal(back.predict(x), expected)
    return back


def images(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_round_trip_every_activation(activation, tmp_path):
    net = NeuralNetwork([
        L.Conv2D(4, 3, padding=1, activation=activation),
        L.MaxPool2D(2, 2),
        L.Conv2D(3, (2, 3), stride=2, activation=activation, use_bias=False),
        L.Flatten(),
        L.Dense(6, activation=activation),
        L.Dense(3, activation=activation, use_bias=False),
    ], input_shape=(9, 10, 2), seed=1, dtype="float32")
    back = check_round_trip(net, images((5, 9, 10, 2)), tmp_path)
    assert [layer.get_config() for layer in back.layers] == [
        layer.get_config() for layer in net.layers]


def test_round_trip_activation_layers(tmp_path):
    net = NeuralNetwork([
        L.Conv2D(4, 3), L.ReLU(), L.MaxPool2D(2, 1), L.Sigmoid(), L.MaxPool2D(3, 2),
        L.ReLU(), L.Flatten(), L.Sigmoid(), L.Dense(5), L.ReLU(), L.Dense(2), L.Sigmoid(),
    ], input_shape=(12, 11, 3), seed=2, dtype="float32")
    check_round_trip(net, images((4, 12, 11, 3), seed=3), tmp_path)


def test_spatial_output_and_nchw_between_spatial_ops(tmp_path):
    # a fully convolutional net ends channels-last; one transpose in, one out
    net = NeuralNetwork([L.Conv2D(4, 3, padding=1, activation="relu"), L.MaxPool2D(2, 2),
                         L.Conv2D(3, 1, activation="softmax")],
                        input_shape=(8, 8), seed=0, dtype="float32")
    model = px.to_onnx(net, tmp_path / "m.onnx")
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Transpose") == 2
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] \
        == ["N", 8, 8, 1]
    check_round_trip(net, images((3, 8, 8, 1)), tmp_path)


def test_dense_only_float64(tmp_path):
    net = NeuralNetwork([L.Dense(7, activation="relu"), L.Sigmoid(),
                         L.Dense(3, activation="softmax")],
                        input_shape=(6,), seed=1)
    check_round_trip(net, images((5, 6), np.float64), tmp_path, atol=1e-12)


def test_float64_conv_model_is_valid_and_reads_back(tmp_path):
    # onnxruntime's CPU Conv is float32-only: check the model and the round trip
    net = NeuralNetwork([L.Conv2D(2, 3), L.Flatten(), L.Dense(2)], input_shape=(5, 5, 1), seed=0)
    model = px.to_onnx(net, tmp_path / "m.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    x = images((3, 5, 5, 1), np.float64)
    np.testing.assert_array_equal(px.from_onnx(tmp_path / "m.onnx").predict(x), net.predict(x))


def test_trained_digits_net(tmp_path):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X = (digits.images / 16.0).astype(np.float32)[..., None]
    net = NeuralNetwork([L.Conv2D(6, 3, padding=1, activation="relu"), L.MaxPool2D(2, 2),
                         L.Flatten(), L.Dense(10, activation="softmax")],
                        input_shape=(8, 8, 1), seed=0, dtype="float32", optimizer="adam")
    net.fit(X[:500], digits.target[:500], epochs=2, learning_rate=0.01)
    check_round_trip(net, X[500:700], tmp_path)


@pytest.mark.parametrize("opset", [px.MIN_OPSET, 17, 18])
def test_opsets(opset, tmp_path):
    net = NeuralNetwork([L.Conv2D(2, 3, activation="softmax"), L.Flatten(), L.Dense(2)],
                        input_shape=(5, 5, 2), seed=0, dtype="float32")
    model = px.to_onnx(net, tmp_path / "m.onnx", opset=opset)
    assert model.opset_import[0].version == opset
    x = images((2, 5, 5, 2))
    np.testing.assert_allclose(run_ort(tmp_path / "m.onnx", x), net.predict(x), atol=1e-5)


# ------------- exporters read only the attributes pyx_cnn.onnx documents (stand-ins)
class _StandIn:
    """Only the attributes the exporters read (see pyx_cnn.onnx), and a reference
    forward pass in PyTorch."""

    params = {}

    def __init__(self, input_shape, output_shape, **attrs):
        self.input_shape, self.output_shape = input_shape, output_shape
        self.__dict__.update(attrs)


def _stand_in(name, **kw):
    return type(name, (_StandIn,), {})(**kw)


class _FakeNet:
    def __init__(self, layers, dtype="float32"):
        self.layers, self.dtype = layers, np.dtype(dtype)
        self.output_shape = layers[-1].output_shape


def test_exporters_of_every_layer_kind_with_stand_ins(tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)   # noqa: E731
    w, b = f32(4, 3, 3, 2), f32(4)
    gamma, beta, mean, var = f32(4), f32(4), f32(4), rng.uniform(0.5, 2, 4).astype(np.float32)
    dense_w, dense_b = f32(4, 3), f32(3)
    gamma1, beta1, mean1, var1 = f32(3), f32(3), f32(3), rng.uniform(0.5, 2, 3).astype(np.float32)
    layers = [
        # "same" padding at stride 2, dilation 2 (resolved pads, asymmetric)
        _stand_in("Conv2D", input_shape=(11, 10, 2), output_shape=(6, 5, 4),
                  params={"W": w, "b": b},
                  kernel_size=(3, 3), stride=2, dilation=(2, 2), padding="same",
                  pads=((2, 2), (1, 2)), activation="tanh", use_bias=True),
        _stand_in("BatchNormalization", input_shape=(6, 5, 4), output_shape=(6, 5, 4),
                  params={"gamma": gamma, "beta": beta}, state={"mean": mean, "var": var},
                  epsilon=1e-3),
        _stand_in("LeakyReLU", input_shape=(6, 5, 4), output_shape=(6, 5, 4),
                  activation="leaky_relu", negative_slope=0.2),
        _stand_in("AvgPool2D", input_shape=(6, 5, 4), output_shape=(3, 2, 4), size=2, stride=2),
        _stand_in("Dropout", input_shape=(3, 2, 4), output_shape=(3, 2, 4), rate=0.5),
        _stand_in("Tanh", input_shape=(3, 2, 4), output_shape=(3, 2, 4), activation="tanh"),
        _stand_in("GlobalMaxPool2D", input_shape=(3, 2, 4), output_shape=(4,)),
        _stand_in("Dense", input_shape=(4,), output_shape=(3,),
                  params={"W": dense_w, "b": dense_b},
                  activation="leaky_relu", use_bias=True),
        _stand_in("BatchNormalization", input_shape=(3,), output_shape=(3,),
                  params={"gamma": gamma1, "beta": beta1}, state={"mean": mean1, "var": var1},
                  epsilon=1e-5),
        _stand_in("Softmax", input_shape=(3,), output_shape=(3,), activation="softmax"),
    ]
    path = tmp_path / "m.onnx"
    px.to_onnx(_FakeNet(layers), path)
    x = f32(3, 11, 10, 2)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))      # noqa: E731
    with torch.no_grad():
        z = t(x).permute(0, 3, 1, 2)
        z = F.conv2d(F.pad(z, (1, 2, 2, 2)), t(w).permute(0, 3, 1, 2), t(b), stride=2,
                     dilation=2)
        z = torch.tanh(z)
        z = F.batch_norm(z, t(mean), t(var), t(gamma), t(beta), eps=1e-3)
        z = F.leaky_relu(z, 0.2)
        z = torch.tanh(F.avg_pool2d(z, 2, 2))
        z = torch.amax(z, dim=(2, 3))
        z = F.leaky_relu(z @ t(dense_w) + t(dense_b), 0.01)
        z = F.batch_norm(z, t(mean1), t(var1), t(gamma1), t(beta1), eps=1e-5)
        expected = torch.softmax(z, dim=1).numpy()
    np.testing.assert_allclose(run_ort(path, x), expected, rtol=0, atol=1e-5)


def test_global_avg_pool_exporter_with_stand_in(tmp_path):
    layers = [_stand_in("GlobalAvgPool2D", input_shape=(4, 3, 2), output_shape=(2,)),
              _stand_in("Softmax", input_shape=(2,), output_shape=(2,), activation="softmax")]
    px.to_onnx(_FakeNet(layers), tmp_path / "m.onnx")
    x = images((5, 4, 3, 2))
    m = x.mean(axis=(1, 2))
    e = np.exp(m - m.max(axis=1, keepdims=True))
    np.testing.assert_allclose(run_ort(tmp_path / "m.onnx", x), e / e.sum(1, keepdims=True),
                               rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- PyTorch
def torch_export(torch, model, path, shape):
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(shape),), str(path), opset_version=17,
                          dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})


def lenet(torch, softmax=False):
    nn = torch.nn
    torch.manual_seed(0)
    mods = [nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)]
    return nn.Sequential(*mods, *([nn.Softmax(dim=1)] if softmax else []))


@pytest.mark.parametrize("softmax", [False, True], ids=["logits", "softmax"])
def test_from_pytorch_lenet(softmax, tmp_path):
    torch = pytest.importorskip("torch")
    model = lenet(torch, softmax)
    torch_export(torch, model, tmp_path / "lenet.onnx", (2, 1, 28, 28))
    net = px.from_onnx(tmp_path / "lenet.onnx")
    assert net.input_shape == (28, 28, 1) and net.dtype == np.float32
    # a graph without a final Softmax ends in a Dense without activation (the logits)
    assert net.layers[-1].activation == ("softmax" if softmax else None)
    x = torch.randn(9, 1, 28, 28)
    with torch.no_grad():
        expected = model(x).numpy()
    got = net.predict(x.numpy().transpose(0, 2, 3, 1))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def bn_pool_dropout_model(torch):
    nn = torch.nn
    torch.manual_seed(0)
    # BatchNorm2d after the ReLU, so that the exporter cannot fold it into the Conv;
    # BatchNorm1d right after a flatten of NCHW data: its parameters are permuted too
    model = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(5),
                          nn.AvgPool2d(2), nn.Dropout(0.3), nn.Flatten(), nn.BatchNorm1d(80),
                          nn.Linear(80, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        for bn in (model[2], model[6]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return model


def check_bn_pool_dropout(tmp_path):
    torch = pytest.importorskip("torch")
    model = bn_pool_dropout_model(torch)
    torch_export(torch, model, tmp_path / "torch.onnx", (2, 2, 8, 8))
    ops = [n.op_type for n in onnx.load(str(tmp_path / "torch.onnx")).graph.node]
    assert ops.count("BatchNormalization") == 2 and "AveragePool" in ops
    net = px.from_onnx(tmp_path / "torch.onnx")
    names = [type(layer).__name__ for layer in net.layers]
    assert names.count("BatchNormalization") == 2 and "AvgPool2D" in names
    x = torch.randn(6, 2, 8, 8)
    with torch.no_grad():
        expected = model(x).numpy()
    x = x.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(net.predict(x), expected, rtol=0, atol=1e-5)
    # and back out: onnxruntime equals predict, the round trip is exact
    check_round_trip(net, x, tmp_path)


def test_from_pytorch_batch_norm_avg_pool_dropout(tmp_path):
    check_bn_pool_dropout(tmp_path)


# ------------------------------------------------------------------------- errors
def make_model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = onnx.helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])


def value_info(name, shape):
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def conv_model(tmp_path, **attrs):
    w = onnx.numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attrs)
    path = tmp_path / "conv.onnx"
    onnx.save(make_model([node], [value_info("x", ["N", 1, 8, 8])], [value_info("y", None)],
                         [w]), str(path))
    return path


def test_unsupported_operator_is_named(tmp_path):
    node = onnx.helper.make_node("Elu", ["x"], ["y"], name="elu0")
    path = tmp_path / "elu.onnx"
    onnx.save(make_model([node], [value_info("x", ["N", 4])], [value_info("y", ["N", 4])]),
              str(path))
    with pytest.raises(ValueError, match="unsupported ONNX operator 'Elu'.*elu0"):
        px.from_onnx(path)


@pytest.mark.parametrize("attrs, match", [
    ({"pads": [1, -1, 0, 0]}, r"pads=\[1, -1, 0, 0\]"),
    ({"kernel_shape": [2, 2]}, r"kernel_shape=\[2, 2\] differs"),
    ({"auto_pad": "NOTSET", "strides": [1, 1, 1]}, "2-D windows"),
])
def test_unsupported_conv_attribute_is_named(attrs, match, tmp_path):
    with pytest.raises(ValueError, match=f"'Conv' \\(node 'conv'\\).*{match}"):
        px.from_onnx(conv_model(tmp_path, **attrs))


def test_dilated_pool_is_refused(tmp_path):
    node = onnx.helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2],
                                 strides=[2, 2], dilations=[2, 2])
    path = tmp_path / "p.onnx"
    onnx.save(make_model([node], [value_info("x", ["N", 1, 7, 7])], [value_info("y", None)]),
              str(path))
    with pytest.raises(ValueError, match="'MaxPool'.*dilations=\\[2, 2\\]"):
        px.from_onnx(path)


def test_branching_graph_reads_as_a_graph_network(tmp_path):
    nodes = [onnx.helper.make_node("Relu", ["x"], ["a"], name="r"),
             onnx.helper.make_node("Sigmoid", ["x"], ["b"], name="s"),
             onnx.helper.make_node("Add", ["a", "b"], ["y"], name="add")]
    path = tmp_path / "b.onnx"
    onnx.save(make_model(nodes, [value_info("x", ["N", 4])], [value_info("y", ["N", 4])]),
              str(path))
    net = px.from_onnx(path)
    assert net.is_graph and [type(la).__name__ for la in net.layers] == ["ReLU", "Sigmoid",
                                                                        "Add"]
    x = images((5, 4))
    np.testing.assert_allclose(net.predict(x), run_ort(path, x), rtol=0, atol=1e-6)


def test_missing_layer_class_is_explained(tmp_path, monkeypatch):
    monkeypatch.delitem(L.LAYER_CLASSES, "GlobalAvgPool2D")
    node = onnx.helper.make_node("GlobalAveragePool", ["x"], ["y"], name="gap")
    path = tmp_path / "gap.onnx"
    onnx.save(make_model([node], [value_info("x", ["N", 3, 4, 4])], [value_info("y", None)]),
              str(path))
    with pytest.raises(ValueError, match="'GlobalAveragePool'.*no GlobalAvgPool2D layer"):
        px.from_onnx(path)


@pytest.mark.parametrize("opset, error", [(12, ValueError), (10 ** 4, ValueError),
                                          ("17", TypeError), (17.0, TypeError)])
def test_bad_opset(opset, error, tmp_path):
    net = NeuralNetwork([L.Dense(2)], input_shape=(3,), seed=0)
    with pytest.raises(error, match="opset"):
        px.to_onnx(net, tmp_path / "m.onnx", opset=opset)
    assert not (tmp_path / "m.onnx").exists()


def test_layer_without_exporter(tmp_path):
    layers = [_stand_in("Upsample2D", input_shape=(4, 4, 1), output_shape=(8, 8, 1))]
    with pytest.raises(ValueError, match=r"layers\[0\] \(Upsample2D\) has no ONNX exporter"):
        px.to_onnx(_FakeNet(layers), tmp_path / "m.onnx")


def test_missing_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    net = NeuralNetwork([L.Dense(2)], input_shape=(3,), seed=0)
    with pytest.raises(ImportError, match=r'pip install "pyx_cnn\[onnx\]"'):
        px.to_onnx(net, tmp_path / "m.onnx")
    with pytest.raises(ImportError, match=r'pyx_cnn\[onnx\]'):
        px.from_onnx(tmp_path / "m.onnx")


def test_matmul_add_reshape_dropout_identity_from_nchw(tmp_path):
    # a hand-written NCHW graph: Reshape (flatten) -> MatMul + Add -> Dropout -> Identity
    # -> Relu -> Gemm(transB, alpha, beta) -> Softmax; onnxruntime on NCHW input is the reference
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((18, 5)).astype(np.float32), rng.standard_normal(5).astype(
        np.float32)
    w2, b2 = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((1, 4)).astype(
        np.float32)
    inits = [onnx.numpy_helper.from_array(a, n) for a, n in (
        (np.array([0, -1], np.int64), "shape"), (w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    mk = onnx.helper.make_node
    nodes = [mk("Reshape", ["x", "shape"], ["f"], name="flat"),
             mk("MatMul", ["f", "w1"], ["m"], name="mm"),
             mk("Add", ["m", "b1"], ["a"], name="add"),
             mk("Dropout", ["a"], ["d"], name="drop"), mk("Identity", ["d"], ["i"], name="id"),
             mk("Relu", ["i"], ["r"], name="relu"),
             mk("Gemm", ["r", "w2", "b2"], ["g"], name="gemm", transB=1, alpha=0.5, beta=2.0),
             mk("Softmax", ["g"], ["y"], name="softmax", axis=1)]
    path = tmp_path / "m.onnx"
    onnx.save(make_model(nodes, [value_info("x", ["N", 2, 3, 3])], [value_info("y", ["N", 4])],
                         inits), str(path))
    net = px.from_onnx(path)
    x = images((7, 2, 3, 3))
    np.testing.assert_allclose(net.predict(x.transpose(0, 2, 3, 1)), run_ort(path, x),
                               rtol=0, atol=1e-6)
