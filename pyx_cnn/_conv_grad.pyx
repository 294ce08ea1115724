"""Convolution on gathered windows and BLAS products: the input gradient (the
*windows_blas* route), and grouped convolutions.

Private: :mod:`pyx_cnn.ops.conv` validates shapes, dtypes and memory layout
before calling these, which are compiled without bounds checks (unless built
with ``PYX_CNN_DEBUG=1``). The forward pass, the filter and bias gradients
and the input gradient at strides 1 run on the kernels of :mod:`pyx_cnn._conv`;
the input gradient comes here at other strides, when a filter value is inf or
NaN, or where the kernels would compute mostly zeros ('valid' convolutions of
small maps: ``pyx_conv_input_grad_route`` in ``src_c/conv_simd.c`` decides,
for every caller).

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

Grouped convolutions (``groups > 1``, other than the depthwise shapes of
:mod:`pyx_cnn._conv_depthwise`) run here forward and backward: a window's K
values are laid out group by group, so that group ``g``'s ``Kg = K / groups``
values are one block of each row of ``cols``, and each group is one BLAS
product on its block (``cols[:, g*Kg:(g+1)*Kg] @ W_g`` forward,
``G[:, group's filters] @ W_g^T`` for the input gradient, ``G_g^T @ cols_g``
for the filters' gradient), the filters as ``(groups, Kg, F / groups)`` and their
gradient in the filters' own order, ``(groups, F / groups, Kg)``.

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
from libc.string cimport memcpy
from pyx_cnn._blas cimport gemm
from pyx_cnn._threads cimport FAMILY_CONV, threads_for

# Each chunk's matrix of windows holds at most about this many values (512 KiB
# in float32): it stays in the core's L2 cache between the copy and the product...
cdef Py_ssize_t _CHUNK_VALUES = 1 << 17
# ...unless that leaves fewer windows than this: a product then reads the whole
# filter matrix (K x F values, megabytes in a deep layer) for a few rows, and BLAS
# runs at a fraction of its speed. A chunk of at least this many windows reads
# the filters once per block of rows (a larger matrix of windows, in L3).
cdef Py_ssize_t _MIN_CHUNK_WINDOWS = 256
# The filters' gradient sums at most this many items' workspaces.
cdef Py_ssize_t _MAX_ITEMS = 64
# Items the forward pass and the input gradient cut a batch into, at least (see _items).
cdef Py_ssize_t _SHARED_ITEMS = 8


cdef struct Windows:
    Py_ssize_t h_out, w_out, kh, channels
    Py_ssize_t sh, sw, dh
    Py_ssize_t x_row, x_sample   # strides of the padded input (in values)
    Py_ssize_t k                 # values in a window: kh * kw * C
    # a window's values in group order, each group's in (i, j, c) order: per
    # group and kernel row it reads `runs` runs of `run` contiguous values,
    # `run_step` apart: one run of kw*C values without groups or dilation
    # along W, else kw runs of C // groups values
    Py_ssize_t groups, c_group
    Py_ssize_t run, runs, run_step


cdef Windows _windows(Py_ssize_t h_out, Py_ssize_t w_out, Py_ssize_t kh, Py_ssize_t kw,
                      Py_ssize_t channels, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
                      Py_ssize_t dw, Py_ssize_t x_width, Py_ssize_t x_height,
                      Py_ssize_t groups=1):
    cdef Windows g
    g.h_out, g.w_out, g.kh, g.channels = h_out, w_out, kh, channels
    g.sh, g.sw, g.dh = sh, sw, dh
    g.x_row = x_width * channels
    g.x_sample = x_height * g.x_row
    g.k = kh * kw * channels
    g.groups = groups
    g.c_group = channels // groups
    if groups == 1 and (dw == 1 or kw == 1):
        g.run, g.runs, g.run_step = kw * channels, 1, 0
    else:
        g.run, g.runs, g.run_step = g.c_group, kw, dw * channels
    return g


cdef inline Py_ssize_t _chunk_rows(const Windows* g, Py_ssize_t width, Py_ssize_t rows) noexcept nogil:
    """Output rows (of Wo windows of `width` values) per chunk, at least 1, at most `rows`."""
    cdef Py_ssize_t chunk = _CHUNK_VALUES // (g.w_out * width)
    cdef Py_ssize_t at_least = (_MIN_CHUNK_WINDOWS + g.w_out - 1) // g.w_out
    if chunk < at_least:
        chunk = at_least
    return chunk if chunk < rows else rows


cdef inline void _scatter_windows(
    const floating* cols, floating* gx, Py_ssize_t row0, Py_ssize_t rows, const Windows* g,
) noexcept nogil:
    """col2im of the batch's output rows ``row0 .. row0 + rows`` (row r is row
    ``r % Ho`` of sample ``r // Ho``): each row of `cols` (K values, one
    window's gradient) is added onto the input grid under its window;
    overlapping windows add up."""
    cdef Py_ssize_t r, n, oy, ox, grp, i, j, t
    cdef floating* dst
    cdef const floating* src = cols
    for r in range(row0, row0 + rows):
        n = r // g.h_out
        oy = r - n * g.h_out
        for ox in range(g.w_out):
            for grp in range(g.groups):
                for i in range(g.kh):
                    dst = (gx + n * g.x_sample + (oy * g.sh + i * g.dh) * g.x_row
                           + ox * g.sw * g.channels + grp * g.c_group)
                    for j in range(g.runs):
                        for t in range(g.run):
                            dst[t] += src[t]
                        src += g.run
                        dst += g.run_step


cdef inline void _gather_windows(
    const floating* x, floating* cols, Py_ssize_t row0, Py_ssize_t rows, const Windows* g,
) noexcept nogil:
    """im2col of the batch's output rows ``row0 .. row0 + rows``: row ``r * Wo + ox``
    of `cols` holds the K values of that window, in the order of :func:`_scatter_windows`."""
    cdef Py_ssize_t r, n, oy, ox, grp, i, j
    cdef const floating* src
    cdef floating* dst = cols
    for r in range(row0, row0 + rows):
        n = r // g.h_out
        oy = r - n * g.h_out
        for ox in range(g.w_out):
            for grp in range(g.groups):
                for i in range(g.kh):
                    src = (x + n * g.x_sample + (oy * g.sh + i * g.dh) * g.x_row
                           + ox * g.sw * g.channels + grp * g.c_group)
                    for j in range(g.runs):
                        memcpy(dst, src, g.run * sizeof(floating))
                        dst += g.run
                        src += g.run_step


def _conv2d_backward_input(
    const floating[:, :, :, ::1] grad_out,
    const floating[:, :, ::1] w,
    floating[:, :, :, ::1] grad_x,
    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
    int n_threads,
):
    """grad_x (padded, overwritten) = the transposed convolution of grad_out:
    ``G_chunk @ W^T`` (one BLAS product), then added back onto the input grid."""
    cdef Py_ssize_t channels = grad_x.shape[3]
    cdef Py_ssize_t kw = w.shape[1] // channels if channels else 0
    _grouped_backward_input(grad_out, np.asarray(w).reshape(1, -1, w.shape[2]), grad_x,
                            w.shape[0], kw, sh, sw, dh, dw, n_threads)


cdef Py_ssize_t _items(Windows* g, Py_ssize_t n_batch, Py_ssize_t* chunk,
                       Py_ssize_t* per_item, bint shared=False) noexcept:
    """Work items of whole samples, `per_item` each, and the output rows per product
    (`chunk`), on a grid fixed by the shape: whole samples per product when a sample
    is smaller than a chunk, else chunks of one sample's rows. With `shared`, items
    of several samples are cut to at least _SHARED_ITEMS items where their products
    keep _MIN_CHUNK_WINDOWS windows: 64 samples of 4x4 maps and 160 channels made
    items of 51 and 13 samples, and a second thread saved a sixth of the time."""
    cdef Py_ssize_t smaller
    chunk[0] = _chunk_rows(g, g.k, n_batch * g.h_out)
    if chunk[0] >= g.h_out:
        per_item[0] = chunk[0] // g.h_out
        if shared:
            smaller = max((n_batch + _SHARED_ITEMS - 1) // _SHARED_ITEMS,
                          (_MIN_CHUNK_WINDOWS + g.h_out * g.w_out - 1) // (g.h_out * g.w_out))
            per_item[0] = min(per_item[0], smaller)
        chunk[0] = per_item[0] * g.h_out
    else:
        per_item[0] = 1
    return (n_batch + per_item[0] - 1) // per_item[0]


def _grouped_backward_input(
    const floating[:, :, :, ::1] grad_out,
    const floating[:, :, ::1] w,
    floating[:, :, :, ::1] grad_x,
    Py_ssize_t kh, Py_ssize_t kw,
    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
    int n_threads,
):
    """grad_x (padded, overwritten): the input gradient of a grouped convolution,
    per group ``G_chunk[:, group's filters] @ W_group^T``, then added back onto the
    input grid. `w` is ``(groups, Kg, Fg)`` (:func:`_grouped_forward`)."""
    cdef Py_ssize_t n_batch = grad_x.shape[0]
    cdef Py_ssize_t groups = w.shape[0]
    cdef Py_ssize_t kg = w.shape[1]
    cdef Py_ssize_t fg = w.shape[2]
    cdef Py_ssize_t n_filters = groups * fg
    cdef Windows g = _windows(grad_out.shape[1], grad_out.shape[2], kh, kw, grad_x.shape[3],
                              sh, sw, dh, dw, grad_x.shape[2], grad_x.shape[1], groups)
    cdef Py_ssize_t chunk, per_item, n_items, item, row0, row_end, rows, grp
    cdef floating[:, ::1] work
    cdef floating* buf
    cdef int nt
    if n_batch == 0 or g.x_sample == 0:
        return
    grad_x[...] = 0
    if g.h_out == 0 or g.w_out == 0 or n_filters == 0:
        return
    n_items = _items(&g, n_batch, &chunk, &per_item, True)
    nt = threads_for(n_batch * g.h_out * g.w_out * kg * n_filters, n_items, n_threads,
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
                for grp in range(groups):
                    gemm(False, True, <int>(rows * g.w_out), <int>kg, <int>fg, 1,
                         &grad_out[0, 0, 0, 0] + row0 * g.w_out * n_filters + grp * fg,
                         <int>n_filters, &w[grp, 0, 0], <int>fg, 0, buf + grp * kg, <int>g.k)
                _scatter_windows(buf, &grad_x[0, 0, 0, 0], row0, rows, &g)
                row0 = row0 + rows


def _grouped_forward(
    const floating[:, :, :, ::1] x,
    const floating[:, :, ::1] w,
    const floating[::1] bias,
    floating[:, :, :, ::1] out,
    Py_ssize_t kh, Py_ssize_t kw,
    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
    int n_threads,
):
    """out (overwritten): a grouped convolution of the padded `x`, per chunk of
    output rows the windows gathered (im2col) and, per group, one BLAS product
    ``cols[:, group's Kg values] @ W_group`` onto the bias.

    `w` is ``(groups, Kg, Fg)``: group ``grp``'s filters as a ``(Kg, Fg)`` matrix,
    ``Kg = kh*kw*(C // groups)`` rows in (i, j, c) order, ``Fg = F // groups``.
    """
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t groups = w.shape[0]
    cdef Py_ssize_t kg = w.shape[1]
    cdef Py_ssize_t fg = w.shape[2]
    cdef Py_ssize_t n_filters = groups * fg
    cdef Windows g = _windows(out.shape[1], out.shape[2], kh, kw, x.shape[3], sh, sw, dh, dw,
                              x.shape[2], x.shape[1], groups)
    cdef Py_ssize_t chunk, per_item, n_items, item, row0, row_end, rows, grp, p
    cdef floating[:, ::1] work
    cdef floating* buf
    cdef floating* dst
    cdef int nt
    if n_batch == 0 or g.h_out == 0 or g.w_out == 0 or n_filters == 0:
        return
    n_items = _items(&g, n_batch, &chunk, &per_item, True)
    nt = threads_for(n_batch * g.h_out * g.w_out * kg * n_filters, n_items, n_threads,
                     FAMILY_CONV)
    work = np.empty((nt, chunk * g.w_out * g.k),
                    dtype=np.float32 if floating is float else np.float64)
    with nogil:
        for item in prange(n_items, num_threads=nt, schedule="dynamic"):
            buf = &work[threadid(), 0]
            row0 = item * per_item * g.h_out
            row_end = min(n_batch, (item + 1) * per_item) * g.h_out
            while row0 < row_end:
                rows = min(chunk, row_end - row0)
                _gather_windows(&x[0, 0, 0, 0], buf, row0, rows, &g)
                dst = &out[0, 0, 0, 0] + row0 * g.w_out * n_filters
                for p in range(rows * g.w_out):
                    memcpy(dst + p * n_filters, &bias[0], n_filters * sizeof(floating))
                for grp in range(groups):
                    gemm(False, False, <int>(rows * g.w_out), <int>fg, <int>kg, 1,
                         buf + grp * kg, <int>g.k, &w[grp, 0, 0], <int>fg, 1,
                         dst + grp * fg, <int>n_filters)
                row0 = row0 + rows


def _grouped_filter_grad(
    const floating[:, :, :, ::1] x,
    const floating[:, :, :, ::1] grad_out,
    floating[:, :, ::1] grad_w,
    Py_ssize_t kh, Py_ssize_t kw,
    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
    int n_threads,
):
    """grad_w (overwritten, ``(groups, Fg, Kg)``: the filters' own layout ``(F, kh,
    kw, C // groups)`` reshaped, filter by filter): per group ``G[:, group's
    filters]^T @ cols[:, group's Kg values]`` summed over the batch. Each work item
    (whole samples, on a grid fixed by the shape) sums its chunks in order into a
    workspace of its own; the items' sums are then added in item order. (The
    product's transpose, ``(Kg, Fg)``, would need a transposing copy to become the
    filters' gradient: 16 ms for ResNet-18's 512 x 4608 matrices on one core.)"""
    cdef Py_ssize_t n_batch = x.shape[0]
    cdef Py_ssize_t groups = grad_w.shape[0]
    cdef Py_ssize_t fg = grad_w.shape[1]
    cdef Py_ssize_t kg = grad_w.shape[2]
    cdef Py_ssize_t n_filters = groups * fg
    cdef Windows g = _windows(grad_out.shape[1], grad_out.shape[2], kh, kw, x.shape[3],
                              sh, sw, dh, dw, x.shape[2], x.shape[1], groups)
    cdef Py_ssize_t chunk, per_item, n_items, item, row0, row_end, rows, grp
    cdef floating[:, ::1] work
    cdef floating[:, :, :, ::1] part
    cdef floating* buf
    cdef int nt
    dtype = np.float32 if floating is float else np.float64
    if n_batch == 0 or g.h_out == 0 or g.w_out == 0 or n_filters == 0:
        np.asarray(grad_w)[...] = 0
        return
    n_items = _items(&g, n_batch, &chunk, &per_item)
    if n_items > _MAX_ITEMS:    # (bounds the workspace: more samples per item)
        per_item = (n_batch + _MAX_ITEMS - 1) // _MAX_ITEMS
        n_items = (n_batch + per_item - 1) // per_item
    nt = threads_for(n_batch * g.h_out * g.w_out * kg * n_filters, n_items, n_threads,
                     FAMILY_CONV)
    work = np.empty((nt, chunk * g.w_out * g.k), dtype=dtype)
    part = np.zeros((n_items, groups, fg, kg), dtype=dtype)
    with nogil:
        for item in prange(n_items, num_threads=nt, schedule="dynamic"):
            buf = &work[threadid(), 0]
            row0 = item * per_item * g.h_out
            row_end = min(n_batch, (item + 1) * per_item) * g.h_out
            while row0 < row_end:
                rows = min(chunk, row_end - row0)
                _gather_windows(&x[0, 0, 0, 0], buf, row0, rows, &g)
                for grp in range(groups):
                    gemm(True, False, <int>fg, <int>kg, <int>(rows * g.w_out), 1,
                         &grad_out[0, 0, 0, 0] + row0 * g.w_out * n_filters + grp * fg,
                         <int>n_filters, buf + grp * kg, <int>g.k, 1,
                         &part[item, grp, 0, 0], <int>kg)
                row0 = row0 + rows
    np.asarray(grad_w)[...] = np.asarray(part).sum(axis=0)
