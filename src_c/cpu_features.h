/* Which SIMD instruction sets the running CPU has (not the build machine's). */
#ifndef PYX_CPU_FEATURES_H
#define PYX_CPU_FEATURES_H

int pyx_cpu_has_avx2(void);
int pyx_cpu_has_fma(void);
int pyx_cpu_has_avx512f(void);

#endif
