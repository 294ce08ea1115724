"""The benchmark suite runs, writes its files, and its peers compute the right thing.
(No timing is asserted: only that the numbers exist and are positive.)"""
import json
import sys

import numpy as np
import pytest
from scipy.signal import correlate2d

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import suite as benchmark  # noqa: E402  (benchmarks/suite.py, not part of the package)
import bench_training  # noqa: E402
from pyx_cnn.reference import conv as conv_naive, pooling as maxpool_naive


def test_numpy_peers_match_references():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 11, 3))
    w = rng.standard_normal((4, 3, 2, 3))
    np.testing.assert_allclose(benchmark.numpy_conv(x, w), conv_naive(x, w), rtol=1e-12,
                               atol=1e-12)
    for size, stride in [(2, 2), (3, 2), (2, 3)]:
        np.testing.assert_array_equal(benchmark.numpy_pool(x, size, stride),
                                      maxpool_naive(x, size, stride))
    np.testing.assert_array_equal(benchmark.numpy_relu(x), np.where(x > 0, x, 0))


def test_tutorial_copy_keeps_the_tutorial_behaviour():
    rng = np.random.default_rng(1)
    img = rng.random((12, 14))
    bank = rng.random((2, 3, 3))
    out = benchmark.tutorial_conv(img, bank)
    assert out.shape == (10, 12, 2)
    # its loop starts one pixel in and stops early: the map is the valid
    # correlation shifted by one pixel, and its last 3 rows and columns stay zero
    valid = correlate2d(img, bank[0], "valid")
    np.testing.assert_allclose(out[:7, :9, 0], valid[1:8, 1:10], rtol=1e-12)
    assert (out[7:, :, 0] == 0).all() and (out[:, 9:, 0] == 0).all()
    # its ReLU is the identity, its pooling drops the last window and mixes channels
    fm = rng.standard_normal((6, 6, 2))
    np.testing.assert_array_equal(benchmark.tutorial_relu(fm), fm)
    pooled = benchmark.tutorial_pooling(fm, 2, 2)
    assert pooled.shape == (2, 2, 2)
    assert pooled[0, 0, 0] == pooled[0, 0, 1] == fm[0:2, 0:2].max()


def test_run_writes_table_json_markdown_png_and_extras(tmp_path, monkeypatch):
    plugin = tmp_path / "plugin_bench_for_test.py"
    plugin.write_text("def run(repeats):\n    return {'repeats': repeats, 'seconds': 0.5}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = []
    result = benchmark.run_benchmarks(
        quick=True, out_dir=tmp_path / "out", threads="1", workloads=["relu", "pool a"],
        extra_modules=["plugin_bench_for_test", "no_such_module_here"], echo=lines.append)
    sys.modules.pop("plugin_bench_for_test", None)
    rows = result["rows"]
    assert sorted((r["workload"], r["threads"]) for r in rows) == [("pool a", 1), ("relu", 1)]
    for r in rows:
        assert r["seconds"]["pyx_cnn"] > 0 and r["seconds"]["numpy"] > 0
    assert result["peak_gflops"][1]["float32"] > 0
    assert result["extra"] == {"plugin_bench_for_test": {"repeats": 3, "seconds": 0.5}}
    relu_target = [t for t in result["targets"] if t["workload"] == "relu"][0]
    assert relu_target["value"] > 0
    # a verdict only when every peer of the target ran (PyTorch's need PyTorch)
    assert relu_target["met"] in ((True, False) if benchmark._torch() else (None,))
    printed = "\n".join(lines)
    assert "pyx_cnn" in printed and "targets:" in printed and "plugin_bench_for_test" in printed
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {r["workload"] for r in saved["rows"]} == {"relu", "pool a"}
    assert "| workload |" in (tmp_path / "out" / "results.md").read_text()
    assert (tmp_path / "out" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_thread_list_parsing():
    assert benchmark._parse_threads("1") == [1]
    assert benchmark._parse_threads("1,2,1") == [1, 2]
    assert benchmark._parse_threads("all") == [benchmark._cores()]
    with pytest.raises(ValueError):
        benchmark._parse_threads("0")


@pytest.mark.parametrize("kind,shape,filters,kernel", [
    ("conv", (1, 9, 10, 1), 2, 3), ("conv", (1, 9, 10, 2), 3, 5), ("pool", (1, 8, 9, 2), None, None),
])
def test_every_implementation_of_a_workload_runs(kind, shape, filters, kernel):
    wl = benchmark.Workload("small", kind, np.float64, shape, filters, kernel, tutorial=True)
    data = wl.inputs(np.random.default_rng(0))
    impls = benchmark._implementations(wl, data, benchmark._torch())
    assert {"pyx_cnn", "numpy", "tutorial"} <= set(impls)
    results = {name: np.asarray(fn()) for name, fn in impls.items()}
    ref = results["pyx_cnn"]
    np.testing.assert_allclose(results["numpy"], ref, rtol=1e-12, atol=1e-12)
    for name in ("torch", "torch_cl"):
        if name in results:   # NCHW back to channels-last
            np.testing.assert_allclose(results[name].transpose(0, 2, 3, 1), ref, rtol=1e-12,
                                       atol=1e-12)
    assert results["tutorial"].ndim == 3   # one image, its own (buggy) borders


@pytest.mark.parametrize("name", ["lenet", "cifar"])
def test_training_benchmark_nets_are_the_same_in_pytorch(name):
    torch = pytest.importorskip("torch")
    make, _ = bench_training.NETS[name]
    net = make(seed=3)
    x, _ = bench_training._data(net, 5, seed=1)
    with torch.no_grad():
        logits = bench_training.torch_copy(net)(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(torch.softmax(logits, dim=1).numpy(), net.predict(x),
                               rtol=1e-4, atol=1e-6)
    assert bench_training.training_flops(net, 1) > bench_training.inference_flops(net, 1) > 0


def test_bench_command_finds_the_suite_or_says_where(tmp_path, monkeypatch):
    from pyx_cnn import cli

    assert cli._find_suite(str(BENCHMARKS)) == BENCHMARKS
    monkeypatch.chdir(tmp_path)
    # as an installed package (a wheel) has no source tree around it
    monkeypatch.setattr(cli, "_source_tree", lambda: None)
    with pytest.raises(ValueError, match="pyx-cnn bench"):
        cli._find_suite(None)


@pytest.mark.parametrize("key", ["bench_layer_ops", "bench_new_ops"])
def test_docs_tables_read_the_layer_ops_results_under_either_key(key):
    pytest.importorskip("sphinx")
    sys.path.insert(0, str(BENCHMARKS.parent / "docs" / "_ext"))
    import bench_tables

    times = {"pyx_cnn": 2e-3, "torch NCHW": 4e-3}
    result = {"machine": {"cpu": "a CPU", "cores": 2}, "rows": [],
              "extra": {key: {"seconds": {"tanh, 1": times}}}}
    text = "\n".join(bench_tables.result_lines(result, "results.json"))
    assert "Layer operations against PyTorch" in text
    assert "4.00 ms (2.00x)" in text


def test_training_benchmark_times_predict_against_onnxruntime_too(monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(bench_training, "QUICK_SAMPLES", 8)
    result = bench_training.run(repeats=1, nets=("lenet",), threads=[1], quick=True)
    rows = {row["task"]: row for row in result["rows"]}
    predict = rows["predict"]
    assert predict["onnxruntime_s"] > 0
    assert predict["onnxruntime_ratio"] == pytest.approx(predict["onnxruntime_s"]
                                                         / predict["pyx_cnn_s"])
    assert "onnxruntime_s" not in rows["train"]
    assert "onnxruntime" in result["lenet predict, 1 thread(s)"]
    assert bench_training.format_row(predict).count("|") == bench_training.HEADER.split(
        "\n")[0].count("|")
