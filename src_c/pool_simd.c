/* Max- and average-pooling kernels compiled for the baseline instruction set, AVX2 and
 * AVX-512, and the runtime choice between them: a table of the copies' functions,
 * indexed by instruction-set level. A register holds consecutive channels, so a copy is
 * used only when the channels fill its register. */
#include "pool_kernels.h"

#include <stddef.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* No FMA in the target: the kernels only compare, add and divide. */
#define PYX_ISA_IMPL "pool_kernels_impl.h"
#define PYX_ISA_AVX2_TARGET "avx2"
#define PYX_ISA_AVX512_TARGET "avx512f,avx512vl,avx2"
#include "isa_instantiate.h"

typedef void (*pool_rows_f32)(const pyx_pool_shape *, const float *, float *, ptrdiff_t,
                              ptrdiff_t);
typedef void (*pool_rows_f64)(const pyx_pool_shape *, const double *, double *, ptrdiff_t,
                              ptrdiff_t);

typedef void (*pool_argmax_f32)(const pyx_pool_shape *, const float *, float *, int32_t *,
                                int);
typedef void (*pool_argmax_f64)(const pyx_pool_shape *, const double *, double *, int32_t *,
                                int);

/* One copy of the kernels. */
typedef struct {
    int lanes_f32;    /* floats per register; a double register holds half as many */
    pool_rows_f32 maxpool_f32, avgpool_f32, avgpool_backward_f32, avgpool_scale_f32,
        avgpool_gather_f32;
    pool_rows_f64 maxpool_f64, avgpool_f64, avgpool_backward_f64, avgpool_scale_f64,
        avgpool_gather_f64;
    pool_argmax_f32 maxpool_argmax_f32;
    pool_argmax_f64 maxpool_argmax_f64;
} pool_kernels;

#define PYX_POOL_COPY(ISA, VB)                                                           \
    {                                                                                    \
        (VB) / 4,                                                                        \
        maxpool_rows_##ISA##_f32, avgpool_rows_##ISA##_f32, avgpool_backward_rows_##ISA##_f32, \
        avgpool_scale_rows_##ISA##_f32, avgpool_gather_rows_##ISA##_f32,                 \
        maxpool_rows_##ISA##_f64, avgpool_rows_##ISA##_f64, avgpool_backward_rows_##ISA##_f64, \
        avgpool_scale_rows_##ISA##_f64, avgpool_gather_rows_##ISA##_f64,                 \
        maxpool_argmax_sample_##ISA##_f32, maxpool_argmax_sample_##ISA##_f64,             \
    }

/* Indexed by level: PYX_ISA_GENERIC, PYX_ISA_AVX2, PYX_ISA_AVX512. */
static const pool_kernels copies[PYX_ISA_COPIES] = {
    PYX_POOL_COPY(generic, 16),
#if PYX_X86
    PYX_POOL_COPY(avx2, 32),
    PYX_POOL_COPY(avx512, 64),
#endif
};

/* The widest copy the CPU runs whose register `channels` fill (`lanes`: the values of
 * the dtype per register of that copy), else the generic one. Max pooling also takes a
 * copy for a 2x2 window of stride 2 when two pixels' channels fill its register (one
 * load holds a window row). */
static const pool_kernels *copy_for(ptrdiff_t channels, int is_double, int pixel_pairs)
{
    for (int level = pyx_isa_copy(); level > PYX_ISA_GENERIC; level--) {
        const ptrdiff_t lanes = is_double ? copies[level].lanes_f32 / 2
                                          : copies[level].lanes_f32;
        if (channels >= lanes || (pixel_pairs && 2 * channels == lanes))
            return &copies[level];
    }
    return &copies[PYX_ISA_GENERIC];
}

static int window_2x2(const pyx_pool_shape *s)
{
    return s->size == 2 && s->stride == 2 && pyx_pool_inside(s);
}

void pyx_maxpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 0, window_2x2(s))->maxpool_f32(s, x, out, r0, r1);
}

void pyx_maxpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 1, window_2x2(s))->maxpool_f64(s, x, out, r0, r1);
}

void pyx_maxpool_argmax_sample_f32(const pyx_pool_shape *s, const float *x, float *out,
                                   int32_t *arg, int relu)
{
    copy_for(s->channels, 0, 0)->maxpool_argmax_f32(s, x, out, arg, relu);
}

void pyx_maxpool_argmax_sample_f64(const pyx_pool_shape *s, const double *x, double *out,
                                   int32_t *arg, int relu)
{
    copy_for(s->channels, 1, 0)->maxpool_argmax_f64(s, x, out, arg, relu);
}

void pyx_avgpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 0, 0)->avgpool_f32(s, x, out, r0, r1);
}

void pyx_avgpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 1, 0)->avgpool_f64(s, x, out, r0, r1);
}

void pyx_avgpool_backward_rows_f32(const pyx_pool_shape *s, const float *g, float *gx,
                                   ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 0, 0)->avgpool_backward_f32(s, g, gx, r0, r1);
}

void pyx_avgpool_backward_rows_f64(const pyx_pool_shape *s, const double *g, double *gx,
                                   ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 1, 0)->avgpool_backward_f64(s, g, gx, r0, r1);
}

void pyx_avgpool_scale_rows_f32(const pyx_pool_shape *s, const float *g, float *scaled,
                                ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 0, 0)->avgpool_scale_f32(s, g, scaled, r0, r1);
}

void pyx_avgpool_scale_rows_f64(const pyx_pool_shape *s, const double *g, double *scaled,
                                ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 1, 0)->avgpool_scale_f64(s, g, scaled, r0, r1);
}

void pyx_avgpool_gather_rows_f32(const pyx_pool_shape *s, const float *scaled, float *gx,
                                 ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 0, 0)->avgpool_gather_f32(s, scaled, gx, r0, r1);
}

void pyx_avgpool_gather_rows_f64(const pyx_pool_shape *s, const double *scaled, double *gx,
                                 ptrdiff_t r0, ptrdiff_t r1)
{
    copy_for(s->channels, 1, 0)->avgpool_gather_f64(s, scaled, gx, r0, r1);
}
