"""Shared test settings.

Hypothesis profiles
-------------------
``default``
    A small sample per property (the normal ``pytest`` run).
``fuzz``
    Thousands of examples per property: ``pytest --hypothesis-profile=fuzz``
    (or ``PYX_CNN_HYPOTHESIS_PROFILE=fuzz``). Also runs the tests marked ``slow``.

Tests marked ``slow`` (long leak loops, the long fuzz) run only with
``--run-slow``, ``PYX_CNN_RUN_SLOW=1`` or the ``fuzz`` profile.

Markers
-------
``interface``
    Every test of the modules in ``INTERFACE_MODULES``: the command line, figures, the
    documentation, data sets, packaging and the benchmark scripts, whose code under
    test is Python around the kernels that the other tests check. CI runs them on the
    release build only, not again under the sanitizers (``-m "not interface"``).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import pyx_cnn

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "default", max_examples=60, deadline=None, print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("PYX_CNN_FUZZ_EXAMPLES", "2500")),
    deadline=None, print_blob=True, suppress_health_check=_QUIET,
)
settings.load_profile(os.environ.get("PYX_CNN_HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="run the tests marked slow (long leak loops, long fuzzing)")


def _run_slow(config):
    return (
        config.getoption("--run-slow")
        or os.environ.get("PYX_CNN_RUN_SLOW", "0") not in ("", "0")
        or settings().max_examples > settings.get_profile("default").max_examples
    )


INTERFACE_MODULES = {
    "test_bench_digits", "test_bench_models", "test_benchmark", "test_build_deps",
    "test_build_error", "test_cli", "test_cli_checks", "test_cli_errors", "test_datasets",
    "test_docs_api_names", "test_docs_bench_tables", "test_docs_graph_figures",
    "test_docs_snippets", "test_figures", "test_optional_imports", "test_packaging",
    "test_plot", "test_train_cli", "test_train_models_cli",
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "interface: tests of the command line, figures, docs and packaging "
        "(tests/conftest.py)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.stem in INTERFACE_MODULES:
            item.add_marker(pytest.mark.interface)
    if _run_slow(config):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or --hypothesis-profile=fuzz")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _restore_thread_count():
    """Every test starts and ends with the default thread count."""
    pyx_cnn.set_num_threads(None)
    yield
    pyx_cnn.set_num_threads(None)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
