/* Depthwise convolution kernels compiled once per instruction set (see conv_depthwise.h),
 * and the runtime dispatch: the copy whose registers the channels fill. */
#include <string.h>

#include "activation_kernels.h"
#include "conv_depthwise.h"

#define PYX_ISA_IMPL "conv_depthwise_impl.h"
#define PYX_ISA_AVX512_HALF 1      /* AVX-512 on 32-byte registers too, for C < 16 floats */
#include "isa_instantiate.h"

typedef void (*dw_rows_f32)(const pyx_dw_shape *, const float *, const float *,
                            const float *, float *, ptrdiff_t, ptrdiff_t);
typedef void (*dw_rows_f64)(const pyx_dw_shape *, const double *, const double *,
                            const double *, double *, ptrdiff_t, ptrdiff_t);
typedef void (*dw_igrad_f32)(const pyx_dw_shape *, const float *, const float *, float *,
                             float *, ptrdiff_t);
typedef void (*dw_igrad_f64)(const pyx_dw_shape *, const double *, const double *, double *,
                             double *, ptrdiff_t);
typedef void (*dw_wgrad_f32)(const pyx_dw_shape *, const float *, const float *, float *,
                             float *, ptrdiff_t, ptrdiff_t);
typedef void (*dw_wgrad_f64)(const pyx_dw_shape *, const double *, const double *, double *,
                             double *, ptrdiff_t, ptrdiff_t);

/* One copy of the kernels. */
typedef struct {
    int vector_bytes;
    dw_rows_f32 rows_f32;
    dw_rows_f64 rows_f64;
    dw_igrad_f32 igrad_f32;
    dw_igrad_f64 igrad_f64;
    dw_wgrad_f32 wgrad_f32;
    dw_wgrad_f64 wgrad_f64;
} dw_kernels;

#define PYX_DW_COPY(ISA, VB)                                                   \
    {                                                                          \
        VB, dw_rows_##ISA##_f32, dw_rows_##ISA##_f64,                          \
        dw_input_grad_##ISA##_f32, dw_input_grad_##ISA##_f64,                  \
        dw_filter_grad_##ISA##_f32, dw_filter_grad_##ISA##_f64,                \
    }

/* Indexed by level (PYX_ISA_GENERIC, PYX_ISA_AVX2, PYX_ISA_AVX512), then AVX-512 on
 * 32-byte registers. */
#define COPY_AVX512Y 3
static const dw_kernels copies[] = {
    PYX_DW_COPY(generic, 16),
#if PYX_X86
    PYX_DW_COPY(avx2, 32),
    PYX_DW_COPY(avx512, 64),
    PYX_DW_COPY(avx512y, 32),
#endif
};

/* The CPU's copy, or a narrower one while C values do not fill its registers. */
static const dw_kernels *copy_for(int is_double, ptrdiff_t channels)
{
    const int level = pyx_isa_copy();
    const ptrdiff_t bytes = channels * (is_double ? 8 : 4);
#if PYX_X86
    if (level == PYX_ISA_AVX512 && bytes < 64)
        return bytes >= 32 ? &copies[COPY_AVX512Y] : &copies[PYX_ISA_GENERIC];
    if (level == PYX_ISA_AVX2 && bytes < 32)
        return &copies[PYX_ISA_GENERIC];
#else
    (void)bytes;
#endif
    return &copies[level];
}

int pyx_dw_min_channels(int is_double)
{
    return 16 / (is_double ? 8 : 4);
}

int pyx_dw_lanes(int is_double, ptrdiff_t channels)
{
    return copy_for(is_double, channels)->vector_bytes / (is_double ? 8 : 4);
}

#define PYX_DW_ROWS(NAME, T, IS_DOUBLE, KERNEL)                                            \
    void NAME(const pyx_dw_shape *s, const T *x, const T *w, const T *bias, T *out,         \
              ptrdiff_t r0, ptrdiff_t r1)                                                    \
    {                                                                                        \
        copy_for(IS_DOUBLE, s->channels)->KERNEL(s, x, w, bias, out, r0, r1);                \
    }
PYX_DW_ROWS(pyx_dw_rows_f32, float, 0, rows_f32)
PYX_DW_ROWS(pyx_dw_rows_f64, double, 1, rows_f64)
#undef PYX_DW_ROWS

ptrdiff_t pyx_dw_scatter_size(const pyx_dw_shape *s)
{
    const ptrdiff_t bh = (s->out_h - 1) * s->stride_h + (s->kh - 1) * s->dilation_h + 1;
    const ptrdiff_t bw = (s->out_w - 1) * s->stride_w + (s->kw - 1) * s->dilation_w + 1;
    return bh * bw * s->channels;
}

void pyx_dw_input_grad_f32(const pyx_dw_shape *s, const float *g, const float *w,
                           float *buf, float *gx, ptrdiff_t n)
{
    copy_for(0, s->channels)->igrad_f32(s, g, w, buf, gx, n);
}

void pyx_dw_input_grad_f64(const pyx_dw_shape *s, const double *g, const double *w,
                           double *buf, double *gx, ptrdiff_t n)
{
    copy_for(1, s->channels)->igrad_f64(s, g, w, buf, gx, n);
}

void pyx_dw_filter_grad_f32(const pyx_dw_shape *s, const float *x, const float *g,
                            float *part_w, float *part_b, ptrdiff_t n0, ptrdiff_t n1)
{
    copy_for(0, s->channels)->wgrad_f32(s, x, g, part_w, part_b, n0, n1);
}

void pyx_dw_filter_grad_f64(const pyx_dw_shape *s, const double *x, const double *g,
                            double *part_w, double *part_b, ptrdiff_t n0, ptrdiff_t n1)
{
    copy_for(1, s->channels)->wgrad_f64(s, x, g, part_w, part_b, n0, n1);
}
