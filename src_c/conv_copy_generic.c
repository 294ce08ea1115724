/* One instruction set's convolution kernels (conv_kernels_impl.h): the baseline copy
 * (SSE2 on x86-64).
 * See conv_copies.h. */
#include "conv_copies.h"

#define PYX_ISA_IMPL "conv_kernels_impl.h"
#define PYX_ISA_ONLY PYX_ISA_GENERIC
#include "isa_instantiate.h"

const conv_kernels pyx_conv_copy_generic = PYX_CONV_COPY("generic", generic, 16, NULL, NULL);
