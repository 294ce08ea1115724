"""setup.py: editing any C file of src_c/ rebuilds the extensions that link it.

The plain-C kernels are compiled into a static library that every extension
links; an extension whose own sources did not change must still be linked
again when a kernel's .c (or .h) file did, or it keeps the old kernel."""
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_extension_is_rebuilt_when_a_c_file_changes(monkeypatch):
    if not (ROOT / "setup.py").is_file() or not (ROOT / "src_c").is_dir():
        pytest.skip("not a source checkout")
    cython_build = pytest.importorskip("Cython.Build")
    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))
    monkeypatch.setattr(cython_build, "cythonize", lambda extensions, **kw: extensions)
    monkeypatch.setenv("PYX_CNN_NO_OPENMP", "1")     # (no compiler probe)
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"), run_name="setup")
    c_files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "src_c").glob("*.[ch]"))
    assert any(f.endswith(".c") for f in c_files) and captured["ext_modules"]
    for extension in captured["ext_modules"]:
        missing = [f for f in c_files if f not in extension.depends]
        assert not missing, f"{extension.name} is not rebuilt when {missing} change"
