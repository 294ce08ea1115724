"""The command line checks every option before it does any work.

Each case runs ``python -m pyx_cnn`` in a child process from a folder outside
the source tree, as a user would: a refused option is one line on stderr that
names it, exit status 2, no traceback, and nothing printed or written before.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from childenv import child_env
from pyx_cnn._threads import MAX_THREADS
from pyx_cnn.cli import build_parser

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# A child Python in which ``import torch`` fails, as on a machine without PyTorch.
NO_TORCH = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return None

sys.meta_path.insert(0, _NoTorch())
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("the torch blocker did not work")
"""

# A child Python without a network: every name lookup and connection fails.
NO_NETWORK = """
import socket

def _refuse(*args, **kwargs):
    raise OSError(101, "Network is unreachable (blocked for this test)")

socket.getaddrinfo = _refuse
socket.create_connection = _refuse
socket.socket.connect = _refuse
"""

RUN_CLI = "\nimport runpy\nrunpy.run_module('pyx_cnn', run_name='__main__', alter_sys=True)\n"


def run_cli(cwd, *args, prelude=None, timeout=120, **env):
    """``python -m pyx_cnn ARGS`` in `cwd`; with `prelude`, that code runs first."""
    command = [sys.executable, "-m", "pyx_cnn"] if prelude is None else [
        sys.executable, "-c", prelude + RUN_CLI]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True,
                          cwd=cwd, env=child_env(**env), timeout=timeout)


def assert_refused(result, *words):
    """One line ``pyx-cnn ...: error: ...`` naming `words`, exit status 2, no work done."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.match(r"pyx-cnn( \w+)?: error: ", lines[0]), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == "", "work was done before the option was refused:\n" + result.stdout
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (["train", "--epochs", "1", "--out", "a_file"], ["--out", "a_file", "is a file, not a folder"]),
    (["train", "--epochs", "1", "--out", "a_file/sub"], ["--out", "a_file", "is a file"]),
    (["demo", "--out", "/dev/null/x"], ["--out", "/dev/null"]),
    (["demo", "--out", "a_file"], ["--out", "is a file, not a folder"]),
    (["bench", "--quick", "--suite", BENCHMARKS, "--out", "a_file"],
     ["--out", "is a file, not a folder"]),
    (["--threads", "100000", "--version"], ["--threads", "100000", f"1 to {MAX_THREADS}"]),
    (["--threads", "100000", "train", "--epochs", "1"], ["--threads", f"1 to {MAX_THREADS}"]),
    (["bench", "--quick", "--suite", BENCHMARKS, "--threads", "100000"],
     ["--threads", "100000", f"1 to {MAX_THREADS}"]),
    (["bench", "--quick", "--suite", BENCHMARKS, "--threads", "1,two"], ["--threads", "two"]),
    (["bench", "--quick", "--suite", BENCHMARKS, "--threads", ","], ["--threads"]),
    (["bench", "--quick", "--suite", "no_such_folder"], ["--suite", "no_such_folder"]),
    (["bench", "--quick", "--suite", "."], ["--suite", "suite.py"]),
    (["train", "--epochs", "1", "--seed", "-1"], ["--seed", "-1"]),
    (["train", "--epochs", "1", "--seed", "4294967296"], ["--seed", "4294967295"]),
    (["demo", "--seed", "-3"], ["--seed", "-3"]),
    (["train", "--epochs", "1.5"], ["--epochs", "1.5"]),
    (["train", "--batch-size", "0"], ["--batch-size", "at least 1"]),
    (["train", "--learning-rate", "nan"], ["--learning-rate", "nan"]),
    (["train", "--learning-rate", "inf"], ["--learning-rate", "inf"]),
    (["train", "--epochs", "1", "--image-size", "0", "5"], ["--image-size", "0"]),
    (["train", "--epochs", "1", "--image-size", "3", "8"], ["--image-size", "at least 4"]),
    (["train", "--epochs", "1", "--model", "huge"], ["--model", "huge"]),
    (["train", "--epochs", "1", "--dataset", "no_such_set"], ["--dataset", "no_such_set"]),
    (["train", "--epochs", "1", "--dataset", "a_file"], ["--dataset", "a_file", "not a folder"]),
])
def test_bad_option_is_refused_before_any_work(tmp_path, args, words):
    (tmp_path / "a_file").write_text("not a folder\n")
    start = time.perf_counter()
    line = assert_refused(run_cli(tmp_path, *args), *words)
    assert "argument " not in line          # the option itself leads the message
    assert time.perf_counter() - start < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


UNWRITABLE = [
    # a folder that os.access calls writable for root, but where nothing can be made
    pytest.param("/proc/x", id="/proc/x", marks=pytest.mark.skipif(
        not Path("/proc/self").is_dir(), reason="needs Linux's /proc")),
    # a folder without write permission (root writes anyway)
    pytest.param("read_only/x", id="read-only folder", marks=pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")),
    pytest.param("a_file/x", id="under a file"),
]


@pytest.mark.parametrize("out", UNWRITABLE)
@pytest.mark.parametrize("command", [
    ["train", "--epochs", "1"], ["demo"], ["bench", "--quick", "--suite", BENCHMARKS]],
    ids=["train", "demo", "bench"])
def test_an_out_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, command,
                                                                         out):
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "read_only").mkdir(mode=0o555)
    try:
        line = assert_refused(run_cli(tmp_path, *command, "--out", out), "--out", out)
    finally:
        (tmp_path / "read_only").chmod(0o755)
    assert "argument " not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "read_only"]
    assert list((tmp_path / "read_only").iterdir()) == []


def test_the_out_folder_is_made_up_front_and_left_empty_when_the_run_fails(tmp_path):
    from pyx_cnn.train_command import _make_output_folder, _remove_made_folders

    made, problem = _make_output_folder(tmp_path / "a" / "b")
    assert problem is None and made == [str(tmp_path / "a" / "b"), str(tmp_path / "a")]
    assert list((tmp_path / "a" / "b").iterdir()) == []        # the probe file is gone
    assert _make_output_folder(tmp_path / "a" / "b") == ([], None)
    _remove_made_folders(made)
    assert list(tmp_path.iterdir()) == []
    # a run that fails after the check (no network for the data) leaves no folder behind
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    result = run_cli(work, "train", "--epochs", "1", "--dataset", "mnist", "--out", "new/out",
                     prelude=NO_NETWORK, PYX_CNN_DATA=str(data))
    assert result.returncode == 2 and "MNIST" in result.stderr, result.stderr
    assert list(work.iterdir()) == []


def _option_blocks(help_text):
    """{option string: its whole help entry on one line} from an argparse help text."""
    blocks, current = {}, None
    for line in help_text.splitlines():
        match = re.match(r"  (-[\w-]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in blocks.items()}


def _subparsers():
    parser = build_parser()
    yield None, parser
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            yield from action.choices.items()


@pytest.mark.parametrize("command", [None, "demo", "train", "bench"])
def test_help_prints_each_default_once_and_right(tmp_path, command):
    parser = dict(_subparsers())[command]
    args = ([command] if command else []) + ["--help"]
    result = run_cli(tmp_path, *args, COLUMNS="90")
    assert result.returncode == 0, result.stderr
    blocks = _option_blocks(result.stdout)
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        block = blocks[action.option_strings[0]]
        assert block.count("(default:") <= 1, block
        default = action.default
        if default is None or default is False:
            # no value to show: the help says in words what happens, or nothing
            assert "(default: None)" not in block and "(default: False)" not in block, block
        else:
            shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) \
                else str(default)
            assert f"(default: {shown})" in block, block


def test_help_says_what_image_size_and_grayscale_do():
    train = dict(_subparsers())["train"]
    text = " ".join(train.format_help().split())
    assert re.search(r"--image-size H W .*digits.*faces.*mnist", text), text
    assert re.search(r"--grayscale .*(grey|gray) already", text), text


@pytest.mark.parametrize("dataset, args, shape", [
    ("digits", ["--image-size", "12", "10"], (12, 10, 1)),
    ("faces", ["--image-size", "16", "16", "--grayscale"], (16, 16, 1)),
])
def test_image_size_applies_to_the_named_data_sets(tmp_path, dataset, args, shape):
    from pyx_cnn import NeuralNetwork

    result = run_cli(tmp_path, "--threads", "1", "train", "--dataset", dataset, "--epochs", "1",
                     *args, "--out", "out")
    assert result.returncode == 0, result.stderr
    net = NeuralNetwork.load(tmp_path / "out" / "model.npz")
    assert tuple(net.input_shape) == shape


def test_image_size_resizes_each_digit_as_skimage_does():
    from skimage.transform import resize

    from pyx_cnn.datasets import load_dataset_split

    plain = load_dataset_split("digits", seed=3)
    resized = load_dataset_split("digits", seed=3, image_size=(12, 10))
    for a, b in zip(plain[2:4], resized[2:4]):      # the same split
        np.testing.assert_array_equal(a, b)
    for small, big in ((plain[0], resized[0]), (plain[1], resized[1])):
        assert big.shape == (len(small), 12, 10, 1)
        expected = np.stack([resize(im, (12, 10, 1), anti_aliasing=True) for im in small])
        np.testing.assert_allclose(big, expected, rtol=0, atol=1e-12)


def test_run_train_refuses_a_too_small_image_size(tmp_path):
    from pyx_cnn.train_command import run_train

    with pytest.raises(ValueError, match=r"image_size.*at least 4.*\(3, 8\)"):
        run_train(out_dir=tmp_path / "out", image_size=(3, 8), epochs=1, verbose=False)
    assert not (tmp_path / "out").exists()


def test_run_train_refuses_a_file_as_out_dir_before_loading_data(tmp_path, monkeypatch):
    from pyx_cnn import train_command

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before out_dir was checked")

    monkeypatch.setattr(train_command, "load_dataset_split", no_loading)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"out_dir.*a_file.*is a file, not a folder"):
        train_command.run_train(out_dir=blocker, epochs=1, verbose=False)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_run_train_refuses_an_out_dir_where_nothing_can_be_made(monkeypatch):
    from pyx_cnn import train_command

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before out_dir was checked")

    monkeypatch.setattr(train_command, "load_dataset_split", no_loading)
    with pytest.raises(ValueError, match=r"out_dir: cannot write in '/proc/x'"):
        train_command.run_train(out_dir="/proc/x", epochs=1, verbose=False)


def test_mnist_offline_says_where_to_put_the_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    result = run_cli(tmp_path, "train", "--dataset", "mnist", "--epochs", "1",
                     prelude=NO_NETWORK, PYX_CNN_DATA=str(data))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "urlopen" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("pyx-cnn train: error: ")
    assert "MNIST" in line and "could not be downloaded" in line
    assert str(data / "mnist") in line
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert stem in line
    assert not (tmp_path / "train_out").exists()


def test_bench_quick_runs_without_pytorch(tmp_path):
    # the whole suite path (CLI, built-in workloads, every extra module) with one small
    # workload, in a Python where `import torch` fails
    prelude = NO_TORCH + (
        f"\nsys.path.insert(0, {str(BENCHMARKS)!r})\nimport suite\n"
        "suite.WORKLOADS[:] = [w for w in suite.WORKLOADS if w.name == 'relu']\n")
    result = run_cli(tmp_path, "bench", "--quick", "--threads", "1", "--suite", BENCHMARKS,
                     "--out", "results", prelude=prelude, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    table_header = [ln for ln in result.stdout.splitlines() if ln.startswith("workload")][0]
    assert "torch" not in table_header and "numpy" in table_header
    assert "NCHW" not in result.stdout and "channels_last" not in result.stdout
    saved = json.loads((tmp_path / "results" / "results.json").read_text())
    assert saved["machine"]["torch"] is None
    for row in saved["rows"]:
        assert set(row["seconds"]) == {"pyx_cnn", "numpy"}
    assert set(saved["extra"]) == {"bench_digits_epoch", "bench_training", "bench_layer_ops",
                                   "bench_models", "bench_contention"}
    assert all(row["torch_s"] is None and row["pyx_cnn_s"] > 0
               for row in saved["extra"]["bench_models"]["rows"])
    relu = [t for t in saved["targets"] if t["workload"] == "relu"][0]
    assert relu["value"] > 0 and relu["met"] is None    # no verdict without PyTorch's times
    assert "torch/torch_cl not measured" in relu["what"]
    layer_ops = saved["extra"]["bench_layer_ops"]["seconds"]
    assert layer_ops and all(set(times) == {"pyx_cnn"} for times in layer_ops.values())
    assert "| workload |" in (tmp_path / "results" / "results.md").read_text()


def test_bench_quick_hands_quick_and_the_thread_counts_to_the_extra_modules(tmp_path,
                                                                             monkeypatch):
    sys.path.insert(0, str(BENCHMARKS))
    import suite

    plugin = tmp_path / "plugin_bench_kwargs.py"
    plugin.write_text("def run(repeats, quick=False, threads=None):\n"
                      "    return {'repeats': repeats, 'quick': quick, 'threads': threads}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        result = suite.run_benchmarks(quick=True, threads="1", workloads=["relu"],
                                      extra_modules=["plugin_bench_kwargs"],
                                      echo=lambda *a: None)
    finally:
        sys.modules.pop("plugin_bench_kwargs", None)
    assert result["extra"]["plugin_bench_kwargs"] == {"repeats": 3, "quick": True,
                                                      "threads": [1]}


def test_bench_finds_the_suite_of_the_source_tree_from_elsewhere(tmp_path, monkeypatch):
    from pyx_cnn import cli

    monkeypatch.chdir(tmp_path)
    # pyx_cnn imported from a source checkout (an editable install or an in-place build);
    # the tests may run against an installed wheel, whose folder holds no benchmarks/
    monkeypatch.setattr(cli, "_source_tree", lambda: BENCHMARKS.parent)
    assert cli._find_suite(None) == BENCHMARKS
    # an installed package: no source tree, and none around the current directory
    monkeypatch.setattr(cli, "_source_tree", lambda: None)
    with pytest.raises(ValueError, match="no benchmark suite"):
        cli._find_suite(None)


def test_an_image_size_too_large_for_memory_is_one_line(tmp_path):
    import matplotlib.pyplot as plt

    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(2):
            plt.imsave(tmp_path / "images" / label / f"{i}.png",
                       np.random.default_rng(i).random((6, 6)))
    # 4 images of 10**7 x 10**7 x 3 float64: petabytes, more than any address space
    result = run_cli(tmp_path, "train", "--dataset", "images", "--epochs", "1",
                     "--image-size", "10000000", "10000000")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # AddressSanitizer's allocator (the sanitizer run) reports the failed allocation in a
    # line of its own ("==pid==WARNING: AddressSanitizer failed to allocate ..."): not ours
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.startswith("==")]
    assert len(lines) == 1 and lines[0].startswith("pyx-cnn train: error: not enough memory")
    assert not (tmp_path / "train_out").exists()
