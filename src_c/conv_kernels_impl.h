/* Body of the convolution microkernels, included by conv_simd.c (through
 * isa_instantiate.h) once per (instruction set, register width, dtype), with:
 *
 *   PYX_T     the element type (float or double); PYX_DOUBLE 0 or 1
 *   PYX_IT    the integer type of the element's size (shuffle masks)
 *   PYX_ISA   the instruction-set level of the copy
 *   PYX_VB    bytes per SIMD register (16, 32 or 64)
 *   PYX_REGS  SIMD registers the instruction set has (16 or 32)
 *   PYX_SFX   a suffix making the names unique
 *
 * The code uses GCC/Clang vector extensions: `a += s * b` on vector types compiles to
 * the target's multiply-add (FMA when the instruction set has it, because GNU C allows
 * contraction) without -ffast-math. Loops over the register block have compile-time
 * trip counts after inlining, so the accumulators live in registers.
 *
 * Kernels defined here (see conv_kernels.h for the algorithms): direct_rows,
 * planar_rows, wgrad_row and wgrad_bias in every copy; pair_rows and tappair_rows
 * only in the AVX-512 float32 copy of 64-byte registers (PYX_PAIRS).
 */

/* The paired kernels: two float32 pixels (or taps) x 8 filters in a 64-byte register. */
#define PYX_PAIRS (PYX_ISA == PYX_ISA_AVX512 && PYX_VB == 64 && !PYX_DOUBLE)

#define PYX_CAT_(a, b) a##_##b
#define PYX_CAT(a, b) PYX_CAT_(a, b)
#define PYX_FN(name) PYX_CAT(name, PYX_SFX)

#define T PYX_T
#define LANES (PYX_VB / (int)sizeof(PYX_T))
#define V PYX_FN(vec)
#define VU PYX_FN(vecu)
typedef T V __attribute__((vector_size(PYX_VB)));
typedef T VU __attribute__((vector_size(PYX_VB), aligned(sizeof(PYX_T)), __may_alias__));
/* shuffle masks: integers of the element's size */
typedef PYX_IT PYX_FN(ivec) __attribute__((vector_size(PYX_VB)));
#define LOADU(p) (*(const VU *)(p))
#define STOREU(p, v) (*(VU *)(p) = (v))
#define INLINE static inline __attribute__((always_inline))
/* Keep a loaded vector in a register: otherwise the compiler folds the load into each
 * multiply-add that uses it, and the loads (unaligned, often split across two cache
 * lines) become the bottleneck. */
#if defined(__x86_64__) || defined(__i386__)
#define PYX_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define PYX_IN_REGISTER(v) ((void)0)
#endif

/* Direct: accumulators per block, R pixels x NV registers of filters. */
#define DIRECT_MAX_R 12
#define DIRECT_MAX_NV 4
#if PYX_REGS >= 32
#define DIRECT_R4 6
#define DIRECT_R2 12
#define DIRECT_R1 12
#else
#define DIRECT_R4 3
#define DIRECT_R2 6
#define DIRECT_R1 12
#endif
_Static_assert(DIRECT_R4 <= DIRECT_MAX_R && DIRECT_R2 <= DIRECT_MAX_R && DIRECT_R1 <= DIRECT_MAX_R,
               "the accumulator arrays hold DIRECT_MAX_R pixels");

/* One step k of a block's sums (direct_block): the weights of input value k (NV
 * registers), times each pixel's value k.
 * With 16 registers, a block of 2 pixels x 4 registers (the narrow rows' last blocks:
 * 3 + 3 + 2 pixels on 8x8 maps) has room for its weights beside the accumulators and a
 * broadcast: loaded once, they stay there for the R multiply-adds, where the compiler
 * otherwise reads them from memory in each (10 loads for 8 multiply-adds). 3x3 layers
 * of 64 images, AVX2: 8x8x256 -> 256 4-12 %, 8x8x64 -> 128 4-10 %, 16x16x128 -> 128 and
 * 16x16x32 -> 64 3-6 % faster. */
#define PYX_DIRECT_STEP(k)                                                                 \
    do {                                                                                   \
        V wv[DIRECT_MAX_NV];                                                               \
        _Pragma("GCC unroll 4")                                                            \
        for (int v = 0; v < NV; v++) {                                                     \
            wv[v] = LOADU(wi + (k) * fp + v * LANES);                                      \
            if (PYX_REGS == 16 && R * NV + NV < PYX_REGS)                                  \
                PYX_IN_REGISTER(wv[v]);                                                    \
        }                                                                                  \
        _Pragma("GCC unroll 16")                                                           \
        for (int r = 0; r < R; r++) {                                                      \
            const T xs = xi[r * step + (k)];                                               \
            _Pragma("GCC unroll 4")                                                        \
            for (int v = 0; v < NV; v++)                                                   \
                acc[r][v] += xs * wv[v];                                                   \
        }                                                                                  \
    } while (0)

/* R consecutive output pixels (starting at x_win / out_px) times NV registers of
 * filters (starting at filter fb: bias and out_px already point there, w at the panel
 * of those filters, rows of fp = NV * LANES values);
 * n_valid is how many of those filters exist (the rest is padding, not stored).
 * Under kernel row i a window reads `runs` runs of `run` contiguous values,
 * `run_step` apart (one run of kw*C values without dilation along W, else kw runs
 * of C values), and the pixels' windows start `step` values apart.
 * Under each kernel row, the first pf_lines steps of the first run also ask for a line
 * each of the input the next block adds (the R * step values after this block's
 * window start): a block reads R pixels' values a step at a time, R lines far apart,
 * which the hardware does not foresee. On one AMD EPYC (Zen 4) core, 64 images:
 * MobileNetV2's projections 32x32x144 -> 24 and 32x32x96 -> 24 (1x1) ran 1.22-1.50x
 * faster than with the next row's input asked for at the row's start (AVX-512;
 * 1.11-1.26x on the AVX2 copy), a 3x3 stride-2 32x32x64 -> 128 1.03-1.04x; 3x3
 * stride-1 layers within 2 %; the same values. */
INLINE void PYX_FN(direct_block)(
    const int R, const int NV,
    const T *x_win, ptrdiff_t x_row_stride, ptrdiff_t runs, ptrdiff_t run,
    ptrdiff_t run_step, ptrdiff_t step,
    const T *w, ptrdiff_t kh, ptrdiff_t fp, const T *bias,
    T *out_px, ptrdiff_t filters, ptrdiff_t n_valid, int clamp, T clamp_max,
    ptrdiff_t pf_lines)
{
    V acc[DIRECT_MAX_R][DIRECT_MAX_NV];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[r][v] = LOADU(bias + v * LANES);
    for (ptrdiff_t i = 0; i < kh; i++)
        for (ptrdiff_t jr = 0; jr < runs; jr++) {
            const T *xi = x_win + i * x_row_stride + jr * run_step;
            const T *wi = w + (i * runs + jr) * run * fp;
            const ptrdiff_t n_pf = jr == 0 ? (pf_lines < run ? pf_lines : run) : 0;
            const char *pf = (const char *)(xi + R * step);
            ptrdiff_t k = 0;
            for (; k < n_pf; k++) {
                __builtin_prefetch(pf + 64 * k, 0, 3);
                PYX_DIRECT_STEP(k);
            }
            for (; k < run; k++)
                PYX_DIRECT_STEP(k);
        }
    if (clamp) {
        /* the ReLU or bounded ReLU (conv_kernels.h) in registers, as the values are
         * stored (activation_kernels.h) */
        const V m = clamp_max - (V){0};
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                PYX_CLAMP_REGISTER(acc[r][v], m, PYX_FN(ivec));
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            ptrdiff_t f0 = (ptrdiff_t)v * LANES;
            if (f0 + LANES <= n_valid) {
                STOREU(out_px + r * filters + f0, acc[r][v]);
            } else {
                /* the lanes through a copy of their own: a lane taken by a variable
                 * index would put the whole accumulator array in memory */
                T lanes[LANES];
                STOREU(lanes, acc[r][v]);
                for (ptrdiff_t l = 0; f0 + l < n_valid; l++)
                    out_px[r * filters + f0 + l] = lanes[l];
            }
        }
    }
}

#undef PYX_DIRECT_STEP

/* A block of RR pixels, RR in 1 .. R known at compile time only through the switch (the
 * accumulators must be registers). */
#define PYX_DIRECT_CASE(RR, R) \
    case RR: if ((RR) <= (R)) { PYX_DIRECT_AT(RR, ox); } break;

/* One output row, for the NV registers of filters starting at filter fb: cut into as
 * few blocks of at most R pixels as possible, of sizes that differ by at most one (a
 * row of 16 at R = 6 runs as 6 + 5 + 5, no pixel computed twice). With
 * `prefetch_input`, each block asks for the input the next block adds (direct_block);
 * the lines of `out_prefetch` (the output row, to write) are spread over the blocks. */
INLINE void PYX_FN(direct_row_pass)(
    const int R, const int NV, const pyx_conv_shape *s,
    const T *x_row, const T *w, const T *bias, T *out_row, ptrdiff_t fb,
    int prefetch_input, const char *out_prefetch, ptrdiff_t out_prefetch_bytes,
    ptrdiff_t i0, ptrdiff_t i1)
{
    const ptrdiff_t C = s->channels, F = s->filters;
    const int dilated = s->dilation_w > 1 && s->kw > 1;
    const ptrdiff_t runs = dilated ? s->kw : 1, run = dilated ? C : s->kw * C;
    const ptrdiff_t run_step = s->dilation_w * C, step = s->stride_w * C;
    const ptrdiff_t xrs = s->dilation_h * s->in_w * C;
    const ptrdiff_t wo = s->out_w, n_valid = F - fb;
    /* kernel rows [i0, i1) only: the others read zero rows (direct_rows) */
    const T *panel = w + s->kh * s->kw * C * fb + i0 * s->kw * C * (ptrdiff_t)NV * LANES;
    const ptrdiff_t panel_width = (ptrdiff_t)NV * LANES;
    const ptrdiff_t n_blocks = (wo + R - 1) / R;
    const ptrdiff_t size = wo / n_blocks, n_larger = wo % n_blocks;
    const ptrdiff_t out_lines = (out_prefetch_bytes + 63) / 64;
#define PYX_DIRECT_AT(RR, OX) \
    PYX_FN(direct_block)((RR), NV, x_row + i0 * xrs + (OX) * step, xrs, runs, run, run_step, \
                         step, panel, i1 - i0, panel_width, bias + fb, out_row + (OX) * F + fb, F, \
                         n_valid, s->clamp, (T)s->clamp_max, pf_lines)
    ptrdiff_t ox = 0;
    for (ptrdiff_t b = 0; b < n_blocks; b++) {
        const ptrdiff_t rr = size + (b < n_larger);
        /* the lines of the rr pixels' new input under a kernel row: about the next
         * block's (the last block's next is the start of the next row) */
        const ptrdiff_t pf_lines =
            prefetch_input ? (rr * step * (ptrdiff_t)sizeof(T) + 63) / 64 : 0;
        for (ptrdiff_t l = out_lines * b / n_blocks; l < out_lines * (b + 1) / n_blocks; l++)
            __builtin_prefetch(out_prefetch + 64 * l, 1, 3);
        switch (rr) {
        PYX_DIRECT_CASE(1, R) PYX_DIRECT_CASE(2, R) PYX_DIRECT_CASE(3, R)
        PYX_DIRECT_CASE(4, R) PYX_DIRECT_CASE(5, R) PYX_DIRECT_CASE(6, R)
        PYX_DIRECT_CASE(7, R) PYX_DIRECT_CASE(8, R) PYX_DIRECT_CASE(9, R)
        PYX_DIRECT_CASE(10, R) PYX_DIRECT_CASE(11, R) PYX_DIRECT_CASE(12, R)
        default: break;
        }
        ox += rr;
    }
#undef PYX_DIRECT_AT
}
#undef PYX_DIRECT_CASE

/* The kernel rows [*i0, *i1) of output row oy whose input rows are not among the zero
 * rows of the shape (s->zero_top, s->zero_bottom): the others add products of zeros
 * only, left out (an empty range: the output is the bias). Leaving them out keeps the
 * order of the other products, so the sums are the same; only the sign of a zero sum
 * (+0.0 added to -0.0) and an infinite filter value (0 * inf) could tell. A 3x3
 * convolution of 'same' padding on 16x16 maps skips 1/24 of its products this way. */
INLINE void PYX_FN(direct_kernel_rows)(const pyx_conv_shape *s, ptrdiff_t oy, ptrdiff_t *i0,
                                       ptrdiff_t *i1)
{
    const ptrdiff_t first = oy * s->stride_h, dh = s->dilation_h;
    ptrdiff_t lo = 0, hi = s->kh;
    if (s->zero_top > first)
        lo = (s->zero_top - first + dh - 1) / dh;
    const ptrdiff_t last_data = s->in_h - s->zero_bottom - 1;   /* last row with data */
    if (last_data < first)
        hi = 0;
    else if ((last_data - first) / dh + 1 < hi)
        hi = (last_data - first) / dh + 1;
    if (lo > hi)
        lo = hi;
    *i0 = lo;
    *i1 = hi;
}

/* Output rows [row_begin, row_end), panels [p0, p1) of the filters (pyx_conv_direct_panel()
 * cuts them): each panel in turn computes the rows (the runner, pyx_conv_rows_*(), gives
 * a tile of rows at a time, which stays in cache from one panel to the next). */
__attribute__((unused)) static void PYX_FN(direct_rows)(
    const pyx_conv_shape *s, const T *x, const T *w, const T *bias, T *out,
    ptrdiff_t row_begin, ptrdiff_t row_end, ptrdiff_t p0, ptrdiff_t p1)
{
    const ptrdiff_t n_vec = s->filters_padded / LANES;
    const ptrdiff_t n_panels = pyx_conv_direct_panel_count(n_vec);
    ptrdiff_t nv;
    /* every panel of a row here, more than one: the first panel's pass over a row also
     * asks for the whole output row, to write (prefetchw), while the later panels' lines
     * are still far from being written. Without it each panel's pass waits on its own
     * lines of the row in turn, spread F values apart: MobileNetV2's expansion layers
     * (1x1, 64 images, 8x8x64 -> 384, 16x16x32 -> 192, with a ReLU6) ran 18-43 % and
     * 25-38 % faster with it, the same values (AVX2, one AMD EPYC core). */
    const int whole_rows = p0 == 0 && p1 >= n_panels && n_panels > 1;
    for (ptrdiff_t v = 0, p = 0; v < n_vec && p < p1; v += nv, p++) {
        nv = pyx_conv_direct_panel(n_vec - v);
        if (p < p0)
            continue;
        /* the first panel's pass brings the input in: it asks for it a block ahead
         * (the later panels find it in cache: asking again measured no faster) */
        const int prefetch_input = p == p0;
        for (ptrdiff_t r = row_begin; r < row_end; r++) {
            const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
            const T *x_row = x + ((n * s->in_h + oy * s->stride_h) * s->in_w) * s->channels;
            T *out_row = out + r * s->out_w * s->filters;
            const char *out_next = NULL;
            ptrdiff_t out_bytes = 0;
            if (p == p0 && whole_rows) {
                out_next = (const char *)out_row;
                out_bytes = s->out_w * s->filters * (ptrdiff_t)sizeof(T);
            }
            ptrdiff_t i0, i1;
            PYX_FN(direct_kernel_rows)(s, oy, &i0, &i1);
            if (nv == 4)
                PYX_FN(direct_row_pass)(DIRECT_R4, 4, s, x_row, w, bias, out_row, v * LANES,
                                        prefetch_input, out_next, out_bytes, i0, i1);
            else if (nv == 2)
                PYX_FN(direct_row_pass)(DIRECT_R2, 2, s, x_row, w, bias, out_row, v * LANES,
                                        prefetch_input, out_next, out_bytes, i0, i1);
            else
                PYX_FN(direct_row_pass)(DIRECT_R1, 1, s, x_row, w, bias, out_row, v * LANES,
                                        prefetch_input, out_next, out_bytes, i0, i1);
        }
    }
}

#if PYX_PAIRS
/* dst[0 .. n) = lanes first .. first + n of v, for 1 <= n <= 8: copies of a size known
 * at compile time (a loop of variable length would become a call to memcpy). */
INLINE void PYX_FN(store_lanes)(T *dst, V v, int first, ptrdiff_t n)
{
    switch (n) {
#define PYX_STORE_CASE(K) \
    case K: for (int l = 0; l < K; l++) dst[l] = v[first + l]; return;
    PYX_STORE_CASE(1) PYX_STORE_CASE(2) PYX_STORE_CASE(3) PYX_STORE_CASE(4)
    PYX_STORE_CASE(5) PYX_STORE_CASE(6) PYX_STORE_CASE(7) PYX_STORE_CASE(8)
#undef PYX_STORE_CASE
    default: return;
    }
}

/* Paired direct kernel (64-byte registers of float, one input channel, strides 1,
 * 5 <= F <= 8): a register holds two neighbouring output pixels x 8 filters. The two
 * input values under pixels ox and ox+1 are neighbours in memory, so one 64-bit
 * broadcast puts them in alternate lanes (lane 2f + p: pixel ox + p, filter f), and
 * the weights come with each filter twice: w (kh, kw, 16), bias (16,). The sums run
 * in the same order as the other kernels'. */
#define PAIR_MAX_R 16
typedef double PYX_FN(pairvec) __attribute__((vector_size(64)));
typedef int PYX_FN(lanevec) __attribute__((vector_size(64)));
typedef double PYX_FN(pairword) __attribute__((aligned(4), __may_alias__));

INLINE void PYX_FN(pair_block)(
    const int R, const int Q, const T *x_win, ptrdiff_t x_row_stride, ptrdiff_t in_w,
    ptrdiff_t kw, ptrdiff_t dw, const T *w, ptrdiff_t kh, const T *bias, T *out_px,
    ptrdiff_t out_row, ptrdiff_t filters, int clamp, T clamp_max)
{
    /* R pairs of each of Q output rows, one under the other (row q's windows start
     * in_w values after row q-1's; its output out_row values after) */
    V acc[PAIR_MAX_R];
#pragma GCC unroll 16
    for (int a = 0; a < R * Q; a++)
        acc[a] = LOADU(bias);
    for (ptrdiff_t i = 0; i < kh; i++) {
        const T *xi = x_win + i * x_row_stride;
        const T *wi = w + i * kw * 16;
        for (ptrdiff_t k = 0; k < kw; k++) {
            const V wv = LOADU(wi + k * 16);
#pragma GCC unroll 16
            for (int a = 0; a < R * Q; a++) {
                /* the bits of x[2r + k*dw] and the value after it (not a number): moved, never
                 * computed with, so they reach the lanes unchanged */
                const double pair =
                    *(const PYX_FN(pairword) *)(xi + (a / R) * in_w + 2 * (a % R) + k * dw);
                const PYX_FN(pairvec) b = {pair, pair, pair, pair, pair, pair, pair, pair};
                acc[a] += (V)b * wv;
            }
        }
    }
    const PYX_FN(lanevec) unpair = {0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15};
    const V m = clamp_max - (V){0};
#pragma GCC unroll 16
    for (int a = 0; a < R * Q; a++) {
        V o = __builtin_shuffle(acc[a], unpair);   /* pixel 2r: 0..7, 2r+1: 8..15 */
        T *out_pair = out_px + (a / R) * out_row + 2 * (a % R) * filters;
        if (clamp)
            PYX_CLAMP_REGISTER(o, m, PYX_FN(ivec));
        if (filters == 8) {
            STOREU(out_pair, o);
        } else {
            PYX_FN(store_lanes)(out_pair, o, 0, filters);
            PYX_FN(store_lanes)(out_pair + filters, o, 8, filters);
        }
    }
}

/* Pair blocks of 1 .. PAIR_MAX_R pairs of one row, the count known at compile time. */
static void PYX_FN(pair_block_n)(
    int R, const T *x_win, ptrdiff_t x_row_stride, ptrdiff_t kw, ptrdiff_t dw, const T *w,
    ptrdiff_t kh, const T *bias, T *out_px, ptrdiff_t filters, int clamp, T clamp_max)
{
    switch (R) {
#define PYX_PAIR_CASE(RR)                                                                   \
    case RR: PYX_FN(pair_block)(RR, 1, x_win, x_row_stride, 0, kw, dw, w, kh, bias, out_px, \
                                0, filters, clamp, clamp_max);                              \
        return;
    PYX_PAIR_CASE(1) PYX_PAIR_CASE(2) PYX_PAIR_CASE(3) PYX_PAIR_CASE(4)
    PYX_PAIR_CASE(5) PYX_PAIR_CASE(6) PYX_PAIR_CASE(7) PYX_PAIR_CASE(8)
    PYX_PAIR_CASE(9) PYX_PAIR_CASE(10) PYX_PAIR_CASE(11) PYX_PAIR_CASE(12)
    PYX_PAIR_CASE(13) PYX_PAIR_CASE(14) PYX_PAIR_CASE(15) PYX_PAIR_CASE(16)
#undef PYX_PAIR_CASE
    default: return;
    }
}

/* Rows of 1 to 4 pairs (maps 2 to 9 pixels wide) are run PAIR_ROWS(R) rows at a time,
 * so that a block has 8 or 9 sums in flight, not R, each waiting on the multiply-add
 * latency: the digits network's 6-pixel rows, 3 pairs, 3 rows at a time (the same sums
 * in the same order: the same values). */
#define PAIR_ROWS_MAX_R 4
#define PAIR_ROWS(R) ((8 + (R) - 1) / (R))

static void PYX_FN(pair_block_rows)(
    int R, const T *x_win, ptrdiff_t x_row_stride, ptrdiff_t in_w, ptrdiff_t kw, ptrdiff_t dw,
    const T *w, ptrdiff_t kh, const T *bias, T *out_px, ptrdiff_t out_row, ptrdiff_t filters,
    int clamp, T clamp_max)
{
    switch (R) {
#define PYX_PAIR_ROWS_CASE(RR)                                                               \
    case RR: PYX_FN(pair_block)(RR, PAIR_ROWS(RR), x_win, x_row_stride, in_w, kw, dw, w, kh, \
                                bias, out_px, out_row, filters, clamp, clamp_max);           \
        return;
    PYX_PAIR_ROWS_CASE(1) PYX_PAIR_ROWS_CASE(2) PYX_PAIR_ROWS_CASE(3) PYX_PAIR_ROWS_CASE(4)
#undef PYX_PAIR_ROWS_CASE
    default: return;
    }
}

/* A row's first 2 * (wo / 2) pixels are cut into as few blocks of at most PAIR_MAX_R
 * pairs as possible, of equal sizes (a block of fewer than 8 pairs waits on the
 * multiply-add latency); with an odd width, one more pair ends at the last pixel,
 * overlapping its neighbour (identical values). */
__attribute__((unused)) static void PYX_FN(pair_rows)(
    const pyx_conv_shape *s, const T *x, const T *w, const T *bias, T *out,
    ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t wo = s->out_w, F = s->filters, xrs = s->dilation_h * s->in_w;
    const ptrdiff_t n_pairs = wo / 2;
    const ptrdiff_t n_blocks = (n_pairs + PAIR_MAX_R - 1) / PAIR_MAX_R;
    const ptrdiff_t group = n_pairs >= 1 && n_pairs <= PAIR_ROWS_MAX_R ? PAIR_ROWS(n_pairs) : 1;
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
        const T *x_row = x + (n * s->in_h + oy) * s->in_w;
        T *out_row = out + r * wo * F;
        ptrdiff_t ox = 0, done = 0;
        if (group > 1 && r + group <= row_end && oy + group <= s->out_h) {
            /* `group` rows of this image together (their odd-width last pairs below) */
            PYX_FN(pair_block_rows)((int)n_pairs, x_row, xrs, s->in_w, s->kw, s->dilation_w,
                                    w, s->kh, bias, out_row, wo * F, F, s->clamp,
                                    (T)s->clamp_max);
            for (ptrdiff_t q = 0; q < group && 2 * n_pairs < wo; q++)
                PYX_FN(pair_block_n)(1, x_row + q * s->in_w + wo - 2, xrs, s->kw,
                                     s->dilation_w, w, s->kh, bias,
                                     out_row + q * wo * F + (wo - 2) * F, F, s->clamp,
                                     (T)s->clamp_max);
            r += group - 1;
            continue;
        }
        for (ptrdiff_t b = 0; b < n_blocks; b++) {
            const ptrdiff_t R = (n_pairs - done) / (n_blocks - b);
            PYX_FN(pair_block_n)((int)R, x_row + ox, xrs, s->kw, s->dilation_w, w, s->kh, bias,
                                 out_row + ox * F, F, s->clamp, (T)s->clamp_max);
            ox += 2 * R;
            done += R;
        }
        if (ox < wo)
            PYX_FN(pair_block_n)(1, x_row + wo - 2, xrs, s->kw, s->dilation_w, w, s->kh, bias,
                                 out_row + (wo - 2) * F, F, s->clamp, (T)s->clamp_max);
    }
}

/* Tap-paired direct kernel (64-byte registers of float, F <= 8, windows whose runs have
 * an even length): a register holds two neighbouring taps x 8 filters. The two input
 * values of taps k and k+1 of a run are neighbours in memory, so one 64-bit broadcast
 * puts them in alternate lanes, and the weights come interleaved: w2 (kh, kw*C/2, 16),
 * lane 2f + q holding w[i, k + q, f]. Lane 2f + q sums filter f over the taps of parity
 * q (the bias, in bias2's even lanes, starts the even sum); the two sums are added when
 * stored. Every output value is computed in the same order whatever its block. */
INLINE void PYX_FN(tappair_block)(
    const int R, const T *x_win, ptrdiff_t x_row_stride, ptrdiff_t runs, ptrdiff_t run,
    ptrdiff_t run_step, ptrdiff_t step, const T *w2, ptrdiff_t kh, const T *bias2,
    T *out_px, ptrdiff_t filters, int clamp, T clamp_max)
{
    V acc[PAIR_MAX_R];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        acc[r] = LOADU(bias2);
    for (ptrdiff_t i = 0; i < kh; i++)
        for (ptrdiff_t jr = 0; jr < runs; jr++) {
            const T *xi = x_win + i * x_row_stride + jr * run_step;
            const T *wi = w2 + (i * runs + jr) * run * 8;
            for (ptrdiff_t k = 0; k < run; k += 2) {
                const V wv = LOADU(wi + k * 8);
#pragma GCC unroll 16
                for (int r = 0; r < R; r++) {
                    /* the bits of x[k] and x[k + 1] under pixel r: moved, never computed
                     * with, so they reach the lanes unchanged */
                    const double pair = *(const PYX_FN(pairword) *)(xi + r * step + k);
                    const PYX_FN(pairvec) b = {pair, pair, pair, pair, pair, pair, pair, pair};
                    acc[r] += (V)b * wv;
                }
            }
        }
    /* lanes 0..7: filter f's even-tap sum plus its odd-tap sum */
    const PYX_FN(lanevec) even = {0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14};
    const PYX_FN(lanevec) odd = {1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15};
    const V m = clamp_max - (V){0};
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        V sum = __builtin_shuffle(acc[r], even) + __builtin_shuffle(acc[r], odd);
        if (clamp)
            PYX_CLAMP_REGISTER(sum, m, PYX_FN(ivec));
        PYX_FN(store_lanes)(out_px + r * filters, sum, 0, filters);
    }
}

static void PYX_FN(tappair_block_n)(
    int R, const T *x_win, ptrdiff_t x_row_stride, ptrdiff_t runs, ptrdiff_t run,
    ptrdiff_t run_step, ptrdiff_t step, const T *w2, ptrdiff_t kh, const T *bias2,
    T *out_px, ptrdiff_t filters, int clamp, T clamp_max)
{
    switch (R) {
#define PYX_TAPPAIR_CASE(RR)                                                                \
    case RR: PYX_FN(tappair_block)(RR, x_win, x_row_stride, runs, run, run_step, step, w2, \
                                   kh, bias2, out_px, filters, clamp, clamp_max);          \
        return;
    PYX_TAPPAIR_CASE(1) PYX_TAPPAIR_CASE(2) PYX_TAPPAIR_CASE(3) PYX_TAPPAIR_CASE(4)
    PYX_TAPPAIR_CASE(5) PYX_TAPPAIR_CASE(6) PYX_TAPPAIR_CASE(7) PYX_TAPPAIR_CASE(8)
    PYX_TAPPAIR_CASE(9) PYX_TAPPAIR_CASE(10) PYX_TAPPAIR_CASE(11) PYX_TAPPAIR_CASE(12)
    PYX_TAPPAIR_CASE(13) PYX_TAPPAIR_CASE(14) PYX_TAPPAIR_CASE(15) PYX_TAPPAIR_CASE(16)
#undef PYX_TAPPAIR_CASE
    default: return;
    }
}

/* A row cut into as few blocks of at most PAIR_MAX_R pixels as possible, of equal sizes. */
__attribute__((unused)) static void PYX_FN(tappair_rows)(
    const pyx_conv_shape *s, const T *x, const T *w2, const T *bias2, T *out,
    ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t C = s->channels, wo = s->out_w, F = s->filters;
    const int dilated = s->dilation_w > 1 && s->kw > 1;
    const ptrdiff_t runs = dilated ? s->kw : 1, run = dilated ? C : s->kw * C;
    const ptrdiff_t run_step = s->dilation_w * C, step = s->stride_w * C;
    const ptrdiff_t xrs = s->dilation_h * s->in_w * C;
    const ptrdiff_t n_blocks = (wo + PAIR_MAX_R - 1) / PAIR_MAX_R;
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
        const T *x_row = x + ((n * s->in_h + oy * s->stride_h) * s->in_w) * C;
        T *out_row = out + r * wo * F;
        ptrdiff_t ox = 0;
        for (ptrdiff_t b = 0; b < n_blocks; b++) {
            const ptrdiff_t R = (wo - ox) / (n_blocks - b);
            PYX_FN(tappair_block_n)((int)R, x_row + ox * step, xrs, runs, run, run_step, step,
                                    w2, s->kh, bias2, out_row + ox * F, F, s->clamp,
                                    (T)s->clamp_max);
            ox += R;
        }
    }
}
#undef PAIR_MAX_R
#endif

/* Planar (strides 1): accumulators per block, FN filters x NB registers of columns
 * (FN up to PYX_CONV_PLANAR_WIDE_FILTERS). */
#define PLANAR_MAX_NB 8

INLINE V PYX_FN(splat)(T a)
{
    return a - (V){0};   /* a - 0 == a for every a, -0.0 and NaN included */
}

/* 5 or 6 filters on registers of 8 float32 pixels: the FN x 8 block of each register
 * is transposed in registers (the 8x8 transpose of AVX's unpack / shuffle / 128-bit
 * permute steps, filters past FN zero) into 8 pixels of 8 values, and each pixel is
 * stored whole, its values past FN falling on the next pixel's, which is stored after
 * it; the block's last pixel is stored value by value. */
#if PYX_VB == 32 && !PYX_DOUBLE
#define PLANAR_TRANSPOSE_8 1
INLINE void PYX_FN(planar_store_8x8)(const int FN, const int NB,
                                     V acc[PYX_CONV_PLANAR_WIDE_FILTERS][PLANAR_MAX_NB],
                                     T *out)
{
    const PYX_FN(ivec) lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
    const PYX_FN(ivec) even = {0, 1, 8, 9, 4, 5, 12, 13}, odd = {2, 3, 10, 11, 6, 7, 14, 15};
    const PYX_FN(ivec) first = {0, 1, 2, 3, 8, 9, 10, 11}, second = {4, 5, 6, 7, 12, 13, 14, 15};
#pragma GCC unroll 8
    for (int b_ = 0; b_ < NB; b_++) {
        V r[8], t[8], u[8], px[8];
#pragma GCC unroll 8
        for (int f = 0; f < 8; f++)
            r[f] = f < FN ? acc[f][b_] : (V){0};
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {          /* pairs of filters, interleaved */
            t[2 * k] = __builtin_shuffle(r[2 * k], r[2 * k + 1], lo);
            t[2 * k + 1] = __builtin_shuffle(r[2 * k], r[2 * k + 1], hi);
        }
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {          /* fours of filters: pixels (p, p + 4) */
            u[4 * k + 0] = __builtin_shuffle(t[4 * k + 0], t[4 * k + 2], even);
            u[4 * k + 1] = __builtin_shuffle(t[4 * k + 0], t[4 * k + 2], odd);
            u[4 * k + 2] = __builtin_shuffle(t[4 * k + 1], t[4 * k + 3], even);
            u[4 * k + 3] = __builtin_shuffle(t[4 * k + 1], t[4 * k + 3], odd);
        }
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) {          /* filters 0-3 and 4-7 of a pixel joined */
            px[p] = __builtin_shuffle(u[p], u[p + 4], first);
            px[p + 4] = __builtin_shuffle(u[p], u[p + 4], second);
        }
        T *o = out + b_ * 8 * FN;
#pragma GCC unroll 7
        for (int p = 0; p < 7; p++)
            STOREU(o + p * FN, px[p]);
#pragma GCC unroll 8
        for (int f = 0; f < FN; f++)
            o[7 * FN + f] = px[7][f];
    }
}
#else
#define PLANAR_TRANSPOSE_8 0
#endif

/* Output columns [ox, ox + NB*LANES) of one row for all FN filters. x_row points at
 * channel 0, input row oy, column 0 of the planar input. */
INLINE void PYX_FN(planar_block)(
    const int FN, const int NB, const pyx_conv_shape *s,
    const T *x_row, ptrdiff_t plane, const T *w, const T *bias, T *out_row, ptrdiff_t ox)
{
    const ptrdiff_t C = s->channels, run = s->kw * C, in_w = s->in_w;
    const ptrdiff_t dh = s->dilation_h, dw = s->dilation_w;
    V acc[PYX_CONV_PLANAR_WIDE_FILTERS][PLANAR_MAX_NB];
#pragma GCC unroll 8
    for (int f = 0; f < FN; f++) {
        const V b = PYX_FN(splat)(bias[f]);
#pragma GCC unroll 8
        for (int b_ = 0; b_ < NB; b_++)
            acc[f][b_] = b;
    }
    for (ptrdiff_t i = 0; i < s->kh; i++) {
        for (ptrdiff_t j = 0; j < s->kw; j++) {
            for (ptrdiff_t c = 0; c < C; c++) {
                const T *xp = x_row + c * plane + i * dh * in_w + ox + j * dw;
                const T *wp = w + (i * run + j * C + c) * FN;
                V xv[PLANAR_MAX_NB];
#pragma GCC unroll 8
                for (int b_ = 0; b_ < NB; b_++) {
                    xv[b_] = LOADU(xp + b_ * LANES);
                    PYX_IN_REGISTER(xv[b_]);
                }
#pragma GCC unroll 8
                for (int f = 0; f < FN; f++) {
                    const T wf = wp[f];
#pragma GCC unroll 8
                    for (int b_ = 0; b_ < NB; b_++)
                        acc[f][b_] += wf * xv[b_];
                }
            }
        }
    }
    if (s->clamp) {
        const V m = PYX_FN(splat)((T)s->clamp_max);
#pragma GCC unroll 8
        for (int f = 0; f < FN; f++)
#pragma GCC unroll 8
            for (int b_ = 0; b_ < NB; b_++)
                PYX_CLAMP_REGISTER(acc[f][b_], m, PYX_FN(ivec));
    }
    if (FN == 1) {
#pragma GCC unroll 8
        for (int b_ = 0; b_ < NB; b_++)
            STOREU(out_row + ox + b_ * LANES, acc[0][b_]);
    } else if (FN == 2) {
        /* (filter 0, filter 1) pairs: two interleaving shuffles, two whole stores */
        PYX_FN(ivec) lo, hi;
        for (int k = 0; k < LANES; k++) {
            lo[k] = (k % 2) * LANES + k / 2;
            hi[k] = (k % 2) * LANES + LANES / 2 + k / 2;
        }
#pragma GCC unroll 8
        for (int b_ = 0; b_ < NB; b_++) {
            STOREU(out_row + (ox + b_ * LANES) * 2, __builtin_shuffle(acc[0][b_], acc[1][b_], lo));
            STOREU(out_row + (ox + b_ * LANES) * 2 + LANES,
                   __builtin_shuffle(acc[0][b_], acc[1][b_], hi));
        }
#if PLANAR_TRANSPOSE_8
    } else if (FN > 4) {
        PYX_FN(planar_store_8x8)(FN, NB, acc, out_row + ox * FN);
#endif
    } else {
#pragma GCC unroll 8
        for (int b_ = 0; b_ < NB; b_++) {
            /* the lanes through a copy of their own, as in direct_block */
            T lanes[PYX_CONV_PLANAR_WIDE_FILTERS][LANES];
#pragma GCC unroll 8
            for (int f = 0; f < FN; f++)
                STOREU(lanes[f], acc[f][b_]);
            for (int l = 0; l < LANES; l++)
#pragma GCC unroll 8
                for (int f = 0; f < FN; f++)
                    out_row[(ox + b_ * LANES + l) * FN + f] = lanes[f][l];
        }
    }
}

/* Scalar fallback for rows narrower than one register; same order of operations. */
INLINE void PYX_FN(planar_pixel)(
    const int FN, const pyx_conv_shape *s,
    const T *x_row, ptrdiff_t plane, const T *w, const T *bias, T *out_row, ptrdiff_t ox)
{
    const ptrdiff_t C = s->channels, run = s->kw * C, in_w = s->in_w;
    const ptrdiff_t dh = s->dilation_h, dw = s->dilation_w;
    for (int f = 0; f < FN; f++) {
        T acc = bias[f];
        for (ptrdiff_t i = 0; i < s->kh; i++)
            for (ptrdiff_t j = 0; j < s->kw; j++)
                for (ptrdiff_t c = 0; c < C; c++)
                    acc += w[(i * run + j * C + c) * FN + f]
                           * x_row[c * plane + i * dh * in_w + ox + j * dw];
        if (s->clamp)
            acc = PYX_CLAMP_VALUE(acc, (T)s->clamp_max, T);
        out_row[ox * FN + f] = acc;
    }
}

INLINE void PYX_FN(planar_row)(
    const int FN, const int NB, const pyx_conv_shape *s,
    const T *x_row, ptrdiff_t plane, const T *w, const T *bias, T *out_row)
{
    const ptrdiff_t wo = s->out_w;
    ptrdiff_t ox = 0;
    for (; ox + NB * LANES <= wo; ox += NB * LANES)
        PYX_FN(planar_block)(FN, NB, s, x_row, plane, w, bias, out_row, ox);
    if (ox < wo && ox > 0) {
        /* the rest: one whole block overlapping its left neighbour (identical values),
         * rather than single registers that would wait on the multiply-add latency */
        PYX_FN(planar_block)(FN, NB, s, x_row, plane, w, bias, out_row, wo - NB * LANES);
        ox = wo;
    }
    for (; ox + LANES <= wo; ox += LANES)
        PYX_FN(planar_block)(FN, 1, s, x_row, plane, w, bias, out_row, ox);
    if (ox < wo) {
        if (wo >= LANES) {
            PYX_FN(planar_block)(FN, 1, s, x_row, plane, w, bias, out_row, wo - LANES);
        } else {
            for (; ox < wo; ox++)
                PYX_FN(planar_pixel)(FN, s, x_row, plane, w, bias, out_row, ox);
        }
    }
}

/* At least 8 independent sums per block where the registers allow (the multiply-add
 * latency times the two FMA ports). */
#if PYX_REGS >= 32
#define PLANAR_NB(FN) ((FN) == 1 ? 8 : (FN) <= 4 ? 4 : 2)
#else
#define PLANAR_NB(FN) ((FN) == 1 ? 8 : (FN) == 2 ? 4 : 2)
#endif

__attribute__((unused)) static void PYX_FN(planar_rows)(
    const pyx_conv_shape *s, const T *x_planar, const T *w, const T *bias, T *out,
    ptrdiff_t row_begin, ptrdiff_t row_end)
{
    const ptrdiff_t plane = s->in_h * s->in_w;
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
        const T *x_row = x_planar + n * s->channels * plane + oy * s->in_w;
        T *out_row = out + r * s->out_w * s->filters;
        switch (s->filters) {
        case 1: PYX_FN(planar_row)(1, PLANAR_NB(1), s, x_row, plane, w, bias, out_row); break;
        case 2: PYX_FN(planar_row)(2, PLANAR_NB(2), s, x_row, plane, w, bias, out_row); break;
        case 3: PYX_FN(planar_row)(3, PLANAR_NB(3), s, x_row, plane, w, bias, out_row); break;
        case 4: PYX_FN(planar_row)(4, PLANAR_NB(4), s, x_row, plane, w, bias, out_row); break;
        case 5: PYX_FN(planar_row)(5, PLANAR_NB(5), s, x_row, plane, w, bias, out_row); break;
        default: PYX_FN(planar_row)(6, PLANAR_NB(6), s, x_row, plane, w, bias, out_row); break;
        }
    }
}

/* Filter gradient (direct, "filters innermost"): for kernel row i and the samples
 * [n0, n1),
 *
 *     part[i, j*C + c, f] = sum_{n, oy, ox} x[n, oy*sh + i*dh, ox*sw + j*dw, c] * g[n, oy, ox, f]
 *
 * (g: (N, Ho, Wo, F), read as grad_rows below; part: (kh, kw*C, Fp), the filter axis
 * padded to whole registers, its values past F dropped by the caller). A block of RB kernel rows x TB taps (consecutive values of one run of the
 * window) times NV registers of filters accumulates in registers over the pixels, in
 * pixel order: each pixel adds the outer product of the RB x TB input values and the
 * pixel's NV registers of output gradients. Usually RB = 1 and a run of more than
 * TB taps is cut into blocks of equal sizes. With 16 registers, NV = 2 where the
 * filters allow: each input value broadcast then feeds two multiply-adds (one each
 * with 32 registers, where the multiply-add takes its broadcast from memory). Short
 * runs (a window row of a few values: the first layer of a network, one or two
 * channels) give one kernel row too few accumulators (five for a 5x5 filter of one
 * channel) to keep the multiply-add units busy, so a block then takes RB kernel rows x
 * the whole run. The pixels are taken a tile of output rows at a time (WGRAD_TILE_BYTES
 * of input and gradient, so they stay in cache while every block of the tile reads
 * them), each block adding the tile's pixels to its sums so far. Every accumulator sums
 * the same pixels in the same order whatever the block or the tile: the values do not
 * depend on them. */

/* The output gradient g (N, Ho, Wo, F) as the filter gradient reads it: a register of
 * filters f0 .. f0 + LANES - 1 is loaded whole from each pixel, so past F (when F is not
 * a whole number of registers) it reads the following values, the next pixels', whose
 * products land in the padding of part and are dropped. The batch's last rows, whose
 * loads would run past the array, are read from `tail` instead: a copy of the rows from
 * `tail_begin` on, with zeros after them. */
typedef struct {
    const T *data, *tail;
    ptrdiff_t tail_begin;
} PYX_FN(grad_rows);

INLINE const T *PYX_FN(grad_row)(const pyx_conv_shape *s, const PYX_FN(grad_rows) *g,
                                 ptrdiff_t q)
{
    const ptrdiff_t row = s->out_w * s->filters;
    return q >= g->tail_begin ? g->tail + (q - g->tail_begin) * row : g->data + q * row;
}

#if PYX_REGS >= 32
#define WGRAD_MAX_TB 16
#define WGRAD_MAX_ACC 25
#define WGRAD_NV 1
#else
#define WGRAD_MAX_TB 12
#define WGRAD_MAX_ACC 12
#define WGRAD_NV 2
#endif
#define WGRAD_SHORT_RUN 8       /* runs of at most this many taps take several rows */
#define WGRAD_MAX_RB 5
/* about an L1 data cache: 24-96 KB tiles were measured, 32 KB was best or near it */
#define WGRAD_TILE_BYTES (32 * 1024)

/* The block whose first tap is x_offset values into a window (kernel rows krs values
 * apart in x), over the output rows [q0, q1) of the batch (row q = n * Ho + oy), added
 * to part_block's values (`add`) or written there (its kernel rows part_rs values
 * apart). */
INLINE void PYX_FN(wgrad_block)(
    const int RB, const int TB, const int NV, const pyx_conv_shape *s, const T *x,
    const PYX_FN(grad_rows) *g, ptrdiff_t q0, ptrdiff_t q1, int add, ptrdiff_t x_offset,
    ptrdiff_t f0, T *part_block, ptrdiff_t part_rs)
{
    const ptrdiff_t fp = s->filters_padded, F = s->filters;
    const ptrdiff_t xrs = s->in_w * s->channels, step = s->stride_w * s->channels;
    const ptrdiff_t krs = s->dilation_h * xrs;          /* from one kernel row to the next */
    V acc[WGRAD_MAX_ACC > WGRAD_MAX_TB ? WGRAD_MAX_ACC : WGRAD_MAX_TB][WGRAD_NV];
#pragma GCC unroll 5
    for (int r = 0; r < RB; r++)
#pragma GCC unroll 16
        for (int t = 0; t < TB; t++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                if (add)
                    acc[r * TB + t][v] = LOADU(part_block + r * part_rs + t * fp + f0
                                               + v * LANES);
                else
                    acc[r * TB + t][v] = (V){0};
    for (ptrdiff_t q = q0; q < q1; q++) {
        const ptrdiff_t n = q / s->out_h, oy = q - n * s->out_h;
        const T *xr = x + (n * s->in_h + oy * s->stride_h) * xrs + x_offset;
        const T *gr = PYX_FN(grad_row)(s, g, q) + f0;
        for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
            V gv[WGRAD_NV];
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                gv[v] = LOADU(gr + ox * F + v * LANES);
            const T *xp = xr + ox * step;
#pragma GCC unroll 5
            for (int r = 0; r < RB; r++)
#pragma GCC unroll 16
                for (int t = 0; t < TB; t++) {
                    const T xs = xp[r * krs + t];
#pragma GCC unroll 2
                    for (int v = 0; v < NV; v++)
                        acc[r * TB + t][v] += xs * gv[v];
                }
        }
    }
#pragma GCC unroll 5
    for (int r = 0; r < RB; r++)
#pragma GCC unroll 16
        for (int t = 0; t < TB; t++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                STOREU(part_block + r * part_rs + t * fp + f0 + v * LANES, acc[r * TB + t][v]);
}

/* One kernel row, TB taps x NV registers of filters (TB * NV at most the larger of
 * WGRAD_MAX_TB and WGRAD_MAX_ACC; both known at compile time). */
static void PYX_FN(wgrad_block_n)(
    int NV, int TB, const pyx_conv_shape *s, const T *x, const PYX_FN(grad_rows) *g,
    ptrdiff_t q0, ptrdiff_t q1, int add, ptrdiff_t x_offset, ptrdiff_t f0, T *part_block)
{
    switch (NV * 32 + TB) {
#define PYX_WGRAD_CASE(NV_, K)                                                              \
    case (NV_) * 32 + (K):                                                                  \
        if ((NV_) <= WGRAD_NV)                                                              \
            PYX_FN(wgrad_block)(1, K, NV_, s, x, g, q0, q1, add, x_offset, f0, part_block, 0); \
        return;
    PYX_WGRAD_CASE(1, 1) PYX_WGRAD_CASE(1, 2) PYX_WGRAD_CASE(1, 3) PYX_WGRAD_CASE(1, 4)
    PYX_WGRAD_CASE(1, 5) PYX_WGRAD_CASE(1, 6) PYX_WGRAD_CASE(1, 7) PYX_WGRAD_CASE(1, 8)
    PYX_WGRAD_CASE(1, 9) PYX_WGRAD_CASE(1, 10) PYX_WGRAD_CASE(1, 11) PYX_WGRAD_CASE(1, 12)
#if WGRAD_MAX_TB > 12
    PYX_WGRAD_CASE(1, 13) PYX_WGRAD_CASE(1, 14) PYX_WGRAD_CASE(1, 15) PYX_WGRAD_CASE(1, 16)
#endif
#if WGRAD_NV > 1
    PYX_WGRAD_CASE(2, 1) PYX_WGRAD_CASE(2, 2) PYX_WGRAD_CASE(2, 3) PYX_WGRAD_CASE(2, 4)
    PYX_WGRAD_CASE(2, 5) PYX_WGRAD_CASE(2, 6)
#endif
#undef PYX_WGRAD_CASE
    default: return;
    }
}

/* Kernel row i of part (kw*C rows of Fp values) over the output rows [q0, q1). */
static void PYX_FN(wgrad_row)(
    const pyx_conv_shape *s, const T *x, const PYX_FN(grad_rows) *g, T *part, ptrdiff_t q0,
    ptrdiff_t q1, int add, ptrdiff_t i)
{
    const ptrdiff_t C = s->channels, fp = s->filters_padded;
    const int dilated = s->dilation_w > 1 && s->kw > 1;
    const ptrdiff_t runs = dilated ? s->kw : 1, run = dilated ? C : s->kw * C;
    const ptrdiff_t run_step = s->dilation_w * C;
    const ptrdiff_t row_offset = i * s->dilation_h * s->in_w * C;
    T *part_i = part + i * s->kw * C * fp;
    for (ptrdiff_t f0 = 0; f0 < fp;) {
        const int nv = fp - f0 >= WGRAD_NV * LANES ? WGRAD_NV : 1;
        const ptrdiff_t max_tb = nv == 1 ? WGRAD_MAX_TB : WGRAD_MAX_ACC / nv;
        const ptrdiff_t n_blocks = (run + max_tb - 1) / max_tb;
        for (ptrdiff_t jr = 0; jr < runs; jr++) {
            ptrdiff_t k = 0;
            for (ptrdiff_t b = 0; b < n_blocks; b++) {
                const ptrdiff_t tb = (run - k) / (n_blocks - b);
                PYX_FN(wgrad_block_n)(nv, (int)tb, s, x, g, q0, q1, add,
                                      row_offset + jr * run_step + k, f0,
                                      part_i + (jr * run + k) * fp);
                k += tb;
            }
        }
        f0 += nv * LANES;
    }
}

/* Kernel rows per work item for the shape: several for short runs, else 1. */
static ptrdiff_t PYX_FN(wgrad_rows_per_item)(const pyx_conv_shape *s)
{
    const ptrdiff_t run = s->kw * s->channels;
    if ((s->dilation_w > 1 && s->kw > 1) || run > WGRAD_SHORT_RUN)
        return 1;
    const ptrdiff_t rb = WGRAD_MAX_ACC / run;
    return rb < 1 ? 1 : rb > WGRAD_MAX_RB ? WGRAD_MAX_RB : rb;
}

/* Kernel rows [i0, i1) of part over the output rows [q0, q1) (`add`: to the sums so
 * far): blocks of rows for short runs (i1 - i0 at most wgrad_rows_per_item()), else row
 * by row. */
static void PYX_FN(wgrad_tile)(
    const pyx_conv_shape *s, const T *x, const PYX_FN(grad_rows) *g, T *part, ptrdiff_t q0,
    ptrdiff_t q1, int add, ptrdiff_t i0, ptrdiff_t i1)
{
    const ptrdiff_t rb = i1 - i0, tb = s->kw * s->channels, fp = s->filters_padded;
    const ptrdiff_t krs = s->dilation_h * s->in_w * s->channels;
    if (PYX_FN(wgrad_rows_per_item)(s) == 1 || rb < 2 || rb * tb > WGRAD_MAX_ACC) {
        for (ptrdiff_t i = i0; i < i1; i++)
            PYX_FN(wgrad_row)(s, x, g, part, q0, q1, add, i);
        return;
    }
    for (ptrdiff_t f0 = 0; f0 < fp; f0 += LANES) {
        switch (rb * 16 + tb) {
#define PYX_WGRAD_ROWS_CASE(RB, TB)                                                          \
        case (RB) * 16 + (TB):                                                               \
            if ((RB) * (TB) <= WGRAD_MAX_ACC)                                                \
                PYX_FN(wgrad_block)(RB, TB, 1, s, x, g, q0, q1, add, i0 * krs, f0,           \
                                    part + i0 * tb * fp, tb * fp);                           \
            break;
#define PYX_WGRAD_ROWS_TB(RB)                                                                \
        PYX_WGRAD_ROWS_CASE(RB, 1) PYX_WGRAD_ROWS_CASE(RB, 2) PYX_WGRAD_ROWS_CASE(RB, 3)     \
        PYX_WGRAD_ROWS_CASE(RB, 4) PYX_WGRAD_ROWS_CASE(RB, 5) PYX_WGRAD_ROWS_CASE(RB, 6)     \
        PYX_WGRAD_ROWS_CASE(RB, 7) PYX_WGRAD_ROWS_CASE(RB, 8)
        PYX_WGRAD_ROWS_TB(2) PYX_WGRAD_ROWS_TB(3) PYX_WGRAD_ROWS_TB(4) PYX_WGRAD_ROWS_TB(5)
#undef PYX_WGRAD_ROWS_TB
#undef PYX_WGRAD_ROWS_CASE
        default:
            break;
        }
    }
}

/* Kernel rows [i0, i1) of part from samples [n0, n1), a tile of output rows at a
 * time. */
__attribute__((unused)) static void PYX_FN(wgrad_rows)(
    const pyx_conv_shape *s, const T *x, const T *g_data, const T *g_tail,
    ptrdiff_t tail_begin, T *part, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i0, ptrdiff_t i1)
{
    const PYX_FN(grad_rows) g = {g_data, g_tail, tail_begin};
    /* the bytes of one output row: its gradient, and the input rows it reads */
    const ptrdiff_t row_bytes = (ptrdiff_t)sizeof(T)
        * (s->out_w * s->filters + s->stride_h * s->in_w * s->channels);
    const ptrdiff_t tile = row_bytes >= WGRAD_TILE_BYTES ? 1 : WGRAD_TILE_BYTES / row_bytes;
    const ptrdiff_t q_end = n1 * s->out_h;
    for (ptrdiff_t q0 = n0 * s->out_h; q0 < q_end; q0 += tile)
        PYX_FN(wgrad_tile)(s, x, &g, part, q0, q0 + tile < q_end ? q0 + tile : q_end,
                           q0 > n0 * s->out_h, i0, i1);
}
#undef WGRAD_MAX_RB
#undef WGRAD_SHORT_RUN
#undef WGRAD_MAX_ACC
#undef WGRAD_NV
#undef WGRAD_TILE_BYTES

/* bias_part[f] = sum_{n in [n0, n1), oy, ox} g[n, oy, ox, f], in pixel order. */
__attribute__((unused)) static void PYX_FN(wgrad_bias)(
    const pyx_conv_shape *s, const T *g_data, const T *g_tail, ptrdiff_t tail_begin,
    T *bias_part, ptrdiff_t n0, ptrdiff_t n1)
{
    const PYX_FN(grad_rows) g = {g_data, g_tail, tail_begin};
    const ptrdiff_t fp = s->filters_padded, F = s->filters;
    for (ptrdiff_t f0 = 0; f0 < fp; f0 += LANES) {
        V acc = (V){0};
        for (ptrdiff_t q = n0 * s->out_h; q < n1 * s->out_h; q++) {
            const T *gr = PYX_FN(grad_row)(s, &g, q) + f0;
            for (ptrdiff_t ox = 0; ox < s->out_w; ox++)
                acc += LOADU(gr + ox * F);
        }
        STOREU(bias_part + f0, acc);
    }
}
#undef WGRAD_MAX_TB

#undef PLANAR_NB
#undef PLANAR_TRANSPOSE_8
#undef PLANAR_MAX_NB
#undef DIRECT_MAX_R
#undef DIRECT_MAX_NV
#undef DIRECT_R4
#undef DIRECT_R2
#undef DIRECT_R1
#undef INLINE
#undef PYX_IN_REGISTER
#undef STOREU
#undef LOADU
#undef VU
#undef V
#undef LANES
#undef T
#undef PYX_PAIRS
