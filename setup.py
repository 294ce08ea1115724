"""Build the pyx_cnn extension modules.

Environment variables
---------------------
PYX_CNN_DEBUG=1
    Compile the Cython kernels with ``boundscheck``, ``wraparound`` and
    ``initializedcheck`` on, and without ``-O3`` (a slow build for testing the
    Python-side validation against out-of-bounds access).
PYX_CNN_SANITIZE=1
    Add ``-fsanitize=address,undefined``, at ``-O1`` (see ``tools/sanitize.sh``).
PYX_CNN_NO_OPENMP=1
    Build without OpenMP even where the compiler has it.
"""
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.sysconfig import customize_compiler

HERE = Path(__file__).resolve().parent


def _flag(name):
    return os.environ.get(name, "0").strip().lower() not in ("", "0", "false", "no")


DEBUG = _flag("PYX_CNN_DEBUG")
SANITIZE = _flag("PYX_CNN_SANITIZE")


def _openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or ([], []) when the compiler has none."""
    if _flag("PYX_CNN_NO_OPENMP") or sys.platform == "win32":
        return [], []
    compiler = new_compiler()
    customize_compiler(compiler)
    source = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
        }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "check_openmp.c")
        with open(src, "w") as fh:
            fh.write(source)
        try:
            objects = compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(
                objects, "check_openmp", output_dir=tmp, extra_postargs=["-fopenmp"]
            )
        except Exception:  # any compile or link failure means: no OpenMP
            print("pyx_cnn: the compiler has no OpenMP; building single-threaded kernels")
            return [], []
    return ["-fopenmp"], ["-fopenmp"]


omp_compile, omp_link = _openmp_flags()
compile_args = []
if DEBUG or SANITIZE:
    # -O1: instrumented -O3 builds of the SIMD kernels take minutes per file
    compile_args += ["-O1", "-g"]
else:
    compile_args += ["-O3", "-g0"]  # no debug info in release wheels
link_args = []
if SANITIZE:
    compile_args += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    link_args += ["-fsanitize=address,undefined"]
compile_args += omp_compile
link_args += omp_link

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    macros.append(("PYX_CNN_DEBUG", "1"))

# The plain-C sources each extension links: every one needs the CPU feature queries;
# the kernels go only where they are called. An extension not listed gets them all.
C_SOURCES = {
    "_conv": ["src_c/cpu_features.c", "src_c/conv_simd.c"],
    "_pool": ["src_c/cpu_features.c", "src_c/pool_simd.c"],
    "_threads": ["src_c/cpu_features.c"],
    # plain Cython kernels: no C sources
    "_activation": [],
    "_avg_pool": [],
    "_batch_norm": [],
    "_dropout": [],
}
all_c_sources = sorted(str(p.relative_to(HERE)) for p in (HERE / "src_c").glob("*.c"))
# headers (and the kernel bodies they include): a change rebuilds the extensions
c_headers = sorted(str(p.relative_to(HERE)) for p in (HERE / "src_c").glob("*.h"))


def _extension(name):
    return Extension(
        f"pyx_cnn.{name}",
        sources=[f"pyx_cnn/{name}.pyx", *C_SOURCES.get(name, all_c_sources)],
        depends=c_headers,
        include_dirs=[np.get_include(), "src_c"],
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

# One build folder per mode, so switching PYX_CNN_DEBUG or PYX_CNN_SANITIZE never
# reuses generated C, objects or libraries of the other mode.
MODE = "-".join(["debug"] * DEBUG + ["sanitize"] * SANITIZE) or "release"
BUILD_BASE = os.path.join("build", MODE)

extensions = cythonize(
    [_extension(p.stem) for p in sorted((HERE / "pyx_cnn").glob("_*.pyx"))],
    compiler_directives=directives,
    build_dir=os.path.join(BUILD_BASE, "cython"),
)

setup(ext_modules=extensions, options={"build": {"build_base": BUILD_BASE}})
