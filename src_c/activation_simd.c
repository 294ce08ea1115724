/* Activation kernels compiled for the baseline instruction set, for AVX2 + FMA and for
 * AVX-512, and the runtime choice between them: a table of the copies' functions,
 * indexed by instruction-set level (see activation_kernels.h for what they compute). */
#include "activation_kernels.h"

#define PYX_ISA_IMPL "activation_kernels_impl.h"
#include "isa_instantiate.h"

/* One copy of the kernels. */
typedef struct {
    void (*tanh_f32)(const float *x, float *out, ptrdiff_t n);
    void (*tanh_backward_f32)(const float *y, const float *g, float *out, ptrdiff_t n);
    void (*tanh_backward_f64)(const double *y, const double *g, double *out, ptrdiff_t n);
} activation_kernels;

#define PYX_ACTIVATION_COPY(ISA) \
    { tanh_##ISA##_f32, tanh_backward_##ISA##_f32, tanh_backward_##ISA##_f64 }

/* Indexed by level: PYX_ISA_GENERIC, PYX_ISA_AVX2, PYX_ISA_AVX512. */
static const activation_kernels copies[PYX_ISA_COPIES] = {
    PYX_ACTIVATION_COPY(generic),
#if PYX_X86
    PYX_ACTIVATION_COPY(avx2),
    PYX_ACTIVATION_COPY(avx512),
#endif
};

void pyx_tanh_f32(const float *x, float *out, ptrdiff_t n)
{
    copies[pyx_isa_copy()].tanh_f32(x, out, n);
}

void pyx_tanh_backward_f32(const float *y, const float *g, float *out, ptrdiff_t n)
{
    copies[pyx_isa_copy()].tanh_backward_f32(y, g, out, n);
}

void pyx_tanh_backward_f64(const double *y, const double *g, double *out, ptrdiff_t n)
{
    copies[pyx_isa_copy()].tanh_backward_f64(y, g, out, n);
}
