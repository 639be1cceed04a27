#version 450
/* matmul_fp8.comp -- matmul / embed for FP8 E4M3 weights with block scales. */
#include "dequant_fp8.glsl"
#include "matmul_core.glsl"
