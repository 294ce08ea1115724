#!/usr/bin/env bash
# Build pyx_cnn with AddressSanitizer and UndefinedBehaviorSanitizer and run the
# test suite against that build.
#
#   tools/sanitize.sh                               # the whole suite
#   tools/sanitize.sh --hypothesis-profile=fuzz     # ... with thousands of fuzz cases
#   tools/sanitize.sh tests/test_properties.py -x   # any pytest arguments
#
# PYX_CNN_DEBUG=1 adds the bounds-checked build's checks (Cython boundscheck,
# wraparound, initializedcheck) to the same build: CI runs the suite that way.
# PYX_CNN_ASAN_REUSE=1 reuses the last build (after editing tests only; it must have
# been built with the same PYX_CNN_DEBUG).
# Needs gcc (or clang) with its sanitizer runtimes, and the test dependencies
# (pip install ".[test]") in the Python that runs it (PYTHON, default: python).
# The instrumented build goes to build/asan-site (PYX_CNN_ASAN_DIR): it never
# replaces the installed package. Python itself is not instrumented, so the
# sanitizer runtimes are preloaded; leak detection is off (CPython's allocator
# keeps memory on purpose), any ASan or UBSan report stops the run with an error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python}
OUT=${PYX_CNN_ASAN_DIR:-$ROOT/build/asan-site}
CC_FOR_LIBS=${CC:-gcc}

ASAN_LIB=$("$CC_FOR_LIBS" -print-file-name=libasan.so)
UBSAN_LIB=$("$CC_FOR_LIBS" -print-file-name=libubsan.so)
for lib in "$ASAN_LIB" "$UBSAN_LIB"; do
    if [ ! -e "$lib" ]; then
        echo "sanitize.sh: $CC_FOR_LIBS has no $(basename "$lib") (install libasan / libubsan)" >&2
        exit 2
    fi
done

if [ "${PYX_CNN_ASAN_REUSE:-0}" = 1 ] && [ -d "$OUT/pyx_cnn" ]; then
    echo "== reusing the sanitized build in $OUT (PYX_CNN_ASAN_REUSE=1) =="
else
echo "== building the sanitized extension into $OUT =="
rm -rf "$OUT"
# Without build isolation when the build requirements are already importable
# (no download); otherwise pip fetches them, as for a normal install.
if "$PY" -c "import Cython, setuptools, numpy" 2>/dev/null; then
    ISOLATION=--no-build-isolation
else
    ISOLATION=
fi
PYX_CNN_SANITIZE=1 "$PY" -m pip install --quiet --no-deps --no-cache-dir $ISOLATION \
    --target "$OUT" "$ROOT"
fi

for so in "$OUT"/pyx_cnn/_*.so; do
    if ! ldd "$so" | grep libasan >/dev/null; then
        echo "sanitize.sh: $so is not linked with AddressSanitizer" >&2
        exit 1
    fi
done

export LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=0:exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export PYX_CNN_EXPECT_SANITIZER=1
export PYTHONPATH="$OUT${PYTHONPATH:+:$PYTHONPATH}"

# Test paths given relative to the repository stay valid from the build directory;
# without any, the whole suite runs.
ARGS=()
HAVE_PATHS=0
for arg in "$@"; do
    if [[ "$arg" != -* && -e "$ROOT/${arg%%::*}" ]]; then
        ARGS+=("$ROOT/$arg")
        HAVE_PATHS=1
    else
        ARGS+=("$arg")
    fi
done
if [ "$HAVE_PATHS" = 0 ]; then
    ARGS+=("$ROOT/tests")
fi

# Run from the build directory: the current directory comes first on sys.path,
# so `import pyx_cnn` finds the sanitized build, not the source tree.
cd "$OUT"
"$PY" -c "import pyx_cnn._conv as m, sys; sys.exit(0 if m.__file__.startswith('$OUT') else 1)" || {
    echo "sanitize.sh: python does not import the sanitized build" >&2; exit 1; }
"$PY" -c "
import os, sys, pyx_cnn
want = os.environ.get('PYX_CNN_DEBUG', '0').strip().lower() not in ('', '0', 'false', 'no')
sys.exit(0 if pyx_cnn.show_config()['debug_build'] == want else 1)" || {
    echo "sanitize.sh: the build in $OUT does not match PYX_CNN_DEBUG=${PYX_CNN_DEBUG:-0}" \
        "(rebuild without PYX_CNN_ASAN_REUSE)" >&2; exit 1; }
echo "== pytest under ASan + UBSan =="
# --capture=sys: a sanitizer report is written to file descriptor 2 just before
# the process exits, so it must not go into pytest's capture file.
exec "$PY" -m pytest -c "$ROOT/pyproject.toml" --rootdir="$ROOT" -p no:cacheprovider \
    --capture=sys \
    "${ARGS[@]}"
