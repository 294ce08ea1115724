/* One instruction set's convolution kernels (conv_kernels_impl.h): the AVX-512 copy on
 * 64-byte registers, with the paired kernels.
 * See conv_copies.h. */
#include "conv_copies.h"

#define PYX_ISA_IMPL "conv_kernels_impl.h"
#define PYX_ISA_ONLY PYX_ISA_AVX512
#include "isa_instantiate.h"

#if PYX_X86
const conv_kernels pyx_conv_copy_avx512 =
    PYX_CONV_COPY("avx512f", avx512, 64, pair_rows_avx512_f32, tappair_rows_avx512_f32);
#endif
