"""Whether this process runs under AddressSanitizer (tools/sanitize.sh).

Kept out of conftest.py: importing conftest from a test module would run it a
second time and reset the hypothesis profile chosen on the command line.
"""


def sanitizer_loaded():
    """True when AddressSanitizer's runtime is in this process (tools/sanitize.sh)."""
    try:
        with open("/proc/self/maps") as fh:
            return "libasan" in fh.read()
    except OSError:  # pragma: no cover - non-Linux
        return False
