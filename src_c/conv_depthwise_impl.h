/* Body of the depthwise convolution kernels, included by conv_depthwise_simd.c
 * (through isa_instantiate.h) once per (instruction set, register width, dtype); see
 * conv_depthwise.h for what they compute and conv_kernels_impl.h for the macros a
 * copy sees (PYX_T, PYX_VB, PYX_SFX...).
 *
 * A register holds LANES consecutive channels. A channel count that is not a multiple
 * of LANES ends with a register overlapping its neighbour (its shared lanes computed
 * again, to identical values), except where values are added onto memory (the input
 * gradient), which ends channel by channel.
 */
#define PYX_CAT_(a, b) a##_##b
#define PYX_CAT(a, b) PYX_CAT_(a, b)
#define PYX_FN(name) PYX_CAT(name, PYX_SFX)

#define T PYX_T
#define LANES (PYX_VB / (int)sizeof(PYX_T))
#define V PYX_FN(dwvec)
#define VU PYX_FN(dwvecu)
typedef T V __attribute__((vector_size(PYX_VB)));
typedef T VU __attribute__((vector_size(PYX_VB), aligned(sizeof(PYX_T)), __may_alias__));
#define LOADU(p) (*(const VU *)(p))
#define STOREU(p, v) (*(VU *)(p) = (v))
#define INLINE static inline __attribute__((always_inline))
#if PYX_DOUBLE
typedef long long PYX_FN(dwint);
#else
typedef int PYX_FN(dwint);
#endif
#define VI PYX_FN(dwveci)
typedef PYX_FN(dwint) VI __attribute__((vector_size(PYX_VB)));

/* Output pixels per block of the forward kernel, and registers of channels per
 * single pixel (independent sums in flight). */
#define DW_R 8
#define DW_NV 8
/* Taps of one kernel row per block of the filter gradient. */
#define DW_MAX_TB 8
/* Pixels ahead of the filter gradient's reads that it fetches into the cache. */
#define DW_AHEAD 4

/* The input rows the next output row reads first, fetched into the cache while this
 * row is computed (from DRAM the windows' scattered reads would each wait), and the
 * next output row, fetched for writing (its blocks' stores would each wait for their
 * line): cursors over their bytes, advanced `pace` and `out_pace` cache lines at a
 * time. */
typedef struct {
    const char *next, *end;
    ptrdiff_t pace;
    char *out_next, *out_end;
    ptrdiff_t out_pace;
} PYX_FN(dw_prefetch);

INLINE void PYX_FN(dw_prefetch_some)(PYX_FN(dw_prefetch) *pf)
{
    for (ptrdiff_t l = 0; l < pf->pace && pf->next < pf->end; l++, pf->next += 64)
        __builtin_prefetch(pf->next);
    for (ptrdiff_t l = 0; l < pf->out_pace && pf->out_next < pf->out_end;
         l++, pf->out_next += 64)
        __builtin_prefetch(pf->out_next, 1);
}

/* The taps t in [*lo, *hi) of a window starting at `start` (taps `d` apart, `k` of
 * them) that fall inside [0, size); an empty range when none does. */
INLINE void PYX_FN(dw_taps)(ptrdiff_t start, ptrdiff_t d, ptrdiff_t k, ptrdiff_t size,
                            ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t a = start >= 0 ? 0 : (-start + d - 1) / d;
    ptrdiff_t b = start > size - 1 ? 0 : (size - 1 - start) / d + 1;
    if (b > k)
        b = k;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

/* R output pixels (px_step values apart in x, C apart in out) x NV registers of
 * channels: the bias, then ni x nk taps, xs and ws pointing at the first valid tap
 * of the first channel. R * NV independent sums hide the multiply-add's latency. */
INLINE void PYX_FN(dw_block)(
    const int R, const int NV, const T *xs, ptrdiff_t row_step, ptrdiff_t ni,
    ptrdiff_t tap_step, ptrdiff_t nk, ptrdiff_t px_step, const T *ws, ptrdiff_t w_row_step,
    ptrdiff_t C, const T *bias, T *o, int clamp, T clamp_max)
{
    V acc[DW_R][DW_NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            acc[r][v] = LOADU(bias + v * LANES);
    for (ptrdiff_t i = 0; i < ni; i++)
        for (ptrdiff_t k = 0; k < nk; k++) {
            const T *wp = ws + i * w_row_step + k * C;
            const T *xp = xs + i * row_step + k * tap_step;
            V wv[DW_NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                wv[v] = LOADU(wp + v * LANES);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++)
                    acc[r][v] += LOADU(xp + r * px_step + v * LANES) * wv[v];
        }
    if (clamp) {
        /* the bounded ReLU of conv_depthwise.h on the registers before they are stored
         * (activation_kernels.h): a pass over each finished row took a fifth of a
         * 14x14x384 layer's time in cache */
        const V m = (V){0} + clamp_max;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                PYX_CLAMP_REGISTER(acc[r][v], m, VI);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            STOREU(o + r * C + v * LANES, acc[r][v]);
}

/* One pixel x NV registers of channels, NV from 1 to DW_NV known at compile time. */
static void PYX_FN(dw_pixel_n)(
    int NV, const T *xs, ptrdiff_t row_step, ptrdiff_t ni, ptrdiff_t tap_step, ptrdiff_t nk,
    const T *ws, ptrdiff_t w_row_step, ptrdiff_t C, const T *bias, T *o, int clamp,
    T clamp_max)
{
    switch (NV) {
#define PYX_DW_CASE(K)                                                                     \
    case K:                                                                                \
        PYX_FN(dw_block)(1, K, xs, row_step, ni, tap_step, nk, 0, ws, w_row_step, C, bias,  \
                         o, clamp, clamp_max);                                             \
        return;
    PYX_DW_CASE(1) PYX_DW_CASE(2) PYX_DW_CASE(3) PYX_DW_CASE(4)
    PYX_DW_CASE(5) PYX_DW_CASE(6) PYX_DW_CASE(7) PYX_DW_CASE(8)
#undef PYX_DW_CASE
    default: return;
    }
}

/* Output pixels [ox, ox + R) of one row, every register of channels (the last one
 * overlapping its neighbour when LANES does not divide C): the pixels' windows stay
 * in the cache while the channels go by. A single pixel (R == 1: its window may leave
 * the input, and it takes its own range of taps) runs DW_NV registers of channels at
 * a time, a block of pixels one register. */
INLINE void PYX_FN(dw_pixels)(
    const int R, const pyx_dw_shape *s, const T *x_row, ptrdiff_t ni, const T *w_row,
    const T *bias, T *out_row, ptrdiff_t ox, PYX_FN(dw_prefetch) *pf)
{
    const ptrdiff_t C = s->channels, W = s->in_w, kw = s->kw, dw = s->dilation_w;
    const ptrdiff_t row_step = s->dilation_h * W * C, tap_step = dw * C;
    const ptrdiff_t px_step = s->stride_w * C;
    const ptrdiff_t x0 = ox * s->stride_w - s->pad_left;
    ptrdiff_t k_lo = 0, k_hi = kw;
    if (R == 1) {
        PYX_FN(dw_taps)(x0, dw, kw, W, &k_lo, &k_hi);
        const T *xs = x_row + (x0 + k_lo * dw) * C, *ws = w_row + k_lo * C;
        T *o = out_row + ox * C;
        ptrdiff_t c = 0;
        for (; c + LANES <= C; c += DW_NV * LANES) {
            ptrdiff_t nv = (C - c) / LANES;
            nv = nv < DW_NV ? nv : DW_NV;
            PYX_FN(dw_pixel_n)((int)nv, xs + c, row_step, ni, tap_step, k_hi - k_lo, ws + c,
                               kw * C, C, bias + c, o + c, s->clamp, (T)s->clamp_max);
            PYX_FN(dw_prefetch_some)(pf);
        }
        if (C % LANES)
            PYX_FN(dw_block)(1, 1, xs + C - LANES, row_step, ni, tap_step, k_hi - k_lo, 0,
                             ws + C - LANES, kw * C, C, bias + C - LANES, o + C - LANES,
                             s->clamp, (T)s->clamp_max);
        return;
    }
    for (ptrdiff_t c = 0; c < C; c += LANES) {
        const ptrdiff_t cc = c + LANES <= C ? c : C - LANES;
        PYX_FN(dw_block)(R, 1, x_row + x0 * C + cc, row_step, ni, tap_step, kw, px_step,
                         w_row + cc, kw * C, C, bias + cc, out_row + ox * C + cc, s->clamp,
                         (T)s->clamp_max);
        PYX_FN(dw_prefetch_some)(pf);
    }
}

/* Pixels per block for `inner` pixels in a row: of 8 down to 4, the size that computes
 * the fewest pixels twice (the last block overlaps its neighbour); 1 under 4. */
INLINE ptrdiff_t PYX_FN(dw_block_size)(ptrdiff_t inner)
{
    ptrdiff_t best = 1, waste = inner;
    for (ptrdiff_t r = DW_R; r >= 4 && inner >= 4; r--) {
        const ptrdiff_t extra = (inner + r - 1) / r * r - inner;
        if (inner >= r && extra < waste) {
            best = r;
            waste = extra;
        }
    }
    return best;
}

/* One output row: the pixels whose windows leave the input one by one, those whose
 * windows lie inside [ox_a, ox_b) in blocks (the last one overlapping its neighbour,
 * identical values). */
INLINE void PYX_FN(dw_row)(
    const pyx_dw_shape *s, const T *x_row, ptrdiff_t ni, const T *w_row, const T *bias,
    T *out_row, ptrdiff_t ox_a, ptrdiff_t ox_b, PYX_FN(dw_prefetch) *pf)
{
    for (ptrdiff_t ox = 0; ox < ox_a; ox++)
        PYX_FN(dw_pixels)(1, s, x_row, ni, w_row, bias, out_row, ox, pf);
    for (ptrdiff_t ox = ox_b; ox < s->out_w; ox++)
        PYX_FN(dw_pixels)(1, s, x_row, ni, w_row, bias, out_row, ox, pf);
    const ptrdiff_t inner = ox_b - ox_a;
#define PYX_DW_CASE(RR)                                                                   \
    case RR:                                                                              \
        for (ptrdiff_t p = 0; p < inner; p += (RR))                                       \
            PYX_FN(dw_pixels)((RR), s, x_row, ni, w_row, bias, out_row,                   \
                              ox_a + (p + (RR) <= inner ? p : inner - (RR)), pf);         \
        return;
    switch (PYX_FN(dw_block_size)(inner)) {
    PYX_DW_CASE(8) PYX_DW_CASE(7) PYX_DW_CASE(6) PYX_DW_CASE(5) PYX_DW_CASE(4)
    default:
        for (ptrdiff_t ox = ox_a; ox < ox_b; ox++)
            PYX_FN(dw_pixels)(1, s, x_row, ni, w_row, bias, out_row, ox, pf);
    }
#undef PYX_DW_CASE
}

__attribute__((unused)) static void PYX_FN(dw_rows)(
    const pyx_dw_shape *s, const T *x, const T *w, const T *bias, T *out, ptrdiff_t r0,
    ptrdiff_t r1)
{
    const ptrdiff_t C = s->channels, H = s->in_h, W = s->in_w;
    const ptrdiff_t kw = s->kw, dw = s->dilation_w, sw = s->stride_w, left = s->pad_left;
    /* output columns [ox_a, ox_b) have every tap inside the input */
    const ptrdiff_t last = W - 1 - (kw - 1) * dw + left;
    ptrdiff_t ox_a = left > 0 ? (left + sw - 1) / sw : 0;
    ptrdiff_t ox_b = last < 0 ? 0 : last / sw + 1;
    if (ox_a > s->out_w)
        ox_a = s->out_w;
    if (ox_b > s->out_w)
        ox_b = s->out_w;
    if (ox_b < ox_a)
        ox_b = ox_a;
    /* dw_pixels calls per row (one per register of channels and pixel or block) */
    const ptrdiff_t inner = ox_b - ox_a, block = PYX_FN(dw_block_size)(inner);
    const ptrdiff_t singles = s->out_w - (block > 1 ? inner : 0);
    const ptrdiff_t blocks = block > 1 ? (inner + block - 1) / block : 0;
    const ptrdiff_t calls = singles * ((C / LANES + DW_NV - 1) / DW_NV)
                            + blocks * ((C + LANES - 1) / LANES);
    for (ptrdiff_t r = r0; r < r1; r++) {
        const ptrdiff_t n = r / s->out_h, oy = r - n * s->out_h;
        const ptrdiff_t y0 = oy * s->stride_h - s->pad_top;
        ptrdiff_t i_lo, i_hi;
        PYX_FN(dw_taps)(y0, s->dilation_h, s->kh, H, &i_lo, &i_hi);
        /* the rows below this row's windows that the next row's windows reach */
        ptrdiff_t pf_lo = y0 + (s->kh - 1) * s->dilation_h + 1, pf_hi = pf_lo + s->stride_h;
        pf_lo = pf_lo < 0 ? 0 : pf_lo;
        pf_hi = pf_hi > H ? H : pf_hi;
        T *out_row = out + r * s->out_w * C;
        PYX_FN(dw_prefetch) pf = {(const char *)(x + (n * H + pf_lo) * W * C),
                                  (const char *)(x + (n * H + pf_hi) * W * C), 0,
                                  (char *)(out_row + s->out_w * C),
                                  (char *)(out_row + (r + 1 < r1 ? 2 : 1) * s->out_w * C), 0};
        if (pf_hi > pf_lo && calls > 0)
            pf.pace = ((pf.end - pf.next) / 64 + calls - 1) / calls;
        if (calls > 0)
            pf.out_pace = ((pf.out_end - pf.out_next) / 64 + calls - 1) / calls;
        const T *x_row = i_hi > i_lo ? x + (n * H + y0 + i_lo * s->dilation_h) * W * C : x;
        const T *w_row = w + i_lo * kw * C;
        PYX_FN(dw_row)(s, x_row, i_hi - i_lo, w_row, bias, out_row, ox_a, ox_b, &pf);
    }
}

/* dst[0 .. C) += g[0 .. C) * w[0 .. C) */
INLINE void PYX_FN(dw_add_product)(T *dst, const T *g, const T *w, ptrdiff_t C)
{
    ptrdiff_t c = 0;
    for (; c + LANES <= C; c += LANES)
        STOREU(dst + c, LOADU(dst + c) + LOADU(g + c) * LOADU(w + c));
    for (; c < C; c++)
        dst[c] += g[c] * w[c];
}

__attribute__((unused)) static void PYX_FN(dw_input_grad)(
    const pyx_dw_shape *s, const T *g, const T *w, T *buf, T *gx, ptrdiff_t n)
{
    const ptrdiff_t C = s->channels, H = s->in_h, W = s->in_w;
    const ptrdiff_t bh = (s->out_h - 1) * s->stride_h + (s->kh - 1) * s->dilation_h + 1;
    const ptrdiff_t bw = (s->out_w - 1) * s->stride_w + (s->kw - 1) * s->dilation_w + 1;
    memset(buf, 0, (size_t)(bh * bw * C) * sizeof(T));
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
        for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
            const T *gp = g + ((n * s->out_h + oy) * s->out_w + ox) * C;
            T *bp = buf + (oy * s->stride_h * bw + ox * s->stride_w) * C;
            for (ptrdiff_t i = 0; i < s->kh; i++)
                for (ptrdiff_t k = 0; k < s->kw; k++)
                    PYX_FN(dw_add_product)(bp + (i * s->dilation_h * bw + k * s->dilation_w) * C,
                                           gp, w + (i * s->kw + k) * C, C);
        }
    /* the input's part of the windows' grid (pads >= 0); no window reaches the rest */
    ptrdiff_t nx = bw - s->pad_left;
    nx = nx < 0 ? 0 : nx > W ? W : nx;
    for (ptrdiff_t y = 0; y < H; y++) {
        T *dst = gx + (n * H + y) * W * C;
        const ptrdiff_t yb = y + s->pad_top;
        ptrdiff_t done = 0;
        if (yb < bh) {
            memcpy(dst, buf + (yb * bw + s->pad_left) * C, (size_t)(nx * C) * sizeof(T));
            done = nx;
        }
        memset(dst + done * C, 0, (size_t)((W - done) * C) * sizeof(T));
    }
}

/* Filter gradient of kernel row i, taps [k0, k0 + TB), NV registers of channels from
 * channel c, samples [n0, n1): sums over the pixels in order. */
INLINE void PYX_FN(dw_wgrad_block)(
    const int TB, const int NV, const pyx_dw_shape *s, const T *x, const T *g, ptrdiff_t n0,
    ptrdiff_t n1, ptrdiff_t i, ptrdiff_t k0, ptrdiff_t c, T *part_w)
{
    const ptrdiff_t C = s->channels, H = s->in_h, W = s->in_w, dw = s->dilation_w;
    V acc[DW_MAX_TB][2];
#pragma GCC unroll 8
    for (int t = 0; t < TB; t++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[t][v] = (V){0};
    for (ptrdiff_t n = n0; n < n1; n++)
        for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
            const ptrdiff_t y = oy * s->stride_h + i * s->dilation_h - s->pad_top;
            if (y < 0 || y >= H)
                continue;
            const T *xr = x + (n * H + y) * W * C + c;
            const T *gr = g + (n * s->out_h + oy) * s->out_w * C + c;
            for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
                const ptrdiff_t x0 = ox * s->stride_w - s->pad_left + k0 * dw;
                V gv[2];
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++) {
                    gv[v] = LOADU(gr + ox * C + v * LANES);
                    /* the lines DW_AHEAD pixels on (past the row's end: the next row's,
                     * read next; a prefetch never faults) */
                    __builtin_prefetch(gr + (ox + DW_AHEAD) * C + v * LANES);
                    __builtin_prefetch(xr + (x0 + DW_AHEAD * s->stride_w + (TB - 1) * dw) * C
                                       + v * LANES);
                }
                if (x0 >= 0 && x0 + (TB - 1) * dw < W) {
#pragma GCC unroll 8
                    for (int t = 0; t < TB; t++)
#pragma GCC unroll 2
                        for (int v = 0; v < NV; v++)
                            acc[t][v] += LOADU(xr + (x0 + t * dw) * C + v * LANES) * gv[v];
                } else {
                    for (int t = 0; t < TB; t++) {
                        const ptrdiff_t xt = x0 + t * dw;
                        if (xt < 0 || xt >= W)
                            continue;
                        for (int v = 0; v < NV; v++)
                            acc[t][v] += LOADU(xr + xt * C + v * LANES) * gv[v];
                    }
                }
            }
        }
#pragma GCC unroll 8
    for (int t = 0; t < TB; t++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            STOREU(part_w + (i * s->kw + k0 + t) * C + c + v * LANES, acc[t][v]);
}

static void PYX_FN(dw_wgrad_block_n)(
    int TB, int NV, const pyx_dw_shape *s, const T *x, const T *g, ptrdiff_t n0,
    ptrdiff_t n1, ptrdiff_t i, ptrdiff_t k0, ptrdiff_t c, T *part_w)
{
#define PYX_DW_CASE(K)                                                                     \
    case K:                                                                                \
        if (NV == 2)                                                                       \
            PYX_FN(dw_wgrad_block)(K, 2, s, x, g, n0, n1, i, k0, c, part_w);               \
        else                                                                               \
            PYX_FN(dw_wgrad_block)(K, 1, s, x, g, n0, n1, i, k0, c, part_w);               \
        return;
    switch (TB) {
    PYX_DW_CASE(1) PYX_DW_CASE(2) PYX_DW_CASE(3) PYX_DW_CASE(4)
    PYX_DW_CASE(5) PYX_DW_CASE(6) PYX_DW_CASE(7) PYX_DW_CASE(8)
    default: return;
    }
#undef PYX_DW_CASE
}

/* The filter and bias gradients of a 3 x 3 window over the pixels of output rows
 * [oy0, oy1) of sample n, all nine taps at once (each pixel's output gradient read
 * once), NV registers of channels from channel c: added to the sums in w_sums (9 x
 * `stride` values, tap by tap) and b_sums. Each sum takes the pixels in order, so rows
 * after rows give the sums of one pass over all the pixels. */
INLINE void PYX_FN(dw_wgrad_3x3_rows)(
    const int NV, const pyx_dw_shape *s, const T *x, const T *g, ptrdiff_t n, ptrdiff_t oy0,
    ptrdiff_t oy1, ptrdiff_t c, T *w_sums, T *b_sums, ptrdiff_t stride)
{
    const ptrdiff_t C = s->channels, H = s->in_h, W = s->in_w;
    const ptrdiff_t dh = s->dilation_h, dw = s->dilation_w;
    V acc[9][2], acc_b[2];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[t][v] = LOADU(w_sums + t * stride + v * LANES);
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++)
        acc_b[v] = LOADU(b_sums + v * LANES);
    for (ptrdiff_t oy = oy0; oy < oy1; oy++) {
        const ptrdiff_t y0 = oy * s->stride_h - s->pad_top;
        const int rows_inside = y0 >= 0 && y0 + 2 * dh < H;
        const T *gr = g + (n * s->out_h + oy) * s->out_w * C + c;
        const T *xr = x + (n * H + y0) * W * C + c;     /* (row y0: maybe outside) */
        for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
            const ptrdiff_t x0 = ox * s->stride_w - s->pad_left;
            V gv[2];
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                gv[v] = LOADU(gr + ox * C + v * LANES);
                acc_b[v] += gv[v];
            }
            const T *xp = xr + x0 * C;
            if (rows_inside && x0 >= 0 && x0 + 2 * dw < W) {
#pragma GCC unroll 3
                for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
                    for (int k = 0; k < 3; k++)
#pragma GCC unroll 2
                        for (int v = 0; v < NV; v++)
                            acc[i * 3 + k][v] += LOADU(xp + (i * dh * W + k * dw) * C
                                                       + v * LANES) * gv[v];
            } else {
                for (int i = 0; i < 3; i++) {
                    if (y0 + i * dh < 0 || y0 + i * dh >= H)
                        continue;
                    for (int k = 0; k < 3; k++) {
                        if (x0 + k * dw < 0 || x0 + k * dw >= W)
                            continue;
                        for (int v = 0; v < NV; v++)
                            acc[i * 3 + k][v] += LOADU(xp + (i * dh * W + k * dw) * C
                                                       + v * LANES) * gv[v];
                    }
                }
            }
        }
    }
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            STOREU(w_sums + t * stride + v * LANES, acc[t][v]);
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++)
        STOREU(b_sums + v * LANES, acc_b[v]);
}

/* Registers of channels a 3 x 3 filter gradient block holds: 9 sums each, and the
 * bias's, must stay in registers (two take 20 of 32; of 16, one). */
#define DW_WGRAD_NV (PYX_REGS >= 32 ? 2 : 1)
/* Pixels of output gradient a block of registers goes over between loading and
 * storing its sums: whole rows, several of a narrow map. */
#define DW_WGRAD_PIXELS 64

__attribute__((unused)) static void PYX_FN(dw_filter_grad)(
    const pyx_dw_shape *s, const T *x, const T *g, T *part_w, T *part_b, ptrdiff_t n0,
    ptrdiff_t n1)
{
    const ptrdiff_t C = s->channels, pixels = s->out_h * s->out_w;
    if (s->kh == 3 && s->kw == 3) {
        /* a row of pixels at a time, every register of channels in turn while the
         * row's input and output gradient stay in cache (one pass over the samples,
         * not one per register); the sums wait in part_w / part_b. The channels past
         * the last whole register take a register of their own ending at C, whose
         * sums wait in `tail` (its lanes shared with the whole registers would
         * otherwise be added twice). */
        const ptrdiff_t whole = C / LANES * LANES;
        T tail[10 * LANES];
        memset(part_w, 0, (size_t)(9 * C) * sizeof(T));
        memset(part_b, 0, (size_t)C * sizeof(T));
        memset(tail, 0, sizeof(tail));
        /* rows of at least DW_WGRAD_PIXELS pixels together (narrow maps) */
        ptrdiff_t rows = s->out_w > 0 ? (DW_WGRAD_PIXELS + s->out_w - 1) / s->out_w : 1;
        for (ptrdiff_t n = n0; n < n1; n++)
            for (ptrdiff_t oy = 0; oy < s->out_h; oy += rows) {
                const ptrdiff_t oy1 = s->out_h - oy < rows ? s->out_h : oy + rows;
                ptrdiff_t c = 0;
                for (; c + DW_WGRAD_NV * LANES <= whole; c += DW_WGRAD_NV * LANES)
                    PYX_FN(dw_wgrad_3x3_rows)(DW_WGRAD_NV, s, x, g, n, oy, oy1, c,
                                              part_w + c, part_b + c, C);
                for (; c < whole; c += LANES)
                    PYX_FN(dw_wgrad_3x3_rows)(1, s, x, g, n, oy, oy1, c, part_w + c,
                                              part_b + c, C);
                if (whole < C)
                    PYX_FN(dw_wgrad_3x3_rows)(1, s, x, g, n, oy, oy1, C - LANES, tail,
                                              tail + 9 * LANES, LANES);
            }
        for (ptrdiff_t l = LANES - (C - whole); l < LANES; l++) {
            for (int t = 0; t < 9; t++)
                part_w[t * C + C - LANES + l] = tail[t * LANES + l];
            part_b[C - LANES + l] = tail[9 * LANES + l];
        }
        return;
    }
    ptrdiff_t c = 0;
    while (c < C) {
        /* two registers of channels while two remain, else one (the last overlapping) */
        const int nv = c + 2 * LANES <= C ? 2 : 1;
        const ptrdiff_t cc = c + nv * LANES <= C ? c : C - LANES;
        c += nv * LANES;
        for (ptrdiff_t i = 0; i < s->kh; i++)
            for (ptrdiff_t k0 = 0; k0 < s->kw; k0 += DW_MAX_TB) {
                const ptrdiff_t tb = s->kw - k0 < DW_MAX_TB ? s->kw - k0 : DW_MAX_TB;
                PYX_FN(dw_wgrad_block_n)((int)tb, nv, s, x, g, n0, n1, i, k0, cc, part_w);
            }
        for (int v = 0; v < nv; v++) {
            V acc = (V){0};
            for (ptrdiff_t p = n0 * pixels; p < n1 * pixels; p++)
                acc += LOADU(g + p * C + cc + v * LANES);
            STOREU(part_b + cc + v * LANES, acc);
        }
    }
}

#undef DW_WGRAD_NV
#undef DW_WGRAD_PIXELS
#undef DW_AHEAD
#undef DW_MAX_TB
#undef DW_NV
#undef DW_R
#undef INLINE
#undef VI
#undef STOREU
#undef LOADU
#undef VU
#undef V
#undef LANES
#undef T
#undef PYX_FN
#undef PYX_CAT
#undef PYX_CAT_
