"""
A residual block, written by hand
=================================

A residual block adds a layer's input to its output: ``relu(x + f(x))``, where
``f`` is two convolutions with batch normalisation. The sum needs two paths
through the network, so it is not a list of layers: it is a *graph*, written
with :func:`pyx_cnn.layers.Input` and layers called on symbolic tensors, as in
Keras's functional API (see :ref:`graphs`).

This example builds a small residual network for scikit-learn's 8x8 digits,
trains it with :meth:`~pyx_cnn.NeuralNetwork.fit` and plots its loss curves.
"""

import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from pyx_cnn import NeuralNetwork, datasets, layers
from pyx_cnn.plot import plot_history

# %%
# The block
# ---------
#
# ``layers.Input(shape)`` is a symbolic tensor: one sample's shape, no data.
# Calling a layer on a symbolic tensor returns another one and records the
# call. The block below reads ``x`` twice: once through the two convolutions,
# once on the shortcut that ``layers.Add`` sums with them. Both convolutions
# keep the 8x8 size (``padding=1``) and the number of channels, so the two
# summed tensors have one shape.


def residual_block(x, channels):
    """``relu(x + bn(conv(relu(bn(conv(x))))))``, torchvision's BasicBlock."""
    h = layers.Conv2D(channels, 3, padding=1, use_bias=False)(x)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.Conv2D(channels, 3, padding=1, use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    return layers.ReLU()(layers.Add()([h, x]))


inputs = layers.Input((8, 8, 1))
h = layers.Conv2D(16, 3, padding=1, activation="relu")(inputs)   # the stem
h = residual_block(h, 16)
h = residual_block(h, 16)
h = layers.GlobalAvgPool2D()(h)
outputs = layers.Dense(10, activation="softmax")(h)

net = NeuralNetwork(inputs=inputs, outputs=outputs, seed=0, optimizer="adam")

# %%
# The summary has a column naming the layers each layer reads: each ``Add``
# reads the block's last batch normalisation and the block's input. The last
# column names the fusion rules the network runs by: the ``ReLU`` after each
# ``Add`` is applied in place on the sum (``activation_into_add``), and at
# inference each batch normalisation is folded into the convolution before it.

net.summary()

# %%
# Training
# --------
#
# A graph network trains as a list of layers does: ``fit`` with an optimiser,
# validation data and callbacks, then ``evaluate``.

X, y = datasets.load_digits()                     # (1797, 8, 8, 1) in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

history = net.fit(X_train, y_train, epochs=8, batch_size=32, learning_rate=0.002,
                  validation_data=(X_test, y_test))
print(net.evaluate(X_test, y_test))

# %%
# The curves
# ----------
#
# :func:`pyx_cnn.plot.plot_history` draws the loss and the accuracy per epoch,
# on the training batches and on the held-out quarter.

plot_history(history, title="Two residual blocks on the digits", val_label="test")
plt.show()
