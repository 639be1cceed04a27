/* neon.h -- internals shared by the AArch64 NEON backend's op files.
 *
 * The backend computes straight from the mapped weights like the scalar one
 * and is tested against it (tests/test_neon_ops.c). Results never depend on
 * the thread count: every output value is computed by one thread, with the
 * same operations in the same order whatever rows or tokens it shares a
 * call with (row blocks, token tiles and column chunks are cut at positions
 * that do not depend on the thread's share).
 *
 * Two numeric paths for a matmul:
 *   - f32 activations: every stored type is decoded (F16/BF16/FP8 in
 *     registers, ggml block types through dsv3_dequantize_row into a stack
 *     buffer) and multiplied with f32 FMAs. Error vs the scalar backend:
 *     summation order only (test bound 1e-5 of sum|w*x|).
 *   - q8 activations (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K,
 *     Q4_K, Q5_K, Q6_K, IQ4_XS in matmul and the routed experts):
 *     activations are quantized per 32 values to int8 with an f32 scale
 *     (round to nearest, d = max|x|/127), each 32-value block product is
 *     an exact integer dot (vdotq_s32 where the CPU has the dot-product
 *     extension, vmull_s8/vpadalq_s16 otherwise: the integers, hence the
 *     results, are identical; super-block sub-scales multiply them in
 *     int32), then scaled in f32. Error: the activation rounding, at most max|x|/254 per
 *     value of a 32-block (test bound 5e-3 of sum|w*x|).
 * Attention's separate k_b / v_b up-projections of those types take the q8
 * kernels with the vector rounded twice (value, then its rounding error:
 * about 16-bit precision; the scores after them are too sensitive for one
 * 8-bit rounding, and dequantizing every row per head and token costs far
 * more). A combined kv_b, the other block types, the plain types and
 * embeddings use the f32 path. */
#ifndef DSV3_NEON_H
#define DSV3_NEON_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cpu/pool.h"

extern const dsv3_backend_ops dsv3_backend_neon;

dsv3_pool *neon_pool(dsv3_backend *be);
/* 1 if this backend instance uses the dot-product kernels. */
int neon_dotprod(const dsv3_backend *be);
/* Tests: choose the q8 kernels (on = 0: plain ARMv8.0 NEON; on = 1: the
 * dot-product kernels, only if the CPU has them). Returns the choice made.
 * Not for use while ops run. */
int neon_set_dotprod(dsv3_backend *be, int on);
/* 1 if the CPU has the dot-product extension. */
int neon_cpu_dotprod(void);

/* ---- matmul building blocks (matmul_float.c, matmul_quant.c) ------------
 * y[t*ldy + (r - r0)] = W[r] . x[t*ldx] for r in [r0, r1), t < n. */
void neon_rows(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
               int64_t r1, int dotprod);
/* The f32-activation path for any type (attention; ops->matmul for the
 * types without a q8 kernel; tests). */
void neon_rows_f32act(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                      int64_t r1);
/* Plain types only (F32/F16/BF16/FP8). */
void neon_rows_plain(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                     int64_t r1);
/* ggml block types, f32 activations: dequantize 256 values, FMA. */
void neon_rows_deq(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                   int64_t r1);
/* 1 if the type has a q8-activation kernel. */
int neon_q8_type(int type);
/* The neon_q8_type types with q8 activations. */
void neon_rows_q8(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                  int64_t r1, int dotprod);
/* y[r - r0] = W[r] . x for one vector x, a neon_q8_type type whose block
 * divides cols: x rounded to 8-bit blocks, its rounding error rounded
 * again, both run as two tokens of the q8 kernels and added. */
void neon_rows_q8x2(const dsv3_weight *w, const float *x, float *y, int64_t r0, int64_t r1, int dotprod);
/* y[c] += a * W[r][c] */
void neon_row_axpy(const dsv3_weight *w, int64_t r, float a, float *y);
/* y[c] = W[r][c] */
void neon_row_get(const dsv3_weight *w, int64_t r, float *y);

/* f32 vector helpers (elementwise.c) */
float neon_dot_f32(const float *a, const float *b, int64_t n);
void neon_axpy_f32(float a, const float *x, float *y, int64_t n);
/* x[i] = exp(x[i] - sub) in place; returns their sum (4 lanes, then added). */
float neon_exp_sum(float *x, int64_t n, float sub);
void neon_silu_mul(const float *g, const float *u, float *out, size_t count);

/* ops */
void neon_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n);
void neon_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n,
                  int dim, float eps);
void neon_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y);
void neon_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
               const float *cos_t, const float *sin_t);
void neon_mla_attention(dsv3_backend *be, const dsv3_mla_args *a);
void neon_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count);
void neon_add(dsv3_backend *be, float *y, const float *x, size_t count);
void neon_moe_experts(dsv3_backend *be, const dsv3_moe_args *a);

#endif
