/* Elementwise activation kernels, vectorised, with runtime CPU dispatch.
 *
 *     pyx_tanh_f32:           out[i] = tanh(x[i])                 (float32)
 *     pyx_tanh_backward_T:    out[i] = g[i] * (1 - y[i] * y[i])   (y = tanh's output)
 *
 * `out` may be the same array as an input (in place); nothing else may overlap.
 * Every element goes through the same instructions wherever it lies in the array
 * (the last partial register is worked in a padded copy), so results do not depend on
 * how a caller splits the array between threads.
 *
 * float32 tanh is a rational function (Eigen's): within 5 ulp of the exact value,
 * x itself for |x| < 4e-4, exactly +-1 for |x| >= 7.90531110763549805, NaN for NaN.
 */
#ifndef PYX_ACTIVATION_KERNELS_H
#define PYX_ACTIVATION_KERNELS_H

#include <stddef.h>

void pyx_tanh_f32(const float *x, float *out, ptrdiff_t n);
void pyx_tanh_backward_f32(const float *y, const float *g, float *out, ptrdiff_t n);
void pyx_tanh_backward_f64(const double *y, const double *g, double *out, ptrdiff_t n);

/* The bounded ReLU of a value, as the convolution kernels apply it to their sums as
 * they store them (a ReLU with m = +inf): 0 where v <= 0 (so -0.0 gives +0.0), m where
 * v >= m, else v (NaN stays NaN): the expression of the ReLU passes in
 * pyx_cnn/_activation.pyx, so the same values. */
#define PYX_CLAMP_VALUE(v, m, T) ((v) <= 0 ? (T)0 : ((v) >= (m) ? (m) : (v)))

/* The same, lane by lane, on a register `v` (a GCC vector of float or double, an lvalue)
 * before it is stored, `m` the bound in every lane and `IV` the integer vector type of
 * v's width: v is cleared where v <= 0 (all bits: +0.0), then set to m where it was
 * >= m; a NaN fails both tests and stays. The convolution kernels clamp their sums so.
 * (In two steps: written as one expression, the direct kernel's 1x1 layer 16 -> 96 with
 * ReLU6 on 64 images of 32x32 ran 10 % slower, one AMD EPYC core.) */
#define PYX_CLAMP_REGISTER(v, m, IV)                                                       \
    do {                                                                                   \
        const IV pyx_low_ = (v) <= 0, pyx_high_ = (v) >= (m);                              \
        (v) = (__typeof__(v))(~pyx_low_ & (IV)(v));                                        \
        (v) = (__typeof__(v))((pyx_high_ & (IV)(m)) | (~pyx_high_ & (IV)(v)));             \
    } while (0)

#endif
