/* matmul.c -- weight rows of every stored type against f32 activations. */
#include <string.h>

#include "scalar.h"
#include "wtype.h"

/* FP8 rows: the dequantized weight is q * scale of its 2-D block, so a row
 * dot is a sum over column blocks of (block scale) * (sum of q * x). */
static float fp8_row_dot(const dsv3_weight *w, int64_t r, const float *x) {
    const uint8_t *q = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    const float *srow = w->scale + (r / w->block_r) * w->scale_cols;
    float acc = 0.0f;
    for (int64_t c0 = 0; c0 < w->cols; c0 += w->block_c) {
        int64_t c1 = c0 + w->block_c < w->cols ? c0 + w->block_c : w->cols;
        float s = 0.0f;
        for (int64_t c = c0; c < c1; c++) s += dsv3_fp8e4m3_to_f32(q[c]) * x[c];
        acc += s * srow[c0 / w->block_c];
    }
    return acc;
}

float scalar_row_dot(const dsv3_weight *w, int64_t r, const float *x) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    float acc = 0.0f;
    switch (w->type) {
    case DSV3_W_F32: {
        const float *p = (const float *)(const void *)row;
        for (int64_t c = 0; c < w->cols; c++) acc += p[c] * x[c];
        break;
    }
    case DSV3_W_BF16: {
        const uint16_t *p = (const uint16_t *)(const void *)row;
        for (int64_t c = 0; c < w->cols; c++) acc += dsv3_bf16_to_f32(p[c]) * x[c];
        break;
    }
    case DSV3_W_F16: {
        const uint16_t *p = (const uint16_t *)(const void *)row;
        for (int64_t c = 0; c < w->cols; c++) acc += dsv3_f16_to_f32(p[c]) * x[c];
        break;
    }
    case DSV3_W_F8_E4M3: acc = fp8_row_dot(w, r, x); break;
    default: break;
    }
    return acc;
}

void scalar_row_axpy(const dsv3_weight *w, int64_t r, float a, float *y) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    switch (w->type) {
    case DSV3_W_F32: {
        const float *p = (const float *)(const void *)row;
        for (int64_t c = 0; c < w->cols; c++) y[c] += a * p[c];
        break;
    }
    case DSV3_W_BF16: {
        const uint16_t *p = (const uint16_t *)(const void *)row;
        for (int64_t c = 0; c < w->cols; c++) y[c] += a * dsv3_bf16_to_f32(p[c]);
        break;
    }
    case DSV3_W_F16: {
        const uint16_t *p = (const uint16_t *)(const void *)row;
        for (int64_t c = 0; c < w->cols; c++) y[c] += a * dsv3_f16_to_f32(p[c]);
        break;
    }
    case DSV3_W_F8_E4M3: {
        const float *srow = w->scale + (r / w->block_r) * w->scale_cols;
        for (int64_t c = 0; c < w->cols; c++)
            y[c] += a * srow[c / w->block_c] * dsv3_fp8e4m3_to_f32(row[c]);
        break;
    }
    default: break;
    }
}

float scalar_vec_at(const dsv3_weight *w, int64_t c) {
    const void *p = w->data;
    switch (w->type) {
    case DSV3_W_F32: return ((const float *)p)[c];
    case DSV3_W_BF16: return dsv3_bf16_to_f32(((const uint16_t *)p)[c]);
    case DSV3_W_F16: return dsv3_f16_to_f32(((const uint16_t *)p)[c]);
    default: return 0.0f;
    }
}

void scalar_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n) {
    (void)be;
    for (int t = 0; t < n; t++)
        for (int64_t r = 0; r < w->rows; r++) y[(size_t)t * w->rows + r] = scalar_row_dot(w, r, x + (size_t)t * w->cols);
}
