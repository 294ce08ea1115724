/* Channels-last convolution microkernels, with runtime CPU dispatch.
 *
 * Two algorithms, both computing, for output rows r in [row_begin, row_end)
 * (r = n * out_h + oy):
 *
 *     out[n, oy, ox, f] = bias[f] + sum_{i<kh, j<kw, c<C} x[n, oy*sh + i*dh, ox*sw + j*dw, c] * w[i, j*C+c, f]

 * (strides sh, sw and dilations dh, dw: the fields stride_h, stride_w, dilation_h,
 * dilation_w of the shape).
 *
 * - direct ("filters innermost"): each SIMD register holds consecutive filters of one
 *   output pixel; a block of R pixels x NV registers of accumulators stays in registers
 *   while the kh*kw*C products are added. Good when F fills the registers.
 *   Reads the weights as (kh, kw*C, Fp), Fp = F rounded up to the lane count
 *   pyx_conv_direct_lanes() returns (zero padding), and bias as (Fp,).
 * - planar ("columns innermost", strides 1 only): each SIMD register holds consecutive
 *   output columns of one filter, reading a planar (N, C, H, W) copy of the input. Good
 *   when F is too small to fill a register (F <= PYX_CONV_PLANAR_MAX_FILTERS).
 *   Reads the weights as (kh, kw*C, F) and bias as (F,).
 *
 * Every output value is computed by the same sequence of operations whatever the row
 * range, the block it falls in, or the number of threads: the sum runs over i, then
 * j*C + c, starting from the bias. Results are identical for any thread count.
 */
#ifndef PYX_CONV_KERNELS_H
#define PYX_CONV_KERNELS_H

#include <stddef.h>

#define PYX_CONV_PLANAR_MAX_FILTERS 4

typedef struct {
    ptrdiff_t in_h, in_w, channels;     /* padded input (N, in_h, in_w, channels) */
    ptrdiff_t kh, kw, filters;          /* filter bank (kh, kw*channels, filters) */
    ptrdiff_t filters_padded;           /* direct: F rounded up to the lane count */
    ptrdiff_t out_h, out_w;
    ptrdiff_t stride_h, stride_w;       /* planar and paired kernels: 1 and 1 */
    ptrdiff_t dilation_h, dilation_w;
} pyx_conv_shape;

/* Lanes per SIMD register the direct kernel uses for this F on the running CPU. */
int pyx_conv_direct_lanes(int is_double, ptrdiff_t filters);

/* 1 when the direct kernel uses its paired form for this shape (`stride` is 1 when
 * both strides are 1, else 0 or any other value): it then reads the
 * weights as (kh, kw, 16) and bias as (16,), each of the F <= 8 filters (zero-padded
 * to 8) twice in a row, and filters_padded must be 16. */
int pyx_conv_direct_pairs(int is_double, ptrdiff_t filters, ptrdiff_t channels,
                          ptrdiff_t stride, ptrdiff_t out_w);

/* 1 when the direct kernel uses its tap-paired form: `run` is the length of a window's
 * runs (kw*C, or C with dilation along W) and `pixel_pairs` what pyx_conv_direct_pairs
 * says. It then reads the weights as (kh, kw*C/2, 16), lane 2f + q of row p holding
 * w[i, 2p + q, f] (F <= 8 zero-padded to 8), bias as (16,) with bias[f] in lane 2f and
 * zeros in the odd lanes, and filters_padded must be 16. */
int pyx_conv_direct_tap_pairs(int is_double, ptrdiff_t filters, ptrdiff_t run,
                              int pixel_pairs);

/* Name of the instruction set the kernels dispatch to ("avx512f", "avx2", "generic"). */
const char *pyx_conv_isa(void);

void pyx_conv_direct_rows_f32(const pyx_conv_shape *s, const float *x, const float *w,
                              const float *bias, float *out,
                              ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_conv_direct_rows_f64(const pyx_conv_shape *s, const double *x, const double *w,
                              const double *bias, double *out,
                              ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_conv_planar_rows_f32(const pyx_conv_shape *s, const float *x_planar,
                              const float *w, const float *bias, float *out,
                              ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_conv_planar_rows_f64(const pyx_conv_shape *s, const double *x_planar,
                              const double *w, const double *bias, double *out,
                              ptrdiff_t row_begin, ptrdiff_t row_end);

/* Filter gradient, kernel row i, samples [n0, n1) (see conv_kernels_impl.h):
 *     part[i, j*C + c, f] = sum_{n, oy, ox} x[n, oy*sh + i*dh, ox*sw + j*dw, c] * g[n, oy, ox, f]
 * with g (N, out_h, out_w, filters_padded) and part (kh, kw*C, filters_padded), where
 * filters_padded is F rounded up to pyx_conv_direct_lanes(); only row i of part is
 * written. And bias_part[f] = sum_{n in [n0, n1), oy, ox} g[n, oy, ox, f]. Every sum
 * runs in pixel order whatever the caller's split of the work. */
void pyx_conv_wgrad_row_f32(const pyx_conv_shape *s, const float *x, const float *g,
                            float *part, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i);
void pyx_conv_wgrad_row_f64(const pyx_conv_shape *s, const double *x, const double *g,
                            double *part, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i);
void pyx_conv_wgrad_bias_f32(const pyx_conv_shape *s, const float *g, float *bias_part,
                             ptrdiff_t n0, ptrdiff_t n1);
void pyx_conv_wgrad_bias_f64(const pyx_conv_shape *s, const double *g, double *bias_part,
                             ptrdiff_t n0, ptrdiff_t n1);

#endif
