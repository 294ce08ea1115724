/* Batch-norm kernels compiled for the baseline instruction set, for AVX2 and for AVX-512
 * (F + VL), chosen at run time from the CPU and the number of channels: a register holds
 * consecutive channels, so the widest copy whose register the channels fill is used.
 *
 * No fused multiply-add anywhere (GCC would contract a * b + c under the AVX2 / AVX-512
 * targets): every copy rounds as the baseline build does, so the copies agree bit for bit
 * and the instruction set never changes a result. */
#include "batch_norm_kernels.h"
#include "cpu_features.h"

#if !defined(__GNUC__) && !defined(__clang__)
#error "pyx_cnn's kernels use GCC/Clang vector extensions: build with gcc or clang"
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__) || defined(__i386__)
#define PYX_X86 1
#include <immintrin.h>
#else
#define PYX_X86 0
#endif

/* ---- generic copy: the baseline instruction set of the build (SSE2 on x86-64) ---- */
#define PYX_VB 16
#define PYX_T float
#define PYX_SFX generic_f32
#if defined(__SSE2__)
#define PYX_LOAD_AS_D(p) _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(p))))
#endif
#include "batch_norm_kernels_impl.h"
#undef PYX_LOAD_AS_D
#undef PYX_T
#undef PYX_SFX
#define PYX_T double
#define PYX_SFX generic_f64
#include "batch_norm_kernels_impl.h"
#undef PYX_T
#undef PYX_SFX
#undef PYX_VB

#if PYX_X86
/* ---- AVX2: registers of 32 bytes ---- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#define PYX_VB 32
#define PYX_T float
#define PYX_SFX avx2_f32
#define PYX_LOAD_AS_D(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#include "batch_norm_kernels_impl.h"
#undef PYX_LOAD_AS_D
#undef PYX_T
#undef PYX_SFX
#define PYX_T double
#define PYX_SFX avx2_f64
#include "batch_norm_kernels_impl.h"
#undef PYX_T
#undef PYX_SFX
#undef PYX_VB
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX-512 (F + VL): registers of 64 bytes ---- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx2")
#endif
#define PYX_VB 64
#define PYX_T float
#define PYX_SFX avx512_f32
#define PYX_LOAD_AS_D(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#include "batch_norm_kernels_impl.h"
#undef PYX_LOAD_AS_D
#undef PYX_T
#undef PYX_SFX
#define PYX_T double
#define PYX_SFX avx512_f64
#include "batch_norm_kernels_impl.h"
#undef PYX_T
#undef PYX_SFX
#undef PYX_VB
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* The instruction set to use for `channels` channels when a 64-byte register holds
 * `lanes64` values: AVX-512 when the channels fill its register, AVX2 when they fill half
 * of it, otherwise the baseline (and never above what the CPU has, or PYX_CNN_ISA allows). */
static int isa_for(ptrdiff_t channels, ptrdiff_t lanes64)
{
#if PYX_X86
    const int level = pyx_isa_level();
    if (level >= PYX_ISA_AVX512 && channels >= lanes64)
        return PYX_ISA_AVX512;
    if (level >= PYX_ISA_AVX2 && channels >= lanes64 / 2)
        return PYX_ISA_AVX2;
#else
    (void)channels;
    (void)lanes64;
#endif
    return PYX_ISA_GENERIC;
}

/* Calls NAME_<isa>_SFX(args) for the chosen instruction set. */
#if PYX_X86
#define PYX_DISPATCH(isa, name, sfx, args) \
    do { \
        if ((isa) == PYX_ISA_AVX512) \
            name##_avx512_##sfx args; \
        else if ((isa) == PYX_ISA_AVX2) \
            name##_avx2_##sfx args; \
        else \
            name##_generic_##sfx args; \
    } while (0)
#else
#define PYX_DISPATCH(isa, name, sfx, args) name##_generic_##sfx args
#endif

/* The sums hold doubles (8 per 64-byte register); the maps hold the data's dtype. */
void pyx_bn_block_stats_f32(const float *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            double *sum, double *dev, double *dev2)
{
    PYX_DISPATCH(isa_for(C, 8), bn_block_stats, f32, (x, C, r0, r1, sum, dev, dev2));
}

void pyx_bn_block_stats_f64(const double *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            double *sum, double *dev, double *dev2)
{
    PYX_DISPATCH(isa_for(C, 8), bn_block_stats, f64, (x, C, r0, r1, sum, dev, dev2));
}

void pyx_bn_backward_sums_f32(const float *x, const float *g, ptrdiff_t C, ptrdiff_t r0,
                              ptrdiff_t r1, const double *mean, double *sum_g,
                              double *sum_gx)
{
    PYX_DISPATCH(isa_for(C, 8), bn_backward_sums, f32,
                 (x, g, C, r0, r1, mean, sum_g, sum_gx));
}

void pyx_bn_backward_sums_f64(const double *x, const double *g, ptrdiff_t C, ptrdiff_t r0,
                              ptrdiff_t r1, const double *mean, double *sum_g,
                              double *sum_gx)
{
    PYX_DISPATCH(isa_for(C, 8), bn_backward_sums, f64,
                 (x, g, C, r0, r1, mean, sum_g, sum_gx));
}

void pyx_bn_scale_shift_f32(const float *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            const float *scale, const float *shift, float *out)
{
    PYX_DISPATCH(isa_for(C, 16), bn_scale_shift, f32, (x, C, r0, r1, scale, shift, out));
}

void pyx_bn_scale_shift_f64(const double *x, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1,
                            const double *scale, const double *shift, double *out)
{
    PYX_DISPATCH(isa_for(C, 8), bn_scale_shift, f64, (x, C, r0, r1, scale, shift, out));
}

void pyx_bn_backward_apply_f32(const float *x, const float *g, ptrdiff_t C, ptrdiff_t r0,
                               ptrdiff_t r1, const float *mean, const float *a,
                               const float *b, const float *k, float *grad_x)
{
    PYX_DISPATCH(isa_for(C, 16), bn_backward_apply, f32,
                 (x, g, C, r0, r1, mean, a, b, k, grad_x));
}

void pyx_bn_backward_apply_f64(const double *x, const double *g, ptrdiff_t C, ptrdiff_t r0,
                               ptrdiff_t r1, const double *mean, const double *a,
                               const double *b, const double *k, double *grad_x)
{
    PYX_DISPATCH(isa_for(C, 8), bn_backward_apply, f64,
                 (x, g, C, r0, r1, mean, a, b, k, grad_x));
}
