/* Batch-norm kernels compiled for the baseline instruction set, for AVX2 and for AVX-512
 * (F + VL), and the runtime choice between them: a table of the copies' functions,
 * indexed by instruction-set level. A register holds consecutive channels, so the widest
 * copy whose register the channels fill is used.
 *
 * No fused multiply-add anywhere (GCC would contract a * b + c under the AVX2 / AVX-512
 * targets): every copy rounds as the baseline build does, so the copies agree bit for bit
 * and the instruction set never changes a result. */
#include "batch_norm_kernels.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* No FMA in the targets (see above). */
#define PYX_ISA_IMPL "batch_norm_kernels_impl.h"
#define PYX_ISA_AVX2_TARGET "avx2"
#define PYX_ISA_AVX512_TARGET "avx512f,avx512vl,avx2"
#include "isa_instantiate.h"

/* One copy of the kernels. */
typedef struct {
    void (*block_stats_f32)(const float *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            double *sum, double *dev, double *dev2);
    void (*block_stats_f64)(const double *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            double *sum, double *dev, double *dev2);
    void (*backward_sums_f32)(const float *x, const float *g, ptrdiff_t C, ptrdiff_t r0,
                              ptrdiff_t r1, const double *mean, double *sum_g,
                              double *sum_gx);
    void (*backward_sums_f64)(const double *x, const double *g, ptrdiff_t C, ptrdiff_t r0,
                              ptrdiff_t r1, const double *mean, double *sum_g,
                              double *sum_gx);
    void (*scale_shift_f32)(const float *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            const float *scale, const float *shift, float *out);
    void (*scale_shift_f64)(const double *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            const double *scale, const double *shift, double *out);
    void (*backward_apply_f32)(const float *x, const float *g, ptrdiff_t C, ptrdiff_t r0,
                               ptrdiff_t r1, const float *mean, const float *a,
                               const float *b, const float *k, float *grad_x);
    void (*backward_apply_f64)(const double *x, const double *g, ptrdiff_t C, ptrdiff_t r0,
                               ptrdiff_t r1, const double *mean, const double *a,
                               const double *b, const double *k, double *grad_x);
} bn_kernels;

#define PYX_BN_COPY(ISA)                                                                 \
    {                                                                                    \
        bn_block_stats_##ISA##_f32, bn_block_stats_##ISA##_f64,                          \
        bn_backward_sums_##ISA##_f32, bn_backward_sums_##ISA##_f64,                      \
        bn_scale_shift_##ISA##_f32, bn_scale_shift_##ISA##_f64,                          \
        bn_backward_apply_##ISA##_f32, bn_backward_apply_##ISA##_f64,                    \
    }

/* Indexed by level: PYX_ISA_GENERIC, PYX_ISA_AVX2, PYX_ISA_AVX512. */
static const bn_kernels copies[PYX_ISA_COPIES] = {
    PYX_BN_COPY(generic),
#if PYX_X86
    PYX_BN_COPY(avx2),
    PYX_BN_COPY(avx512),
#endif
};

/* The copy to use for `channels` channels when a 64-byte register holds `lanes64`
 * values: AVX-512 when the channels fill its register, AVX2 when they fill half of it,
 * otherwise the baseline (and never above what the CPU has, or PYX_CNN_ISA allows). */
static const bn_kernels *copy_for(ptrdiff_t channels, ptrdiff_t lanes64)
{
#if PYX_X86
    const int level = pyx_isa_copy();
    if (level >= PYX_ISA_AVX512 && channels >= lanes64)
        return &copies[PYX_ISA_AVX512];
    if (level >= PYX_ISA_AVX2 && channels >= lanes64 / 2)
        return &copies[PYX_ISA_AVX2];
#else
    (void)channels;
    (void)lanes64;
#endif
    return &copies[PYX_ISA_GENERIC];
}

/* The sums hold doubles (8 per 64-byte register); the maps hold the data's dtype. */
void pyx_bn_block_stats_f32(const float *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            double *sum, double *dev, double *dev2)
{
    copy_for(C, 8)->block_stats_f32(x, C, r0, r1, sum, dev, dev2);
}

void pyx_bn_block_stats_f64(const double *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            double *sum, double *dev, double *dev2)
{
    copy_for(C, 8)->block_stats_f64(x, C, r0, r1, sum, dev, dev2);
}

void pyx_bn_backward_sums_f32(const float *x, const float *g, ptrdiff_t C, ptrdiff_t r0,
                              ptrdiff_t r1, const double *mean, double *sum_g,
                              double *sum_gx)
{
    copy_for(C, 8)->backward_sums_f32(x, g, C, r0, r1, mean, sum_g, sum_gx);
}

void pyx_bn_backward_sums_f64(const double *x, const double *g, ptrdiff_t C, ptrdiff_t r0,
                              ptrdiff_t r1, const double *mean, double *sum_g,
                              double *sum_gx)
{
    copy_for(C, 8)->backward_sums_f64(x, g, C, r0, r1, mean, sum_g, sum_gx);
}

void pyx_bn_scale_shift_f32(const float *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            const float *scale, const float *shift, float *out)
{
    copy_for(C, 16)->scale_shift_f32(x, C, r0, r1, scale, shift, out);
}

void pyx_bn_scale_shift_f64(const double *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            const double *scale, const double *shift, double *out)
{
    copy_for(C, 8)->scale_shift_f64(x, C, r0, r1, scale, shift, out);
}

void pyx_bn_backward_apply_f32(const float *x, const float *g, ptrdiff_t C, ptrdiff_t r0,
                               ptrdiff_t r1, const float *mean, const float *a,
                               const float *b, const float *k, float *grad_x)
{
    copy_for(C, 16)->backward_apply_f32(x, g, C, r0, r1, mean, a, b, k, grad_x);
}

void pyx_bn_backward_apply_f64(const double *x, const double *g, ptrdiff_t C, ptrdiff_t r0,
                               ptrdiff_t r1, const double *mean, const double *a,
                               const double *b, const double *k, double *grad_x)
{
    copy_for(C, 8)->backward_apply_f64(x, g, C, r0, r1, mean, a, b, k, grad_x);
}
