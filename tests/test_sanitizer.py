"""Checks that the sanitizer run (tools/sanitize.sh) really runs under AddressSanitizer
and UndefinedBehaviorSanitizer: a deliberate out-of-bounds read and a deliberate
misaligned load in private kernels, called with arguments the public functions
never pass, must each be reported and stop the child process.

Skipped outside that run (PYX_CNN_EXPECT_SANITIZER unset)."""
import os
import subprocess
import sys

import pytest

from sanitizer_check import sanitizer_loaded

pytestmark = pytest.mark.skipif(
    os.environ.get("PYX_CNN_EXPECT_SANITIZER", "0") in ("", "0"),
    reason="only in the sanitizer run (tools/sanitize.sh)",
)

# x holds 20 rows but the 30-row window makes the gathering of windows read 10 rows past
# its end (the direct kernels' wrapper refuses an output its input's windows do not fit)
OUT_OF_BOUNDS = """
import numpy as np
from pyx_cnn import _conv_grad
x = np.ones((1, 20, 20, 1))
w = np.ones((1, 600, 1))
out = np.zeros((1, 1, 1, 1))
_conv_grad._grouped_forward(x, w, np.zeros(1), out, 30, 20, 1, 1, 1, 1, 1)
print("no report", out)
"""

# a float64 view at an odd address: loading it is undefined behaviour in C
# (functional.py copies misaligned inputs before calling a kernel)
MISALIGNED = """
import numpy as np
from pyx_cnn import _activation
raw = np.zeros(8 * 64 + 1, np.uint8)
x = raw[1:].view(np.float64)
out = np.zeros(64)
_activation._relu(x, out, 1)
print("no report", out.sum())
"""


def _run(code):
    # the current directory holds the sanitized build (tools/sanitize.sh runs there)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=os.getcwd())


def test_sanitizer_runtime_is_loaded():
    assert sanitizer_loaded()
    import pyx_cnn._conv
    maps = open("/proc/self/maps").read()
    assert pyx_cnn._conv.__file__ in maps


def test_address_sanitizer_reports_out_of_bounds_reads():
    res = _run(OUT_OF_BOUNDS)
    assert res.returncode != 0, res.stdout
    assert "AddressSanitizer: heap-buffer-overflow" in res.stderr, res.stderr[-3000:]
    assert "_conv" in res.stderr
    assert "no report" not in res.stdout


def test_undefined_behavior_sanitizer_reports_misaligned_loads():
    res = _run(MISALIGNED)
    assert res.returncode != 0, res.stdout
    assert "runtime error: load of misaligned address" in res.stderr, res.stderr[-3000:]
    assert "no report" not in res.stdout
