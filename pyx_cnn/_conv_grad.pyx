"""The input gradient of a convolution on gathered windows (the *windows_blas* route).

Private: :mod:`pyx_cnn.ops.conv` validates shapes, dtypes and memory layout
before calling these, which are compiled without bounds checks (unless built
with ``PYX_CNN_DEBUG=1``). The forward pass, the filter and bias gradients
and the input gradient at strides 1 run on the kernels of :mod:`pyx_cnn._conv`;
the input gradient comes here at other strides, or when a filter value is inf
or NaN (``pyx_conv_choose`` in ``src_c/conv_simd.c`` decides, for every caller).

On the zero-padded input ``P`` a convolution computes

    out[n, y, x, f] = bias[f] + sum_{i, j, c} P[n, y*sh + i*dh, x*sw + j*dw, c] * W[i, j*C+c, f]

(strides ``sh, sw``, dilations ``dh, dw``). With every window as one row of a
matrix ``cols`` (im2col, the columns in the filters' order (i, j, c)), this is
``out = cols @ W``, and with ``G = dL/dout`` the input gradient is the
windows' gradients ``G @ W^T`` added back onto the input grid (col2im):

    dL/dP += col2im(G @ W^T)           (windows, F) x (F, K), K = kh*kw*C

Layouts
-------
grad_x : (N, Hp, Wp, C)     the padded input's gradient, C-contiguous
w : (kh, kw*C, F)           the forward kernel's filter layout (K rows)
grad_out : (N, Ho, Wo, F)

The products run on SciPy's BLAS (:mod:`pyx_cnn._blas`), called from the
kernels' own OpenMP threads, a chunk of output rows at a time (a chunk may run
over several whole samples: bigger products run faster). The chunks lie on a
grid fixed by the shape, so the result does not depend on the thread count;
a sample's input gradient is written by one thread, so overlapping windows
never race.
"""
from cython.parallel cimport prange, threadid

import numpy as np

from cython cimport floating
from pyx_cnn._blas cimport gemm
from pyx_cnn._threads cimport FAMILY_CONV, threads_for

# Each chunk's matrix of windows holds at most about this many values (512 KiB
# in float32): it stays in the core's L2 cache between the copy and the product.
cdef Py_ssize_t _CHUNK_VALUES = 1 << 17


cdef struct Windows:
    Py_ssize_t h_out, w_out, kh, channels
    Py_ssize_t sh, sw, dh
    Py_ssize_t x_row, x_sample   # strides of the padded input (in values)
    Py_ssize_t k                 # values in a window: kh * kw * C
    # per kernel row, a window reads `runs` runs of `run` contiguous values,
    # `run_step` apart: one run of kw*C values without dilation along W, else
    # kw runs of C values
    Py_ssize_t run, runs, run_step


cdef Windows _windows(Py_ssize_t h_out, Py_ssize_t w_out, Py_ssize_t kh, Py_ssize_t kw,
                      Py_ssize_t channels, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
                      Py_ssize_t dw, Py_ssize_t x_width, Py_ssize_t x_height):
    cdef Windows g
    g.h_out, g.w_out, g.kh, g.channels = h_out, w_out, kh, channels
    g.sh, g.sw, g.dh = sh, sw, dh
    g.x_row = x_width * channels
    g.x_sample = x_height * g.x_row
    g.k = kh * kw * channels
    if dw == 1 or kw == 1:
        g.run, g.runs, g.run_step = kw * channels, 1, 0
    else:
        g.run, g.runs, g.run_step = channels, kw, dw * channels
    return g


cdef inline Py_ssize_t _chunk_rows(const Windows* g, Py_ssize_t width, Py_ssize_t rows) noexcept nogil:
    """Output rows (of Wo windows of `width` values) per chunk, at least 1, at most `rows`."""
    cdef Py_ssize_t chunk = _CHUNK_VALUES // (g.w_out * width)
    if chunk < 1:
        chunk = 1
    return chunk if chunk < rows else rows


cdef inline void _scatter_windows(
    const floating* cols, floating* gx, Py_ssize_t row0, Py_ssize_t rows, const Windows* g,
) noexcept nogil:
    """col2im of the batch's output rows ``row0 .. row0 + rows`` (row r is row
    ``r % Ho`` of sample ``r // Ho``): each row of `cols` (K values, one
    window's gradient) is added onto the input grid under its window;
    overlapping windows add up."""
    cdef Py_ssize_t r, n, oy, ox, i, j, t
    cdef floating* dst
    cdef const floating* src = cols
    for r in range(row0, row0 + rows):
        n = r // g.h_out
        oy = r - n * g.h_out
        for ox in range(g.w_out):
            for i in range(g.kh):
                dst = gx + n * g.x_sample + (oy * g.sh + i * g.dh) * g.x_row + ox * g.sw * g.channels
                for j in range(g.runs):
                    for t in range(g.run):
                        dst[t] += src[t]
                    src += g.run
                    dst += g.run_step


def _conv2d_backward_input(
    const floating[:, :, :, ::1] grad_out,
    const floating[:, :, ::1] w,
    floating[:, :, :, ::1] grad_x,
    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
    int n_threads,
):
    """grad_x (padded, overwritten) = the transposed convolution of grad_out:
    ``G_chunk @ W^T`` (one BLAS product), then added back onto the input grid."""
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t kh = w.shape[0]
    cdef Py_ssize_t n_filters = w.shape[2]
    cdef Py_ssize_t kw = w.shape[1] // channels if channels else 0
    cdef Windows g = _windows(grad_out.shape[1], grad_out.shape[2], kh, kw, channels,
                              sh, sw, dh, dw, grad_x.shape[2], grad_x.shape[1])
    cdef Py_ssize_t chunk, per_item, n_items, item, row0, row_end, rows
    cdef floating[:, ::1] work
    cdef floating* buf
    cdef int nt
    if n_batch == 0 or g.x_sample == 0:
        return
    grad_x[...] = 0
    if g.h_out == 0 or g.w_out == 0 or n_filters == 0:
        return
    # the products' rows on a grid fixed by the shape (whole samples per product when
    # a sample is smaller than a chunk, else chunks of one sample's rows), so that no
    # thread count changes how an output row is computed
    chunk = _chunk_rows(&g, g.k, n_batch * g.h_out)
    if chunk >= g.h_out:
        per_item = chunk // g.h_out
        chunk = per_item * g.h_out
    else:
        per_item = 1
    n_items = (n_batch + per_item - 1) // per_item
    nt = threads_for(n_batch * g.h_out * g.w_out * g.k * n_filters, n_items, n_threads,
                     FAMILY_CONV)
    work = np.empty((nt, chunk * g.w_out * g.k),
                    dtype=np.float32 if floating is float else np.float64)
    with nogil:
        # items of whole samples, handed out as threads come free: a sample's gradient
        # is written by one thread, so overlapping windows never race
        for item in prange(n_items, num_threads=nt, schedule="dynamic"):
            buf = &work[threadid(), 0]
            row0 = item * per_item * g.h_out
            row_end = min(n_batch, (item + 1) * per_item) * g.h_out
            while row0 < row_end:
                rows = min(chunk, row_end - row0)
                gemm(False, True, <int>(rows * g.w_out), <int>g.k, <int>n_filters, 1,
                     &grad_out[0, 0, 0, 0] + row0 * g.w_out * n_filters, <int>n_filters,
                     &w[0, 0, 0], <int>n_filters, 0, buf, <int>g.k)
                _scatter_windows(buf, &grad_x[0, 0, 0, 0], row0, rows, &g)
                row0 = row0 + rows
