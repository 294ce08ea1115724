"""Importing pyx_cnn from a folder without the compiled extensions says what to do."""
import shutil
import subprocess
import sys
from pathlib import Path

import pyx_cnn


def test_source_folder_without_extensions_gives_clear_message(tmp_path):
    package = Path(pyx_cnn.__file__).resolve().parent
    (tmp_path / "pyx_cnn").mkdir()
    for source in package.glob("*.py"):
        shutil.copy(source, tmp_path / "pyx_cnn" / source.name)
    (tmp_path / "setup.py").write_text("# a source checkout\n")
    assert not list((tmp_path / "pyx_cnn").glob("*.so"))
    # -S: no site-packages, so an editable install's import hook cannot step in;
    # the import fails before anything else is needed
    result = subprocess.run([sys.executable, "-S", "-c", "import pyx_cnn"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    message = result.stderr
    assert "ImportError" in message
    assert "source folder" in message
    assert str(tmp_path / "pyx_cnn") in message
    assert "pip install -e ." in message
    assert "build_ext --inplace" in message
    assert "another directory" in message


def test_build_error_is_short_and_ends_with_what_to_do(tmp_path):
    package = Path(pyx_cnn.__file__).resolve().parent
    (tmp_path / "pyx_cnn").mkdir()
    for source in package.glob("*.py"):
        shutil.copy(source, tmp_path / "pyx_cnn" / source.name)
    (tmp_path / "setup.py").write_text("# a source checkout\n")
    # python -m pyx_cnn from the clone root, as a newcomer would after installing
    result = subprocess.run([sys.executable, "-S", "-m", "pyx_cnn", "--version"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "direct cause" not in result.stderr          # no chained traceback
    assert len(lines) <= 12, result.stderr
    assert lines[-1].startswith("To fix: "), lines[-1]
    assert "cd .." in lines[-1] and "pip install -e ." in lines[-1]
    assert "current directory" in result.stderr
