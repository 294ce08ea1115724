"""Winograd's minimal filtering F(2x2, 3x3): a 3x3 convolution at strides 1 with 2.25x
fewer multiplications, for the deep layers of a network (small maps, many channels).

Private: :mod:`pyx_cnn.ops.conv` decides where it runs and checks the arrays.

The output is cut into tiles of 2x2 pixels; tile ``t`` reads the 4x4 input patch ``d``
at its top-left corner (the input zero-padded), and with the fixed matrices

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

its 2x2 outputs of filter ``f`` are ``A^T [sum_c (G g_fc G^T) * (B^T d_c B)] A``
(``*``: element by element, over the 4x4 points; Lavin and Gray, "Fast Algorithms
for Convolutional Neural Networks", 2016). For each of the 16 points ``p`` the sum
over the channels is one matrix product: ``M_p (T, F) = V_p (T, C) @ U_p (C, F)``,
``V`` the transformed input patches, ``U`` the transformed filters. So the
convolution is three passes:

- :func:`_input_transform`: ``x`` (N, Hp, Wp, C), padded -> ``V`` (16, T, C);
- :func:`_products`: 16 BLAS products (SciPy's, :mod:`pyx_cnn._blas`), ``M`` (16, T, F),
  the transformed filters held as ``(F, 16, C)``;
- :func:`_output_transform`: ``M`` -> ``out`` (N, Ho, Wo, F), plus the bias, clamped.

The filter transform is :func:`filter_transform` (NumPy, once per call).
:func:`filter_grad3x3` runs the filter gradient through the same transforms' adjoints
(below). Tiles lie
on a grid fixed by the shape and every product has the same rows whatever the
thread count, so the values do not depend on it.
"""
from cython.parallel cimport prange, threadid

import numpy as np

from cython cimport floating
from pyx_cnn._blas cimport gemm
from pyx_cnn._threads cimport FAMILY_CONV, threads_for

# the rows of the products are cut into chunks of about this many tiles, a work item each
# (4x4x512 on 64 images, one AMD EPYC Zen 4 core: 65, 80, 90, 91 GFLOP/s at 64, 128,
# 256, 512 tiles)
cdef Py_ssize_t _CHUNK_TILES = 512

def filter_transform(filters, dtype, int n_threads=1):
    """Filters ``(F, 3, 3, C)`` -> ``U = G g G^T`` as ``(F, 16, C)`` of `dtype` (point
    ``p = 4a + b`` of filter f at ``[f, p]``: :func:`_products` reads ``U_p^T`` there)."""
    g = np.ascontiguousarray(filters, dtype=dtype)
    u = np.empty((g.shape[0], 16, g.shape[3]), dtype=dtype)
    _filter_transform(g, u, n_threads)
    return u


cdef inline void _transform_patch(const floating[:, :, :, ::1] xp, floating[:, :, ::1] v,
                                  floating* r, const floating* zeros, Py_ssize_t t,
                                  Py_ssize_t n, Py_ssize_t y0, Py_ssize_t x0) noexcept nogil:
    """Tile `t`'s patch at row `y0`, column `x0` of image `n`: ``v[:, t, :]``, through
    `r` (16 * C values of the thread's own: ``B^T d``, column by column)."""
    cdef Py_ssize_t hp = xp.shape[1], wp = xp.shape[2], channels = xp.shape[3]
    cdef Py_ssize_t c, i, j
    cdef const floating* d[4]
    cdef floating* ri
    cdef floating* vp
    for j in range(4):     # B^T d, for column j of the patch
        for i in range(4):
            d[i] = &xp[n, y0 + i, x0 + j, 0] if y0 + i < hp and x0 + j < wp else zeros
        ri = r + j * channels
        for c in range(channels):
            ri[c] = d[0][c] - d[2][c]
            ri[4 * channels + c] = d[1][c] + d[2][c]
            ri[8 * channels + c] = d[2][c] - d[1][c]
            ri[12 * channels + c] = d[1][c] - d[3][c]
    for i in range(4):     # (B^T d) B, for row i
        ri = r + 4 * i * channels
        for j in range(4):
            vp = &v[4 * i + j, t, 0]
            if j == 0:
                for c in range(channels):
                    vp[c] = ri[c] - ri[2 * channels + c]
            elif j == 1:
                for c in range(channels):
                    vp[c] = ri[channels + c] + ri[2 * channels + c]
            elif j == 2:
                for c in range(channels):
                    vp[c] = ri[2 * channels + c] - ri[channels + c]
            else:
                for c in range(channels):
                    vp[c] = ri[channels + c] - ri[3 * channels + c]


def _input_transform(const floating[:, :, :, ::1] xp, floating[:, :, ::1] v,
                     Py_ssize_t tiles_h, Py_ssize_t tiles_w, int n_threads):
    """``v[p, t, c] = (B^T d_tc B)[p]`` for the tiles ``t = (n, ty, tx)`` of `xp`
    (N, Hp, Wp, C), the patch ``d`` of tile t at rows ``2ty .. 2ty + 3`` and columns
    ``2tx .. 2tx + 3`` (those past `xp`'s edge read as zeros)."""
    cdef Py_ssize_t n_tiles = xp.shape[0] * tiles_h * tiles_w, channels = xp.shape[3]
    cdef Py_ssize_t t
    cdef int nt = threads_for(n_tiles * channels * 64, n_tiles, n_threads, FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scratch = np.empty((nt, 16 * channels + 16), dtype=dtype)
    cdef floating[::1] zeros = np.zeros(channels + 1, dtype=dtype)
    if n_tiles == 0 or channels == 0:
        return
    with nogil:
        for t in prange(n_tiles, num_threads=nt, schedule="static"):
            _transform_patch(xp, v, &scratch[threadid(), 0], &zeros[0], t,
                             t // (tiles_h * tiles_w), 2 * (t // tiles_w % tiles_h),
                             2 * (t % tiles_w))


# The points of the flipped filters' transform: with g'[i, j] = g[2 - i, 2 - j], G g' G^T
# is G g G^T with its rows and columns 0 and 3 swapped (the rows of G, reversed, are G's
# rows 3, 1, 2, 0), so point 4a + b of U' is point _FLIPPED[4a + b] of U.
cdef int[16] _FLIPPED = [15, 13, 14, 12, 7, 5, 6, 4, 11, 9, 10, 8, 3, 1, 2, 0]


def _products(const floating[:, :, ::1] v, const floating[:, :, ::1] u,
              floating[:, :, ::1] m, int n_threads, bint flipped=False):
    """``m[p] = v[p] @ u[:, p, :]^T`` for the 16 points, in chunks of tiles (BLAS); with
    `flipped`, ``m[p] = v[p] @ u[:, q, :]``, q the point of the flipped filters
    (``_FLIPPED``): the convolution with the filters flipped in i and j and their
    channel and filter axes swapped, from the transform of the filters themselves."""
    cdef Py_ssize_t n_tiles = v.shape[1], channels = v.shape[2]
    cdef Py_ssize_t filters = u.shape[2] if flipped else u.shape[0]
    cdef Py_ssize_t row = 16 * u.shape[2]
    cdef Py_ssize_t n_chunks = max(1, (n_tiles + _CHUNK_TILES - 1) // _CHUNK_TILES)
    cdef Py_ssize_t item, p, t0, t1
    cdef int nt = threads_for(16 * n_tiles * channels * filters, 16 * n_chunks, n_threads,
                              FAMILY_CONV)
    if n_tiles == 0 or filters == 0:
        return
    if channels == 0:
        np.asarray(m)[...] = 0
        return
    with nogil:
        for item in prange(16 * n_chunks, num_threads=nt, schedule="dynamic"):
            p = item // n_chunks
            t0 = n_tiles * (item % n_chunks) // n_chunks
            t1 = n_tiles * (item % n_chunks + 1) // n_chunks
            if t1 > t0 and flipped:
                gemm(False, False, <int>(t1 - t0), <int>filters, <int>channels, 1,
                     &v[p, t0, 0], <int>channels, &u[0, _FLIPPED[p], 0], <int>row, 0,
                     &m[p, t0, 0], <int>filters)
            elif t1 > t0:
                gemm(False, True, <int>(t1 - t0), <int>filters, <int>channels, 1,
                     &v[p, t0, 0], <int>channels, &u[0, p, 0], <int>row, 0,
                     &m[p, t0, 0], <int>filters)


cdef inline void _transform_tile(const floating[:, :, ::1] m, const floating[::1] bias,
                                 floating[:, :, :, ::1] out, floating* q, Py_ssize_t t,
                                 Py_ssize_t n, Py_ssize_t y0, Py_ssize_t x0, bint clamp,
                                 floating top) noexcept nogil:
    """Tile `t`'s 2x2 outputs at row `y0`, column `x0` of image `n` (those inside `out`),
    through `q` (8 * F values of the thread's own: ``A^T M``)."""
    cdef Py_ssize_t h_out = out.shape[1], w_out = out.shape[2], filters = out.shape[3]
    cdef Py_ssize_t f, i, a
    cdef const floating* m0
    cdef const floating* m1
    cdef const floating* m2
    cdef const floating* m3
    cdef floating* qa
    cdef floating* o
    cdef floating value
    for a in range(4):     # A^T M, for column a
        m0, m1, m2, m3 = &m[a, t, 0], &m[4 + a, t, 0], &m[8 + a, t, 0], &m[12 + a, t, 0]
        qa = q + a * filters
        for f in range(filters):
            qa[f] = m0[f] + m1[f] + m2[f]
            qa[4 * filters + f] = m1[f] - m2[f] - m3[f]
    for i in range(2):     # (A^T M) A, plus the bias, clamped
        if y0 + i >= h_out:
            continue
        qa = q + 4 * i * filters
        for a in range(2):
            if x0 + a >= w_out:
                continue
            o = &out[n, y0 + i, x0 + a, 0]
            if a == 0:
                for f in range(filters):
                    o[f] = qa[f] + qa[filters + f] + qa[2 * filters + f] + bias[f]
            else:
                for f in range(filters):
                    o[f] = qa[filters + f] - qa[2 * filters + f] - qa[3 * filters + f] + bias[f]
            if clamp:   # the ReLU's values: 0 where v <= 0, NaN stays
                for f in range(filters):
                    value = o[f]
                    o[f] = 0 if value <= 0 else (top if value >= top else value)


def _output_transform(const floating[:, :, ::1] m, const floating[::1] bias,
                      floating[:, :, :, ::1] out, Py_ssize_t tiles_h, Py_ssize_t tiles_w,
                      clamp_max, int n_threads):
    """``out`` (N, Ho, Wo, F): each tile's ``A^T M A`` plus the bias (the pixels inside
    `out`), clamped to ``[0, clamp_max]`` when `clamp_max` is not None (NaN stays)."""
    cdef Py_ssize_t n_tiles = out.shape[0] * tiles_h * tiles_w
    cdef Py_ssize_t t
    cdef bint clamp = clamp_max is not None
    cdef floating top = clamp_max if clamp else 0
    cdef int nt = threads_for(n_tiles * out.shape[3] * 32, n_tiles, n_threads, FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scratch = np.empty((nt, 8 * out.shape[3] + 16), dtype=dtype)
    if n_tiles == 0 or out.shape[3] == 0:
        return
    with nogil:
        for t in prange(n_tiles, num_threads=nt, schedule="static"):
            _transform_tile(m, bias, out, &scratch[threadid(), 0], t,
                            t // (tiles_h * tiles_w), 2 * (t // tiles_w % tiles_h),
                            2 * (t % tiles_w), clamp, top)


def conv3x3(const floating[:, :, :, ::1] xp, const floating[:, :, ::1] u,
            const floating[::1] bias, floating[:, :, :, ::1] out, clamp_max, int n_threads,
            bint flipped=False):
    """``out`` (N, Ho, Wo, F) = the 3x3 convolution at strides 1 of `xp` (N, Hp, Wp, C),
    already zero-padded (``Ho = Hp - 2``, ``Wo = Wp - 2``), with the transformed
    filters `u` (F, 16, C) (:func:`filter_transform`), plus `bias`, clamped as
    :func:`_output_transform` says. With `flipped`, `u` is ``(C, 16, F)``: the
    convolution with those filters flipped in i and j, their channel and filter axes
    swapped (the input gradient of a convolution with them)."""
    cdef Py_ssize_t tiles_h = (out.shape[1] + 1) // 2, tiles_w = (out.shape[2] + 1) // 2
    cdef Py_ssize_t n_tiles = out.shape[0] * tiles_h * tiles_w
    cdef Py_ssize_t u_in = u.shape[0] if flipped else u.shape[2]
    cdef Py_ssize_t u_out = u.shape[2] if flipped else u.shape[0]
    if (xp.shape[1] != out.shape[1] + 2 or xp.shape[2] != out.shape[2] + 2
            or u.shape[1] != 16 or u_in != xp.shape[3] or u_out != out.shape[3]
            or bias.shape[0] != out.shape[3] or xp.shape[0] != out.shape[0]):
        raise ValueError(f"a 3x3 convolution of {tuple(xp.shape)[:4]} with filters "
                         f"{tuple(u.shape)[:3]} does not give {tuple(out.shape)[:4]}")
    if n_tiles == 0 or out.shape[3] == 0:
        return
    dtype = np.float32 if floating is float else np.float64
    v = np.empty((16, n_tiles, xp.shape[3]), dtype=dtype)
    m = np.empty((16, n_tiles, out.shape[3]), dtype=dtype)
    _input_transform(xp, v, tiles_h, tiles_w, n_threads)
    _products(v, u, m, n_threads, flipped)
    _output_transform(m, bias, out, tiles_h, tiles_w, clamp_max, n_threads)


# The filter gradient. With M_p = V_p @ U_p and the tile's outputs Y = A^T M A, the
# gradient of the loss reaches M as dM = A dY A^T (the output transform's adjoint), U_p
# as dU_p = dM_p^T @ V_p, (F, C) (a sum over the tiles, one BLAS product per point), and
# the filters as dg = G^T dU G (the filter transform's adjoint).

# A (4 x 2) and G (4 x 3), row by row
cdef double[4][2] _A_ROWS = [[1, 0], [1, 1], [1, -1], [0, -1]]
cdef double[4][3] _G_ROWS = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]


cdef inline void _combine4(floating* out, const floating* a0, const floating* a1,
                           const floating* a2, const floating* a3, floating c0, floating c1,
                           floating c2, floating c3, Py_ssize_t n) noexcept nogil:
    """``out[k] = c0 a0[k] + c1 a1[k] + c2 a2[k] + c3 a3[k]`` (the coefficients of the
    transforms: 0, +-1/2 and +-1, whose products are exact)."""
    cdef Py_ssize_t k
    for k in range(n):
        out[k] = c0 * a0[k] + c1 * a1[k] + c2 * a2[k] + c3 * a3[k]


cdef inline void _transform_gradient_tile(const floating[:, :, :, ::1] grad,
                                          floating[:, :, ::1] dm, const floating* zeros,
                                          Py_ssize_t t, Py_ssize_t n, Py_ssize_t y0,
                                          Py_ssize_t x0) noexcept nogil:
    """Tile `t`'s ``A dY A^T``, ``dm[:, t, :]``, from the 2x2 gradients ``dY`` at row `y0`,
    column `x0` of image `n` (zeros for the pixels past `grad`'s edge): point
    ``4a + b`` is ``sum_{i, j} A[a, i] A[b, j] dY[i, j]``."""
    cdef Py_ssize_t h_out = grad.shape[1], w_out = grad.shape[2], filters = grad.shape[3]
    cdef Py_ssize_t a, b
    cdef const floating* d00 = &grad[n, y0, x0, 0]
    cdef const floating* d01 = &grad[n, y0, x0 + 1, 0] if x0 + 1 < w_out else zeros
    cdef const floating* d10 = &grad[n, y0 + 1, x0, 0] if y0 + 1 < h_out else zeros
    cdef const floating* d11 = (&grad[n, y0 + 1, x0 + 1, 0]
                                if y0 + 1 < h_out and x0 + 1 < w_out else zeros)
    for a in range(4):
        for b in range(4):
            _combine4(&dm[4 * a + b, t, 0], d00, d01, d10, d11,
                      <floating>(_A_ROWS[a][0] * _A_ROWS[b][0]),
                      <floating>(_A_ROWS[a][0] * _A_ROWS[b][1]),
                      <floating>(_A_ROWS[a][1] * _A_ROWS[b][0]),
                      <floating>(_A_ROWS[a][1] * _A_ROWS[b][1]), filters)


def _gradient_transform(const floating[:, :, :, ::1] grad, floating[:, :, ::1] dm,
                        Py_ssize_t tiles_h, Py_ssize_t tiles_w, int n_threads):
    """``dm[p, t, f] = (A dY_tf A^T)[p]`` for the tiles ``t = (n, ty, tx)`` of `grad`
    (N, Ho, Wo, F), ``dY`` the gradients at rows ``2ty, 2ty + 1`` and columns
    ``2tx, 2tx + 1`` (those past the edge read as zeros)."""
    cdef Py_ssize_t n_tiles = grad.shape[0] * tiles_h * tiles_w, filters = grad.shape[3]
    cdef Py_ssize_t t
    cdef int nt = threads_for(n_tiles * filters * 64, n_tiles, n_threads, FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] zeros = np.zeros(filters + 1, dtype=dtype)
    if n_tiles == 0 or filters == 0:
        return
    with nogil:
        for t in prange(n_tiles, num_threads=nt, schedule="static"):
            _transform_gradient_tile(grad, dm, &zeros[0], t, t // (tiles_h * tiles_w),
                                     2 * (t // tiles_w % tiles_h), 2 * (t % tiles_w))


def _filter_products(const floating[:, :, ::1] v, const floating[:, :, ::1] dm,
                     floating[:, :, ::1] du, int n_threads):
    """``du[p] = dm[p]^T @ v[p]`` (F, C) for the 16 points, a BLAS product each (the sum
    over every tile in one product: the values do not depend on the thread count)."""
    cdef Py_ssize_t n_tiles = v.shape[1], channels = v.shape[2], filters = dm.shape[2]
    cdef Py_ssize_t p
    cdef int nt = threads_for(16 * n_tiles * channels * filters, 16, n_threads, FAMILY_CONV)
    if channels == 0 or filters == 0:
        return
    if n_tiles == 0:
        np.asarray(du)[...] = 0
        return
    with nogil:
        for p in prange(16, num_threads=nt, schedule="dynamic"):
            gemm(True, False, <int>filters, <int>channels, <int>n_tiles, 1, &dm[p, 0, 0],
                 <int>filters, &v[p, 0, 0], <int>channels, 0, &du[p, 0, 0], <int>channels)


def _gradient_filter_transform(const floating[:, :, ::1] du, floating[:, :, :, ::1] dg,
                               int n_threads):
    """``dg[f, i, j, c] = sum_{a, b} G[a, i] G[b, j] du[4a + b, f, c]``: `dg` (F, 3, 3, C)
    from `du` (16, F, C), the adjoint of :func:`filter_transform`; through
    ``(G^T dU)[i, b]``, 12 rows of C values of each thread's own."""
    cdef Py_ssize_t filters = du.shape[1], channels = du.shape[2]
    cdef Py_ssize_t f, i, j, b
    cdef int nt = threads_for(filters * channels * 96, filters, n_threads, FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scratch = np.empty((nt, 12 * channels + 16), dtype=dtype)
    cdef floating* left
    if filters == 0 or channels == 0:
        return
    with nogil:
        for f in prange(filters, num_threads=nt, schedule="static"):
            left = &scratch[threadid(), 0]
            for i in range(3):
                for b in range(4):
                    _combine4(left + (4 * i + b) * channels, &du[b, f, 0], &du[4 + b, f, 0],
                              &du[8 + b, f, 0], &du[12 + b, f, 0],
                              <floating>_G_ROWS[0][i], <floating>_G_ROWS[1][i],
                              <floating>_G_ROWS[2][i], <floating>_G_ROWS[3][i], channels)
            for i in range(3):
                for j in range(3):
                    _combine4(&dg[f, i, j, 0], left + 4 * i * channels,
                              left + (4 * i + 1) * channels, left + (4 * i + 2) * channels,
                              left + (4 * i + 3) * channels, <floating>_G_ROWS[0][j],
                              <floating>_G_ROWS[1][j], <floating>_G_ROWS[2][j],
                              <floating>_G_ROWS[3][j], channels)


def _filter_transform(const floating[:, :, :, ::1] g, floating[:, :, ::1] u, int n_threads):
    """``u[f, 4a + b, c] = sum_{i, j} G[a, i] G[b, j] g[f, i, j, c]``: `u` (F, 16, C) from
    `g` (F, 3, 3, C); through ``(G g)[a, j]``, 12 rows of C values of each thread's own."""
    cdef Py_ssize_t filters = g.shape[0], channels = g.shape[3]
    cdef Py_ssize_t f, a, b, j
    cdef int nt = threads_for(filters * channels * 112, filters, n_threads, FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scratch = np.empty((nt, 12 * channels + 16), dtype=dtype)
    cdef floating* left
    if filters == 0 or channels == 0:
        return
    with nogil:
        for f in prange(filters, num_threads=nt, schedule="static"):
            left = &scratch[threadid(), 0]
            for a in range(4):
                for j in range(3):    # (G g)[a, j]: rows i of g, the fourth one unused
                    _combine4(left + (3 * a + j) * channels, &g[f, 0, j, 0], &g[f, 1, j, 0],
                              &g[f, 2, j, 0], &g[f, 2, j, 0], <floating>_G_ROWS[a][0],
                              <floating>_G_ROWS[a][1], <floating>_G_ROWS[a][2], 0, channels)
            for a in range(4):
                for b in range(4):    # (G g G^T)[a, b]
                    _combine4(&u[f, 4 * a + b, 0], left + 3 * a * channels,
                              left + (3 * a + 1) * channels, left + (3 * a + 2) * channels,
                              left + (3 * a + 2) * channels, <floating>_G_ROWS[b][0],
                              <floating>_G_ROWS[b][1], <floating>_G_ROWS[b][2], 0, channels)


def filter_grad3x3(const floating[:, :, :, ::1] xp, const floating[:, :, :, ::1] grad,
                   floating[:, :, :, ::1] grad_filters, int n_threads):
    """`grad_filters` (F, 3, 3, C) = the gradient of the loss with respect to the
    filters of the 3x3 convolution at strides 1 of `xp` (N, Hp, Wp, C), already
    zero-padded, from the output's gradient `grad` (N, Hp - 2, Wp - 2, F): the
    values of the direct sums to rounding (for finite `xp` and `grad` only, as
    :func:`conv3x3`)."""
    cdef Py_ssize_t tiles_h = (grad.shape[1] + 1) // 2, tiles_w = (grad.shape[2] + 1) // 2
    cdef Py_ssize_t n_tiles = grad.shape[0] * tiles_h * tiles_w
    if (xp.shape[1] != grad.shape[1] + 2 or xp.shape[2] != grad.shape[2] + 2
            or xp.shape[0] != grad.shape[0] or grad_filters.shape[0] != grad.shape[3]
            or grad_filters.shape[1] != 3 or grad_filters.shape[2] != 3
            or grad_filters.shape[3] != xp.shape[3]):
        raise ValueError(f"the gradient {tuple(grad.shape)[:4]} of a 3x3 convolution of "
                         f"{tuple(xp.shape)[:4]} does not give filters "
                         f"{tuple(grad_filters.shape)[:4]}")
    dtype = np.float32 if floating is float else np.float64
    du = np.empty((16, grad.shape[3], xp.shape[3]), dtype=dtype)
    v = np.empty((16, n_tiles, xp.shape[3]), dtype=dtype)
    dm = np.empty((16, n_tiles, grad.shape[3]), dtype=dtype)
    _input_transform(xp, v, tiles_h, tiles_w, n_threads)
    _gradient_transform(grad, dm, tiles_h, tiles_w, n_threads)
    _filter_products(v, dm, du, n_threads)
    _gradient_filter_transform(du, grad_filters, n_threads)
