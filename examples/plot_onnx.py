"""
ONNX: export a network, run it elsewhere, read it back
======================================================

`ONNX <https://onnx.ai>`_ is a file format for trained networks that many
runtimes and frameworks read. :func:`pyx_cnn.onnx.to_onnx` writes a network
as an ONNX model whose output equals ``net.predict``;
:func:`pyx_cnn.onnx.from_onnx` reads an ONNX model (a chain or a graph) back into a
:class:`~pyx_cnn.NeuralNetwork`, whether pyx_cnn or another framework (PyTorch,
say) wrote it.

This example trains a small network on the digits, exports it, runs the file
with `onnxruntime <https://onnxruntime.ai>`_ and reads it back. It needs the
``onnx`` extra: ``pip install "pyx_cnn[onnx]"``.
"""

import os
import shutil
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
from sklearn.model_selection import train_test_split

from pyx_cnn import NeuralNetwork, datasets, layers
from pyx_cnn.onnx import from_onnx, to_onnx

# %%
# A network in float32
# --------------------
#
# onnxruntime's CPU convolution runs in float32 only, so the network is built
# with ``dtype="float32"`` (its weights and its computation). A few epochs on
# the digits are enough here.

X, y = datasets.load_digits()
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0)

net = NeuralNetwork([
    layers.Conv2D(8, 3, padding=1, activation="relu"),
    layers.MaxPool2D(2, 2),
    layers.Conv2D(16, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
    layers.GlobalAvgPool2D(),
    layers.Dense(10, activation="softmax"),
], input_shape=(8, 8, 1), seed=0, dtype="float32", optimizer="adam")
net.fit(X_train, y_train, epochs=10, batch_size=32, learning_rate=0.01)
print(f"test accuracy: {net.evaluate(X_test, y_test)['accuracy']:.1%}")

# %%
# Export
# ------
#
# ``to_onnx(net, path)`` (or ``net.to_onnx(path)``) writes the file and returns
# the model, checked by ``onnx.checker``. The graph takes the same
# channels-last batch as ``predict``, ``(N, 8, 8, 1)`` with any ``N``; inside,
# it transposes once to ONNX's NCHW layout. The batch normalisation exports
# with its running statistics, ``padding="same"`` as explicit pads, and the
# softmax is part of the graph, so the model returns probabilities.

folder = tempfile.mkdtemp()
path = os.path.join(folder, "digits.onnx")
model = to_onnx(net, path, opset=17)
print(f"wrote {os.path.getsize(path) / 1024:.1f} KiB")
print("input:", model.graph.input[0].name,
      [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim])
print("operators:", " -> ".join(node.op_type for node in model.graph.node))

# %%
# The graph is a plain chain of ONNX operators; ``onnx.helper.printable_graph``
# prints it in full.
#
# Run it with onnxruntime
# -----------------------
#
# onnxruntime knows nothing of pyx_cnn: it reads the file and runs it with its
# own kernels. Its probabilities equal ``net.predict`` up to float32 rounding.

session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
onnx_probabilities = session.run(None, {input_name: X_test})[0]
pyx_probabilities = net.predict(X_test)
print("onnxruntime output:", onnx_probabilities.shape, onnx_probabilities.dtype)
print("max |onnxruntime - net.predict| =", np.abs(onnx_probabilities - pyx_probabilities).max())
print("same predicted digit for every test image:",
      np.array_equal(onnx_probabilities.argmax(axis=1), pyx_probabilities.argmax(axis=1)))

# %%
# A picture of the agreement: each test image's ten probabilities from both
# runtimes lie on the diagonal, and their differences are at the level of
# float32's rounding (about 1e-7 relative).

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
left.scatter(pyx_probabilities.ravel(), onnx_probabilities.ravel(), s=4, alpha=0.5)
left.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
left.set_xlabel("net.predict (pyx_cnn)")
left.set_ylabel("onnxruntime")
left.set_title("Probabilities of the test images")
difference = np.abs(onnx_probabilities - pyx_probabilities).ravel()
nonzero = difference[difference > 0]
right.hist(nonzero, bins=np.logspace(np.floor(np.log10(nonzero.min())),
                                     np.ceil(np.log10(nonzero.max())), 41))
right.set_xscale("log")
right.set_xlabel("|onnxruntime - net.predict| (log scale)")
right.set_ylabel("number of probabilities")
right.set_title(f"Differences ({np.mean(difference == 0):.0%} are exactly 0, not shown)")
plt.show()

# %%
# Read it back
# ------------
#
# :func:`~pyx_cnn.onnx.from_onnx` (also ``NeuralNetwork.from_onnx``) turns the
# graph into layers again. An activation right after a convolution or a dense
# layer becomes its ``activation=``; the network is float32 because the graph's
# input is float.

again = from_onnx(path)
again.summary()
print("max |read back - original| =", np.abs(again.predict(X_test) - pyx_probabilities).max())

# %%
# Models from PyTorch
# -------------------
#
# The same reader takes a model exported from PyTorch with
# ``torch.onnx.export``, as long as the graph is a chain of operators pyx_cnn
# has (convolution, pooling, batch normalisation, the activations, flatten,
# linear and softmax). PyTorch's NCHW graph becomes a channels-last network:
# the convolution weights are transposed to ``(F, kh, kw, C)`` and the rows of
# the first linear layer after the flatten are reordered. This page does not
# run it (it needs PyTorch)::
#
#     import torch
#     from torch import nn
#     from pyx_cnn.onnx import from_onnx
#
#     lenet = nn.Sequential(
#         nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
#         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
#         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
#     ).eval()
#     torch.onnx.export(lenet, (torch.zeros(1, 1, 28, 28),), "lenet.onnx", opset_version=17,
#                       dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
#
#     net = from_onnx("lenet.onnx")            # input_shape (28, 28, 1): channels-last
#     images = torch.randn(4, 1, 28, 28)
#     logits = net.predict(images.numpy().transpose(0, 2, 3, 1))   # NCHW -> NHWC
#
# Without a final ``nn.Softmax`` the last layer is a ``Dense`` without
# activation, and ``predict`` returns the logits, as the PyTorch model does.
# An operator pyx_cnn does not have raises a ``ValueError`` that names it.

print("onnx", onnx.__version__, "| onnxruntime", ort.__version__)
shutil.rmtree(folder)             # the model file was written to a temporary folder
