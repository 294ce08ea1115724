"""The environment for a child process (a subprocess, an MPI rank, a dask worker)
that must import this very pyx_cnn."""
import os
from pathlib import Path

import pyx_cnn


def child_env(**extra):
    """``os.environ`` (plus `extra`), with the source tree on PYTHONPATH when the tests
    run against an in-place build (an installed package is found by itself; a source
    folder without built extensions must not be put first)."""
    env = dict(os.environ, **extra)
    root = Path(pyx_cnn.__file__).resolve().parents[1]
    if (root / "setup.py").exists():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env
