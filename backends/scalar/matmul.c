/* matmul.c -- weight rows of every stored type against f32 activations. */
#include <string.h>

#include "quants/quants.h"
#include "scalar.h"
#include "wtype.h"

/* ggml block types: each block is dequantized (bit-exactly) into a stack
 * buffer, then used in f32. Blocks hold at most 256 elements. */
#define QBLOCK_MAX 256

static int is_block_type(int t) { return t >= DSV3_W_Q8_0 && t < DSV3_W_COUNT; }

static float block_row_dot(const dsv3_weight *w, const uint8_t *row, const float *x) {
    float buf[QBLOCK_MAX], acc = 0.0f;
    const int bs = dsv3_wtype_block(w->type);
    const size_t bb = dsv3_wtype_block_bytes(w->type);
    for (int64_t c = 0; c + bs <= w->cols; c += bs, row += bb) {
        dsv3_dequantize_row(w->type, row, buf, bs);
        for (int j = 0; j < bs; j++) acc += buf[j] * x[c + j];
    }
    return acc;
}

static void block_row_axpy(const dsv3_weight *w, const uint8_t *row, float a, float *y) {
    float buf[QBLOCK_MAX];
    const int bs = dsv3_wtype_block(w->type);
    const size_t bb = dsv3_wtype_block_bytes(w->type);
    for (int64_t c = 0; c + bs <= w->cols; c += bs, row += bb) {
        dsv3_dequantize_row(w->type, row, buf, bs);
        for (int j = 0; j < bs; j++) y[c + j] += a * buf[j];
    }
}

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
    default:
        if (is_block_type(w->type)) acc = block_row_dot(w, row, x);
        break;
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
    default:
        if (is_block_type(w->type)) block_row_axpy(w, row, a, y);
        break;
    }
}

float scalar_vec_at(const dsv3_weight *w, int64_t c) {
    const void *p = w->data;
    switch (w->type) {
    case DSV3_W_F32: return ((const float *)p)[c];
    case DSV3_W_BF16: return dsv3_bf16_to_f32(((const uint16_t *)p)[c]);
    case DSV3_W_F16: return dsv3_f16_to_f32(((const uint16_t *)p)[c]);
    default:
        if (is_block_type(w->type)) {
            float buf[QBLOCK_MAX];
            const int bs = dsv3_wtype_block(w->type);
            dsv3_dequantize_row(w->type, (const uint8_t *)p + (size_t)(c / bs) * dsv3_wtype_block_bytes(w->type),
                                buf, bs);
            return buf[c % bs];
        }
        return 0.0f;
    }
}

typedef struct matmul_job {
    const dsv3_weight *w;
    const float *x;
    float *y;
    int n;
} matmul_job;

/* Each thread owns a contiguous slice of the rows for every token, so it
 * streams a disjoint part of the weight. */
static void matmul_part(void *ctx, int ith, int nth) {
    const matmul_job *j = ctx;
    long r0, r1;
    dsv3_split((long)j->w->rows, ith, nth, &r0, &r1);
    for (int t = 0; t < j->n; t++)
        for (long r = r0; r < r1; r++)
            j->y[(size_t)t * j->w->rows + r] = scalar_row_dot(j->w, r, j->x + (size_t)t * j->w->cols);
}

void scalar_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n) {
    matmul_job j = {w, x, y, n};
    dsv3_pool_run(scalar_pool(be), matmul_part, &j);
}
