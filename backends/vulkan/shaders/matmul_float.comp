#version 450
/* matmul_float.comp -- matmul / embed for F32, F16, BF16 weights
 * (specialization constant 1 = the type). */
#include "dequant_float.glsl"
#include "matmul_core.glsl"
