/* scalar.h -- internals shared by the scalar backend's op files. The scalar
 * backend is the readable reference: plain C loops, f32 accumulation, no
 * intrinsics. Every other backend is tested against it. */
#ifndef DSV3_SCALAR_H
#define DSV3_SCALAR_H

#include "backend.h"
#include "cpu/pool.h"

/* The backend's thread pool (may be NULL). */
dsv3_pool *scalar_pool(dsv3_backend *be);

/* sum_c W[r][c] * x[c] */
float scalar_row_dot(const dsv3_weight *w, int64_t r, const float *x);
/* y[c] += a * W[r][c] for all c (used for W^T x in absorbed attention) */
void scalar_row_axpy(const dsv3_weight *w, int64_t r, float a, float *y);
/* W[0][c] of a vector weight (norm gains), any stored type */
float scalar_vec_at(const dsv3_weight *w, int64_t c);

void scalar_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n);
void scalar_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n,
                    int dim, float eps);
void scalar_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y);
void scalar_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
                 const float *cos_t, const float *sin_t);
void scalar_mla_attention(dsv3_backend *be, const dsv3_mla_args *a);
void scalar_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count);
void scalar_add(dsv3_backend *be, float *y, const float *x, size_t count);
void scalar_moe_experts(dsv3_backend *be, const dsv3_moe_args *a);

#endif
