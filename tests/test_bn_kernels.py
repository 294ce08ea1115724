"""Every code path of the batch-norm kernels: channels in tiles of SIMD registers, in
single registers and one by one (the channel counts cross each width of every copy),
bit for bit against references summed in the same order, and the accuracy of the
statistics on inputs far from 0."""
from fractions import Fraction

import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.ops import batch_norm as B
from reference import (batch_norm_backward_ordered, batch_norm_normalize_ordered,
                       batch_norm_statistics_ordered)

CHANNELS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 65]


def _blocks(x):
    xr = x.reshape(-1, x.shape[-1])
    return B._workspace(*xr.shape, 1).shape[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("rows", [2, 37, 1500])
def test_batch_norm_matches_the_ordered_sums_bitwise(dtype, channels, rows):
    rng = np.random.default_rng(channels * 1000 + rows)
    x = (rng.standard_normal((rows, channels)) * 3 + 2).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    gamma = rng.standard_normal(channels).astype(dtype)
    beta = rng.standard_normal(channels).astype(dtype)
    blocks = _blocks(x)
    y, saved = B.forward(x, gamma, beta, 1e-5)
    mean, invstd, var = batch_norm_statistics_ordered(x, blocks, 1e-5)
    np.testing.assert_array_equal(saved.mean, mean)
    np.testing.assert_array_equal(saved.invstd, invstd)
    np.testing.assert_array_equal(saved.var, var)
    np.testing.assert_array_equal(y, batch_norm_normalize_ordered(x, gamma, beta, mean, invstd))
    grads = B.backward(g, saved)
    for got, want in zip(grads, batch_norm_backward_ordered(x, g, gamma, mean, invstd, blocks)):
        np.testing.assert_array_equal(got, want)
    y_infer = B.forward_infer(x, gamma, beta, saved.mean.astype(dtype), saved.var.astype(dtype))
    invstd_infer = 1.0 / np.sqrt(saved.var.astype(dtype).astype(np.float64) + 1e-5)
    np.testing.assert_array_equal(
        y_infer, batch_norm_normalize_ordered(x, gamma, beta, saved.mean.astype(dtype),
                                            invstd_infer))


def test_several_blocks_are_used():
    x = np.zeros((4096, 33), np.float32)
    assert _blocks(x) > 4


@pytest.mark.parametrize("offset,scale", [(1e4, 1.0), (1e6, 1e-2), (-3e7, 2.0)])
def test_variance_of_inputs_far_from_zero_is_accurate(offset, scale):
    # 8 blocks of rows: the blocks' own means differ from the batch mean by rounding
    rng = np.random.default_rng(7)
    x = offset + scale * rng.standard_normal((8192, 16))
    assert _blocks(x) == 8
    _, saved = B.forward(x, np.ones(16), np.zeros(16))
    for c in (0, 7, 15):
        col = [Fraction(v) for v in x[:, c]]
        mean = sum(col) / len(col)
        var = sum((v - mean) ** 2 for v in col) / (len(col) - 1)
        assert abs(Fraction(saved.mean[c]) - mean) <= abs(mean) * Fraction(1, 10 ** 15)
        assert abs(Fraction(saved.var[c]) - var) <= var * Fraction(1, 10 ** 12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [3, 9, 17, 33])
def test_nan_and_infinity_stay_in_their_channel(dtype, channels):
    x = np.random.default_rng(channels).standard_normal((64, 5, 5, channels)).astype(dtype)
    x[3, 1, 2, 0] = np.nan
    x[10, 0, 0, channels - 1] = np.inf
    y, saved = B.forward(x, np.ones(channels, dtype), np.zeros(channels, dtype))
    gx, ggamma, gbeta = B.backward(np.ones_like(x), saved)
    for a in (y, gx):
        assert np.isnan(a[..., 0]).all() and np.isnan(a[..., -1]).all()
        assert np.isfinite(a[..., 1:-1]).all()
    assert np.isnan(ggamma[[0, -1]]).all() and np.isfinite(ggamma[1:-1]).all()
    assert np.isfinite(gbeta).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 8, 8, 33), (64, 16, 16, 32), (20000, 5)])
def test_one_and_two_threads_agree_bitwise(dtype, shape):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) + 4).astype(dtype)   # above the thresholds
    g = rng.standard_normal(shape).astype(dtype)
    gamma = rng.standard_normal(shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1]).astype(dtype)
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = B.forward(x, gamma, beta)
        results.append((y, *B.backward(g, saved), saved.mean, saved.var))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3, 5, 7, 9, 17, 33])
def test_batch_norm_matches_torch(dtype, channels):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(channels)
    x = (rng.standard_normal((32, 9, 8, channels)) * 2 + 3).astype(dtype)   # 2+ blocks from C = 17
    g = rng.standard_normal(x.shape).astype(dtype)
    gamma = rng.standard_normal(channels).astype(dtype)
    beta = rng.standard_normal(channels).astype(dtype)
    y, saved = B.forward(x, gamma, beta, 1e-5)
    gx, ggamma, gbeta = B.backward(g, saved)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    bn = torch.nn.BatchNorm2d(channels, eps=1e-5, dtype=tdt)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    t = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)
    ty = bn(t)
    ty.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))
    tol = 1e-5 if dtype == np.float32 else 1e-10
    n = x.size // channels
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=tol, atol=tol)
    np.testing.assert_allclose(gx, t.grad.numpy().transpose(0, 2, 3, 1), rtol=tol, atol=tol)
    np.testing.assert_allclose(ggamma, bn.weight.grad.numpy(), rtol=tol, atol=tol * n)
    np.testing.assert_allclose(gbeta, bn.bias.grad.numpy(), rtol=tol, atol=tol * n)
    np.testing.assert_allclose(saved.var, bn.running_var.numpy() * 10 - 9, rtol=tol * 10)
