"""Grouped and depthwise convolution, and asymmetric padding: Conv2D(groups=...),
DepthwiseConv2D, pyx_cnn.conv(groups=...), against PyTorch in float64 and the
plain loops of pyx_cnn.reference."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import NeuralNetwork, _threads, layers, reference
from pyx_cnn._geometry import resolve_padding
from pyx_cnn.ops import conv as conv_op

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _nchw(a):
    return torch.tensor(np.ascontiguousarray(np.asarray(a, np.float64).transpose(0, 3, 1, 2)),
                        requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_conv(x, w, b, stride, pads, dilation, groups, grad_out=None):
    """PyTorch's output (and gradients of x, w, b for `grad_out`), channels-last,
    the padding ``((top, bottom), (left, right))`` added by F.pad."""
    xt, wt = _nchw(x), _nchw(w)
    bt = torch.tensor(np.asarray(b, np.float64), requires_grad=True)
    (top, bottom), (left, right) = pads
    out = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt, stride, 0, dilation, groups)
    if grad_out is None:
        return _nhwc(out)
    out.backward(_nchw(grad_out).detach())
    return _nhwc(out), _nhwc(xt.grad), _nhwc(wt.grad), bt.grad.numpy()


def _tol(dtype):
    return dict(rtol=1e-9, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-4)


# (N, H, W, C, groups or "dw", F or multiplier, kernel, stride, padding, dilation)
GEOMETRIES = [
    (2, 7, 9, 4, 2, 6, 3, 1, 1, 1),
    (1, 8, 8, 6, 3, 3, (2, 3), (2, 1), "same", 1),
    (3, 9, 7, 8, 2, 4, 3, 2, ((0, 2), (1, 0)), (1, 2)),
    (2, 6, 5, 4, 4, 8, 1, 1, "valid", 1),
    (2, 7, 9, 16, "dw", 1, 3, 1, 1, 1),
    (1, 11, 10, 20, "dw", 1, 3, 2, "same", 1),
    (2, 9, 9, 5, "dw", 2, 3, (1, 2), (2, 1), (2, 1)),
    (2, 8, 7, 7, "dw", 3, (3, 2), 1, ((2, 0), (0, 3)), 1),
    (1, 6, 6, 18, "dw", 1, 2, 1, 3, 1),          # padding past the kernel's extent
    (2, 5, 12, 12, "dw", 1, (1, 9), 1, (0, 4), 1),   # more taps than a block holds
    (3, 16, 16, 33, "dw", 1, 3, 2, 1, 1),
    (1, 5, 5, 2, "dw", 2, 3, 1, 1, 1),            # fewer channels than a register
    (2, 7, 6, 24, "dw", 1, 5, 3, ((4, 1), (2, 2)), 1),
    (1, 10, 3, 3, 1, 4, 3, 1, ((1, 2), (0, 1)), 1),  # groups=1, asymmetric padding
]


def _layer(c, groups, f_or_m, kernel, stride, padding, dilation):
    if groups == "dw":
        return layers.DepthwiseConv2D(kernel, stride=stride, padding=padding,
                                      depth_multiplier=f_or_m, dilation=dilation)
    return layers.Conv2D(f_or_m, kernel, stride=stride, padding=padding, dilation=dilation,
                         groups=groups)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_layer_forward_and_gradients_match_torch(geometry, dtype):
    n, h, w, c, groups, f_or_m, kernel, stride, padding, dilation = geometry
    rng = np.random.default_rng(0)
    layer = _layer(c, groups, f_or_m, kernel, stride, padding, dilation)
    layer.build((h, w, c), rng=1, dtype=dtype)
    layer.params["b"][...] = rng.standard_normal(layer.filters)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    out = layer.forward(x)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grad_x = layer.backward(grad_out)
    expected = torch_conv(x, layer.params["W"], layer.params["b"], layer._geometry[0],
                          layer.pads, layer._geometry[2], layer.groups, grad_out)
    assert layer.params["W"].shape == (layer.filters, *layer.kernel_size, c // layer.groups)
    for ours, theirs in zip((out, grad_x, layer.grads["W"], layer.grads["b"]), expected):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, theirs, **_tol(dtype))


def test_depthwise_layer_is_conv2d_with_groups_c():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 7, 5))
    dw = layers.DepthwiseConv2D(3, padding=1, depth_multiplier=2)
    dw.build((6, 7, 5), rng=0)
    full = layers.Conv2D(10, 3, padding=1, groups=5)
    full.build((6, 7, 5), rng=0)
    full.params["W"][...] = dw.params["W"]
    assert (dw.filters, dw.groups, dw.params["W"].shape) == (10, 5, (10, 3, 3, 1))
    np.testing.assert_array_equal(dw.forward(x), full.forward(x))
    # output channel c*m + j reads input channel c
    w = np.zeros((10, 3, 3, 1))
    w[7, 1, 1, 0] = 1.0                            # c = 3, j = 1
    dw.params["W"] = w
    out = dw.forward(x)
    np.testing.assert_array_equal(out[..., 7], x[..., 3])


@pytest.mark.parametrize("padding", [0, 2, (1, 0), "same", "valid", ((2, 0), (1, 3)),
                                     [[0, 1], [2, 0]]])
@pytest.mark.parametrize("groups,f", [(1, 4), (2, 4), (6, 6), (6, 12)])
def test_functional_conv_padding_forms_match_torch(padding, groups, f):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 8, 6))
    w = rng.standard_normal((f, 3, 2, 6 // groups))
    b = rng.standard_normal(f)
    out = pyx_cnn.conv(x, w, padding=padding, stride=(2, 1), bias=b, groups=groups)
    pads = resolve_padding(padding, (7, 8), (3, 2), (2, 1))
    expected = torch_conv(x, w, b, (2, 1), pads, 1, groups)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    # one image and a 3-D filter bank (one channel per group)
    one = pyx_cnn.conv(x[0], w[..., 0], padding=padding, stride=(2, 1), groups=6) \
        if groups == 6 else None
    if one is not None:
        np.testing.assert_allclose(one, torch_conv(x[:1], w[..., :1], np.zeros(f), (2, 1),
                                                   pads, 1, 6)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("groups,f", [(2, 4), (3, 3), (6, 12), (1, 2)])
def test_reference_loops_match_torch(groups, f):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 6, 6))
    w = rng.standard_normal((f, 2, 3, 6 // groups))
    b = rng.standard_normal(f)
    pads = ((1, 0), (2, 1))
    out = reference.conv(x, w, (2, 1), pads, b, (1, 2), groups=groups)
    grad_out = rng.standard_normal(out.shape)
    expected = torch_conv(x, w, b, (2, 1), pads, (1, 2), groups, grad_out)
    grads = reference.conv_backward(x, w, grad_out, (2, 1), pads, (1, 2), groups=groups)
    for ours, theirs in zip((out, *grads), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_ops_use_the_expected_kernels_and_agree_with_the_reference():
    rng = np.random.default_rng(5)
    for c, groups, f, dtype, route in [(8, 8, 8, np.float32, "depthwise"),
                                       (2, 2, 4, np.float32, "grouped"),
                                       (3, 3, 3, np.float64, "depthwise"),
                                       (6, 3, 6, np.float64, "grouped"),
                                       (6, 1, 6, np.float64, "direct")]:
        assert conv_op._route(c, groups, dtype) == route
        x = rng.standard_normal((2, 6, 5, c)).astype(dtype)
        w = rng.standard_normal((f, 3, 3, c // groups)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        pads = ((0, 1), (1, 1))
        out, saved = conv_op.forward(x, w, b, (1, 2), pads, (1, 1), groups)
        grad_out = rng.standard_normal(out.shape).astype(dtype)
        ours = (out, *conv_op.backward(grad_out, saved))
        theirs = (reference.conv(x, w, (1, 2), pads, b, groups=groups),
                  *reference.conv_backward(x, w, grad_out, (1, 2), pads, groups=groups))
        for a, r in zip(ours, theirs):
            np.testing.assert_allclose(a, r, **_tol(dtype))
        assert conv_op.backward(grad_out, saved, input_grad=False)[0] is None


def test_network_one_sgd_step_matches_torch():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 9, 8, 4))
    y = rng.integers(0, 3, 6)
    net = NeuralNetwork([
        layers.Conv2D(8, 3, padding=((1, 0), (0, 1)), groups=2), layers.ReLU(),
        layers.DepthwiseConv2D(3, stride=2, padding="same", depth_multiplier=2,
                               activation="relu"),
        layers.Conv2D(4, 1, groups=4),
        layers.Flatten(), layers.Dense(3, activation="softmax"),
    ], input_shape=(9, 8, 4), seed=0)
    c1, dw, c3, dense = net.layers[0], net.layers[2], net.layers[3], net.layers[5]
    dense_w = torch.tensor(dense.params["W"].reshape(4, 4, 4, 3).transpose(2, 0, 1, 3)
                           .reshape(64, 3).copy(), requires_grad=True)
    params = [_nchw(c1.params["W"]), torch.tensor(c1.params["b"], requires_grad=True),
              _nchw(dw.params["W"]), torch.tensor(dw.params["b"], requires_grad=True),
              _nchw(c3.params["W"]), torch.tensor(c3.params["b"], requires_grad=True),
              dense_w, torch.tensor(dense.params["b"], requires_grad=True)]
    w1, b1, w2, b2, w3, b3, wd, bd = params
    h = F.relu(F.conv2d(F.pad(_nchw(x).detach(), (0, 1, 1, 0)), w1, b1, groups=2))
    h = F.relu(F.conv2d(F.pad(h, (1, 1, 0, 1)), w2, b2, stride=2, groups=8))
    h = F.conv2d(h, w3, b3, groups=4)
    loss = F.cross_entropy(h.flatten(1) @ wd + bd, torch.tensor(y))
    loss.backward()
    net.fit(x, y, epochs=1, batch_size=6, learning_rate=0.1, shuffle=False)
    with torch.no_grad():
        for p in params:
            p -= 0.1 * p.grad
    for layer, (w, b) in zip((c1, dw, c3), ((w1, b1), (w2, b2), (w3, b3))):
        np.testing.assert_allclose(layer.params["W"], _nhwc(w), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.params["b"], b.detach().numpy(), rtol=1e-9,
                                   atol=1e-12)
    np.testing.assert_allclose(dense.params["W"].reshape(4, 4, 4, 3).transpose(2, 0, 1, 3)
                               .reshape(64, 3), wd.detach().numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("c,groups,stride,dtype", [(96, 96, 1, np.float32),
                                                   (20, 20, 2, np.float64),
                                                   (12, 4, 1, np.float32)])
def test_thread_counts_give_identical_bits(c, groups, stride, dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((9, 10, 11, c)).astype(dtype)
    w = rng.standard_normal((c, 3, 3, c // groups)).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    results = []
    try:
        for n in (1, 2):
            pyx_cnn.set_num_threads(n)
            with _threads._always_split():
                out, saved = conv_op.forward(x, w, b, (stride, stride), ((1, 1), (1, 1)),
                                             (1, 1), groups)
                results.append((out, *conv_op.backward(np.ones_like(out) * out, saved)))
    finally:
        pyx_cnn.set_num_threads(None)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_batch_norm_folds_into_grouped_and_depthwise_conv():
    rng = np.random.default_rng(8)
    net = NeuralNetwork([layers.DepthwiseConv2D(3, padding=1, depth_multiplier=2),
                         layers.BatchNormalization(), layers.ReLU(),
                         layers.Conv2D(6, 1, groups=3), layers.BatchNormalization(),
                         layers.Flatten(), layers.Dense(2)], input_shape=(5, 5, 3), seed=1)
    for bn in (net.layers[1], net.layers[4]):
        f = bn.params["gamma"].shape[0]
        bn.params["gamma"][...] = rng.uniform(0.5, 2.0, f)
        bn.params["beta"][...] = rng.standard_normal(f)
        bn.state["mean"][...] = rng.standard_normal(f)
        bn.state["var"][...] = rng.uniform(0.5, 2.0, f)
    x = rng.standard_normal((4, 5, 5, 3))
    np.testing.assert_allclose(net.predict(x), net.predict(x, fuse=False), rtol=1e-10,
                               atol=1e-12)


def test_depthwise_config_round_trip(tmp_path):
    net = NeuralNetwork([layers.DepthwiseConv2D((3, 2), stride=(2, 1), padding=((1, 0), (0, 1)),
                                                depth_multiplier=3, dilation=(1, 2)),
                         layers.Conv2D(6, 1, groups=3, use_bias=False), layers.Flatten(),
                         layers.Dense(2)], input_shape=(7, 8, 2), seed=2)
    config = net.layers[0].get_config()
    assert config == {"kernel_size": [3, 2], "stride": [2, 1], "padding": [[1, 0], [0, 1]],
                      "depth_multiplier": 3, "activation": None, "use_bias": True,
                      "dilation": [1, 2]}
    assert net.layers[1].get_config()["groups"] == 3
    net.save(tmp_path / "m.npz")
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    assert type(loaded.layers[0]) is layers.DepthwiseConv2D
    assert loaded.layers[1].groups == 3
    x = np.random.default_rng(0).standard_normal((3, 7, 8, 2))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    # equal sides are kept in the short forms
    assert layers.Conv2D(2, 3, padding=((1, 1), (2, 2))).padding == (1, 2)
    assert layers.Conv2D(2, 3, padding=((1, 1), (1, 1))).padding == 1


def test_dask_conv_passes_groups_and_asymmetric_padding():
    da = pytest.importorskip("dask.array")
    from pyx_cnn.dask_arrays import conv as dask_conv
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 12, 11, 8))
    w = rng.standard_normal((16, 3, 3, 1))
    pads = ((2, 0), (1, 1))
    expected = pyx_cnn.conv(x, w, padding=pads, groups=8, stride=2)
    for chunks in ((1, 12, 11, 8), (2, 5, 4, 8)):
        lazy = dask_conv(da.from_array(x, chunks=chunks), w, padding=pads,
                                        groups=8, stride=2)
        np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call,error,words", [
    (lambda x, w: pyx_cnn.conv(x, w[:, :, :, :3], groups=4), ValueError,
     ["groups=4", "C=6", "F=4"]),
    (lambda x, w: pyx_cnn.conv(x, w[:3, :, :, :3], groups=2), ValueError, ["groups=2", "F=3"]),
    (lambda x, w: pyx_cnn.conv(x, w, groups=0), ValueError, ["groups", ">= 1"]),
    (lambda x, w: pyx_cnn.conv(x, w, groups=1.5), TypeError, ["groups", "float"]),
    (lambda x, w: pyx_cnn.conv(x, w, groups=3), ValueError, ["channel", "groups=3"]),
    (lambda x, w: pyx_cnn.conv(x, w, padding=((1, 2), 1)), TypeError,
     ["padding", "(top, bottom)"]),
    (lambda x, w: pyx_cnn.conv(x, w, padding=((1, -2), (0, 0))), ValueError, ["padding"]),
    (lambda x, w: layers.Conv2D(6, 3, groups=4), ValueError, ["filters=6", "groups=4"]),
    (lambda x, w: layers.Conv2D(6, 3, groups="2"), TypeError, ["groups", "str"]),
    (lambda x, w: layers.DepthwiseConv2D(3, depth_multiplier=0), ValueError,
     ["depth_multiplier"]),
    (lambda x, w: layers.Conv2D(4, 3, groups=4).build((5, 5, 6)), ValueError,
     ["Conv2D", "C=6", "groups=4", "F=4"]),
])
def test_bad_arguments_are_refused_with_their_names(call, error, words):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 5, 5, 6))
    w = rng.standard_normal((4, 3, 3, 6))
    x_before, w_before = x.copy(), w.copy()
    with pytest.raises(error) as info:
        call(x, w)
    for word in words:
        assert word in str(info.value)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(w, w_before)


def test_grouped_filter_gradient_of_many_samples_matches_torch():
    # more samples than the filters' gradient keeps workspaces for: several per item
    rng = np.random.default_rng(11)
    x = rng.standard_normal((66, 48, 48, 4))
    w = rng.standard_normal((4, 3, 3, 2))
    b = np.zeros(4)
    out, saved = conv_op.forward(x, w, b, (1, 1), ((1, 1), (1, 1)), (1, 1), 2)
    grad_out = rng.standard_normal(out.shape)
    expected = torch_conv(x, w, b, (1, 1), ((1, 1), (1, 1)), (1, 1), 2, grad_out)
    for ours, theirs in zip((out, *conv_op.backward(grad_out, saved)), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c, f, kernel, stride, pads, dilation, width, route", [
    # a large filter matrix (128K weights or more) on output rows of fewer than 6
    # pixels: BLAS products
    (64, 256, 3, 2, ((1, 1), (1, 1)), (1, 1), 6, "grouped"),
    (160, 96, 3, 1, ((0, 2), (1, 0)), (1, 2), 6, "grouped"),
    (400, 330, 1, 2, ((0, 0), (0, 0)), (1, 1), 6, "grouped"),   # a 1x1 downsampling
    # the same banks on rows of 6 pixels or more, and smaller banks: the direct
    # kernels (several panels of filters)
    (64, 256, 3, 1, ((1, 1), (1, 1)), (1, 1), 9, "direct"),
    (400, 330, 1, 1, ((0, 0), (0, 0)), (1, 1), 7, "direct"),
    (8, 128, 3, 2, ((1, 1), (1, 1)), (1, 1), 6, "direct"),
])
def test_one_group_with_a_large_filter_bank(c, f, kernel, stride, pads, dilation, width, route,
                                            dtype):
    # (inference; training sends every bank of 128 filters or 48K weights to BLAS,
    # whose backward is faster there)
    out_width = conv_op.output_size(width, kernel, stride, pads[1], dilation[1])
    window = kernel * kernel * c
    assert conv_op._route(c, 1, dtype, window, f, out_width, training=False) == route
    assert conv_op._route(c, 1, dtype, window, f, out_width) == "grouped"
    rng = np.random.default_rng(f)
    x = rng.standard_normal((2, 7, width, c)).astype(dtype)
    w = rng.standard_normal((f, kernel, kernel, c)).astype(dtype) / np.sqrt(kernel * kernel * c)
    b = rng.standard_normal(f).astype(dtype)
    out, saved = conv_op.forward(x, w, b, (stride, stride), pads, dilation, training=False)
    g = rng.standard_normal(out.shape).astype(dtype)
    gx, gw, gb = conv_op.backward(g, saved)
    expected = torch_conv(x, w, b, (stride, stride), pads, dilation, 1, g)
    for mine, theirs in zip((out, gx, gw, gb), expected):
        np.testing.assert_allclose(mine, theirs, **_tol(dtype))
    try:        # the same bits whatever the thread count
        pyx_cnn.set_num_threads(1)
        one = conv_op.forward(x, w, b, (stride, stride), pads, dilation, training=False)[0]
        pyx_cnn.set_num_threads(2)
        with _threads._always_split():
            two = conv_op.forward(x, w, b, (stride, stride), pads, dilation,
                                  training=False)[0]
        # the training route gives the same values (to rounding)
        np.testing.assert_allclose(conv_op.forward(x, w, b, (stride, stride), pads,
                                                   dilation)[0], one, **_tol(dtype))
    finally:
        pyx_cnn.set_num_threads(None)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_bank_on_a_batch_of_small_maps(dtype):
    # 40 samples of 4x4 maps: the forward pass and the input gradient cut the batch
    # into several items of samples (whole-sample items of 16 maps would make 3, of
    # unequal sizes), and the values are those of PyTorch at any thread count
    rng = np.random.default_rng(40)
    x = rng.standard_normal((40, 4, 4, 160)).astype(dtype)
    w = (rng.standard_normal((960, 1, 1, 160)) / np.sqrt(160)).astype(dtype)
    b = rng.standard_normal(960).astype(dtype)
    pads = ((0, 0), (0, 0))
    assert conv_op._route(160, 1, dtype, 160, 960, 4, training=False) == "grouped"
    try:
        results = []
        for threads in (1, 2):
            pyx_cnn.set_num_threads(threads)
            with _threads._always_split():
                out, saved = conv_op.forward(x, w, b, (1, 1), pads, (1, 1), training=False)
                g = np.ones_like(out) if threads == 1 else results[0][1]
                results.append((out, g, *conv_op.backward(g, saved)))
    finally:
        pyx_cnn.set_num_threads(None)
    for mine, other in zip(results[0], results[1]):
        np.testing.assert_array_equal(mine, other)
    g = rng.standard_normal(results[0][0].shape).astype(dtype)
    out, saved = conv_op.forward(x, w, b, (1, 1), pads, (1, 1), training=False)
    expected = torch_conv(x, w, b, (1, 1), pads, (1, 1), 1, g)
    for mine, theirs in zip((out, *conv_op.backward(g, saved)), expected):
        np.testing.assert_allclose(mine, theirs, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, h, w, c, stride, pads, dilation", [
    (3, 9, 11, 20, 1, ((1, 1), (1, 1)), 1),     # channels past the last whole register
    (2, 8, 8, 16, 2, ((1, 1), (0, 0)), 1),
    (4, 7, 6, 13, (1, 2), ((0, 0), (1, 1)), (2, 1)),
    (2, 10, 9, 33, 1, ((1, 1), (1, 1)), (1, 2)),
    (5, 3, 3, 8, 1, ((2, 2), (2, 2)), 1),       # narrow maps: several rows per block
    (9, 4, 12, 24, 1, ((1, 1), (1, 1)), 1),
])
def test_depthwise_3x3_filter_gradient(n, h, w, c, stride, pads, dilation, dtype):
    # the 3x3 filter and bias gradients (a block of rows at a time, every register of
    # channels in turn) against the plain loops, and the same bits at any thread count
    rng = np.random.default_rng(c)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    filters = rng.standard_normal((c, 3, 3, 1)).astype(dtype)
    bias = np.zeros(c, dtype)
    stride = (stride, stride) if isinstance(stride, int) else stride
    dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
    assert conv_op._route(c, c, dtype) == "depthwise"
    out, saved = conv_op.forward(x, filters, bias, stride, pads, dilation, c)
    g = rng.standard_normal(out.shape).astype(dtype)
    results = []
    try:
        for threads in (1, 2):
            pyx_cnn.set_num_threads(threads)
            with _threads._always_split():
                results.append(conv_op.backward(g, saved))
    finally:
        pyx_cnn.set_num_threads(None)
    for one, two in zip(results[0], results[1]):
        np.testing.assert_array_equal(one, two)
    padded = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    _, gw, gb = reference.conv_backward(padded, filters, g, stride=stride, dilation=dilation,
                                        groups=c)
    np.testing.assert_allclose(results[0][1], gw, **_tol(dtype))
    np.testing.assert_allclose(results[0][2], gb, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("c, f, kernel, stride, pads, width, input_grad_route", [
    # rows of 6 pixels or more: the forward pass on the direct kernels, the input
    # gradient a convolution on them too (strides 1), the filter gradient on BLAS
    (64, 256, 3, 1, ((1, 1), (1, 1)), 9, "direct"),
    (48, 160, 3, 1, ((2, 0), (1, 1)), 8, "direct"),             # uneven padding
    (400, 330, 1, 1, ((0, 0), (0, 0)), 7, "direct"),             # pointwise rows
    # strides 2: the input gradient on BLAS (gathered windows)
    (64, 256, 3, 2, ((1, 1), (1, 1)), 13, "grouped"),
    # narrow maps (4 pixels): everything on BLAS
    (64, 256, 3, 1, ((1, 1), (1, 1)), 4, "grouped"),
])
def test_training_on_a_large_bank_mixes_the_routes(c, f, kernel, stride, pads, width,
                                                   input_grad_route, dtype):
    # training with a large bank (128 filters or more) keeps the filter gradient on
    # BLAS; the forward pass and the input gradient run on the direct kernels where
    # their rows are wide enough: the values of PyTorch in every case
    rng = np.random.default_rng(f + width)
    x = rng.standard_normal((3, 7, width, c)).astype(dtype)
    w = rng.standard_normal((f, kernel, kernel, c)).astype(dtype) / np.sqrt(kernel * kernel * c)
    b = rng.standard_normal(f).astype(dtype)
    out, saved = conv_op.forward(x, w, b, (stride, stride), pads, (1, 1))
    assert len(saved) == 6      # what the grouped route's backward pass reads
    g = rng.standard_normal(out.shape).astype(dtype)
    hp = x.shape[1] + sum(pads[0])
    assert conv_op._transposed_input_grad(
        g, w, (3, hp, width + sum(pads[1]), c), (stride, stride), pads,
        (1, 1)) == (input_grad_route == "direct")
    expected = torch_conv(x, w, b, (stride, stride), pads, (1, 1), 1, g)
    for mine, theirs in zip((out,) + conv_op.backward(g, saved), expected):
        np.testing.assert_allclose(mine, theirs, **_tol(dtype))
    # the inference pass gives the same values (to rounding), and so does the
    # training pass with an inf among the filters (the input gradient on BLAS, which
    # never meets it where no output reaches)
    np.testing.assert_allclose(conv_op.forward(x, w, b, (stride, stride), pads, (1, 1),
                                               training=False)[0], out, **_tol(dtype))
    w_inf = w.copy()
    w_inf[0, 0, 0, 0] = np.inf
    _, saved = conv_op.forward(x, w_inf, b, (stride, stride), pads, (1, 1))
    assert not conv_op._transposed_input_grad(g, w_inf, saved[0].shape, (stride, stride),
                                              pads, (1, 1))
    want = torch_conv(x, w_inf, b, (stride, stride), pads, (1, 1), 1, g)[1]
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(conv_op.backward(g, saved)[0], want, **_tol(dtype))
