/* One instruction set's convolution kernels (conv_kernels_impl.h): AVX-512 on
 * 32-byte registers, for F < 16 floats (the paired kernels run on 64-byte ones).
 * See conv_copies.h. */
#include "conv_copies.h"

#define PYX_ISA_IMPL "conv_kernels_impl.h"
#define PYX_ISA_AVX512_HALF 1
#define PYX_ISA_ONLY PYX_ISA_AVX512Y
#include "isa_instantiate.h"

#if PYX_X86
const conv_kernels pyx_conv_copy_avx512y = PYX_CONV_COPY("avx512f", avx512y, 32, NULL, NULL);
#endif
