/* Channels-last max and average pooling, vectorised over the channel axis, with runtime
 * CPU dispatch. x is (N, in_h, in_w, channels), out is (N, out_h, out_w, channels), both
 * C-contiguous.
 *
 * The formulas below are those of windows inside the input (no padding, floor mode),
 * which have their own fast loops. In general (padding, or ceil mode's last window past
 * the input) window (oy, ox) covers input rows oy*stride - pad_top + i and columns
 * ox*stride - pad_left + j, i, j < size, and only the ones inside the input count:
 * pyx_pool_window below clips them. The padding never wins a maximum; the average
 * divides the clipped window's sum by the clipped window's size, or, with
 * count_include_pad, by the size of the window clipped to the padded input
 * (-pad_top <= row < in_h + pad_bottom, likewise columns): PyTorch's avg_pool2d rule.
 * The caller guarantees that every window holds at least one input value.
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
#include <stdint.h>

typedef struct {
    ptrdiff_t in_h, in_w, channels;     /* input (N, in_h, in_w, channels) */
    ptrdiff_t size, stride;
    ptrdiff_t out_h, out_w;
    ptrdiff_t pad_top, pad_bottom, pad_left, pad_right;   /* zeros around the input */
    int count_include_pad;              /* average pooling's divisor (see above) */
} pyx_pool_shape;

/* Along one axis of n values padded by (pad_before, pad_after): the input indices
 * [*lo, *hi) that window `o` covers, and in *padded_count the size of the window
 * clipped to the padded axis only. */
static inline void pyx_pool_window(ptrdiff_t o, ptrdiff_t size, ptrdiff_t stride,
                                   ptrdiff_t n, ptrdiff_t pad_before, ptrdiff_t pad_after,
                                   ptrdiff_t *lo, ptrdiff_t *hi, ptrdiff_t *padded_count)
{
    const ptrdiff_t start = o * stride - pad_before;
    ptrdiff_t stop = start + size;
    if (stop > n + pad_after)
        stop = n + pad_after;
    *padded_count = stop - start;
    *lo = start > 0 ? start : 0;
    *hi = stop < n ? stop : n;
}

/* Whether every window lies inside the input: the fast loops then apply. */
static inline int pyx_pool_inside(const pyx_pool_shape *s)
{
    return s->pad_top == 0 && s->pad_left == 0
        && (s->out_h - 1) * s->stride + s->size <= s->in_h
        && (s->out_w - 1) * s->stride + s->size <= s->in_w;
}

void pyx_maxpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_maxpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);

/* Max pooling for training, one sample (x: its (in_h, in_w, channels) image, out and arg
 * its (out_h, out_w, channels) outputs), every window inside the input (pyx_pool_inside):
 * out as above, and arg[oy, ox, c] the offset (iy*in_w + ix)*channels + c in the sample
 * of the window's first maximum in the order above (a NaN wins and stays). With relu,
 * out is max(maximum, 0), +0 for a maximum <= 0 (ReLU then pooling in one pass). */
void pyx_maxpool_argmax_sample_f32(const pyx_pool_shape *s, const float *x, float *out,
                                   int32_t *arg, int relu);
void pyx_maxpool_argmax_sample_f64(const pyx_pool_shape *s, const double *x, double *out,
                                   int32_t *arg, int relu);

void pyx_avgpool_rows_f32(const pyx_pool_shape *s, const float *x, float *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_rows_f64(const pyx_pool_shape *s, const double *x, double *out,
                          ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_backward_rows_f32(const pyx_pool_shape *s, const float *grad_out,
                                   float *grad_x, ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_backward_rows_f64(const pyx_pool_shape *s, const double *grad_out,
                                   double *grad_x, ptrdiff_t row_begin, ptrdiff_t row_end);

/* The backward pass of average pooling where windows are clipped, in two steps:
 * pyx_avgpool_scale_rows, for output rows r = n*out_h + oy in [row_begin, row_end):
 *
 *     scaled[n, oy, ox, c] = grad_out[n, oy, ox, c] / (the window's divisor)
 *
 * then pyx_avgpool_gather_rows, for rows r = n*in_h + iy of grad_x:
 *
 *     grad_x[n, iy, ix, c] = 0 + sum over the windows (oy, ox) that hold (iy, ix), oy then
 *                            ox ascending, of scaled[n, oy, ox, c]
 *
 * (PyTorch's terms grad_out / divisor, summed). Used where pyx_pool_inside is false. */
void pyx_avgpool_scale_rows_f32(const pyx_pool_shape *s, const float *grad_out,
                                float *scaled, ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_scale_rows_f64(const pyx_pool_shape *s, const double *grad_out,
                                double *scaled, ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_gather_rows_f32(const pyx_pool_shape *s, const float *scaled,
                                 float *grad_x, ptrdiff_t row_begin, ptrdiff_t row_end);
void pyx_avgpool_gather_rows_f64(const pyx_pool_shape *s, const double *scaled,
                                 double *grad_x, ptrdiff_t row_begin, ptrdiff_t row_end);

#endif
