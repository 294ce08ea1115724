/* Depthwise convolution kernels: each output channel c reads input channel c only
 * (groups == C, one filter per channel), on channels-last batches, without a padded
 * copy of the input.
 *
 *     out[n, oy, ox, c] = bias[c] + sum_{i<kh, j<kw} x[n, oy*sh + i*dh - top, ox*sw + j*dw - left, c] * w[i, j, c]
 *
 * where taps outside the input (the zero padding) are left out of the sum. The channel
 * axis is contiguous in x, w and out, so a SIMD register holds consecutive channels of
 * one pixel; the memory-bound work reads each input value from memory once (the rows a
 * window covers stay in the cache while the output row is computed).
 *
 * Every sum runs in a fixed order (the bias, then the taps by i, then j; the filter
 * gradient pixel by pixel in order), whatever the split of the work: results do not
 * depend on the thread count.
 *
 * The kernels run on the widest SIMD copy whose registers the channels fill
 * (pyx_dw_lanes()); the caller takes another route when C is below the narrowest
 * copy's lanes (C < pyx_dw_min_channels()).
 */
#ifndef PYX_CONV_DEPTHWISE_H
#define PYX_CONV_DEPTHWISE_H

#include <stddef.h>

typedef struct {
    ptrdiff_t in_h, in_w, channels;     /* x: (N, in_h, in_w, channels), not padded */
    ptrdiff_t kh, kw;                   /* w: (kh, kw, channels) */
    ptrdiff_t out_h, out_w;             /* out: (N, out_h, out_w, channels) */
    ptrdiff_t stride_h, stride_w, dilation_h, dilation_w;
    ptrdiff_t pad_top, pad_left;        /* may be negative: windows start inside x */
    int clamp;                          /* forward: 1 to store min(max(v, 0), clamp_max) */
    double clamp_max;                   /* (+inf: a ReLU; 6: a ReLU6) */
} pyx_dw_shape;

/* The fewest channels the kernels take (the lanes of the narrowest copy's registers). */
int pyx_dw_min_channels(int is_double);

/* Lanes per register of the copy that runs for this many channels. */
int pyx_dw_lanes(int is_double, ptrdiff_t channels);

/* Output rows [r0, r1) (row r is row r % out_h of sample r / out_h). With s->clamp
 * set, each value v is stored as 0 where v <= 0 (-0.0 gives +0.0), clamp_max where
 * v >= clamp_max, else v (NaN stays NaN), applied to the registers of sums before they
 * are stored: the values of pyx_cnn's ReLU and bounded ReLU passes. */
void pyx_dw_rows_f32(const pyx_dw_shape *s, const float *x, const float *w,
                     const float *bias, float *out, ptrdiff_t r0, ptrdiff_t r1);
void pyx_dw_rows_f64(const pyx_dw_shape *s, const double *x, const double *w,
                     const double *bias, double *out, ptrdiff_t r0, ptrdiff_t r1);

/* The input gradient of sample n (any strides): g (N, out_h, out_w, C) is spread back
 * onto the windows' grid in `buf` (scratch of pyx_dw_scatter_size() values, one per
 * thread), then gx[n] (in_h, in_w, C) is written from it (zeros where no window
 * reaches). The forward pass's pads are >= 0 here. */
ptrdiff_t pyx_dw_scatter_size(const pyx_dw_shape *s);
void pyx_dw_input_grad_f32(const pyx_dw_shape *s, const float *g, const float *w,
                           float *buf, float *gx, ptrdiff_t n);
void pyx_dw_input_grad_f64(const pyx_dw_shape *s, const double *g, const double *w,
                           double *buf, double *gx, ptrdiff_t n);

/* The filter and bias gradients from samples [n0, n1), written (not added) to
 * part_w (kh, kw, C) and part_b (C):
 *     part_w[i, j, c] = sum_{n, oy, ox} x[n, oy*sh + i*dh - top, ox*sw + j*dw - left, c] * g[n, oy, ox, c]
 *     part_b[c] = sum_{n, oy, ox} g[n, oy, ox, c]
 * each summed pixel by pixel in order (taps in the padding left out). */
void pyx_dw_filter_grad_f32(const pyx_dw_shape *s, const float *x, const float *g,
                            float *part_w, float *part_b, ptrdiff_t n0, ptrdiff_t n1);
void pyx_dw_filter_grad_f64(const pyx_dw_shape *s, const double *x, const double *g,
                            double *part_w, double *part_b, ptrdiff_t n0, ptrdiff_t n1);

#endif
