"""
Two classes: faces and non-faces with one sigmoid output
========================================================

A two-class problem needs one output: the probability of the positive class,
from a sigmoid. With ``Dense(1, activation="sigmoid")`` last and labels 0/1,
:meth:`~pyx_cnn.NeuralNetwork.fit` trains with binary cross-entropy by itself,
and :meth:`~pyx_cnn.NeuralNetwork.predict_classes` answers 1 where the
probability is above 0.5.

The data are scikit-image's 200 small grey patches, 100 faces and 100
non-faces, through :func:`pyx_cnn.datasets.load_faces`. One trap is shown on
the way: the data set is sorted by class.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from pyx_cnn import NeuralNetwork, datasets, layers
from pyx_cnn.plot import plot_confusion_matrix, plot_history

# %%
# The data, sorted by class
# -------------------------

X, y = datasets.load_faces()
print("X:", X.shape, "y:", y.shape, "| faces:", int(y.sum()), "non-faces:", int((y == 0).sum()))
print("first labels:", y[:6], "last labels:", y[-6:])

class_names = ["non-face", "face"]
fig, axes = plt.subplots(2, 8, figsize=(8, 2.6), layout="constrained")
for row, label in enumerate((1, 0)):
    for ax, image in zip(axes[row], X[y == label][:8]):
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    axes[row, 0].set_title(class_names[label] + "s", fontsize=10, loc="left")
fig.suptitle("load_faces: 25x25 grey patches")
plt.show()

# %%
# The first 100 samples are faces, the last 100 are not. ``fit(...,
# validation_split=0.2)`` holds out the *last* 20 % of the samples as given,
# before any shuffling (as Keras does): here, 40 non-faces and not a single
# face. A validation accuracy measured on those says nothing about faces.

held_out = y[int(len(y) * (1 - 0.2)):]
print("what validation_split=0.2 would hold out: faces", int(held_out.sum()),
      "non-faces", int((held_out == 0).sum()))

# %%
# So we split first, with both classes in each part: a stratified
# ``train_test_split`` shuffles the samples and keeps the share of each class.
# The test part is kept for the end; after the shuffle, ``validation_split``
# on the training part holds out a mix of both classes.

X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)
validation = y_train[int(len(y_train) * (1 - 0.2)):]
print(f"train {len(y_train)} ({int(y_train.sum())} faces), test {len(y_test)} "
      f"({int(y_test.sum())} faces); validation_split=0.2 now holds out "
      f"{int(validation.sum())} faces and {int((validation == 0).sum())} non-faces")

# %%
# One sigmoid output
# ------------------

net = NeuralNetwork([
    layers.Conv2D(8, 3), layers.ReLU(), layers.MaxPool2D(2, 2),      # 25 -> 23 -> 11
    layers.Conv2D(16, 3), layers.ReLU(), layers.MaxPool2D(2, 2),     # 11 -> 9 -> 4
    layers.Flatten(),
    layers.Dense(1, activation="sigmoid"),
], input_shape=(25, 25, 1), seed=0, optimizer="adam")
net.summary()

# %%
# The labels are 0 and 1 and the network ends in one sigmoid, so ``fit``
# picks binary cross-entropy. While training, the sigmoid is left to the loss
# (the fusion rule ``sigmoid_into_loss``), which computes it from the logit:
# stable for any score. ``predict`` applies the sigmoid and returns
# probabilities.

history = net.fit(X_train, y_train, epochs=30, batch_size=16, learning_rate=0.003,
                  validation_split=0.2)
plot_history(history, title="Faces: binary cross-entropy and accuracy per epoch")
plt.show()

# %%
# Accuracy per class
# ------------------
#
# ``predict`` returns one probability per image, shape ``(N, 1)``;
# ``predict_classes`` the labels 0/1, shape ``(N,)``. The overall accuracy can
# hide a class the network gets wrong, so we count each class on its own.

probabilities = net.predict(X_test)[:, 0]
predicted = net.predict_classes(X_test)
print("predict:", net.predict(X_test).shape, "predict_classes:", predicted.shape)
print(f"test accuracy: {np.mean(predicted == y_test):.1%}")
for label, name in enumerate(class_names):
    mask = y_test == label
    print(f"  {name + 's':9s}: {np.mean(predicted[mask] == label):.1%} right "
          f"({int(np.sum(predicted[mask] == label))} of {int(mask.sum())})")

plot_confusion_matrix(y_test, predicted, class_names=class_names, title="Test patches")
plt.show()

# %%
# The probabilities behind those answers: for each class, how many test
# patches got each probability of being a face. The threshold is 0.5.

fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
bins = np.linspace(0, 1, 21)
for label, name in enumerate(class_names):
    ax.hist(probabilities[y_test == label], bins=bins, alpha=0.6, label=f"true {name}s")
ax.axvline(0.5, color="black", linestyle="--", label="threshold 0.5")
ax.set_xlabel("predicted probability of a face")
ax.set_ylabel("number of test patches")
ax.set_title("Sigmoid output on the test patches, by true class")
ax.legend(loc="upper left", bbox_to_anchor=(0.08, 1.0))
plt.show()

# %%
# The non-face patches of this set are mostly smooth shading and simple
# textures, far easier to tell from a face than a random crop of a photograph
# would be, so a small network separates the two classes well.
#
# The test patches the network got wrong, if any, with the probability it gave:

wrong = np.flatnonzero(predicted != y_test)
print("misclassified test patches:", wrong.size)
if wrong.size:
    fig, axes = plt.subplots(1, wrong.size, figsize=(1.4 * wrong.size + 0.6, 2.1),
                             layout="constrained", squeeze=False)
    for ax, i in zip(axes[0], wrong):
        ax.imshow(X_test[i, ..., 0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"true {class_names[y_test[i]]}\np(face) = {probabilities[i]:.2f}",
                     fontsize=9)
        ax.axis("off")
    fig.suptitle("Misclassified test patches")
    plt.show()
