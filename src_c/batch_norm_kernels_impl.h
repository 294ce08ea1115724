/* Body of the batch-norm kernels, included by batch_norm_simd.c (through
 * isa_instantiate.h) once per (instruction set, dtype) with PYX_T (float or double),
 * PYX_DOUBLE, PYX_VB (bytes per register) and PYX_SFX (a suffix making the names unique)
 * defined.
 *
 * The sums hold DL = PYX_VB / 8 doubles per register: DL consecutive channels are loaded
 * in the data's dtype and converted to double. A tile of NV registers (NV * DL channels)
 * keeps its accumulators in registers over all the rows, so each accumulator adds the
 * rows one after the other, in order. The per-channel maps hold LANES values of the
 * data's dtype per register and go row by row. Channels past the last whole register are
 * done one by one. */

/* DL floats loaded and converted to doubles in one instruction (GCC splits the generic
 * conversion into pieces); doubles need no conversion. */
#if !PYX_DOUBLE && PYX_VB == 64
#define PYX_LOAD_AS_D(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#elif !PYX_DOUBLE && PYX_VB == 32
#define PYX_LOAD_AS_D(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#elif !PYX_DOUBLE && PYX_VB == 16 && defined(__SSE2__)
#define PYX_LOAD_AS_D(p) _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(p))))
#endif

#define PYX_CAT_(a, b) a##_##b
#define PYX_CAT(a, b) PYX_CAT_(a, b)
#define PYX_FN(name) PYX_CAT(name, PYX_SFX)
#define INLINE static inline __attribute__((always_inline))

#define T PYX_T
#define LANES (PYX_VB / (int)sizeof(PYX_T))
#define DL (PYX_VB / (int)sizeof(double))
#define V PYX_FN(vec)
#define VU PYX_FN(vecu)
#define VD PYX_FN(dvec)
#define VDU PYX_FN(dvecu)
#define VXU PYX_FN(xvecu)
/* V: LANES values of T; VD: DL doubles; VXU: DL values of T (half a register for float).
 * The ...U types are the unaligned views used for loads and stores (aligned only to
 * the element, may alias it). */
typedef T V __attribute__((vector_size(PYX_VB)));
typedef T VU __attribute__((vector_size(PYX_VB), aligned(sizeof(T)), __may_alias__));
typedef double VD __attribute__((vector_size(PYX_VB)));
typedef double VDU __attribute__((vector_size(PYX_VB), aligned(sizeof(double)), __may_alias__));
typedef T VXU __attribute__((vector_size(DL * sizeof(T)), aligned(sizeof(T)), __may_alias__));
#define LOADU(p) ((V)(*(const VU *)(p)))
#define STOREU(p, v) (*(VU *)(p) = (v))
#define LOADD(p) ((VD)(*(const VDU *)(p)))
#define STORED(p, v) (*(VDU *)(p) = (v))
/* DL values of T at p, converted to double: the instruction PYX_LOAD_AS_D names where
 * there is one (above) */
#ifdef PYX_LOAD_AS_D
#define LOAD_AS_D(p) ((VD)PYX_LOAD_AS_D(p))
#else
#define LOAD_AS_D(p) __builtin_convertvector(*(const VXU *)(p), VD)
#endif

#define TILE_MAX 4

/* Channels [c, c + NV*DL) of pyx_bn_block_stats (x, sum, dev and dev2 already offset by
 * c): a first pass over the rows for the sums, a second for the deviations from the block
 * mean sum / n (the block's rows are then still in cache). */
INLINE void PYX_FN(block_stats_tile)(const int NV, const T *x, ptrdiff_t C, ptrdiff_t r0,
                                     ptrdiff_t r1, double *sum, double *dev, double *dev2)
{
    const VD zero = {0};
    const double n = (double)(r1 - r0);
    VD acc[TILE_MAX], acc2[TILE_MAX], mean[TILE_MAX];
    for (int v = 0; v < NV; v++)
        acc[v] = zero;
    for (ptrdiff_t r = r0; r < r1; r++)
        for (int v = 0; v < NV; v++)
            acc[v] += LOAD_AS_D(x + r * C + v * DL);
    for (int v = 0; v < NV; v++) {
        STORED(sum + v * DL, acc[v]);
        mean[v] = acc[v] / n;
        acc[v] = zero;
        acc2[v] = zero;
    }
    for (ptrdiff_t r = r0; r < r1; r++)
        for (int v = 0; v < NV; v++) {
            const VD d = LOAD_AS_D(x + r * C + v * DL) - mean[v];
            acc[v] += d;
            acc2[v] += d * d;
        }
    for (int v = 0; v < NV; v++) {
        STORED(dev + v * DL, acc[v]);
        STORED(dev2 + v * DL, acc2[v]);
    }
}

__attribute__((unused)) static void PYX_FN(bn_block_stats)(
    const T *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1, double *sum, double *dev,
    double *dev2)
{
    ptrdiff_t c = 0;
    for (; c + TILE_MAX * DL <= C; c += TILE_MAX * DL)
        PYX_FN(block_stats_tile)(TILE_MAX, x + c, C, r0, r1, sum + c, dev + c, dev2 + c);
    for (; c + DL <= C; c += DL)
        PYX_FN(block_stats_tile)(1, x + c, C, r0, r1, sum + c, dev + c, dev2 + c);
    for (; c < C; c++) {
        double acc = 0, acc2 = 0;
        for (ptrdiff_t r = r0; r < r1; r++)
            acc += (double)x[r * C + c];
        sum[c] = acc;
        const double mean = acc / (double)(r1 - r0);
        acc = 0;
        for (ptrdiff_t r = r0; r < r1; r++) {
            const double d = (double)x[r * C + c] - mean;
            acc += d;
            acc2 += d * d;
        }
        dev[c] = acc;
        dev2[c] = acc2;
    }
}

/* Channels [c, c + NV*DL) of pyx_bn_backward_sums (pointers already offset by c). */
INLINE void PYX_FN(backward_sums_tile)(const int NV, const T *x, const T *g, ptrdiff_t C,
                                       ptrdiff_t r0, ptrdiff_t r1, const double *mean,
                                       double *sum_g, double *sum_gx)
{
    const VD zero = {0};
    VD acc_g[TILE_MAX], acc_gx[TILE_MAX], m[TILE_MAX];
    for (int v = 0; v < NV; v++) {
        acc_g[v] = zero;
        acc_gx[v] = zero;
        m[v] = LOADD(mean + v * DL);
    }
    for (ptrdiff_t r = r0; r < r1; r++) {
        for (int v = 0; v < NV; v++) {
            const VD gd = LOAD_AS_D(g + r * C + v * DL);
            const VD xd = LOAD_AS_D(x + r * C + v * DL);
            acc_g[v] += gd;
            acc_gx[v] += gd * (xd - m[v]);
        }
    }
    for (int v = 0; v < NV; v++) {
        STORED(sum_g + v * DL, acc_g[v]);
        STORED(sum_gx + v * DL, acc_gx[v]);
    }
}

__attribute__((unused)) static void PYX_FN(bn_backward_sums)(
    const T *x, const T *g, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1, const double *mean,
    double *sum_g, double *sum_gx)
{
    ptrdiff_t c = 0;
    for (; c + TILE_MAX * DL <= C; c += TILE_MAX * DL)
        PYX_FN(backward_sums_tile)(TILE_MAX, x + c, g + c, C, r0, r1, mean + c, sum_g + c,
                                   sum_gx + c);
    for (; c + DL <= C; c += DL)
        PYX_FN(backward_sums_tile)(1, x + c, g + c, C, r0, r1, mean + c, sum_g + c,
                                   sum_gx + c);
    for (; c < C; c++) {
        double acc_g = 0, acc_gx = 0;
        for (ptrdiff_t r = r0; r < r1; r++) {
            const double gd = (double)g[r * C + c];
            acc_g += gd;
            acc_gx += gd * ((double)x[r * C + c] - mean[c]);
        }
        sum_g[c] = acc_g;
        sum_gx[c] = acc_gx;
    }
}

__attribute__((unused)) static void PYX_FN(bn_scale_shift)(
    const T *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1, const T *scale, const T *shift,
    T *out)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        const T *xr = x + r * C;
        T *o = out + r * C;
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += LANES)
            STOREU(o + c, LOADU(xr + c) * LOADU(scale + c) + LOADU(shift + c));
        for (; c < C; c++)
            o[c] = xr[c] * scale[c] + shift[c];
    }
}

__attribute__((unused)) static void PYX_FN(bn_backward_apply)(
    const T *x, const T *g, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1, const T *mean,
    const T *a, const T *b, const T *k, T *grad_x)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        const T *xr = x + r * C, *gr = g + r * C;
        T *o = grad_x + r * C;
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += LANES)
            STOREU(o + c, (LOADU(gr + c) - LOADU(a + c)
                           - (LOADU(xr + c) - LOADU(mean + c)) * LOADU(b + c)) * LOADU(k + c));
        for (; c < C; c++)
            o[c] = (gr[c] - a[c] - (xr[c] - mean[c]) * b[c]) * k[c];
    }
}

#undef TILE_MAX
#undef LOAD_AS_D
#undef STORED
#undef LOADD
#undef STOREU
#undef LOADU
#undef VXU
#undef VDU
#undef VD
#undef VU
#undef V
#undef DL
#undef LANES
#undef T
#undef INLINE
#undef PYX_LOAD_AS_D
