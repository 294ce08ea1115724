"""Data-parallel training (``fit(..., comm=...)``, :mod:`pyx_cnn.mpi`) of a graph
network under ``mpiexec -n 2`` equals one process training on the global batches."""
from pathlib import Path

import pytest

from test_mpi import _mpirun

SCRIPT = Path(__file__).resolve().parent / "mpi_graph_check.py"


def test_data_parallel_graph_equals_one_process_on_global_batches():
    result = _mpirun([str(SCRIPT)], timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    assert result.stdout.count("max |w - w_ref|") == 2
