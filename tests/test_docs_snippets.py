"""Every ``.. code-block:: python`` of the documentation pages (docs/*.rst), and every
```python block of README.md, runs as written.

Each page's blocks run in order in one namespace, in a temporary directory, with
matplotlib's Agg backend. A block whose first line reads ``# NAME.py: run with  COMMAND``
is a script: it is written to NAME.py and run with COMMAND (``python NAME.py``) in a
child process, as a reader would run it.

Blocks are skipped only for the reasons listed in SKIPS (each entry must match exactly
one block, so the list cannot go stale), and, page by page, for a missing optional
module that the test extra does not install (``torch``: ``.ci/run`` installs it, so CI
runs those blocks).
"""
import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from childenv import child_env

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# (page, text found in the block, why it does not run here)
SKIPS = [
    ("scale_out.rst", "mpiexec -n 2 python train_mpi.py",
     "needs an MPI launcher (tests/test_mpi.py runs the same calls under mpiexec)"),
    ("datasets.rst", "datasets.load_mnist()",
     "downloads MNIST from the network"),
]

# optional modules the test extra does not install: a page stops at the first block
# that imports one of them when it is missing
NOT_IN_TEST_EXTRA = {"torch"}

SANITIZER_RUN = os.environ.get("PYX_CNN_EXPECT_SANITIZER", "0") not in ("", "0")

SCRIPT = re.compile(r"^# (?P<name>[\w.-]+\.py): run with\s+(?P<command>.+?)\s*$")
DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*python\s*$")


def python_blocks(path):
    """The ``.. code-block:: python`` bodies of an .rst file, dedented, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match["indent"])
        while i < len(lines) and re.match(r"^\s+:[\w-]+:", lines[i]):   # options
            i += 1
        body = []
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        if code:
            blocks.append(code + "\n")
    return blocks


def markdown_python_blocks(path):
    """The ```python fenced blocks of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```\s*$", text,
                                             flags=re.S | re.M)]


def pages():
    if not DOCS.is_dir():
        return []
    found = [p for p in sorted(DOCS.glob("*.rst")) if python_blocks(p)]
    readme = ROOT / "README.md"
    if readme.exists() and markdown_python_blocks(readme):
        found.append(readme)
    return found


def blocks_of(page):
    return markdown_python_blocks(page) if page.suffix == ".md" else python_blocks(page)


def imported_modules(code):
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def skip_reason(page, code):
    reasons = [why for name, text, why in SKIPS if name == page and text in code]
    return reasons[0] if reasons else None


def test_the_docs_have_pages_with_code():
    if not DOCS.is_dir():
        pytest.skip("no docs/ folder next to tests/ (an installed test suite)")
    assert len(pages()) >= 5, [p.name for p in pages()]


def test_every_skip_matches_one_block():
    if not DOCS.is_dir():
        pytest.skip("no docs/ folder next to tests/ (an installed test suite)")
    for name, text, _ in SKIPS:
        blocks = python_blocks(DOCS / name)
        assert sum(text in b for b in blocks) == 1, (name, text)


def test_markdown_block_extraction(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("Text\n\n```python\nx = 1\n```\n\n    not code\n\n```\nshell\n```\n"
                    "```python\ny = x\n```\n", encoding="utf-8")
    assert markdown_python_blocks(path) == ["x = 1\n", "y = x\n"]


def test_block_extraction(tmp_path):
    rst = textwrap.dedent("""\
        Text.

        .. code-block:: python
           :caption: one

           a = 1
           if a:
               b = 2

        More text.

        - item

          .. code-block:: python

             c = a + b

        .. code-block:: console

           $ not python
        """)
    path = tmp_path / "page.rst"
    path.write_text(rst, encoding="utf-8")
    assert python_blocks(path) == ["a = 1\nif a:\n    b = 2\n", "c = a + b\n"]


def run_script(code, tmp_path):
    """Run a script block as its first line says; the reason when it is not run."""
    match = SCRIPT.match(code.splitlines()[0])
    name, command = match["name"], match["command"].split()
    assert command[:2] == ["python", name], command
    if SANITIZER_RUN:
        # as in test_dask_arrays.py: child processes under the preloaded sanitizer
        # runtimes would test the launchers, not pyx_cnn
        return "not in the sanitizer run (a child Python process)"
    (tmp_path / name).write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, name] + command[2:], cwd=tmp_path,
                          env=child_env(MPLBACKEND="Agg"), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return None


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_page_code_runs(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_snippet"}
    not_run = []       # blocks of SKIPS, and scripts in the sanitizer run
    stopped = None     # a missing optional module: the rest of the page cannot run
    try:
        for number, code in enumerate(blocks_of(page), 1):
            reason = skip_reason(page.name, code)
            if reason:
                not_run.append(f"block {number}: {reason}")
                continue
            missing = sorted(m for m in imported_modules(code) & NOT_IN_TEST_EXTRA
                             if importlib.util.find_spec(m) is None)
            if missing:
                stopped = f"block {number} and after: needs {', '.join(missing)}"
                break
            if SCRIPT.match(code.splitlines()[0]):
                reason = run_script(code, tmp_path)
                if reason:
                    not_run.append(f"block {number}: {reason}")
                continue
            try:
                exec(compile(code, f"{page.name}, block {number}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(
                    f"{page.name}, block {number} raised {type(exc).__name__}: {exc}\n{code}"
                ) from exc
    finally:
        plt.close("all")
    if not_run:
        print("not run:", "; ".join(not_run))
    if stopped:
        pytest.skip(stopped)
