"""PyTorch models exported with torch.onnx.export load with from_onnx (from a path, bytes
or a ModelProto), predict what PyTorch predicts, and train on as PyTorch does: a
torchvision-style ResNet-18 (CIFAR and ImageNet stems) and MobileNetV2."""
import functools

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from onnx_torch_models import (                                    # noqa: E402
    build_mobilenet_v2, build_resnet18, build_small_unet, export, nhwc, randomise_batch_norms,
)
from pyx_cnn import NeuralNetwork                                  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """PyTorch on one thread: these models are tiny, and its pool only spins on a
    shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_model(kind, dtype):
    torch.manual_seed(0)
    if kind == "mobilenet_v2":
        model = build_mobilenet_v2(torch, dropout=0.0 if dtype == torch.float64 else 0.2)
    else:
        model = build_resnet18(torch, imagenet_stem=kind == "resnet18_imagenet")
    randomise_batch_norms(torch, model)
    return model.to(dtype)


#: model kind -> the input images' side (small: the tests are about equality, not scale)
KINDS = {"resnet18_cifar": 16, "resnet18_imagenet": 32, "mobilenet_v2": 24}


def check_predict(kind, source, model):
    net = NeuralNetwork.from_onnx(source)
    side = KINDS[kind]
    assert net.is_graph and net.dtype == np.float32 and net.input_shape == (side, side, 3)
    x = torch.randn(5, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(net.predict(nhwc(x)), expected, rtol=1e-4, atol=1e-4)
    return net


@functools.lru_cache(maxsize=None)
def exported_float32(kind):
    """The float32 PyTorch model of `kind` and its ONNX bytes (exported once)."""
    model = torch_model(kind, torch.float32)
    side = KINDS[kind]
    return model, export(torch, model, (2, 3, side, side), torch.float32)


@pytest.mark.parametrize("form", ["path", "bytes", "proto"])
def test_from_path_bytes_and_model_proto(form, tmp_path):
    model, data = exported_float32("resnet18_cifar")
    source = {"path": tmp_path / "m.onnx", "bytes": data,
              "proto": onnx.load_model_from_string(data)}[form]
    if form == "path":
        source.write_bytes(data)
    check_predict("resnet18_cifar", source, model)


@pytest.mark.parametrize("kind", ["resnet18_imagenet", "mobilenet_v2"])
def test_predict_equals_pytorch_float32(kind):
    model, data = exported_float32(kind)
    net = check_predict(kind, data, model)
    names = {type(layer).__name__ for layer in net.layers}
    assert {"Add", "BatchNormalization", "GlobalAvgPool2D", "Dense"} <= names
    if kind == "mobilenet_v2":      # depthwise convolutions and ReLU6
        assert "DepthwiseConv2D" in names
        assert any(getattr(layer, "max_value", None) == 6 for layer in net.layers)
    else:                           # the stem's MaxPool2d(3, 2, padding=1)
        assert any(type(la).__name__ == "MaxPool2D" and la.pads == ((1, 1), (1, 1))
                   for la in net.layers)


def pyx_params(net):
    """Each layer's weights in PyTorch's layouts, in the network's layer order."""
    out = []
    for layer in net.layers:
        name = type(layer).__name__
        if name in ("Conv2D", "DepthwiseConv2D"):
            out.append(layer.params["W"].transpose(0, 3, 1, 2))
        elif name == "Dense":
            out += [layer.params["W"].T, layer.params["b"]]
        elif name == "BatchNormalization":
            out += [layer.params["gamma"], layer.params["beta"], layer.state["mean"],
                    layer.state["var"]]
    return out


def torch_params(model):
    out = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            out.append(module.weight)
        elif isinstance(module, torch.nn.Linear):
            out += [module.weight, module.bias]
        elif isinstance(module, torch.nn.BatchNorm2d):
            out += [module.weight, module.bias, module.running_mean, module.running_var]
    return [p.detach().numpy() for p in out]


@pytest.mark.parametrize("kind", KINDS)
def test_one_training_step_equals_pytorch_float64(kind):
    model = torch_model(kind, torch.float64)
    side = KINDS[kind]
    net = NeuralNetwork.from_onnx(export(torch, model, (2, 3, side, side), torch.float64))
    assert net.dtype == np.float64
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 3, side, side, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (6,), generator=gen)
    with torch.no_grad():
        np.testing.assert_allclose(net.predict(nhwc(x)), model(x).numpy(), rtol=0, atol=1e-10)
    # one SGD step on one batch; batch norm in training mode, running statistics included
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    model.eval()
    net.fit(nhwc(x), y.numpy(), epochs=1, batch_size=6, learning_rate=0.1, optimizer="sgd",
            loss="cross_entropy", shuffle=False)
    ours, theirs = pyx_params(net), torch_params(model)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    with torch.no_grad():
        np.testing.assert_allclose(net.predict(nhwc(x)), model(x).numpy(), rtol=0, atol=1e-9)


def test_small_unet_patterns_float64():
    """torch.cat, ConvTranspose2d, F.interpolate, F.pad, LeakyReLU and the
    Shape/Gather/Unsqueeze/Concat/Reshape of x.view(x.size(0), -1), as torch writes them."""
    torch.manual_seed(0)
    model = build_small_unet(torch).double().eval()
    data = export(torch, model, (2, 3, 8, 8), torch.float64)
    ops = {node.op_type for node in onnx.load_model_from_string(data).graph.node}
    assert {"ConvTranspose", "Concat", "Resize", "Pad", "Reshape"} <= ops
    net = NeuralNetwork.from_onnx(data)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(net.predict(nhwc(x)), expected, rtol=0, atol=1e-10)
