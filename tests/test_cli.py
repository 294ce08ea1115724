import subprocess
import sys

import numpy as np

from pyx_cnn.cli import main
from pyx_cnn.demo import load_image, run_pipeline, tutorial_filters


def test_demo_stage_shapes_and_pngs(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for shape in ["(298, 449, 2)", "(149, 224, 2)", "(145, 220, 3)", "(72, 110, 3)",
                  "(66, 104, 1)", "(33, 52, 1)"]:
        assert shape in printed
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["layer1.png", "layer2.png", "layer3.png"]
    for p in tmp_path.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_pipeline_is_right_against_scipy():
    from scipy.signal import correlate2d

    image = load_image()
    layers = run_pipeline(image, tutorial_filters(0))
    edges = tutorial_filters(0)[0]
    ref = correlate2d(image, edges[1], "valid")
    np.testing.assert_allclose(layers[0]["conv"][..., 1], ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layers[0]["relu"], np.maximum(layers[0]["conv"], 0))


def test_python_dash_m_entry_point(tmp_path):
    # run outside the source tree, so the installed package is the one imported
    # (or the in-place build of the source tree, through PYTHONPATH)
    from test_cli_errors import _env

    out = subprocess.run([sys.executable, "-m", "pyx_cnn", "--version"], capture_output=True,
                         text=True, check=True, cwd=tmp_path, env=_env())
    assert out.stdout.startswith("pyx_cnn ")
    assert "OpenMP" in out.stdout
