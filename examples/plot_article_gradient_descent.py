"""
The companion article: full-batch gradient descent
==================================================

The tutorial's companion article builds a network of convolution and dense
layers with sigmoid activations, measures the error with the mean squared
difference to one-hot targets, and trains it by plain gradient descent: every
iteration runs the whole training set forward, computes the gradient of every
weight, and moves each weight by ``-learning_rate * gradient``.

:meth:`pyx_cnn.NeuralNetwork.gradient_descent` is that loop:
``losses = net.gradient_descent(learning_rate, x, y, iterations)`` returns the
loss of each iteration, measured before its update. (:meth:`~pyx_cnn.NeuralNetwork.fit`
is the mini-batch version with optimisers, schedules and callbacks; see the
digits example.)
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from pyx_cnn import NeuralNetwork, layers

# %%
# The data
# --------
#
# scikit-learn's 8x8 digits, scaled to [0, 1]. The article's network has one
# sigmoid output per class and learns one-hot targets: a float target array
# ``(N, 10)`` makes the network train with the mean squared error.

digits = load_digits()
images = digits.images / 16.0          # (1797, 8, 8): one grey channel
labels = digits.target

x_train, y_train = images[:500], labels[:500]
x_test, y_test = images[500:], labels[500:]
targets = np.eye(10)[y_train]          # one-hot, float64: (500, 10)
print("x:", x_train.shape, "targets:", targets.shape, targets.dtype)

# %%
# The network
# -----------
#
# A convolution of four 3x3 filters with a sigmoid, then a dense layer with one
# sigmoid output per digit. ``input_shape=(8, 8)`` means one channel, so the
# images can be passed as ``(N, 8, 8)``.

net = NeuralNetwork([
    layers.Conv2D(4, 3, activation="sigmoid"),   # (8, 8, 1) -> (6, 6, 4)
    layers.Flatten(),                            # -> (144,)
    layers.Dense(10, activation="sigmoid"),      # -> (10,)
], input_shape=(8, 8), seed=0)
net.summary()

# %%
# Training
# --------
#
# 300 iterations over the 500 training images with a learning rate of 5. Each
# iteration is one step of gradient descent on the whole set, so the loss goes
# down without the noise of mini-batches.

losses = net.gradient_descent(5.0, x_train, targets, 300)
print(f"loss: {losses[0]:.4f} at the start, {losses[-1]:.4f} after {len(losses)} iterations")

# %%
# The loss curve, one point per iteration. The first few steps bring every
# output down to about 0.1, the share of each digit: the network answers 0.1
# for every class whatever the image, a mean squared error of
# ``0.9 * 0.1**2 + 0.1 * 0.9**2 = 0.09``. It stays near that level while the
# filters and weights slowly start to tell the digits apart, then the loss
# falls again.

fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
ax.plot(np.arange(1, len(losses) + 1), losses, label="training loss")
ax.axhline(0.09, color="grey", linestyle="--",
           label="every output 0.1 (no digit told apart)")
ax.set_xlabel("iteration (one full-batch gradient step)")
ax.set_ylabel("mean squared error")
ax.set_title("Gradient descent on 500 digits, learning rate 5")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %%
# How well it does
# ----------------
#
# The predicted digit is the output with the largest value.
# :meth:`~pyx_cnn.NeuralNetwork.predict_classes` takes that arg-max; the 1297
# images that were not trained on tell how well the network generalises.

train_accuracy = np.mean(net.predict_classes(x_train) == y_train)
test_accuracy = np.mean(net.predict_classes(x_test) == y_test)
print(f"accuracy: {train_accuracy:.1%} on the training images, "
      f"{test_accuracy:.1%} on the {len(x_test)} others")

# %%
# gradient_descent can be called again: it continues from the current weights.

more = net.gradient_descent(5.0, x_train, targets, 100)
print(f"100 more iterations: loss {more[0]:.4f} -> {more[-1]:.4f}, test accuracy "
      f"{np.mean(net.predict_classes(x_test) == y_test):.1%}")
