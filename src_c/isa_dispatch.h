/* What a family's dispatching code needs to pick a copy of its kernels at run time:
 * PYX_X86, the number of levels compiled (PYX_ISA_COPIES) and pyx_isa_copy(). Included
 * by isa_instantiate.h, and directly where a family's copies are compiled in files of
 * their own (conv_copies.h). A family may define PYX_ISA_TOP first (isa_instantiate.h). */
#ifndef PYX_ISA_DISPATCH_H
#define PYX_ISA_DISPATCH_H

#include "cpu_features.h"

#ifndef PYX_ISA_TOP
#define PYX_ISA_TOP PYX_ISA_AVX512
#endif

#if defined(__x86_64__) || defined(__i386__)
#define PYX_X86 1
#else
#define PYX_X86 0
#endif

/* How many levels this family compiled: its table of copies has this many entries. */
#if PYX_X86
#define PYX_ISA_COPIES (PYX_ISA_TOP + 1)
#else
#define PYX_ISA_COPIES 1
#endif

/* The level whose copy runs: the CPU's (lowered by PYX_CNN_ISA, read once by
 * cpu_features.c), never above the highest copy this family compiled. */
static inline int pyx_isa_copy(void)
{
    const int level = pyx_isa_level();
    return level < PYX_ISA_COPIES ? level : PYX_ISA_COPIES - 1;
}

#endif
