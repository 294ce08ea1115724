#include "cpu_features.h"

#include <stdlib.h>
#include <string.h>

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

static int detect_isa_level(void)
{
    int level = PYX_ISA_GENERIC;
#if PYX_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        level = PYX_ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        level = PYX_ISA_AVX2;
#endif
    const char *limit = getenv("PYX_CNN_ISA");
    if (limit != NULL) {
        int cap = level;
        if (strcmp(limit, "generic") == 0)
            cap = PYX_ISA_GENERIC;
        else if (strcmp(limit, "avx2") == 0)
            cap = PYX_ISA_AVX2;
        if (cap < level)
            level = cap;
    }
    return level;
}

int pyx_isa_level(void)
{
    static int cached = -1;   /* racing first calls all store the same value */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = detect_isa_level();
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}
