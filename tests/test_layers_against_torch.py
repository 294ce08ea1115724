"""The pooling, normalisation, dropout and activation layers (AvgPool2D,
GlobalAvgPool2D, GlobalMaxPool2D, BatchNormalization, Dropout, Tanh, LeakyReLU,
Softmax): forward and backward against PyTorch's autograd (float64 to 1e-10),
training and inference modes, running statistics, masks, finite differences; and a
network holding a layer of every kind: save / load, fused and unfused, ONNX, the
train command's models and the feature-map plots."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, layers

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(21)


def nchw(a):
    return torch.tensor(a.transpose(0, 3, 1, 2), requires_grad=True)


def to_nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def run_layer(layer, x, g, training=True):
    layer.build(x.shape[1:], rng=0)
    y = layer.forward(x, training=training)
    return y, layer.backward(g)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_avg_pool_matches_torch(size, stride):
    x = RNG.standard_normal((3, 9, 8, 4))
    ref_x = nchw(x)
    ref = F.avg_pool2d(ref_x, size, stride)
    g = RNG.standard_normal(to_nhwc(ref).shape)
    y, dx = run_layer(layers.AvgPool2D(size, stride), x, g)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y, to_nhwc(ref), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, to_nhwc(ref_x.grad), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pyx_cnn.avg_pooling(x, size, stride), y, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pooling_matches_torch(kind):
    x = RNG.standard_normal((4, 5, 6, 3))
    ref_x = nchw(x)
    ref = (ref_x.mean(dim=(2, 3)) if kind == "avg" else ref_x.amax(dim=(2, 3)))
    g = RNG.standard_normal((4, 3))
    layer = layers.GlobalAvgPool2D() if kind == "avg" else layers.GlobalMaxPool2D()
    y, dx = run_layer(layer, x, g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(y, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, to_nhwc(ref_x.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layer,fn", [
    (layers.Tanh(), torch.tanh),
    (layers.LeakyReLU(), lambda t: F.leaky_relu(t, 0.01)),
    (layers.LeakyReLU(0.3), lambda t: F.leaky_relu(t, 0.3)),
    (layers.Softmax(), lambda t: torch.softmax(t, dim=-1)),
])
def test_activation_layers_match_torch(layer, fn):
    x = RNG.standard_normal((5, 4, 3, 6)) * 3
    tx = torch.tensor(x, requires_grad=True)
    ref = fn(tx)
    g = RNG.standard_normal(x.shape)
    y, dx = run_layer(layer, x, g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(y, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_functional_tanh_and_leaky_relu():
    x = RNG.standard_normal((7, 5)) * 4
    np.testing.assert_allclose(pyx_cnn.tanh(x), np.tanh(x), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(pyx_cnn.leaky_relu(x, 0.2), np.where(x > 0, x, 0.2 * x))
    with pytest.raises(ValueError, match="negative_slope"):
        pyx_cnn.leaky_relu(x, -1.0)


@pytest.mark.parametrize("shape", [(6, 5, 4, 3), (8, 7)])
def test_batch_norm_training_and_running_statistics_match_torch(shape):
    bn = layers.BatchNormalization(momentum=0.1, epsilon=1e-5)
    bn.build(shape[1:], rng=0)
    c = shape[-1]
    bn.params["gamma"][...] = RNG.standard_normal(c)
    bn.params["beta"][...] = RNG.standard_normal(c)
    ref = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(
        c, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(bn.params["gamma"]))
        ref.bias.copy_(torch.tensor(bn.params["beta"]))
    to_t = (lambda a: a.transpose(0, 3, 1, 2)) if len(shape) == 4 else (lambda a: a)
    back = (lambda a: a.transpose(0, 2, 3, 1)) if len(shape) == 4 else (lambda a: a)
    for step in range(4):
        x = RNG.standard_normal(shape) * (step + 1) + step
        g = RNG.standard_normal(shape)
        y = bn.forward(x, training=True)
        dx = bn.backward(g)
        tx = torch.tensor(to_t(x).copy(), requires_grad=True)
        ref.zero_grad()
        ty = ref(tx)
        ty.backward(torch.tensor(to_t(g).copy()))
        np.testing.assert_allclose(y, back(ty.detach().numpy()), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(dx, back(tx.grad.numpy()), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(bn.grads["gamma"], ref.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(bn.grads["beta"], ref.bias.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(bn.state["mean"], ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.state["var"], ref.running_var.numpy(), rtol=1e-12)
    ref.eval()
    x = RNG.standard_normal(shape)
    with torch.no_grad():
        expected = back(ref(torch.tensor(to_t(x).copy())).numpy())
    np.testing.assert_allclose(bn.forward(x), expected, rtol=1e-10, atol=1e-12)


def test_dropout_masks_scale_and_identity_at_inference():
    layer = layers.Dropout(0.3)
    layer.build((100, 100), rng=5)
    x = RNG.standard_normal((10, 100, 100))
    y = layer.forward(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)
    g = RNG.standard_normal(x.shape)
    dx = layer.backward(g)
    np.testing.assert_array_equal(dx != 0, kept)
    np.testing.assert_allclose(dx[kept], g[kept] / 0.7, rtol=1e-15)
    out = layer.forward(x)                      # inference: the identity, a new array
    np.testing.assert_array_equal(out, x)
    assert out is not x
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)


def every_layer_network(seed=0, dtype="float64"):
    return NeuralNetwork([
        layers.Conv2D(6, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
        layers.AvgPool2D(2, 2),
        layers.Conv2D(8, 3, padding="same", dilation=2), layers.Tanh(), layers.MaxPool2D(),
        layers.LeakyReLU(0.2), layers.Dropout(0.25), layers.GlobalAvgPool2D(),
        layers.Dense(16), layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Dense(10), layers.Softmax(),
    ], input_shape=(12, 12, 1), seed=seed, dtype=dtype)


def test_every_layer_trains_saves_loads_and_resumes_exactly(tmp_path):
    x = RNG.random((48, 12, 12, 1))
    y = np.arange(48) % 10
    net = every_layer_network()
    net.fit(x, y, epochs=2, batch_size=16, learning_rate=0.05, optimizer="adam")
    net.save(tmp_path / "m.npz")
    again = NeuralNetwork.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict(x), net.predict(x))
    h1 = net.fit(x, y, epochs=1, batch_size=16)
    h2 = again.fit(x, y, epochs=1, batch_size=16)   # dropout masks, running statistics
    assert h1.history["loss"] == h2.history["loss"]
    np.testing.assert_array_equal(again.flat_params, net.flat_params)
    text = net.summary(print_fn=None)
    for name in ("BatchNormalization", "Dropout", "GlobalAvgPool2D", "LeakyReLU", "Softmax"):
        assert name in text


def test_fused_and_unfused_agree_with_every_layer():
    x = RNG.random((32, 12, 12, 1))
    y = np.arange(32) % 10
    a, b = every_layer_network(seed=3), every_layer_network(seed=3)
    ha = a.fit(x, y, epochs=2, batch_size=8, learning_rate=0.05)
    hb = b.fit(x, y, epochs=2, batch_size=8, learning_rate=0.05, fuse=False)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-9)
    np.testing.assert_allclose(a.flat_params, b.flat_params, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("layer", [layers.AvgPool2D(2, 1), layers.GlobalAvgPool2D(),
                                   layers.GlobalMaxPool2D(), layers.Tanh(), layers.LeakyReLU(0.1),
                                   layers.Softmax(), layers.BatchNormalization()])
def test_gradcheck_of_pooling_normalisation_and_activation_layers(layer):
    layer.build((5, 4, 3), rng=0)
    x = RNG.standard_normal((4, 5, 4, 3))
    assert pyx_cnn.gradcheck(layer, x, training=True)


def test_every_layer_network_through_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net = every_layer_network(dtype="float32")
    x = RNG.random((6, 12, 12, 1)).astype(np.float32)
    net.fit(x, np.arange(6) % 10, epochs=1, batch_size=3)
    net.to_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(out, net.predict(x), rtol=1e-5, atol=1e-6)
    back = NeuralNetwork.from_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


@pytest.mark.parametrize("model", ["bn", "all"])
def test_train_command_trains_the_bn_and_all_models(tmp_path, model):
    pytest.importorskip("sklearn")
    from pyx_cnn.train_command import run_train

    result = run_train(epochs=3, out_dir=tmp_path, model=model, verbose=False)
    assert result["test_accuracy"] > 0.5            # ten classes: chance is 0.1
    net = NeuralNetwork.load(result["model_path"])
    names = {type(layer).__name__ for layer in net.layers}
    assert {"BatchNormalization", "Dropout"} <= names
    with pytest.raises(ValueError, match="model"):
        run_train(epochs=1, out_dir=tmp_path, model="huge", verbose=False)


def test_feature_map_plots_draw_every_layer_kind(tmp_path):
    from pyx_cnn.plot import plot_network_feature_maps

    net = every_layer_network()
    fig = plot_network_feature_maps(net, RNG.random((12, 12, 1)), path=tmp_path / "maps.png")
    assert (tmp_path / "maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.text import Text

    texts = " ".join(t.get_text() for t in fig.findobj(Text))
    for name in ("BatchNormalization", "AvgPool2D", "LeakyReLU", "Dropout"):
        assert name in texts
