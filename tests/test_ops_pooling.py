"""pyx_cnn.ops.avg_pool, ops.global_avg_pool and ops.global_max_pool against PyTorch autograd and finite differences."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.ops import avg_pool, global_avg_pool, global_max_pool

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def nchw(a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), requires_grad=True)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


WINDOWS = [(2, 2), (3, 2), (3, 1), (2, 3), (1, 1), (4, 4), (5, 3)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size,stride", WINDOWS)
def test_avg_pool_matches_torch(size, stride, dtype, rng):
    x = rng.standard_normal((3, 11, 9, 5)).astype(dtype)
    x0 = x.copy()
    y, saved = avg_pool.forward(x, size, stride)
    g = rng.standard_normal(y.shape).astype(dtype)
    g0 = g.copy()
    gx = avg_pool.backward(g, saved)
    t = nchw(x)
    ty = F.avg_pool2d(t, size, stride, ceil_mode=False)
    ty.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))
    tol = TOL[dtype]
    assert y.shape == nhwc(ty).shape and y.dtype == dtype and gx.dtype == dtype
    np.testing.assert_allclose(y, nhwc(ty), rtol=tol, atol=tol)
    np.testing.assert_allclose(gx, nhwc(t.grad), rtol=tol, atol=tol)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


def test_avg_pool_output_shape():
    assert avg_pool.output_shape((2, 7, 8, 3), 2, 2) == (2, 3, 4, 3)
    assert avg_pool.output_shape((2, 7, 8, 3), 3, 1) == (2, 5, 6, 3)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), (2, 3)])
def test_avg_pool_backward_finite_differences(size, stride, rng):
    x = rng.standard_normal((2, 7, 6, 3))
    g = rng.standard_normal(avg_pool.output_shape(x.shape, size, stride))
    gx = avg_pool.backward(g, avg_pool.forward(x, size, stride)[1])
    h = 1e-6
    num = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        num[idx] = np.sum(g * (avg_pool.forward(xp, size, stride)[0]
                               - avg_pool.forward(xm, size, stride)[0])) / (2 * h)
    np.testing.assert_allclose(gx, num, rtol=1e-6, atol=1e-9)


def test_avg_pool_special_values():
    x = np.zeros((1, 4, 4, 2))
    x[0, 0, 0, 0] = np.nan
    x[0, 2, 2, 1] = np.inf
    y = avg_pool.forward(x, 2, 2)[0]
    assert np.isnan(y[0, 0, 0, 0]) and np.isinf(y[0, 1, 1, 1])
    assert np.isfinite(np.delete(y.reshape(-1), [0, 7])).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_avg_pool_matches_torch(dtype, rng):
    x = (rng.standard_normal((4, 9, 13, 6)) + 3).astype(dtype)
    x0 = x.copy()
    y, saved = global_avg_pool.forward(x)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = global_avg_pool.backward(g, saved)
    t = nchw(x)
    ty = F.adaptive_avg_pool2d(t, 1).reshape(4, 6)
    ty.backward(torch.tensor(g))
    tol = TOL[dtype]
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(gx, nhwc(t.grad), rtol=tol, atol=tol)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_max_pool_matches_torch(dtype, rng):
    x = rng.standard_normal((4, 9, 13, 6)).astype(dtype)
    x0 = x.copy()
    y, saved = global_max_pool.forward(x)
    argmax, _ = saved
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = global_max_pool.backward(g, saved)
    t = nchw(x)
    ty = F.max_pool2d(t, (9, 13)).reshape(4, 6)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(gx, nhwc(t.grad))
    np.testing.assert_array_equal(x, x0)
    assert argmax.dtype == np.int64 and argmax.shape == (4, 6)


def test_global_max_ties_and_nan():
    x = np.zeros((1, 2, 3, 3))
    x[0, 0, 1, 0] = 5.0
    x[0, 1, 2, 0] = 5.0                 # tie: the first (row-major) wins
    x[0, 0, 2, 1] = np.nan
    x[0, 1, 0, 1] = np.nan              # the first NaN wins
    x[0, 1, 1, 1] = np.inf
    y, saved = global_max_pool.forward(x)
    argmax, _ = saved
    assert y[0, 0] == 5.0 and argmax[0, 0] == 1
    assert np.isnan(y[0, 1]) and argmax[0, 1] == 2
    assert y[0, 2] == 0.0 and argmax[0, 2] == 0
    gx = global_max_pool.backward(np.ones((1, 3)), saved)
    assert gx.sum() == 3 and gx[0, 0, 1, 0] == 1 and gx[0, 0, 2, 1] == 1 and gx[0, 0, 0, 2] == 1


def test_global_backward_finite_differences(rng):
    x = rng.standard_normal((2, 3, 4, 3))
    g = rng.standard_normal((2, 3))
    h = 1e-6
    for fwd, gx in [
        (lambda a: global_avg_pool.forward(a)[0],
         global_avg_pool.backward(g, global_avg_pool.forward(x)[1])),
        (lambda a: global_max_pool.forward(a)[0],
         global_max_pool.backward(g, global_max_pool.forward(x)[1])),
    ]:
        num = np.empty_like(x)
        for idx in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += h
            xm[idx] -= h
            num[idx] = np.sum(g * (fwd(xp) - fwd(xm))) / (2 * h)
        np.testing.assert_allclose(gx, num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_and_two_threads_agree(dtype, rng):
    x = rng.standard_normal((16, 30, 28, 8)).astype(dtype)   # above the thresholds
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = avg_pool.forward(x, 3, 2)
        gx = avg_pool.backward(y, saved)
        ga, saved_avg = global_avg_pool.forward(x)
        gm, saved_max = global_max_pool.forward(x)
        results.append((y, gx, ga, global_avg_pool.backward(ga, saved_avg), gm, saved_max[0],
                        global_max_pool.backward(gm, saved_max)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_batch_of_one_large_map_threads(rng):
    # one sample: the average pooling backward still splits over rows
    x = rng.standard_normal((1, 200, 180, 4))
    pyx_cnn.set_num_threads(2)
    y, saved = avg_pool.forward(x, 2, 1)
    gx = avg_pool.backward(np.ones_like(y), saved)
    t = nchw(x)
    F.avg_pool2d(t, 2, 1).sum().backward()
    np.testing.assert_allclose(gx, nhwc(t.grad), rtol=1e-12)
