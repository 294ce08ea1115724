"""Argument checks and the dtype rule shared by every public function.

The kernels are compiled without bounds checks, so everything they rely on is
checked here: types, number of dimensions, sizes, and memory layout (every
array handed to a kernel is C-contiguous and of the working dtype).
"""
import operator
import os

import numpy as np

__all__ = [
    "as_array",
    "working_dtype",
    "as_kernel_array",
    "check_int",
    "check_result_size",
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
    if not isinstance(value, np.ndarray):
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


def working_dtype(*arrays):
    """float32 when every array is float32, else float64 (ints and bools included)."""
    if arrays and all(a.dtype == np.float32 for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def as_kernel_array(array, dtype):
    """A C-contiguous array of `dtype`: the input itself when it already is one.

    The kernels never write to their inputs, so sharing memory is safe.
    """
    return np.ascontiguousarray(array, dtype=dtype)


def check_int(value, name, minimum):
    """Return `value` as a Python int, checking it is an integer >= `minimum`."""
    if isinstance(value, (bool, np.bool_)) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _memory_limit():
    """Bytes of physical memory: a request above this cannot be met without swapping."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 62


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
    limit = _memory_limit()
    if total > limit:
        raise MemoryError(
            f"{what} needs {total / 2**30:.3g} GiB for its result and work arrays "
            f"(shapes {', '.join(shape_str(s) for s, _ in buffers)}), more than the "
            f"machine's {limit / 2**30:.3g} GiB of memory"
        )
