"""The networks of the scikit-learn estimators (:mod:`pyx_cnn.sklearn`): a body of
layers with an output layer appended, or what a model function returns."""
import copy

from . import layers as _layers
from ._batches import sample_shape

__all__ = ["build_network"]


def build_network(layers, shape, n_outputs, activation, **settings):
    """A new network for samples of `shape` with the output ``(n_outputs,)``.

    Parameters
    ----------
    layers : None, list of Layer or callable
        The estimator's ``layers``: None (the default body), a body (copied fresh, then
        the output layer ``Dense(n_outputs, activation=activation)`` appended, after a
        ``Flatten`` when the body leaves an image), or a model function
        ``(input_shape, n_outputs) -> NeuralNetwork`` whose layers are built again.
    shape : tuple of int
        One sample's shape (``(H, W, C)`` or ``(features,)``).
    activation : str or None
        The output's activation ("softmax" for the classifier, None for the regressor).
    **settings
        ``seed``, ``dtype`` and ``optimizer`` of the network.
    """
    from .network import NeuralNetwork

    if callable(layers):
        net = _from_model_function(layers, shape, n_outputs, activation)
        if net.is_graph:
            return NeuralNetwork(inputs=net._chain.inputs, outputs=net._chain.outputs,
                                 **settings)
        return NeuralNetwork(net.layers, net.input_shape, **settings)
    body = _body(layers, shape)
    return NeuralNetwork(body + [_layers.Dense(n_outputs, activation=activation)], shape,
                         **settings)


def _fresh(layer):
    """A new, unbuilt layer of the same class and configuration."""
    if not isinstance(layer, _layers.Layer):
        raise TypeError(f"layers must hold pyx_cnn.layers layers, got {type(layer).__name__}")
    return type(layer)(**copy.deepcopy(layer.get_config()))


def _body(layers, shape):
    """Fresh copies of `layers` (or the default body), with a Flatten when they leave an image."""
    if layers is not None:
        body = [_fresh(layer) for layer in layers]
    elif len(shape) == 3:
        h, w, _ = shape
        body = [_layers.Conv2D(8, 3, padding=1, activation="relu")]
        if min(h, w) >= 2:
            body.append(_layers.MaxPool2D(2, 2))
    else:
        body = [_layers.Dense(32, activation="relu")]
    # a Flatten when the body leaves an image (its shape from a throwaway build)
    out = shape
    for layer in [_fresh(layer) for layer in body]:
        out = layer.build(out, rng=0)
    if len(out) > 1:
        body.append(_layers.Flatten())
    return body


def _from_model_function(function, shape, n_outputs, activation):
    """The network `function(shape, n_outputs)` returns, checked: a NeuralNetwork taking
    samples of `shape` with the output ``(n_outputs,)``, ending in `activation`."""
    from .network import NeuralNetwork

    name = getattr(function, "__name__", type(function).__name__)
    net = function(tuple(shape), n_outputs)
    if not isinstance(net, NeuralNetwork):
        raise TypeError(f"the model function {name}(input_shape, n_outputs) must return a "
                        f"pyx_cnn NeuralNetwork, got {type(net).__name__}")
    if (sample_shape(net.input_shape) != tuple(shape)
            or tuple(net.output_shape) != (n_outputs,)):
        raise ValueError(f"the model function {name} must return a network taking samples "
                         f"of shape {tuple(shape)} with output ({n_outputs},), got input "
                         f"{tuple(net.input_shape)} and output {tuple(net.output_shape)}")
    final = net._chain.final_activation
    if final != activation:
        raise ValueError(f"the model function {name} must return a network ending in "
                         f"{'a ' + activation if activation else 'no activation'} for "
                         f"this estimator, got one ending in {final or 'no activation'}")
    return net
