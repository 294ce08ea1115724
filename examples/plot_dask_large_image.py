"""
A large image and a large batch with dask
=========================================

:mod:`pyx_cnn.dask_arrays` runs the functional ops and a network's ``predict``
on `dask arrays <https://docs.dask.org/en/stable/array.html>`_: arrays split
into chunks, computed lazily, chunk by chunk, possibly on many machines. Two
ways of splitting are shown:

- one large image chunked along H and W: each tile borrows from its neighbours
  the rows and columns (the halo) that its windows reach, so the tiled result
  is exactly the in-memory result, and computing a part of the output reads
  only the tiles that part needs;
- a batch chunked along N: each chunk of images runs ``net.predict`` on its own.

Everything here runs on dask's default scheduler (threads in this process).
"""

import time

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
import skimage.data
import skimage.util
from matplotlib.patches import Rectangle
from sklearn.model_selection import train_test_split

import pyx_cnn
from pyx_cnn import NeuralNetwork, datasets, layers
from pyx_cnn import dask_arrays as pda

# %%
# A large image, lazily
# ---------------------
#
# We make a large grey picture from scikit-image's 512x512 ``camera``, repeated
# 8 times down and 12 times across: 4096 x 6144 pixels, 200 MB in float64. The
# dask array holds no pixels yet, only how to make each 512 x 512 chunk.

camera = skimage.util.img_as_float(skimage.data.camera())          # (512, 512) in [0, 1]
big = da.tile(da.from_array(camera, chunks=(512, 512)), (8, 12))
print(big)

# %%
# The filters: four 5x5 edge detectors at 0, 45, 90 and 135 degrees (the
# derivative of a Gaussian along each direction). A bank of one input channel
# is ``(F, kh, kw)``.

yy, xx = np.mgrid[-2:3, -2:3]
gauss = np.exp(-(xx ** 2 + yy ** 2) / 2.0)
angles = np.deg2rad([0, 45, 90, 135])
filters = np.stack([(np.cos(a) * xx + np.sin(a) * yy) * gauss for a in angles])
filters /= np.abs(filters).sum(axis=(1, 2), keepdims=True)
print("filters:", filters.shape)

# %%
# The pipeline reads as the in-memory one, with ``pda`` in front: a
# convolution with a stride of 2 and a padding of 2, a ReLU and 2x2 max-pooling.
# Nothing is computed: ``out`` is a lazy dask array of the result's shape,
# 1024 x 1536 x 4.

start = time.perf_counter()
out = pda.pooling(pda.relu(pda.conv(big, filters, stride=2, padding=2)), 2, 2)
print(f"lazy result {out.shape} {out.dtype}, {out.nbytes / 1e6:.0f} MB when computed, "
      f"in {out.npartitions} chunks; building it took {time.perf_counter() - start:.3f} s")

# %%
# Computing a part of it
# ----------------------
#
# Slicing the lazy result and computing the slice runs only the tasks that
# slice depends on: a 256 x 256 corner of the output needs the four tiles at
# the top left of the image and the few rows and columns its windows reach in
# the neighbouring tiles; the other tiles are never made.

start = time.perf_counter()
corner = out[:256, :256].compute()
print(f"computed {corner.shape} in {time.perf_counter() - start:.2f} s")

# %%
# The same numbers as in memory
# -----------------------------
#
# The in-memory check runs on a crop small enough to hold. The corner's last
# windows reach the image's row and column 1024 (counted from 0), so the corner
# depends on the top-left 1025 x 1025 pixels; a crop of 1040 x 1040 holds them
# all, and the in-memory pipeline on the crop must give the same values there.

crop = big[:1040, :1040].compute()
in_memory = pyx_cnn.pooling(pyx_cnn.relu(pyx_cnn.conv(crop, filters, stride=2, padding=2)),
                            2, 2)
print("corner equals the in-memory result, bit for bit:",
      np.array_equal(corner, in_memory[:256, :256]))

# %%
# And the whole crop, chunked into tiles of 300 x 400 pixels that do not line
# up with the stride or the pooling windows, computed lazily and compared
# whole: the tiles borrow what they need, and the result is again identical.

tiled = pda.pooling(pda.relu(pda.conv(da.from_array(crop, chunks=(300, 400)), filters,
                                      stride=2, padding=2)), 2, 2)
print("tiled crop equals the in-memory result, bit for bit:",
      np.array_equal(tiled.compute(), in_memory))

# %%
# A picture of it: the large image (every 8th pixel), its chunks, and the part
# of the image the computed corner comes from; then the corner's four maps.

overview = big[::8, ::8].compute()
fig, ax = plt.subplots(figsize=(8, 5.6), layout="constrained")
ax.imshow(overview, cmap="gray", extent=(0, big.shape[1], big.shape[0], 0))
for x in np.cumsum(big.chunks[1])[:-1]:
    ax.axvline(x, color="gold", linewidth=0.8)
for y in np.cumsum(big.chunks[0])[:-1]:
    ax.axhline(y, color="gold", linewidth=0.8)
ax.add_patch(Rectangle((0, 0), 1025, 1025, fill=False, edgecolor="red", linewidth=2.5,
                       label="input of the computed corner (1025 x 1025)"))
ax.set_xlabel("x (pixels)")
ax.set_ylabel("y (pixels)")
ax.set_title(f"A {big.shape[0]} x {big.shape[1]} image in {big.npartitions} chunks "
             "of 512 x 512 (gold lines)")
ax.legend(loc="lower right")
plt.show()

# %%

fig, axes = plt.subplots(1, 4, figsize=(12, 3.6), layout="constrained")
vmax = np.percentile(corner, 99.5)       # a few bright pixels would darken the rest
for f, ax in enumerate(axes):
    shown = ax.imshow(corner[..., f], cmap="magma", vmin=0, vmax=vmax)
    ax.set_title(f"filter {f + 1}: change along {np.rad2deg(angles[f]):.0f} degrees",
                 fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(shown, ax=axes, label="response after ReLU and pooling", shrink=0.8)
fig.suptitle("The computed 256 x 256 corner of the output: one map per filter")
plt.show()

# %%
# A large batch: predict chunk by chunk
# -------------------------------------
#
# A network trained on the digits (a few epochs, in memory) predicts a batch
# held as a dask array chunked along N. :func:`pyx_cnn.dask_arrays.predict`
# sends the network to the chunks (as its model file: the weights it has now)
# and returns a lazy ``(N, 10)`` array. ``net.predict(dask_array)`` does the
# same by itself.

X, y = datasets.load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
net = NeuralNetwork([
    layers.Conv2D(8, 3, padding=1), layers.ReLU(), layers.MaxPool2D(2, 2),
    layers.Flatten(), layers.Dense(10, activation="softmax"),
], input_shape=(8, 8, 1), seed=0, optimizer="momentum")
net.fit(X_train, y_train, epochs=5, learning_rate=0.05)

X_lazy = da.from_array(X_test, chunks=(100, 8, 8, 1))
probabilities = pda.predict(net, X_lazy)
labels = pda.predict_classes(net, X_lazy)
print(f"{X_lazy.npartitions} chunks of up to 100 images -> lazy {probabilities.shape}")

# %%
# Computing both in one call shares the work of reading the chunks. The
# probabilities equal the in-memory ``net.predict`` up to float rounding (a
# Dense layer's product may sum in another order for another number of rows),
# and the labels are the same.

probabilities, labels = dask.compute(probabilities, labels)
print("max |dask - in memory| =", np.abs(probabilities - net.predict(X_test)).max())
print("same labels:", np.array_equal(labels, net.predict_classes(X_test)))
print("evaluate over the chunks:", pda.evaluate(net, X_lazy, y_test))

# %%
# On a cluster
# ------------
#
# Only the scheduler changes. With ``distributed`` (installed by the ``dask``
# extra), a client started before computing sends the tasks to its workers;
# for a script, start it under ``if __name__ == "__main__":`` and close it at
# the end::
#
#     from distributed import Client, LocalCluster
#
#     if __name__ == "__main__":
#         with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, \
#                 Client(cluster) as client:
#             corner = out[:256, :256].compute()
#
# Give each worker one thread per core it owns and set ``OMP_NUM_THREADS`` to
# match, or the workers' threads and pyx_cnn's OpenMP threads fight for the
# cores.
