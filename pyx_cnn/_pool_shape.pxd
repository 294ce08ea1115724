# The pooling kernels' description of a (N, H, W, C) -> (N, Ho, Wo, C) pooling
# (src_c/pool_kernels.h), shared by _max_pool.pyx and _avg_pool.pyx, and the check
# that keeps every window's reads inside the input.

cdef extern from "pool_kernels.h" nogil:
    ctypedef struct pyx_pool_shape:
        Py_ssize_t in_h, in_w, channels
        Py_ssize_t size, stride
        Py_ssize_t out_h, out_w
        Py_ssize_t pad_top, pad_bottom, pad_left, pad_right
        int count_include_pad
    int pyx_pool_inside(const pyx_pool_shape* s)    # every window inside the input


cdef inline void check_windows(Py_ssize_t size, Py_ssize_t stride, Py_ssize_t n_in,
                               Py_ssize_t n_out, Py_ssize_t pad_before,
                               Py_ssize_t pad_after) except *:
    """Raise ValueError unless every window along the axis holds an input value:
    the first window ends after the padding, the last starts before the input's end."""
    if size < 1 or stride < 1 or pad_before < 0 or pad_after < 0:
        raise ValueError(f"pooling needs size >= 1, stride >= 1 and padding >= 0, got "
                         f"size={size}, stride={stride}, padding=({pad_before}, {pad_after})")
    if n_out > 0 and (n_in < 1 or pad_before >= size
                      or (n_out - 1) * stride - pad_before >= n_in):
        raise ValueError(f"{n_out} pooling windows of size {size}, stride {stride}, padding "
                         f"({pad_before}, {pad_after}) do not all hold a value of an axis "
                         f"of {n_in}")


cdef inline pyx_pool_shape pool_shape(Py_ssize_t* x_shape, Py_ssize_t* out_shape,
                                      Py_ssize_t size, Py_ssize_t stride, pads,
                                      bint count_include_pad) except *:
    """The kernels' shape struct for input `x_shape` and output `out_shape` (checked
    with check_windows), ``pads = ((top, bottom), (left, right))``."""
    cdef pyx_pool_shape s
    (s.pad_top, s.pad_bottom), (s.pad_left, s.pad_right) = pads
    s.in_h = x_shape[1]
    s.in_w = x_shape[2]
    s.channels = x_shape[3]
    s.size = size
    s.stride = stride
    s.out_h = out_shape[1]
    s.out_w = out_shape[2]
    s.count_include_pad = count_include_pad
    if x_shape[0] != out_shape[0] or x_shape[3] != out_shape[3]:
        raise ValueError("pooling input and output must have the same batch and channels")
    check_windows(size, stride, s.in_h, s.out_h, s.pad_top, s.pad_bottom)
    check_windows(size, stride, s.in_w, s.out_w, s.pad_left, s.pad_right)
    return s
