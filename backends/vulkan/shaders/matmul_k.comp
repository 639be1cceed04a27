#version 450
/* matmul_k.comp -- matmul / embed for the weight types of
 * dequant_k.glsl (specialization constant 1 = the type). */
#include "mm_io.glsl"
#include "dequant_k.glsl"

void dq_unit(uint64_t row, uint r, uint u, out float v[32]) { dq_unit_k(TYPE, row, u, v); }

#include "matmul_core.glsl"
