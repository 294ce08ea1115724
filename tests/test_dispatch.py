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
         str(TESTS / "test_conv_clamp.py"), str(TESTS / "test_grouped_conv.py")],
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
