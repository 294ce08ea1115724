/* Batch normalisation kernels, vectorised over the channel axis, with runtime CPU
 * dispatch. The data are (M, C) rows, C-contiguous (channels-last (N, H, W, C) seen as
 * M = N*H*W rows of C channels); each call handles the rows [row_begin, row_end).
 *
 * Sums (double accumulators, the rows added in order, starting from 0, so that the
 * caller's fixed blocks of rows give the same partial sums whatever the thread count):
 *
 *     pyx_bn_block_stats:     sum[c] = sum_r x[r, c]
 *                             dev[c] = sum_r (x[r, c] - m[c])       (m = sum / n, the block
 *                             dev2[c] = sum_r (x[r, c] - m[c])**2    mean; n = row_end - row_begin)
 *     pyx_bn_backward_sums:   sum_g[c] = sum_r g[r, c]
 *                             sum_gx[c] = sum_r g[r, c] * (x[r, c] - mean[c])
 *
 * the values converted to double before any arithmetic. Per-channel maps, in the
 * data's dtype, each product rounded before the sum (no fused multiply-add, so every
 * instruction set gives the same bits):
 *
 *     pyx_bn_scale_shift:     out[r, c] = x[r, c] * scale[c] + shift[c]
 *     pyx_bn_backward_apply:  grad_x[r, c] = (g[r, c] - a[c] - (x[r, c] - mean[c]) * b[c]) * k[c]
 */
#ifndef PYX_BATCH_NORM_KERNELS_H
#define PYX_BATCH_NORM_KERNELS_H

#include <stddef.h>

void pyx_bn_block_stats_f32(const float *x, ptrdiff_t channels, ptrdiff_t row_begin,
                            ptrdiff_t row_end, double *sum, double *dev, double *dev2);
void pyx_bn_block_stats_f64(const double *x, ptrdiff_t channels, ptrdiff_t row_begin,
                            ptrdiff_t row_end, double *sum, double *dev, double *dev2);

void pyx_bn_backward_sums_f32(const float *x, const float *g, ptrdiff_t channels,
                              ptrdiff_t row_begin, ptrdiff_t row_end, const double *mean,
                              double *sum_g, double *sum_gx);
void pyx_bn_backward_sums_f64(const double *x, const double *g, ptrdiff_t channels,
                              ptrdiff_t row_begin, ptrdiff_t row_end, const double *mean,
                              double *sum_g, double *sum_gx);

void pyx_bn_scale_shift_f32(const float *x, ptrdiff_t channels, ptrdiff_t row_begin,
                            ptrdiff_t row_end, const float *scale, const float *shift,
                            float *out);
void pyx_bn_scale_shift_f64(const double *x, ptrdiff_t channels, ptrdiff_t row_begin,
                            ptrdiff_t row_end, const double *scale, const double *shift,
                            double *out);

void pyx_bn_backward_apply_f32(const float *x, const float *g, ptrdiff_t channels,
                               ptrdiff_t row_begin, ptrdiff_t row_end, const float *mean,
                               const float *a, const float *b, const float *k,
                               float *grad_x);
void pyx_bn_backward_apply_f64(const double *x, const double *g, ptrdiff_t channels,
                               ptrdiff_t row_begin, ptrdiff_t row_end, const double *mean,
                               const double *a, const double *b, const double *k,
                               double *grad_x);

#endif
