/* attention.c -- multi-head latent attention in the absorbed form (see
 * backends/scalar/attention.c for the algebra). Per (token, head) pair:
 *   q_lat = W_kb^T q_nope               (rows of wk_b, or axpys of wkv_b rows)
 *   score = (q_lat . c_p + q_pe . k_p) * scale, causal positions p
 *   o_lat = sum_p exp(score_p - max) c_p / sum_p exp(...)
 *   out   = W_vb o_lat
 * Pairs are split over the threads in contiguous ranges; each thread uses
 * its own slice of the scratch. Separate k_b / v_b rows of a type with q8
 * kernels use them with the vector rounded to about 16 bits
 * (neon_rows_q8x2, attn_rows below); every other weight row uses the
 * f32-activation path.
 *
 * The latent cache may be F32, F16 or Q8_0 (kv_type). Non-f32 rows are
 * decoded in registers (vcvt_f32_f16; Q8_0: int8 widened to int32, to f32,
 * times the block's f16 scale, one multiply as dsv3_dequantize_row) and
 * used with the f32 cache's order of operations: a quantized cache gives,
 * bit for bit, the result of an f32 cache holding its dequantized values. */
#include <math.h>
#include <string.h>

#include "neon_f32.h"

typedef struct mla_job {
    const dsv3_mla_args *a;
    int dotprod;
} mla_job;

/* Rows [r0, r1) of a separate k_b / v_b up-projection against one f32
 * vector. Dequantizing the rows to f32 for every head of every token costs
 * more than the rest of a decoded token's attention; the q8 kernels decode
 * in registers. One 8-bit rounding of q_nope / o_lat would be too coarse
 * (the softmax magnifies score errors), so the vector is rounded twice,
 * value then error (neon_rows_q8x2): about 16 bits. The result depends on
 * x and the rows alone, not on the thread or the other pairs. */
static void attn_rows(const dsv3_weight *w, int64_t r0, int64_t r1, const float *x, float *y, int dotprod) {
    const int bs = dsv3_wtype_block(w->type);
    if (neon_q8_type(w->type) && bs > 0 && w->cols % bs == 0) neon_rows_q8x2(w, x, y, r0, r1, dotprod);
    else neon_rows_f32act(w, x, 0, y, 0, 1, r0, r1);
}

/* o[i] += sum_k s[k] * c_k[i] for k < 4 positions (ld floats apart), the
 * FMAs of each element in position order. */
static void axpy4(const float *s, const float *c, size_t ld, float *o, int64_t n) {
    const float *c0 = c, *c1 = c + ld, *c2 = c + 2 * ld, *c3 = c + 3 * ld;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(o + i);
        v = vfmaq_n_f32(v, vld1q_f32(c0 + i), s[0]);
        v = vfmaq_n_f32(v, vld1q_f32(c1 + i), s[1]);
        v = vfmaq_n_f32(v, vld1q_f32(c2 + i), s[2]);
        v = vfmaq_n_f32(v, vld1q_f32(c3 + i), s[3]);
        vst1q_f32(o + i, v);
    }
    for (; i < n; i++) o[i] = fmaf(c3[i], s[3], fmaf(c2[i], s[2], fmaf(c1[i], s[1], fmaf(c0[i], s[0], o[i]))));
}

/* ---- non-f32 cache rows ---------------------------------------------------- */

/* The f16 scale of the Q8_0 block at b (34 bytes: d, 32 int8). */
NEON_INLINE float q8_scale(const uint8_t *b) {
    uint16_t h;
    memcpy(&h, b, 2);
    return dsv3_f16_to_f32(h);
}

/* 4 int8 at q -> f32 times d. */
NEON_INLINE float32x4_t q8_ld4(const uint8_t *q, float d) {
    uint32_t u;
    memcpy(&u, q, 4);
    const int16x8_t w = vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(u)));
    return vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))), d);
}

/* Values c .. c+15 of a cache row (c % 16 == 0). */
NEON_INLINE void kv_ld16(int type, const uint8_t *row, int64_t c, float32x4_t w[4]) {
    if (type != DSV3_W_Q8_0) {
        neon_ld16(type, row, c, w);
        return;
    }
    const uint8_t *b = row + (size_t)(c / 32) * 34;
    const float d = q8_scale(b);
    const int8x16_t q = vld1q_s8((const int8_t *)(const void *)(b + 2 + c % 32));
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    w[0] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d);
    w[1] = vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d);
    w[2] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d);
    w[3] = vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d);
}

/* Values c .. c+3 (c % 4 == 0). */
NEON_INLINE float32x4_t kv_ld4(int type, const uint8_t *row, int64_t c) {
    if (type != DSV3_W_Q8_0) return neon_ld4(type, row, c);
    const uint8_t *b = row + (size_t)(c / 32) * 34;
    return q8_ld4(b + 2 + c % 32, q8_scale(b));
}

/* Value c. */
NEON_INLINE float kv_ld1(int type, const uint8_t *row, int64_t c) {
    if (type != DSV3_W_Q8_0) return neon_ld1(type, row, c);
    const uint8_t *b = row + (size_t)(c / 32) * 34;
    return (float)(int8_t)b[2 + c % 32] * q8_scale(b);
}

/* neon_dot_f32(x, row) with the row decoded: the grouping of neon_span_dot
 * (16 values in 4 accumulators, then 4, folded (a0 + a1) + (a2 + a3), then
 * the tail in order). */
NEON_INLINE float kv_dot(int type, const uint8_t *row, const float *x, int64_t len) {
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int64_t c = 0;
    for (; c + 16 <= len; c += 16) {
        float32x4_t w[4];
        kv_ld16(type, row, c, w);
        acc[0] = vfmaq_f32(acc[0], w[0], vld1q_f32(x + c));
        acc[1] = vfmaq_f32(acc[1], w[1], vld1q_f32(x + c + 4));
        acc[2] = vfmaq_f32(acc[2], w[2], vld1q_f32(x + c + 8));
        acc[3] = vfmaq_f32(acc[3], w[3], vld1q_f32(x + c + 12));
    }
    for (; c + 4 <= len; c += 4) acc[0] = vfmaq_f32(acc[0], kv_ld4(type, row, c), vld1q_f32(x + c));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; c < len; c++) s += kv_ld1(type, row, c) * x[c];
    return s;
}

/* o[i] += sum_k s[k] * row_k[i] for k < nr <= 4 rows (ld bytes apart), the
 * FMAs of each element in row order, as axpy4 / neon_axpy_f32. */
NEON_INLINE void kv_axpy(int type, const float *s, const uint8_t *rows, size_t ld, int nr, float *o, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t v[4] = {vld1q_f32(o + i), vld1q_f32(o + i + 4), vld1q_f32(o + i + 8), vld1q_f32(o + i + 12)};
        for (int k = 0; k < nr; k++) {
            float32x4_t w[4];
            kv_ld16(type, rows + (size_t)k * ld, i, w);
            for (int j = 0; j < 4; j++) v[j] = vfmaq_n_f32(v[j], w[j], s[k]);
        }
        for (int j = 0; j < 4; j++) vst1q_f32(o + i + 4 * j, v[j]);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(o + i);
        for (int k = 0; k < nr; k++) v = vfmaq_n_f32(v, kv_ld4(type, rows + (size_t)k * ld, i), s[k]);
        vst1q_f32(o + i, v);
    }
    for (; i < n; i++)
        for (int k = 0; k < nr; k++) o[i] = fmaf(kv_ld1(type, rows + (size_t)k * ld, i), s[k], o[i]);
}

/* The scores and the attended latent (unnormalized) of one (token, head)
 * pair over an F16 or Q8_0 cache; returns the sum of the exponentials. */
NEON_INLINE float kv_attend(int type, const dsv3_mla_args *a, const float *q, const float *q_lat, float *score,
                            int n_pos, float *o_lat) {
    const uint8_t *kv = (const uint8_t *)(const void *)a->kv;
    const size_t ld = a->kv_row_bytes;
    float mx = -INFINITY;
    for (int p = 0; p < n_pos; p++) {
        const float sc = kv_dot(type, kv + (size_t)p * ld, q_lat, a->kvl);
        const float r = neon_dot_f32(q + a->dn, a->pe + (size_t)p * a->dr, a->dr);
        score[p] = (sc + r) * a->scale;
        if (score[p] > mx) mx = score[p];
    }
    const float sum = neon_exp_sum(score, n_pos, mx);
    memset(o_lat, 0, sizeof(float) * (size_t)a->kvl);
    int p = 0;
    for (; p + 4 <= n_pos; p += 4) kv_axpy(type, score + p, kv + (size_t)p * ld, ld, 4, o_lat, a->kvl);
    for (; p < n_pos; p++) kv_axpy(type, score + p, kv + (size_t)p * ld, ld, 1, o_lat, a->kvl);
    return sum;
}

static void mla_part(void *ctx, int ith, int nth) {
    const dsv3_mla_args *a = ((const mla_job *)ctx)->a;
    const int dotprod = ((const mla_job *)ctx)->dotprod;
    const int qd = a->dn + a->dr, hd = a->dn + a->dv;
    float *q_lat = a->scratch + (size_t)ith * dsv3_mla_scratch_floats(a->pos0 + a->n_tok, a->kvl);
    float *o_lat = q_lat + a->kvl;        /* [kvl] */
    float *score = o_lat + 2 * (size_t)a->kvl; /* [n_pos], after the (unused) row buffer */
    long i0, i1;
    dsv3_split((long)a->n_tok * a->n_heads, ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        const int t = (int)(it / a->n_heads), h = (int)(it % a->n_heads);
        const int n_pos = a->pos0 + t + 1; /* causal: positions 0..pos */
        const float *q = a->q + ((size_t)t * a->n_heads + h) * qd;
        if (a->wk_b) {
            attn_rows(a->wk_b, (int64_t)h * a->kvl, (int64_t)(h + 1) * a->kvl, q, q_lat, dotprod);
        } else {
            memset(q_lat, 0, sizeof(float) * (size_t)a->kvl);
            for (int i = 0; i < a->dn; i++) neon_row_axpy(a->wkv_b, (int64_t)h * hd + i, q[i], q_lat);
        }
        float sum;
        if (a->kv_type == DSV3_W_F16) {
            sum = kv_attend(DSV3_W_F16, a, q, q_lat, score, n_pos, o_lat);
        } else if (a->kv_type == DSV3_W_Q8_0) {
            sum = kv_attend(DSV3_W_Q8_0, a, q, q_lat, score, n_pos, o_lat);
        } else {
            float mx = -INFINITY;
            for (int p = 0; p < n_pos; p++) {
                const float s = neon_dot_f32(q_lat, a->kv + (size_t)p * a->kvl, a->kvl);
                const float r = neon_dot_f32(q + a->dn, a->pe + (size_t)p * a->dr, a->dr);
                score[p] = (s + r) * a->scale;
                if (score[p] > mx) mx = score[p];
            }
            sum = neon_exp_sum(score, n_pos, mx);
            memset(o_lat, 0, sizeof(float) * (size_t)a->kvl);
            int p = 0;
            for (; p + 4 <= n_pos; p += 4) axpy4(score + p, a->kv + (size_t)p * a->kvl, (size_t)a->kvl, o_lat, a->kvl);
            for (; p < n_pos; p++) neon_axpy_f32(score[p], a->kv + (size_t)p * a->kvl, o_lat, a->kvl);
        }
        const float inv = 1.0f / sum;
        int i = 0;
        for (; i + 4 <= a->kvl; i += 4) vst1q_f32(o_lat + i, vmulq_n_f32(vld1q_f32(o_lat + i), inv));
        for (; i < a->kvl; i++) o_lat[i] *= inv;
        float *o = a->out + ((size_t)t * a->n_heads + h) * a->dv;
        if (a->wk_b) attn_rows(a->wv_b, (int64_t)h * a->dv, (int64_t)(h + 1) * a->dv, o_lat, o, dotprod);
        else neon_rows_f32act(a->wkv_b, o_lat, 0, o, 0, 1, (int64_t)h * hd + a->dn, (int64_t)h * hd + a->dn + a->dv);
    }
}

void neon_mla_attention(dsv3_backend *be, const dsv3_mla_args *a) {
    mla_job j = {a, neon_dotprod(be)};
    dsv3_pool_run(neon_pool(be), mla_part, &j);
}
