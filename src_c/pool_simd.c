/* Max- and average-pooling kernels compiled for the baseline instruction set and for
 * AVX2 (used on AVX-512 CPUs too), chosen at run time from the CPU and the number of
 * channels (a register holds consecutive channels, so it is only as wide as the channel
 * axis fills). */
#include "pool_kernels.h"
#include "cpu_features.h"

#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#define PYX_X86 1
#else
#define PYX_X86 0
#endif

#define PYX_VB 16
#define PYX_T float
#define PYX_IT int32_t
#define PYX_SFX generic_f32
#if defined(__SSE2__)
#define PYX_VMAX(a, b) _mm_max_ps((__m128)(a), (__m128)(b))
#endif
#include "pool_kernels_impl.h"
#undef PYX_VMAX
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#define PYX_T double
#define PYX_IT int64_t
#define PYX_SFX generic_f64
#if defined(__SSE2__)
#define PYX_VMAX(a, b) _mm_max_pd((__m128d)(a), (__m128d)(b))
#endif
#include "pool_kernels_impl.h"
#undef PYX_VMAX
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#undef PYX_VB

#if PYX_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#define PYX_VB 32
#define PYX_T float
#define PYX_IT int32_t
#define PYX_SFX avx2_f32
#define PYX_VMAX(a, b) _mm256_max_ps((__m256)(a), (__m256)(b))
#include "pool_kernels_impl.h"
#undef PYX_VMAX
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#define PYX_T double
#define PYX_IT int64_t
#define PYX_SFX avx2_f64
#define PYX_VMAX(a, b) _mm256_max_pd((__m256d)(a), (__m256d)(b))
#include "pool_kernels_impl.h"
#undef PYX_VMAX
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#undef PYX_VB
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif

static int has_avx2(void)
{
    return pyx_isa_level() >= PYX_ISA_AVX2;
}

void pyx_maxpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
#if PYX_X86
    if ((s->channels >= 8 || (s->channels == 4 && s->size == 2 && s->stride == 2))
        && has_avx2()) {
        maxpool_rows_avx2_f32(s, x, out, r0, r1);
        return;
    }
#endif
    maxpool_rows_generic_f32(s, x, out, r0, r1);
}

void pyx_maxpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
#if PYX_X86
    if ((s->channels >= 4 || (s->channels == 2 && s->size == 2 && s->stride == 2))
        && has_avx2()) {
        maxpool_rows_avx2_f64(s, x, out, r0, r1);
        return;
    }
#endif
    maxpool_rows_generic_f64(s, x, out, r0, r1);
}

/* Average pooling: AVX2 when 8 floats (4 doubles) fill a register. */
void pyx_avgpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
#if PYX_X86
    if (s->channels >= 8 && has_avx2()) {
        avgpool_rows_avx2_f32(s, x, out, r0, r1);
        return;
    }
#endif
    avgpool_rows_generic_f32(s, x, out, r0, r1);
}

void pyx_avgpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
#if PYX_X86
    if (s->channels >= 4 && has_avx2()) {
        avgpool_rows_avx2_f64(s, x, out, r0, r1);
        return;
    }
#endif
    avgpool_rows_generic_f64(s, x, out, r0, r1);
}

void pyx_avgpool_backward_rows_f32(const pyx_pool_shape *s, const float *g, float *gx,
                                   ptrdiff_t r0, ptrdiff_t r1)
{
#if PYX_X86
    if (s->channels >= 8 && has_avx2()) {
        avgpool_backward_rows_avx2_f32(s, g, gx, r0, r1);
        return;
    }
#endif
    avgpool_backward_rows_generic_f32(s, g, gx, r0, r1);
}

void pyx_avgpool_backward_rows_f64(const pyx_pool_shape *s, const double *g, double *gx,
                                   ptrdiff_t r0, ptrdiff_t r1)
{
#if PYX_X86
    if (s->channels >= 4 && has_avx2()) {
        avgpool_backward_rows_avx2_f64(s, g, gx, r0, r1);
        return;
    }
#endif
    avgpool_backward_rows_generic_f64(s, g, gx, r0, r1);
}
