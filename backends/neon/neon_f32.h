/* neon_f32.h -- inline kernels of the f32-activation path (matmul_float.c,
 * matmul_quant.c): decoding stored values into f32 vectors, and the dot of
 * one weight span with up to NEON_TILE activation rows.
 *
 * For a given token the operations do not depend on how many tokens share
 * the call (each token has its own accumulators, updated in column order),
 * so a token's result is the same in any batch. */
#ifndef DSV3_NEON_F32_H
#define DSV3_NEON_F32_H

#include <arm_neon.h>
#include <string.h>

#include "neon.h"
#include "wtype.h"

#define NEON_TILE 4 /* activation rows per weight pass */

#if defined(__GNUC__) || defined(__clang__)
#define NEON_INLINE static inline __attribute__((always_inline))
#else
#define NEON_INLINE static inline
#endif

/* FP8 e4m3fn bytes (in u32 lanes) -> f32, exactly as dsv3_fp8e4m3_to_f32,
 * without relying on subnormal arithmetic (works with flush-to-zero). */
NEON_INLINE float32x4_t neon_fp8_to_f32(uint32x4_t v) {
    const uint32x4_t em = vandq_u32(v, vdupq_n_u32(0x7f));
    const uint32x4_t sign = vshlq_n_u32(vandq_u32(v, vdupq_n_u32(0x80)), 24);
    /* normal: exponent e -> e + 120, mantissa to the top of the f32 one */
    const uint32x4_t nrm = vaddq_u32(vshlq_n_u32(em, 20), vdupq_n_u32(120u << 23));
    /* subnormal (e == 0): m * 2^-9 */
    const uint32x4_t sub = vreinterpretq_u32_f32(vmulq_n_f32(vcvtq_f32_u32(em), 1.0f / 512.0f));
    uint32x4_t r = vbslq_u32(vcltq_u32(em, vdupq_n_u32(8)), sub, nrm);
    r = vbslq_u32(vceqq_u32(em, vdupq_n_u32(0x7f)), vdupq_n_u32(0x7fc00000u), r);
    return vreinterpretq_f32_u32(vorrq_u32(r, sign));
}

/* 16 stored values of a plain type starting at element c of p -> 4 vectors. */
NEON_INLINE void neon_ld16(int type, const uint8_t *p, int64_t c, float32x4_t w[4]) {
    switch (type) {
    case DSV3_W_F32: {
        const float *f = (const float *)(const void *)p + c;
        w[0] = vld1q_f32(f);
        w[1] = vld1q_f32(f + 4);
        w[2] = vld1q_f32(f + 8);
        w[3] = vld1q_f32(f + 12);
        break;
    }
    case DSV3_W_F16: {
        const uint16_t *h = (const uint16_t *)(const void *)p + c;
        const float16x8_t a = vreinterpretq_f16_u16(vld1q_u16(h)), b = vreinterpretq_f16_u16(vld1q_u16(h + 8));
        w[0] = vcvt_f32_f16(vget_low_f16(a));
        w[1] = vcvt_high_f32_f16(a);
        w[2] = vcvt_f32_f16(vget_low_f16(b));
        w[3] = vcvt_high_f32_f16(b);
        break;
    }
    case DSV3_W_BF16: {
        const uint16_t *h = (const uint16_t *)(const void *)p + c;
        const uint16x8_t a = vld1q_u16(h), b = vld1q_u16(h + 8);
        w[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(a), 16));
        w[1] = vreinterpretq_f32_u32(vshll_high_n_u16(a, 16));
        w[2] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16));
        w[3] = vreinterpretq_f32_u32(vshll_high_n_u16(b, 16));
        break;
    }
    default: { /* DSV3_W_F8_E4M3 */
        const uint8x16_t b = vld1q_u8(p + c);
        const uint16x8_t lo = vmovl_u8(vget_low_u8(b)), hi = vmovl_high_u8(b);
        w[0] = neon_fp8_to_f32(vmovl_u16(vget_low_u16(lo)));
        w[1] = neon_fp8_to_f32(vmovl_high_u16(lo));
        w[2] = neon_fp8_to_f32(vmovl_u16(vget_low_u16(hi)));
        w[3] = neon_fp8_to_f32(vmovl_high_u16(hi));
        break;
    }
    }
}

/* 4 stored values starting at element c. */
NEON_INLINE float32x4_t neon_ld4(int type, const uint8_t *p, int64_t c) {
    switch (type) {
    case DSV3_W_F32: return vld1q_f32((const float *)(const void *)p + c);
    case DSV3_W_F16:
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)p + c)));
    case DSV3_W_BF16:
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)(const void *)p + c), 16));
    default: {
        uint32_t u;
        memcpy(&u, p + c, 4);
        return neon_fp8_to_f32(vmovl_u16(vget_low_u16(vmovl_u8(vcreate_u8(u)))));
    }
    }
}

/* One stored value (column tails). */
NEON_INLINE float neon_ld1(int type, const uint8_t *p, int64_t c) {
    switch (type) {
    case DSV3_W_F32: return ((const float *)(const void *)p)[c];
    case DSV3_W_F16: return dsv3_f16_to_f32(((const uint16_t *)(const void *)p)[c]);
    case DSV3_W_BF16: return dsv3_bf16_to_f32(((const uint16_t *)(const void *)p)[c]);
    default: return dsv3_fp8e4m3_to_f32(p[c]);
    }
}

/* out[t] = sum_{c < len} w[c] * x[t][off + c] for t < nt, where w[c] is
 * element c of the stored span p (of a plain type). Four accumulators of 4
 * lanes per token, folded as (a0 + a1) + (a2 + a3), then the tail in
 * column order. */
NEON_INLINE void neon_span_dot(int type, const uint8_t *p, int64_t len, const float *const *x, int64_t off, int nt,
                               float *out) {
    float32x4_t acc[NEON_TILE][4];
    for (int t = 0; t < nt; t++) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = vdupq_n_f32(0.0f);
    int64_t c = 0;
    for (; c + 16 <= len; c += 16) {
        float32x4_t w[4];
        neon_ld16(type, p, c, w);
        for (int t = 0; t < nt; t++) {
            const float *xt = x[t] + off + c;
            acc[t][0] = vfmaq_f32(acc[t][0], w[0], vld1q_f32(xt));
            acc[t][1] = vfmaq_f32(acc[t][1], w[1], vld1q_f32(xt + 4));
            acc[t][2] = vfmaq_f32(acc[t][2], w[2], vld1q_f32(xt + 8));
            acc[t][3] = vfmaq_f32(acc[t][3], w[3], vld1q_f32(xt + 12));
        }
    }
    for (; c + 4 <= len; c += 4) {
        const float32x4_t w = neon_ld4(type, p, c);
        for (int t = 0; t < nt; t++) acc[t][0] = vfmaq_f32(acc[t][0], w, vld1q_f32(x[t] + off + c));
    }
    float s[NEON_TILE];
    for (int t = 0; t < nt; t++)
        s[t] = vaddvq_f32(vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]), vaddq_f32(acc[t][2], acc[t][3])));
    for (; c < len; c++) {
        const float w = neon_ld1(type, p, c);
        for (int t = 0; t < nt; t++) s[t] += w * x[t][off + c];
    }
    for (int t = 0; t < nt; t++) out[t] = s[t];
}

/* The span dot for a run-time nt, each case compiled with a constant. */
NEON_INLINE void neon_span_dot_nt(int type, const uint8_t *p, int64_t len, const float *const *x, int64_t off, int nt,
                                  float *out) {
    switch (nt) {
    case 1: neon_span_dot(type, p, len, x, off, 1, out); break;
    case 2: neon_span_dot(type, p, len, x, off, 2, out); break;
    case 3: neon_span_dot(type, p, len, x, off, 3, out); break;
    default: neon_span_dot(type, p, len, x, off, 4, out); break;
    }
}

/* Rows per block so that a block of weights (bytes_per_row each) stays in a
 * budget of cache while every token tile passes over it. */
static inline int64_t neon_row_block(size_t bytes_per_row, size_t budget) {
    int64_t rb = bytes_per_row ? (int64_t)(budget / bytes_per_row) : 1;
    return rb < 1 ? 1 : rb;
}

#endif
