/* Convolution microkernels compiled once per instruction set, the choice of algorithm,
 * and the runtime dispatch: a table of the copies' functions, indexed by instruction-set
 * level. The build is portable (no -march=native): the AVX-512 and AVX2 copies are
 * compiled with a target pragma (isa_instantiate.h), each in a file of its own
 * (conv_copy_*.c, conv_copies.h), and used only when the running CPU has them. */
#include "conv_copies.h"

/* Indexed by level (PYX_ISA_GENERIC, PYX_ISA_AVX2, PYX_ISA_AVX512), then AVX-512 on
 * 32-byte registers. */
#define COPY_AVX512Y 3
static const conv_kernels *const copies[] = {
    &pyx_conv_copy_generic,
#if PYX_X86
    &pyx_conv_copy_avx2,
    &pyx_conv_copy_avx512,
    &pyx_conv_copy_avx512y,
#endif
};

/* The copy for F filters of this dtype, for the kernels whose registers hold filters
 * (direct, paired, filter gradient): the CPU's level, and on AVX-512 the 32-byte
 * registers while F is too small to fill a 64-byte one. */
static const conv_kernels *copy_for(int is_double, ptrdiff_t filters)
{
    const int level = pyx_isa_copy();
#if PYX_X86
    const ptrdiff_t size = is_double ? 8 : 4;
    if (level == PYX_ISA_AVX512 && filters * size < 64)
        return copies[COPY_AVX512Y];
#else
    (void)is_double;
    (void)filters;
#endif
    return copies[level];
}

const char *pyx_conv_isa(void)
{
    return copies[pyx_isa_copy()]->isa;
}

int pyx_conv_direct_lanes(int is_double, ptrdiff_t filters)
{
    return copy_for(is_double, filters)->vector_bytes / (is_double ? 8 : 4);
}

#define PYX_PACK_DIRECT(NAME, T, IS_DOUBLE)                                                \
    void NAME(const pyx_conv_shape *s, const T *w, const T *bias, T *w_packed,             \
              T *bias_packed)                                                              \
    {                                                                                      \
        const ptrdiff_t lanes = pyx_conv_direct_lanes(IS_DOUBLE, s->filters);             \
        const ptrdiff_t F = s->filters, fp = s->filters_padded;                            \
        const ptrdiff_t rows = s->kh * s->kw * s->channels, n_vec = fp / lanes;            \
        for (ptrdiff_t v = 0; v < n_vec;) {                                                \
            const ptrdiff_t width = pyx_conv_direct_panel(n_vec - v) * lanes;              \
            const ptrdiff_t fb = v * lanes;                                                \
            T *panel = w_packed + rows * fb;                                               \
            for (ptrdiff_t k = 0; k < rows; k++)                                           \
                for (ptrdiff_t f = 0; f < width; f++)                                      \
                    panel[k * width + f] = fb + f < F ? w[k * F + fb + f] : (T)0;          \
            v += width / lanes;                                                            \
        }                                                                                  \
        for (ptrdiff_t f = 0; f < fp; f++)                                                 \
            bias_packed[f] = f < F ? bias[f] : (T)0;                                       \
    }
PYX_PACK_DIRECT(pyx_conv_pack_direct_f32, float, 0)
PYX_PACK_DIRECT(pyx_conv_pack_direct_f64, double, 1)
#undef PYX_PACK_DIRECT

/* The choice of algorithm is made here, in C, and nowhere else: it depends on which
 * kernels the running CPU's copy has (the table above: only AVX-512 has the paired
 * ones), and the kernels' runner below follows the choice the shape carries. The Cython
 * callers (_conv.pyx) and pyx_cnn.ops.conv ask these two functions (the forward kernel,
 * the input gradient's route) and lay the weights out for their answer; none has a rule
 * of its own. See conv_kernels.h for the rules. */
int pyx_conv_choose(const pyx_conv_shape *s, int is_double)
{
    const int unit_strides = s->stride_h == 1 && s->stride_w == 1;
    const int has_pairs = !is_double && copies[pyx_isa_copy()]->pair_f32 != NULL;
    const int planar_8_lanes = !is_double && !has_pairs
                               && copies[pyx_isa_copy()]->vector_bytes == 32;
    if (unit_strides && (s->filters <= PYX_CONV_PLANAR_MAX_FILTERS
                         || (planar_8_lanes && s->filters <= PYX_CONV_PLANAR_WIDE_FILTERS
                             && s->channels <= PYX_CONV_PLANAR_WIDE_MAX_CHANNELS)))
        return PYX_CONV_PLANAR;
    if (has_pairs && s->channels == 1 && unit_strides && s->filters <= 8 && s->out_w >= 2)
        return PYX_CONV_PAIRED;
    const int dilated = s->dilation_w > 1 && s->kw > 1;
    const ptrdiff_t run = dilated ? s->channels : s->kw * s->channels;
    if (has_pairs && s->filters <= 8 && run % 2 == 0)
        return PYX_CONV_TAP_PAIRED;
    return PYX_CONV_DIRECT;
}

/* The input gradient's route (rules in conv_kernels.h). */
int pyx_conv_input_grad_route(const pyx_conv_shape *s, ptrdiff_t h, ptrdiff_t w,
                              int finite_filters)
{
    if (s->stride_h != 1 || s->stride_w != 1 || !finite_filters)
        return PYX_CONV_WINDOWS_BLAS;
    if ((double)h * (double)w
        > PYX_CONV_TRANSPOSED_MOST_WORK * (double)s->out_h * (double)s->out_w)
        return PYX_CONV_WINDOWS_BLAS;
    return PYX_CONV_TRANSPOSED;
}

const char *pyx_conv_algorithm_name(int algorithm)
{
    switch (algorithm) {
    case PYX_CONV_DIRECT: return "direct";
    case PYX_CONV_PAIRED: return "paired";
    case PYX_CONV_TAP_PAIRED: return "tap_paired";
    case PYX_CONV_PLANAR: return "planar";
    case PYX_CONV_TRANSPOSED: return "transposed";
    case PYX_CONV_WINDOWS_BLAS: return "windows_blas";
    default: return "unknown";
    }
}

/* The planar kernel holds output columns in a register, not filters: it always runs
 * on the level's widest registers, whatever F, as the paired ones do. The direct kernel
 * and the filter gradient hold filters: copy_for(). */
ptrdiff_t pyx_conv_panels(const pyx_conv_shape *s, int is_double)
{
    if (s->algorithm != PYX_CONV_DIRECT)
        return 1;
    return pyx_conv_direct_panel_count(
        s->filters_padded / pyx_conv_direct_lanes(is_double, s->filters));
}

/* Output of a tile of rows, about this many bytes (see pyx_conv_rows_*()): a pointwise
 * layer of 144 filters on 32x32x24 maps, 64 images, ran its five panels over all the
 * rows one after the other, reading the 38 MB of input from memory five times. */
#define TILE_BYTES (32 * 1024)

/* Rows in a tile: at least one. */
static ptrdiff_t tile_rows(const pyx_conv_shape *s, ptrdiff_t value_bytes)
{
    const ptrdiff_t row_bytes = s->out_w * s->filters * value_bytes;
    return row_bytes >= TILE_BYTES ? 1 : TILE_BYTES / (row_bytes > 0 ? row_bytes : 1);
}

static void kernel_rows_f32(const pyx_conv_shape *s, const float *x, const float *w,
                            const float *bias, float *out, ptrdiff_t r0, ptrdiff_t r1,
                            ptrdiff_t p0, ptrdiff_t p1)
{
    const conv_kernels *level = copies[pyx_isa_copy()];
    switch (s->algorithm) {
    case PYX_CONV_PLANAR: level->planar_f32(s, x, w, bias, out, r0, r1); return;
    case PYX_CONV_PAIRED: level->pair_f32(s, x, w, bias, out, r0, r1); return;
    case PYX_CONV_TAP_PAIRED: level->tap_pair_f32(s, x, w, bias, out, r0, r1); return;
    default: copy_for(0, s->filters)->direct_f32(s, x, w, bias, out, r0, r1, p0, p1); return;
    }
}

/* (float64 has no paired kernels) */
static void kernel_rows_f64(const pyx_conv_shape *s, const double *x, const double *w,
                            const double *bias, double *out, ptrdiff_t r0, ptrdiff_t r1,
                            ptrdiff_t p0, ptrdiff_t p1)
{
    if (s->algorithm == PYX_CONV_PLANAR)
        copies[pyx_isa_copy()]->planar_f64(s, x, w, bias, out, r0, r1);
    else
        copy_for(1, s->filters)->direct_f64(s, x, w, bias, out, r0, r1, p0, p1);
}

#define PYX_CONV_ROWS(NAME, T, KERNEL)                                                     \
    void NAME(const pyx_conv_shape *s, const T *x, const T *w, const T *bias, T *out,      \
              ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t p0, ptrdiff_t p1)                      \
    {                                                                                      \
        const ptrdiff_t tile = tile_rows(s, sizeof(T));                                    \
        for (ptrdiff_t t0 = r0; t0 < r1; t0 += tile) {                                     \
            const ptrdiff_t t1 = r1 - t0 < tile ? r1 : t0 + tile;                          \
            KERNEL(s, x, w, bias, out, t0, t1, p0, p1);                                    \
        }                                                                                  \
    }
PYX_CONV_ROWS(pyx_conv_rows_f32, float, kernel_rows_f32)
PYX_CONV_ROWS(pyx_conv_rows_f64, double, kernel_rows_f64)
#undef PYX_CONV_ROWS
#undef TILE_BYTES

ptrdiff_t pyx_conv_wgrad_rows_per_item(const pyx_conv_shape *s, int is_double)
{
    const conv_kernels *copy = copy_for(is_double, s->filters);
    return is_double ? copy->rows_per_item_f64(s) : copy->rows_per_item_f32(s);
}

void pyx_conv_wgrad_rows_f32(const pyx_conv_shape *s, const float *x, const float *g,
                             const float *g_tail, ptrdiff_t tail_begin, float *part,
                             ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i0, ptrdiff_t i1)
{
    copy_for(0, s->filters)->wgrad_rows_f32(s, x, g, g_tail, tail_begin, part, n0, n1, i0,
                                             i1);
}

void pyx_conv_wgrad_rows_f64(const pyx_conv_shape *s, const double *x, const double *g,
                             const double *g_tail, ptrdiff_t tail_begin, double *part,
                             ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i0, ptrdiff_t i1)
{
    copy_for(1, s->filters)->wgrad_rows_f64(s, x, g, g_tail, tail_begin, part, n0, n1, i0,
                                             i1);
}

void pyx_conv_wgrad_bias_f32(const pyx_conv_shape *s, const float *g,
                             const float *g_tail, ptrdiff_t tail_begin, float *bias_part,
                             ptrdiff_t n0, ptrdiff_t n1)
{
    copy_for(0, s->filters)->wgrad_bias_f32(s, g, g_tail, tail_begin, bias_part, n0, n1);
}

void pyx_conv_wgrad_bias_f64(const pyx_conv_shape *s, const double *g,
                             const double *g_tail, ptrdiff_t tail_begin, double *bias_part,
                             ptrdiff_t n0, ptrdiff_t n1)
{
    copy_for(1, s->filters)->wgrad_bias_f64(s, g, g_tail, tail_begin, bias_part, n0, n1);
}
