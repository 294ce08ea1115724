"""
A ResNet from PyTorch, through ONNX, trained on in pyx_cnn
==========================================================

**This example needs PyTorch** (``pip install torch==2.13.0``) besides the
``onnx`` extra (``pip install "pyx_cnn[onnx]"``); it does not use torchvision.

A network written in PyTorch, exported with ``torch.onnx.export``, loads into
pyx_cnn with :meth:`NeuralNetwork.from_onnx <pyx_cnn.NeuralNetwork.from_onnx>`
as a channels-last graph network: its residual connections become
:class:`~pyx_cnn.layers.Add` layers, its convolutions and batch normalisations
keep their weights and running statistics. The imported network predicts what
PyTorch predicts, and :meth:`~pyx_cnn.NeuralNetwork.fit` trains it further.

The network is a ResNet-18 as torchvision writes it (four stages of two
BasicBlocks), with the small-image stem of CIFAR ResNets (a 3x3 stride-1
convolution, no max pooling) and 8 channels in the first stage instead of 64,
so that it trains in seconds on scikit-learn's 8x8 digits.
"""

import io
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from pyx_cnn import NeuralNetwork, datasets

torch.manual_seed(0)
torch.set_num_threads(1)      # batches of 8x8 images: PyTorch is quickest on one thread
# torch.onnx.export(dynamo=False) says the TorchScript-based exporter is older than
# the torch.export-based one; it is the one that needs nothing more than torch.
warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")

# %%
# ResNet-18 in PyTorch
# --------------------
#
# torchvision's BasicBlock: two 3x3 convolutions with batch normalisation, and
# the block's input added to their output (through a strided 1x1 convolution
# when the block halves the image and doubles the channels).


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, width=8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        blocks, inplanes = [], width
        for stage in range(4):
            planes = width * 2 ** stage
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(inplanes, planes, stride))
                inplanes = planes
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


model = ResNet18()
print(f"{sum(p.numel() for p in model.parameters())} weights in PyTorch")

# %%
# A first epoch in PyTorch
# ------------------------
#
# PyTorch takes NCHW batches; pyx_cnn's datasets are channels-last
# ``(N, H, W, C)``, so the images are transposed for PyTorch only.

X, y = datasets.load_digits()
X = X.astype(np.float32)                                     # (1797, 8, 8, 1)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

images = torch.from_numpy(X_train.transpose(0, 3, 1, 2))     # NHWC -> NCHW
labels = torch.from_numpy(y_train)
optimiser = torch.optim.Adam(model.parameters(), lr=0.002)
model.train()
for start in range(0, len(images), 32):
    optimiser.zero_grad()
    loss = nn.functional.cross_entropy(model(images[start:start + 32]),
                                       labels[start:start + 32])
    loss.backward()
    optimiser.step()
model.eval()

# %%
# Export and import
# -----------------
#
# ``torch.onnx.export`` writes the model (here to bytes in memory; a path works
# the same), with a dynamic batch size. ``do_constant_folding=False`` keeps the
# batch normalisations as nodes of their own: by default the exporter folds
# each into the convolution before it, which is right for inference but leaves
# nothing to normalise the batches when training goes on.
# ``NeuralNetwork.from_onnx`` reads a path, bytes or an ``onnx.ModelProto``. The NCHW input ``(N, 1, 8, 8)``
# becomes a channels-last ``Input((8, 8, 1))``: feed it the digits as they are.

buffer = io.BytesIO()
torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), buffer, opset_version=17,
                  dynamo=False, do_constant_folding=False, input_names=["x"],
                  dynamic_axes={"x": {0: "N"}})
net = NeuralNetwork.from_onnx(buffer.getvalue())
net.summary()

# %%
# Both networks give the same logits (the ONNX graph has no softmax, so neither
# does the imported network: ``predict`` returns the logits, as PyTorch does),
# to float32 rounding.

with torch.no_grad():
    torch_logits = model(torch.from_numpy(X_test.transpose(0, 3, 1, 2))).numpy()
print("largest difference:", np.abs(net.predict(X_test) - torch_logits).max())
before = net.evaluate(X_test, y_test)
print("after one PyTorch epoch:", before)

# %%
# Training on in pyx_cnn
# ----------------------
#
# ``fit`` continues from the imported weights and running statistics. The
# network ends in a ``Dense`` without softmax: softmax cross-entropy (what
# integer labels choose anyway, named here for the reader) applies the softmax
# itself, so the logits are what it takes.

history = net.fit(X_train, y_train, epochs=5, batch_size=32, learning_rate=0.002,
                  optimizer="adam", loss="cross_entropy",
                  validation_data=(X_test, y_test))
after = net.evaluate(X_test, y_test)
print("after five more epochs in pyx_cnn:", after)

# %%
# The test accuracy after PyTorch's epoch (epoch 0) and after each epoch of
# ``fit``:

accuracy = [before["accuracy"]] + history.history["val_accuracy"]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(range(len(accuracy)), accuracy, marker="o")
ax.set_xlabel("epoch (0: one epoch in PyTorch, then pyx_cnn's fit)")
ax.set_ylabel("test accuracy")
ax.set_title("ResNet-18 (width 8) on the digits")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
