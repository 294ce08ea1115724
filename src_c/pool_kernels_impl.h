/* Body of the max-pooling kernel, included by pool_simd.c once per (instruction
 * set, register width, dtype) with PYX_T, PYX_IT (same-size integer type), PYX_VB and
 * PYX_SFX defined. One SIMD register holds LANES consecutive channels of one pixel;
 * channels past the last whole register are done one by one. */
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

/* K is the window size: a constant for the common 2x2 case, so the window loops unroll. */
static inline __attribute__((always_inline)) void PYX_FN(maxpool_row)(
    const ptrdiff_t K, const pyx_pool_shape *s, const T *x_row, T *out_row)
{
    const ptrdiff_t C = s->channels, xrs = s->in_w * C, step = s->stride * C;
    for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
        const T *xp = x_row + ox * step;
        T *o = out_row + ox * C;
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += LANES) {
            V m = LOADU(xp + c);
            VI nan = m != m;
            for (ptrdiff_t i = 0; i < K; i++)
                for (ptrdiff_t j = (i == 0); j < K; j++) {
                    const V a = LOADU(xp + i * xrs + j * C + c);
                    m = PYX_FN(vmax)(a, m);
                    nan |= a != a;
                }
            STOREU(o + c, (V)((VI)m | nan));   /* all bits set: a NaN */
        }
        for (; c < C; c++) {
            T m = xp[c];
            for (ptrdiff_t i = 0; i < K; i++)
                for (ptrdiff_t j = (i == 0); j < K; j++)
                    m = PYX_FN(smax)(xp[i * xrs + j * C + c], m);
            o[c] = m;
        }
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
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
        const T *x_row = x + (n * s->in_h + oy * s->stride) * xrs;
        T *out_row = out + r * s->out_w * s->channels;
        if (s->size == 2 && s->stride == 2 && 2 * s->channels == LANES)
            PYX_FN(maxpool_row_2x2_pairs)(s, x_row, out_row);
        else if (s->size == 2)
            PYX_FN(maxpool_row)(2, s, x_row, out_row);
        else
            PYX_FN(maxpool_row)(s->size, s, x_row, out_row);
    }
}

#undef STOREU
#undef LOADU
#undef VU
#undef VI
#undef V
#undef LANES
#undef T
