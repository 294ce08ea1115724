"""The figure functions on small inputs: what they draw, and their checks."""
import numpy as np
import pytest

from pyx_cnn import NeuralNetwork, layers
from pyx_cnn.plot import (plot_confusion_matrix, plot_feature_maps, plot_filters,
                          plot_history)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def test_feature_maps_share_one_scale_per_stage_and_draw_to_scale(tmp_path):
    rng = np.random.default_rng(0)
    conv = rng.standard_normal((12, 16, 3))
    pool = np.abs(rng.standard_normal((6, 8, 3)))
    fig = plot_feature_maps({"conv": conv, "pool": pool}, path=tmp_path / "m.png",
                            inputs=rng.random((14, 18)), filters=rng.standard_normal((3, 3, 3)))
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG
    images = [ax.images[0] for ax in _image_axes(fig)]
    conv_images = [im for im in images if im.get_array().shape == (12, 16)]
    pool_images = [im for im in images if im.get_array().shape == (6, 8)]
    assert len(conv_images) == 3 and len(pool_images) == 3
    # one colour scale per stage: symmetric about 0 when there are negatives
    assert len({im.get_clim() for im in conv_images}) == 1
    low, high = conv_images[0].get_clim()
    assert low == -high and high > 0
    assert pool_images[0].get_clim()[0] == 0
    # drawn to scale: every panel spans the largest map
    for im in pool_images:
        assert im.axes.get_xlim() == (-0.5, 15.5)
    # the filter bank: 3 filters of one channel
    assert sum(1 for im in images if im.get_array().shape == (3, 3)) == 3
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colour_bars) == 4   # conv, pool, input, filters


@pytest.mark.parametrize("stages, error", [
    ({}, TypeError),
    ([np.zeros((4, 4))], TypeError),
    ({"conv": np.zeros((4,))}, ValueError),
    ({"conv": np.zeros((2, 4, 4, 1))}, ValueError),
    ({"conv": np.zeros((0, 4))}, ValueError),
    ({"conv": np.array([["a"]])}, TypeError),
])
def test_feature_maps_validate_stages(stages, error):
    with pytest.raises(error, match="stages"):
        plot_feature_maps(stages)


def test_plot_filters_of_a_layer_and_of_an_array(tmp_path):
    net = NeuralNetwork([layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(2)],
                        input_shape=(6, 6, 2), seed=0)
    fig = plot_filters(net.layers[0], path=tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG
    images = [ax.images[0] for ax in _image_axes(fig)]
    assert len(images) == 4 * 2                      # 4 filters x 2 input channels
    weights = net.layers[0].params["W"]
    np.testing.assert_array_equal(images[1].get_array(), weights[1, :, :, 0])
    bound = np.abs(weights).max()
    assert images[0].get_clim() == (-bound, bound)
    assert len(_image_axes(plot_filters(np.ones((5, 7, 7))))) == 5


@pytest.mark.parametrize("weights, error", [
    (np.ones((3, 3)), ValueError),
    (np.ones((1, 2, 3, 3, 3)), ValueError),
    (np.ones((0, 3, 3)), ValueError),
    (np.ones((2, 3, 3), dtype=complex), TypeError),
])
def test_plot_filters_validates(weights, error):
    with pytest.raises(error, match="layer_or_weights"):
        plot_filters(weights)


def test_confusion_matrix_counts(tmp_path):
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    fig = plot_confusion_matrix(y_true, y_pred, class_names=["a", "b", "c"],
                                path=tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG
    counts = _image_axes(fig)[0].images[0].get_array()
    expected = np.zeros((3, 3), int)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(counts, expected)
    assert "4 of 6 right" in _image_axes(fig)[0].get_title()
    assert [t.get_text() for t in _image_axes(fig)[0].get_xticklabels()] == ["a", "b", "c"]


@pytest.mark.parametrize("y_true, y_pred, kwargs, error, name", [
    ([0, 1], [0, 1, 1], {}, ValueError, "same shape"),
    ([], [], {}, ValueError, "y_true"),
    ([[0, 1]], [[0, 1]], {}, ValueError, "y_true"),
    ([0.5, 1], [0, 1], {}, TypeError, "y_true"),
    ([0, -1], [0, 1], {}, ValueError, "y_true"),
    ([0, 1], ["a", "b"], {}, TypeError, "y_pred"),
    ([0, 3], [0, 1], {"class_names": ["a", "b"]}, ValueError, "class_names"),
])
def test_confusion_matrix_validates(y_true, y_pred, kwargs, error, name):
    with pytest.raises(error, match=name):
        plot_confusion_matrix(y_true, y_pred, **kwargs)


def test_history_labels_and_empty_history():
    fig = plot_history({"loss": [2.0, 1.0], "val_loss": [2.5, 1.5]}, val_label="test")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["training", "test"]
    with pytest.raises(ValueError, match="empty"):
        plot_history({"loss": []})
    with pytest.raises(ValueError, match="'loss'"):
        plot_history({"accuracy": [0.5]})


def test_network_feature_maps_say_when_maps_are_left_out():
    from pyx_cnn.plot import plot_network_feature_maps

    net = NeuralNetwork([layers.Conv2D(5, 3), layers.ReLU(), layers.Flatten(),
                         layers.Dense(2)], input_shape=(7, 7), seed=0)
    fig = plot_network_feature_maps(net, np.zeros((7, 7)), max_maps=3)
    captions = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Conv2D (layer 1)\n(first 3 of 5 maps)" in captions
    assert len(_image_axes(fig)) == 1 + 3 + 3
    with pytest.raises(ValueError, match="max_maps"):
        plot_network_feature_maps(net, np.zeros((7, 7)), max_maps=0)
