#version 450
/* matmul_iq4.comp -- matmul / embed for the weight types of
 * dequant_iq4.glsl (specialization constant 1 = the type). */
#include "mm_io.glsl"
#include "dequant_iq4.glsl"

void dq_unit(uint64_t row, uint r, uint u, out float v[32]) { dq_unit_iq4(TYPE, row, u, v); }

#include "matmul_core.glsl"
