/* Body of the Winograd transforms' combinations of rows (winograd_kernels.h), included
 * by winograd_simd.c (through isa_instantiate.h) once per (instruction set, dtype). */
#define PYX_CAT_(a, b) a##_##b
#define PYX_CAT(a, b) PYX_CAT_(a, b)
#define PYX_FN(name) PYX_CAT(name, PYX_SFX)

#define T PYX_T
#define LANES (PYX_VB / (int)sizeof(PYX_T))
#define VU PYX_FN(wvecu)
typedef T VU __attribute__((vector_size(PYX_VB), aligned(sizeof(PYX_T)), __may_alias__));
#define LOADU(p) (*(const VU *)(p))
#define STOREU(p, v) (*(VU *)(p) = (v))

static void PYX_FN(wino_lincomb)(T *out, const T **rows, const double *coef,
                                 ptrdiff_t coef_step, int count, ptrdiff_t n)
{
    const T *x[PYX_WINO_MAX_ROWS];
    T c[PYX_WINO_MAX_ROWS];
    int terms = 0;
    for (int r = 0; r < count && r < PYX_WINO_MAX_ROWS; r++) {
        if (coef[r * coef_step] != 0) {
            x[terms] = rows[r];
            c[terms] = (T)coef[r * coef_step];
            terms++;
        }
    }
    ptrdiff_t k = 0;
    if (terms == 0) {
        for (; k < n; k++)
            out[k] = 0;
        return;
    }
    for (; k + LANES <= n; k += LANES) {
        VU acc = LOADU(x[0] + k) * c[0];
        for (int t = 1; t < terms; t++)
            acc = acc + LOADU(x[t] + k) * c[t];
        STOREU(out + k, acc);
    }
    for (; k < n; k++) {
        T acc = x[0][k] * c[0];
        for (int t = 1; t < terms; t++)
            acc = acc + x[t][k] * c[t];
        out[k] = acc;
    }
}

#undef STOREU
#undef LOADU
#undef VU
#undef LANES
#undef T
#undef PYX_FN
#undef PYX_CAT
#undef PYX_CAT_
