"""Naive-loop references for the backward passes (:mod:`pyx_cnn.reference`)."""
from pyx_cnn import reference


def conv_backward_naive(p, w, g, stride):
    """p (N,Hp,Wp,C) padded input, w (F,kh,kw,C), g (N,Ho,Wo,F) -> dP, dW, db (loops)."""
    return reference.conv_backward(p, w, g, stride, 0)


def maxpool_backward_naive(x, g, size, stride):
    """Each output gradient to the first maximum (row-major; NaN counts as the maximum)."""
    return reference.pooling_backward(x, g, size, stride)
