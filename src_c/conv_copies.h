/* The convolution kernels' copies, one per instruction set: the table each copy fills
 * (conv_copy_generic.c, _avx2.c, _avx512.c, _avx512y.c; each file compiles the bodies of
 * conv_kernels_impl.h for its copy only, so the build compiles the copies side by side)
 * and conv_simd.c dispatches through. Private to those files. */
#ifndef PYX_CONV_COPIES_H
#define PYX_CONV_COPIES_H

#include "activation_kernels.h"
#include "conv_kernels.h"
#include "isa_dispatch.h"

typedef void (*rows_f32)(const pyx_conv_shape *, const float *, const float *,
                         const float *, float *, ptrdiff_t, ptrdiff_t);
typedef void (*rows_f64)(const pyx_conv_shape *, const double *, const double *,
                         const double *, double *, ptrdiff_t, ptrdiff_t);
typedef void (*panel_rows_f32)(const pyx_conv_shape *, const float *, const float *,
                               const float *, float *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                               ptrdiff_t);
typedef void (*panel_rows_f64)(const pyx_conv_shape *, const double *, const double *,
                               const double *, double *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                               ptrdiff_t);
typedef void (*wgrad_rows_f32)(const pyx_conv_shape *, const float *, const float *,
                               const float *, ptrdiff_t, float *, ptrdiff_t, ptrdiff_t,
                               ptrdiff_t, ptrdiff_t);
typedef void (*wgrad_rows_f64)(const pyx_conv_shape *, const double *, const double *,
                               const double *, ptrdiff_t, double *, ptrdiff_t, ptrdiff_t,
                               ptrdiff_t, ptrdiff_t);
typedef ptrdiff_t (*wgrad_rows_per_item)(const pyx_conv_shape *);
typedef void (*wgrad_bias_f32)(const pyx_conv_shape *, const float *, const float *,
                               ptrdiff_t, float *, ptrdiff_t, ptrdiff_t);
typedef void (*wgrad_bias_f64)(const pyx_conv_shape *, const double *, const double *,
                               ptrdiff_t, double *, ptrdiff_t, ptrdiff_t);

/* One copy of the kernels. */
typedef struct {
    const char *isa;         /* what pyx_conv_isa() says while this level runs */
    int vector_bytes;        /* bytes per SIMD register */
    panel_rows_f32 direct_f32;
    panel_rows_f64 direct_f64;
    rows_f32 planar_f32;
    rows_f64 planar_f64;
    rows_f32 pair_f32, tap_pair_f32;    /* the paired kernels, NULL where there are none */
    wgrad_rows_f32 wgrad_rows_f32;
    wgrad_rows_f64 wgrad_rows_f64;
    wgrad_rows_per_item rows_per_item_f32, rows_per_item_f64;
    wgrad_bias_f32 wgrad_bias_f32;
    wgrad_bias_f64 wgrad_bias_f64;
} conv_kernels;

#define PYX_CONV_COPY(NAME, ISA, VB, PAIR, TAP_PAIR)                                     \
    {                                                                                    \
        NAME, VB,                                                                        \
        direct_rows_##ISA##_f32, direct_rows_##ISA##_f64,                                \
        planar_rows_##ISA##_f32, planar_rows_##ISA##_f64,                                \
        PAIR, TAP_PAIR,                                                                  \
        wgrad_rows_##ISA##_f32, wgrad_rows_##ISA##_f64,                                  \
        wgrad_rows_per_item_##ISA##_f32, wgrad_rows_per_item_##ISA##_f64,                \
        wgrad_bias_##ISA##_f32, wgrad_bias_##ISA##_f64,                                  \
    }

/* The copies (the AVX2 and AVX-512 ones on x86 only). The paired kernels live in the
 * 64-byte float32 copy alone: they run on the level's copy, as the planar kernel does,
 * whatever F. */
extern const conv_kernels pyx_conv_copy_generic;
#if PYX_X86
extern const conv_kernels pyx_conv_copy_avx2;
extern const conv_kernels pyx_conv_copy_avx512;   /* 64-byte registers */
extern const conv_kernels pyx_conv_copy_avx512y;  /* AVX-512 on 32-byte registers */
#endif

#endif
