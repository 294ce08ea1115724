/* Convolution microkernels compiled once per instruction set, and the runtime choice
 * between them. The build is portable (no -march=native): the AVX-512 and AVX2 copies
 * are compiled with a target pragma and used only when the running CPU has them. */
#include "conv_kernels.h"
#include "cpu_features.h"

#if !defined(__GNUC__) && !defined(__clang__)
#error "pyx_cnn's kernels use GCC/Clang vector extensions: build with gcc or clang"
#endif

#if defined(__x86_64__) || defined(__i386__)
#define PYX_X86 1
#else
#define PYX_X86 0
#endif

#define PYX_PAIRS 0

/* ---- generic copy: the baseline instruction set of the build (SSE2 on x86-64) ---- */
#define PYX_VB 16
#define PYX_REGS 16
#define PYX_T float
#define PYX_IT int
#define PYX_SFX generic_f32
#include "conv_kernels_impl.h"
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#define PYX_T double
#define PYX_IT long long
#define PYX_SFX generic_f64
#include "conv_kernels_impl.h"
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#undef PYX_VB
#undef PYX_REGS

#if PYX_X86
/* ---- AVX2 + FMA: 16 registers of 32 bytes ---- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define PYX_VB 32
#define PYX_REGS 16
#define PYX_T float
#define PYX_IT int
#define PYX_SFX avx2_f32
#include "conv_kernels_impl.h"
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#define PYX_T double
#define PYX_IT long long
#define PYX_SFX avx2_f64
#include "conv_kernels_impl.h"
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#undef PYX_VB
#undef PYX_REGS
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX-512 (F + VL): 32 registers, used at 64 and at 32 bytes ---- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx2,fma")
#endif
#define PYX_REGS 32
#define PYX_VB 64
#define PYX_T float
#define PYX_IT int
#define PYX_SFX avx512_f32
#undef PYX_PAIRS
#define PYX_PAIRS 1
#include "conv_kernels_impl.h"
#undef PYX_PAIRS
#define PYX_PAIRS 0
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#define PYX_T double
#define PYX_IT long long
#define PYX_SFX avx512_f64
#include "conv_kernels_impl.h"
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#undef PYX_VB
#define PYX_VB 32
#define PYX_T float
#define PYX_IT int
#define PYX_SFX avx512y_f32
#include "conv_kernels_impl.h"
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#define PYX_T double
#define PYX_IT long long
#define PYX_SFX avx512y_f64
#include "conv_kernels_impl.h"
#undef PYX_T
#undef PYX_IT
#undef PYX_SFX
#undef PYX_VB
#undef PYX_REGS
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif /* PYX_X86 */

/* ---- runtime dispatch ---- */
enum { ISA_GENERIC = PYX_ISA_GENERIC, ISA_AVX2 = PYX_ISA_AVX2, ISA_AVX512 = PYX_ISA_AVX512 };

static int isa(void)
{
    return pyx_isa_level();
}

const char *pyx_conv_isa(void)
{
    switch (isa()) {
    case ISA_AVX512: return "avx512f";
    case ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

/* AVX-512 uses 32-byte registers while F is too small to fill a 64-byte one. */
int pyx_conv_direct_lanes(int is_double, ptrdiff_t filters)
{
    const int size = is_double ? 8 : 4;
    switch (isa()) {
    case ISA_AVX512: return (filters * size >= 64) ? 64 / size : 32 / size;
    case ISA_AVX2: return 32 / size;
    default: return 16 / size;
    }
}

/* The paired kernel (see conv_kernels_impl.h): AVX-512, float32, one channel, stride 1,
 * 5..8 filters, rows of at least two pixels. */
int pyx_conv_direct_pairs(int is_double, ptrdiff_t filters, ptrdiff_t channels,
                          ptrdiff_t stride, ptrdiff_t out_w)
{
#if PYX_X86
    return isa() == ISA_AVX512 && !is_double && channels == 1 && stride == 1
           && filters > PYX_CONV_PLANAR_MAX_FILTERS && filters <= 8 && out_w >= 2;
#else
    (void)is_double; (void)filters; (void)channels; (void)stride; (void)out_w;
    return 0;
#endif
}

/* The tap-paired kernel (see conv_kernels_impl.h): AVX-512, float32, at most 8 filters,
 * runs of an even length (`run`: kw*C, or C with dilation along W), where the pixel-paired
 * kernel does not apply. */
int pyx_conv_direct_tap_pairs(int is_double, ptrdiff_t filters, ptrdiff_t run,
                              int pixel_pairs)
{
#if PYX_X86
    return isa() == ISA_AVX512 && !is_double && filters <= 8 && run % 2 == 0 && !pixel_pairs;
#else
    (void)is_double; (void)filters; (void)run; (void)pixel_pairs;
    return 0;
#endif
}

#define PYX_DISPATCH_DIRECT(SUF, T)                                                       \
    void pyx_conv_direct_rows_##SUF(const pyx_conv_shape *s, const T *x, const T *w,      \
                                    const T *bias, T *out, ptrdiff_t r0, ptrdiff_t r1)    \
    {                                                                                     \
        const int lanes = pyx_conv_direct_lanes(sizeof(T) == 8, s->filters);              \
        if (PYX_DIRECT_PAIRS_##SUF(s)) return;                                             \
        switch (PYX_X86 ? isa() : ISA_GENERIC) {                                          \
        case ISA_AVX512:                                                                  \
            if (lanes * (int)sizeof(T) == 64)                                             \
                direct_rows_avx512_##SUF(s, x, w, bias, out, r0, r1);                     \
            else                                                                          \
                direct_rows_avx512y_##SUF(s, x, w, bias, out, r0, r1);                    \
            return;                                                                       \
        case ISA_AVX2: direct_rows_avx2_##SUF(s, x, w, bias, out, r0, r1); return;        \
        default: direct_rows_generic_##SUF(s, x, w, bias, out, r0, r1); return;           \
        }                                                                                 \
    }                                                                                     \
    void pyx_conv_planar_rows_##SUF(const pyx_conv_shape *s, const T *x, const T *w,      \
                                    const T *bias, T *out, ptrdiff_t r0, ptrdiff_t r1)    \
    {                                                                                     \
        switch (PYX_X86 ? isa() : ISA_GENERIC) {                                          \
        case ISA_AVX512: planar_rows_avx512_##SUF(s, x, w, bias, out, r0, r1); return;    \
        case ISA_AVX2: planar_rows_avx2_##SUF(s, x, w, bias, out, r0, r1); return;        \
        default: planar_rows_generic_##SUF(s, x, w, bias, out, r0, r1); return;           \
        }                                                                                 \
    }

#define PYX_DISPATCH_WGRAD(SUF, T)                                                        \
    void pyx_conv_wgrad_row_##SUF(const pyx_conv_shape *s, const T *x, const T *g, T *part,   \
                                  ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i)                    \
    {                                                                                         \
        switch (PYX_X86 ? isa() : ISA_GENERIC) {                                              \
        case ISA_AVX512:                                                                      \
            if (pyx_conv_direct_lanes(sizeof(T) == 8, s->filters) * (int)sizeof(T) == 64)     \
                wgrad_row_avx512_##SUF(s, x, g, part, n0, n1, i);                             \
            else                                                                              \
                wgrad_row_avx512y_##SUF(s, x, g, part, n0, n1, i);                            \
            return;                                                                           \
        case ISA_AVX2: wgrad_row_avx2_##SUF(s, x, g, part, n0, n1, i); return;                \
        default: wgrad_row_generic_##SUF(s, x, g, part, n0, n1, i); return;                   \
        }                                                                                     \
    }                                                                                         \
    void pyx_conv_wgrad_bias_##SUF(const pyx_conv_shape *s, const T *g, T *bias_part,         \
                                   ptrdiff_t n0, ptrdiff_t n1)                                \
    {                                                                                         \
        switch (PYX_X86 ? isa() : ISA_GENERIC) {                                              \
        case ISA_AVX512:                                                                      \
            if (pyx_conv_direct_lanes(sizeof(T) == 8, s->filters) * (int)sizeof(T) == 64)     \
                wgrad_bias_avx512_##SUF(s, g, bias_part, n0, n1);                             \
            else                                                                              \
                wgrad_bias_avx512y_##SUF(s, g, bias_part, n0, n1);                            \
            return;                                                                           \
        case ISA_AVX2: wgrad_bias_avx2_##SUF(s, g, bias_part, n0, n1); return;                \
        default: wgrad_bias_generic_##SUF(s, g, bias_part, n0, n1); return;                   \
        }                                                                                     \
    }

#if !PYX_X86
/* Only the generic copy exists: make the dispatch's other names point at it. */
#define direct_rows_avx512_f32 direct_rows_generic_f32
#define direct_rows_avx512y_f32 direct_rows_generic_f32
#define direct_rows_avx2_f32 direct_rows_generic_f32
#define planar_rows_avx512_f32 planar_rows_generic_f32
#define planar_rows_avx2_f32 planar_rows_generic_f32
#define direct_rows_avx512_f64 direct_rows_generic_f64
#define direct_rows_avx512y_f64 direct_rows_generic_f64
#define direct_rows_avx2_f64 direct_rows_generic_f64
#define planar_rows_avx512_f64 planar_rows_generic_f64
#define planar_rows_avx2_f64 planar_rows_generic_f64
#define wgrad_row_avx512_f32 wgrad_row_generic_f32
#define wgrad_row_avx512y_f32 wgrad_row_generic_f32
#define wgrad_row_avx2_f32 wgrad_row_generic_f32
#define wgrad_bias_avx512_f32 wgrad_bias_generic_f32
#define wgrad_bias_avx512y_f32 wgrad_bias_generic_f32
#define wgrad_bias_avx2_f32 wgrad_bias_generic_f32
#define wgrad_row_avx512_f64 wgrad_row_generic_f64
#define wgrad_row_avx512y_f64 wgrad_row_generic_f64
#define wgrad_row_avx2_f64 wgrad_row_generic_f64
#define wgrad_bias_avx512_f64 wgrad_bias_generic_f64
#define wgrad_bias_avx512y_f64 wgrad_bias_generic_f64
#define wgrad_bias_avx2_f64 wgrad_bias_generic_f64
#endif

#if PYX_X86
static int pixel_pairs(const pyx_conv_shape *s)
{
    return pyx_conv_direct_pairs(0, s->filters, s->channels,
                                 s->stride_h == 1 && s->stride_w == 1 ? 1 : 0, s->out_w);
}

static int tap_pairs(const pyx_conv_shape *s)
{
    const int dilated = s->dilation_w > 1 && s->kw > 1;
    return pyx_conv_direct_tap_pairs(0, s->filters, dilated ? s->channels : s->kw * s->channels,
                                     pixel_pairs(s));
}

#define PYX_DIRECT_PAIRS_f32(s)                                                     \
    ((pixel_pairs(s) && (pair_rows_avx512_f32(s, x, w, bias, out, r0, r1), 1))      \
     || (tap_pairs(s) && (tappair_rows_avx512_f32(s, x, w, bias, out, r0, r1), 1)))
#else
#define PYX_DIRECT_PAIRS_f32(s) 0
#endif
#define PYX_DIRECT_PAIRS_f64(s) 0

PYX_DISPATCH_DIRECT(f32, float)
PYX_DISPATCH_DIRECT(f64, double)
PYX_DISPATCH_WGRAD(f32, float)
PYX_DISPATCH_WGRAD(f64, double)
