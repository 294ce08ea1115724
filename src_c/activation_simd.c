/* Activation kernels compiled for the baseline instruction set and for AVX2 / AVX-512,
 * chosen at run time from the CPU (see activation_kernels.h for what they compute). */
#include "activation_kernels.h"
#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#define PYX_X86 1
#else
#define PYX_X86 0
#endif

#define PYX_VB 16
#define PYX_SFX generic
#include "activation_kernels_impl.h"
#undef PYX_SFX
#undef PYX_VB

#if PYX_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define PYX_VB 32
#define PYX_SFX avx2
#include "activation_kernels_impl.h"
#undef PYX_SFX
#undef PYX_VB
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx2,fma")
#endif
#define PYX_VB 64
#define PYX_SFX avx512
#include "activation_kernels_impl.h"
#undef PYX_SFX
#undef PYX_VB
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif /* PYX_X86 */

#define PYX_DISPATCH(NAME, ARGS, CALL)                                  \
    void pyx_##NAME ARGS                                                \
    {                                                                   \
        switch (PYX_X86 ? pyx_isa_level() : PYX_ISA_GENERIC) {          \
        case PYX_ISA_AVX512: NAME##_avx512 CALL; return;                \
        case PYX_ISA_AVX2: NAME##_avx2 CALL; return;                    \
        default: NAME##_generic CALL; return;                           \
        }                                                               \
    }

#if !PYX_X86
#define tanh_f32_avx512 tanh_f32_generic
#define tanh_f32_avx2 tanh_f32_generic
#define tanh_backward_f32_avx512 tanh_backward_f32_generic
#define tanh_backward_f32_avx2 tanh_backward_f32_generic
#define tanh_backward_f64_avx512 tanh_backward_f64_generic
#define tanh_backward_f64_avx2 tanh_backward_f64_generic
#endif

PYX_DISPATCH(tanh_f32, (const float *x, float *out, ptrdiff_t n), (x, out, n))
PYX_DISPATCH(tanh_backward_f32, (const float *y, const float *g, float *out, ptrdiff_t n),
             (y, g, out, n))
PYX_DISPATCH(tanh_backward_f64, (const double *y, const double *g, double *out, ptrdiff_t n),
             (y, g, out, n))
