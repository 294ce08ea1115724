/* Part of isa_instantiate.h: the family's kernel bodies (PYX_ISA_IMPL) for the current
 * copy, once in float32 and once in float64. Not a header of its own: included only by
 * isa_instantiate.h, once per copy, so it has no include guard. */
#define PYX_T float
#define PYX_IT int32_t
#define PYX_DOUBLE 0
#define PYX_SFX PYX_ISA_JOIN(PYX_ISA_COPY, f32)
#include PYX_ISA_IMPL
#undef PYX_SFX
#undef PYX_DOUBLE
#undef PYX_IT
#undef PYX_T

#define PYX_T double
#define PYX_IT int64_t
#define PYX_DOUBLE 1
#define PYX_SFX PYX_ISA_JOIN(PYX_ISA_COPY, f64)
#include PYX_ISA_IMPL
#undef PYX_SFX
#undef PYX_DOUBLE
#undef PYX_IT
#undef PYX_T
