"""benchmarks/bench_models.py: its PyTorch networks are pyx_cnn's models, and a run
gives a row per network, task and thread count. (No timing is asserted.)"""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if not (BENCHMARKS / "bench_models.py").is_file():
    pytest.skip("no benchmarks/ folder next to the tests", allow_module_level=True)
sys.path.insert(0, str(BENCHMARKS))
import bench_models  # noqa: E402  (benchmarks/, not part of the package)
import torch_models  # noqa: E402
from pyx_cnn import models  # noqa: E402


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_the_pytorch_networks_are_the_models(name):
    import torch

    net = bench_models.NETS[name][0](3)
    model = bench_models.torch_twin(name, net).eval()
    assert net.count_params() == sum(p.numel() for p in model.parameters())
    x = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(torch.softmax(logits, dim=1).numpy(), net.predict(x),
                               rtol=1e-3, atol=1e-5)


def test_a_run_gives_one_row_per_network_task_and_thread_count(monkeypatch):
    # small widths and 4 samples: what is checked is the plumbing
    monkeypatch.setitem(bench_models.NETS, "resnet18", (
        lambda seed: models.resnet(18, 3, (8, 8, 3), width=2, seed=seed),
        lambda: torch_models.TorchResNet((2, 2, 2, 2), 3, 3, width=2)))
    monkeypatch.setitem(bench_models.NETS, "mobilenet_v2", (
        lambda seed: models.mobilenet_v2(3, (8, 8, 3), width_multiplier=0.1, seed=seed),
        lambda: torch_models.TorchMobileNetV2(3, 3, width_mult=0.1)))
    monkeypatch.setattr(bench_models, "QUICK_SAMPLES", 4)
    result = bench_models.run(repeats=1, threads=[1], quick=True)
    rows = result["rows"]
    assert [(r["net"], r["task"]) for r in rows] == [
        ("resnet18", "train"), ("resnet18", "predict"),
        ("mobilenet_v2", "train"), ("mobilenet_v2", "predict")]
    for row in rows:
        assert row["pyx_cnn_s"] > 0 and row["torch_s"] > 0 and row["torch_ratio"] > 0
        assert (row["onnxruntime_s"] is None) == (row["task"] == "train"
                                                   or bench_models.onnxruntime_module() is None)
        assert row["samples"] == 4 and row["threads"] == 1
    assert "PyTorch" in result["resnet18 predict, 1 thread(s)"]
    assert bench_models.format_row(rows[0]).startswith("| resnet18 | train | 1 |")
