"""Small torchvision-style networks written in PyTorch for the ONNX import tests:
ResNet-18 (BasicBlock; CIFAR or ImageNet stem) and MobileNetV2 (inverted residuals,
ReLU6, depthwise convolutions), narrow so that the tests are fast."""
import warnings

import numpy as np


def build_resnet18(torch, width=8, num_classes=10, imagenet_stem=False):
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            if imagenet_stem:
                self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False),
                                          nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                                          nn.MaxPool2d(3, 2, padding=1))
            else:
                self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False),
                                          nn.BatchNorm2d(w), nn.ReLU(inplace=True))
            blocks, inplanes = [], w
            for i, planes in enumerate([w, 2 * w, 4 * w, 8 * w]):
                blocks += [BasicBlock(inplanes, planes, 1 if i == 0 else 2),
                           BasicBlock(planes, planes)]
                inplanes = planes
            self.layers = nn.Sequential(*blocks)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(inplanes, num_classes)

        def forward(self, x):
            x = self.avgpool(self.layers(self.stem(x)))
            return self.fc(torch.flatten(x, 1))

    return ResNet18()


def build_mobilenet_v2(torch, num_classes=10, dropout=0.2):
    nn = torch.nn

    def conv_bn_relu6(inp, out, kernel=1, stride=1, groups=1):
        return [nn.Conv2d(inp, out, kernel, stride, kernel // 2, groups=groups, bias=False),
                nn.BatchNorm2d(out), nn.ReLU6(inplace=True)]

    class InvertedResidual(nn.Module):
        def __init__(self, inp, out, stride, expand):
            super().__init__()
            hidden = inp * expand
            self.use_res_connect = stride == 1 and inp == out
            layers = conv_bn_relu6(inp, hidden) if expand != 1 else []
            layers += conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden)
            layers += [nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            features = [nn.Sequential(*conv_bn_relu6(3, 8, 3, 2))]
            inp = 8
            for t, c, n, s in [(1, 8, 1, 1), (6, 12, 2, 2), (6, 16, 2, 2)]:
                for i in range(n):
                    features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                    inp = c
            features.append(nn.Sequential(*conv_bn_relu6(inp, 32)))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(32, num_classes))

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    return MobileNetV2()


def randomise_batch_norms(torch, model, seed=0):
    """Running statistics and affine parameters away from their initial values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.rand(c, generator=gen) - 0.5)


def export(torch, model, shape, dtype):
    """The ONNX bytes of `model` (eval mode, batch norms kept as nodes)."""
    import io

    model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(shape, dtype=dtype),), buffer, opset_version=17,
                          dynamo=False, do_constant_folding=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return buffer.getvalue()


def nhwc(x):
    return np.ascontiguousarray(x.detach().numpy().transpose(0, 2, 3, 1))


def build_small_unet(torch):
    """Concatenation skips, transposed convolution, nearest upsampling, zero padding,
    a LeakyReLU, an average pool and the view-flatten ``x.view(x.size(0), -1)``."""
    nn, F = torch.nn, torch.nn.functional

    class SmallUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(3, 6, 3, padding=1)
            self.bottom = nn.Conv2d(6, 8, 3, stride=2, padding=1)
            self.up = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
            self.mix = nn.Conv2d(12, 4, 3)
            self.fc = nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            d = F.leaky_relu(self.down(x), 0.2)
            b = torch.tanh(self.bottom(d))
            u = torch.cat([torch.sigmoid(self.up(b)), F.interpolate(d, scale_factor=1.0)], 1)
            u = F.pad(self.mix(u), (1, 1, 1, 1))                  # 8x8 again
            u = F.avg_pool2d(F.interpolate(u, scale_factor=2, mode="nearest"), 4)
            return self.fc(u.view(u.size(0), -1))

    return SmallUNet()
