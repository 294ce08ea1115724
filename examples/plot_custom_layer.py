"""
Writing your own layer
======================

A layer is a subclass of :class:`pyx_cnn.layers.Layer`. This example writes a
parametric ReLU, a ReLU whose slope on the negative side is learned, one slope
per channel::

    PReLU(x) = x          where x > 0
               alpha * x  elsewhere (alpha per channel, learned)

checks its gradients with :func:`pyx_cnn.gradcheck`, then trains it inside a
:class:`~pyx_cnn.NeuralNetwork`.

The built-in layers are written the same way: ``pyx_cnn/layers/base.py`` holds
the ``Layer`` class, ``pyx_cnn/layers/activation.py`` the activations
(``LeakyReLU`` is the fixed-slope cousin of this layer) and
``pyx_cnn/layers/core.py`` the ``Dense`` layer.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

import pyx_cnn
from pyx_cnn import NeuralNetwork, datasets, layers
from pyx_cnn.plot import plot_history

# sphinx_gallery_thumbnail_number = 2

# %%
# What a layer implements
# -----------------------
#
# The public methods ``forward(x, training=False)`` and ``backward(grad_out)``
# belong to the base class: they check the input (shape, dtype, memory
# layout), build the layer on its first call, and then call three methods that
# a subclass writes, on validated C-contiguous arrays of the layer's dtype:
#
# ``_build(input_shape, rng, init_for)``
#     Create the weights in ``self.params`` (a dict of arrays, in
#     ``self.dtype``) for samples of ``input_shape`` (no batch axis) and return
#     the output shape of one sample. ``rng`` is the generator to draw initial
#     weights from; ``init_for`` names the activation of the layer that follows,
#     for layers whose initialisation depends on it (None here).
# ``_forward(x, training)``
#     Compute the output for a batch ``x``; keep what the backward pass needs,
#     and the output itself in ``self._out``.
# ``_backward(grad)``
#     Given ``dL/d(output)``, write ``dL/d(weight)`` **into** the arrays of
#     ``self.grads`` (same keys and shapes as ``params``) and return
#     ``dL/d(input)``.
#
# A subclass leaves ``forward`` and ``backward`` to the base class (a network
# calls them with ``validate=False``, having checked the batch once).
# ``get_config()`` returns the constructor's arguments (scikit-learn's
# estimators rebuild a layer from them), and ``__init__`` must call
# ``super().__init__()``. One shortcut is optional: a network sets
# ``needs_input_grad = False`` on its first layer, whose input is the data, and
# ``_backward`` may then skip computing ``dL/d(input)`` and return None (the
# ``Dense`` layer does). The PReLU below always computes it.
#
# Why the gradients are written into the arrays: inside a ``NeuralNetwork``
# every weight and every gradient is a view into one flat array, and the
# optimiser updates the flat array in one step. ``self.grads["alpha"][...] =
# value`` writes into that view. ``self.grads["alpha"] = value`` would bind a
# new array that the optimiser never sees, and the weight would stay at its
# initial value: ``fit`` checks after its first backward pass and refuses such
# a layer with a ValueError that names it and the key. (A layer checked on its
# own with ``gradcheck`` does not show this mistake, because it reads ``grads``
# directly; checking a network does.)


class PReLU(layers.Layer):
    """Parametric ReLU: ``x`` where ``x > 0``, else ``alpha[c] * x``, per channel ``c``.

    Parameters
    ----------
    initial : float, optional
        The starting slope of every channel.
    """

    def __init__(self, initial=0.25):
        super().__init__()
        self.initial = float(initial)

    def get_config(self):
        return {"initial": self.initial}

    def _build(self, input_shape, rng, init_for):
        # one slope per channel: the last axis of a channels-last sample
        self.params["alpha"] = np.full(input_shape[-1], self.initial, dtype=self.dtype)
        return input_shape                  # the output has the input's shape

    def _forward(self, x, training=False):
        self._x = x                         # the backward pass needs the input
        self._out = np.where(x > 0, x, self.params["alpha"] * x)
        return self._out

    def _backward(self, grad):
        x = self._x
        # dL/d(alpha[c]) = sum of grad * x over every position where x <= 0, per channel
        batch_and_space = tuple(range(x.ndim - 1))
        self.grads["alpha"][...] = np.sum(np.where(x > 0, 0.0, x) * grad, axis=batch_and_space)
        # dL/dx = grad * (1 where x > 0, else alpha)
        return grad * np.where(x > 0, 1.0, self.params["alpha"])


# %%
# Used on its own, the layer builds itself on its first ``forward`` call.
# ``build`` first gives it a chosen dtype and generator:

rng = np.random.default_rng(0)
layer = PReLU()
layer.build((4, 4, 3), rng=rng)             # samples of 4x4 pixels, 3 channels
x = rng.standard_normal((2, 4, 4, 3))
out = layer.forward(x)
print(layer, "params:", {k: v.shape for k, v in layer.params.items()}, "output", out.shape)
print("negative inputs are scaled by 0.25:",
      np.allclose(out[x < 0], 0.25 * x[x < 0]), "| positive ones pass:",
      np.array_equal(out[x > 0], x[x > 0]))

# %%
# Checking the gradients
# ----------------------
#
# :func:`pyx_cnn.gradcheck` compares every gradient the layer computes (each
# ``grads[key]`` and the input gradient) with central finite differences
# ``(L(w + eps) - L(w - eps)) / (2 eps)``, in float64. It returns True, or
# raises an AssertionError that names the first gradient that differs.
#
# ReLU-like functions have a kink at 0, where finite differences are wrong;
# inputs drawn from a normal distribution are almost never within ``eps`` of
# it.

print("PReLU gradients:", pyx_cnn.gradcheck(PReLU(), rng.standard_normal((2, 5, 5, 3))))

# %%
# A layer with a mistake: this backward pass forgets ``alpha`` in the input
# gradient (it returns the plain ReLU's gradient). gradcheck says which
# gradient is wrong, where, and by how much:


class BrokenPReLU(PReLU):
    def _backward(self, grad):
        x = self._x
        self.grads["alpha"][...] = np.sum(np.where(x > 0, 0.0, x) * grad,
                                          axis=tuple(range(x.ndim - 1)))
        return grad * (x > 0)               # wrong: alpha is missing


try:
    pyx_cnn.gradcheck(BrokenPReLU(), rng.standard_normal((2, 5, 5, 3)))
except AssertionError as error:
    print("AssertionError:", error)

# %%
# A whole network can be checked too: with labels ``y`` the loss is the
# network's own (here softmax cross-entropy), and every layer's gradients and
# the input gradient are compared.

small = NeuralNetwork([
    layers.Conv2D(3, 3), PReLU(), layers.MaxPool2D(2, 2),
    layers.Flatten(), layers.Dense(4, activation="softmax"),
], input_shape=(6, 6, 1), seed=0)
print("network gradients:",
      pyx_cnn.gradcheck(small, rng.standard_normal((3, 6, 6, 1)), y=np.array([0, 3, 1])))

# %%
# Training it in a network
# ------------------------
#
# The layer goes into a network like any other: here between two
# convolutions, on the digits.

X, y = datasets.load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0)

net = NeuralNetwork([
    layers.Conv2D(8, 3, padding=1), PReLU(initial=0.25),
    layers.Conv2D(8, 3, padding=1), layers.ReLU(), layers.MaxPool2D(2, 2),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
], input_shape=(8, 8, 1), seed=0, optimizer="adam")
net.summary()

# %%
# The summary counts the eight slopes as parameters. Nothing fuses with the new
# layer (the fusion rules know the built-in layers only), so the network calls
# its public ``forward`` and ``backward``, which call ``_forward`` and
# ``_backward``: a breakpoint in either stops inside ``fit``. The ReLU and the
# max-pooling after the second convolution still run as one kernel.

prelu = net.layers[1]
alpha_before = prelu.params["alpha"].copy()
history = net.fit(X_train, y_train, epochs=8, batch_size=32, learning_rate=0.01,
                  validation_data=(X_test, y_test))
print(f"test accuracy after {len(history.epoch)} epochs: "
      f"{net.evaluate(X_test, y_test)['accuracy']:.1%}")

plot_history(history, title="A network with a PReLU layer, on the digits",
             val_label="test")
plt.show()

# %%
# The learned slopes
# ------------------
#
# Each of the eight channels started with ``alpha = 0.25`` and moved to its own
# value. A slope of 0 would be a plain ReLU, which discards the negative side of
# a map; a slope of 1 would pass the map unchanged. Here the network chose to
# keep a good part of the negative side of every map of the first convolution,
# a different part for each.

alpha_after = prelu.params["alpha"]
print("alpha after training:", np.round(alpha_after, 3))

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
channels = np.arange(1, alpha_after.size + 1)
left.bar(channels - 0.2, alpha_before, width=0.4, label="before training")
left.bar(channels + 0.2, alpha_after, width=0.4, label="after training")
left.axhline(0, color="black", linewidth=0.8)
left.set_xticks(channels)
left.set_xlabel("channel (filter of the convolution before it)")
left.set_ylabel("alpha (slope for x < 0)")
left.set_title("The learned slope of each channel")
left.legend()

t = np.linspace(-2, 2, 201)
for c, a in enumerate(alpha_after):
    right.plot(t, np.where(t > 0, t, a * t), label=f"channel {c + 1}")
right.set_xlabel("input x")
right.set_ylabel("PReLU(x)")
right.set_title("The eight activations after training")
right.grid(alpha=0.3)
right.legend(fontsize=8, ncol=2)
plt.show()

# %%
# Saving and loading
# ------------------
#
# Defining the class registered it under its name, ``PReLU`` (a class may not
# take a built-in layer's name such as ``ReLU``: the class statement raises a
# TypeError). A model file stores each layer's class name and ``get_config()``,
# so the network saves and loads like any other wherever the class is defined
# or imported: ``load`` calls ``PReLU(initial=0.25)`` and copies the learned
# slopes in. Where the class is not defined, ``load`` says so and names it.
# :func:`pyx_cnn.dask_arrays.predict`, which ships the network to its workers
# as a model file, works the same way (the workers must import the class).

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "prelu.npz")
    net.save(path)
    again = NeuralNetwork.load(path)
print("loaded:", again.layers[1], "| same predictions:",
      np.array_equal(again.predict(X_test), net.predict(X_test)))

# %%
# Training, ``predict``, ``evaluate``, ``gradcheck``, ``summary``, the
# scikit-learn estimators (:mod:`pyx_cnn.sklearn`) and model files work with
# the new layer. ONNX export does not: :func:`pyx_cnn.onnx.to_onnx` refuses a
# layer without an ONNX exporter and names it.

try:
    net.to_onnx("prelu.onnx")
except ValueError as error:
    print("ValueError:", error)
