"""Argument checks and the dtype rule shared by every public function.

The kernels are compiled without bounds checks, so everything they rely on is
checked here: types, number of dimensions, sizes, and memory layout (every
array handed to a kernel is C-contiguous and of the working dtype).
"""
import math
import numbers
import operator
import os

import sys

import numpy as np

__all__ = [
    "as_array",
    "working_dtype",
    "as_kernel_array",
    "check_int",
    "check_real",
    "check_learning_rate",
    "check_labels",
    "check_result_size",
    "needs_kernel_copy",
    "shape_str",
]

_REJECTED_KINDS = {
    "c": "complex",
    "O": "object",
    "U": "string",
    "S": "bytes",
    "V": "structured/void",
    "M": "datetime",
    "m": "timedelta",
}


def shape_str(shape):
    """``(2, 3)`` for error messages (numpy prints ``(2,)`` for 1-D, which is fine)."""
    return str(tuple(int(s) for s in shape))


def as_array(value, name):
    """Turn an array-like into an ndarray of a real numeric dtype, without copying.

    Raises
    ------
    TypeError
        For None, for objects numpy cannot turn into a numeric array, and for
        complex, object, string, bytes, structured and datetime dtypes.
    ValueError
        For ragged nested sequences.
    """
    if value is None:
        raise TypeError(f"{name} must be an array, got None")
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray:  # np.matrix, masked arrays: their data only
            value = np.asarray(value)
    else:
        if isinstance(value, (str, bytes)):
            raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}")
        try:
            value = np.asarray(value)
        except ValueError as exc:  # ragged lists
            raise ValueError(f"{name} could not be turned into an array: {exc}") from None
    kind = value.dtype.kind
    if kind in _REJECTED_KINDS:
        raise TypeError(
            f"{name} must hold real numbers (bool, int or float), "
            f"got dtype {value.dtype} ({_REJECTED_KINDS[kind]})"
        )
    return value


_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def working_dtype(*arrays):
    """float32 when every array is float32, else float64 (ints and bools included).

    Byte order does not count: a big-endian float32 array is float32 (the
    kernel copy converts it to native order).
    """
    for a in arrays:
        if a.dtype.kind != "f" or a.dtype.itemsize != 4:
            return _FLOAT64
    return _FLOAT32 if arrays else _FLOAT64


def as_kernel_array(array, dtype):
    """A C-contiguous, aligned array of `dtype`: the input itself when it already is one.

    The kernels never write to their inputs, so sharing memory is safe.
    Misaligned data (a view at an odd byte offset) is copied: the kernels load
    whole floats, which C only allows at aligned addresses.
    """
    if array.dtype == dtype:
        flags = array.flags
        if flags.c_contiguous and flags.aligned:
            return array
    return np.require(array, dtype=dtype, requirements=("C_CONTIGUOUS", "ALIGNED"))


def needs_kernel_copy(array, dtype):
    """True when :func:`as_kernel_array` would copy `array` (for memory checks)."""
    flags = array.flags
    return array.dtype != dtype or not (flags.c_contiguous and flags.aligned)


def check_int(value, name, minimum):
    """Return `value` as a Python int, checking it is an integer >= `minimum`."""
    message = f"{name} must be an int, got {type(value).__name__} {value!r}"
    if isinstance(value, (bool, np.bool_)) or not hasattr(value, "__index__"):
        raise TypeError(message)
    try:
        value = operator.index(value)
    except TypeError:  # e.g. an array of several integers
        raise TypeError(message) from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_real(value, name):
    """Return `value` as a Python float, checking it is a real number (not yet its range).

    Parameters
    ----------
    value : object
        A Python or numpy real number (a 0-d real array is accepted too).
    name : str
        The argument's name, for the message.

    Raises
    ------
    TypeError
        When `value` is not a real number: None, a string, a bool, a list or
        an array of several values, a complex number.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) \
            or isinstance(value, np.complexfloating):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}"
                        + ("" if value is None else f" {value!r}"))
    return float(value)


def check_learning_rate(value, name="learning_rate"):
    """Return `value` as a Python float, checking it is a finite real number >= 0.

    Parameters
    ----------
    value : object
        A Python or numpy real number (a 0-d real array is accepted too).
    name : str, optional
        The argument's name, for the messages.

    Raises
    ------
    TypeError
        When `value` is not a real number (None, a string, a bool, an array of
        several values, a complex number).
    ValueError
        When it is NaN, infinite or negative.
    """
    value = check_real(value, name)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_labels(labels, k, name):
    """Return integer class labels as int64, checking them before the cast.

    Parameters
    ----------
    labels : ndarray
        Integer, bool or float array (float values must be whole numbers).
    k : int
        Number of classes: every label must lie in ``[0, k)``.
    name : str
        The argument's name, for the messages.

    Raises
    ------
    ValueError
        When a label is not a whole number (NaN, inf, 0.5) or lies outside
        ``[0, k)``. The range is checked in the labels' own dtype, so a label
        too large for int64 is reported as it is, not wrapped by the cast.
    """
    if labels.size == 0:
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            bad = float(labels[~whole].flat[0])
            raise ValueError(f"{name} must hold integer class labels, got {bad!r}")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= k:
        def show(v):
            return repr(int(v)) if labels.dtype.kind != "f" or abs(v) < 2**53 else repr(float(v))
        raise ValueError(f"{name} labels must lie in [0, {k}) for {k} classes, got range "
                         f"[{show(low)}, {show(high)}]")
    return labels.astype(np.int64)


# Requests below this size are not checked against the memory available (reading
# it costs a file read; a failure this small is an ordinary numpy MemoryError).
_CHECK_ABOVE_BYTES = 1 << 26


def _physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 62


def _read_int(path, prefix=None):
    """The integer in a /proc or /sys file (after `prefix` on its line, in kB), or None."""
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if prefix is None:
                    return int(line.split()[0])
                if line.startswith(prefix):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _memory_limit():
    """Bytes that can be allocated now without swapping or the OOM killer.

    Physical memory, lowered to the kernel's estimate of available memory
    (``MemAvailable``) and to the room left under a cgroup v2 limit when known.
    Linux overcommits: an allocation above this may succeed and the process be
    killed when the pages are touched, so the check has to come first.
    """
    limit = _physical_memory()
    available = _read_int("/proc/meminfo", b"MemAvailable:")
    if available is not None:
        limit = min(limit, available)
    cgroup_max = _read_int("/sys/fs/cgroup/memory.max")  # "max" (no limit) reads as None
    cgroup_used = _read_int("/sys/fs/cgroup/memory.current")
    if cgroup_max is not None and cgroup_used is not None:
        limit = min(limit, max(cgroup_max - cgroup_used, 0))
    return limit


def check_result_size(what, *buffers):
    """Raise MemoryError before any work when the buffers to allocate cannot fit.

    Parameters
    ----------
    what : str
        The operation, for the message.
    *buffers : (shape, dtype)
        Every array the operation is about to allocate.
    """
    total = 0
    for shape, dtype in buffers:
        count = 1
        for s in shape:
            count *= int(s)
        total += count * np.dtype(dtype).itemsize
    if total <= _CHECK_ABOVE_BYTES:
        return
    limit = _memory_limit()
    if total > limit:
        raise MemoryError(
            f"{what} needs {total / 2**30:.3g} GiB for its result and work arrays "
            f"(shapes {', '.join(shape_str(s) for s, _ in buffers)}), more than the "
            f"{limit / 2**30:.3g} GiB of memory available"
        )


def is_dask_array(x):
    """True when `x` is a ``dask.array.Array``; never imports dask itself."""
    if not type(x).__module__.startswith("dask"):
        return False
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)
