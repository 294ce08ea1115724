"""Bad command-line input: one line on stderr, exit status 2, no traceback."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pyx_cnn
from pyx_cnn.cli import main


def _env():
    """The environment for a child Python that imports this very pyx_cnn.

    Run from tmp_path, the child finds an installed package by itself; an
    in-place build in a source tree is found through PYTHONPATH.
    """
    env = dict(os.environ)
    root = Path(pyx_cnn.__file__).resolve().parents[1]
    if (root / "setup.py").exists():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def run_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "pyx_cnn", *args], capture_output=True,
                          text=True, cwd=tmp_path, env=_env(), timeout=300)


@pytest.mark.parametrize("args, words", [
    (["demo", "--image", "missing.png"], ["--image", "missing.png"]),
    (["demo", "--image", "notes.txt"], ["notes.txt", "image"]),
    (["--threads", "0", "demo"], ["--threads", "0"]),
    (["train", "--epochs", "-1"], ["--epochs", "-1"]),
    (["train", "--epochs", "0"], ["--epochs", "at least 1"]),
    (["train", "--batch-size", "zero"], ["--batch-size", "zero"]),
    (["train", "--learning-rate", "-0.5"], ["--learning-rate", "-0.5"]),
    (["nonsense"], ["nonsense"]),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    (tmp_path / "notes.txt").write_text("not a picture\n")
    result = run_cli(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pyx-cnn")
    assert "error:" in lines[0]
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "train_out").exists()


def test_version_is_one_line(tmp_path):
    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    config = pyx_cnn.show_config()
    assert lines[0].startswith(f"pyx_cnn {pyx_cnn.__version__} (")
    assert ("no OpenMP" in lines[0]) == (not config["openmp"])
    assert any(level in lines[0] for level in ("AVX-512", "AVX2", "SSE2"))
    assert f"{config['num_threads']} thread" in lines[0]


def test_version_follows_threads(tmp_path):
    result = run_cli(tmp_path, "--threads", "1", "--version")
    assert result.returncode == 0
    # "... 1 thread)", or "... 1 thread, bounds-checked build)" for a debug build
    assert re.search(r"\(.* 1 thread[),]", result.stdout), result.stdout


@pytest.mark.parametrize("command", ["train", "demo", "bench"])
def test_help_shows_defaults(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default:" in text
    if command == "train":
        assert "(default: 30)" in text and "test split" in text


def test_unwritable_output_folder_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:   # refused by the parser, before the demo
        main(["demo", "--out", str(blocker / "sub")])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pyx-cnn demo: error: --out:")
    assert captured.out == ""


def test_missing_demo_extra_names_the_extra(monkeypatch, capsys, tmp_path):
    from pyx_cnn._optional import MissingExtraError
    from pyx_cnn.demo import load_image

    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(MissingExtraError, match=r'pip install "pyx_cnn\[demo\]"'):
        load_image()
    assert main(["demo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scikit-image" in err[0] and "pyx_cnn[demo]" in err[0]
    assert not list(tmp_path.glob("*.png"))


def test_missing_train_extra_names_the_extra(monkeypatch, capsys, tmp_path):
    from pyx_cnn._optional import MissingExtraError
    from pyx_cnn.datasets import load_digits_split

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    monkeypatch.setitem(sys.modules, "sklearn.model_selection", None)
    with pytest.raises(MissingExtraError, match=r'pip install "pyx_cnn\[train\]"'):
        load_digits_split()
    assert main(["train", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scikit-learn" in err[0] and "pyx_cnn[train]" in err[0]


@pytest.mark.parametrize("kwargs, name", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"),
])
def test_run_train_refuses_bad_arguments_before_writing(tmp_path, kwargs, name):
    from pyx_cnn.train_command import run_train

    with pytest.raises(ValueError, match=name):
        run_train(out_dir=tmp_path / "out", verbose=False, **kwargs)
    assert not (tmp_path / "out").exists()
