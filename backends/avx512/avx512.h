/* avx512.h -- internals of the avx512 backend (no intrinsics here).
 *
 * The avx512 backend is the avx2 backend with the integer-path row
 * kernels (avx2/q8_kernels.h) compiled for AVX-512 BW/VL + VNNI: shorter
 * instruction sequences for the bit-plane types (Q5_0, Q5_1: about 1.3x
 * on one core from cache) and one instruction less per 32 weights for the
 * rest. It shares avx2's drivers (threading, activation rounding, MoE
 * grouping, attention, every float op) and gives the same bits as avx2.
 * A zmm (64-byte) Q4_K kernel was tried and measured slower than the ymm
 * one on Zen 4, whose 512-bit units are two 256-bit halves.
 *
 * avx512.c (the CPU check, the op table) is compiled for baseline x86-64;
 * the kernel files with -mavx512f -mavx512bw -mavx512vl -mavx512dq
 * -mavx512vnni (plus avx2's flags), and run only after available() said
 * yes. */
#ifndef DSV3_AVX512_H
#define DSV3_AVX512_H

#include <stddef.h>
#include <stdint.h>

#include "avx2/avx2.h"

extern const dsv3_backend_ops dsv3_backend_avx512;

/* Integer-path rows (an avx2_rows_q8_fn). */
void avx512_rows_q8(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                    size_t ldy);

/* FP8 decode rows against pre-scaled tokens (an avx2_rows_f32_fn):
 * avx2_rows_fp8s with 16-lane registers, the same bits (matmul_fp8.c). */
void avx512_rows_fp8s(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *xs, int n, float *y,
                      size_t ldy);

#endif
