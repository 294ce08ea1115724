"""pyx_cnn.models against the same architectures written in PyTorch (float64).

Each model's weight layers, their shapes and the parameter count equal those of a
PyTorch module written here after torchvision's (no torchvision needed); with the
weights (and batch-norm statistics) copied across, ``predict`` equals PyTorch's
softmax. Small widths keep it fast.
"""
import numpy as np
import pytest

from pyx_cnn import layers, models

torch = pytest.importorskip("torch")
nn = torch.nn


# ---------------------------------------------------------------- PyTorch twins
#: torchvision's blocks per stage of resnet18 and resnet34
STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class BasicBlock(nn.Module):
    """torchvision's BasicBlock."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchResNet(nn.Module):
    """torchvision's ResNet of BasicBlocks; the CIFAR stem when `small`."""

    def __init__(self, blocks, num_classes, channels, width, small):
        super().__init__()
        if small:
            self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small else nn.MaxPool2d(3, 2, 1)
        stages, inplanes = [], width
        for i, n in enumerate(blocks):
            planes = width * 2 ** i
            stage = []
            for j in range(n):
                stage.append(BasicBlock(inplanes, planes, 2 if i and not j else 1))
                inplanes = planes
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _conv_bn_relu6(cin, cout, kernel, stride, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2,
                                   groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    """torchvision's InvertedResidual."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        parts = [] if expand_ratio == 1 else [_conv_bn_relu6(inp, hidden, 1, 1)]
        parts += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                  nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*parts)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class TorchMobileNetV2(nn.Module):
    """torchvision's MobileNetV2; the stem and the second stage of stride 1 when `small`."""

    def __init__(self, num_classes, channels, width_mult, small):
        super().__init__()
        setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                   [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
        if small:
            setting[1][3] = 1
        inp = models.make_divisible(32 * width_mult)
        last = models.make_divisible(1280 * max(1.0, width_mult))
        features = [_conv_bn_relu6(channels, inp, 3, 1 if small else 2)]
        for t, c, n, s in setting:
            oup = models.make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(inp, oup, s if i == 0 else 1, t))
                inp = oup
        features.append(_conv_bn_relu6(inp, last, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def _double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class TorchUNet(nn.Module):
    """The U-Net of pyx_cnn.models.unet, modules registered in the order they run."""

    def __init__(self, num_classes, channels, depth, filters):
        super().__init__()
        self.parts = nn.ModuleList()
        cin = channels
        for level in range(depth):
            self.parts.append(_double_conv(cin, filters * 2 ** level))
            self.parts.append(nn.MaxPool2d(2, 2))
            cin = filters * 2 ** level
        self.parts.append(_double_conv(cin, filters * 2 ** depth))
        for level in reversed(range(depth)):
            out = filters * 2 ** level
            self.parts.append(nn.ConvTranspose2d(2 * out, out, 2, 2))
            self.parts.append(_double_conv(2 * out, out))
        self.parts.append(nn.Conv2d(filters, num_classes, 1))
        self.depth = depth

    def forward(self, x):
        parts, skips = iter(self.parts), []
        for _ in range(self.depth):
            x = next(parts)(x)
            skips.append(x)
            x = next(parts)(x)
        x = next(parts)(x)
        for _ in range(self.depth):
            x = torch.cat([skips.pop(), next(parts)(x)], dim=1)
            x = next(parts)(x)
        return next(parts)(x)


def torch_lenet5(num_classes, channels):
    return nn.Sequential(nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, num_classes))


# ---------------------------------------------------------------- copying weights
WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.Linear)


def _pyx_weighted(net):
    return [layer for layer in net.layers if layer.params]


def _structure(net, model):
    """(kind, weight shape) of every weight layer of both, weights as PyTorch lays them."""
    mine = []
    for layer in _pyx_weighted(net):
        if isinstance(layer, layers.BatchNormalization):
            mine.append(("bn", layer.params["gamma"].shape))
        elif isinstance(layer, layers.Dense):
            mine.append(("linear", layer.params["W"].T.shape))
        else:
            kind = "convT" if isinstance(layer, layers.Conv2DTranspose) else "conv"
            mine.append((kind, layer.params["W"].transpose(0, 3, 1, 2).shape))
    kinds = {nn.Conv2d: "conv", nn.ConvTranspose2d: "convT", nn.BatchNorm2d: "bn",
             nn.Linear: "linear"}
    theirs = [(kinds[type(m)], tuple(m.weight.shape)) for m in model.modules()
              if isinstance(m, WEIGHTED)]
    return mine, theirs


def copy_weights(net, model, rng, flatten_hwc=None):
    """Random batch-norm parameters and statistics in `net`, then every weight of `net`
    copied into `model` (float64), in the order both list their layers."""
    mods = [m for m in model.modules() if isinstance(m, WEIGHTED)]
    pyx = _pyx_weighted(net)
    assert len(mods) == len(pyx)
    model.double()
    with torch.no_grad():
        for layer, mod in zip(pyx, mods):
            if isinstance(layer, layers.BatchNormalization):
                c = layer.params["gamma"].shape[0]
                layer.params["gamma"][...] = rng.uniform(0.5, 1.5, c)
                layer.params["beta"][...] = rng.normal(0, 0.2, c)
                layer.state["mean"][...] = rng.normal(0, 0.2, c)
                layer.state["var"][...] = rng.uniform(0.5, 1.5, c)
                mod.weight.copy_(torch.from_numpy(layer.params["gamma"].copy()))
                mod.bias.copy_(torch.from_numpy(layer.params["beta"].copy()))
                mod.running_mean.copy_(torch.from_numpy(layer.state["mean"].copy()))
                mod.running_var.copy_(torch.from_numpy(layer.state["var"].copy()))
                continue
            w = layer.params["W"]
            if isinstance(layer, layers.Dense):
                if flatten_hwc is not None and w.shape[0] == np.prod(flatten_hwc):
                    h, wd, c = flatten_hwc   # channels-last flatten -> channels-first
                    w = w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(h * wd * c, -1)
                w = w.T
            else:
                w = w.transpose(0, 3, 1, 2)
            assert tuple(mod.weight.shape) == w.shape
            mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            if "b" in layer.params:
                mod.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
            else:
                assert mod.bias is None
    model.eval()


def torch_predict(model, x):
    """Softmax over the classes of `model` on channels-last `x`, channels last."""
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
        probs = torch.softmax(out, dim=1).numpy()
    return probs.transpose(0, 2, 3, 1) if probs.ndim == 4 else probs


def _check_against_torch(net, model, x, flatten_hwc=None):
    mine, theirs = _structure(net, model)
    assert mine == theirs
    assert net.count_params() == sum(p.numel() for p in model.parameters())
    copy_weights(net, model, np.random.default_rng(1), flatten_hwc)
    np.testing.assert_allclose(net.predict(x), torch_predict(model, x), rtol=1e-9,
                               atol=1e-12)


# ---------------------------------------------------------------- the models
def _images(shape, n=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + shape)


def test_lenet5_equals_pytorch():
    net = models.lenet5(10, (28, 28, 1), seed=0, dtype="float64")
    assert net.count_params() == 61706
    _check_against_torch(net, torch_lenet5(10, 1), _images((28, 28, 1)), (5, 5, 16))


@pytest.mark.parametrize("depth, shape", [(18, (16, 16, 3)), (18, (64, 64, 2)),
                                          (34, (8, 8, 3))])
def test_resnet_equals_pytorch(depth, shape):
    net = models.resnet(depth, 5, shape, width=4, seed=0, dtype="float64")
    small = min(shape[:2]) < 64
    model = TorchResNet(STAGES[depth], 5, shape[2], 4, small)
    _check_against_torch(net, model, _images(shape))
    assert (sum(isinstance(layer, layers.Add) for layer in net.layers)
            == sum(STAGES[depth]))
    assert any(isinstance(layer, layers.MaxPool2D) for layer in net.layers) is not small


def test_full_size_parameter_counts_are_torchvisions():
    # torchvision's resnet18() and mobilenet_v2() on ImageNet: 11,689,512 and 3,504,872
    assert models.resnet(18, 1000, (224, 224, 3)).count_params() == 11_689_512
    assert models.mobilenet_v2(1000, (224, 224, 3)).count_params() == 3_504_872
    # the CIFAR ResNet-18 (3x3 stem), 10 classes
    assert models.resnet(18, 10, (32, 32, 3)).count_params() == 11_173_962


@pytest.mark.parametrize("shape, width", [((16, 16, 3), 0.25), ((64, 64, 1), 0.35)])
def test_mobilenet_v2_equals_pytorch(shape, width):
    net = models.mobilenet_v2(4, shape, width_multiplier=width, seed=0, dtype="float64")
    model = TorchMobileNetV2(4, shape[2], width, small=min(shape[:2]) < 64)
    _check_against_torch(net, model, _images(shape))
    assert sum(isinstance(layer, layers.DepthwiseConv2D) for layer in net.layers) == 17
    residual = [m.use_res_connect for m in model.modules() if isinstance(m, InvertedResidual)]
    assert sum(isinstance(layer, layers.Add) for layer in net.layers) == sum(residual)
    assert sum(residual) >= 10     # torchvision's 10, more where rounding evens channels


def test_make_divisible_is_torchvisions():
    # torchvision's _make_divisible: nearest multiple of 8, never 10% below the value
    assert [models.make_divisible(v) for v in (8, 3.5, 12, 16 * 0.35, 24 * 0.35, 1280)] == [
        8, 8, 16, 8, 8, 1280]
    assert models.make_divisible(32 * 0.75) == 24 and models.make_divisible(100) == 104
    assert models.make_divisible(11) == 16   # 8 would be more than 10% below 11


def test_unet_equals_pytorch_per_pixel():
    net = models.unet(3, (16, 8, 2), depth=2, filters=4, seed=0, dtype="float64")
    assert net.output_shape == (16, 8, 3)
    _check_against_torch(net, TorchUNet(3, 2, 2, 4), _images((16, 8, 2)))


# ---------------------------------------------------------------- training, seeds
@pytest.mark.parametrize("make", [
    lambda: models.resnet(18, 3, (8, 8, 3), width=4, seed=0),
    lambda: models.mobilenet_v2(3, (8, 8, 3), width_multiplier=0.25, seed=0),
    lambda: models.lenet5(3, (12, 12, 1), seed=0),
], ids=["resnet", "mobilenet_v2", "lenet5"])
def test_a_short_fit_lowers_the_loss(make):
    net = make()
    rng = np.random.default_rng(0)
    y = np.arange(24) % 3
    x = rng.standard_normal((24,) + net.input_shape).astype(np.float32) * 0.3
    x[..., 0] += y[:, None, None]          # the class shows in the first channel
    history = net.fit(x, y, epochs=6, batch_size=8, learning_rate=0.02)
    loss = history.history["loss"]
    # batch normalisation over batches of 8 makes an epoch's loss jump, and the
    # rounding of each instruction set or build takes another path: the loss falls
    # within the last epochs, not at each one
    assert min(loss[-3:]) < 0.8 * loss[0]


def test_unet_trains_on_pixel_labels():
    net = models.unet(2, (8, 8, 1), depth=2, filters=4, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1)).astype(np.float32)
    y = (x[..., 0] > 0.5).astype(np.int64)           # (N, H, W): bright pixels are class 1
    history = net.fit(x, y, epochs=8, batch_size=4, learning_rate=0.3)
    loss = history.history["loss"]
    assert loss[-1] < 0.7 * loss[0]
    assert net.predict(x).shape == (16, 8, 8, 2)
    classes = net.predict_classes(x)
    assert classes.shape == (16, 8, 8)
    assert (classes == y).mean() > 0.75       # half the pixels before training


@pytest.mark.parametrize("make", [
    lambda seed: models.lenet5(seed=seed),
    lambda seed: models.resnet(18, width=2, input_shape=(8, 8, 3), seed=seed),
    lambda seed: models.mobilenet_v2(width_multiplier=0.1, input_shape=(8, 8, 3), seed=seed),
    lambda seed: models.unet(input_shape=(8, 8, 1), depth=1, filters=2, seed=seed),
], ids=["lenet5", "resnet", "mobilenet_v2", "unet"])
def test_seeds_reproduce(make):
    a, b, c = make(3), make(3), make(4)
    assert a is not b and a.dtype == np.float32
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not all(np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


# ---------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("call, words", [
    (lambda: models.resnet(50), ["depth", "18 or 34", "50"]),
    (lambda: models.resnet(18.0), ["depth", "18 or 34"]),
    (lambda: models.resnet(num_classes=1), ["num_classes", ">= 2", "1"]),
    (lambda: models.resnet(width=0), ["width", ">= 1", "0"]),
    (lambda: models.resnet(input_shape=(7, 32, 3)), ["input_shape", "(7, 32, 3)", "at least 8"]),
    (lambda: models.resnet(input_shape=(32, 32)), ["input_shape", "(H, W, C)", "(32, 32)"]),
    (lambda: models.mobilenet_v2(width_multiplier=0), ["width_multiplier", "positive", "0"]),
    (lambda: models.mobilenet_v2(input_shape=(4, 4, 3)), ["input_shape", "at least 8"]),
    (lambda: models.mobilenet_v2(num_classes=0), ["num_classes", ">= 2"]),
    (lambda: models.lenet5(input_shape=(10, 10, 1)), ["input_shape", "at least 12"]),
    (lambda: models.unet(input_shape=(20, 16, 1)), ["input_shape", "multiples of", "8"]),
    (lambda: models.unet(depth=0), ["depth", ">= 1", "0"]),
    (lambda: models.unet(filters=0), ["filters", ">= 1"]),
    (lambda: models.unet(num_classes=1), ["num_classes", ">= 2"]),
])
def test_bad_arguments_name_the_argument(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- files and ONNX
SMALL_MODELS = {
    "lenet5": lambda: models.lenet5(3, (12, 12, 1), seed=0),
    "resnet": lambda: models.resnet(18, 3, (64, 64, 1), width=2, seed=0),
    "mobilenet_v2": lambda: models.mobilenet_v2(3, (8, 8, 3), width_multiplier=0.1, seed=0),
    "unet": lambda: models.unet(3, (8, 8, 2), depth=2, filters=2, seed=0),
}


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_models_save_load_and_export_to_onnx(name, tmp_path):
    from pyx_cnn import NeuralNetwork

    net = SMALL_MODELS[name]()
    x = np.random.default_rng(0).random((3,) + net.input_shape, dtype=np.float32)
    net.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(NeuralNetwork.load(tmp_path / "m.npz").predict(x),
                                  net.predict(x))
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net.to_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, net.predict(x), rtol=1e-4, atol=1e-6)
