/* Channels-last convolution microkernels, the choice of algorithm, and the runtime CPU
 * dispatch.
 *
 * Every forward kernel computes, for output rows r in [row_begin, row_end)
 * (r = n * out_h + oy):
 *
 *     out[n, oy, ox, f] = bias[f] + sum_{i<kh, j<kw, c<C} x[n, oy*sh + i*dh, ox*sw + j*dw, c] * w[i, j*C+c, f]
 *
 * (strides sh, sw and dilations dh, dw: the fields stride_h, stride_w, dilation_h,
 * dilation_w of the shape). pyx_conv_choose() picks one of four forward algorithms for a
 * shape, and pyx_conv_rows_*() runs the one the shape holds in its `algorithm` field:
 *
 * - PYX_CONV_DIRECT ("filters innermost"): each SIMD register holds consecutive filters
 *   of one output pixel; a block of R pixels x NV registers of accumulators stays in
 *   registers while the kh*kw*C products are added. Good when F fills the registers.
 *   Fp = F rounded up to the lane count pyx_conv_direct_lanes() returns (zero padding);
 *   the filters are taken NV registers at a time (pyx_conv_direct_panel()), and the
 *   weights come packed by pyx_conv_pack_direct_*(): one panel (kh, kw*C, NV*lanes) per
 *   such group of filters, so that a block reads its weights as one contiguous stream
 *   (a row of all Fp filters would put consecutive taps a long stride apart, on few
 *   cache sets); bias as (Fp,).
 * - PYX_CONV_PAIRED (AVX-512, float32, one channel, strides 1, 5..8 filters): a register
 *   holds two neighbouring output pixels x 8 filters. Reads the weights as (kh, kw, 16)
 *   and bias as (16,), each of the F filters (zero-padded to 8) twice in a row;
 *   filters_padded must be 16.
 * - PYX_CONV_TAP_PAIRED (AVX-512, float32, at most 8 filters, window runs of an even
 *   length): a register holds two neighbouring taps of a window x 8 filters, the two
 *   partial sums added at the end. Reads the weights as (kh, run/2, 16), lane 2f + q of
 *   row p holding w[i, 2p + q, f] (F zero-padded to 8), bias as (16,) with bias[f] in
 *   lane 2f and zeros in the odd lanes; filters_padded must be 16. (`run`: the length of
 *   a window's contiguous runs, kw*C, or C with dilation along W.)
 * - PYX_CONV_PLANAR ("columns innermost", strides 1 only): each SIMD register holds
 *   consecutive output columns of one filter, reading a planar (N, C, H, W) copy of the
 *   input. Good when F is too small to fill a register (F <= PYX_CONV_PLANAR_MAX_FILTERS,
 *   and up to PYX_CONV_PLANAR_WIDE_FILTERS on 8-lane float32 registers: see below).
 *   Reads the weights as (kh, kw*C, F) and bias as (F,).
 *
 * The input gradient takes one of two routes, chosen by pyx_conv_input_grad_route():
 * PYX_CONV_TRANSPOSED (a convolution of the output gradient with the flipped filters, run
 * by the forward kernels above) or PYX_CONV_WINDOWS_BLAS (BLAS products on gathered
 * windows, pyx_cnn/_conv_grad.pyx). The filter and bias gradients have one algorithm,
 * pyx_conv_wgrad_*() below, on the direct kernel's layout.
 *
 * Every output value is computed by the same sequence of operations whatever the row
 * range, the block it falls in, or the number of threads: the sum runs over i, then
 * j*C + c, starting from the bias. Results are identical for any thread count.
 */
#ifndef PYX_CONV_KERNELS_H
#define PYX_CONV_KERNELS_H

#include <stddef.h>

#define PYX_CONV_PLANAR_MAX_FILTERS 4
/* With registers of 8 float32 values and no paired kernels (AVX2), the planar kernel
 * also takes 5 or 6 filters on at most 8 channels: it transposes its blocks in
 * registers, where the direct kernel would leave 2 or 3 lanes of 8 empty and store the
 * rest value by value (LeNet-5's first layer: 0.54 -> 0.29 ms for 64 images). From 12
 * channels the planar copy of the input costs more than it saves. */
#define PYX_CONV_PLANAR_WIDE_FILTERS 6
#define PYX_CONV_PLANAR_WIDE_MAX_CHANNELS 8

typedef enum {
    PYX_CONV_DIRECT = 0,
    PYX_CONV_PAIRED = 1,
    PYX_CONV_TAP_PAIRED = 2,
    PYX_CONV_PLANAR = 3,
    PYX_CONV_TRANSPOSED = 4,      /* input gradient: the forward kernels, flipped filters */
    PYX_CONV_WINDOWS_BLAS = 5,    /* input gradient: BLAS products on gathered windows */
} pyx_conv_algorithm;

typedef struct {
    ptrdiff_t in_h, in_w, channels;     /* padded input (N, in_h, in_w, channels) */
    ptrdiff_t kh, kw, filters;          /* filter bank (kh, kw*channels, filters) */
    ptrdiff_t filters_padded;           /* the weights' filter axis (see the algorithms) */
    ptrdiff_t out_h, out_w;
    ptrdiff_t stride_h, stride_w;       /* planar and paired kernels: 1 and 1 */
    ptrdiff_t dilation_h, dilation_w;
    ptrdiff_t zero_top, zero_bottom;    /* direct kernel: the first and last rows of each
                                           image that hold zeros only (padding): their
                                           products are left out (0 and 0: none) */
    int algorithm;                      /* forward: which kernel pyx_conv_rows_*() runs */
    int clamp;                          /* forward: 1 to store min(max(v, 0), clamp_max) */
    double clamp_max;                   /* (+inf: a ReLU; 6: a ReLU6) */
} pyx_conv_shape;

/* The forward kernel for a shape (a pyx_conv_algorithm); the fields filters_padded and
 * algorithm of `s` are not read. The rules, in order:
 *
 *     PYX_CONV_PLANAR       strides 1 and F <= PYX_CONV_PLANAR_MAX_FILTERS: the direct
 *                           kernel would leave most lanes of a register empty; also
 *                           F <= PYX_CONV_PLANAR_WIDE_FILTERS and C <=
 *                           PYX_CONV_PLANAR_WIDE_MAX_CHANNELS for float32 where the
 *                           registers hold 8 values and there are no paired kernels
 *     PYX_CONV_PAIRED       the running copy has the paired kernels (AVX-512, float32),
 *                           C == 1, strides 1, F <= 8, and out_w >= 2 (a pair of pixels)
 *     PYX_CONV_TAP_PAIRED   the running copy has the paired kernels, F <= 8, and the
 *                           window's runs have an even length (pairs of taps)
 *     PYX_CONV_DIRECT       every other shape
 *
 * The copy that runs is the CPU's (pyx_isa_level(), lowered by PYX_CNN_ISA), so the
 * choice may differ between machines, never the values: every algorithm sums in the
 * same order. */
int pyx_conv_choose(const pyx_conv_shape *s, int is_double);

/* The input gradient's route for the forward pass `s` when the gradient is wanted for
 * h x w values of each channel per sample (the input without its padding):
 *
 *   PYX_CONV_WINDOWS_BLAS  at a stride above 1; with an inf or NaN filter value
 *                          (`finite_filters` 0: the zeros around the output gradient
 *                          would meet it and give NaN where no output reaches); and where
 *                          the transposed route would compute more than
 *                          PYX_CONV_TRANSPOSED_MOST_WORK times the products
 *   PYX_CONV_TRANSPOSED    else
 *
 * The transposed route computes each of the h x w values from all kh x kw x F taps of
 * the zero-padded output gradient; the windows route computes the out_h x out_w
 * windows' kh x kw x C x F products, none of them zeros, then adds them onto the input.
 * The ratio of the two, h*w / (out_h*out_w), is 1 for a 'same' convolution and grows
 * for a 'valid' one on a small map: LeNet-5's second layer (5x5 filters on 14x14 maps,
 * 10x10 outputs) 1.96; its input gradient (64 images, 6 channels, 16 filters) took
 * 1.29 ms transposed and 0.92 ms by the windows on one AMD EPYC core (0.92 and 0.61 ms
 * on two). At 1.36 (5x5 filters on 28x28 maps) the transposed route was still faster. */
#define PYX_CONV_TRANSPOSED_MOST_WORK 1.5
int pyx_conv_input_grad_route(const pyx_conv_shape *s, ptrdiff_t h, ptrdiff_t w,
                              int finite_filters);

/* Name of an algorithm: "direct", "paired", "tap_paired", "planar", "transposed",
 * "windows_blas". */
const char *pyx_conv_algorithm_name(int algorithm);

/* Lanes per SIMD register the direct kernel (and the filter gradient) uses for this F on
 * the running CPU: the filter axis is padded to a multiple of it. */
int pyx_conv_direct_lanes(int is_double, ptrdiff_t filters);

/* How many registers of filters the direct kernel takes together when `vectors_left`
 * registers of the padded filter axis remain: 4, then 2, then 1. The panels of the
 * packed weights follow the same cut. */
static inline ptrdiff_t pyx_conv_direct_panel(ptrdiff_t vectors_left)
{
    return vectors_left >= 4 ? 4 : vectors_left >= 2 ? 2 : 1;
}

/* How many panels that cut makes of `n_vec` registers of filters. */
static inline ptrdiff_t pyx_conv_direct_panel_count(ptrdiff_t n_vec)
{
    ptrdiff_t count = 0;
    for (ptrdiff_t v = 0; v < n_vec; count++)
        v += pyx_conv_direct_panel(n_vec - v);
    return count;
}

/* The direct kernel's weights and bias, from w (kh, kw*C, F) and bias (F,) of the
 * shape `s` (its filters_padded set to F rounded up to pyx_conv_direct_lanes()):
 * w_packed holds kh*kw*C*filters_padded values, the panel of the filters [fb, fb + NV*lanes)
 * at offset kh*kw*C*fb, row k of it holding w[k / (kw*C), k % (kw*C), fb .. fb + NV*lanes)
 * (zeros past F); bias_packed holds filters_padded values (zeros past F). */
void pyx_conv_pack_direct_f32(const pyx_conv_shape *s, const float *w, const float *bias,
                              float *w_packed, float *bias_packed);
void pyx_conv_pack_direct_f64(const pyx_conv_shape *s, const double *w, const double *bias,
                              double *w_packed, double *bias_packed);

/* Name of the instruction set the kernels dispatch to ("avx512f", "avx2", "generic"). */
const char *pyx_conv_isa(void);

/* Output rows [row_begin, row_end) with the forward kernel s->algorithm names (not
 * PYX_CONV_TRANSPOSED or PYX_CONV_WINDOWS_BLAS), the weights and bias in that kernel's
 * layout (above), x padded (N, in_h, in_w, C), or planar (N, C, in_h, in_w) for
 * PYX_CONV_PLANAR. The direct kernel computes only the filters of panels
 * [panel_begin, panel_end) (of pyx_conv_panels()); the other kernels compute every
 * filter (their one panel). The rows run a tile at a time (about 32 KiB of output):
 * every panel computes the tile's rows, one panel after the other, so that the tile's
 * input and output stay in cache from panel to panel and a panel's weights over the
 * tile. Callers split a large filter bank's work by panels. With s->clamp set, each
 * output value v is stored as 0 where v <= 0 (so -0.0 gives +0.0), clamp_max where
 * v >= clamp_max, else v (NaN stays NaN): a ReLU or bounded ReLU with the values of
 * pyx_cnn's own ReLU pass, which every kernel applies to its registers as it stores
 * them (a pass of its own over the stored tile took half the paired kernel's own time
 * on scikit-learn's digits, 8 filters 3x3 on 8x8 images). */
ptrdiff_t pyx_conv_panels(const pyx_conv_shape *s, int is_double);
void pyx_conv_rows_f32(const pyx_conv_shape *s, const float *x, const float *w,
                       const float *bias, float *out, ptrdiff_t row_begin, ptrdiff_t row_end,
                       ptrdiff_t panel_begin, ptrdiff_t panel_end);
void pyx_conv_rows_f64(const pyx_conv_shape *s, const double *x, const double *w,
                       const double *bias, double *out, ptrdiff_t row_begin,
                       ptrdiff_t row_end, ptrdiff_t panel_begin, ptrdiff_t panel_end);

/* Filter gradient, kernel rows [i0, i1), samples [n0, n1) (see conv_kernels_impl.h):
 *     part[i, j*C + c, f] = sum_{n, oy, ox} x[n, oy*sh + i*dh, ox*sw + j*dw, c] * g[n, oy, ox, f]
 * with g (N, out_h, out_w, F) and part (kh, kw*C, filters_padded), where
 * filters_padded is F rounded up to pyx_conv_direct_lanes(); only rows [i0, i1) of part
 * are written, and part's values past F are not meaningful. The kernels load whole
 * registers of g's filters, reading up to filters_padded - F values past a pixel's F
 * (the next pixels'): the output rows from tail_begin on (rows q = n * out_h + oy) are
 * read from g_tail instead, a copy of them followed by filters_padded zeros or more,
 * so that no load runs past the array (with F a multiple of the lanes, tail_begin may
 * be N * out_h). i1 - i0 is at most pyx_conv_wgrad_rows_per_item(): more
 * than one for short window rows (kw*C of at most 8 values), whose rows are computed
 * together. And bias_part[f] = sum_{n in [n0, n1), oy, ox} g[n, oy, ox, f] (f < F; the
 * rest up to filters_padded not meaningful). Every sum runs in pixel order whatever
 * the caller's split of the work. */
ptrdiff_t pyx_conv_wgrad_rows_per_item(const pyx_conv_shape *s, int is_double);
void pyx_conv_wgrad_rows_f32(const pyx_conv_shape *s, const float *x, const float *g,
                             const float *g_tail, ptrdiff_t tail_begin, float *part,
                             ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i0, ptrdiff_t i1);
void pyx_conv_wgrad_rows_f64(const pyx_conv_shape *s, const double *x, const double *g,
                             const double *g_tail, ptrdiff_t tail_begin, double *part,
                             ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t i0, ptrdiff_t i1);
void pyx_conv_wgrad_bias_f32(const pyx_conv_shape *s, const float *g,
                             const float *g_tail, ptrdiff_t tail_begin, float *bias_part,
                             ptrdiff_t n0, ptrdiff_t n1);
void pyx_conv_wgrad_bias_f64(const pyx_conv_shape *s, const double *g,
                             const double *g_tail, ptrdiff_t tail_begin, double *bias_part,
                             ptrdiff_t n0, ptrdiff_t n1);

#endif
