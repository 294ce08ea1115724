"""Figures of graph networks: plot_network_feature_maps follows the layer calls in the
order they run, so a layer called twice (its weights shared) has a column for each
call, as docs/command_line.rst says."""
import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, layers

pytest.importorskip("matplotlib")


def _shared_layer_network():
    x = layers.Input((6, 6, 1))
    shared = layers.Conv2D(2, 3, padding=1)
    first = shared(layers.Conv2D(2, 1)(x))
    second = shared(layers.ReLU()(first))
    out = layers.Dense(2)(layers.Flatten()(layers.Add()([first, second])))
    return NeuralNetwork(inputs=x, outputs=out, seed=0), shared


def test_network_feature_maps_draw_each_call_of_a_shared_layer():
    import matplotlib.pyplot as plt

    from pyx_cnn.plot import plot_network_feature_maps

    net, shared = _shared_layer_network()
    image = np.random.default_rng(0).random((6, 6, 1))
    stem = net.layers[0].forward(image[None])
    first = shared.forward(stem)
    second = shared.forward(np.maximum(first, 0))
    fig = plot_network_feature_maps(net, image)
    try:
        drawn = [im.get_array() for ax in fig.axes for im in ax.get_images()]
        for maps in (first, second):     # both calls' maps are drawn
            assert any(d.shape == (6, 6) and np.allclose(d, maps[0, ..., 0]) for d in drawn)
    finally:
        plt.close(fig)
