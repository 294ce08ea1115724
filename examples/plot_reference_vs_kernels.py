"""
The reference loops beside the compiled kernels
===============================================

:mod:`pyx_cnn.reference` holds the readable version of every operation:
plain Python loops in float64, written as the tutorial writes them, without
SIMD, threads or memory layouts (convolution, max, average and global pooling,
batch normalisation, dropout, the activations and the softmax cross-entropy,
each with its backward pass). They are the definitions; the compiled kernels
compute the same numbers, much faster, and the test suite proves that they
agree on random shapes, strides, paddings, dilations and special values.

This example calls both on the same small input, shows that they agree, times
them, prints the source of a reference function, and says where each piece of
the compiled path lives.
"""

import inspect
import timeit
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import pyx_cnn
from pyx_cnn import layers, reference

# %%
# The same input for both
# -----------------------
#
# A batch of two 16x16 images with three channels, and four 3x3 filters with a
# bias. Shapes are channels-last, for the reference as for the library:
# images ``(N, H, W, C)``, filters ``(F, kh, kw, C)``.

rng = np.random.default_rng(0)
x = rng.standard_normal((2, 16, 16, 3))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)

# %%
# Forward passes
# --------------
#
# The convolution with a padding of 1 (the output keeps the 16x16 size), the
# ReLU, and 2x2 max- and average pooling. Each pair is compared by the largest
# absolute difference between the two results.

pairs = {
    "conv": (lambda: reference.conv(x, w, stride=1, padding=1, bias=b),
             lambda: pyx_cnn.conv(x, w, stride=1, padding=1, bias=b)),
    "relu": (lambda: reference.relu(x), lambda: pyx_cnn.relu(x)),
    "pooling": (lambda: reference.pooling(x, 2, 2), lambda: pyx_cnn.pooling(x, 2, 2)),
    "avg_pooling": (lambda: reference.avg_pooling(x, 2, 2),
                    lambda: pyx_cnn.avg_pooling(x, 2, 2)),
}
for name, (loops, compiled) in pairs.items():
    a, c = loops(), compiled()
    print(f"{name:11s} shape {c.shape}: max |reference - compiled| = "
          f"{np.abs(a - c).max():.2e}")

# %%
# ReLU and max-pooling pick values, so they agree exactly; average pooling,
# which adds four values and divides by 4, agrees exactly here too. The
# convolution adds 27 products per output in another order (the compiled
# kernel uses fused multiply-adds and a fixed order of its own), so the two
# agree to float64 rounding: differences of the order of 1e-15 on outputs of
# order 1 to 10.
#
# Backward passes
# ---------------
#
# :func:`pyx_cnn.reference.conv_backward` gives the three gradients of the
# convolution from the gradient of its output. The :class:`~pyx_cnn.layers.Conv2D`
# layer computes them with the compiled kernels: we give it the same weights
# and compare.

grad_out = rng.standard_normal((2, 16, 16, 4))
ref_dx, ref_dw, ref_db = reference.conv_backward(x, w, grad_out, stride=1, padding=1)

conv_layer = layers.Conv2D(4, 3, padding=1)
conv_layer.build((16, 16, 3))
conv_layer.params["W"][...] = w
conv_layer.params["b"][...] = b
conv_layer.forward(x)
dx = conv_layer.backward(grad_out)
for name, ref, got in (("dL/dx", ref_dx, dx), ("dL/dW", ref_dw, conv_layer.grads["W"]),
                       ("dL/db", ref_db, conv_layer.grads["b"])):
    print(f"Conv2D {name}: max |reference - compiled| = {np.abs(ref - got).max():.2e}")

# %%
# The max-pooling layer sends each output's gradient to the first maximum of
# its window, as :func:`pyx_cnn.reference.pooling_backward` does:

pool_layer = layers.MaxPool2D(2, 2)
pool_layer.forward(x)
grad_pool = rng.standard_normal((2, 8, 8, 3))
print("MaxPool2D dL/dx: max |reference - compiled| =",
      np.abs(reference.pooling_backward(x, grad_pool, 2, 2)
             - pool_layer.backward(grad_pool)).max())

# %%
# How long each takes
# -------------------
#
# The best of a few runs of each. The reference functions run one Python step
# per output value, the compiled kernels one SIMD instruction for several
# values (and, on inputs large enough to pay for it, on every core).

times = {}
for name, (loops, compiled) in pairs.items():
    times[name] = [min(timeit.repeat(fn, number=number, repeat=3)) / number
                   for fn, number in ((loops, 1), (compiled, 200))]
    print(f"{name:11s} reference {times[name][0] * 1e3:8.2f} ms, compiled "
          f"{times[name][1] * 1e6:7.1f} us: {times[name][0] / times[name][1]:,.0f}x")

fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
names = list(times)
at = np.arange(len(names))
ax.bar(at - 0.2, [times[n][0] for n in names], width=0.4, label="pyx_cnn.reference (loops)")
ax.bar(at + 0.2, [times[n][1] for n in names], width=0.4, label="compiled kernel")
for i, n in enumerate(names):
    ax.annotate(f"{times[n][0] / times[n][1]:,.0f}x", (i, times[n][0]), ha="center",
                va="bottom", xytext=(0, 3), textcoords="offset points")
ax.set_yscale("log")
ax.set_xticks(at, names)
ax.set_ylabel("seconds per call (log scale)")
ax.set_title("Same input (2x16x16x3), same numbers: loops against kernels")
ax.legend(loc="upper right", fontsize=9)
ax.margins(y=0.25)
plt.show()

# %%
# Reading a reference function
# ----------------------------
#
# The reference max-pooling is four loops and a ``max``: the whole definition,
# including the output size (floor mode: the last window is kept when it fits).

print(inspect.getsource(reference.pooling))

# %%
# The convolution's definition is the formula in its docstring and the window
# product in its loop; the slices with a step of ``dh`` and ``dw`` take the
# taps of a dilated window:

print(inspect.getsource(reference.conv))

# %%
# Where the compiled path lives
# -----------------------------
#
# A call of :func:`pyx_cnn.conv` goes through four files, each short enough to
# read:
#
# ``pyx_cnn/functional.py``
#     The public function: it validates the arguments (shapes, dtypes,
#     ``padding="same"``...) and turns one image into a batch of one.
# ``pyx_cnn/ops/conv.py``
#     The operation, forward and backward side by side (every operation has a
#     module in ``pyx_cnn/ops/``): the padding, the filters' layout, the choice
#     of the input-gradient algorithm.
# ``pyx_cnn/_conv.pyx``
#     The Cython kernel: typed memoryviews, released from the GIL, rows of the
#     output handed out to OpenMP threads.
# ``src_c/conv_kernels_impl.h``
#     The plain-C SIMD microkernels, compiled once per instruction set (SSE2,
#     AVX2, AVX-512); the running CPU picks its copy.
#
# ``pyx_cnn/reference.py`` holds the loops shown above, one function per
# operation and one per backward pass; the docstring of each operation in
# ``pyx_cnn/ops/`` names its reference under "See Also".
#
# The operations, one module each, and the build that ran this page:

package = Path(pyx_cnn.__file__).parent
print("operations in pyx_cnn/ops/:",
      ", ".join(sorted(p.name for p in (package / "ops").glob("*.py") if p.name != "__init__.py")))
print("this build:", pyx_cnn.version_line())
