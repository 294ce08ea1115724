"""pyx_cnn.ops.activations against PyTorch autograd, finite differences and special values."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.ops import activations as A

torch = pytest.importorskip("torch")
F = torch.nn.functional

NAMES = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "softmax"]
TORCH = {
    "linear": lambda t: t * 1,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
    "softmax": lambda t: torch.softmax(t, dim=-1),
}
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _torch_pair(name, z, g):
    t = torch.tensor(z, requires_grad=True)
    y = TORCH[name](t)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


def test_registry_names_and_inits():
    assert set(A.ACTIVATIONS) == {None, "linear", "relu", "relu6", "sigmoid", "tanh",
                                  "leaky_relu", "softmax"}
    assert A.ACTIVATIONS[None] is A.ACTIVATIONS["linear"]
    for name, act in A.ACTIVATIONS.items():
        assert act.init == ("he" if name in ("relu", "relu6", "leaky_relu") else "glorot")
        assert act.name == (name or "linear")


def test_get_activation_case_insensitive_and_errors():
    assert A.get_activation("ReLU") is A.ACTIVATIONS["relu"]
    assert A.get_activation(" Tanh ") is A.ACTIVATIONS["tanh"]
    assert A.get_activation(None) is A.ACTIVATIONS[None]
    with pytest.raises(ValueError, match="'leaky_relu'.*'softmax'|'softmax'"):
        A.get_activation("swish")
    with pytest.raises(TypeError, match="relu"):
        A.get_activation(3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_matches_torch(name, dtype, rng):
    z = (rng.standard_normal((4, 6, 5, 7)) * 3).astype(dtype)
    z[0, 0, 0, :3] = [0.0, -0.0, 1e-30]          # the kinks
    g = rng.standard_normal(z.shape).astype(dtype)
    z0, g0 = z.copy(), g.copy()
    act = A.get_activation(name)
    y, saved = act.forward(z)
    gz = act.backward(g, saved)
    ty, tg = _torch_pair(name, z, g)
    tol = TOL[dtype]
    assert y.dtype == dtype and gz.dtype == dtype
    np.testing.assert_allclose(y, ty, rtol=tol, atol=tol)
    np.testing.assert_allclose(gz, tg, rtol=tol, atol=tol)
    np.testing.assert_array_equal(z, z0)     # inputs untouched
    np.testing.assert_array_equal(g, g0)


def test_gradient_at_zero_follows_torch():
    z = np.array([0.0, -0.0])
    g = np.ones(2)
    np.testing.assert_array_equal(A.relu_backward(g, A.relu_forward(z)[1]), [0.0, 0.0])
    np.testing.assert_array_equal(
        A.leaky_relu_backward(g, A.leaky_relu_forward(z, 0.2)[1], 0.2), [0.2, 0.2])
    for name in ("relu", "leaky_relu"):
        _, tg = _torch_pair(name, z, g)
        act = A.get_activation(name)
        np.testing.assert_array_equal(act.backward(g, act.forward(z)[1]), tg)


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.5])
def test_leaky_relu_slopes(slope, rng):
    z = rng.standard_normal(1000)
    g = rng.standard_normal(1000)
    t = torch.tensor(z, requires_grad=True)
    ty = F.leaky_relu(t, slope)
    ty.backward(torch.tensor(g))
    y, saved = A.leaky_relu_forward(z, slope)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(A.leaky_relu_backward(g, saved, slope), t.grad.numpy(),
                               rtol=1e-15)
    # a slope of its own: what a LeakyReLU layer runs
    act = A.leaky_relu_activation(slope)
    y2, saved2 = act.forward(z)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(act.backward(g, saved2), A.leaky_relu_backward(g, saved, slope))


@pytest.mark.parametrize("slope", [-0.1, float("nan"), float("inf")])
def test_leaky_relu_rejects_bad_slope(slope):
    with pytest.raises(ValueError, match="negative_slope"):
        A.leaky_relu_forward(np.zeros(3), slope)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "leaky_relu", "linear"])
def test_special_values_like_torch(name, dtype):
    z = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 800.0, -800.0], dtype=dtype)
    g = np.array([1.0, 2.0, 3.0, np.nan, np.inf, 1.0, -1.0, 2.0, 2.0], dtype=dtype)
    act = A.get_activation(name)
    y, saved = act.forward(z)
    gz = act.backward(g, saved)
    ty, tg = _torch_pair(name, z, g)
    np.testing.assert_array_equal(y, ty)        # NaN in the same places, same infinities
    if name != "relu":   # pyx_cnn's relu(-0.0) is +0.0 (documented); torch keeps -0.0
        np.testing.assert_array_equal(np.signbit(y[~np.isnan(y)]),
                                      np.signbit(ty[~np.isnan(ty)]))
    np.testing.assert_allclose(gz, tg, rtol=1e-6, atol=0)     # equal_nan by default
    assert np.isnan(y[0])


def test_softmax_nan_row_is_nan_and_large_values_finite():
    z = np.array([[np.nan, 1.0, 2.0], [1000.0, 0.0, -1000.0]])
    y, _ = A.softmax_forward(z)
    assert np.isnan(y[0]).all()
    np.testing.assert_allclose(y[1], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("name", NAMES)
def test_in_place_forward_and_backward(name, rng):
    z = rng.standard_normal((5, 9))
    act = A.get_activation(name)
    expected, _ = act.forward(z.copy())
    buf = z.copy()
    y, saved = act.forward(buf, out=buf)
    assert y is buf and saved is buf
    np.testing.assert_array_equal(y, expected)
    g = rng.standard_normal(z.shape)
    gexp = act.backward(g.copy(), saved)
    gbuf = g.copy()
    np.testing.assert_array_equal(act.backward(gbuf, saved, out=gbuf), gexp)


@pytest.mark.parametrize("name", NAMES)
def test_backward_finite_differences(name, rng):
    z = rng.standard_normal((3, 6))
    z[np.abs(z) < 1e-3] = 0.5           # away from the kinks
    g = rng.standard_normal(z.shape)
    act = A.get_activation(name)
    gz = act.backward(g, act.forward(z.copy())[1])
    h = 1e-6
    num = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        num[idx] = np.sum(g * (act.forward(zp)[0] - act.forward(zm)[0])) / (2 * h)
    np.testing.assert_allclose(gz, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "leaky_relu"])
def test_one_and_two_threads_agree(name, dtype, rng):
    z = rng.standard_normal(300_000).astype(dtype)     # above the threading thresholds
    g = rng.standard_normal(z.shape).astype(dtype)
    act = A.get_activation(name)
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = act.forward(z)
        results.append((y, act.backward(g, saved)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_float32_tanh_accuracy_sweep():
    x = np.concatenate([np.linspace(-12, 12, 200_001), np.geomspace(1e-8, 12, 100_001),
                        -np.geomspace(1e-8, 12, 100_001)]).astype(np.float32)
    y, _ = A.tanh_forward(x)
    ref = np.tanh(x.astype(np.float64))
    assert np.abs(y - ref).max() < 5e-7
    assert (np.abs(y - ref) <= 6 * np.spacing(np.abs(ref).astype(np.float32))).all()
    big, _ = A.tanh_forward(np.array([1e30, -1e30, 8, -8], np.float32))
    np.testing.assert_array_equal(big, [1, -1, 1, -1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_value_does_not_depend_on_its_place_in_the_array(dtype, rng):
    # the SIMD kernels work the last partial register through a padded copy: a value
    # comes out the same in the body of a long array and in a short array's tail
    z = (rng.standard_normal(64) * 3).astype(dtype)
    g = rng.standard_normal(64).astype(dtype)
    long_y, _ = A.tanh_forward(z)
    long_g = A.tanh_backward(g, long_y)
    for n in range(1, 40):
        np.testing.assert_array_equal(A.tanh_forward(z[-n:].copy())[0], long_y[-n:])
        np.testing.assert_array_equal(A.tanh_backward(g[-n:].copy(), long_y[-n:].copy()),
                                      long_g[-n:])
