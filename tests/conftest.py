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


def pytest_collection_modifyitems(config, items):
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
