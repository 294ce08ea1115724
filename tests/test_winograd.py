"""Winograd's F(2x2, 3x3) and F(4x4, 3x3) (pyx_cnn._winograd), against PyTorch in
float64, and where pyx_cnn.ops.conv runs them: 3x3 convolutions at strides 1 of many
channels on small maps, forward, input gradient and filter gradient."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import _threads, _winograd
from pyx_cnn.ops import conv as conv_op

torch = pytest.importorskip("torch")


def torch_conv(x, w, b, pads, grad_out=None):
    """PyTorch's output, channels-last (and the gradients of x, w, b for `grad_out`)."""
    xt = torch.tensor(np.asarray(x, np.float64).transpose(0, 3, 1, 2), requires_grad=True)
    wt = torch.tensor(np.asarray(w, np.float64).transpose(0, 3, 1, 2), requires_grad=True)
    bt = torch.tensor(np.asarray(b, np.float64), requires_grad=True)
    (top, bottom), (left, right) = pads
    out = torch.nn.functional.conv2d(
        torch.nn.functional.pad(xt, (left, right, top, bottom)), wt, bt)
    nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)
    if grad_out is None:
        return nhwc(out)
    out.backward(torch.tensor(np.asarray(grad_out, np.float64).transpose(0, 3, 1, 2)))
    return nhwc(out), nhwc(xt.grad), nhwc(wt.grad), bt.grad.numpy()


def _tol(dtype, c):
    return (dict(rtol=1e-10, atol=1e-10 * np.sqrt(c)) if dtype == np.float64
            else dict(rtol=1e-4, atol=2e-5 * np.sqrt(c)))


TILES = [2, 4]


@pytest.mark.parametrize("tile", TILES)
def test_the_matrices_give_the_correlation(tile):
    # A^T [(G g G^T) * (B^T d B)] A is the 'valid' correlation of the patch d with g
    bt, g, at = _winograd.matrices(tile)
    a = tile + 2
    assert bt.shape == (a, a) and g.shape == (a, 3) and at.shape == (tile, a)
    rng = np.random.default_rng(tile)
    for _ in range(5):
        d, w = rng.standard_normal((a, a)), rng.standard_normal((3, 3))
        want = np.array([[np.sum(d[i:i + 3, j:j + 3] * w) for j in range(tile)]
                         for i in range(tile)])
        got = at @ ((g @ w @ g.T) * (bt @ d @ bt.T)) @ at.T
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("flip", [False, True])
def test_filter_transform_is_g_g_gt(tile, flip):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3, 3, 4))
    g = _winograd.matrices(tile)[1]
    a = tile + 2
    w_read = w[:, ::-1, ::-1, :] if flip else w
    want = np.einsum("ai,fijc,bj->fabc", g, w_read, g).reshape(5, a * a, 4)
    for threads in (1, 2):
        np.testing.assert_allclose(_winograd.filter_transform(w, np.float64, tile, flip,
                                                              threads), want, rtol=1e-14,
                                   atol=1e-15)
    with pytest.raises(ValueError, match="tile must be 2 or 4"):
        _winograd.filter_transform(w, np.float64, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, h, w, c, f, pads, clamp_max", [
    (3, 4, 4, 8, 6, ((1, 1), (1, 1)), None),
    (2, 5, 7, 5, 9, ((1, 1), (1, 1)), None),      # odd sizes: tiles cut at the edges
    (2, 6, 3, 3, 4, ((2, 0), (0, 2)), np.inf),    # uneven padding, ReLU
    (1, 9, 8, 16, 16, ((0, 0), (0, 0)), 0.5),     # 'valid', bounded ReLU
    (2, 1, 1, 4, 3, ((1, 1), (1, 1)), 6.0),       # one pixel
    (2, 10, 9, 6, 5, ((1, 1), (1, 1)), None),     # F(4x4, 3x3)'s tiles cut at the edges
])
@pytest.mark.parametrize("tile", TILES)
def test_conv3x3_matches_pytorch(n, h, w, c, f, pads, clamp_max, dtype, tile):
    rng = np.random.default_rng(h * w + c)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    filters = rng.standard_normal((f, 3, 3, c)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    xp = conv_op.pad(x, pads, dtype)
    want = torch_conv(x, filters, bias, pads)
    if clamp_max is not None:
        want = np.clip(want, 0, clamp_max)
    u = _winograd.filter_transform(filters, dtype, tile)
    outs = []
    try:
        for threads in (1, 2):
            out = np.full(want.shape, np.nan, dtype)
            with _threads._always_split():
                _winograd.conv3x3(xp, u, bias, out, clamp_max, threads, tile)
            np.testing.assert_allclose(out, want, **_tol(dtype, 9 * c))
            outs.append(out)
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_array_equal(outs[0], outs[1])   # the same bits on two threads
    with pytest.raises(ValueError, match="does not give"):
        _winograd.conv3x3(xp, u, bias, np.empty((n, xp.shape[1] - 1, xp.shape[2] - 2, f),
                                                dtype), None, 1, tile)
    with pytest.raises(ValueError, match="does not give"):     # the other tile's filters
        _winograd.conv3x3(xp, u, bias, out, None, 1, 6 - tile)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("h, w, c, f, pads, tile", [
    (4, 4, 128, 160, ((1, 1), (1, 1)), 4),
    (5, 3, 144, 128, ((2, 0), (1, 2)), 4),
    (16, 16, 128, 128, ((1, 1), (1, 1)), 4),
    (2, 2, 128, 128, ((1, 1), (1, 1)), 2),
    (5, 5, 128, 136, ((1, 1), (1, 1)), 2),
])
def test_conv_runs_winograd_on_small_maps_of_many_channels(h, w, c, f, pads, tile, dtype):
    # training: the forward pass, the input gradient and the filter gradient run as
    # Winograd's, on the tiles of _winograd_tile; the values of PyTorch, and the
    # inference pass the same bits
    ho, wo = h + sum(pads[0]) - 2, w + sum(pads[1]) - 2
    assert conv_op._winograd_shape(c, f, 3, 3, (1, 1), (1, 1), 1, ho, wo)
    assert conv_op._winograd_tile(ho, wo) == conv_op._winograd_tile(h, w) == tile
    rng = np.random.default_rng(c + f + h)
    x = rng.standard_normal((3, h, w, c)).astype(dtype)
    filters = (rng.standard_normal((f, 3, 3, c)) / np.sqrt(9 * c)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    out, saved = conv_op.forward(x, filters, bias, (1, 1), pads, (1, 1))
    # Winograd's own values (not only values close to PyTorch's)
    mine = np.empty_like(out)
    _winograd.conv3x3(conv_op.pad(x, pads, dtype),
                      _winograd.filter_transform(filters, dtype, tile), bias, mine, None,
                      pyx_cnn.get_num_threads(), tile)
    np.testing.assert_array_equal(out, mine)
    g = rng.standard_normal(out.shape).astype(dtype)
    expected = torch_conv(x, filters, bias, pads, g)
    got = (out,) + conv_op.backward(g, saved)
    # the input and filter gradients: Winograd's own values too
    (top, bottom), (left, right) = pads
    mine = np.empty_like(x)
    _winograd.conv3x3(conv_op.pad(g, ((2 - top, 2 - bottom), (2 - left, 2 - right)), dtype),
                      _winograd.filter_transform(filters, dtype, tile, True), np.zeros(c, dtype),
                      mine, None, pyx_cnn.get_num_threads(), tile, True)
    np.testing.assert_array_equal(got[1], mine)
    mine = np.empty_like(filters)
    _winograd.filter_grad3x3(conv_op.pad(x, pads, dtype), g, mine, pyx_cnn.get_num_threads(),
                             tile)
    np.testing.assert_array_equal(got[2], mine)
    for mine, theirs in zip(got, expected):
        np.testing.assert_allclose(mine, theirs, **_tol(dtype, 9 * max(c, f)))
    inference = conv_op.forward(x, filters, bias, (1, 1), pads, (1, 1), training=False)[0]
    np.testing.assert_array_equal(inference, out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, h, w, c, f", [(3, 4, 4, 8, 6), (2, 5, 7, 5, 9), (2, 1, 1, 4, 3),
                                           (2, 10, 9, 6, 5)])
@pytest.mark.parametrize("tile", TILES)
def test_conv3x3_flipped_is_the_input_gradient(n, h, w, c, f, dtype, tile):
    # `flipped` reads the transform of the flipped filters in their own layout: the
    # convolution of the output's gradient, padded by 2, with the filters flipped and
    # their axes swapped
    rng = np.random.default_rng(h * w + f)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    filters = rng.standard_normal((f, 3, 3, c)).astype(dtype)
    pads = ((1, 1), (1, 1))
    g = rng.standard_normal((n, h, w, f)).astype(dtype)
    want = torch_conv(x, filters, np.zeros(f), pads, g)[1]
    gp = conv_op.pad(g, pads, dtype)
    u = _winograd.filter_transform(filters, dtype, tile, True)
    swapped = _winograd.filter_transform(
        np.ascontiguousarray(filters[:, ::-1, ::-1, :].transpose(3, 1, 2, 0)), dtype, tile)
    grads = []
    try:
        for threads in (1, 2):
            got = np.full(x.shape, np.nan, dtype)
            with _threads._always_split():
                _winograd.conv3x3(gp, u, np.zeros(c, dtype), got, None, threads, tile, True)
            np.testing.assert_allclose(got, want, **_tol(dtype, 9 * f))
            grads.append(got)
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_array_equal(grads[0], grads[1])
    # the transform of the flipped filters themselves: the same convolution
    by_flipping = np.empty_like(x)
    _winograd.conv3x3(gp, swapped, np.zeros(c, dtype), by_flipping, None, 1, tile)
    np.testing.assert_allclose(grads[0], by_flipping, **_tol(dtype, 9 * f))
    with pytest.raises(ValueError, match="does not give"):
        _winograd.conv3x3(gp, u, np.zeros(c, dtype), np.empty((n, h, w, f), dtype), None, 1,
                          tile, True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, h, w, c, f, pads", [
    (3, 4, 4, 8, 6, ((1, 1), (1, 1))),
    (2, 5, 7, 5, 9, ((1, 1), (1, 1))),      # odd sizes: tiles cut at the edges
    (2, 6, 3, 3, 4, ((2, 0), (0, 2))),      # uneven padding
    (1, 9, 8, 16, 16, ((0, 0), (0, 0))),    # 'valid'
    (2, 1, 1, 4, 3, ((1, 1), (1, 1))),      # one pixel
    (2, 10, 9, 6, 5, ((1, 1), (1, 1))),     # F(4x4, 3x3)'s tiles cut at the edges
])
@pytest.mark.parametrize("tile", TILES)
def test_filter_grad3x3_matches_pytorch(n, h, w, c, f, pads, dtype, tile):
    rng = np.random.default_rng(h * w + c + 1)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    filters = rng.standard_normal((f, 3, 3, c)).astype(dtype)
    xp = conv_op.pad(x, pads, dtype)
    g = rng.standard_normal((n, xp.shape[1] - 2, xp.shape[2] - 2, f)).astype(dtype)
    want = torch_conv(x, filters, np.zeros(f), pads, g)[2]
    grads = []
    try:
        for threads in (1, 2):
            got = np.full(filters.shape, np.nan, dtype)
            with _threads._always_split():
                _winograd.filter_grad3x3(xp, g, got, threads, tile)
            np.testing.assert_allclose(got, want, **_tol(dtype, n * g.shape[1] * g.shape[2]))
            grads.append(got)
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_array_equal(grads[0], grads[1])   # the same bits on two threads
    with pytest.raises(ValueError, match="does not give"):
        _winograd.filter_grad3x3(xp, g, np.empty((f, 3, 3, c + 1), dtype), 1, tile)


@pytest.mark.parametrize("tile", TILES)
def test_a_batch_runs_in_runs_of_images(tile, monkeypatch):
    # with room for one image at a time, each run of images takes its own transforms
    # and products (the filter gradient adds the runs' sums): PyTorch's values
    rng = np.random.default_rng(5)
    n, h, w, c, f = 5, 6, 7, 8, 9
    x = rng.standard_normal((n, h, w, c))
    filters = rng.standard_normal((f, 3, 3, c))
    pads = ((1, 1), (1, 1))
    xp = conv_op.pad(x, pads, np.float64)
    g = rng.standard_normal((n, h, w, f))
    want_out, _, want_gw, _ = torch_conv(x, filters, np.zeros(f), pads, g)
    assert len(_winograd._image_runs(n, 1 << 40)) == n     # one image a run
    # but runs of at least _RUN_MIN_TILES tiles where the images' tiles are given
    assert _winograd._image_runs(64, 1 << 40, 16) == [(k, k + 16) for k in range(0, 64, 16)]
    assert _winograd._image_runs(64, 1, 16) == [(0, 64)]
    monkeypatch.setattr(_winograd, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(_winograd, "_RUN_MIN_TILES", 0)
    out = np.full((n, h, w, f), np.nan)
    _winograd.conv3x3(xp, _winograd.filter_transform(filters, np.float64, tile), np.zeros(f),
                      out, None, 2, tile)
    gw = np.full(filters.shape, np.nan)
    _winograd.filter_grad3x3(xp, g, gw, 2, tile)
    np.testing.assert_allclose(out, want_out, **_tol(np.float64, 9 * c))
    np.testing.assert_allclose(gw, want_gw, **_tol(np.float64, n * h * w))
    assert _winograd._image_runs(7, 3) == [(k, k + 1) for k in range(7)]
    assert _winograd._image_runs(0, 3) == [(0, 0)]


@pytest.mark.parametrize("where", ["grad", "input"])
def test_winograd_filter_gradient_leaves_non_finite_values_to_blas(where):
    # as the forward pass: an inf in the input or the output's gradient takes BLAS's
    # sums (the values of PyTorch, inf and NaN in the same places)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 4, 128))
    filters = rng.standard_normal((128, 3, 3, 128)) / 30
    pads = ((1, 1), (1, 1))
    out, saved = conv_op.forward(x, filters, np.zeros(128), (1, 1), pads, (1, 1))
    g = rng.standard_normal(out.shape)
    if where == "grad":
        g[1, 2, 3, 4] = np.inf
    else:
        saved[0][0, 2, 3, 7] = np.inf     # the padded input the backward pass reads
        x[0, 1, 2, 7] = np.inf
    grad_filters = conv_op.backward(g, saved)[1]
    want = torch_conv(x, filters, np.zeros(128), pads, g)[2]
    np.testing.assert_array_equal(np.isnan(grad_filters), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(grad_filters), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(grad_filters[finite], want[finite], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("where", ["filters", "input"])
def test_winograd_leaves_non_finite_values_to_the_direct_sums(where):
    # an inf in a patch would turn into NaN through the transforms where the direct
    # sums give inf: such convolutions take the other kernels (the values of
    # PyTorch, inf and NaN in the same places)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 4, 128))
    filters = rng.standard_normal((128, 3, 3, 128)) / 30
    bias = np.zeros(128)
    if where == "filters":
        filters[3, 1, 1, 5] = np.inf
    else:
        x[0, 1, 2, 7] = np.inf
    pads = ((1, 1), (1, 1))
    out, saved = conv_op.forward(x, filters, bias, (1, 1), pads, (1, 1))
    g = rng.standard_normal(out.shape)
    want, want_gx, _, _ = torch_conv(x, filters, bias, pads, g)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    # the backward pass too: the input gradient of an inf among the filters on BLAS
    with np.errstate(invalid="ignore"):
        grad_x = conv_op.backward(g, saved)[0]
    np.testing.assert_array_equal(np.isnan(grad_x), np.isnan(want_gx))
    np.testing.assert_allclose(grad_x, want_gx, rtol=1e-10, atol=1e-10)


def test_shapes_outside_the_rule_take_the_other_kernels():
    for args in [(64, 128, 3, 3, (1, 1), (1, 1), 1, 4, 4),       # too few channels
                 (128, 128, 3, 3, (2, 2), (1, 1), 1, 4, 4),      # strides 2
                 (128, 128, 3, 3, (1, 1), (2, 2), 1, 4, 4),      # dilated
                 (128, 128, 5, 5, (1, 1), (1, 1), 1, 4, 4),      # 5x5
                 (128, 128, 3, 3, (1, 1), (1, 1), 2, 4, 4),      # two groups
                 (128, 128, 3, 3, (1, 1), (1, 1), 1, 64, 32)]:   # a wide map
        assert not conv_op._winograd_shape(*args)


@pytest.mark.parametrize("ho, wo, tile", [(1, 1, 2), (2, 2, 2), (3, 3, 4), (4, 4, 4), (5, 5, 2),
                                          (8, 8, 4), (2, 8, 2), (16, 16, 4), (7, 7, 4)])
def test_winograd_tile_computes_fewer_points(ho, wo, tile):
    # the tiles past the edge count whole: F(4x4, 3x3) where it computes fewer of
    # its 36 points per tile than F(2x2, 3x3) of its 16 (a tie goes to F(2x2, 3x3))
    assert conv_op._winograd_tile(ho, wo) == tile
