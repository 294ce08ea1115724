"""``pyx-cnn train --model resnet18 | mobilenet_v2`` on a tiny image folder."""
import numpy as np
import pytest

from pyx_cnn import NeuralNetwork
from pyx_cnn.cli import main
from pyx_cnn.train_command import run_train

PNG = b"\x89PNG\r\n\x1a\n"


def _image_folder(root, per_class=6, size=(10, 10)):
    """Two classes of small RGB images: dark ones and bright ones."""
    io = pytest.importorskip("skimage.io")
    rng = np.random.default_rng(0)
    for name, low in (("dark", 0), ("bright", 128)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(low, low + 128, size + (3,)).astype(np.uint8)
            io.imsave(root / name / f"{i}.png", image, check_contrast=False)
    return root


@pytest.mark.parametrize("model", ["resnet18", "mobilenet_v2"])
def test_train_trains_the_large_models(tmp_path, capsys, model):
    pytest.importorskip("sklearn")
    folder = _image_folder(tmp_path / "pictures", per_class=5)   # 8 train, 2 test
    out = tmp_path / "out"
    argv = ["--threads", "1", "train", "--model", model, "--dataset", str(folder),
            "--image-size", "8", "8", "--grayscale", "--epochs", "1", "--batch-size", "4",
            "--learning-rate", "0.01", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "test accuracy:" in printed
    for name in ("loss.png", "confusion.png", "filters.png"):
        assert (out / name).read_bytes()[:8] == PNG
    net = NeuralNetwork.load(out / "model.npz")
    assert net.dtype == np.float32 and net.input_shape == (8, 8, 1)
    assert net.output_shape == (2,)          # a softmax over the two classes
    assert net.count_params() > 1_000_000


def test_a_last_batch_of_one_image_before_1x1_batch_norm_is_one_line(tmp_path, capsys):
    # 8x8 images leave 1x1 maps in ResNet-18's last stage: batch normalisation has no
    # statistics of one image there (as in PyTorch); 9 training images in batches of 8
    pytest.importorskip("sklearn")
    folder = _image_folder(tmp_path / "pictures", per_class=6)
    out = tmp_path / "out"
    argv = ["train", "--model", "resnet18", "--dataset", str(folder), "--image-size", "8",
            "8", "--batch-size", "8", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "batch_size 8 leaves one of the 9 training images" in err
    assert "--batch-size" in err and "--image-size" in err
    assert not out.exists()


@pytest.mark.parametrize("model", ["resnet18", "mobilenet_v2"])
def test_an_image_too_small_for_the_model_is_one_line(tmp_path, capsys, model):
    out = tmp_path / "out"
    argv = ["train", "--model", model, "--image-size", "4", "8", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("pyx-cnn train: error: --image-size 4 8")
    assert f"--model {model}" in err and "at least 8" in err
    assert not out.exists()                  # no empty folder left behind


def test_the_small_models_still_take_4_pixels(tmp_path, capsys):
    # --image-size accepts 4 (the small networks); below that the parser refuses
    with pytest.raises(SystemExit) as info:
        main(["train", "--image-size", "3", "4", "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    assert "--image-size: must be at least 4" in capsys.readouterr().err


def test_run_train_names_image_size_and_the_model(tmp_path):
    with pytest.raises(ValueError, match=r"image_size .* at least 8 for model 'resnet18'"):
        run_train(model="resnet18", image_size=(6, 6), out_dir=tmp_path / "o")
    with pytest.raises(ValueError, match="model must be one of small, bn, all, resnet18, "
                                         "mobilenet_v2, got 'resnet50'"):
        run_train(model="resnet50", out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_help_lists_the_models(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "{small,bn,all,resnet18,mobilenet_v2}" in text
    assert "8 for resnet18 and mobilenet_v2" in text
