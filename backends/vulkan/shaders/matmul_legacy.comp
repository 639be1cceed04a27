#version 450
/* matmul_legacy.comp -- matmul / embed for the weight types of
 * dequant_legacy.glsl (specialization constant 1 = the type). */
#include "mm_io.glsl"
#include "dequant_legacy.glsl"

void dq_unit(uint64_t row, uint r, uint u, out float v[32]) { dq_unit_legacy(TYPE, row, u, v); }

#include "matmul_core.glsl"
