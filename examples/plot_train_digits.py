"""
Training a CNN on the digits
============================

A small convolutional network learns scikit-learn's 1797 handwritten digits
(8x8 pixels). The example goes through what a real training run needs:

- a test split that training never sees, and a validation split to watch;
- :meth:`~pyx_cnn.NeuralNetwork.fit` with the Adam optimiser, a learning-rate
  schedule (:class:`~pyx_cnn.schedules.CosineDecay`) and early stopping
  (:class:`~pyx_cnn.callbacks.EarlyStopping` with ``restore_best_weights``);
- the figures of :mod:`pyx_cnn.plot`: the curves, the learned filters, the
  feature maps of one digit and the confusion matrix.

``pyx-cnn train`` runs a similar recipe from the command line.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from pyx_cnn import NeuralNetwork, datasets, layers
from pyx_cnn.callbacks import EarlyStopping
from pyx_cnn.plot import (
    plot_confusion_matrix, plot_filters, plot_history, plot_network_feature_maps,
)
from pyx_cnn.schedules import CosineDecay

# sphinx_gallery_thumbnail_number = 3

# %%
# Three splits
# ------------
#
# :func:`pyx_cnn.datasets.load_digits` gives channels-last images
# ``(1797, 8, 8, 1)`` in [0, 1] and integer labels. We keep 20 % as a test set,
# untouched until the end, and hold out 15 % of the rest to validate each
# epoch. Both splits are stratified: every digit keeps its share.

X, y = datasets.load_digits()
X_rest, X_test, y_rest, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0)
X_train, X_val, y_train, y_val = train_test_split(
    X_rest, y_rest, test_size=0.15, stratify=y_rest, random_state=0)
print(f"train {X_train.shape}, validation {X_val.shape}, test {X_test.shape}")

fig, axes = plt.subplots(2, 8, figsize=(8, 2.6), layout="constrained")
for ax, image, label in zip(axes.ravel(), X_train, y_train):
    ax.imshow(image[..., 0], cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"label {label}", fontsize=9)
    ax.axis("off")
fig.suptitle("The first training images (8x8 pixels, dark = ink)")
plt.show()

# %%
# The network
# -----------
#
# Two 3x3 convolutions with ReLU and max-pooling, then a dense layer with one
# softmax output per digit. ``padding="same"`` keeps the 8x8 size through the
# convolutions, so two poolings give 2x2 maps. Integer labels make ``fit`` use
# softmax cross-entropy.

net = NeuralNetwork([
    layers.Conv2D(8, 3, padding="same"), layers.ReLU(), layers.MaxPool2D(2, 2),
    layers.Conv2D(16, 3, padding="same"), layers.ReLU(), layers.MaxPool2D(2, 2),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
], input_shape=(8, 8, 1), seed=0, optimizer="adam")
net.summary()

# %%
# The last column of the summary names the fusion rule each layer runs under:
# a ReLU followed by max-pooling runs as one kernel, and the softmax is left to
# the loss.
#
# The learning-rate schedule
# --------------------------
#
# :class:`~pyx_cnn.schedules.CosineDecay` lowers the rate from 0.01 to 0 along
# half a cosine over 40 epochs: large steps at first, fine ones at the end. A
# schedule is a callable ``epoch -> rate``.

epochs = 40
schedule = CosineDecay(0.01, epochs=epochs)
rates = [schedule(epoch) for epoch in range(epochs)]

fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.plot(np.arange(1, epochs + 1), rates, marker=".")
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
ax.set_title("CosineDecay(0.01, epochs=40)")
ax.grid(alpha=0.3)
plt.show()

# %%
# Training with early stopping
# ----------------------------
#
# :class:`~pyx_cnn.callbacks.EarlyStopping` watches the validation loss after
# every epoch. With ``patience=4`` it stops when four epochs in a row fail to
# improve on the best one, and ``restore_best_weights=True`` puts back the
# weights of the best epoch, so that the network we keep is the one that
# validated best rather than the last one. (``verbose=True`` would show a
# progress bar.)

stopper = EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)
history = net.fit(X_train, y_train, epochs=epochs, batch_size=32, learning_rate=schedule,
                  validation_data=(X_val, y_val), callbacks=[stopper])
best = stopper.best_epoch + 1          # best_epoch counts from 0
print(f"ran {len(history.epoch)} of {epochs} epochs; best validation loss "
      f"{stopper.best:.4f} at epoch {best}")

# %%
# :func:`~pyx_cnn.plot.plot_history` draws the loss and the accuracy per
# epoch. The training values are means over each epoch's batches; the
# validation values are measured after the epoch. The dotted line marks the
# epoch whose weights were restored.

fig = plot_history(history, title="Digits: loss and accuracy per epoch")
for ax in fig.axes:
    ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best}), restored")
    ax.legend()
plt.show()

# %%
# What the network learned
# ------------------------
#
# The eight 3x3 filters of the first convolution (blue negative, red positive):
# most are small edge or stroke detectors.

plot_filters(net.layers[0], title="First-layer filters after training")
plt.show()

# %%
# :func:`~pyx_cnn.plot.plot_network_feature_maps` runs one image through the
# network and draws the maps after every layer whose output is still an image:
# each convolution's maps, the ReLU's, and the pooled ones (a quarter of the
# pixels). Only the first four maps of each layer are drawn.

plot_network_feature_maps(net, X_test[0], max_maps=4)
plt.show()

# %%
# The test set
# ------------
#
# :meth:`~pyx_cnn.NeuralNetwork.evaluate` gives the loss and the accuracy on the
# test images, which neither training nor early stopping has seen.

scores = net.evaluate(X_test, y_test)
print(f"test loss {scores['loss']:.4f}, test accuracy {scores['accuracy']:.1%}")

# %%
# The confusion matrix counts, for each true digit (row), how often each digit
# was predicted (column): the diagonal holds the right answers.

predicted = net.predict_classes(X_test)
plot_confusion_matrix(y_test, predicted, title="Test digits")
plt.show()

# %%
# Some of the mistakes, with the probability the network gave its answer:

wrong = np.flatnonzero(predicted != y_test)[:8]
if wrong.size:
    probabilities = net.predict(X_test[wrong])
    fig, axes = plt.subplots(1, wrong.size, figsize=(1.3 * wrong.size + 0.4, 2.2),
                             layout="constrained", squeeze=False)
    for ax, i, p in zip(axes[0], wrong, probabilities):
        ax.imshow(X_test[i, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true {y_test[i]}\nsaid {predicted[i]} ({p.max():.0%})", fontsize=9)
        ax.axis("off")
    fig.suptitle("Misclassified test digits")
    plt.show()

# %%
# ``net.save("digits.npz")`` would keep the weights, the optimiser's state and
# the schedule: ``NeuralNetwork.load("digits.npz").fit(...)`` then continues
# exactly where this run stopped.
