/* matmul_float.c -- F32, F16, BF16 and block-scaled FP8 e4m3 weight rows
 * against f32 activations: values are decoded in registers and multiplied
 * with f32 FMAs, NEON_TILE tokens per pass over a weight row, rows taken in
 * cache-sized blocks so that every token tile reuses them. Also the single
 * row helpers (dot, axpy, get) for every stored type. */
#include <math.h>

#include "neon_f32.h"
#include "quants/quants.h"

/* Row r of a plain type against NT tokens. FP8 is a sum over column blocks
 * of (block scale) * (sum of q * x), like the scalar backend. */
NEON_INLINE void plain_row(const dsv3_weight *w, int type, int64_t r, const float *const *x, int nt, float *out) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    if (type != DSV3_W_F8_E4M3) {
        neon_span_dot(type, row, w->cols, x, 0, nt, out);
        return;
    }
    const float *srow = w->scale + (r / w->block_r) * w->scale_cols;
    float acc[NEON_TILE] = {0.0f}, part[NEON_TILE];
    for (int64_t c0 = 0; c0 < w->cols; c0 += w->block_c) {
        const int64_t len = c0 + w->block_c < w->cols ? w->block_c : w->cols - c0;
        neon_span_dot(type, row + c0, len, x, c0, nt, part);
        const float s = srow[c0 / w->block_c];
        for (int t = 0; t < nt; t++) acc[t] += part[t] * s;
    }
    for (int t = 0; t < nt; t++) out[t] = acc[t];
}

NEON_INLINE void plain_rows_t(const dsv3_weight *w, int type, const float *x, size_t ldx, float *y, size_t ldy, int n,
                              int64_t r0, int64_t r1) {
    const int64_t rb = n <= NEON_TILE ? r1 - r0 : neon_row_block(dsv3_wtype_row_bytes(type, w->cols), 256 * 1024);
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {
        const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
        for (int t0 = 0; t0 < n; t0 += NEON_TILE) {
            const int nt = n - t0 < NEON_TILE ? n - t0 : NEON_TILE;
            const float *xs[NEON_TILE];
            for (int t = 0; t < nt; t++) xs[t] = x + (size_t)(t0 + t) * ldx;
            float out[NEON_TILE];
            for (int64_t r = b0; r < b1; r++) {
                switch (nt) {
                case 1: plain_row(w, type, r, xs, 1, out); break;
                case 2: plain_row(w, type, r, xs, 2, out); break;
                case 3: plain_row(w, type, r, xs, 3, out); break;
                default: plain_row(w, type, r, xs, 4, out); break;
                }
                for (int t = 0; t < nt; t++) y[(size_t)(t0 + t) * ldy + (size_t)(r - r0)] = out[t];
            }
        }
    }
}

void neon_rows_plain(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                     int64_t r1) {
    switch (w->type) {
    case DSV3_W_F32: plain_rows_t(w, DSV3_W_F32, x, ldx, y, ldy, n, r0, r1); break;
    case DSV3_W_F16: plain_rows_t(w, DSV3_W_F16, x, ldx, y, ldy, n, r0, r1); break;
    case DSV3_W_BF16: plain_rows_t(w, DSV3_W_BF16, x, ldx, y, ldy, n, r0, r1); break;
    case DSV3_W_F8_E4M3: plain_rows_t(w, DSV3_W_F8_E4M3, x, ldx, y, ldy, n, r0, r1); break;
    default: break;
    }
}

static int is_block_type(int t) { return t >= DSV3_W_Q8_0 && t < DSV3_W_COUNT; }

void neon_rows_f32act(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                      int64_t r1) {
    if (is_block_type(w->type)) neon_rows_deq(w, x, ldx, y, ldy, n, r0, r1);
    else neon_rows_plain(w, x, ldx, y, ldy, n, r0, r1);
}

/* y[c] = a * w[c] + y[c] over a span of a plain type. */
NEON_INLINE void span_axpy(int type, const uint8_t *p, int64_t len, float a, float *y) {
    int64_t c = 0;
    for (; c + 16 <= len; c += 16) {
        float32x4_t v[4];
        neon_ld16(type, p, c, v);
        for (int k = 0; k < 4; k++) vst1q_f32(y + c + 4 * k, vfmaq_n_f32(vld1q_f32(y + c + 4 * k), v[k], a));
    }
    for (; c + 4 <= len; c += 4) vst1q_f32(y + c, vfmaq_n_f32(vld1q_f32(y + c), neon_ld4(type, p, c), a));
    for (; c < len; c++) y[c] = fmaf(neon_ld1(type, p, c), a, y[c]);
}

NEON_INLINE void row_axpy_t(const dsv3_weight *w, int type, int64_t r, float a, float *y) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    if (type != DSV3_W_F8_E4M3) {
        span_axpy(type, row, w->cols, a, y);
        return;
    }
    const float *srow = w->scale + (r / w->block_r) * w->scale_cols;
    for (int64_t c0 = 0; c0 < w->cols; c0 += w->block_c) {
        const int64_t len = c0 + w->block_c < w->cols ? w->block_c : w->cols - c0;
        span_axpy(type, row + c0, len, a * srow[c0 / w->block_c], y + c0);
    }
}

void neon_row_axpy(const dsv3_weight *w, int64_t r, float a, float *y) {
    switch (w->type) {
    case DSV3_W_F32: row_axpy_t(w, DSV3_W_F32, r, a, y); break;
    case DSV3_W_F16: row_axpy_t(w, DSV3_W_F16, r, a, y); break;
    case DSV3_W_BF16: row_axpy_t(w, DSV3_W_BF16, r, a, y); break;
    case DSV3_W_F8_E4M3: row_axpy_t(w, DSV3_W_F8_E4M3, r, a, y); break;
    default: {
        if (!is_block_type(w->type)) break;
        /* dequantize 256 values at a time (a multiple of every block) */
        float buf[256];
        const int bs = dsv3_wtype_block(w->type);
        const size_t bb = dsv3_wtype_block_bytes(w->type);
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
        for (int64_t c0 = 0; c0 < w->cols; c0 += 256) {
            const int64_t len = c0 + 256 < w->cols ? 256 : w->cols - c0;
            dsv3_dequantize_row(w->type, row + (size_t)(c0 / bs) * bb, buf, len);
            span_axpy(DSV3_W_F32, (const uint8_t *)buf, len, a, y + c0);
        }
        break;
    }
    }
}

void neon_row_get(const dsv3_weight *w, int64_t r, float *y) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    const int64_t n = w->cols;
    switch (w->type) {
    case DSV3_W_F32: memcpy(y, row, sizeof(float) * (size_t)n); break;
    case DSV3_W_F16:
    case DSV3_W_BF16: {
        int64_t c = 0;
        for (; c + 4 <= n; c += 4) vst1q_f32(y + c, w->type == DSV3_W_F16 ? neon_ld4(DSV3_W_F16, row, c)
                                                                         : neon_ld4(DSV3_W_BF16, row, c));
        for (; c < n; c++) y[c] = w->type == DSV3_W_F16 ? neon_ld1(DSV3_W_F16, row, c) : neon_ld1(DSV3_W_BF16, row, c);
        break;
    }
    case DSV3_W_F8_E4M3: {
        const float *srow = w->scale + (r / w->block_r) * w->scale_cols;
        for (int64_t c0 = 0; c0 < n; c0 += w->block_c) {
            const int64_t len = c0 + w->block_c < n ? w->block_c : n - c0;
            const float s = srow[c0 / w->block_c];
            int64_t c = 0;
            for (; c + 4 <= len; c += 4)
                vst1q_f32(y + c0 + c, vmulq_n_f32(neon_ld4(DSV3_W_F8_E4M3, row + c0, c), s));
            for (; c < len; c++) y[c0 + c] = s * neon_ld1(DSV3_W_F8_E4M3, row + c0, c);
        }
        break;
    }
    default:
        if (is_block_type(w->type)) dsv3_dequantize_row(w->type, row, y, n);
        else memset(y, 0, sizeof(float) * (size_t)n);
        break;
    }
}
