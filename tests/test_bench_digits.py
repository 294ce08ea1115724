"""The digits-epoch benchmark runs and reports both frameworks (no timing asserts)."""
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_digits_epoch.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_digits_epoch", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not BENCH.exists(), reason="benchmarks/ not in this checkout")
def test_bench_digits_epoch_reports():
    import pyx_cnn

    before = pyx_cnn.get_num_threads()
    result = load_bench().run(repeats=1, epochs=2)
    assert pyx_cnn.get_num_threads() == before
    assert result["batches_per_epoch"] == 45
    assert result["pyx_cnn_epoch_s"] > 0
    assert 0.5 < result["pyx_cnn_accuracy"] <= 1
    if result["torch_version"] is not None:
        assert result["torch_epoch_s"] > 0
        assert result["ratio"] == pytest.approx(result["torch_epoch_s"] / result["pyx_cnn_epoch_s"])
        # same weights and batches: the two reach (nearly) the same accuracy
        assert abs(result["torch_accuracy"] - result["pyx_cnn_accuracy"]) < 0.03
