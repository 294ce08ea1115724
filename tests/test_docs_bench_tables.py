"""The benchmark page's tables (docs/_ext/bench_tables.py) render the rows of
benchmarks/bench_models.py (ResNet-18 and MobileNetV2) under the machine's heading."""
import sys
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[1] / "docs" / "_ext"


def _row(net, task, pyx, torch=None, ort=None):
    return {"net": net, "task": task, "threads": 2, "samples": 256, "pyx_cnn_s": pyx,
            "images_per_s": 256 / pyx, "torch_s": torch,
            "torch_ratio": None if torch is None else torch / pyx,
            "onnxruntime_s": ort, "onnxruntime_ratio": None if ort is None else ort / pyx}


def test_models_rows_render_under_the_machine():
    pytest.importorskip("sphinx")
    if not EXT.is_dir():
        pytest.skip("no docs/ folder next to tests/ (an installed test suite)")
    sys.path.insert(0, str(EXT))
    import bench_tables

    rows = [_row("resnet18", "train", 4.0, torch=6.0),
            _row("mobilenet_v2", "predict", 0.5, torch=0.25, ort=1.0)]
    result = {"machine": {"cpu": "Some CPU", "cores": 2, "kernel_isa": "avx2"}, "rows": [],
              "extra": {"bench_models": {"rows": rows, "resnet18 train, 2 thread(s)": "..."}}}
    lines = bench_tables.result_lines(result, "results.json")
    text = "\n".join(lines)
    assert lines[0] == "Some CPU, 2 cores, AVX2 kernels"
    heading = lines.index("ResNet-18 and MobileNetV2")
    table = "\n".join(lines[heading:])
    assert "* - ResNet-18" in table and "* - MobileNetV2" in table
    assert "6.00 s (1.50x)" in table                  # PyTorch's time over pyx_cnn's
    assert "250.00 ms (0.50x)" in table and "1.00 s (2.00x)" in table
    assert "- 64" in table                            # images per second: 256 / 4.0
    assert "256 images" in text
