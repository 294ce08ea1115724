/* One instruction set's convolution kernels (conv_kernels_impl.h): the AVX2 + FMA copy.
 * See conv_copies.h. */
#include "conv_copies.h"

#define PYX_ISA_IMPL "conv_kernels_impl.h"
#define PYX_ISA_ONLY PYX_ISA_AVX2
#include "isa_instantiate.h"

#if PYX_X86
const conv_kernels pyx_conv_copy_avx2 = PYX_CONV_COPY("avx2", avx2, 32, NULL, NULL);
#endif
