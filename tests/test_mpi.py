"""pyx_cnn.mpi: data-parallel training under ``mpiexec -n 2`` equals one process on the
global batches; shard mismatches raise on every rank; a failing rank ends the job."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from childenv import child_env

if os.environ.get("PYX_CNN_EXPECT_SANITIZER", "0") not in ("", "0"):
    # other processes (MPI ranks, dask workers) under the preloaded sanitizer
    # runtimes test the launchers, not pyx_cnn's memory safety
    pytest.skip("not in the sanitizer run", allow_module_level=True)

pytest.importorskip("mpi4py")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().parent / "mpi_fit_check.py"


def _mpiexec():
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def _run(mode, timeout=240):
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    # the installed pyx_cnn (a PYTHONPATH of the caller's passes through); the script's
    # own folder is on its path
    env = child_env(OMP_NUM_THREADS="1")
    try:
        return subprocess.run([mpiexec, "-n", "2", sys.executable, str(SCRIPT), mode],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(ROOT))
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mpiexec {mode} hung (killed after {timeout} s): {exc.stdout}")


def test_data_parallel_equals_one_process_on_global_batches():
    result = _run("train")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    assert result.stdout.count("max |w - w_ref|") == 4


def test_shard_mismatch_raises_on_every_rank():
    result = _run("mismatch")
    assert result.returncode != 0
    for rank in (0, 1):
        assert f"rank {rank}: ValueError" in result.stdout, result.stdout + result.stderr
    assert "number of samples differs between ranks" in result.stdout


def test_failing_rank_ends_the_job():
    result = _run("fail", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "FloatingPointError" in output, output
    assert "aborting the job" in output, output


class _OneRank:
    """A stand-in communicator of one rank (what the helpers need of mpi4py's)."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def allgather(self, value):
        return [value]

    def bcast(self, value, root=0):
        return value

    def Bcast(self, buffer, root=0):
        pass

    def Allreduce(self, send, recv, op=None):
        pass


def test_helpers_on_one_rank_match_plain_fit():
    from pyx_cnn import mpi as pmpi
    from pyx_cnn.training import digits_network

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 8, 8, 1)), rng.integers(0, 10, 40)
    a, b = digits_network(1), digits_network(1)
    ha = pmpi.fit_data_parallel(a, X, y, _OneRank(), epochs=2, batch_size=8, shuffle=False,
                                learning_rate=0.1)
    hb = b.fit(X, y, epochs=2, batch_size=8, shuffle=False, learning_rate=0.1)
    np.testing.assert_array_equal(a._flat, b._flat)
    assert ha.history == hb.history
    assert a.optimizer.name == "sgd" and type(a.optimizer).__name__ == "SGD"


def test_check_comm_and_helpers():
    from pyx_cnn import mpi as pmpi

    with pytest.raises(TypeError, match="mpi4py communicator"):
        pmpi.check_comm(object())
    assert pmpi.is_root(None)
    assert pmpi.is_root(_OneRank())
    g1 = pmpi.shuffle_generator(5, 1, 2).permutation(10)
    g2 = pmpi.shuffle_generator(5, 1, 2).permutation(10)
    g0 = pmpi.shuffle_generator(5, 0, 2).permutation(10)
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(g0, g1)


def test_comm_from_env_without_launcher(monkeypatch):
    from pyx_cnn import mpi as pmpi

    for name in pmpi._SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert pmpi.comm_from_env() is None


def test_core_import_does_not_import_mpi4py(tmp_path):
    code = "import sys, pyx_cnn, pyx_cnn.mpi, pyx_cnn.dask_arrays; " \
           "print('mpi4py' in sys.modules, 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=child_env())
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_mpiexec_pyx_cnn_train(tmp_path):
    """``mpiexec -n 2 pyx-cnn train``: both ranks train, rank 0 alone reports and writes."""
    pytest.importorskip("sklearn")
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    env = child_env(OMP_NUM_THREADS="1")
    out = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, "-m", "pyx_cnn", "train", "--epochs", "2",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("test accuracy:") == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "confusion.png", "filters.png", "loss.png", "model.npz"]
