/* Compile one family of kernels once per instruction set.
 *
 * The kernels are written once, with GCC/Clang vector extensions, in a family's
 * *_kernels_impl.h. Its *_simd.c names that file and includes this one:
 *
 *     #define PYX_ISA_IMPL "pool_kernels_impl.h"
 *     #define PYX_ISA_AVX2_TARGET "avx2"         (optional)
 *     #include "isa_instantiate.h"
 *
 * which includes the bodies once per copy and dtype, the AVX2 and AVX-512 copies under
 * a GCC/Clang target pragma (the build itself stays portable: no -march=native):
 *
 *     copy      level            registers            target (default)
 *     generic   PYX_ISA_GENERIC  16 bytes, 16 of them  the build's baseline (SSE2 on x86-64)
 *     avx2      PYX_ISA_AVX2     32 bytes, 16          "avx2,fma"
 *     avx512    PYX_ISA_AVX512   64 bytes, 32          "avx512f,avx512vl,avx2,fma"
 *     avx512y   PYX_ISA_AVX512   32 bytes, 32          the same (only with PYX_ISA_AVX512_HALF)
 *
 * Options a family may define before the include:
 *
 *     PYX_ISA_AVX2_TARGET, PYX_ISA_AVX512_TARGET
 *         the target strings, when the family's copies must not use an instruction
 *         (batch norm and pooling leave out FMA: their copies then round alike)
 *     PYX_ISA_TOP
 *         the highest copy compiled: PYX_ISA_AVX512 (default) or PYX_ISA_AVX2
 *     PYX_ISA_AVX512_HALF
 *         1: also the avx512y copy, AVX-512's instructions on 32-byte registers (for
 *         shapes too narrow to fill a 64-byte one)
 *     PYX_ISA_ONLY
 *         compile one copy only: PYX_ISA_GENERIC, PYX_ISA_AVX2, PYX_ISA_AVX512 (the
 *         64-byte copy) or PYX_ISA_AVX512Y (the avx512y copy, with PYX_ISA_AVX512_HALF).
 *         A big family puts each copy in a file of its own (conv_copy_avx2.c, ...),
 *         which the build compiles side by side, and its dispatching file gathers the
 *         copies' tables (conv_copies.h, conv_simd.c).
 *
 * Each inclusion of the bodies sees:
 *
 *     PYX_ISA     the copy's level (PYX_ISA_GENERIC, PYX_ISA_AVX2 or PYX_ISA_AVX512)
 *     PYX_VB      bytes per SIMD register (16, 32 or 64)
 *     PYX_REGS    SIMD registers the instruction set has (16 or 32)
 *     PYX_T       the element type, float or double; PYX_DOUBLE is 0 or 1 accordingly
 *     PYX_IT      the signed integer type of the element's size (for masks and shuffles)
 *     PYX_SFX     the name suffix: <copy>_f32 or <copy>_f64 (generic_f32, avx2_f64, ...)
 *
 * so a body defines, say, PYX_FN(maxpool_rows) and this file makes maxpool_rows_generic_f32,
 * maxpool_rows_generic_f64, maxpool_rows_avx2_f32, ... Off x86 only the generic copy exists.
 * The family's *_simd.c then gathers the copies into its table of function pointers.
 */
#include <stdint.h>

#include "isa_dispatch.h"

#if !defined(__GNUC__) && !defined(__clang__)
#error "pyx_cnn's kernels use GCC/Clang vector extensions: build with gcc or clang"
#endif

#ifndef PYX_ISA_IMPL
#error "define PYX_ISA_IMPL, the kernel bodies' header, before including isa_instantiate.h"
#endif
#ifndef PYX_ISA_AVX2_TARGET
#define PYX_ISA_AVX2_TARGET "avx2,fma"
#endif
#ifndef PYX_ISA_AVX512_TARGET
#define PYX_ISA_AVX512_TARGET "avx512f,avx512vl,avx2,fma"
#endif
#ifndef PYX_ISA_AVX512_HALF
#define PYX_ISA_AVX512_HALF 0
#endif


/* PYX_SFX: the copy's name joined to the dtype's (two steps, so that the name is
 * expanded before it is pasted) */
#define PYX_ISA_JOIN_(a, b) a##_##b
#define PYX_ISA_JOIN(a, b) PYX_ISA_JOIN_(a, b)

/* `#pragma` lines cannot take a macro's value: _Pragma takes a string, built here */
#define PYX_ISA_PRAGMA_(text) _Pragma(#text)
#define PYX_ISA_PRAGMA(text) PYX_ISA_PRAGMA_(text)
#if defined(__clang__)
#define PYX_ISA_TARGET_PUSH(isa_target) \
    PYX_ISA_PRAGMA(clang attribute push(__attribute__((target(isa_target))), apply_to = function))
#define PYX_ISA_TARGET_POP() PYX_ISA_PRAGMA(clang attribute pop)
#else
#define PYX_ISA_TARGET_PUSH(isa_target) \
    PYX_ISA_PRAGMA(GCC push_options) PYX_ISA_PRAGMA(GCC target(isa_target))
#define PYX_ISA_TARGET_POP() PYX_ISA_PRAGMA(GCC pop_options)
#endif

/* The bodies for the current copy (PYX_ISA_COPY, PYX_ISA, PYX_VB, PYX_REGS), float
 * then double. */
#define PYX_ISA_BOTH_DTYPES "isa_instantiate_dtypes.h"

/* The copies this file compiles: every one, or PYX_ISA_ONLY. PYX_ISA_AVX512Y names the
 * avx512y copy for PYX_ISA_ONLY (a copy, not a level of the dispatch). */
#define PYX_ISA_AVX512Y 3
#ifdef PYX_ISA_ONLY
#define PYX_ISA_COMPILES(copy) ((copy) == PYX_ISA_ONLY)
#else
#define PYX_ISA_COMPILES(copy) 1
#endif

#if PYX_ISA_COMPILES(PYX_ISA_GENERIC)
/* ---- generic: the baseline instruction set of the build ---- */
#define PYX_ISA_COPY generic
#define PYX_ISA PYX_ISA_GENERIC
#define PYX_VB 16
#define PYX_REGS 16
#include PYX_ISA_BOTH_DTYPES
#undef PYX_REGS
#undef PYX_VB
#undef PYX_ISA
#undef PYX_ISA_COPY
#endif

#if PYX_X86 && PYX_ISA_COMPILES(PYX_ISA_AVX2)
/* ---- AVX2 (+ FMA unless the family's target leaves it out) ---- */
PYX_ISA_TARGET_PUSH(PYX_ISA_AVX2_TARGET)
#define PYX_ISA_COPY avx2
#define PYX_ISA PYX_ISA_AVX2
#define PYX_VB 32
#define PYX_REGS 16
#include PYX_ISA_BOTH_DTYPES
#undef PYX_REGS
#undef PYX_VB
#undef PYX_ISA
#undef PYX_ISA_COPY
PYX_ISA_TARGET_POP()
#endif

#if PYX_X86 && PYX_ISA_TOP >= PYX_ISA_AVX512                                \
    && (PYX_ISA_COMPILES(PYX_ISA_AVX512)                                       \
        || (PYX_ISA_AVX512_HALF && PYX_ISA_COMPILES(PYX_ISA_AVX512Y)))
/* ---- AVX-512 (F + VL): 32 registers, used at 64 bytes, and at 32 when asked ---- */
PYX_ISA_TARGET_PUSH(PYX_ISA_AVX512_TARGET)
#define PYX_ISA PYX_ISA_AVX512
#define PYX_REGS 32
#if PYX_ISA_COMPILES(PYX_ISA_AVX512)
#define PYX_ISA_COPY avx512
#define PYX_VB 64
#include PYX_ISA_BOTH_DTYPES
#undef PYX_VB
#undef PYX_ISA_COPY
#endif
#if PYX_ISA_AVX512_HALF && PYX_ISA_COMPILES(PYX_ISA_AVX512Y)
#define PYX_ISA_COPY avx512y
#define PYX_VB 32
#include PYX_ISA_BOTH_DTYPES
#undef PYX_VB
#undef PYX_ISA_COPY
#endif
#undef PYX_REGS
#undef PYX_ISA
PYX_ISA_TARGET_POP()
#endif
