"""The figure functions on small inputs: what they draw, and their checks."""
import itertools

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

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
                            inputs=rng.random((14, 18)), filters=rng.standard_normal((3, 3, 3)),
                            shared_scale=False)
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


def _overlapping_pairs(texts, renderer):
    """Pairs of drawn, non-empty texts whose boxes overlap."""
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts
             if t.get_visible() and t.get_text()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
            if box_a.overlaps(box_b)]


@pytest.mark.parametrize("n_filters, scale", [(8, 0.2), (16, 0.2), (16, 1e-3), (16, 1e6),
                                              (16, 1e9)])
def test_filter_numbers_and_titles_never_overlap(n_filters, scale):
    # weights of a freshly trained layer: some of them tiny ("-0.00096" is long)
    rng = np.random.default_rng(1)
    weights = scale * rng.standard_normal((n_filters, 3, 3))
    weights[:, 0, 0] = -0.0048 * scale
    fig = plot_filters(weights)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = _image_axes(fig)
    texts = [t for ax in axes for t in ax.texts] + [ax.title for ax in axes]
    assert _overlapping_pairs(texts, renderer) == []
    # a number written in a cell stays inside its cell
    for ax in axes:
        box = ax.get_window_extent(renderer)
        cell_w, cell_h = box.width / 3, box.height / 3
        for t in ax.texts:
            extent = t.get_window_extent(renderer)
            assert extent.width <= cell_w and extent.height <= cell_h, t.get_text()


def test_many_filters_are_laid_out_in_a_grid():
    fig = plot_filters(np.random.default_rng(0).standard_normal((16, 3, 3)))
    fig.canvas.draw()
    axes = _image_axes(fig)
    rows = {round(ax.get_position().y0, 3) for ax in axes}
    columns = {round(ax.get_position().x0, 3) for ax in axes}
    assert len(rows) >= 2 and len(columns) <= 8
    width, height = fig.get_size_inches()
    assert width / height < 4
    # every filter drawn at least half an inch wide
    for ax in axes:
        assert ax.get_position().width * width >= 0.5


def test_filter_numbers_only_when_asked_or_when_they_fit():
    bank = np.random.default_rng(0).standard_normal((2, 3, 3))
    assert sum(len(ax.texts) for ax in plot_filters(bank).axes) == 2 * 9
    assert sum(len(ax.texts) for ax in plot_filters(bank, annotate=False).axes) == 0
    # numbers of ten digits do not fit in a cell: none is written
    assert sum(len(ax.texts) for ax in plot_filters(1e9 * bank).axes) == 0
    assert sum(len(ax.texts) for ax in plot_filters(1e9 * bank, annotate=True).axes) == 18
    # many panels: no numbers by default
    many = np.random.default_rng(0).standard_normal((16, 3, 3, 4))
    assert sum(len(ax.texts) for ax in plot_filters(many).axes) == 0
    # 5x5 kernels are not written out by default
    big = np.random.default_rng(0).standard_normal((2, 5, 5))
    assert sum(len(ax.texts) for ax in plot_filters(big).axes) == 0


def _inside_figure(fig):
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer()).transformed(fig.dpi_scale_trans)
    width, height = fig.bbox.width, fig.bbox.height
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height


@pytest.mark.parametrize("counts, names", [
    ([[12, 8], [0, 20]], ["non-face", "face"]),
    ([[12, 8], [0, 20]], ["not a face", "face"]),
    ([[1, 1], [0, 2]], ["a longer class name", "b"]),
    ([[1, 1, 0], [0, 2, 0], [0, 1, 1]], ["not a face", "face", "other"]),
    (np.diag(np.arange(1, 11)) + 1, None),
])
def test_confusion_matrix_is_never_clipped(counts, names):
    counts = np.asarray(counts)
    k = len(counts)
    y_true = np.repeat(np.repeat(np.arange(k), k), counts.ravel())
    y_pred = np.repeat(np.tile(np.arange(k), k), counts.ravel())
    fig = plot_confusion_matrix(y_true, y_pred, class_names=names,
                                title=f"faces test split ({counts.sum()} images)")
    np.testing.assert_array_equal(_image_axes(fig)[0].images[0].get_array(), counts)
    assert _inside_figure(fig)


def test_layer_stages_share_one_colour_scale():
    # conv -> ReLU -> pool of one layer: the same values in the same colour
    rng = np.random.default_rng(0)
    conv = rng.standard_normal((12, 16, 2))
    relu = np.maximum(conv, 0)
    pool = relu.reshape(6, 2, 8, 2, 2).max(axis=(1, 3))
    fig = plot_feature_maps({"conv": conv, "relu": relu, "pool": pool})
    images = [ax.images[0] for ax in _image_axes(fig)]
    assert len(images) == 6
    assert len({im.get_clim() for im in images}) == 1
    assert len({im.get_cmap().name for im in images}) == 1
    low, high = images[0].get_clim()
    assert low == -high and high > 0
    # one colour bar for the whole layer
    assert len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"]) == 1


def test_history_title_and_whole_epochs():
    fig = plot_history({"loss": [2.0, 1.0, 0.5]}, title="model 'bn' on faces")
    assert fig.get_suptitle() == "model 'bn' on faces"
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 3]
    assert ticks and all(t == int(t) for t in ticks)


def test_plot_keeps_the_backend_the_user_chose():
    import subprocess
    import sys
    code = ("import matplotlib; matplotlib.use('ps')\n"
            "from pyx_cnn.plot import plot_history\n"
            "plot_history([3.0, 2.0, 1.0])\n"
            "print(matplotlib.get_backend())\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd="/", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().lower() == "ps"


def test_network_feature_maps_of_a_graph_follow_its_calls():
    # a residual graph: the Add reads the convolution and the input, so running the
    # layers one after the other (as for a chain) would be wrong
    from pyx_cnn.plot import plot_network_feature_maps

    x = layers.Input((6, 6, 2))
    conv = layers.Conv2D(2, 3, padding=1)
    s = layers.Add()([conv(x), x])
    out = layers.Dense(2)(layers.Flatten()(s))
    net = NeuralNetwork(inputs=x, outputs=out, seed=0)
    image = np.random.default_rng(0).random((6, 6, 2))
    fig = plot_network_feature_maps(net, image)
    captions = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Add (layer 2)" in captions
    expected = conv.forward(image[None])[0] + image
    drawn = [im.get_array() for ax in fig.axes for im in ax.get_images()]
    assert any(d.shape == (6, 6) and np.allclose(d, expected[..., 0]) for d in drawn)
