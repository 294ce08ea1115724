/* The linear combinations of rows that Winograd's transforms are made of
 * (pyx_cnn/_winograd.pyx: the input patches' B^T d B, the outputs' A^T M A, the
 * filters' G g G^T and the adjoints, each a two-step product of small matrices whose
 * entries are combinations of rows of C or F values).
 *
 *     out[k] = sum_r coef[r * coef_step] * rows[r][k]        (k < n)
 *
 * over the rows r < count whose coefficient is not 0, in their order: the first
 * product, then each next one added (each product rounded, then added: no fused
 * multiply-add, so every copy gives the baseline build's bits); zeros when every
 * coefficient is 0. `out` must not overlap the rows. Compiled for the baseline
 * instruction set, AVX2 and AVX-512, the widest copy whose register the n values fill
 * chosen at run time: a register accumulates the sum for LANES values of k, read once
 * from each row and written once. */
#ifndef PYX_WINOGRAD_KERNELS_H
#define PYX_WINOGRAD_KERNELS_H

#include <stddef.h>

/* the most rows a combination takes (a patch side of F(4x4, 3x3)) */
#define PYX_WINO_MAX_ROWS 6

void pyx_wino_lincomb_f32(float *out, const float **rows, const double *coef,
                          ptrdiff_t coef_step, int count, ptrdiff_t n);
void pyx_wino_lincomb_f64(double *out, const double **rows, const double *coef,
                          ptrdiff_t coef_step, int count, ptrdiff_t n);

#endif
