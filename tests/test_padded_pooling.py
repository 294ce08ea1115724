"""Padded and ceil-mode pooling (max and average) against PyTorch in float64.

PyTorch's ``max_pool2d`` / ``avg_pool2d`` and their autograd gradients are the
reference for symmetric padding; asymmetric padding (``"same"``,
``((top, bottom), (left, right))``), which PyTorch's pooling does not take, is
checked against PyTorch on an input padded by ``F.pad`` (``-inf`` for the
maximum, zeros for the average) and against the loops of
:mod:`pyx_cnn.reference`.
"""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, _avg_pool, _max_pool, fusion, layers, reference
from pyx_cnn._geometry import resolve_padding
from pyx_cnn.ops import avg_pool, max_pool

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread():
    """PyTorch on tiny arrays: one thread (its thread pool costs more than the work)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def nchw(a):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float64).transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_pools(x, g, size, stride, padding, ceil_mode):
    """PyTorch's max, avg (count_include_pad True, False) outputs and input gradients."""
    results = []
    for fn, extra in ((F.max_pool2d, {}), (F.avg_pool2d, {"count_include_pad": True}),
                      (F.avg_pool2d, {"count_include_pad": False})):
        xt = nchw(x).requires_grad_(True)
        yt = fn(xt, size, stride, padding, ceil_mode=ceil_mode, **extra)
        yt.backward(nchw(g))
        results.append((nhwc(yt), nhwc(xt.grad)))
    return results


def geometries():
    """(H, W, size, stride, padding, ceil_mode) that PyTorch accepts, odd sizes included."""
    for h, w in ((5, 7), (6, 4), (2, 3)):
        for size in range(1, 5):
            for stride in range(1, 4):
                for ph in range(size // 2 + 1):
                    for ceil_mode in (False, True):
                        pw = size // 2 - ph     # int paddings and unequal pairs
                        for padding in {ph, (ph, pw)}:
                            yield h, w, size, stride, padding, ceil_mode


def test_ops_match_torch_over_many_geometries():
    checked = 0
    for h, w, size, stride, padding, ceil_mode in geometries():
        try:
            F.max_pool2d(torch.zeros(1, 1, h, w), size, stride, padding, ceil_mode=ceil_mode)
        except RuntimeError:   # PyTorch's own refusals: no window fits
            with pytest.raises(ValueError):
                pyx_cnn.pooling(np.zeros((h, w)), size, stride, padding, ceil_mode)
            continue
        n, c = (1, 3) if checked % 2 else (2, 9)      # batch 1 and > 1, SIMD and scalar channels
        x = RNG.standard_normal((n, h, w, c))
        out, saved = max_pool.forward(x, size, stride, padding, ceil_mode)
        g = RNG.standard_normal(out.shape)
        (tmax, tgmax), (tinc, tginc), (texc, tgexc) = torch_pools(x, g, size, stride, padding,
                                                                  ceil_mode)
        where = f"H={h} W={w} size={size} stride={stride} padding={padding} ceil={ceil_mode}"
        np.testing.assert_array_equal(out, tmax, err_msg=where)
        np.testing.assert_array_equal(max_pool.forward_infer(x, size, stride, padding,
                                                             ceil_mode), tmax, err_msg=where)
        np.testing.assert_allclose(max_pool.backward(g, saved), tgmax, rtol=1e-13,
                                   atol=1e-13, err_msg=where)
        for include, ty, tg in ((True, tinc, tginc), (False, texc, tgexc)):
            y, saved = avg_pool.forward(x, size, stride, padding, ceil_mode, include)
            np.testing.assert_allclose(y, ty, rtol=1e-13, atol=1e-13, err_msg=where)
            np.testing.assert_allclose(avg_pool.backward(g, saved), tg, rtol=1e-13,
                                       atol=1e-13, err_msg=where)
        checked += 1
    assert checked > 150


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_match_torch(dtype):
    # the ResNet stem's pooling, and odd maps in ceil mode where the divisor leaves
    # out the ceil-mode overhang past the padding; functional API and op gradients
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for shape, size, stride, padding, ceil_mode in [((2, 9, 9, 16), 3, 2, 1, False),
                                                    ((1, 7, 5, 5), 3, 2, 1, True),
                                                    ((3, 5, 5, 8), 2, 2, 1, True),
                                                    ((1, 6, 7, 3), 4, 3, (2, 1), True)]:
        x = RNG.standard_normal(shape).astype(dtype)
        out = pyx_cnn.pooling(x, size, stride, padding, ceil_mode)
        g = RNG.standard_normal(out.shape).astype(dtype)
        (tmax, tgmax), (tinc, tginc), (texc, tgexc) = torch_pools(x, g, size, stride, padding,
                                                                  ceil_mode)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, tmax)
        _, saved = max_pool.forward(x, size, stride, padding, ceil_mode)
        np.testing.assert_allclose(max_pool.backward(g, saved), tgmax, rtol=tol, atol=tol)
        for include, ty, tg in ((True, tinc, tginc), (False, texc, tgexc)):
            got = pyx_cnn.avg_pooling(x, size, stride, padding, ceil_mode, include)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, ty, rtol=tol, atol=tol)
            _, saved = avg_pool.forward(x, size, stride, padding, ceil_mode, include)
            np.testing.assert_allclose(avg_pool.backward(g, saved), tg, rtol=tol, atol=tol)


@pytest.mark.parametrize("layer", [layers.MaxPool2D(3, 2, padding=1, ceil_mode=True),
                                   layers.AvgPool2D(3, 2, padding="same", ceil_mode=True,
                                                    count_include_pad=False),
                                   layers.AvgPool2D(2, 1, padding=((1, 0), (0, 1)))])
def test_gradcheck_of_padded_pooling_layers(layer):
    layer.build((5, 4, 3), rng=0)
    assert pyx_cnn.gradcheck(layer, RNG.standard_normal((2, 5, 4, 3)), training=True)


def test_ceil_mode_divisor_on_odd_sizes_by_hand():
    # H = W = 5, size 2, stride 2, padding 1, ceil mode: outputs 3 (the fourth window
    # would start in the padding); the last window covers input row 4 and padded
    # row 5, so count_include_pad divides by 2 * 2 there, and by 1 * 1 without it
    x = np.arange(25.0).reshape(5, 5)
    out = pyx_cnn.avg_pooling(x, 2, 2, padding=1, ceil_mode=True)
    assert out.shape == (3, 3)
    assert out[0, 0] == 0 / 4 and out[2, 2] == (18 + 19 + 23 + 24) / 4
    # size 3, stride 2, no padding, H = 6: ceil mode adds a window over rows 4, 5
    # and one row past the input, which count_include_pad does not count
    x = np.ones((6, 6))
    out = pyx_cnn.avg_pooling(x, 3, 2, ceil_mode=True)
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out, np.ones((3, 3)))
    np.testing.assert_array_equal(
        out, nhwc(F.avg_pool2d(nchw(x[None, :, :, None]), 3, 2, ceil_mode=True))[0, :, :, 0])


@pytest.mark.parametrize("h,w,size,stride", [(7, 8, 3, 2), (6, 6, 2, 2), (5, 9, 4, 3),
                                             (4, 4, 3, 1)])
def test_same_and_asymmetric_padding_match_torch_on_a_padded_input(h, w, size, stride):
    x = RNG.standard_normal((2, h, w, 4))
    pads = resolve_padding("same", (h, w), (size, size), (stride, stride))
    (top, bottom), (left, right) = pads
    for padding in ("same", pads):
        out, saved = max_pool.forward(x, size, stride, padding)
        assert out.shape == (2, -(-h // stride), -(-w // stride), 4)
        g = RNG.standard_normal(out.shape)
        xt = nchw(x).requires_grad_(True)
        yt = F.max_pool2d(F.pad(xt, (left, right, top, bottom), value=-np.inf), size, stride)
        yt.backward(nchw(g))
        np.testing.assert_array_equal(out, nhwc(yt))
        np.testing.assert_allclose(max_pool.backward(g, saved), nhwc(xt.grad), rtol=1e-13)
        for include in (True, False):
            y, saved = avg_pool.forward(x, size, stride, padding, False, include)
            xt = nchw(x).requires_grad_(True)
            padded = F.pad(xt, (left, right, top, bottom))
            yt = F.avg_pool2d(padded, size, stride)
            if not include:   # the sum over the count of input values
                yt = yt / F.avg_pool2d(F.pad(torch.ones_like(xt), (left, right, top, bottom)),
                                       size, stride)
            yt.backward(nchw(g))
            np.testing.assert_allclose(y, nhwc(yt), rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(avg_pool.backward(g, saved), nhwc(xt.grad), rtol=1e-12,
                                       atol=1e-13)
    # "valid" is no padding
    np.testing.assert_array_equal(pyx_cnn.pooling(x, size, stride, "valid"),
                                  pyx_cnn.pooling(x, size, stride))


def test_reference_loops_match_torch():
    x = RNG.standard_normal((2, 5, 6, 2))
    for size, stride, padding, ceil_mode in [(3, 2, 1, True), (2, 2, 1, False), (4, 3, (2, 1),
                                                                                 True)]:
        out = reference.pooling(x, size, stride, padding, ceil_mode)
        g = RNG.standard_normal(out.shape)
        (tmax, tgmax), (tinc, tginc), (texc, tgexc) = torch_pools(x, g, size, stride, padding,
                                                                  ceil_mode)
        np.testing.assert_array_equal(out, tmax)
        np.testing.assert_allclose(reference.pooling_backward(x, g, size, stride, padding,
                                                              ceil_mode), tgmax, rtol=1e-13)
        for include, ty, tg in ((True, tinc, tginc), (False, texc, tgexc)):
            args = (size, stride, padding, ceil_mode, include)
            np.testing.assert_allclose(reference.avg_pooling(x, *args), ty, rtol=1e-13)
            np.testing.assert_allclose(reference.avg_pooling_backward(x, g, *args), tg,
                                       rtol=1e-13, atol=1e-15)


def test_asymmetric_padding_and_nan_match_the_reference_loops():
    x = RNG.standard_normal((2, 7, 6, 5))
    x[0, 0, 0, 0] = np.nan          # a corner window (reaching into the padding)
    x[1, 6, 5, 1] = np.nan          # the last row and column, in a ceil-mode window
    x[1, 3, 2, 2] = x[1, 3, 3, 2] = np.nan   # two NaNs in one window: the first gets it
    x[0, 2, 2, 3] = x[0, 2, 3, 3] = 5.0      # a tie: the first maximum gets the gradient
    pads = ((1, 0), (0, 1))
    for size, stride, ceil_mode in ((2, 2, True), (3, 2, False), (3, 1, True)):
        out, saved = max_pool.forward(x, size, stride, pads, ceil_mode)
        ref = reference.pooling(x, size, stride, pads, ceil_mode)
        np.testing.assert_array_equal(out, ref)     # NaN in the same places
        np.testing.assert_array_equal(max_pool.forward_infer(x, size, stride, pads, ceil_mode),
                                      ref)
        assert np.isnan(out[0, 0, 0, 0])
        g = RNG.standard_normal(out.shape)
        np.testing.assert_allclose(max_pool.backward(g, saved),
                                   reference.pooling_backward(x, g, size, stride, pads,
                                                              ceil_mode), rtol=1e-14)
        for include in (True, False):
            y, saved = avg_pool.forward(x, size, stride, pads, ceil_mode, include)
            args = (size, stride, pads, ceil_mode, include)
            np.testing.assert_allclose(y, reference.avg_pooling(x, *args), rtol=1e-13)
            np.testing.assert_allclose(avg_pool.backward(g, saved),
                                       reference.avg_pooling_backward(x, g, *args), rtol=1e-13)


def test_one_and_two_threads_give_the_same_bits():
    x = RNG.standard_normal((6, 17, 15, 12)).astype(np.float32)
    results = []
    try:
        for threads in (1, 2):
            pyx_cnn.set_num_threads(threads)
            run = []
            for padding, ceil_mode in ((1, True), ("same", False), (((0, 1), (1, 0)), True)):
                y, saved = max_pool.forward(x, 3, 2, padding, ceil_mode)
                g = np.ones_like(y)
                run += [y, max_pool.backward(g, saved),
                        max_pool.forward_infer(x, 3, 2, padding, ceil_mode)]
                for include in (True, False):
                    y, saved = avg_pool.forward(x, 3, 2, padding, ceil_mode, include)
                    run += [y, avg_pool.backward(g, saved)]
            results.append(run)
    finally:
        pyx_cnn.set_num_threads(None)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def stem_network(fuse_padding=1, seed=0):
    return NeuralNetwork([
        layers.Conv2D(4, 3, padding=1), layers.ReLU(),
        layers.MaxPool2D(3, 2, padding=fuse_padding),
        layers.AvgPool2D(2, 2, padding=1, ceil_mode=True, count_include_pad=False),
        layers.Flatten(), layers.Dense(5, activation="softmax"),
    ], input_shape=(9, 9, 2), seed=seed)


def test_network_sgd_step_matches_torch():
    # conv -> ReLU -> MaxPool2D(3, 2, padding=1) (ResNet's stem, ReLU fused into the
    # pooling) -> AvgPool2D(2, 2, padding=1, ceil_mode=True, count_include_pad=False)
    net = stem_network()
    conv, dense = net.layers[0], net.layers[5]
    assert net.layers[2].output_shape == (5, 5, 4) and net.layers[3].output_shape == (3, 3, 4)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, 1),
        torch.nn.AvgPool2d(2, 2, 1, ceil_mode=True, count_include_pad=False),
        torch.nn.Flatten(), torch.nn.Linear(36, 5)).double()

    def dense_rows(w):  # (y*W + x)*C + c  ->  c*H*W + y*W + x
        return w.reshape(3, 3, 4, 5).transpose(2, 0, 1, 3).reshape(36, 5)

    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(conv.params["W"].transpose(0, 3, 1, 2).copy()))
        model[0].bias.copy_(torch.from_numpy(conv.params["b"].copy()))
        model[5].weight.copy_(torch.from_numpy(dense_rows(dense.params["W"]).T.copy()))
        model[5].bias.copy_(torch.from_numpy(dense.params["b"].copy()))
    x = RNG.standard_normal((8, 9, 9, 2))
    y = np.arange(8) % 5
    loss = F.cross_entropy(model(nchw(x)), torch.from_numpy(y))
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for fuse in (True, False):
        trained = stem_network()
        trained.fit(x, y, epochs=1, batch_size=8, learning_rate=0.1, shuffle=False, fuse=fuse)
        np.testing.assert_allclose(trained.layers[0].params["W"],
                                   model[0].weight.detach().numpy().transpose(0, 2, 3, 1),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dense_rows(trained.layers[5].params["W"]).T,
                                   model[5].weight.detach().numpy(), rtol=1e-10, atol=1e-12)
        with torch.no_grad():
            expected = torch.softmax(model(nchw(x)), dim=1).numpy()
        np.testing.assert_allclose(trained.predict(x), expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(trained.predict(x, fuse=False), expected, rtol=1e-10,
                                   atol=1e-12)


def test_relu_fused_into_padded_max_pool_on_negative_edges():
    # all-negative values at the borders: the fused kernel's max(0, window) must not
    # let the padding in; fused and unfused passes agree with ReLU-then-pool by hand
    pool = layers.MaxPool2D(3, 2, padding=1, ceil_mode=True)
    pool.build((6, 7, 3))
    x = RNG.standard_normal((2, 6, 7, 3)) - 1.0
    x[:, 2:4, 2:5] += 3.0
    expected = reference.pooling(np.maximum(x, 0), 3, 2, 1, True)
    # at inference (nothing recorded: maxima, then ReLU on them) and for training
    np.testing.assert_array_equal(fusion.relu_into_max_pool_forward(pool, x), expected)
    with pytest.raises(RuntimeError, match="training=True"):
        fusion.relu_into_max_pool_backward(pool, expected)
    out = fusion.relu_into_max_pool_forward(pool, x, training=True)
    np.testing.assert_array_equal(out, expected)
    g = RNG.standard_normal(out.shape)
    xt = nchw(x).requires_grad_(True)
    F.max_pool2d(F.relu(xt), 3, 2, 1, ceil_mode=True).backward(nchw(g))
    np.testing.assert_allclose(fusion.relu_into_max_pool_backward(pool, g),
                               nhwc(xt.grad), rtol=1e-14)


def test_layer_config_and_save_load_round_trip(tmp_path):
    for layer in (layers.MaxPool2D(3, 2, padding=1, ceil_mode=True),
                  layers.MaxPool2D(2, 2, padding="same"),
                  layers.AvgPool2D(3, 1, padding=((1, 0), (0, 1)), count_include_pad=False),
                  layers.AvgPool2D(2, 3, padding=(1, 0), ceil_mode=True)):
        config = layer.get_config()
        again = type(layer)(**config)
        assert again.get_config() == config
        assert "padding=" in repr(layer)
    assert layers.AvgPool2D().get_config() == {"size": 2, "stride": 2, "padding": (0, 0),
                                               "ceil_mode": False, "count_include_pad": True}
    net = NeuralNetwork([layers.MaxPool2D(3, 2, padding="same", ceil_mode=True),
                         layers.AvgPool2D(3, 2, padding=((1, 0), (0, 1)), ceil_mode=True,
                                          count_include_pad=False),
                         layers.Flatten(), layers.Dense(3)], input_shape=(9, 8, 2), seed=0)
    x = RNG.standard_normal((4, 9, 8, 2))
    net.save(tmp_path / "pools.npz")
    loaded = NeuralNetwork.load(tmp_path / "pools.npz")
    for a, b in zip(loaded.layers, net.layers):
        assert a.get_config() == b.get_config()
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_dask_pooling_with_padding_equals_in_memory():
    pda = pytest.importorskip("pyx_cnn.dask_arrays")
    da = pytest.importorskip("dask.array")
    x = RNG.standard_normal((3, 13, 11, 4))
    lazy = da.from_array(x, chunks=(2, 5, 4, 4))       # tiles along H and W
    cases = [("pooling", (3, 2, 1, False), {}), ("pooling", (3, 2, "same", False), {}),
             ("pooling", (3, 2, 1, True), {}), ("pooling", (3, 2, ((1, 0), (0, 1)), False), {}),
             ("avg_pooling", (3, 1, ((1, 0), (0, 1)), False), {}),
             ("avg_pooling", (3, 2, 1, False), {}),
             ("avg_pooling", (3, 2, 1, False), {"count_include_pad": False}),
             ("avg_pooling", (2, 2, ((1, 0), (0, 1)), True), {})]
    for name, args, kwargs in cases:
        expected = getattr(pyx_cnn, name)(x, *args, **kwargs)
        got = getattr(pda, name)(lazy, *args, **kwargs)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.compute(scheduler="sync"), expected, rtol=1e-14,
                                   atol=1e-15)
    img = da.from_array(x[0, :, :, 0], chunks=(6, 6))       # 2-D, ceil mode: one chunk
    np.testing.assert_array_equal(pda.pooling(img, 3, 2, 1, True).compute(scheduler="sync"),
                                  pyx_cnn.pooling(x[0, :, :, 0], 3, 2, 1, True))


@pytest.mark.parametrize("call, error, words", [
    (lambda: pyx_cnn.pooling(np.zeros((6, 6)), 2, 2, padding=2), ValueError, "padding"),
    (lambda: pyx_cnn.avg_pooling(np.zeros((6, 6)), 3, 2, padding=(1, 2)), ValueError,
     "padding"),
    (lambda: pyx_cnn.pooling(np.zeros((6, 6)), 2, 2, padding=-1), ValueError, "padding"),
    (lambda: pyx_cnn.pooling(np.zeros((6, 6)), 2, 2, padding="full"), ValueError, "padding"),
    (lambda: pyx_cnn.pooling(np.zeros((6, 6)), 2, 2, padding=1.5), TypeError, "padding"),
    (lambda: pyx_cnn.pooling(np.zeros((6, 6)), 2, 2, ceil_mode="yes"), TypeError,
     "ceil_mode"),
    (lambda: pyx_cnn.avg_pooling(np.zeros((6, 6)), count_include_pad=1), TypeError,
     "count_include_pad"),
    (lambda: pyx_cnn.pooling(np.zeros((1, 1)), 4, 2, padding=1), ValueError, "larger"),
    (lambda: layers.MaxPool2D(3, padding=2), ValueError, "MaxPool2D padding"),
    (lambda: layers.AvgPool2D(2, padding=((0, 2), (0, 0))), ValueError, "AvgPool2D padding"),
    (lambda: layers.AvgPool2D(2, ceil_mode=None), TypeError, "ceil_mode"),
    (lambda: layers.AvgPool2D(2, count_include_pad="no"), TypeError, "count_include_pad"),
    (lambda: layers.MaxPool2D(4, 2, padding=1).build((1, 1, 3)), ValueError, "larger"),
])
def test_bad_arguments_are_refused_with_their_name(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_kernels_refuse_windows_that_hold_no_value():
    x = np.zeros((1, 4, 4, 2))
    out = np.empty((1, 4, 2, 2))     # the fourth row of windows would start past the input
    with pytest.raises(ValueError, match="windows"):
        _max_pool._maxpool2d_forward(x, out, 2, 2, 1, ((1, 1), (0, 0)))
    with pytest.raises(ValueError, match="windows"):
        _avg_pool._avgpool2d_forward(x, np.empty((1, 2, 2, 2)), 2, 2, 1,
                                             ((2, 0), (0, 0)), True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size, stride, padding, ceil_mode", [(2, 2, 0, False), (3, 2, 1, True),
                                                             (3, 1, 0, False)])
def test_relu_fused_into_max_pool_at_inference_matches_training(dtype, size, stride, padding,
                                                                ceil_mode):
    # inference takes the maxima without recording them, then ReLU: the same values as
    # the training pass (NaN windows stay NaN, a window of -0.0 and negatives gives +0.0)
    pool = layers.MaxPool2D(size, stride, padding=padding, ceil_mode=ceil_mode)
    pool.build((9, 8, 5))
    x = RNG.standard_normal((3, 9, 8, 5)).astype(dtype)
    x[0, :4, :4] = -np.abs(x[0, :4, :4])
    x[0, :2, :2] = -0.0
    x[1, 3, 3, 1] = np.nan
    x[2, 5:, 5:, 2] = np.nan
    infer = fusion.relu_into_max_pool_forward(pool, x, training=False)
    train = fusion.relu_into_max_pool_forward(pool, x, training=True)
    np.testing.assert_array_equal(infer, train)
    assert not np.signbit(infer[~np.isnan(infer)]).any()     # (a NaN's sign may differ)
    assert np.isnan(infer).any() and infer.dtype == dtype
