"""pyx_cnn.datasets and ``pyx-cnn train --dataset`` (no download in the tests)."""
import gzip
import os
import struct

import numpy as np
import pytest

from pyx_cnn import datasets
from pyx_cnn.cli import main


def test_load_digits():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 8, 8, 1) and X.dtype == np.float64
    assert X.min() == 0 and X.max() == 1 and set(np.unique(y)) == set(range(10))


def test_load_faces():
    X, y = datasets.load_faces()
    assert X.shape == (200, 25, 25, 1) and 0 <= X.min() and X.max() <= 1
    assert y.dtype == np.int64 and (y[:100] == 1).all() and (y[100:] == 0).all()


def _write_idx(path, array, compress=False):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                      *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_reads_idx_files_from_the_cache(tmp_path, compress, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    labels = rng.integers(0, 10, 8)
    suffix = ".gz" if compress else ""
    _write_idx(folder / f"train-images-idx3-ubyte{suffix}", train, compress)
    _write_idx(folder / f"train-labels-idx1-ubyte{suffix}", labels[:5], compress)
    _write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", test, compress)
    _write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", labels[5:], compress)
    monkeypatch.setenv("PYX_CNN_DATA", str(tmp_path))
    X, y = datasets.load_mnist(download=False)
    assert X.shape == (8, 28, 28, 1)
    np.testing.assert_array_equal(X[..., 0], np.concatenate([train, test]) / 255.0)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_without_files(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no MNIST files"):
        datasets.load_mnist(tmp_path, download=False)
    calls = []

    def fake_fetch(name, **kwargs):
        calls.append((name, kwargs))

        class Bunch:
            data = np.zeros((2, 784))
            target = np.array(["3", "7"])
        return Bunch()

    import sklearn.datasets
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch)
    X, y = datasets.load_mnist(tmp_path)
    assert X.shape == (2, 28, 28, 1) and list(y) == [3, 7]
    assert calls[0][0] == "mnist_784" and calls[0][1]["data_home"] == str(tmp_path)
    (tmp_path / "mnist").mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "mnist" / stem).write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable IDX file"):
        datasets.load_mnist(tmp_path)


def _image_folder(root, size=(12, 10)):
    from skimage import io

    rng = np.random.default_rng(0)
    for name, n in (("dogs", 6), ("cats", 5)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            image = (rng.random(size + (3,)) * 255).astype(np.uint8)
            if name == "cats":
                image[:, : size[1] // 2] = 255
            io.imsave(root / name / f"{i}.png", image, check_contrast=False)
    (root / "dogs" / "notes.txt").write_text("skipped")
    io.imsave(root / "cats" / "grey.png", np.full(size, 128, np.uint8), check_contrast=False)
    return root


def test_load_image_folder(tmp_path):
    root = _image_folder(tmp_path / "pets")
    X, y, names = datasets.load_image_folder(root, (8, 6))
    assert names == ["cats", "dogs"]
    assert X.shape == (12, 8, 6, 3) and 0 <= X.min() and X.max() <= 1
    assert list(y) == [0] * 6 + [1] * 6
    Xg, yg, _ = datasets.load_image_folder(root, (4, 4), grayscale=True)
    assert Xg.shape == (12, 4, 4, 1)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image folder"):
        datasets.load_image_folder(tmp_path / "nothing", (4, 4))
    with pytest.raises(ValueError, match="no class sub-folders"):
        datasets.load_image_folder(tmp_path, (4, 4))
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no images"):
        datasets.load_image_folder(tmp_path, (4, 4))
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        datasets.load_image_folder(tmp_path, (4, 4))
    with pytest.raises(ValueError, match="image_size"):
        datasets.load_image_folder(tmp_path, 4)


def test_missing_extra_names_it(monkeypatch):
    import builtins

    from pyx_cnn._optional import MissingExtraError

    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.startswith("skimage"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    for module in [m for m in list(__import__("sys").modules) if m.startswith("skimage")]:
        monkeypatch.delitem(__import__("sys").modules, module)
    with pytest.raises(MissingExtraError, match=r"pyx_cnn\[datasets\]"):
        datasets.load_faces()


def test_train_cli_on_faces_and_an_image_folder(tmp_path, capsys):
    assert main(["train", "--dataset", "faces", "--epochs", "2",
                 "--out", str(tmp_path / "faces")]) == 0
    out = capsys.readouterr().out
    # the summary shows the final sigmoid left to binary cross-entropy, as fit runs it
    assert "test accuracy" in out and "sigmoid_into_loss" in out
    for name in ("model.npz", "loss.png", "confusion.png", "filters.png"):
        assert os.path.exists(tmp_path / "faces" / name)
    root = _image_folder(tmp_path / "pets")
    assert main(["train", "--dataset", str(root), "--image-size", "8", "8", "--epochs", "2",
                 "--out", str(tmp_path / "pets_out")]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_train_cli_dataset_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:    # refused by the parser
        main(["train", "--dataset", str(tmp_path / "missing"), "--epochs", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pyx-cnn train: error: --dataset: expected" in err
    (tmp_path / "empty" / "a").mkdir(parents=True)
    assert main(["train", "--dataset", str(tmp_path / "empty"), "--epochs", "1"]) == 2
    assert "no images" in capsys.readouterr().err
