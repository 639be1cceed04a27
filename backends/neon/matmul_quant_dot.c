/* matmul_quant_dot.c -- the q8-activation kernels of neon_q8.h built with
 * the dot-product instructions (vdotq_s32). This file alone is compiled with
 * -march=armv8.2-a+dotprod (CMakeLists.txt); its code runs only when the
 * CPU reports the extension (neon.c: HWCAP_ASIMDDP). */
#include "neon.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "matmul_quant_dot.c must be compiled with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif

#define NEON_Q8_SUFFIX dot
#include "neon_q8.h"
