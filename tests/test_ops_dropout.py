"""pyx_cnn.ops.dropout: mask statistics, exact scaling, the backward mask, torch semantics."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn.ops import dropout as D


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_mask_statistics_and_exact_scale(rate, dtype):
    x = np.random.default_rng(0).standard_normal((50, 40, 50)).astype(dtype)
    x[x == 0] = 1.0
    x0 = x.copy()
    y, saved = D.forward(x, rate, np.random.default_rng(1))
    keep = saved.mask.astype(bool)
    assert saved.mask.dtype == np.uint8 and saved.mask.shape == x.shape
    n = x.size
    # keep fraction within 5 standard deviations of 1 - rate
    assert abs(keep.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    scale = dtype(1 / (1 - rate))
    np.testing.assert_array_equal(y[keep], x[keep] * scale)      # exactly
    assert (y[~keep] == 0).all()
    assert y.dtype == dtype
    np.testing.assert_array_equal(x, x0)


def test_backward_uses_the_same_mask(rng):
    x = rng.standard_normal((8, 6, 6, 4))
    g = rng.standard_normal(x.shape)
    g0 = g.copy()
    y, saved = D.forward(x, 0.3, np.random.default_rng(5))
    gx = D.backward(g, saved)
    keep = saved.mask.astype(bool)
    np.testing.assert_array_equal(gx, np.where(keep, g * (1 / 0.7), g * 0.0))
    np.testing.assert_array_equal(gx != 0, y != 0)
    np.testing.assert_array_equal(g, g0)
    # finite differences: the map is linear for a fixed mask
    h = 1e-6
    idx = (1, 2, 3, 1)
    xp, xm = x.copy(), x.copy()
    xp[idx] += h
    xm[idx] -= h
    fp = D._apply(xp, saved.mask, saved.scale)
    fm = D._apply(xm, saved.mask, saved.scale)
    np.testing.assert_allclose(np.sum(g * (fp - fm)) / (2 * h), gx[idx], rtol=1e-7, atol=1e-9)


def test_same_seed_same_mask_any_dtype():
    x = np.ones((100, 30))
    _, a = D.forward(x, 0.4, np.random.default_rng(7))
    _, b = D.forward(x.astype(np.float32), 0.4, np.random.default_rng(7))
    _, c = D.forward(x, 0.4, np.random.default_rng(8))
    np.testing.assert_array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)


def test_rate_zero_is_identity_and_draws_nothing(rng):
    x = rng.standard_normal((5, 4))
    gen = np.random.default_rng(3)
    state = gen.bit_generator.state
    y, saved = D.forward(x, 0, gen)
    assert gen.bit_generator.state == state
    np.testing.assert_array_equal(y, x)
    assert y is not x
    g = rng.standard_normal(x.shape)
    gx = D.backward(g, saved)
    np.testing.assert_array_equal(gx, g)
    assert gx is not g


@pytest.mark.parametrize("rate", [1, 1.0, -0.1, 2, float("nan")])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        D.forward(np.ones(3), rate, np.random.default_rng(0))


def test_rate_not_a_number():
    with pytest.raises(TypeError, match="rate"):
        D.forward(np.ones(3), "half", np.random.default_rng(0))


def test_special_values_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array([np.nan, np.inf, -np.inf, 1.0] * 50)
    y, saved = D.forward(x, 0.5, np.random.default_rng(2))
    keep = saved.mask.astype(bool)
    assert keep.any() and (~keep).any()
    # torch's x * mask / (1 - p): a dropped NaN or infinity gives NaN
    expected = (torch.tensor(x) * torch.tensor(keep, dtype=torch.float64) / 0.5).numpy()
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_and_two_threads_agree(dtype, rng):
    x = rng.standard_normal(400_000).astype(dtype)    # above the threading threshold
    results = []
    for n in (1, 2):
        pyx_cnn.set_num_threads(n)
        y, saved = D.forward(x, 0.25, np.random.default_rng(9))
        results.append((y, D.backward(x, saved)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
