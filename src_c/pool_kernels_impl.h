/* Body of the max- and average-pooling kernels, included by pool_simd.c (through
 * isa_instantiate.h) once per (instruction set, dtype) with PYX_T, PYX_IT (same-size
 * integer type), PYX_DOUBLE, PYX_VB and PYX_SFX defined. One SIMD register holds LANES
 * consecutive channels of one pixel; channels past the last whole register are done one
 * by one. */

/* The SIMD max instruction of this copy's registers, where it has one. */
#if PYX_VB == 32 && PYX_DOUBLE
#define PYX_VMAX(a, b) _mm256_max_pd((__m256d)(a), (__m256d)(b))
#elif PYX_VB == 32
#define PYX_VMAX(a, b) _mm256_max_ps((__m256)(a), (__m256)(b))
#elif PYX_VB == 16 && defined(__SSE2__) && PYX_DOUBLE
#define PYX_VMAX(a, b) _mm_max_pd((__m128d)(a), (__m128d)(b))
#elif PYX_VB == 16 && defined(__SSE2__)
#define PYX_VMAX(a, b) _mm_max_ps((__m128)(a), (__m128)(b))
#endif
#define PYX_CAT_(a, b) a##_##b
#define PYX_CAT(a, b) PYX_CAT_(a, b)
#define PYX_FN(name) PYX_CAT(name, PYX_SFX)

#define T PYX_T
#define LANES (PYX_VB / (int)sizeof(PYX_T))
#define V PYX_FN(vec)
#define VI PYX_FN(ivec)
#define VU PYX_FN(vecu)
typedef T V __attribute__((vector_size(PYX_VB)));
typedef PYX_IT VI __attribute__((vector_size(PYX_VB)));
typedef T VU __attribute__((vector_size(PYX_VB), aligned(sizeof(PYX_T)), __may_alias__));
#define LOADU(p) ((V)(*(const VU *)(p)))
#define STOREU(p, v) (*(VU *)(p) = (v))

/* a if a > m else m: the SIMD max instruction where PYX_VMAX names it (NaN is
 * tracked separately, so its NaN rule does not matter). */
static inline __attribute__((always_inline)) V PYX_FN(vmax)(V a, V m)
{
#ifdef PYX_VMAX
    return (V)PYX_VMAX(a, m);
#else
    VI take_a = a > m;
    return (V)((take_a & (VI)a) | (~take_a & (VI)m));
#endif
}

static inline __attribute__((always_inline)) T PYX_FN(smax)(T a, T m)
{
    return (a > m || a != a) ? a : m;
}

/* The maximum of one window of rows x cols pixels starting at xp, for all channels, into
 * o: element (0, 0) first, then row by row. rows and cols are constants for the common
 * 2x2 case, so the loops unroll. */
static inline __attribute__((always_inline)) void PYX_FN(maxpool_window)(
    const ptrdiff_t rows, const ptrdiff_t cols, const ptrdiff_t xrs, const ptrdiff_t C,
    const T *xp, T *o)
{
    /* registers of channels, the last one overlapping its neighbour when C is not a
     * multiple of LANES (the same values computed twice) */
    ptrdiff_t c = 0;
    for (ptrdiff_t next = 0; C >= LANES && next < C; next += LANES) {
        c = next + LANES <= C ? next : C - LANES;
        V m = LOADU(xp + c);
        VI nan = m != m;
        for (ptrdiff_t i = 0; i < rows; i++)
            for (ptrdiff_t j = (i == 0); j < cols; j++) {
                const V a = LOADU(xp + i * xrs + j * C + c);
                m = PYX_FN(vmax)(a, m);
                nan |= a != a;
            }
        STOREU(o + c, (V)((VI)m | nan));   /* all bits set: a NaN */
        c += LANES;                        /* C after the last register */
    }
    for (; c < C; c++) {                   /* fewer channels than a register */
        T m = xp[c];
        for (ptrdiff_t i = 0; i < rows; i++)
            for (ptrdiff_t j = (i == 0); j < cols; j++)
                m = PYX_FN(smax)(xp[i * xrs + j * C + c], m);
        o[c] = m;
    }
}

/* One output row of windows inside the input; K is the window size. */
static inline __attribute__((always_inline)) void PYX_FN(maxpool_row)(
    const ptrdiff_t K, const pyx_pool_shape *s, const T *x_row, T *out_row)
{
    const ptrdiff_t C = s->channels, xrs = s->in_w * C, step = s->stride * C;
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++)
        PYX_FN(maxpool_window)(K, K, xrs, C, x_row + ox * step, out_row + ox * C);
}

/* One output row oy in general: each window clipped to the input (the padding never
 * wins). x_img is the sample's image. */
static void PYX_FN(maxpool_row_clipped)(const pyx_pool_shape *s, const T *x_img,
                                        ptrdiff_t oy, T *out_row)
{
    const ptrdiff_t C = s->channels, xrs = s->in_w * C;
    ptrdiff_t i0, i1, j0, j1, unused;
    pyx_pool_window(oy, s->size, s->stride, s->in_h, s->pad_top, s->pad_bottom,
                    &i0, &i1, &unused);
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
        pyx_pool_window(ox, s->size, s->stride, s->in_w, s->pad_left, s->pad_right,
                        &j0, &j1, &unused);
        PYX_FN(maxpool_window)(i1 - i0, j1 - j0, xrs, C, x_img + i0 * xrs + j0 * C,
                               out_row + ox * C);
    }
}

/* 2x2 windows, stride 2, and a pair of pixels filling one register (2*C == LANES): one
 * load per input row gives both pixels of the window; the maximum of the two rows, then
 * of the register's two halves, is the output pixel. */
static void PYX_FN(maxpool_row_2x2_pairs)(const pyx_pool_shape *s, const T *x_row, T *out_row)
{
    const ptrdiff_t C = s->channels, xrs = s->in_w * C;
    VI swap;   /* lane l <-> lane l +/- LANES/2 */
    for (int l = 0; l < LANES; l++)
        swap[l] = (l + LANES / 2) % LANES;
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
        const T *xp = x_row + ox * 2 * C;
        const V a = LOADU(xp), b = LOADU(xp + xrs);
        VI nan = (a != a) | (b != b);
        V m = PYX_FN(vmax)(b, a);
        m = PYX_FN(vmax)(__builtin_shuffle(m, swap), m);
        nan |= __builtin_shuffle(nan, swap);
        const V r = (V)((VI)m | nan);
        for (ptrdiff_t c = 0; c < C; c++)
            out_row[ox * C + c] = r[c];
    }
}

__attribute__((unused)) static void PYX_FN(maxpool_rows)(
    const pyx_pool_shape *s, const T *x, T *out, ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t xrs = s->in_w * s->channels;
    const int inside = pyx_pool_inside(s);
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
        T *out_row = out + r * s->out_w * s->channels;
        if (!inside) {
            PYX_FN(maxpool_row_clipped)(s, x + n * s->in_h * xrs, oy, out_row);
            continue;
        }
        const T *x_row = x + (n * s->in_h + oy * s->stride) * xrs;
        if (s->size == 2 && s->stride == 2 && 2 * s->channels == LANES)
            PYX_FN(maxpool_row_2x2_pairs)(s, x_row, out_row);
        else if (s->size == 2)
            PYX_FN(maxpool_row)(2, s, x_row, out_row);
        else
            PYX_FN(maxpool_row)(s->size, s, x_row, out_row);
    }
}


/* Max pooling that records where each maximum is (training), for one sample whose
 * windows are all inside the input (maxpool_argmax_sample below; K is the window
 * size): out as pyx_maxpool_rows, and arg[oy, ox, c] the offset (iy*in_w + ix)*C + c,
 * inside the sample, of the first maximum of the window
 * (window element (0, 0) first, then row by row; a later equal value does not take
 * over). A NaN wins over numbers and stays (the first NaN). With relu, the output is
 * max(maximum, 0) (+0 for a maximum <= 0; NaN stays NaN); arg is unchanged. */
static inline __attribute__((always_inline)) void PYX_FN(maxpool_argmax_windows)(
    const ptrdiff_t K, const pyx_pool_shape *s, const T *x, T *out, int32_t *arg, int relu)
{
    const ptrdiff_t C = s->channels, W = s->in_w, S = s->stride;
    VI iota;
    for (int l = 0; l < LANES; l++)
        iota[l] = l;
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
        for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
            const ptrdiff_t base = (oy * S * W + ox * S) * C, o = (oy * s->out_w + ox) * C;
            /* registers of channels; the last one may overlap its neighbour (C not a
             * multiple of LANES): the channels are independent, so the overlap computes
             * the same values twice, where one by one they would take as long as the
             * whole register */
            ptrdiff_t c = 0;
            for (ptrdiff_t next = 0; C >= LANES && next < C; next += LANES) {
                c = next + LANES <= C ? next : C - LANES;
                V m = LOADU(x + base + c);
                VI at = iota + (PYX_IT)(base + c);
                for (ptrdiff_t i = 0; i < K; i++)
                    for (ptrdiff_t j = (i == 0); j < K; j++) {
                        const ptrdiff_t pos = base + (i * W + j) * C + c;
                        const V v = LOADU(x + pos);
                        /* strict '>': the first maximum; the first NaN wins and stays */
                        const VI take = (v > m) | ((v != v) & (m == m));
                        m = (V)((take & (VI)v) | (~take & (VI)m));
                        at = (take & (iota + (PYX_IT)pos)) | (~take & at);
                    }
                if (relu)
                    m = (V)(~((m <= 0) & (m == m)) & (VI)m);     /* all bits 0: +0 */
                STOREU(out + o + c, m);
                for (int l = 0; l < LANES; l++)
                    arg[o + c + l] = (int32_t)at[l];
                c += LANES;                    /* C after the last register */
            }
            for (; c < C; c++) {           /* fewer channels than a register */
                T m = x[base + c];
                ptrdiff_t at = base + c;
                for (ptrdiff_t i = 0; i < K; i++)
                    for (ptrdiff_t j = (i == 0); j < K; j++) {
                        const ptrdiff_t pos = base + (i * W + j) * C + c;
                        const T v = x[pos];
                        if (v > m || (v != v && m == m)) {
                            m = v;
                            at = pos;
                        }
                    }
                if (relu && m <= 0)
                    m = 0;
                out[o + c] = m;
                arg[o + c] = (int32_t)at;
            }
        }
}

__attribute__((unused)) static void PYX_FN(maxpool_argmax_sample)(
    const pyx_pool_shape *s, const T *x, T *out, int32_t *arg, int relu)
{
    if (s->size == 2)       /* a constant K: the window loops unroll, the offsets fold */
        PYX_FN(maxpool_argmax_windows)(2, s, x, out, arg, relu);
    else
        PYX_FN(maxpool_argmax_windows)(s->size, s, x, out, arg, relu);
}

/* ---- average pooling ---- */

/* v / (K*K). When K is a power of two, so is K*K, and its reciprocal is exact: the
 * product v * (1 / (K*K)) is then the same number as the quotient (both are v / (K*K)
 * rounded once), and much faster. For K = 2 the test folds at compile time. */
static inline __attribute__((always_inline)) V PYX_FN(vdiv_area)(V v, const ptrdiff_t K)
{
    const T area = (T)(K * K);
    const V zero = {0};
    if ((K & (K - 1)) == 0)
        return v * (zero + (T)1 / area);
    return v / (zero + area);
}

static inline __attribute__((always_inline)) T PYX_FN(sdiv_area)(T v, const ptrdiff_t K)
{
    const T area = (T)(K * K);
    if ((K & (K - 1)) == 0)
        return v * ((T)1 / area);
    return v / area;
}

/* One output row of average pooling (see pool_kernels.h): for each output pixel and each
 * register of channels, the K*K window values are added to 0 row by row, then divided by
 * K*K. K is a constant for the common 2x2 case, so the window loops unroll. */
static inline __attribute__((always_inline)) void PYX_FN(avgpool_row)(
    const ptrdiff_t K, const pyx_pool_shape *s, const T *x_row, T *out_row)
{
    const ptrdiff_t C = s->channels, xrs = s->in_w * C, step = s->stride * C;
    const V zero = {0};
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
        const T *xp = x_row + ox * step;
        T *o = out_row + ox * C;
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += LANES) {
            V acc = zero;
            for (ptrdiff_t i = 0; i < K; i++)
                for (ptrdiff_t j = 0; j < K; j++)
                    acc += LOADU(xp + i * xrs + j * C + c);
            STOREU(o + c, PYX_FN(vdiv_area)(acc, K));
        }
        for (; c < C; c++) {
            T acc = 0;
            for (ptrdiff_t i = 0; i < K; i++)
                for (ptrdiff_t j = 0; j < K; j++)
                    acc += xp[i * xrs + j * C + c];
            o[c] = PYX_FN(sdiv_area)(acc, K);
        }
    }
}

/* The divisor of window (oy, ox) when windows are clipped (see pool_kernels.h), given the
 * clipped rows [i0, i1) and columns [j0, j1) and the counts within the padded input. */
static inline T PYX_FN(avg_divisor)(const pyx_pool_shape *s, ptrdiff_t i0, ptrdiff_t i1,
                                    ptrdiff_t padded_rows, ptrdiff_t j0, ptrdiff_t j1,
                                    ptrdiff_t padded_cols)
{
    if (s->count_include_pad)
        return (T)(padded_rows * padded_cols);
    return (T)((i1 - i0) * (j1 - j0));
}

/* One output row oy of average pooling in general: each window's values inside the input
 * added to 0 row by row, then divided by the window's divisor. x_img is the sample's. */
static void PYX_FN(avgpool_row_clipped)(const pyx_pool_shape *s, const T *x_img,
                                        ptrdiff_t oy, T *out_row)
{
    const ptrdiff_t C = s->channels, xrs = s->in_w * C;
    const V zero = {0};
    ptrdiff_t i0, i1, j0, j1, padded_rows, padded_cols;
    pyx_pool_window(oy, s->size, s->stride, s->in_h, s->pad_top, s->pad_bottom,
                    &i0, &i1, &padded_rows);
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
        pyx_pool_window(ox, s->size, s->stride, s->in_w, s->pad_left, s->pad_right,
                        &j0, &j1, &padded_cols);
        const T divisor = PYX_FN(avg_divisor)(s, i0, i1, padded_rows, j0, j1, padded_cols);
        const T *xp = x_img + i0 * xrs + j0 * C;
        T *o = out_row + ox * C;
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += LANES) {
            V acc = zero;
            for (ptrdiff_t i = 0; i < i1 - i0; i++)
                for (ptrdiff_t j = 0; j < j1 - j0; j++)
                    acc += LOADU(xp + i * xrs + j * C + c);
            STOREU(o + c, acc / (zero + divisor));
        }
        for (; c < C; c++) {
            T acc = 0;
            for (ptrdiff_t i = 0; i < i1 - i0; i++)
                for (ptrdiff_t j = 0; j < j1 - j0; j++)
                    acc += xp[i * xrs + j * C + c];
            o[c] = acc / divisor;
        }
    }
}

__attribute__((unused)) static void PYX_FN(avgpool_rows)(
    const pyx_pool_shape *s, const T *x, T *out, ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t xrs = s->in_w * s->channels;
    const int inside = pyx_pool_inside(s);
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
        T *out_row = out + r * s->out_w * s->channels;
        if (!inside) {
            PYX_FN(avgpool_row_clipped)(s, x + n * s->in_h * xrs, oy, out_row);
            continue;
        }
        const T *x_row = x + (n * s->in_h + oy * s->stride) * xrs;
        if (s->size == 2)
            PYX_FN(avgpool_row)(2, s, x_row, out_row);
        else
            PYX_FN(avgpool_row)(s->size, s, x_row, out_row);
    }
}

/* Input row iy of the backward pass when windows do not overlap (stride >= K): the row
 * lies in window row oy only, and each pixel in at most one window, so grad_x is the
 * window's (0 + g) / (K*K) on the K pixels it holds and 0 on the columns between windows
 * and after the last. */
static inline __attribute__((always_inline)) void PYX_FN(avgpool_backward_row_disjoint)(
    const ptrdiff_t K, const pyx_pool_shape *s, const T *g_row, T *gx_row)
{
    const ptrdiff_t C = s->channels, S = s->stride;
    const V zero = {0};
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
        const T *gp = g_row + ox * C;
        T *xp = gx_row + ox * S * C;
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += LANES) {
            const V v = PYX_FN(vdiv_area)(zero + LOADU(gp + c), K);
            for (ptrdiff_t j = 0; j < K; j++)
                STOREU(xp + j * C + c, v);
        }
        for (; c < C; c++) {
            const T v = PYX_FN(sdiv_area)((T)0 + gp[c], K);
            for (ptrdiff_t j = 0; j < K; j++)
                xp[j * C + c] = v;
        }
        const ptrdiff_t end = ox + 1 < s->out_w ? (ox + 1) * S : s->in_w;
        const ptrdiff_t gap = end - ox * S - K;   /* columns no window holds */
        if (gap > 0)
            memset(xp + K * C, 0, (size_t)(gap * C) * sizeof(T));
    }
}

/* Input row iy of the backward pass in general (windows oy0 <= oy < oy1 hold the row):
 * each pixel gathers the windows that hold it. */
static void PYX_FN(avgpool_backward_row)(
    const pyx_pool_shape *s, const T *g_img, ptrdiff_t oy0, ptrdiff_t oy1, T *gx_row)
{
    const ptrdiff_t C = s->channels, S = s->stride, K = s->size, out_w = s->out_w;
    const V zero = {0};
    for (ptrdiff_t ix = 0; ix < s->in_w; ix++) {
        T *xp = gx_row + ix * C;
        const ptrdiff_t ox0 = ix < K ? 0 : (ix - K) / S + 1;
        const ptrdiff_t ox1 = ix / S + 1 < out_w ? ix / S + 1 : out_w;
        if (ox0 >= ox1) {
            memset(xp, 0, (size_t)C * sizeof(T));
            continue;
        }
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += LANES) {
            V acc = zero;
            for (ptrdiff_t oy = oy0; oy < oy1; oy++)
                for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                    acc += LOADU(g_img + (oy * out_w + ox) * C + c);
            STOREU(xp + c, PYX_FN(vdiv_area)(acc, K));
        }
        for (; c < C; c++) {
            T acc = 0;
            for (ptrdiff_t oy = oy0; oy < oy1; oy++)
                for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                    acc += g_img[(oy * out_w + ox) * C + c];
            xp[c] = PYX_FN(sdiv_area)(acc, K);
        }
    }
}

/* The backward pass of clipped windows, first step: for output rows r in [row_begin,
 * row_end) (r = n*out_h + oy), scaled = grad_out / the window's divisor. */
__attribute__((unused)) static void PYX_FN(avgpool_scale_rows)(
    const pyx_pool_shape *s, const T *g, T *scaled, ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t C = s->channels, K = s->size, S = s->stride;
    const V zero = {0};
    ptrdiff_t i0, i1, j0, j1, padded_rows, padded_cols;
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t oy = r % s->out_h;
        pyx_pool_window(oy, K, S, s->in_h, s->pad_top, s->pad_bottom, &i0, &i1, &padded_rows);
        for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
            pyx_pool_window(ox, K, S, s->in_w, s->pad_left, s->pad_right,
                            &j0, &j1, &padded_cols);
            const T divisor = PYX_FN(avg_divisor)(s, i0, i1, padded_rows, j0, j1, padded_cols);
            const T *gp = g + (r * s->out_w + ox) * C;
            T *sp = scaled + (r * s->out_w + ox) * C;
            ptrdiff_t c = 0;
            for (; c + LANES <= C; c += LANES)
                STOREU(sp + c, LOADU(gp + c) / (zero + divisor));
            for (; c < C; c++)
                sp[c] = gp[c] / divisor;
        }
    }
}

/* Second step, for rows r in [row_begin, row_end) of grad_x (r = n*in_h + iy): each pixel
 * is 0 plus the scaled gradients of the windows that hold it, oy then ox ascending. */
__attribute__((unused)) static void PYX_FN(avgpool_gather_rows)(
    const pyx_pool_shape *s, const T *scaled, T *gx, ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t C = s->channels, K = s->size, S = s->stride;
    const ptrdiff_t out_h = s->out_h, out_w = s->out_w;
    const V zero = {0};
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->in_h, py = r - n * s->in_h + s->pad_top;
        /* window rows oy0 <= oy < oy1 hold the row, py in the padded input */
        const ptrdiff_t oy0 = py < K ? 0 : (py - K) / S + 1;
        const ptrdiff_t oy1 = py / S + 1 < out_h ? py / S + 1 : out_h;
        const T *g_img = scaled + n * out_h * out_w * C;
        for (ptrdiff_t ix = 0; ix < s->in_w; ix++) {
            T *xp = gx + (r * s->in_w + ix) * C;
            const ptrdiff_t px = ix + s->pad_left;
            const ptrdiff_t ox0 = px < K ? 0 : (px - K) / S + 1;
            const ptrdiff_t ox1 = px / S + 1 < out_w ? px / S + 1 : out_w;
            ptrdiff_t c = 0;
            for (; c + LANES <= C; c += LANES) {
                V acc = zero;
                for (ptrdiff_t oy = oy0; oy < oy1; oy++)
                    for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                        acc += LOADU(g_img + (oy * out_w + ox) * C + c);
                STOREU(xp + c, acc);
            }
            for (; c < C; c++) {
                T acc = 0;
                for (ptrdiff_t oy = oy0; oy < oy1; oy++)
                    for (ptrdiff_t ox = ox0; ox < ox1; ox++)
                        acc += g_img[(oy * out_w + ox) * C + c];
                xp[c] = acc;
            }
        }
    }
}

__attribute__((unused)) static void PYX_FN(avgpool_backward_rows)(
    const pyx_pool_shape *s, const T *g, T *gx, ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t C = s->channels, K = s->size, S = s->stride;
    const ptrdiff_t out_h = s->out_h, out_w = s->out_w, xrs = s->in_w * C;
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->in_h, iy = r - n * s->in_h;
        /* the window rows oy0 <= oy < oy1 hold input row iy */
        const ptrdiff_t oy0 = iy < K ? 0 : (iy - K) / S + 1;
        const ptrdiff_t oy1 = iy / S + 1 < out_h ? iy / S + 1 : out_h;
        const T *g_img = g + n * out_h * out_w * C;
        T *gx_row = gx + r * xrs;
        if (oy0 >= oy1 || out_w == 0)
            memset(gx_row, 0, (size_t)xrs * sizeof(T));
        else if (S >= K && K == 2)
            PYX_FN(avgpool_backward_row_disjoint)(2, s, g_img + oy0 * out_w * C, gx_row);
        else if (S >= K)
            PYX_FN(avgpool_backward_row_disjoint)(K, s, g_img + oy0 * out_w * C, gx_row);
        else
            PYX_FN(avgpool_backward_row)(s, g_img, oy0, oy1, gx_row);
    }
}

#undef STOREU
#undef LOADU
#undef VU
#undef VI
#undef V
#undef LANES
#undef T
#undef PYX_VMAX
