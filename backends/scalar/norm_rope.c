/* norm_rope.c -- RMSNorm, embedding lookup and RoPE rotation. */
#include <math.h>
#include <string.h>

#include "scalar.h"
#include "wtype.h"

void scalar_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n,
                    int dim, float eps) {
    (void)be;
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * ldx;
        float *yr = y + (size_t)t * ldy;
        float ss = 0.0f;
        for (int i = 0; i < dim; i++) ss += xr[i] * xr[i];
        float inv = 1.0f / sqrtf(ss / (float)dim + eps);
        for (int i = 0; i < dim; i++) yr[i] = xr[i] * inv * scalar_vec_at(g, i);
    }
}

void scalar_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y) {
    (void)be;
    for (int t = 0; t < n; t++) {
        float *yr = y + (size_t)t * table->cols;
        memset(yr, 0, sizeof(float) * (size_t)table->cols);
        /* One row of an embedding table is a row "axpy" with a = 1, which
         * already knows every stored type. */
        scalar_row_axpy(table, ids[t], 1.0f, yr);
    }
}

void scalar_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
                 const float *cos_t, const float *sin_t) {
    (void)be;
    int half = dr / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * ld + (size_t)h * head_stride + offset;
            for (int i = 0; i < half; i++) {
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c[i] - b * s[i];
                v[2 * i + 1] = a * s[i] + b * c[i];
            }
        }
    }
}
