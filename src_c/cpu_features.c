#include "cpu_features.h"

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define PYX_X86 1
#else
#define PYX_X86 0
#endif

int pyx_cpu_has_avx2(void)
{
#if PYX_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
#else
    return 0;
#endif
}

int pyx_cpu_has_fma(void)
{
#if PYX_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("fma") != 0;
#else
    return 0;
#endif
}

int pyx_cpu_has_avx512f(void)
{
#if PYX_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}
