/* Body of the activation kernels, included by activation_simd.c (through
 * isa_instantiate.h) once per (instruction set, dtype) with PYX_T, PYX_DOUBLE, PYX_VB
 * (bytes per register) and PYX_SFX (a name suffix) defined: tanh in float32 only, its
 * backward pass in both dtypes. */
#define PYX_CAT_(a, b) a##_##b
#define PYX_CAT(a, b) PYX_CAT_(a, b)
#define PYX_FN(name) PYX_CAT(name, PYX_SFX)
#define INLINE static inline __attribute__((always_inline))

#define T PYX_T
#define LANES (PYX_VB / (int)sizeof(PYX_T))
#define V PYX_FN(vec)
#define VU PYX_FN(vecu)
typedef T V __attribute__((vector_size(PYX_VB)));
typedef T VU __attribute__((vector_size(PYX_VB), aligned(sizeof(PYX_T)), __may_alias__));

#if !PYX_DOUBLE
#define VF V
#define VFU VU
#define LANES_F LANES
#define VFI PYX_FN(ivec)
typedef int VFI __attribute__((vector_size(PYX_VB)));

/* where `take` is all ones, a; elsewhere b */
INLINE VF PYX_FN(select_f32)(VFI take, VF a, VF b)
{
    return (VF)((take & (VFI)a) | (~take & (VFI)b));
}

/* tanh of each lane. |x| is first limited to C (NaN passes: both comparisons are
 * false), where the function is already +-1 in float32; then p(x) / q(x). */
INLINE VF PYX_FN(tanh_vec)(VF x)
{
    const float C = 7.90531110763549805f;
    const VF zero = {0};
    VF v = PYX_FN(select_f32)(x > C, zero + C, x);
    v = PYX_FN(select_f32)(v < -C, zero - C, v);
    const VF x2 = v * v;
    VF p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * v;
    VF q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    VF t = p / q;
    t = PYX_FN(select_f32)((x < 0.0004f) & (x > -0.0004f), x, t);
    t = PYX_FN(select_f32)(x >= C, zero + 1.0f, t);
    return PYX_FN(select_f32)(x <= -C, zero - 1.0f, t);
}

static void PYX_FN(tanh)(const float *x, float *out, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + LANES_F <= n; i += LANES_F)
        *(VFU *)(out + i) = PYX_FN(tanh_vec)(*(const VFU *)(x + i));
    if (i < n) {
        float buf[LANES_F] = {0};
        for (ptrdiff_t k = 0; k < n - i; k++)
            buf[k] = x[i + k];
        const VF t = PYX_FN(tanh_vec)(*(const VFU *)buf);
        for (ptrdiff_t k = 0; k < n - i; k++)
            out[i + k] = t[k];
    }
}

#undef VFI
#undef LANES_F
#undef VFU
#undef VF
#endif /* !PYX_DOUBLE */

/* g * (1 - y * y); the tail goes through a padded register like the body. */
static void PYX_FN(tanh_backward)(const T *y, const T *g, T *out, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        const V v = *(const VU *)(y + i);
        *(VU *)(out + i) = *(const VU *)(g + i) * (1 - v * v);
    }
    if (i < n) {
        T yb[LANES] = {0}, gb[LANES] = {0};
        for (ptrdiff_t k = 0; k < n - i; k++) {
            yb[k] = y[i + k];
            gb[k] = g[i + k];
        }
        const V v = *(const VU *)yb;
        const V r = *(const VU *)gb * (1 - v * v);
        for (ptrdiff_t k = 0; k < n - i; k++)
            out[i + k] = r[k];
    }
}

#undef VU
#undef V
#undef LANES
#undef T
#undef INLINE
