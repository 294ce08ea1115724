"""
The NumPy tutorial, step by step, on chelsea
============================================

pyx_cnn follows the tutorial "Building Convolutional Neural Network using NumPy
from Scratch": a grey picture goes through three layers, each a convolution, a
ReLU and a 2x2 max-pooling. This example runs those steps one call at a time
with :func:`pyx_cnn.conv`, :func:`pyx_cnn.relu` and :func:`pyx_cnn.pooling`,
prints the shape after each stage and draws the maps.

``pyx-cnn demo`` runs the same pipeline from the command line and writes one
PNG per layer.
"""

import matplotlib.pyplot as plt
import numpy as np
import skimage.color
import skimage.data

import pyx_cnn
from pyx_cnn.plot import plot_feature_maps

# sphinx_gallery_thumbnail_number = 2

# %%
# The picture
# -----------
#
# scikit-image's ``chelsea`` is a colour photograph of a cat. The tutorial works
# on one grey channel: ``rgb2gray`` gives a 2-D float64 array with values in
# [0, 1]. A 2-D array is one image with one channel.

img = skimage.color.rgb2gray(skimage.data.chelsea())
print("grey image:", img.shape, img.dtype)

fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
shown = ax.imshow(img, cmap="gray", vmin=0, vmax=1)
ax.set_title(f"chelsea in grey, {img.shape[0]}x{img.shape[1]} pixels")
ax.set_xlabel("x (column)")
ax.set_ylabel("y (row)")
fig.colorbar(shown, ax=ax, label="brightness")
plt.show()

# %%
# Layer 1: the tutorial's edge filters
# ------------------------------------
#
# A filter bank of one input channel has the shape ``(F, kh, kw)``: here two
# 3x3 filters. The first responds to vertical edges (dark on the left, bright
# on the right gives a positive value), the second to horizontal edges.

edges = np.zeros((2, 3, 3))
edges[0] = [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]
edges[1] = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]

# %%
# :func:`pyx_cnn.conv` slides every filter over the image and returns one map
# per filter, channels last: ``(H - kh + 1, W - kw + 1, F)`` with no padding.
# It is a cross-correlation (the filter is not flipped), as in the tutorial and
# in every deep-learning framework.

conv1 = pyx_cnn.conv(img, edges)
print("layer 1, convolution:", conv1.shape)

# %%
# The tutorial also has ``conv_``, which takes one 2-D image and one 2-D
# filter. :func:`pyx_cnn.conv_` is that single-filter variant; it gives the
# same map as the matching channel of ``conv``:

single = pyx_cnn.conv_(img, edges[0])
print("conv_ with the first filter:", single.shape,
      "same as conv(...)[..., 0]:", np.array_equal(single, conv1[..., 0]))

# %%
# ReLU sets every negative value to zero, and 2x2 max-pooling with a stride of
# 2 keeps the largest value of each 2x2 window, so each map is half as high and
# half as wide (rounded down).

relu1 = pyx_cnn.relu(conv1)
pool1 = pyx_cnn.pooling(relu1, size=2, stride=2)
print("layer 1, ReLU:", relu1.shape)
print("layer 1, pooling:", pool1.shape)

# %%
# The maps of layer 1. The convolution's maps hold negative and positive
# values (blue and red, one colour scale for both maps); after the ReLU only
# the positive side of each edge is left; the pooled maps are drawn to scale,
# half the size.

captions = {"conv": "convolution", "relu": "ReLU: max(x, 0)",
            "pool": "2x2 max-pooling\n(half the size)"}
plot_feature_maps({"conv": conv1, "relu": relu1, "pool": pool1},
                  title="Layer 1: the edge filters on chelsea",
                  inputs=img, filters=edges, captions=captions)
plt.show()

# %%
# Layers 2 and 3: random filters that sum to zero
# -----------------------------------------------
#
# The next layers take the pooled maps as input, so their filters have one
# slice per input channel: ``(F, kh, kw, C)``. Layer 2 has three 5x5 filters
# over layer 1's two maps, layer 3 one 7x7 filter over layer 2's three maps.
#
# The tutorial draws these filters uniform in [0, 1). Filters with only positive
# weights, applied to the non-negative output of a ReLU, only blur it: every map
# of the layer looks like the same blurred picture. Filters whose weights sum to
# zero respond to changes (edges, textures) instead, as trained filters do. So
# we draw standard normal weights and subtract each filter's mean.

rng = np.random.default_rng(0)


def zero_mean_filters(shape):
    """Random filters of `shape` (F, kh, kw, C), each summing to zero."""
    bank = rng.standard_normal(shape)
    return bank - bank.mean(axis=(1, 2, 3), keepdims=True)


filters2 = zero_mean_filters((3, 5, 5, 2))
filters3 = zero_mean_filters((1, 7, 7, 3))
print("filter sums, layer 2:", filters2.sum(axis=(1, 2, 3)).round(12) + 0.0)
print("filter sum, layer 3:", filters3.sum(axis=(1, 2, 3)).round(12) + 0.0)

# %%
# The same three calls per layer:

conv2 = pyx_cnn.conv(pool1, filters2)
relu2 = pyx_cnn.relu(conv2)
pool2 = pyx_cnn.pooling(relu2, size=2, stride=2)
print("layer 2:", pool1.shape, "-> conv", conv2.shape, "-> ReLU", relu2.shape,
      "-> pooling", pool2.shape)

conv3 = pyx_cnn.conv(pool2, filters3)
relu3 = pyx_cnn.relu(conv3)
pool3 = pyx_cnn.pooling(relu3, size=2, stride=2)
print("layer 3:", pool2.shape, "-> conv", conv3.shape, "-> ReLU", relu3.shape,
      "-> pooling", pool3.shape)

# %%
# Layer 2's maps. At the top, its input (layer 1's two pooled maps) and its
# filters: one column per filter, one row per input channel.

plot_feature_maps({"conv": conv2, "relu": relu2, "pool": pool2},
                  title="Layer 2: three random 5x5 filters over two maps",
                  inputs=pool1, filters=filters2, captions=captions)
plt.show()

# %%
# Layer 3's single map. After three layers the picture is 33x52 pixels, and
# each of its pixels depends on a window of 42x42 pixels of the grey image
# (each convolution widens the window by ``kernel - 1`` steps of the layer's
# input, and each pooling doubles the step).

plot_feature_maps({"conv": conv3, "relu": relu3, "pool": pool3},
                  title="Layer 3: one random 7x7 filter over three maps",
                  inputs=pool2, filters=filters3, captions=captions)
plt.show()

# %%
# Where the tutorial and pyx_cnn differ
# -------------------------------------
#
# The tutorial's loops crop the borders (its last rows and columns stay zero),
# its ReLU is the identity (``numpy.max(x, 0)`` of a scalar) and its pooling
# takes the maximum over all channels at once. pyx_cnn computes every valid
# position, clips negatives and pools each channel on its own: a constant image
# gives a constant map.

flat = pyx_cnn.conv(np.ones((10, 10)), edges)
print("edge filters on a constant image: every value is",
      np.unique(flat), "on a", flat.shape, "output")
