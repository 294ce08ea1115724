"""Graph networks against PyTorch (float64): a residual block, a concatenating block, a
tensor read by several layers and layers called twice (weights shared). For each, fused
and unfused: the loss, the input gradient, every weight gradient, one SGD step of fit
(weights and running statistics) and predict afterwards equal PyTorch's."""
import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, layers
from pyx_cnn._fit_arguments import resolve_loss

torch = pytest.importorskip("torch")
F = torch.nn.functional

RATE = 0.1


def nchw(a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


class TorchParams:
    """The network's weights as PyTorch leaves (convolution filters (F, C, kh, kw)),
    and the way back to pyx_cnn's layouts."""

    def __init__(self, net):
        self.net, self.p, self.state = net, {}, {}
        for i, layer in enumerate(net.layers):
            for key, value in layer.params.items():
                if isinstance(layer, layers.Conv2D) and key == "W":
                    value = value.transpose(0, 3, 1, 2)
                self.p[i, key] = torch.tensor(np.array(value), requires_grad=True)
            for key, value in getattr(layer, "state", {}).items():
                self.state[i, key] = torch.tensor(np.array(value))

    def __getitem__(self, index):
        return self.p[index]

    def pyx(self, i, key, tensor):
        value = tensor.detach().numpy()
        if isinstance(self.net.layers[i], layers.Conv2D) and key == "W":
            value = value.transpose(0, 2, 3, 1)
        return value

    # the layers, in PyTorch
    def conv(self, i, x, padding=0, stride=1, relu=False):
        b = self.p.get((i, "b"))
        z = F.conv2d(x, self.p[i, "W"], b, stride=stride, padding=padding)
        return torch.relu(z) if relu else z

    def bn(self, i, x, training=True):
        return F.batch_norm(x, self.state[i, "mean"], self.state[i, "var"], self.p[i, "gamma"],
                            self.p[i, "beta"], training=training, momentum=0.1, eps=1e-5)

    def dense(self, i, x):
        return x @ self.p[i, "W"] + self.p[i, "b"]


def index_of(net, layer):
    return next(i for i, other in enumerate(net.layers) if other is layer)


def pyx_gradients(net, X, y, fuse):
    """(loss, dL/dX, {(i, key): gradient}) of one training forward and backward pass."""
    for layer in net.layers:
        layer.needs_input_grad = True          # the input gradient too
    plan = net._chain.plan(resolve_loss(net, None, y), fuse)
    out = plan.forward(X, True)
    value, grad, _ = plan.loss_value_grad(out, y)
    grad_x = plan.backward(grad)
    grads = {(i, key): g.copy() for i, layer in enumerate(net.layers)
             for key, g in layer.grads.items()}
    return value, grad_x, grads


def check_against_torch(make, torch_forward, X, y, loss, fuse):
    """`make()` builds the network (the same weights each call, from its seed);
    `torch_forward(T, x, training)` runs it in PyTorch on NCHW `x`."""
    net = make()
    T = TorchParams(net)
    x = nchw(X).requires_grad_(True)
    out = torch_forward(T, x, True)
    if loss == "mse":
        value = F.mse_loss(out, torch.tensor(y))
    else:
        value = F.cross_entropy(out, torch.tensor(y))
    value.backward()

    got_value, got_gx, got_grads = pyx_gradients(make(), X, y, fuse)
    np.testing.assert_allclose(got_value, value.item(), rtol=1e-10)
    np.testing.assert_allclose(got_gx, nhwc(x.grad), rtol=1e-8, atol=1e-12)
    assert set(got_grads) == set(T.p)
    for (i, key), leaf in T.p.items():
        np.testing.assert_allclose(got_grads[i, key], T.pyx(i, key, leaf.grad), rtol=1e-8,
                                   atol=1e-12, err_msg=f"layers[{i}] {key}")

    # one step of plain SGD on the whole batch, then predict (running statistics)
    net.fit(X, y, epochs=1, batch_size=len(X), learning_rate=RATE, shuffle=False, fuse=fuse)
    with torch.no_grad():
        for (i, key), leaf in T.p.items():
            np.testing.assert_allclose(net.layers[i].params[key],
                                       T.pyx(i, key, leaf - RATE * leaf.grad), rtol=1e-8,
                                       atol=1e-12, err_msg=f"layers[{i}] {key} after a step")
            leaf -= RATE * leaf.grad
        for (i, key), value in T.state.items():
            np.testing.assert_allclose(net.layers[i].state[key], value.numpy(), rtol=1e-10)
        expected = torch_forward(T, nchw(X), False)
        if loss != "mse":
            expected = torch.softmax(expected, dim=1)
    np.testing.assert_allclose(net.predict(X, fuse=fuse), expected.numpy(), rtol=1e-8,
                               atol=1e-12)
    return net


RNG = np.random.default_rng(0)
X_IMAGES = RNG.standard_normal((5, 6, 6, 4))
LABELS = np.array([0, 1, 2, 1, 0])


def residual_network():
    x = layers.Input((6, 6, 4))
    h = layers.Conv2D(4, 3, padding=1)(x)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.Conv2D(4, 3, padding=1)(h)
    h = layers.BatchNormalization()(h)
    s = layers.ReLU()(layers.Add()([h, x]))
    out = layers.Dense(3, activation="softmax")(layers.GlobalAvgPool2D()(s))
    return NeuralNetwork(inputs=x, outputs=out, seed=1)


def residual_torch(T, x, training):
    h = torch.relu(T.bn(1, T.conv(0, x, padding=1), training))
    h = T.bn(4, T.conv(3, h, padding=1), training)
    s = torch.relu(h + x)
    return T.dense(8, s.mean(dim=(2, 3)))


@pytest.mark.parametrize("fuse", [True, False])
def test_residual_block_equals_torch(fuse):
    net = residual_network()
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "BatchNormalization", "ReLU", "Conv2D", "BatchNormalization", "Add",
        "ReLU", "GlobalAvgPool2D", "Dense"]
    steps = net._chain.plan(None, fuse).steps
    assert [step.rule for step in steps] == (
        ["batch_norm_into_conv", "batch_norm_into_conv", "activation_into_add", "", ""]
        if fuse else [""] * 9)
    if fuse:    # the first ReLU joins its convolution's step
        assert steps[0].layers == (0, 1, 2) and steps[1].layers == (3, 4)
    check_against_torch(residual_network, residual_torch, X_IMAGES, LABELS, "cross_entropy",
                        fuse)


def concatenating_network():
    x = layers.Input((6, 6, 4))
    a = layers.Conv2D(3, 3, padding=1, activation="relu")(x)
    b = layers.ReLU()(layers.Conv2D(2, 1)(x))                  # activation_in_place
    c = layers.Concatenate()([a, b, x])                         # 9 channels
    m = layers.MaxPool2D(2, 2)(layers.ReLU()(c))                # relu_into_max_pool
    d = layers.Conv2D(3, 2, padding=1)(m)                       # (4, 4, 3)
    e = layers.Concatenate(axis=1)([d, layers.Conv2D(3, 1, stride=1)(d)])   # along H
    out = layers.Dense(2)(layers.Flatten()(layers.GlobalMaxPool2D()(e)))
    return NeuralNetwork(inputs=x, outputs=out, seed=2)


def concatenating_torch(T, x, training):
    net = T.net
    i = {type(layer).__name__ + str(k): k for k, layer in enumerate(net.layers)}
    convs = [k for k, layer in enumerate(net.layers) if isinstance(layer, layers.Conv2D)]
    a = T.conv(convs[0], x, padding=1, relu=True)
    b = torch.relu(T.conv(convs[1], x))
    c = torch.cat([a, b, x], dim=1)
    m = F.max_pool2d(torch.relu(c), 2, 2)
    d = T.conv(convs[2], m, padding=1)
    e = torch.cat([d, T.conv(convs[3], d)], dim=2)
    dense = max(i[name] for name in i if name.startswith("Dense"))
    return T.dense(dense, e.amax(dim=(2, 3)))


@pytest.mark.parametrize("fuse", [True, False])
def test_concatenating_block_equals_torch(fuse):
    y = RNG.standard_normal((5, 2))
    net = check_against_torch(concatenating_network, concatenating_torch, X_IMAGES, y, "mse",
                              fuse)
    rules = {step.rule for step in net._chain.plan(None, fuse).steps}
    assert rules == ({"", "activation_in_place", "relu_into_max_pool"} if fuse else {""})


def read_twice_network():
    x = layers.Input((6, 6, 4))
    h = layers.Conv2D(3, 3, padding=1)(x)                      # read by ReLU and Tanh
    s = layers.Add()([layers.ReLU()(h), layers.Tanh()(h)])
    s = layers.Concatenate(axis=2)([s, s])                      # one tensor twice, along W
    out = layers.Dense(2)(layers.GlobalAvgPool2D()(layers.Conv2D(2, 3, stride=2)(s)))
    return NeuralNetwork(inputs=x, outputs=out, seed=3)


def read_twice_torch(T, x, training):
    h = T.conv(0, x, padding=1)
    s = torch.relu(h) + torch.tanh(h)
    s = torch.cat([s, s], dim=3)
    return T.dense(7, T.conv(5, s, stride=2).mean(dim=(2, 3)))


@pytest.mark.parametrize("fuse", [True, False])
def test_tensor_read_twice_equals_torch(fuse):
    net = read_twice_network()
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "ReLU", "Tanh", "Add", "Concatenate", "Conv2D", "GlobalAvgPool2D", "Dense"]
    # the convolution's output has two readers: no activation folds into it
    assert all(0 not in step.layers or step.rule == "" for step in net._chain.plan().steps)
    y = RNG.standard_normal((5, 2))
    check_against_torch(read_twice_network, read_twice_torch, X_IMAGES, y, "mse", fuse)


def shared_network():
    x = layers.Input((5, 5, 4))
    conv = layers.Conv2D(4, 3, padding=1, activation="relu")
    bn = layers.BatchNormalization()
    h1 = bn(conv(x))
    h2 = bn(conv(h1))                                          # the same weights again
    g = layers.GlobalAvgPool2D()(layers.Add()([h1, h2]))
    dense = layers.Dense(4)
    out = dense(layers.Tanh()(dense(g)))
    return NeuralNetwork(inputs=x, outputs=out, seed=4)


def shared_torch(T, x, training):
    h1 = T.bn(1, T.conv(0, x, padding=1, relu=True), training)
    h2 = T.bn(1, T.conv(0, h1, padding=1, relu=True), training)
    g = (h1 + h2).mean(dim=(2, 3))
    return T.dense(4, torch.tanh(T.dense(4, g)))


@pytest.mark.parametrize("fuse", [True, False])
def test_layer_called_twice_shares_weights_as_torch(fuse):
    net = shared_network()
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "BatchNormalization", "Add", "GlobalAvgPool2D", "Dense", "Tanh"]
    assert net.count_params() == 4 * 9 * 4 + 4 + 2 * 4 + 4 * 4 + 4
    x = RNG.standard_normal((5, 5, 5, 4))
    y = RNG.standard_normal((5, 4))
    check_against_torch(shared_network, shared_torch, x, y, "mse", fuse)


@pytest.mark.parametrize("axis", [-1, 1, 2, -3])
def test_merge_layers_alone_equal_torch(axis):
    xs = [RNG.standard_normal((2, 3, 4, 5)) for _ in range(3)]
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    grad = RNG.standard_normal((2, 3, 4, 5))
    add = layers.Add()
    np.testing.assert_allclose(add.forward(xs), (ts[0] + ts[1] + ts[2]).detach().numpy(),
                               rtol=1e-15)
    (ts[0] + ts[1] + ts[2]).backward(torch.tensor(grad))
    for got, t in zip(add.backward(grad), ts):
        np.testing.assert_array_equal(got, t.grad.numpy())

    parts = [RNG.standard_normal(shape) for shape in
             {-1: [(2, 3, 4, 1), (2, 3, 4, 2)], 1: [(2, 1, 4, 5), (2, 3, 4, 5)],
              2: [(2, 3, 2, 5), (2, 3, 1, 5)], -3: [(2, 2, 4, 5), (2, 1, 4, 5)]}[axis]]
    tparts = [torch.tensor(p, requires_grad=True) for p in parts]
    cat = layers.Concatenate(axis)
    expected = torch.cat(tparts, dim=axis)
    out = cat.forward(parts)
    np.testing.assert_array_equal(out, expected.detach().numpy())
    grad = RNG.standard_normal(out.shape)
    expected.backward(torch.tensor(grad))
    for got, t in zip(cat.backward(grad), tparts):
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, t.grad.numpy())


def test_merge_layers_alone_refuse_bad_batches():
    with pytest.raises(RuntimeError, match="Add.backward called before forward"):
        layers.Add().backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"one size N, got shapes \(2, 3\), \(3, 3\)"):
        layers.Add().forward([np.ones((2, 3)), np.ones((3, 3))])
    with pytest.raises(TypeError, match="a list of at least 2 batches"):
        layers.Concatenate().forward(np.ones((2, 3)))
    add = layers.Add()
    add.forward([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"built for samples of shapes \(3,\), \(3,\)"):
        add.forward([np.ones((2, 4)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="shape of the last forward output"):
        add.backward(np.ones((2, 4)))
