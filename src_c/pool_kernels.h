/* Channels-last max pooling, vectorised over the channel axis, with runtime CPU dispatch.
 *
 * For output rows r in [row_begin, row_end) (r = n * out_h + oy):
 *
 *     out[n, oy, ox, c] = max_{i, j < size} x[n, oy*stride + i, ox*stride + j, c]
 *
 * and a window holding NaN gives NaN. Each maximum is taken in the same order (window
 * element (0, 0) first, then row by row) whatever the row range or thread count.
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

#endif
