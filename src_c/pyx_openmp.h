/* OpenMP entry points the kernels use, with single-threaded stand-ins when the
 * extension is compiled without OpenMP (the compiler has none, or
 * PYX_CNN_NO_OPENMP=1). Cython's prange already compiles to a serial loop then. */
#ifndef PYX_OPENMP_H
#define PYX_OPENMP_H

#ifdef _OPENMP
#include <omp.h>
#define PYX_HAVE_OPENMP 1
static inline int pyx_omp_max_threads(void) { return omp_get_max_threads(); }
static inline double pyx_omp_wtime(void) { return omp_get_wtime(); }
#else
#define PYX_HAVE_OPENMP 0
static inline int pyx_omp_max_threads(void) { return 1; }
static inline double pyx_omp_wtime(void) { return 0.0; }   /* nothing to time: one thread */
#endif

#ifdef PYX_CNN_DEBUG
#define PYX_DEBUG_BUILD 1
#else
#define PYX_DEBUG_BUILD 0
#endif

#endif
