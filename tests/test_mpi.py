"""pyx_cnn.mpi: data-parallel training under ``mpiexec -n 2`` equals one process on the
global batches; shard mismatches raise on every rank; a failing rank ends the job."""
import os
import shutil
import signal
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
AGREE_SCRIPT = Path(__file__).resolve().parent / "mpi_agree_check.py"


def _mpiexec():
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def _mpirun(args, timeout, cwd=ROOT):
    """``mpiexec -n 2 python ARGS``; a run past `timeout` seconds (a rank left waiting
    for the others) is stopped and fails the test."""
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec")
    # the installed pyx_cnn (a PYTHONPATH of the caller's passes through); the script's
    # own folder is on its path
    env = child_env(OMP_NUM_THREADS="1")
    process = subprocess.Popen([mpiexec, "-n", "2", sys.executable, *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=str(cwd), start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()                    # mpiexec ends its ranks
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(f"mpiexec {' '.join(map(str, args))} hung (stopped after {timeout} s):\n"
                    f"{stdout}\n{stderr[-2000:]}")
    finally:
        if process.poll() is None:             # interrupted: leave no job behind
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _run(mode, timeout=240):
    return _mpirun([str(SCRIPT), mode], timeout)


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


# (case, the rank whose error every rank raises, a part of that error): one rank's
# arguments are bad (see mpi_agree_check.py); the reference is the error that rank
# gets from a one-process fit of the same arguments
ONE_RANK_REFUSES = [
    ("label1", 1, "12"),                      # a label out of range
    ("channels1", 1, "(20, 6, 6, 3)"),        # three channels instead of two
    ("lr0", 0, "learning_rate"),              # a NaN learning rate
    ("dtype1", 1, "<U"),                      # images of strings
    ("both", 0, "learning_rate"),             # rank 0 and rank 1: rank 0's error
    ("val1", 1, "validation_data X"),         # validation images of three channels
    ("callback1", 1, "callbacks[0]"),         # not a callback
]
# (case, the start of the ValueError every rank raises): the ranks' arguments differ
RANKS_DIFFER = [
    ("size1", "data-parallel training needs every rank to hold a shard of the same number "
              "of samples, sample shape and dtype (pyx_cnn.mpi.shard cuts one so): X number "
              "of samples differs between ranks (rank 0: 20, rank 1: 19)"),
    ("epochs1", "data-parallel training needs the same arguments on every rank: epochs "
                "differs between ranks (rank 0: 2, rank 1: 3)"),
    ("batch1", "data-parallel training needs the same arguments on every rank: batch_size "
               "differs between ranks (rank 0: 4, rank 1: 8)"),
    ("valonly0", "data-parallel training needs the same arguments on every rank: "
                 "validation differs between ranks (rank 0: validation_data, rank 1: None)"),
    ("rate1", "data-parallel training needs the same arguments on every rank: "
              "learning_rate differs between ranks (rank 0: 0.05, rank 1: 0.5)"),
]


def _raised(result):
    """{rank: "TYPE: MESSAGE"} of the ranks' ``rank R raised ...`` lines."""
    output = result.stdout + result.stderr[-3000:]
    assert result.returncode != 0, output
    raised = {}
    for line in result.stdout.splitlines():
        if " raised " in line:
            rank, error = line.split(" raised ", 1)
            raised[int(rank.split()[1])] = error
    assert sorted(raised) == [0, 1], output
    assert raised[0] == raised[1], output       # the same error on every rank
    for rank in (0, 1):                          # refused before anything changed
        assert f"rank {rank} unchanged: True" in result.stdout, output
    return raised[0]


@pytest.mark.parametrize("api", ["fit", "fdp"])
@pytest.mark.parametrize("case, rank, part", ONE_RANK_REFUSES,
                         ids=[c[0] for c in ONE_RANK_REFUSES])
def test_argument_refused_on_one_rank_is_refused_on_every_rank(api, case, rank, part):
    result = _mpirun([str(AGREE_SCRIPT), api, case], timeout=60)
    raised = _raised(result)
    alone = [line.split(" alone raises ", 1)[1] for line in result.stdout.splitlines()
             if line.startswith(f"rank {rank} alone raises ")]
    assert len(alone) == 1, result.stdout
    kind, message = alone[0].split(": ", 1)
    assert part in message, result.stdout
    assert raised == f"{kind}: rank {rank}: {message}", result.stdout


@pytest.mark.parametrize("api", ["fit", "fdp"])
@pytest.mark.parametrize("case, message", RANKS_DIFFER, ids=[c[0] for c in RANKS_DIFFER])
def test_arguments_differing_between_ranks_are_refused_on_every_rank(api, case, message):
    result = _mpirun([str(AGREE_SCRIPT), api, case], timeout=60)
    assert _raised(result).startswith(f"ValueError: {message}"), result.stdout


@pytest.mark.parametrize("case, message", [
    ("kwarg1", "rank 1: fit() got an unexpected keyword argument 'epoch'"),
    ("notnet1", "rank 1: net must be a pyx_cnn NeuralNetwork, got str"),
])
def test_fit_data_parallel_own_arguments_refused_on_every_rank(case, message):
    result = _mpirun([str(AGREE_SCRIPT), "fdp", case], timeout=60)
    output = result.stdout + result.stderr[-3000:]
    assert result.returncode != 0, output
    for rank in (0, 1):
        assert f"rank {rank} raised TypeError: {message}" in result.stdout, output


@pytest.mark.parametrize("api", ["fit", "fdp"])
def test_batch_larger_than_the_shard_trains(api):
    result = _mpirun([str(AGREE_SCRIPT), api, "bigbatch"], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    for rank in (0, 1):
        assert f"rank {rank} trained 2 epochs" in result.stdout


@pytest.mark.parametrize("api", ["fit", "fdp"])
def test_stop_training_on_one_rank_stops_every_rank(api):
    """A callback on rank 0 alone ends training after epoch 1: every rank stops with it."""
    result = _mpirun([str(AGREE_SCRIPT), api, "stop0"], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    for rank in (0, 1):
        assert f"rank {rank} trained 1 epochs" in result.stdout, result.stdout


@pytest.mark.parametrize("api", ["fit", "fdp"])
def test_callback_failing_on_one_rank_ends_the_job(api):
    """After the arguments are agreed, a failure on one rank ends the job (MPI_Abort)."""
    result = _mpirun([str(AGREE_SCRIPT), api, "begin0"], timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "this callback fails on its rank only" in output, output
    assert "rank 0 failed, aborting the job" in output, output


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
    from pyx_cnn.models import digits_network

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 8, 8, 1)), rng.integers(0, 10, 40)
    a, b = digits_network(1), digits_network(1)
    ha = pmpi.fit_data_parallel(a, X, y, _OneRank(), epochs=2, batch_size=8, shuffle=False,
                                learning_rate=0.1)
    hb = b.fit(X, y, epochs=2, batch_size=8, shuffle=False, learning_rate=0.1)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)
    assert ha.history == hb.history
    assert a.optimizer.name == "sgd" and type(a.optimizer).__name__ == "SGD"


def test_agree_on_arguments_on_one_rank():
    from pyx_cnn import mpi as pmpi

    class LocalError(ValueError):
        """Cannot be pickled by name: the other ranks get its base class."""

    error = LocalError("y is bad")
    with pytest.raises(ValueError, match=r"^rank 0: y is bad$") as info:
        pmpi.agree_on_arguments(_OneRank(), error)
    assert type(info.value) is ValueError and info.value.__cause__ is error
    with pytest.raises(TypeError, match=r"^rank 0: X must hold numbers$"):
        pmpi.agree_on_arguments(_OneRank(), TypeError("X must hold numbers"))
    n = pmpi.agree_on_arguments(_OneRank(), None, np.zeros((3, 2)), np.zeros(3), {"epochs": 1})
    assert n == 3


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
    """``mpiexec -n 2 pyx-cnn train``: both ranks train, rank 0 alone reports and writes;
    the report gives the whole training split and how it is shared among the ranks."""
    pytest.importorskip("sklearn")
    from pyx_cnn.datasets import load_digits_split

    n_train, n_test = (len(part) for part in load_digits_split(0)[:2])
    out = _mpirun(["-m", "pyx_cnn", "train", "--epochs", "2", "--out", str(tmp_path / "out")],
                  timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("test accuracy:") == 1
    assert out.stdout.count("training on ") == 1, out.stdout
    per_rank, left_out = divmod(n_train, 2)
    assert (f"training on {n_train} digits split over 2 ranks ({per_rank} per rank; "
            f"{left_out} left out so that every rank holds as many), testing on {n_test} "
            "others") in out.stdout, out.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "confusion.png", "filters.png", "loss.png", "model.npz"]
