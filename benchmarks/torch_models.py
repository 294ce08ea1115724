"""ResNet and MobileNetV2 written in PyTorch as torchvision writes them (no torchvision
needed), with the small-image strides of :mod:`pyx_cnn.models`: the peers of
``bench_models``. Their modules are registered in the order pyx_cnn's ``net.layers``
lists the same layers, so that weights copy across in order."""
import torch
from torch import nn

from pyx_cnn.models import make_divisible


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn, plus the input or its
    1x1-convolution downsample, then relu."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
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
    """torchvision's ResNet of BasicBlocks with the CIFAR stem (3x3 stride-1, no max pool)."""

    def __init__(self, blocks, num_classes, channels, width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
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
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _conv_bn_relu6(cin, cout, kernel, stride, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2,
                                   groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """torchvision's InvertedResidual: expand 1x1, depthwise 3x3, project 1x1."""

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
    """torchvision's MobileNetV2 with the CIFAR strides (stride 1 in the stem and in the
    first block of the 24-channel stage)."""

    def __init__(self, num_classes, channels, width_mult=1.0):
        super().__init__()
        setting = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                   (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        inp = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        features = [_conv_bn_relu6(channels, inp, 3, 1)]
        for t, c, n, s in setting:
            oup = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(inp, oup, s if i == 0 else 1, t))
                inp = oup
        features.append(_conv_bn_relu6(inp, last, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))
