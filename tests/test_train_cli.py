"""``pyx-cnn train`` end to end, and the training plots."""
import numpy as np

from pyx_cnn import NeuralNetwork
from pyx_cnn.cli import main
from pyx_cnn.datasets import load_digits_split

PNG = b"\x89PNG\r\n\x1a\n"


def test_train_command_reaches_94_percent_and_writes_files(tmp_path, capsys):
    assert main(["--threads", "1", "train", "--epochs", "30", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    line = [ln for ln in printed.splitlines() if ln.startswith("test accuracy:")][0]
    accuracy = float(line.split()[2])
    assert accuracy >= 0.94
    for name in ("loss.png", "confusion.png", "filters.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    net = NeuralNetwork.load(tmp_path / "model.npz")
    _, X_test, _, y_test = load_digits_split(seed=0)
    assert abs(net.evaluate(X_test, y_test)["accuracy"] - accuracy) < 1e-4


def test_plots(tmp_path):
    import matplotlib.pyplot as plt

    from pyx_cnn.plot import plot_history, plot_network_feature_maps
    from pyx_cnn.models import digits_network

    net = digits_network(seed=0)
    X_train, X_test, y_train, y_test = load_digits_split(seed=0)
    history = net.fit(X_train, y_train, epochs=2, learning_rate=0.1,
                      validation_data=(X_test, y_test))
    fig = plot_history(history, path=tmp_path / "h.png")
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2          # training and validation loss
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "training", "validation"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), history.history["loss"])
    plt.close(fig)
    fig = plot_history(np.array([3.0, 2.0, 1.5]), path=tmp_path / "gd.png")
    assert len(fig.axes) == 1
    plt.close(fig)
    fig = plot_network_feature_maps(net, X_test[0], path=tmp_path / "maps.png")
    # input, Conv2D, ReLU and MaxPool2D columns of 8 rows (the input's 7 extra
    # panels are empty), plus one colour bar per column
    images = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(images) == 1 + 3 * 8
    assert len(fig.axes) == 4 * 8 + 4
    captions = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Conv2D (layer 1)" in captions and "MaxPool2D (layer 3)" in captions
    plt.close(fig)
    for name in ("h.png", "gd.png", "maps.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
