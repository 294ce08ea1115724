"""The API reference (docs/api.rst) has a page for every public function and class of
pyx_cnn.layers, pyx_cnn.models and pyx_cnn.reference: a name added to a module's
``__all__`` without its autosummary entry fails here."""
import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def documented(module):
    """The autosummary entries under ``.. currentmodule:: module`` in api.rst."""
    names, current = set(), None
    for line in API.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\.\. currentmodule:: (\S+)\s*$", line)
        if match:
            current = match[1]
        elif current == module and re.match(r"^   [A-Za-z_][\w.]*\s*$", line):
            names.add(line.strip())
    return names


@pytest.mark.parametrize("module", ["pyx_cnn.layers", "pyx_cnn.models", "pyx_cnn.reference"])
def test_every_public_callable_has_an_api_entry(module):
    if not API.exists():
        pytest.skip("no docs/ folder next to tests/ (an installed test suite)")
    mod = importlib.import_module(module)
    public = {name for name in mod.__all__ if callable(getattr(mod, name))}
    missing = sorted(public - documented(module))
    assert not missing, f"docs/api.rst has no entry for {module}: {missing}"
