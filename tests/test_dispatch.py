"""The kernels' other SIMD copies: PYX_CNN_ISA lowers the runtime dispatch, so the
generic and AVX2 copies run (in a subprocess, the level is read once) through the
same kernel tests on a CPU that would pick AVX-512."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyx_cnn import _conv

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_kernel_tests_pass_on_lower_instruction_sets(isa, tmp_path):
    env = dict(os.environ, PYX_CNN_ISA=isa)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    probe = subprocess.run([sys.executable, "-c", "from pyx_cnn import _conv; print(_conv._isa())"],
                           env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    chosen = probe.stdout.strip()
    assert chosen in ("generic", "avx2")
    if isa == "avx2" and chosen != "avx2":
        pytest.skip("the CPU has no AVX2 + FMA")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         str(TESTS / "test_conv_kernels.py"), str(TESTS / "test_pool_kernels.py"),
         str(TESTS / "test_grad_kernels.py"),
         str(TESTS / "test_ops_activations.py"), str(TESTS / "test_bn_kernels.py"),
         str(TESTS / "test_conv_clamp.py"), str(TESTS / "test_grouped_conv.py"),
         str(TESTS / "test_winograd.py")],
        env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_default_dispatch_is_the_best_the_cpu_has():
    import pyx_cnn

    cpu = pyx_cnn.show_config()["cpu"]
    if "PYX_CNN_ISA" in os.environ:
        pytest.skip("dispatch lowered by PYX_CNN_ISA")
    if cpu["avx512f"]:
        assert _conv._isa() in ("avx512f", "avx2")   # avx2 when the CPU lacks AVX-512 VL
    elif cpu["avx2"] and cpu["fma"]:
        assert _conv._isa() == "avx2"
    else:
        assert _conv._isa() == "generic"


_WINOGRAD_BITS = """
import sys
import numpy as np
from pyx_cnn.ops import conv
rng = np.random.default_rng(0)
outs = []
for h, c, f in ((8, 128, 136), (4, 130, 128)):
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((3, h, h, c)).astype(dtype)
        w = rng.standard_normal((f, 3, 3, c)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        out, saved = conv.forward(x, w, b, (1, 1), ((1, 1), (1, 1)))
        outs += [out, *conv.backward(np.ones_like(out), saved)]
np.savez(sys.argv[1], *outs)
"""


def test_winograd_transforms_give_the_same_bits_on_every_instruction_set(tmp_path):
    # the transforms' combinations of rows (src_c/winograd_kernels.h) have no fused
    # multiply-add: the generic, AVX2 and default copies agree bit for bit, forward
    # and backward
    import numpy as np

    results = {}
    for isa in ("generic", "avx2", None):
        env = dict(os.environ)
        if isa is None:
            env.pop("PYX_CNN_ISA", None)
        else:
            env["PYX_CNN_ISA"] = isa
        path = tmp_path / f"{isa}.npz"
        subprocess.run([sys.executable, "-c", _WINOGRAD_BITS, str(path)], env=env,
                       check=True, cwd=tmp_path)
        with np.load(path) as saved:
            results[isa] = [saved[k] for k in saved.files]
    assert len(results[None]) == 16      # output, and the three gradients, of 4 layers
    for isa in ("generic", "avx2"):
        for got, want in zip(results[isa], results[None]):
            np.testing.assert_array_equal(got, want)
