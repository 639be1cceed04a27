#version 450
/* matmul_iq3.comp -- matmul / embed for the weight types of
 * dequant_iq3.glsl (specialization constant 1 = the type; the grid
 * of the type at pc.wscale). */
#include "mm_io.glsl"
#include "dequant_iq3.glsl"

void dq_unit(uint64_t row, uint r, uint u, out float v[32]) { dq_unit_iq3(TYPE, pc.wscale, row, u, v); }

#include "matmul_core.glsl"
