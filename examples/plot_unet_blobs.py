"""
A U-Net segments noisy shapes
=============================

A segmentation network gives a class to every pixel. :func:`pyx_cnn.models.unet`
builds a U-Net: an encoder that pools the image down, a decoder that brings it
back up with transposed convolutions, and skip connections
(:class:`~pyx_cnn.layers.Concatenate`) that hand each decoder level the
encoder's feature maps of the same size. Its output is ``(H, W, num_classes)``:
the probabilities of each class at each pixel.

The task here is made from scikit-image: random shapes from
:func:`skimage.data.binary_blobs` are the true masks, and the images are those
shapes blurred and buried in noise. A threshold on the noisy image gets many
pixels wrong; the U-Net, which sees each pixel's neighbourhood, gets most of
them right after a few epochs.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage
from skimage import data

from pyx_cnn import models

# %%
# The data
# --------
#
# 400 masks of 32x32 pixels, each from its own seed, and their noisy images.
# ``fit`` takes the masks as integer labels ``(N, H, W)``: 0 for the
# background, 1 for a shape. The images are channels-last, ``(N, 32, 32, 1)``.

rng = np.random.default_rng(0)
masks = np.stack([data.binary_blobs(length=32, blob_size_fraction=0.25,
                                    volume_fraction=0.4, rng=seed)
                  for seed in range(400)]).astype(np.int64)
images = np.stack([ndimage.gaussian_filter(m.astype(np.float32), 1.0) for m in masks])
images = images + rng.normal(0.0, 0.35, images.shape).astype(np.float32)
images = images[..., np.newaxis]                  # (400, 32, 32, 1)

X_train, y_train = images[:320], masks[:320]
X_test, y_test = images[320:], masks[320:]

threshold = (X_test[..., 0] > 0.5).astype(np.int64)
print(f"a threshold at 0.5 gets {np.mean(threshold == y_test):.1%} of the test pixels right")

# %%
# The network
# -----------
#
# Two levels of 8 and 16 filters (and 32 at the bottom) are enough for 32x32
# shapes; the image sizes must be multiples of ``2**depth``. The network is
# float32, as :mod:`pyx_cnn.models` builds by default.

net = models.unet(num_classes=2, input_shape=(32, 32, 1), depth=2, filters=8, seed=0)
print(f"{len(net.layers)} layers, {net.count_params()} weights")

# %%
# Training
# --------
#
# The loss is the softmax cross-entropy of every pixel, averaged over the
# pixels; the accuracy that ``evaluate`` reports is the share of pixels whose
# class is right.

history = net.fit(X_train, y_train, epochs=6, batch_size=16, learning_rate=0.01,
                  optimizer="adam", validation_data=(X_test, y_test))
print(net.evaluate(X_test, y_test))

# %%
# Masks
# -----
#
# ``predict_classes`` gives the class of every pixel, ``(N, 32, 32)``: the
# predicted mask. From left to right: the noisy image, the true mask, the
# threshold, and the U-Net's mask.

predicted = net.predict_classes(X_test[:4])
fig, axes = plt.subplots(4, 4, figsize=(7, 7.4))
columns = [("image", X_test[:4, ..., 0]), ("true mask", y_test[:4]),
           ("threshold at 0.5", threshold[:4]), ("U-Net", predicted)]
for j, (title, pictures) in enumerate(columns):
    axes[0, j].set_title(title)
    for i in range(4):
        limits = {} if j == 0 else {"vmin": 0, "vmax": 1}       # masks: 0 black, 1 white
        axes[i, j].imshow(pictures[i], cmap="gray", **limits)
        axes[i, j].set_axis_off()
fig.tight_layout()
plt.show()
