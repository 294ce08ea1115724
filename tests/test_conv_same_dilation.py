"""Convolution with "same" padding, pairs of strides / paddings / kernel sizes and
dilation: forward and backward against PyTorch's autograd (float64 to 1e-10),
for the functional conv and the Conv2D layer, on every kernel path."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import layers
from pyx_cnn import _geometry as geometry

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_conv(x, w, b, stride, pads, dilation):
    """NHWC x, (F, kh, kw, C) w; pads ((top, bottom), (left, right)) applied by F.pad."""
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(w.transpose(0, 3, 1, 2), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    (top, bottom), (left, right) = pads
    out = F.conv2d(F.pad(tx, (left, right, top, bottom)), tw, tb, stride=stride,
                   dilation=dilation)
    return out, tx, tw, tb


CASES = [
    # H, W, C, F, kernel, stride, padding, dilation
    (9, 11, 2, 3, 3, 1, "same", 1),
    (9, 11, 2, 3, 4, 1, "same", 1),          # even kernel: the extra zero at bottom/right
    (10, 7, 3, 2, (2, 3), 2, "same", 1),
    (11, 13, 1, 4, 3, 3, "same", 1),
    (12, 12, 2, 3, 3, 1, "same", 2),
    (13, 10, 2, 2, 3, 2, "same", 3),
    (12, 14, 3, 4, 3, 1, 0, 2),
    (12, 14, 3, 4, (3, 2), (1, 2), (1, 0), (2, 1)),
    (8, 9, 2, 3, 2, (2, 1), (0, 2), 1),
    (15, 15, 1, 6, 5, 1, "valid", 3),
    (7, 7, 4, 5, 3, 2, 1, 1),                 # the direct kernel's case
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("threads", [1, 2])
def test_functional_conv_and_conv2d_match_torch(case, threads):
    h, w, c, f, kernel, stride, padding, dilation = case
    kh, kw = geometry.pair(kernel, "kernel", 1)
    rng = np.random.default_rng(sum(map(hash, map(str, case))) % 2**32)
    x = rng.standard_normal((3, h, w, c))
    filters = rng.standard_normal((f, kh, kw, c))
    bias = rng.standard_normal(f)
    pyx_cnn.set_num_threads(threads)
    try:
        out = pyx_cnn.conv(x, filters, stride=stride, padding=padding, bias=bias,
                           dilation=dilation)
        layer = layers.Conv2D(f, kernel, stride=stride, padding=padding, dilation=dilation)
        layer.build((h, w, c), rng=0)
        layer.params["W"][...] = filters
        layer.params["b"][...] = bias
        y = layer.forward(x)
        g = rng.standard_normal(y.shape)
        dx = layer.backward(g)
    finally:
        pyx_cnn.set_num_threads(None)
    st, dl = geometry.pair(stride, "stride", 1), geometry.pair(dilation, "dilation", 1)
    pads = geometry.resolve_padding(padding, (h, w), (kh, kw), st, dl)
    ref, tx, tw, tb = torch_conv(x, filters, bias, st, pads, dl)
    ref_nhwc = ref.detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, ref_nhwc, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y, ref_nhwc, rtol=1e-10, atol=1e-10)
    if padding == "same":
        assert y.shape[1:3] == (-(-h // st[0]), -(-w // st[1]))
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["W"], tw.grad.numpy().transpose(0, 2, 3, 1),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["b"], tb.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_same_padding_equals_torch_same_at_stride_1_and_tensorflow_rule(k, s):
    size = 10
    pads = geometry.resolve_padding("same", (size, size), (k, k), (s, s), (1, 1))
    total = max((-(-size // s) - 1) * s + k - size, 0)
    assert pads[0] == (total // 2, total - total // 2)
    if s == 1:
        x = np.random.default_rng(k).standard_normal((1, size, size, 1))
        w = np.random.default_rng(k + 1).standard_normal((2, k, k, 1))
        ref = F.conv2d(torch.tensor(x.transpose(0, 3, 1, 2)), torch.tensor(w.transpose(0, 3, 1, 2)),
                       padding="same").numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(pyx_cnn.conv(x, w, padding="same"), ref, rtol=1e-12,
                                   atol=1e-12)


def test_float32_dilated_conv_matches_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 20, 18, 3)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    out = pyx_cnn.conv(x, w, dilation=2, padding="same")
    assert out.dtype == np.float32
    ref = F.conv2d(torch.tensor(x.transpose(0, 3, 1, 2)), torch.tensor(w.transpose(0, 3, 1, 2)),
                   padding="same", dilation=2).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_conv2d_config_round_trip_and_errors():
    layer = layers.Conv2D(4, (3, 2), stride=(1, 2), padding="SAME", dilation=(2, 1))
    config = layer.get_config()
    assert config["padding"] == "same" and config["stride"] == [1, 2]
    assert config["dilation"] == [2, 1]
    again = layers.Conv2D(**config)
    assert again.get_config() == config
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="dilation"):
        layers.Conv2D(2, 3, dilation=0)
    with pytest.raises(TypeError, match="stride"):
        layers.Conv2D(2, 3, stride=(1, 2, 3))
    with pytest.raises(ValueError, match="larger than the padded"):
        pyx_cnn.conv(np.ones((5, 5)), np.ones((1, 3, 3)), dilation=3)


def test_a_network_with_dilated_same_convolutions_saves_and_loads(tmp_path):
    net = pyx_cnn.NeuralNetwork([
        layers.Conv2D(4, 3, padding="same", dilation=2, activation="relu"),
        layers.Conv2D(3, (2, 3), stride=(2, 1), padding=(1, 0)),
        layers.Flatten(), layers.Dense(3, activation="softmax"),
    ], input_shape=(10, 9, 2), seed=0)
    x = np.random.default_rng(0).standard_normal((6, 10, 9, 2))
    net.fit(x, np.arange(6) % 3, epochs=2, batch_size=3)
    net.save(tmp_path / "m.npz")
    again = pyx_cnn.NeuralNetwork.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict(x), net.predict(x))
