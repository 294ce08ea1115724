"""pyx_cnn.ops.batch_norm against torch.nn.BatchNorm2d / BatchNorm1d and finite differences."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.ops import batch_norm as B

torch = pytest.importorskip("torch")

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _to_torch(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1)) if a.ndim == 4 else a


def _from_torch(t, ndim):
    a = t.detach().numpy()
    return np.moveaxis(a, 1, -1) if ndim == 4 else a


def _close(a, b, dtype, scale=1.0):
    if dtype == np.float64:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * scale)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(8, 5, 6, 3), (2, 3, 3, 4), (16, 7), (3, 2)])
def test_training_steps_match_torch(shape, dtype, rng):
    channels = shape[-1]
    cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    bn = cls(channels, momentum=0.1, eps=1e-5, dtype=TORCH_DTYPE[dtype])
    gamma = rng.standard_normal(channels).astype(dtype)
    beta = rng.standard_normal(channels).astype(dtype)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    running_mean = np.zeros(channels, dtype)
    running_var = np.ones(channels, dtype)
    for _ in range(4):
        x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        x0, g0 = x.copy(), g.copy()
        y, saved = B.forward(x, gamma, beta, 1e-5)
        B.update_running(running_mean, running_var, saved, momentum=0.1)
        gx, ggamma, gbeta = B.backward(g, saved)
        t = torch.tensor(_to_torch(x), requires_grad=True)
        bn.zero_grad()
        ty = bn(t)
        ty.backward(torch.tensor(_to_torch(g)))
        n_per_channel = x.size // channels
        assert y.dtype == gx.dtype == ggamma.dtype == gbeta.dtype == dtype
        assert y.shape == gx.shape == x.shape and ggamma.shape == gbeta.shape == (channels,)
        _close(y, _from_torch(ty, x.ndim), dtype)
        _close(gx, _from_torch(t.grad, x.ndim), dtype)
        _close(ggamma, bn.weight.grad.numpy(), dtype, n_per_channel)
        _close(gbeta, bn.bias.grad.numpy(), dtype, n_per_channel)
        _close(running_mean, bn.running_mean.numpy(), dtype)
        _close(running_var, bn.running_var.numpy(), dtype)
        assert running_mean.dtype == running_var.dtype == dtype
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(g, g0)
    bn.eval()
    x = rng.standard_normal(shape).astype(dtype)
    y = B.forward_infer(x, gamma, beta, running_mean, running_var, 1e-5)
    _close(y, _from_torch(bn(torch.tensor(_to_torch(x))), x.ndim), dtype)


def test_float32_large_batch_matches_torch(rng):
    # 16k values per channel: the statistics are summed in double precision
    shape = (64, 16, 16, 8)
    x = (rng.standard_normal(shape) * 2 + 5).astype(np.float32)
    gamma = np.ones(8, np.float32)
    beta = np.zeros(8, np.float32)
    y, saved = B.forward(x, gamma, beta)
    bn = torch.nn.BatchNorm2d(8)
    ty = _from_torch(bn(torch.tensor(_to_torch(x))), 4)
    np.testing.assert_allclose(y, ty, rtol=1e-5, atol=1e-5)
    x64 = x.astype(np.float64).reshape(-1, 8)
    np.testing.assert_allclose(saved.mean, x64.mean(0), rtol=1e-13)
    np.testing.assert_allclose(saved.var, x64.var(0, ddof=1), rtol=1e-12)


def test_saved_contents(rng):
    x = rng.standard_normal((4, 3, 2, 5))
    y, saved = B.forward(x, np.ones(5), np.zeros(5), eps=1e-3)
    xr = x.reshape(-1, 5)
    assert saved.shape == x.shape and np.shares_memory(saved.x, x)
    np.testing.assert_allclose(saved.mean, xr.mean(0), rtol=1e-14)
    np.testing.assert_allclose(saved.var, xr.var(0, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(saved.invstd, 1 / np.sqrt(xr.var(0) + 1e-3), rtol=1e-13)
    np.testing.assert_allclose(y.reshape(-1, 5), (xr - xr.mean(0)) * saved.invstd,
                               atol=1e-13)


def test_one_value_per_channel_is_refused():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        B.forward(np.zeros((1, 4)), np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        B.forward(np.zeros((1, 1, 1, 4)), np.ones(4), np.zeros(4))


def test_backward_finite_differences(rng):
    x = rng.standard_normal((3, 2, 3, 2))
    gamma = rng.standard_normal(2)
    beta = rng.standard_normal(2)
    g = rng.standard_normal(x.shape)
    _, saved = B.forward(x, gamma, beta)
    gx, ggamma, gbeta = B.backward(g, saved)
    h = 1e-6

    def loss(x_, gamma_, beta_):
        return np.sum(g * B.forward(x_, gamma_, beta_)[0])

    for arr, grad in [(x, gx), (gamma, ggamma), (beta, gbeta)]:
        num = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            keep = arr[idx]
            arr[idx] = keep + h
            lp = loss(x, gamma, beta)
            arr[idx] = keep - h
            lm = loss(x, gamma, beta)
            arr[idx] = keep
            num[idx] = (lp - lm) / (2 * h)
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)


def test_nan_propagates_to_its_channel():
    x = np.arange(24, dtype=np.float64).reshape(2, 2, 2, 3)
    x[0, 0, 0, 1] = np.nan
    y, saved = B.forward(x, np.ones(3), np.zeros(3))
    assert np.isnan(y[..., 1]).all()
    assert np.isfinite(y[..., [0, 2]]).all()
    gx, ggamma, gbeta = B.backward(np.ones_like(x), saved)
    assert np.isnan(gx[..., 1]).all() and np.isfinite(gx[..., [0, 2]]).all()


@pytest.mark.parametrize("shape", [(32, 16, 16, 16), (4096, 24), (3, 5, 5, 7)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_does_not_change_results(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)   # the first two: above the thresholds
    g = rng.standard_normal(x.shape).astype(dtype)
    channels = shape[-1]
    gamma = rng.standard_normal(channels).astype(dtype)
    beta = rng.standard_normal(channels).astype(dtype)
    results = []
    for n in (1, 2, 3):
        pyx_cnn.set_num_threads(n)
        y, saved = B.forward(x, gamma, beta)
        results.append((y, *B.backward(g, saved), saved.mean, saved.var,
                        B.forward_infer(x, gamma, beta, saved.mean, saved.var)))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
