/* Winograd's combinations of rows (winograd_kernels.h) compiled for the baseline
 * instruction set, for AVX2 and for AVX-512, and the runtime choice between them: the
 * widest copy whose register the n values fill.
 *
 * No fused multiply-add anywhere (GCC would contract a * b + c under the AVX2 / AVX-512
 * targets): every copy rounds as the baseline build does, so the copies agree bit for
 * bit and the instruction set never changes a result. */
#include "winograd_kernels.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

#define PYX_ISA_IMPL "winograd_kernels_impl.h"
#define PYX_ISA_AVX2_TARGET "avx2"
#define PYX_ISA_AVX512_TARGET "avx512f,avx512vl,avx2"
#include "isa_instantiate.h"

typedef void (*lincomb_f32)(float *, const float **, const double *, ptrdiff_t, int,
                            ptrdiff_t);
typedef void (*lincomb_f64)(double *, const double **, const double *, ptrdiff_t, int,
                            ptrdiff_t);

/* Indexed by level: PYX_ISA_GENERIC, PYX_ISA_AVX2, PYX_ISA_AVX512. */
static const lincomb_f32 copies_f32[PYX_ISA_COPIES] = {
    wino_lincomb_generic_f32,
#if PYX_X86
    wino_lincomb_avx2_f32,
    wino_lincomb_avx512_f32,
#endif
};
static const lincomb_f64 copies_f64[PYX_ISA_COPIES] = {
    wino_lincomb_generic_f64,
#if PYX_X86
    wino_lincomb_avx2_f64,
    wino_lincomb_avx512_f64,
#endif
};

/* The level of the copy for rows of `n` values when a 64-byte register holds `lanes64`
 * of them: AVX-512 when they fill its register, AVX2 when they fill half of it, else the
 * baseline (never above what the CPU has, or PYX_CNN_ISA allows). */
static int level_for(ptrdiff_t n, ptrdiff_t lanes64)
{
#if PYX_X86
    const int level = pyx_isa_copy();
    if (level >= PYX_ISA_AVX512 && n >= lanes64)
        return PYX_ISA_AVX512;
    if (level >= PYX_ISA_AVX2 && n >= lanes64 / 2)
        return PYX_ISA_AVX2;
#else
    (void)n;
    (void)lanes64;
#endif
    return PYX_ISA_GENERIC;
}

void pyx_wino_lincomb_f32(float *out, const float **rows, const double *coef,
                          ptrdiff_t coef_step, int count, ptrdiff_t n)
{
    copies_f32[level_for(n, 16)](out, rows, coef, coef_step, count, n);
}

void pyx_wino_lincomb_f64(double *out, const double **rows, const double *coef,
                          ptrdiff_t coef_step, int count, ptrdiff_t n)
{
    copies_f64[level_for(n, 8)](out, rows, coef, coef_step, count, n);
}
