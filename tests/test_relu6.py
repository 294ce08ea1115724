"""ReLU6 and the bounded ReLU (``ReLU(max_value=...)``, ``activation="relu6"``) against
PyTorch float64 (``relu6``, ``hardtanh``) and pyx_cnn.reference, with the values exactly
at the bounds."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, layers, reference
from pyx_cnn.ops import activations as A

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(6)
TOL = {np.float64: dict(rtol=1e-13, atol=1e-14), np.float32: dict(rtol=1e-6, atol=1e-6)}


def with_bounds(shape, dtype, bound=6.0):
    """Values in about [-9, 15], with exact 0, -0.0 and the bound among them."""
    z = (RNG.standard_normal(shape) * 6 + 3).astype(dtype)
    flat = z.reshape(-1)
    flat[:6] = [0.0, -0.0, bound, bound, 1e-30, -1e-30]
    flat[-3:] = [bound, 0.0, np.nextafter(dtype(bound), dtype(0))]
    return z


def torch_pair(fn, z, g):
    t = torch.tensor(z, requires_grad=True)
    y = fn(t)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu6_matches_torch_at_and_between_the_bounds(dtype):
    z = with_bounds((3, 5, 7, 4), dtype)
    g = RNG.standard_normal(z.shape).astype(dtype)
    z0 = z.copy()
    y, saved = A.relu6_forward(z)
    gz = A.relu6_backward(g, saved)
    ty, tg = torch_pair(F.relu6, z, g)
    np.testing.assert_array_equal(z, z0)                       # the input is left alone
    np.testing.assert_allclose(y, ty, **TOL[dtype])
    np.testing.assert_array_equal(gz, tg)                      # 0 at exactly 0 and 6
    assert gz.reshape(-1)[0] == 0 and gz.reshape(-1)[2] == 0 and y.dtype == dtype
    assert not np.signbit(y).any()                             # -0.0 gives +0.0


@pytest.mark.parametrize("bound", [0.0, 0.5, 3.0, 6.0, 1e3])
def test_bounded_relu_matches_hardtanh(bound):
    z = with_bounds((4, 33), np.float64, bound)
    g = RNG.standard_normal(z.shape)
    y, saved = A.bounded_relu_forward(z, bound)
    ty, tg = torch_pair(lambda t: F.hardtanh(t, 0.0, bound), z, g)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(A.bounded_relu_backward(g, saved, bound), tg)


def test_reference_matches_torch_and_the_kernel():
    z = with_bounds((5, 9), np.float64)
    g = RNG.standard_normal(z.shape)
    ty, tg = torch_pair(F.relu6, z, g)
    y = reference.relu6(z)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(reference.relu6_backward(y, g), tg)
    np.testing.assert_array_equal(A.relu6_forward(z)[0], y)
    np.testing.assert_array_equal(reference.relu6(z, 2.5), F.hardtanh(torch.tensor(z), 0, 2.5))


def test_special_values_and_in_place():
    z = np.array([np.nan, np.inf, -np.inf, 6.0, 0.0, -0.0])
    y, saved = A.relu6_forward(z.copy())
    np.testing.assert_array_equal(y, [np.nan, 6, 0, 6, 0, 0])
    # a NaN output passes the gradient (PyTorch's scalar path; its vectorised path gives 0)
    g = np.arange(1.0, 7.0)
    np.testing.assert_array_equal(A.relu6_backward(g, saved), [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(reference.relu6_backward(y, g), [1, 0, 0, 0, 0, 0])
    buf = z.copy()
    out, _ = A.relu6_forward(buf, out=buf)
    assert out is buf


def test_registry_and_the_layers_names():
    act = A.get_activation("ReLU6")
    assert act is A.ACTIVATIONS["relu6"] and act.init == "he"
    assert A.bounded_relu_activation(6) is act
    assert A.bounded_relu_activation(2.0).name == "bounded_relu"
    assert layers.ReLU(max_value=6).activation == "relu6"
    assert layers.ReLU(max_value=1.5).activation is None
    assert layers.ReLU().activation == "relu" and layers.ReLU().get_config() == {}
    assert layers.ReLU(6).get_config() == {"max_value": 6.0}
    assert repr(layers.ReLU(max_value=6)) == "ReLU(max_value=6.0)"
    assert layers.Conv2D(2, 3, activation="Relu6").activation == "relu6"
    assert layers.Dense(2, activation="relu6").activation == "relu6"


@pytest.mark.parametrize("value,error", [(-1, ValueError), (np.nan, ValueError),
                                         (np.inf, ValueError), ("6", TypeError),
                                         (True, TypeError), ([6], TypeError)])
def test_bad_max_value_names_the_argument(value, error):
    with pytest.raises(error, match="max_value"):
        layers.ReLU(max_value=value)


@pytest.mark.parametrize("max_value", [6, 2.5])
def test_relu_layer_with_a_bound_matches_torch(max_value):
    x = with_bounds((4, 5, 3, 2), np.float64, max_value)
    g = RNG.standard_normal(x.shape)
    layer = layers.ReLU(max_value=max_value)
    y = layer.forward(x)
    dx = layer.backward(g)
    ty, tg = torch_pair(lambda t: F.hardtanh(t, 0.0, float(max_value)), x, g)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(dx, tg)


def relu6_network(dtype, max_value=6, conv_activation=None):
    return NeuralNetwork([
        layers.Conv2D(3, 3, padding=1, activation=conv_activation),
        layers.ReLU(max_value=max_value), layers.MaxPool2D(2, 2), layers.Flatten(),
        layers.Dense(4, activation="relu6"), layers.Dense(2),
    ], input_shape=(6, 6, 2), seed=3, dtype=dtype, loss="mse")


def torch_relu6_network(params, tx, max_value):
    """The network of :func:`relu6_network` in PyTorch, on NHWC tensors."""
    w1, b1, w2, b2, w3, b3 = params
    h = F.conv2d(tx.permute(0, 3, 1, 2), w1.permute(0, 3, 1, 2), b1, padding=1)
    h = F.max_pool2d(F.hardtanh(h, 0.0, float(max_value)), 2, 2)
    h = h.permute(0, 2, 3, 1).reshape(tx.shape[0], -1)
    return F.relu6(h @ w2 + b2) @ w3 + b3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_value", [6, 0.75])
def test_one_sgd_step_in_a_network_equals_torch(dtype, max_value):
    x = (RNG.standard_normal((5, 6, 6, 2)) * 4).astype(dtype)
    y = RNG.standard_normal((5, 2)).astype(dtype)
    net = relu6_network(dtype, max_value)
    before = [p.copy() for layer in net.layers for p in layer.params.values()]
    tparams = [torch.tensor(p.astype(np.float64), requires_grad=True) for p in before]
    loss = F.mse_loss(torch_relu6_network(tparams, torch.tensor(x.astype(np.float64)),
                                          max_value), torch.tensor(y.astype(np.float64)))
    loss.backward()
    net.fit(x, y, epochs=1, batch_size=5, learning_rate=0.1, shuffle=False)
    after = [p for layer in net.layers for p in layer.params.values()]
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for new, old, t in zip(after, before, tparams):
        np.testing.assert_allclose(new, old - 0.1 * t.grad.numpy(), **tol)


def test_fused_and_unfused_agree_and_relu6_is_not_folded_into_the_pool():
    x = RNG.standard_normal((6, 6, 6, 2)) * 4
    y = RNG.standard_normal((6, 2))
    nets = [relu6_network(np.float64) for _ in range(2)]
    table = nets[0].summary(print_fn=None)
    assert "relu_into_max_pool" not in table and "activation_in_place" in table
    for net, fuse in zip(nets, (True, False)):
        net.fit(x, y, epochs=2, batch_size=3, learning_rate=0.05, fuse=fuse, shuffle=False)
    np.testing.assert_allclose(nets[0].flat_params, nets[1].flat_params, rtol=1e-12)
    # a Conv2D with activation="relu6" equals the Conv2D then ReLU(max_value=6)
    folded = relu6_network(np.float64, max_value=None, conv_activation="relu6")
    np.testing.assert_allclose(folded.predict(x), relu6_network(np.float64).predict(x),
                               rtol=1e-13, atol=1e-13)


def test_save_load_round_trip(tmp_path):
    net = relu6_network(np.float32, max_value=2.5)
    net.save(tmp_path / "m.npz")
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    assert loaded.layers[1].max_value == 2.5 and loaded.layers[4].activation == "relu6"
    x = RNG.standard_normal((3, 6, 6, 2)).astype(np.float32) * 4
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_one_and_two_threads_give_the_same_bits():
    z = with_bounds((400_003,), np.float32)
    g = RNG.standard_normal(z.shape).astype(np.float32)
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = A.relu6_forward(z)
        results.append((y, A.relu6_backward(g, saved)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
