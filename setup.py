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
from concurrent.futures import ThreadPoolExecutor
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_clib import build_clib
from setuptools.command.build_ext import build_ext
from setuptools.modified import newer_group
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
    # -O1: instrumented -O3 builds of the SIMD kernels take minutes per file; -g1 (line
    # tables, for the sanitizers' reports) instead of -g, whose variable tracking took a
    # third of the time
    compile_args += ["-O1", "-g1"]
else:
    compile_args += ["-O3", "-g0"]  # no debug info in release wheels
link_args = []
if SANITIZE:
    compile_args += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    link_args += ["-fsanitize=address,undefined"]
compile_args += omp_compile
link_args += omp_link

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    macros.append(("PYX_CNN_DEBUG", "1"))

# The plain-C sources in src_c/ are compiled once, into one static helper library
# (build_clib, compiling them side by side: BuildClib below), which every extension
# links. The linker copies into each extension only the objects it calls: _conv gets
# conv_simd.o, the conv_copy_*.o of its kernels' copies and cpu_features.o,
# _max_pool gets pool_simd.o and cpu_features.o, _threads gets cpu_features.o, and the
# extensions that call no C kernel get none.
#
# Rule for new kernels: a new pyx_cnn/_*.pyx needs no entry here. It is cythonized
# and linked like the others, can `cdef extern from "<header>.h"` any header of
# src_c/, and builds even when it calls no C code. A new src_c/*.c file joins the
# helper library by itself.
C_LIBRARY = "pyx_cnn_c"
c_sources = sorted(str(p.relative_to(HERE)) for p in (HERE / "src_c").glob("*.c"))
# headers (and the kernel bodies they include): a change rebuilds the extensions
# and the helper library
c_headers = sorted(str(p.relative_to(HERE)) for p in (HERE / "src_c").glob("*.h"))
c_library = (C_LIBRARY, {
    "sources": c_sources,
    "include_dirs": ["src_c"],
    "macros": macros,
    "cflags": compile_args,
    "obj_deps": {"": c_headers},
})


def _extension(name):
    return Extension(
        f"pyx_cnn.{name}",
        sources=[f"pyx_cnn/{name}.pyx"],
        # the helper library's sources too: an extension whose .pyx did not change
        # is linked again when a kernel did (else it keeps the old kernel)
        depends=c_headers + c_sources,
        include_dirs=[np.get_include(), "src_c"],
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


class BuildClib(build_clib):
    """build_clib that compiles the library's sources side by side.

    setuptools compiles them one after the other; the convolution kernels alone are four
    big files (src_c/conv_copy_*.c, one per instruction set). Each source is compiled
    again only when it or a header is newer than its object.
    """

    def build_libraries(self, libraries):
        for name, info in libraries:
            sources = info["sources"]
            headers = info.get("obj_deps", {}).get("", [])
            objects = self.compiler.object_filenames(sources, output_dir=self.build_temp)

            def compile_one(source):
                self.compiler.compile(
                    [source], output_dir=self.build_temp, macros=info.get("macros"),
                    include_dirs=info.get("include_dirs"), extra_postargs=info.get("cflags"),
                    debug=self.debug,
                )

            stale = [src for src, obj in zip(sources, objects)
                     if self.force or newer_group([src, *headers], obj)]
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                list(pool.map(compile_one, stale))  # list(): raises a compile error
            self.compiler.create_static_lib(objects, name, output_dir=self.build_clib,
                                            debug=self.debug)


class BuildExt(build_ext):
    """build_ext that builds the C helper library first.

    ``setup.py build_ext --inplace`` and ``pip install -e .`` run build_ext
    alone; the plain ``build`` command would run build_clib itself.
    """

    def run(self):
        self.run_command("build_clib")
        super().run()


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

setup(
    ext_modules=extensions,
    libraries=[c_library],
    cmdclass={"build_clib": BuildClib, "build_ext": BuildExt},
    options={
        "build": {"build_base": BUILD_BASE},
        # compile the extensions side by side, as BuildClib does the C sources (``-j N``
        # on the command line overrides)
        "build_ext": {"parallel": os.cpu_count() or 1},
    },
)
