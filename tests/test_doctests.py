"""The examples in the docstrings run (as the README's test command runs them)."""
import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import pyx_cnn

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(pyx_cnn.__path__, "pyx_cnn.")
    if (not name.split(".")[-1].startswith("_") and name not in ("pyx_cnn.cli",))
    or name.startswith("pyx_cnn.reference.")   # the loops live in private modules
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_the_examples_are_found():
    # a test that finds no example would pass for nothing
    found = sum(len(doctest.DocTestFinder().find(importlib.import_module(name)))
                for name in MODULES)
    assert found > 5
    assert "pyx_cnn.reference" in MODULES
    assert "pyx_cnn.reference._pooling" in MODULES
