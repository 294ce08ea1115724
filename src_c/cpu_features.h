/* Which SIMD instruction sets the running CPU has (not the build machine's). */
#ifndef PYX_CPU_FEATURES_H
#define PYX_CPU_FEATURES_H

int pyx_cpu_has_avx2(void);
int pyx_cpu_has_fma(void);
int pyx_cpu_has_avx512f(void);

/* Instruction-set levels of the SIMD kernels' dispatch (macros, so that
 * isa_instantiate.h and the kernel bodies can test them with #if). */
#define PYX_ISA_GENERIC 0
#define PYX_ISA_AVX2 1
#define PYX_ISA_AVX512 2

/* The highest level the running CPU supports (AVX2 means AVX2 + FMA, AVX-512 means
 * F + VL), lowered by the environment variable PYX_CNN_ISA ("generic", "avx2" or
 * "avx512") when set: a way to run and test every copy of the kernels on one machine.
 * Read once; later calls return the same value. */
int pyx_isa_level(void);

#endif
