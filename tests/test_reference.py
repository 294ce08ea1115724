"""Kernel == reference for the elementwise ops and the loss (conv and pooling are
checked against pyx_cnn.reference throughout test_conv, test_pooling and
test_grad_kernels)."""
import numpy as np
import pytest

import pyx_cnn
from pyx_cnn import reference
from pyx_cnn.losses import SoftmaxCrossEntropy
from pyx_cnn.ops.activations import ACTIVATIONS

RNG = np.random.default_rng(11)
X = np.concatenate([RNG.standard_normal(200) * 30, [0.0, -0.0, 800.0, -800.0, np.nan]])


@pytest.mark.parametrize("name", ["relu", "sigmoid"])
def test_elementwise_kernels_equal_the_reference(name):
    np.testing.assert_allclose(getattr(pyx_cnn, name)(X), getattr(reference, name)(X),
                               rtol=1e-15, atol=0)


def test_relu_backward_equals_the_reference():
    y = pyx_cnn.relu(X)
    g = RNG.standard_normal(X.shape)
    np.testing.assert_array_equal(ACTIVATIONS["relu"].backward(g, y),
                                  reference.relu_backward(y, g))


def test_softmax_equals_the_reference():
    z = RNG.standard_normal((5, 4, 7)) * 50
    for axis in (-1, 0, 1):
        np.testing.assert_allclose(pyx_cnn.softmax(z, axis=axis), reference.softmax(z, axis),
                                   rtol=1e-13, atol=1e-300)


def test_cross_entropy_kernel_equals_the_reference():
    z = RNG.standard_normal((6, 3, 5)) * 10
    labels = RNG.integers(0, 5, (6, 3))
    value, grad = SoftmaxCrossEntropy()(z, labels)
    ref_value, ref_grad = reference.softmax_cross_entropy(z, labels)
    assert value == pytest.approx(ref_value, rel=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-16)
