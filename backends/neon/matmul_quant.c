/* matmul_quant.c -- ggml block-type weight rows.
 *
 *   f32 path (every block type): 256 values of a row are dequantized
 *     bit-exactly (dsv3_dequantize_row) into a stack buffer and multiplied
 *     with f32 FMAs by every token of the call: the dequantization is paid
 *     once per row per 64 tokens.
 *   q8 path (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K,
 *     Q6_K, IQ4_XS): the activations are quantized per 32 values
 *     (neon_q8.h) in chunks of NEON_Q8_CHUNK columns on the stack and each
 *     chunk's blocks are integer dot products; a row's result is the sum of
 *     its chunks' partial sums in column order.
 *   q8x2 (attention's k_b / v_b, one vector): the q8 path with the vector
 *     rounded twice, value then rounding error, as two tokens of one
 *     kernel call (about 16-bit activation precision). */
#include "neon_f32.h"
#include "quants/quants.h"

#define NEON_Q8_SUFFIX base
#include "neon_q8.h"

#define DEQ_CHUNK 256 /* values per dequantization: a multiple of every block */

/* ---- f32 activations -------------------------------------------------- */

void neon_rows_deq(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                   int64_t r1) {
    const int bs = dsv3_wtype_block(w->type);
    const size_t bb = dsv3_wtype_block_bytes(w->type);
    if (bs <= 0 || w->cols % bs) return;
    float buf[DEQ_CHUNK];
    for (int g0 = 0; g0 < n; g0 += DSV3_MAX_UBATCH) {
        const int ng = n - g0 < DSV3_MAX_UBATCH ? n - g0 : DSV3_MAX_UBATCH;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
            float acc[DSV3_MAX_UBATCH];
            for (int t = 0; t < ng; t++) acc[t] = 0.0f;
            for (int64_t c0 = 0; c0 < w->cols; c0 += DEQ_CHUNK) {
                const int64_t len = c0 + DEQ_CHUNK < w->cols ? DEQ_CHUNK : w->cols - c0;
                dsv3_dequantize_row(w->type, row + (size_t)(c0 / bs) * bb, buf, len);
                for (int t0 = 0; t0 < ng; t0 += NEON_TILE) {
                    const int nt = ng - t0 < NEON_TILE ? ng - t0 : NEON_TILE;
                    const float *xs[NEON_TILE];
                    float part[NEON_TILE];
                    for (int t = 0; t < nt; t++) xs[t] = x + (size_t)(g0 + t0 + t) * ldx;
                    neon_span_dot_nt(DSV3_W_F32, (const uint8_t *)buf, len, xs, c0, nt, part);
                    for (int t = 0; t < nt; t++) acc[t0 + t] += part[t];
                }
            }
            for (int t = 0; t < ng; t++) y[(size_t)(g0 + t) * ldy + (size_t)(r - r0)] = acc[t];
        }
    }
}

/* ---- q8 activations ----------------------------------------------------- */

int neon_q8_type(int type) {
    switch (type) {
    case DSV3_W_Q8_0:
    case DSV3_W_Q4_0:
    case DSV3_W_Q4_1:
    case DSV3_W_Q5_0:
    case DSV3_W_Q5_1:
    case DSV3_W_IQ4_NL:
    case DSV3_W_Q2_K:
    case DSV3_W_Q3_K:
    case DSV3_W_Q4_K:
    case DSV3_W_Q5_K:
    case DSV3_W_Q6_K:
    case DSV3_W_IQ4_XS: return 1;
    default: return 0;
    }
}

/* Quantize len values (a multiple of 32) of x into row t of the chunk; the
 * scales past the last block, up to a multiple of 4 blocks, are zero. With
 * res, also res[i] = x[i] - d * q[i], the rounding error of each value (one
 * fused rounding; |res| <= d / 2 in each block). */
static void quantize_chunk(neon_q8act *a, int t, const float *x, int64_t len, float *res) {
    const int nb = (int)(len / 32);
    for (int b = 0; b < nb; b++) {
        const float *p = x + 32 * b;
        float32x4_t v[8];
        for (int k = 0; k < 8; k++) v[k] = vld1q_f32(p + 4 * k);
        float32x4_t m = vabsq_f32(v[0]);
        for (int k = 1; k < 8; k++) m = vmaxq_f32(m, vabsq_f32(v[k]));
        const float amax = vmaxvq_f32(m);
        const float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int32x4_t q[8];
        for (int k = 0; k < 8; k++) q[k] = vcvtnq_s32_f32(vmulq_n_f32(v[k], id));
        /* sums of the 16-value halves (Q2_K's mins), and of the block */
        const int32x4_t s0 = vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]));
        const int32x4_t s1 = vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7]));
        for (int k = 0; k < 8; k += 4) {
            const int16x8_t h0 = vcombine_s16(vqmovn_s32(q[k]), vqmovn_s32(q[k + 1]));
            const int16x8_t h1 = vcombine_s16(vqmovn_s32(q[k + 2]), vqmovn_s32(q[k + 3]));
            vst1q_s8(a->q[t] + 32 * b + 4 * k, vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1)));
        }
        if (res)
            for (int k = 0; k < 8; k++)
                vst1q_f32(res + 32 * b + 4 * k, vfmsq_f32(v[k], vcvtq_f32_s32(q[k]), vdupq_n_f32(d)));
        a->d[t][b] = d;
        a->s[t][b] = vaddvq_s32(vaddq_s32(s0, s1));
        a->s16[t][2 * b] = (int16_t)vaddvq_s32(s0);
        a->s16[t][2 * b + 1] = (int16_t)vaddvq_s32(s1);
    }
    for (int b = nb; b < NEON_Q8_CHUNK / 32 && (b & 3); b++) {
        a->d[t][b] = 0.0f;
        a->s[t][b] = 0;
    }
}

void neon_rows_q8(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
                  int64_t r1, int dotprod) {
    const neon_q8_kernel kern = dotprod ? neon_q8_kernel_dot : neon_q8_kernel_base;
    const int bs = dsv3_wtype_block(w->type);
    const size_t bb = dsv3_wtype_block_bytes(w->type);
    if (bs <= 0 || w->cols % bs) return;
    /* Decode (n <= tile) streams the rows once; prefill keeps a block of
     * rows in cache while every token tile passes over it. */
    const int64_t rb = n <= NEON_Q8_TILE ? r1 - r0 : neon_row_block(dsv3_wtype_row_bytes(w->type, w->cols), 512 * 1024);
    neon_q8act act;
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {
        const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
        for (int t0 = 0; t0 < n; t0 += NEON_Q8_TILE) {
            const int nt = n - t0 < NEON_Q8_TILE ? n - t0 : NEON_Q8_TILE;
            for (int64_t c0 = 0; c0 < w->cols; c0 += NEON_Q8_CHUNK) {
                const int64_t len = c0 + NEON_Q8_CHUNK < w->cols ? NEON_Q8_CHUNK : w->cols - c0;
                for (int t = 0; t < nt; t++) quantize_chunk(&act, t, x + (size_t)(t0 + t) * ldx + c0, len, NULL);
                const size_t off = (size_t)(c0 / bs) * bb;
                for (int64_t r = b0; r < b1; r++) {
                    float part[NEON_Q8_TILE];
                    kern(w->type, (const uint8_t *)w->data + (size_t)r * w->row_stride + off, &act, nt,
                         (int)(len / 32), part);
                    for (int t = 0; t < nt; t++) {
                        float *yy = y + (size_t)(t0 + t) * ldy + (size_t)(r - r0);
                        *yy = c0 ? *yy + part[t] : part[t];
                    }
                }
            }
        }
    }
}

/* The kernels take at most 4 tokens; two rounded rows of the same vector are
 * two of them: each weight block is decoded once for both, so the second
 * 8 bits of precision cost one more integer dot per block, far less than
 * dequantizing to f32 (attention decodes its up-projection rows for every
 * head of every token). The value's rounding error is at most d/2 per
 * 32-block, the error's own rounding error 1/254 of that. */
void neon_rows_q8x2(const dsv3_weight *w, const float *x, float *y, int64_t r0, int64_t r1, int dotprod) {
    const neon_q8_kernel kern = dotprod ? neon_q8_kernel_dot : neon_q8_kernel_base;
    const int bs = dsv3_wtype_block(w->type);
    const size_t bb = dsv3_wtype_block_bytes(w->type);
    if (bs <= 0 || w->cols % bs || r0 >= r1) return;
    neon_q8act act;
    float res[NEON_Q8_CHUNK];
    for (int64_t c0 = 0; c0 < w->cols; c0 += NEON_Q8_CHUNK) {
        const int64_t len = c0 + NEON_Q8_CHUNK < w->cols ? NEON_Q8_CHUNK : w->cols - c0;
        quantize_chunk(&act, 0, x + c0, len, res);
        quantize_chunk(&act, 1, res, len, NULL);
        const size_t off = (size_t)(c0 / bs) * bb;
        for (int64_t r = r0; r < r1; r++) {
            float part[NEON_Q8_TILE];
            kern(w->type, (const uint8_t *)w->data + (size_t)r * w->row_stride + off, &act, 2, (int)(len / 32), part);
            const float v = part[0] + part[1];
            y[r - r0] = c0 ? y[r - r0] + v : v;
        }
    }
}
