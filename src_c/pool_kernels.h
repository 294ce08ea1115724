/* Channels-last max and average pooling (floor mode, no padding), vectorised over the
 * channel axis, with runtime CPU dispatch. x is (N, in_h, in_w, channels), out is
 * (N, out_h, out_w, channels), both C-contiguous.
 *
 * Max pooling, for output rows r in [row_begin, row_end) (r = n * out_h + oy):
 *
 *     out[n, oy, ox, c] = max_{i, j < size} x[n, oy*stride + i, ox*stride + j, c]
 *
 * and a window holding NaN gives NaN. Each maximum is taken in the same order (window
 * element (0, 0) first, then row by row) whatever the row range or thread count.
 *
 * Average pooling, forward, for output rows r in [row_begin, row_end) (r = n*out_h + oy):
 *
 *     out[n, oy, ox, c] = (0 + sum_{i < size} sum_{j < size} x[n, oy*stride + i, ox*stride + j, c])
 *                         / (size * size)
 *
 * the sum taken from 0 in that order (i, then j), then divided (not multiplied by a
 * reciprocal). Backward, for rows r in [row_begin, row_end) of grad_x (r = n*in_h + iy):
 *
 *     grad_x[n, iy, ix, c] = (0 + sum over the windows (oy, ox) that hold (iy, ix), oy then
 *                             ox ascending, of grad_out[n, oy, ox, c]) / (size * size)
 *
 * and 0 where no window holds (iy, ix) (the edge rows and columns floor mode drops).
 * Every output value is computed by one call, in an order that does not depend on the
 * row range, so the result is the same whatever the split over threads.
 */
#ifndef PYX_POOL_KERNELS_H
#define PYX_POOL_KERNELS_H

#include <stddef.h>

typedef struct {
    ptrdiff_t in_h, in_w, channels;     /* input (N, in_h, in_w, channels) */
    ptrdiff_t size, stride;
    ptrdiff_t out_h, out_w;
} pyx_pool_shape;

void pyx_maxpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_maxpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);

void pyx_avgpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_backward_rows_f32(const pyx_pool_shape *s, const float *grad_out,
                                   float *grad_x, ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_backward_rows_f64(const pyx_pool_shape *s, const double *grad_out,
                                   double *grad_x, ptrdiff_t row_begin, ptrdiff_t row_end);

#endif
