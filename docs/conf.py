"""Sphinx configuration of the pyx_cnn documentation.

Build from the repository root, after ``pip install ".[docs]"``:

    sphinx-build -W -b html docs docs/_build/html

pyx_cnn is imported from the installed package (the API pages read its
docstrings, the gallery runs its examples), never from the source folder.
"""
import importlib.util
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent

# Import the installed pyx_cnn, not the source folder next to docs/: the
# repository root must not be on sys.path (it holds no compiled extensions
# unless built in place, and would hide the installed package).
_root = str(HERE.parent)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _root]
sys.path.insert(0, str(HERE / "_ext"))

import pyx_cnn  # noqa: E402

project = "pyx_cnn"
author = "the pyx_cnn developers"
copyright = "the pyx_cnn developers, BSD 3-Clause licence"
version = release = pyx_cnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "bench_tables",
]

root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "_generated/*.rst"]
templates_path = ["_templates"]

# API pages: one page per public name, generated from the docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# The examples: every file of ../examples runs at build time, its figures go on
# its page. They are ordered as the reading order of examples/GALLERY_HEADER.rst lists
# them, then by file name (docs/_ext/gallery_order.py).
# Examples that need PyTorch, which the docs extra does not install: without it they are
# run all the same, expected to fail (their page shows the ImportError), so that the
# documentation still builds; with it (as in CI) they must run.
NEEDS_TORCH = ["../examples/plot_torch_resnet_onnx.py"]
HAS_TORCH = importlib.util.find_spec("torch") is not None

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "gallery_order.ReadingOrder",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "show_memory": False,
    "reference_url": {"pyx_cnn": None},
    "doc_module": ("pyx_cnn",),
    "backreferences_dir": None,
    "copyfile_regex": r".*\.(csv|txt|png)$",
    "expected_failing_examples": [] if HAS_TORCH else NEEDS_TORCH,
}

html_theme = "pydata_sphinx_theme"
html_title = f"pyx_cnn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = ["_static"]
html_css_files = ["pyx_cnn.css"]
# The left sidebar lists a section's pages: the user guide, the gallery and the API pages
# have some; the other pages stand alone, so they get the whole width.
html_sidebars = {
    "**": ["sidebar-nav-bs"],
    **{page: [] for page in ("index", "install", "reading", "guarantees", "threads",
                             "design", "benchmarks", "scale_out", "interop", "development",
                             "api")},
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}
