/* avx2.h -- internals shared by the avx2 backend's files (no intrinsics
 * here: tests compiled for baseline x86-64 include it too).
 *
 * The backend runs the same math as the scalar reference with AVX2 + FMA +
 * F16C. avx2.c (lifetime, memory, the availability check) is compiled for
 * baseline x86-64; every other file of this directory is compiled with
 * -mavx2 -mfma -mf16c and may only run after available() said yes.
 *
 * Determinism: every output element is computed by one thread, with an
 * arithmetic that depends only on the operands, never on the thread count
 * nor on the number of tokens in the call (a matmul of n tokens gives, per
 * token, the bits of n matmuls of one token).
 *
 * Activations: float weights (F32, F16, BF16, FP8) always meet f32
 * activations with f32 FMA. The ggml block types Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, IQ4_NL, Q2_K..Q6_K and IQ4_XS by default use an integer path that
 * rounds each activation row once per matmul to 8-bit blocks (32 or 256
 * values with an f32 scale, like ggml's Q8_0 / Q8_K): relative error about
 * 1e-3 of sum |w*x|, bounded by the tests at 5e-3. Attention's separate
 * k_b / v_b up-projections take the same path with 16-bit precision: the
 * query (or attended latent) of each head is rounded, then its rounding
 * error is rounded again, and the two rows meet each decoded weight block
 * (the scores are too sensitive for one 8-bit rounding, and dequantizing
 * costs far more per weight than the rest of a decoded token). Every other block type
 * (the 1-3 bit i-quants) dequantizes its blocks exactly (bit for bit as
 * backends/quants) and uses f32 FMA, as does a combined kv_b. If the buffer
 * for the rounded activations cannot be allocated, a matmul takes the f32
 * path.
 *
 * FP8 e4m3fn: the NaN codes S.1111.111, which quantizers never produce
 * (they saturate at +-448), read as +-480 (the scalar backend: NaN); every
 * other code decodes exactly. */
#ifndef DSV3_AVX2_H
#define DSV3_AVX2_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cpu/pool.h"

extern const dsv3_backend_ops dsv3_backend_avx2;

dsv3_pool *avx2_pool(dsv3_backend *be);
/* A reusable buffer of at least `bytes` (64-byte aligned, not zeroed), or
 * NULL when memory is short: callers then take a path that needs none.
 * Safe from concurrent sessions. Give it back with avx2_scratch_put. */
void *avx2_scratch_get(dsv3_backend *be, size_t bytes);
void avx2_scratch_put(dsv3_backend *be, void *p);

/* ---- matmul --------------------------------------------------------------- */
enum {
    AVX2_ACT_AUTO = 0, /* integer path for the types that have one           */
    AVX2_ACT_F32 = 1,  /* f32 activations for every type                     */
};
void avx2_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n);
void avx2_matmul_act(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n, int act);

/* Integer-path rows: rows [r0, r1) of w against n rows quantized by
 * avx2_q8_quantize for w->type, y[t * ldy + (r - r0)]. */
typedef void (*avx2_rows_q8_fn)(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n,
                                float *y, size_t ldy);

/* The integer-path kernels of a backend instance: avx2_rows_q8, or those of
 * a wider instruction set that reuses this backend's drivers (avx512). */
avx2_rows_q8_fn avx2_q8_kernel(dsv3_backend *be);

/* f32-activation rows of the same shape: rows [r0, r1) of w against n f32
 * token rows x. */
typedef void (*avx2_rows_f32_fn)(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *x, int n,
                                 float *y, size_t ldy);
/* The FP8 decode kernels of a backend instance (avx2_rows_fp8s, or
 * avx512's), as avx2_q8_kernel. */
avx2_rows_f32_fn avx2_fp8_kernel(dsv3_backend *be);

/* One matmul over some rows, as a piece of a threaded job: rows [r0, r1) of
 * w against n token rows, y[t * ldy + (r - r0)]. Exactly one of x (f32
 * rows) and xq (rows quantized by avx2_q8_quantize for w->type, run by q8)
 * is used. */
typedef struct avx2_mm {
    const dsv3_weight *w;
    const float *const *x;
    const void *const *xq;
    int n;
    float *y;
    size_t ldy;
    avx2_rows_q8_fn q8;
    avx2_rows_f32_fn fp8s; /* set: x holds avx2_fp8_prescale rows for FP8 w, run by fp8s */
} avx2_mm;

/* Run parts[0..n_parts) on the pool: the rows of all parts are concatenated
 * and cut into one contiguous range per thread. */
void avx2_mm_run(dsv3_backend *be, const avx2_mm *parts, int n_parts);
void avx2_mm_rows(const avx2_mm *m, int64_t r0, int64_t r1);

/* f32-activation rows (matmul_float.c), any stored type. */
void avx2_rows_f32(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *x, int n, float *y,
                   size_t ldy);
/* FP8 decode (matmul_float.c). Up to AVX2_FP8S_TOKENS tokens meet FP8
 * rows through the weights' f32 bits (load_fp8x8_f32bits) instead of a
 * binary16 conversion, against token rows multiplied by 2^112 once per
 * matmul: the same products, so the same bits as avx2_rows_f32, at about
 * 1.4x its speed when the FMA ports are the limit. avx2_fp8_prescale
 * writes x * 2^112 to dst for n rows of cols values and returns 0 when
 * some |x| >= 2^16 (the caller then keeps avx2_rows_f32). */
#define AVX2_FP8S_TOKENS 6
int avx2_fp8_prescale(const float *x, int64_t cols, int n, float *dst);
void avx2_rows_fp8s(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *xs, int n, float *y,
                    size_t ldy);

/* The float microkernels' interface (matmul_float.c), through which a
 * wider instruction set plugs its FP8 decode kernels into avx2's driver
 * (the row split, token chunks, scales, sums): up to AVX2_FK_ROWS rows w[r]
 * against up to AVX2_FK_TOKENS tokens x[t], over len columns; the 8 lane
 * sums of (r, t) at acc[r] + AVX2_FK_LANES * t. For FP8 (scaled): per scale
 * block of seg columns, acc += (even + odd) * 256 * sc[r][block], even and
 * odd the lane sums over the block's even and odd groups of 8 columns. */
#define AVX2_FK_ROWS 4
#define AVX2_FK_TOKENS 3
#define AVX2_FK_LANES 8
typedef struct avx2_kern_args {
    const uint8_t *w[AVX2_FK_ROWS]; /* weight rows at column c0                     */
    const float *x[AVX2_FK_TOKENS]; /* token rows at column c0                      */
    float *acc[AVX2_FK_ROWS];       /* lane sums of (r, t) at acc[r] + t * 8        */
    const float *sc[AVX2_FK_ROWS];  /* scaled: the block scales from c0's block on  */
    long len;                       /* columns from c0                              */
    long seg;                       /* scaled: columns per scale block (c0 at one)  */
    int fresh;                      /* not scaled: start the sums at 0, not acc     */
} avx2_kern_args;
typedef void (*avx2_kern_fn)(const avx2_kern_args *);
/* avx2_rows_fp8s with the FP8 decode kernels tab[R - 1][T - 1]. */
void avx2_rows_fp8s_with(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *xs, int n, float *y,
                         size_t ldy, const avx2_kern_fn tab[AVX2_FK_ROWS][AVX2_FK_TOKENS]);
/* y[c] += sum_{i<m} a[i] * W[r0+i][c] for every column c (W^T a). */
void avx2_rows_axpy(const dsv3_weight *w, int64_t r0, int m, const float *a, float *y);
/* dst[c] = W[r][c] (an embedding row), bit for bit as backends/scalar. */
void avx2_row_f32(const dsv3_weight *w, int64_t r, float *dst);

/* Block dequantization (matmul_quant.c), bit for bit as dsv3_dequantize_row:
 * nb blocks of `type` from src to dst. */
void avx2_dequant(int type, const uint8_t *src, float *dst, int64_t nb);

/* Integer path (matmul_quant.c). The activation blocks: 32 values for
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL weights, 256 for the K-quants
 * and IQ4_XS; q = round(x / d), d = max|x| / 127. */
typedef struct avx2_q8_32 {
    float d;
    union {
        float s;   /* d * sum q: the activation sum that meets Q4_1 / Q5_1 offsets */
        int32_t c; /* where a block's integer dot starts: Q8_0 -128 * sum q (avx512 meets w + 128 with
                    * q), Q4_0 -8 * sum q and Q5_0 -16 * sum q (their offsets) */
    };
    int8_t q[32];
} avx2_q8_32;

typedef struct avx2_q8_256 {
    float d;
    int16_t bsum[16]; /* sum of q over each 16 values */
    int8_t q[256];
} avx2_q8_256;

/* Bytes of one quantized activation row of `cols` values for weights of
 * `type`; 0 when the type has no integer path or cols does not fit its
 * blocks. */
size_t avx2_q8_row_bytes(int type, int64_t cols);
void avx2_q8_quantize(int type, const float *x, int64_t cols, void *dst);
/* r = x - (the values xq, its rounding by avx2_q8_quantize, stands for). */
void avx2_q8_residual(int type, const float *x, int64_t cols, const void *xq, float *r);
void avx2_rows_q8(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                  size_t ldy);

/* The packed copy of a weight (pack.c): whether w can have one (Q8_0,
 * Q4_0, Q5_0; rows a multiple of 8), its size in bytes (0 if not), and
 * rows [r0, r1) of the copy (multiples of 8) into dst of that size. */
int avx2_pack_rows8_ok(const dsv3_weight *w);
size_t avx2_pack_rows8_bytes(const dsv3_weight *w);
void avx2_pack_rows8(const dsv3_weight *w, void *dst, int64_t r0, int64_t r1);

/* ---- lifetime (avx2.c), shared with backends built on this one ---------- */
int avx2_init(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e);
/* Replace the integer-path (FP8 decode) kernels of a fresh instance. */
void avx2_set_q8_kernel(dsv3_backend *be, avx2_rows_q8_fn fn);
void avx2_set_fp8_kernel(dsv3_backend *be, avx2_rows_f32_fn fn);
void avx2_free(dsv3_backend *be);
int avx2_upload_weight(dsv3_backend *be, dsv3_weight *w, dsv3_err *e);
void *avx2_alloc(dsv3_backend *be, size_t bytes);
void avx2_release(dsv3_backend *be, void *p);
void avx2_memcpy(dsv3_backend *be, void *dst, const void *src, size_t bytes);
int avx2_cpu_ok(void);

/* The op-table entries every backend built on avx2's drivers shares (all
 * but version, name, available, priority and init). */
#define AVX2_SHARED_OPS                                                                                               \
    .free = avx2_free, .upload_weight = avx2_upload_weight, .alloc = avx2_alloc, .release = avx2_release,            \
    .to_host = avx2_memcpy, .from_host = avx2_memcpy, .copy = avx2_memcpy, .matmul = avx2_matmul,                   \
    .rmsnorm = avx2_rmsnorm, .embed = avx2_embed, .rope = avx2_rope, .mla_attention = avx2_mla_attention,             \
    .swiglu = avx2_swiglu, .add = avx2_add, .moe_experts = avx2_moe_experts, .store_kv = dsv3_cpu_store_kv,         \
    .route = dsv3_cpu_route, .rank_i8 = avx2_rank_i8

/* ---- other ops ------------------------------------------------------------ */
int32_t avx2_rank_i8(dsv3_backend *be, const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                     const int8_t *x);
void avx2_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n, int dim,
                  float eps);
void avx2_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y);
void avx2_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
               const float *cos_t, const float *sin_t);
void avx2_mla_attention(dsv3_backend *be, const dsv3_mla_args *a);
void avx2_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count);
void avx2_add(dsv3_backend *be, float *y, const float *x, size_t count);
void avx2_moe_experts(dsv3_backend *be, const dsv3_moe_args *a);

#endif
