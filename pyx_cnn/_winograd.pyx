"""Winograd's minimal filtering F(m x m, 3x3): a 3x3 convolution at strides 1 with fewer
multiplications, for the deep layers of a network (small maps, many channels).

Private: :mod:`pyx_cnn.ops.conv` decides where it runs, on which tiles, and checks the
arrays.

The output is cut into tiles of m x m pixels (``tile``: 2 or 4); tile ``t`` reads the
``a x a`` input patch ``d`` (``a = m + 2``) at its top-left corner (the input
zero-padded), and with fixed matrices ``B^T`` (a x a), ``G`` (a x 3) and ``A^T``
(m x a) its outputs of filter ``f`` are ``A^T [sum_c (G g_fc G^T) * (B^T d_c B)] A``
(``*``: element by element, over the a x a points; Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016). F(2x2, 3x3) takes 16 multiplications for 4
outputs where the direct sums take 36 (2.25x fewer), F(4x4, 3x3) 36 for 16 (4x fewer),
at the price of larger transforms and more rounding. For each of the ``a*a`` points
``p`` the sum over the channels is one matrix product, ``M_p (T, F) = V_p (T, C) @
U_p (C, F)``: ``V`` the transformed input patches, ``U`` the transformed filters. So
the convolution is three passes:

- :func:`_input_transform`: ``x`` (N, Hp, Wp, C), padded -> ``V`` (a*a, T, C);
- :func:`_products`: a*a BLAS products (SciPy's, :mod:`pyx_cnn._blas`), ``M``
  (a*a, T, F), the transformed filters held as ``(F, a*a, C)``;
- :func:`_output_transform`: ``M`` -> ``out`` (N, Ho, Wo, F), plus the bias, clamped.

The filter transform is :func:`filter_transform`. :func:`filter_grad3x3` runs the
filter gradient through the transforms' adjoints. Every transform is a two-step
product of small matrices, computed as combinations of rows of C (or F) values
(:func:`_lincomb`), skipping the zero coefficients. Tiles lie on a grid fixed by the
shape and every product has the same rows whatever the thread count, so the values do
not depend on it.
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
# the transformed patches and products of at most about this many bytes at a time (a
# 32x32x128 layer of 64 images holds 75 MB of each in F(4x4, 3x3)): a batch is cut into
# runs of whole images, whose patches and products stay in cache from pass to pass, but
# of at least _RUN_MIN_TILES tiles (smaller products run slower). Training a layer on 64
# images (forward and backward), one AMD EPYC (Zen 4) core, against runs of up to 64 MB:
# 16x16x128 -> 128 1.20x, 16x16x256 -> 256 1.23x faster (two threads: 1.44x, 1.08x);
# 8x8x256 and 4x4x512, one run either way, within the noise
_CHUNK_BYTES = 8 * 1024 * 1024
_RUN_MIN_TILES = 256


def _image_runs(Py_ssize_t n, Py_ssize_t image_bytes, Py_ssize_t tiles_per_image=0):
    """``[(n0, n1), ...]``: `n` images in runs of nearly equal size, each of at most
    ``_CHUNK_BYTES`` at `image_bytes` bytes an image (one image at least), and of at
    least ``_RUN_MIN_TILES`` tiles at `tiles_per_image` (where the batch has them)."""
    cdef Py_ssize_t most = max(1, _CHUNK_BYTES // max(image_bytes, 1))
    if tiles_per_image > 0:
        most = max(most, (_RUN_MIN_TILES + tiles_per_image - 1) // tiles_per_image)
    cdef Py_ssize_t count = max(1, min(n, (n + most - 1) // most))
    return [(n * k // count, n * (k + 1) // count) for k in range(count)]

# The matrices, row by row. F(2x2, 3x3): the points 0, 1, -1 and infinity;
# F(4x4, 3x3): 0, 1, -1, 2, -2 and infinity (Lavin and Gray's).
cdef double[16] _BT2 = [1, 0, -1, 0,
                        0, 1, 1, 0,
                        0, -1, 1, 0,
                        0, 1, 0, -1]
cdef double[12] _G2 = [1, 0, 0,
                       0.5, 0.5, 0.5,
                       0.5, -0.5, 0.5,
                       0, 0, 1]
cdef double[8] _AT2 = [1, 1, 1, 0,
                       0, 1, -1, -1]
cdef double[36] _BT4 = [4, 0, -5, 0, 1, 0,
                        0, -4, -4, 1, 1, 0,
                        0, 4, -4, -1, 1, 0,
                        0, -2, -1, 2, 1, 0,
                        0, 2, -1, -2, 1, 0,
                        0, 4, 0, -5, 0, 1]
cdef double[18] _G4 = [1 / 4., 0, 0,
                       -1 / 6., -1 / 6., -1 / 6.,
                       -1 / 6., 1 / 6., -1 / 6.,
                       1 / 24., 1 / 12., 1 / 6.,
                       1 / 24., -1 / 12., 1 / 6.,
                       0, 0, 1]
cdef double[24] _AT4 = [1, 1, 1, 1, 1, 0,
                        0, 1, -1, 2, -2, 0,
                        0, 1, 1, 4, 4, 0,
                        0, 1, -1, 8, -8, 1]

cdef enum:
    MAX_SIDE = 6     # the largest patch side (F(4x4, 3x3)'s)


cdef struct _Tiles:
    int m               # output pixels per tile side
    int a               # input pixels per patch side, m + 2: the points are a x a
    const double* bt    # B^T, a x a
    const double* g     # G, a x 3
    const double* at    # A^T, m x a


cdef _Tiles _tiles(int tile) except *:
    cdef _Tiles s
    if tile == 2:
        s.m, s.a, s.bt, s.g, s.at = 2, 4, _BT2, _G2, _AT2
    elif tile == 4:
        s.m, s.a, s.bt, s.g, s.at = 4, 6, _BT4, _G4, _AT4
    else:
        raise ValueError(f"tile must be 2 or 4, got {tile!r}")
    return s


def matrices(int tile):
    """``(B^T, G, A^T)`` of F(tile x tile, 3x3) as float64 arrays."""
    cdef _Tiles s = _tiles(tile)
    bt = np.array([s.bt[k] for k in range(s.a * s.a)]).reshape(s.a, s.a)
    g = np.array([s.g[k] for k in range(s.a * 3)]).reshape(s.a, 3)
    at = np.array([s.at[k] for k in range(s.m * s.a)]).reshape(s.m, s.a)
    return bt, g, at


cdef extern from "winograd_kernels.h" nogil:
    void pyx_wino_lincomb_f32(float* out, const float** rows, const double* coef,
                              Py_ssize_t coef_step, int count, Py_ssize_t n)
    void pyx_wino_lincomb_f64(double* out, const double** rows, const double* coef,
                              Py_ssize_t coef_step, int count, Py_ssize_t n)


cdef inline void _lincomb(floating* out, const floating** rows, const double* coef,
                          Py_ssize_t coef_step, int count, Py_ssize_t n) noexcept nogil:
    """``out[k] = sum_r coef[r * coef_step] * rows[r][k]`` over the rows whose coefficient
    is not 0, in their order (zeros when every coefficient is 0): the C kernel of
    ``src_c/winograd_kernels.h``, on the widest SIMD registers the CPU has (this module
    itself is compiled for the baseline instruction set only)."""
    if floating is float:
        pyx_wino_lincomb_f32(out, rows, coef, coef_step, count, n)
    else:
        pyx_wino_lincomb_f64(out, rows, coef, coef_step, count, n)


cdef inline void _transform_patch(const floating[:, :, :, ::1] xp, floating[:, :, ::1] v,
                                  floating* r, const floating* zeros, Py_ssize_t t,
                                  Py_ssize_t n, Py_ssize_t y0, Py_ssize_t x0,
                                  _Tiles s) noexcept nogil:
    """Tile `t`'s patch at row `y0`, column `x0` of image `n`: ``v[:, t, :] = B^T d B``,
    through `r` (a*a*C values of the thread's own: ``B^T d``)."""
    cdef Py_ssize_t hp = xp.shape[1], wp = xp.shape[2], channels = xp.shape[3]
    cdef int i, j, p, q
    cdef const floating* rows[MAX_SIDE]
    for j in range(s.a):         # (B^T d)[p, j], column j of the patch
        for i in range(s.a):
            rows[i] = &xp[n, y0 + i, x0 + j, 0] if y0 + i < hp and x0 + j < wp else zeros
        for p in range(s.a):
            _lincomb(r + (p * s.a + j) * channels, rows, s.bt + p * s.a, 1, s.a, channels)
    for p in range(s.a):         # (B^T d B)[p, q]
        for j in range(s.a):
            rows[j] = r + (p * s.a + j) * channels
        for q in range(s.a):
            _lincomb(&v[p * s.a + q, t, 0], rows, s.bt + q * s.a, 1, s.a, channels)


def _input_transform(const floating[:, :, :, ::1] xp, floating[:, :, ::1] v,
                     Py_ssize_t tiles_h, Py_ssize_t tiles_w, int tile, int n_threads):
    """``v[p, t, c] = (B^T d_tc B)[p]`` for the tiles ``t = (n, ty, tx)`` of `xp`
    (N, Hp, Wp, C), the patch ``d`` of tile t at rows ``m*ty .. m*ty + a - 1`` and
    columns ``m*tx .. m*tx + a - 1`` (those past `xp`'s edge read as zeros)."""
    _over_tiles(xp, v, tiles_h, tiles_w, tile, False, n_threads)


def _over_tiles(const floating[:, :, :, ::1] src, floating[:, :, ::1] dst,
                Py_ssize_t tiles_h, Py_ssize_t tiles_w, int tile, bint gradient,
                int n_threads):
    """Each tile's transform, from `src` (N, H, W, K) to ``dst[:, t, :]``: the input
    patch's (:func:`_transform_patch`), or with `gradient` the output gradient's
    (:func:`_transform_gradient_tile`); the tiles split over the threads, each with a
    scratch of its own."""
    cdef _Tiles s = _tiles(tile)
    cdef Py_ssize_t n_tiles = src.shape[0] * tiles_h * tiles_w, width = src.shape[3]
    cdef Py_ssize_t t, n, y0, x0
    cdef int nt = threads_for(n_tiles * width * 16 * s.a * s.a, n_tiles, n_threads,
                              FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scratch = np.empty((nt, s.a * s.a * width + 16), dtype=dtype)
    cdef floating[::1] zeros = np.zeros(width + 1, dtype=dtype)
    if n_tiles == 0 or width == 0:
        return
    with nogil:
        for t in prange(n_tiles, num_threads=nt, schedule="static"):
            n = t // (tiles_h * tiles_w)
            y0 = s.m * (t // tiles_w % tiles_h)
            x0 = s.m * (t % tiles_w)
            if gradient:
                _transform_gradient_tile(src, dst, &scratch[threadid(), 0], &zeros[0], t, n,
                                         y0, x0, s)
            else:
                _transform_patch(src, dst, &scratch[threadid(), 0], &zeros[0], t, n, y0, x0,
                                 s)


def _products(const floating[:, :, ::1] v, const floating[:, :, ::1] u,
              floating[:, :, ::1] m, int n_threads, bint flipped=False):
    """``m[p] = v[p] @ u[:, p, :]^T`` for the points p, in chunks of tiles (BLAS); with
    `flipped`, ``m[p] = v[p] @ u[:, p, :]`` (`u` the transform of the filters flipped
    in i and j, :func:`filter_transform`: the convolution with them, their channel and
    filter axes swapped)."""
    cdef Py_ssize_t points = v.shape[0], n_tiles = v.shape[1], channels = v.shape[2]
    cdef Py_ssize_t filters = u.shape[2] if flipped else u.shape[0]
    cdef Py_ssize_t row = points * u.shape[2]
    cdef Py_ssize_t n_chunks = max(1, (n_tiles + _CHUNK_TILES - 1) // _CHUNK_TILES)
    cdef Py_ssize_t item, p, t0, t1
    cdef int nt = threads_for(points * n_tiles * channels * filters, points * n_chunks,
                              n_threads, FAMILY_CONV)
    if n_tiles == 0 or filters == 0:
        return
    if channels == 0:
        np.asarray(m)[...] = 0
        return
    with nogil:
        for item in prange(points * n_chunks, num_threads=nt, schedule="dynamic"):
            p = item // n_chunks
            t0 = n_tiles * (item % n_chunks) // n_chunks
            t1 = n_tiles * (item % n_chunks + 1) // n_chunks
            if t1 > t0:
                gemm(False, not flipped, <int>(t1 - t0), <int>filters, <int>channels, 1,
                     &v[p, t0, 0], <int>channels, &u[0, p, 0], <int>row, 0,
                     &m[p, t0, 0], <int>filters)


cdef inline void _transform_tile(const floating[:, :, ::1] m, const floating[::1] bias,
                                 floating[:, :, :, ::1] out, floating* q, Py_ssize_t t,
                                 Py_ssize_t n, Py_ssize_t y0, Py_ssize_t x0, bint clamp,
                                 floating top, _Tiles s) noexcept nogil:
    """Tile `t`'s outputs ``A^T M A`` at row `y0`, column `x0` of image `n` (those inside
    `out`), plus the bias, clamped; through `q` (m*a*F values of the thread's own:
    ``A^T M``)."""
    cdef Py_ssize_t h_out = out.shape[1], w_out = out.shape[2], filters = out.shape[3]
    cdef Py_ssize_t f
    cdef int i, j, p, q_
    cdef const floating* rows[MAX_SIDE]
    cdef floating* o
    cdef floating value
    for q_ in range(s.a):        # (A^T M)[i, q]
        for p in range(s.a):
            rows[p] = &m[p * s.a + q_, t, 0]
        for i in range(s.m):
            _lincomb(q + (i * s.a + q_) * filters, rows, s.at + i * s.a, 1, s.a, filters)
    for i in range(s.m):         # (A^T M A)[i, j], plus the bias, clamped
        if y0 + i >= h_out:
            break
        for q_ in range(s.a):
            rows[q_] = q + (i * s.a + q_) * filters
        for j in range(s.m):
            if x0 + j >= w_out:
                break
            o = &out[n, y0 + i, x0 + j, 0]
            _lincomb(o, rows, s.at + j * s.a, 1, s.a, filters)
            for f in range(filters):
                o[f] += bias[f]
            if clamp:   # the ReLU's values: 0 where v <= 0, NaN stays
                for f in range(filters):
                    value = o[f]
                    o[f] = 0 if value <= 0 else (top if value >= top else value)


def _output_transform(const floating[:, :, ::1] m, const floating[::1] bias,
                      floating[:, :, :, ::1] out, Py_ssize_t tiles_h, Py_ssize_t tiles_w,
                      clamp_max, int tile, int n_threads):
    """``out`` (N, Ho, Wo, F): each tile's ``A^T M A`` plus the bias (the pixels inside
    `out`), clamped to ``[0, clamp_max]`` when `clamp_max` is not None (NaN stays)."""
    cdef _Tiles s = _tiles(tile)
    cdef Py_ssize_t n_tiles = out.shape[0] * tiles_h * tiles_w
    cdef Py_ssize_t t
    cdef bint clamp = clamp_max is not None
    cdef floating top = clamp_max if clamp else 0
    cdef int nt = threads_for(n_tiles * out.shape[3] * 8 * s.a * s.a, n_tiles, n_threads,
                              FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scratch = np.empty((nt, s.m * s.a * out.shape[3] + 16), dtype=dtype)
    if n_tiles == 0 or out.shape[3] == 0:
        return
    with nogil:
        for t in prange(n_tiles, num_threads=nt, schedule="static"):
            _transform_tile(m, bias, out, &scratch[threadid(), 0], t,
                            t // (tiles_h * tiles_w), s.m * (t // tiles_w % tiles_h),
                            s.m * (t % tiles_w), clamp, top, s)


cdef inline void _transform_filter(const floating[:, :, ::1] g, floating[:, :, ::1] u,
                                   floating* left, Py_ssize_t f, bint flip,
                                   _Tiles s) noexcept nogil:
    """Filter `f`'s ``u[f] = G g G^T`` (`g` as (F, 9, C); flipped in i and j with
    `flip`), through `left` (3a rows of C values of the thread's own: ``G g``)."""
    cdef Py_ssize_t channels = g.shape[2]
    cdef int i, j, p, q
    cdef const floating* rows[MAX_SIDE]
    for j in range(3):       # (G g)[p, j]
        for i in range(3):
            rows[i] = &g[f, 8 - 3 * i - j, 0] if flip else &g[f, 3 * i + j, 0]
        for p in range(s.a):
            _lincomb(left + (p * 3 + j) * channels, rows, s.g + p * 3, 1, 3, channels)
    for p in range(s.a):     # (G g G^T)[p, q]
        for j in range(3):
            rows[j] = left + (p * 3 + j) * channels
        for q in range(s.a):
            _lincomb(&u[f, p * s.a + q, 0], rows, s.g + q * 3, 1, 3, channels)


def _over_filters(const floating[:, :, ::1] src, floating[:, :, ::1] dst, int tile,
                 int kind, int n_threads):
    """Each filter's transform, the filters split over the threads (each with a scratch
    of its own): ``kind`` 0, ``dst`` (F, a*a, C) = ``G g G^T`` of `src` (F, 9, C), the
    filters (:func:`_transform_filter`); 1, the same of the filters flipped in i and j;
    2, ``dst`` (F, 9, C) = ``G^T dU G`` of `src` (a*a, F, C), the gradient of ``U``
    (:func:`_transform_filter_gradient`)."""
    cdef _Tiles s = _tiles(tile)
    cdef Py_ssize_t filters = dst.shape[0], channels = dst.shape[2]
    cdef Py_ssize_t f
    cdef int nt = threads_for(filters * channels * 8 * s.a * s.a, filters, n_threads,
                              FAMILY_CONV)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] scratch = np.empty((nt, 3 * s.a * channels + 16), dtype=dtype)
    if filters == 0 or channels == 0:
        return
    with nogil:
        for f in prange(filters, num_threads=nt, schedule="static"):
            if kind == 2:
                _transform_filter_gradient(src, dst, &scratch[threadid(), 0], f, s)
            else:
                _transform_filter(src, dst, &scratch[threadid(), 0], f, kind == 1, s)


def filter_transform(filters, dtype, int tile=2, bint flip=False, int n_threads=1):
    """Filters ``(F, 3, 3, C)`` -> ``U = G g G^T`` of F(tile x tile, 3x3) as
    ``(F, a*a, C)`` of `dtype` (point ``p`` of filter f at ``[f, p]``: :func:`_products`
    reads ``U_p^T`` there); with `flip`, of the filters flipped in i and j."""
    cdef _Tiles s = _tiles(tile)
    g = np.ascontiguousarray(filters, dtype=dtype)
    u = np.empty((g.shape[0], s.a * s.a, g.shape[3]), dtype=dtype)
    _over_filters(g.reshape(g.shape[0], 9, g.shape[3]), u, tile, flip, n_threads)
    return u


def conv3x3(const floating[:, :, :, ::1] xp, const floating[:, :, ::1] u,
            const floating[::1] bias, floating[:, :, :, ::1] out, clamp_max, int n_threads,
            int tile=2, bint flipped=False):
    """``out`` (N, Ho, Wo, F) = the 3x3 convolution at strides 1 of `xp` (N, Hp, Wp, C),
    already zero-padded (``Ho = Hp - 2``, ``Wo = Wp - 2``), with the transformed
    filters `u` (F, a*a, C) (:func:`filter_transform` of the same `tile`), plus `bias`,
    clamped as :func:`_output_transform` says. With `flipped`, `u` is ``(C, a*a, F)``,
    the transform of filters flipped in i and j (``flip``): the convolution with them,
    their channel and filter axes swapped (the input gradient of a convolution with the
    filters)."""
    cdef _Tiles s = _tiles(tile)
    cdef Py_ssize_t tiles_h = (out.shape[1] + s.m - 1) // s.m
    cdef Py_ssize_t tiles_w = (out.shape[2] + s.m - 1) // s.m
    cdef Py_ssize_t n_tiles = out.shape[0] * tiles_h * tiles_w
    cdef Py_ssize_t u_in = u.shape[0] if flipped else u.shape[2]
    cdef Py_ssize_t u_out = u.shape[2] if flipped else u.shape[0]
    if (xp.shape[1] != out.shape[1] + 2 or xp.shape[2] != out.shape[2] + 2
            or u.shape[1] != s.a * s.a or u_in != xp.shape[3] or u_out != out.shape[3]
            or bias.shape[0] != out.shape[3] or xp.shape[0] != out.shape[0]):
        raise ValueError(f"a 3x3 convolution of {tuple(xp.shape)[:4]} with filters "
                         f"{tuple(u.shape)[:3]} does not give {tuple(out.shape)[:4]}")
    if n_tiles == 0 or out.shape[3] == 0:
        return
    dtype = np.float32 if floating is float else np.float64
    points, per_image = s.a * s.a, tiles_h * tiles_w
    xs, outs = np.asarray(xp), np.asarray(out)
    for n0, n1 in _image_runs(out.shape[0], points * per_image * (xp.shape[3] + out.shape[3])
                              * np.dtype(dtype).itemsize, per_image):
        v = np.empty((points, (n1 - n0) * per_image, xp.shape[3]), dtype=dtype)
        m = np.empty((points, (n1 - n0) * per_image, out.shape[3]), dtype=dtype)
        _input_transform(xs[n0:n1], v, tiles_h, tiles_w, tile, n_threads)
        _products(v, u, m, n_threads, flipped)
        _output_transform(m, bias, outs[n0:n1], tiles_h, tiles_w, clamp_max, tile, n_threads)


# The filter gradient. With M_p = V_p @ U_p and the tile's outputs Y = A^T M A, the
# gradient of the loss reaches M as dM = A dY A^T (the output transform's adjoint), U_p
# as dU_p = dM_p^T @ V_p, (F, C) (a sum over the tiles, one BLAS product per point), and
# the filters as dg = G^T dU G (the filter transform's adjoint).

cdef inline void _transform_gradient_tile(const floating[:, :, :, ::1] grad,
                                          floating[:, :, ::1] dm, floating* q,
                                          const floating* zeros, Py_ssize_t t,
                                          Py_ssize_t n, Py_ssize_t y0, Py_ssize_t x0,
                                          _Tiles s) noexcept nogil:
    """Tile `t`'s ``A dY A^T``, ``dm[:, t, :]``, from the m x m gradients ``dY`` at row
    `y0`, column `x0` of image `n` (zeros for the pixels past `grad`'s edge), through
    `q` (a*m*F values of the thread's own: ``A dY``)."""
    cdef Py_ssize_t h_out = grad.shape[1], w_out = grad.shape[2], filters = grad.shape[3]
    cdef int i, j, p, q_
    cdef const floating* rows[MAX_SIDE]
    for j in range(s.m):         # (A dY)[p, j]: column p of A^T
        for i in range(s.m):
            rows[i] = (&grad[n, y0 + i, x0 + j, 0] if y0 + i < h_out and x0 + j < w_out
                       else zeros)
        for p in range(s.a):
            _lincomb(q + (p * s.m + j) * filters, rows, s.at + p, s.a, s.m, filters)
    for p in range(s.a):         # (A dY A^T)[p, q]
        for j in range(s.m):
            rows[j] = q + (p * s.m + j) * filters
        for q_ in range(s.a):
            _lincomb(&dm[p * s.a + q_, t, 0], rows, s.at + q_, s.a, s.m, filters)


def _gradient_transform(const floating[:, :, :, ::1] grad, floating[:, :, ::1] dm,
                        Py_ssize_t tiles_h, Py_ssize_t tiles_w, int tile, int n_threads):
    """``dm[p, t, f] = (A dY_tf A^T)[p]`` for the tiles ``t = (n, ty, tx)`` of `grad`
    (N, Ho, Wo, F), ``dY`` the gradients at rows ``m*ty .. m*ty + m - 1`` and columns
    ``m*tx .. m*tx + m - 1`` (those past the edge read as zeros)."""
    _over_tiles(grad, dm, tiles_h, tiles_w, tile, True, n_threads)


def _filter_products(const floating[:, :, ::1] v, const floating[:, :, ::1] dm,
                     floating[:, :, ::1] du, int n_threads, bint accumulate=False):
    """``du[p] = dm[p]^T @ v[p]`` (F, C) for the points, a BLAS product each (the sum
    over every tile in one product: the values do not depend on the thread count);
    with `accumulate`, added to `du`."""
    cdef Py_ssize_t points = v.shape[0], n_tiles = v.shape[1], channels = v.shape[2]
    cdef Py_ssize_t filters = dm.shape[2]
    cdef Py_ssize_t p
    cdef int nt = threads_for(points * n_tiles * channels * filters, points, n_threads,
                              FAMILY_CONV)
    if channels == 0 or filters == 0:
        return
    cdef floating beta = 1 if accumulate else 0
    if n_tiles == 0:
        if not accumulate:
            np.asarray(du)[...] = 0
        return
    with nogil:
        for p in prange(points, num_threads=nt, schedule="dynamic"):
            gemm(True, False, <int>filters, <int>channels, <int>n_tiles, 1, &dm[p, 0, 0],
                 <int>filters, &v[p, 0, 0], <int>channels, beta, &du[p, 0, 0], <int>channels)


cdef inline void _transform_filter_gradient(const floating[:, :, ::1] du,
                                            floating[:, :, ::1] dg, floating* left,
                                            Py_ssize_t f, _Tiles s) noexcept nogil:
    """Filter `f`'s ``dg[f] = G^T dU G`` (`dg` as (F, 9, C)), through `left` (3a rows of
    C values of the thread's own: ``G^T dU``)."""
    cdef Py_ssize_t channels = du.shape[2]
    cdef int i, j, p, q
    cdef const floating* rows[MAX_SIDE]
    for q in range(s.a):     # (G^T dU)[i, q]: column i of G
        for p in range(s.a):
            rows[p] = &du[p * s.a + q, f, 0]
        for i in range(3):
            _lincomb(left + (i * s.a + q) * channels, rows, s.g + i, 3, s.a, channels)
    for i in range(3):       # (G^T dU G)[i, j]
        for q in range(s.a):
            rows[q] = left + (i * s.a + q) * channels
        for j in range(3):
            _lincomb(&dg[f, 3 * i + j, 0], rows, s.g + j, 3, s.a, channels)


def filter_grad3x3(const floating[:, :, :, ::1] xp, const floating[:, :, :, ::1] grad,
                   floating[:, :, :, ::1] grad_filters, int n_threads, int tile=2):
    """`grad_filters` (F, 3, 3, C) = the gradient of the loss with respect to the
    filters of the 3x3 convolution at strides 1 of `xp` (N, Hp, Wp, C), already
    zero-padded, from the output's gradient `grad` (N, Hp - 2, Wp - 2, F): the
    values of the direct sums to rounding (for finite `xp` and `grad` only, as
    :func:`conv3x3`)."""
    cdef _Tiles s = _tiles(tile)
    cdef Py_ssize_t tiles_h = (grad.shape[1] + s.m - 1) // s.m
    cdef Py_ssize_t tiles_w = (grad.shape[2] + s.m - 1) // s.m
    if (xp.shape[1] != grad.shape[1] + 2 or xp.shape[2] != grad.shape[2] + 2
            or xp.shape[0] != grad.shape[0] or grad_filters.shape[0] != grad.shape[3]
            or grad_filters.shape[1] != 3 or grad_filters.shape[2] != 3
            or grad_filters.shape[3] != xp.shape[3]):
        raise ValueError(f"the gradient {tuple(grad.shape)[:4]} of a 3x3 convolution of "
                         f"{tuple(xp.shape)[:4]} does not give filters "
                         f"{tuple(grad_filters.shape)[:4]}")
    dtype = np.float32 if floating is float else np.float64
    points, per_image = s.a * s.a, tiles_h * tiles_w
    du = np.empty((points, grad.shape[3], xp.shape[3]), dtype=dtype)
    xs, grads = np.asarray(xp), np.asarray(grad)
    # the sums over the runs of images, added run after run
    for n0, n1 in _image_runs(grad.shape[0], points * per_image
                              * (xp.shape[3] + grad.shape[3]) * np.dtype(dtype).itemsize,
                              per_image):
        v = np.empty((points, (n1 - n0) * per_image, xp.shape[3]), dtype=dtype)
        dm = np.empty((points, (n1 - n0) * per_image, grad.shape[3]), dtype=dtype)
        _input_transform(xs[n0:n1], v, tiles_h, tiles_w, tile, n_threads)
        _gradient_transform(grads[n0:n1], dm, tiles_h, tiles_w, tile, n_threads)
        _filter_products(v, dm, du, n_threads, n0 > 0)
    # dg = G^T dU G, the adjoint of filter_transform
    _over_filters(du, np.asarray(grad_filters).reshape(grad_filters.shape[0], 9,
                                                       grad_filters.shape[3]), tile, 2,
                  n_threads)
