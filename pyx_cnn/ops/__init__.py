"""The operations of a network, each with its forward and backward pass side by side.

Both the functional API (:mod:`pyx_cnn.functional`) and the layers
(:mod:`pyx_cnn.layers`) are built on these. An op works on validated,
C-contiguous arrays of one float dtype (the callers validate) and calls the
compiled kernels; its backward pass takes what its forward pass returned or
saved and the gradient of the output.
"""
