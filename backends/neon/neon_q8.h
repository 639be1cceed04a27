/* neon_q8.h -- the q8-activation kernels for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS.
 *
 * Included twice: by matmul_quant.c (plain ARMv8.0 NEON, NEON_Q8_SUFFIX
 * base) and by matmul_quant_dot.c (compiled for ARMv8.2-A+dotprod, suffix
 * dot). The only difference is neon_qdot below; every 32-value block's
 * integer dot is exact in both, so both give the same floats bit for bit.
 *
 * Activations (neon_q8act): per token, NEON_Q8_CHUNK columns quantized per
 * 32 values: q = round(x * 127 / max|x|), d = max|x| / 127, s = sum of q,
 * s16 = the sums of q per 16 values (Q2_K's mins are per 16 values).
 *
 * Float accumulation, per token: blocks are taken 4 at a time; their 4
 * integer dots form one int32x4 vector that is converted and FMA'd into one
 * f32x4 accumulator with its 4 scales (weight scale * activation scale),
 * then the lanes are added. Weights with a min (Q4_1, Q5_1, Q2_K, Q4_K,
 * Q5_K) meet it through s (s16): sum (d*q + m) * dx*xq = dx * (d * sum q*xq
 * + m * s). The super-block types' sub-block scales are small integers, so
 * they multiply the integer dots of their 16 or 32 values exactly and the
 * f32 step stays one per 32-value block. */
#ifndef DSV3_NEON_Q8_H
#define DSV3_NEON_Q8_H

#include <arm_neon.h>
#include <string.h>

#include "neon.h"
#include "quants/quants_impl.h" /* dsv3_kvalues_iq4nl */
#include "wtype.h"

#define NEON_Q8_TILE 4
#define NEON_Q8_CHUNK 2048 /* a multiple of 256 */

typedef struct neon_q8act {
    int8_t q[NEON_Q8_TILE][NEON_Q8_CHUNK];
    float d[NEON_Q8_TILE][NEON_Q8_CHUNK / 32];  /* zero past the chunk's blocks */
    int32_t s[NEON_Q8_TILE][NEON_Q8_CHUNK / 32];
    int16_t s16[NEON_Q8_TILE][NEON_Q8_CHUNK / 16]; /* |sum| <= 16 * 127; read in whole super-blocks only */
} neon_q8act;

/* out[t] (t < nt) = the dot of nb32 * 32 weight values starting at block
 * data w with the activation chunk. */
typedef void (*neon_q8_kernel)(int type, const uint8_t *w, const neon_q8act *a, int nt, int nb32, float *out);

void neon_q8_kernel_base(int type, const uint8_t *w, const neon_q8act *a, int nt, int nb32, float *out);
void neon_q8_kernel_dot(int type, const uint8_t *w, const neon_q8act *a, int nt, int nb32, float *out);

#endif

#ifdef NEON_Q8_SUFFIX

#if defined(__GNUC__) || defined(__clang__)
#define Q8_INLINE static inline __attribute__((always_inline))
#else
#define Q8_INLINE static inline
#endif

/* acc + the dot of 16 int8 pairs, spread over 4 lanes (which lanes hold
 * which products differs between the two forms; their sum does not). */
Q8_INLINE int32x4_t neon_qdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    /* |a*b| <= 128*127: two products fit an int16 lane */
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_high_s8(p, a, b);
    return vpadalq_s16(acc, p);
#endif
}

/* [sum v0, sum v1, sum v2, sum v3] */
Q8_INLINE int32x4_t q8_hsum4(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3) {
    return vpaddq_s32(vpaddq_s32(v0, v1), vpaddq_s32(v2, v3));
}

/* 4 little-endian f16 values at p, p + stride, ... -> f32 */
Q8_INLINE float32x4_t q8_f16x4(const uint8_t *p, size_t stride, int n) {
    uint16_t h[4] = {0, 0, 0, 0};
    for (int k = 0; k < n; k++) memcpy(&h[k], p + (size_t)k * stride, 2);
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

/* The 32-value block types (backends/quants/q_legacy.c, iq4.c):
 *   Q8_0    d, q[32] int8 (34 bytes)        Q4_0    d, qs[16] (18)
 *   Q4_1    d, m, qs[16] (20)               Q5_0    d, qh u32, qs[16] (22)
 *   Q5_1    d, m, qh u32, qs[16] (24)       IQ4_NL  d, qs[16] (18)
 * all f16 scales first; element j < 16 is the low nibble of qs[j], element
 * j + 16 its high nibble, bit j of qh the fifth bit of element j. */

/* Q4_1 / Q5_1: value = d * q + m with unsigned q. The min cannot be folded
 * into the integer quants (m / d is no integer), so it meets the block's
 * activation sum s in f32, once per block. */
Q8_INLINE int q8_b32_has_min(int type) { return type == DSV3_W_Q4_1 || type == DSV3_W_Q5_1; }

/* The fifth bits of a Q5 block (qh, little-endian u32 at p) as 0x10 in the
 * byte of their element: elements 0-15 in *lo, 16-31 in *hi. Each qh byte
 * is broadcast to 8 lanes and tested against that lane's bit. */
Q8_INLINE void q8_q5_hbits(const uint8_t *p, uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t m = vld1q_u8(bit), b4 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(p[0]), vdup_n_u8(p[1])), m), b4);
    *hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(p[2]), vdup_n_u8(p[3])), m), b4);
}

/* The 32 quants of the block at blk as int8 (elements 0-15 in *w0, 16-31
 * in *w1): signed values for Q8_0, Q4_0 (nib - 8), Q5_0 (q - 16) and
 * IQ4_NL (its table's values, -127..113); unsigned 0..15 / 0..31 for
 * Q4_1 / Q5_1. Every product with an activation quant (|xq| <= 127) and
 * the sum of two fit an int16 lane of the ARMv8.0 form of neon_qdot. */
Q8_INLINE void q8_b32_quants(int type, const uint8_t *blk, int8x16_t *w0, int8x16_t *w1) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    switch (type) {
    case DSV3_W_Q8_0:
        *w0 = vld1q_s8((const int8_t *)(const void *)(blk + 2));
        *w1 = vld1q_s8((const int8_t *)(const void *)(blk + 18));
        return;
    case DSV3_W_Q4_1: {
        const uint8x16_t v = vld1q_u8(blk + 4);
        *w0 = vreinterpretq_s8_u8(vandq_u8(v, m4));
        *w1 = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
        return;
    }
    case DSV3_W_Q5_0:
    case DSV3_W_Q5_1: {
        const int min = type == DSV3_W_Q5_1;
        const uint8x16_t v = vld1q_u8(blk + (min ? 8 : 6));
        uint8x16_t h0, h1;
        q8_q5_hbits(blk + (min ? 4 : 2), &h0, &h1);
        *w0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, m4), h0));
        *w1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), h1));
        if (!min) {
            *w0 = vsubq_s8(*w0, vdupq_n_s8(16));
            *w1 = vsubq_s8(*w1, vdupq_n_s8(16));
        }
        return;
    }
    case DSV3_W_IQ4_NL: {
        const int8x16_t kv = vld1q_s8(dsv3_kvalues_iq4nl);
        const uint8x16_t v = vld1q_u8(blk + 2);
        *w0 = vqtbl1q_s8(kv, vandq_u8(v, m4));
        *w1 = vqtbl1q_s8(kv, vshrq_n_u8(v, 4));
        return;
    }
    default: { /* Q4_0 */
        const uint8x16_t v = vld1q_u8(blk + 2);
        *w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), vdupq_n_s8(8));
        *w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
        return;
    }
    }
}

/* One row span of a 32-value block type against NT tokens. Per 4 blocks:
 * is = their integer dots; acc += (dw * dx) * is, or for the min types
 * acc += dx * (dw * is + m * s) (m * s is exact: an f16 times |s| < 2^12,
 * so the inner FMA rounds once). Each token's operations are the same
 * whatever tokens share the tile. */
Q8_INLINE void q8_b32(int type, const uint8_t *w, const neon_q8act *a, int NT, int nb, float *out) {
    const size_t bb = dsv3_b32_bytes(type);
    const int has_min = q8_b32_has_min(type);
    float32x4_t acc[NEON_Q8_TILE];
    for (int t = 0; t < NT; t++) acc[t] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b += 4) {
        const int nk = nb - b < 4 ? nb - b : 4;
        int32x4_t part[NEON_Q8_TILE][4];
        for (int k = 0; k < 4; k++) {
            if (k >= nk) {
                for (int t = 0; t < NT; t++) part[t][k] = vdupq_n_s32(0);
                continue;
            }
            int8x16_t w0, w1;
            q8_b32_quants(type, w + (size_t)(b + k) * bb, &w0, &w1);
            for (int t = 0; t < NT; t++) {
                const int8_t *xq = a->q[t] + 32 * (b + k);
                part[t][k] = neon_qdot(neon_qdot(vdupq_n_s32(0), w0, vld1q_s8(xq)), w1, vld1q_s8(xq + 16));
            }
        }
        const float32x4_t dw = q8_f16x4(w + (size_t)b * bb, bb, nk);
        if (has_min) {
            const float32x4_t mw = q8_f16x4(w + (size_t)b * bb + 2, bb, nk); /* zero past nk */
            for (int t = 0; t < NT; t++) {
                const int32x4_t is = q8_hsum4(part[t][0], part[t][1], part[t][2], part[t][3]);
                const float32x4_t f =
                    vfmaq_f32(vmulq_f32(mw, vcvtq_f32_s32(vld1q_s32(a->s[t] + b))), dw, vcvtq_f32_s32(is));
                acc[t] = vfmaq_f32(acc[t], vld1q_f32(a->d[t] + b), f);
            }
        } else {
            for (int t = 0; t < NT; t++) {
                const int32x4_t is = q8_hsum4(part[t][0], part[t][1], part[t][2], part[t][3]);
                acc[t] = vfmaq_f32(acc[t], vmulq_f32(dw, vld1q_f32(a->d[t] + b)), vcvtq_f32_s32(is));
            }
        }
    }
    for (int t = 0; t < NT; t++) out[t] = vaddvq_f32(acc[t]);
}

/* Q4_K: d, dmin f16, scales[12], qs[128] (144 bytes); 8 groups of 32 with
 * 6-bit scale sc and min mn: v = d*sc*q - dmin*mn. Per 32-block:
 * dx * (d * (sc * sum q*xq) - dmin * (mn * sum xq)).
 * Q5_K: d, dmin, scales[12], qh[32], qs[128] (176 bytes): Q4_K's layout
 * with qh inserted, bit g of qh[l] the fifth bit of element l of group g
 * (q 0..31; the same arithmetic). */
Q8_INLINE void q8_q45k(int type, const uint8_t *w, const neon_q8act *a, int NT, int nb, float *out) {
    const int q5 = type == DSV3_W_Q5_K;
    const size_t bb = q5 ? 176 : 144;
    float32x4_t acc[NEON_Q8_TILE];
    for (int t = 0; t < NT; t++) acc[t] = vdupq_n_f32(0.0f);
    for (int sb = 0; sb < nb / 8; sb++, w += bb) {
        const float32x4_t dd = q8_f16x4(w, 2, 2); /* d, dmin */
        const float d = vgetq_lane_f32(dd, 0), dmin = vgetq_lane_f32(dd, 1);
        const uint8_t *s = w + 4, *q = w + (q5 ? 48 : 16);
        int32_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                sc[j] = s[j] & 63;
                mn[j] = s[j + 4] & 63;
            } else {
                sc[j] = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
                mn[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
            }
        }
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
        if (q5) {
            qh0 = vld1q_u8(w + 16);
            qh1 = vld1q_u8(w + 32);
        }
        for (int half = 0; half < 2; half++) {
            int32x4_t part[NEON_Q8_TILE][4];
            for (int pair = 0; pair < 2; pair++) {
                const uint8_t *qp = q + 64 * half + 32 * pair;
                const uint8x16_t v0 = vld1q_u8(qp), v1 = vld1q_u8(qp + 16);
                uint8x16_t u0 = vandq_u8(v0, vdupq_n_u8(0x0f)), u1 = vandq_u8(v1, vdupq_n_u8(0x0f));
                uint8x16_t u2 = vshrq_n_u8(v0, 4), u3 = vshrq_n_u8(v1, 4);
                const int blk = 8 * sb + 4 * half + 2 * pair; /* groups blk (low), blk + 1 (high) */
                if (q5) { /* the groups' bits of qh as 0x10 (vtst: all ones where set) */
                    const int g = 4 * half + 2 * pair;
                    const uint8x16_t b4 = vdupq_n_u8(0x10), bl = vdupq_n_u8((uint8_t)(1u << g)),
                                     bh = vdupq_n_u8((uint8_t)(2u << g));
                    u0 = vorrq_u8(u0, vandq_u8(vtstq_u8(qh0, bl), b4));
                    u1 = vorrq_u8(u1, vandq_u8(vtstq_u8(qh1, bl), b4));
                    u2 = vorrq_u8(u2, vandq_u8(vtstq_u8(qh0, bh), b4));
                    u3 = vorrq_u8(u3, vandq_u8(vtstq_u8(qh1, bh), b4));
                }
                const int8x16_t l0 = vreinterpretq_s8_u8(u0), l1 = vreinterpretq_s8_u8(u1);
                const int8x16_t h0 = vreinterpretq_s8_u8(u2), h1 = vreinterpretq_s8_u8(u3);
                for (int t = 0; t < NT; t++) {
                    const int8_t *xq = a->q[t] + 32 * blk;
                    part[t][2 * pair] =
                        neon_qdot(neon_qdot(vdupq_n_s32(0), l0, vld1q_s8(xq)), l1, vld1q_s8(xq + 16));
                    part[t][2 * pair + 1] =
                        neon_qdot(neon_qdot(vdupq_n_s32(0), h0, vld1q_s8(xq + 32)), h1, vld1q_s8(xq + 48));
                }
            }
            const int32x4_t scv = vld1q_s32(sc + 4 * half), mnv = vld1q_s32(mn + 4 * half);
            const int b0 = 8 * sb + 4 * half;
            for (int t = 0; t < NT; t++) {
                const int32x4_t is = vmulq_s32(scv, q8_hsum4(part[t][0], part[t][1], part[t][2], part[t][3]));
                const int32x4_t ms = vmulq_s32(mnv, vld1q_s32(a->s[t] + b0));
                const float32x4_t f =
                    vsubq_f32(vmulq_n_f32(vcvtq_f32_s32(is), d), vmulq_n_f32(vcvtq_f32_s32(ms), dmin));
                acc[t] = vfmaq_f32(acc[t], vld1q_f32(a->d[t] + b0), f);
            }
        }
    }
    for (int t = 0; t < NT; t++) out[t] = vaddvq_f32(acc[t]);
}

/* Q2_K: scales[16] (scale | min << 4), qs[64], d, dmin f16 (84 bytes);
 * Q3_K: hmask[32], qs[64], scales[12], d f16 (110 bytes). 16 groups of 16,
 * each half's 32 bytes of qs holding its 4 chunks of 32 values in bit pairs
 * 0-1, 2-3, 4-5, 6-7 (element l of chunk j: bits 2j, 2j+1 of byte l).
 *   Q2_K  v = d*sc*q - dmin*mn, q 0..3 (unsigned)
 *   Q3_K  v = d*sc*q, q = (2 bits) - (bit 4h+j of hmask[l] ? 0 : 4), sc the
 *         signed 6-bit scale: q -4..3 taken signed, so no offset term.
 * Per group of 16 one integer dot, times its scale in int32; per 32-block:
 *   dx * (d * (sc_a * sum_a + sc_b * sum_b)
 *         - dmin * (mn_a * s16_a + mn_b * s16_b))     (Q3_K: no dmin term). */

/* The 16 signed Q3_K scales (6 bits, stored + 32) as int8: group j's low
 * four bits are nibble j / 8 of byte j % 8, its high two the bit pair
 * j / 4 of byte 8 + j % 4. Reads the 12 scale bytes at s and no more (only
 * the block's d follows them: a 16-byte load could leave a mapped file). */
Q8_INLINE int8x16_t q8_q3k_scales(const uint8_t *s) {
    static const int8_t hsh[16] = {0, 0, 0, 0, -2, -2, -2, -2, -4, -4, -4, -4, -6, -6, -6, -6};
    uint32_t h4;
    memcpy(&h4, s + 8, 4);
    const uint8x8_t l8 = vld1_u8(s);
    const uint8x16_t lo = vcombine_u8(vand_u8(l8, vdup_n_u8(0x0f)), vshr_n_u8(l8, 4));
    /* byte j: s[8 + j % 4] >> 2 * (j / 4) (vshlq by a negative count: right) */
    const uint8x16_t hi = vandq_u8(vshlq_u8(vreinterpretq_u8_u32(vdupq_n_u32(h4)), vld1q_s8(hsh)), vdupq_n_u8(3));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))), vdupq_n_s8(32));
}

Q8_INLINE void q8_q23k(int type, const uint8_t *w, const neon_q8act *a, int NT, int nb, float *out) {
    const int q2 = type == DSV3_W_Q2_K;
    const size_t bb = q2 ? 84 : 110;
    float32x4_t acc[NEON_Q8_TILE];
    for (int t = 0; t < NT; t++) acc[t] = vdupq_n_f32(0.0f);
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    for (int sb = 0; sb < nb / 8; sb++, w += bb) {
        float d, dmin = 0.0f;
        int8x16_t sc16;
        uint8x16_t mn16 = vdupq_n_u8(0), hm0 = vdupq_n_u8(0), hm1 = vdupq_n_u8(0);
        if (q2) {
            const float32x4_t dd = q8_f16x4(w + 80, 2, 2);
            d = vgetq_lane_f32(dd, 0);
            dmin = vgetq_lane_f32(dd, 1);
            const uint8x16_t sv = vld1q_u8(w);
            sc16 = vreinterpretq_s8_u8(vandq_u8(sv, vdupq_n_u8(0x0f)));
            mn16 = vshrq_n_u8(sv, 4);
        } else {
            d = vgetq_lane_f32(q8_f16x4(w + 108, 2, 1), 0);
            sc16 = q8_q3k_scales(w + 96);
            hm0 = vld1q_u8(w);
            hm1 = vld1q_u8(w + 16);
        }
        for (int half = 0; half < 2; half++) {
            const uint8_t *qs = w + (q2 ? 16 : 32) + 32 * half;
            uint8x16_t q0 = vld1q_u8(qs), q1 = vld1q_u8(qs + 16);
            int8x16_t v[4][2];
            for (int j = 0; j < 4; j++, q0 = vshrq_n_u8(q0, 2), q1 = vshrq_n_u8(q1, 2)) {
                v[j][0] = vreinterpretq_s8_u8(vandq_u8(q0, m3));
                v[j][1] = vreinterpretq_s8_u8(vandq_u8(q1, m3));
                if (!q2) { /* minus 4 where the hmask bit is clear: 4 & ~(all ones where set) */
                    const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * half + j)));
                    v[j][0] = vsubq_s8(v[j][0], vreinterpretq_s8_u8(vbicq_u8(four, vtstq_u8(hm0, bit))));
                    v[j][1] = vsubq_s8(v[j][1], vreinterpretq_s8_u8(vbicq_u8(four, vtstq_u8(hm1, bit))));
                }
            }
            /* groups 8*half .. +3 and +4 .. +7 as int32 lanes */
            const int16x8_t sh = vmovl_s8(half ? vget_high_s8(sc16) : vget_low_s8(sc16));
            const int32x4_t sc_a = vmovl_s16(vget_low_s16(sh)), sc_b = vmovl_high_s16(sh);
            const int16x8_t mh = vreinterpretq_s16_u16(vmovl_u8(half ? vget_high_u8(mn16) : vget_low_u8(mn16)));
            const int b0 = 8 * sb + 4 * half;
            for (int t = 0; t < NT; t++) {
                int32x4_t p[8];
                for (int j = 0; j < 4; j++) {
                    const int8_t *xq = a->q[t] + 32 * (b0 + j);
                    p[2 * j] = neon_qdot(vdupq_n_s32(0), v[j][0], vld1q_s8(xq));
                    p[2 * j + 1] = neon_qdot(vdupq_n_s32(0), v[j][1], vld1q_s8(xq + 16));
                }
                /* [g0..g3] * sc, [g4..g7] * sc, pairs added: the 4 blocks */
                const int32x4_t is = vpaddq_s32(vmulq_s32(sc_a, q8_hsum4(p[0], p[1], p[2], p[3])),
                                                vmulq_s32(sc_b, q8_hsum4(p[4], p[5], p[6], p[7])));
                const float32x4_t dx = vld1q_f32(a->d[t] + b0);
                if (q2) {
                    const int16x8_t sx = vld1q_s16(a->s16[t] + 2 * b0);
                    const int32x4_t ms =
                        vpaddq_s32(vmull_s16(vget_low_s16(mh), vget_low_s16(sx)), vmull_high_s16(mh, sx));
                    const float32x4_t f =
                        vsubq_f32(vmulq_n_f32(vcvtq_f32_s32(is), d), vmulq_n_f32(vcvtq_f32_s32(ms), dmin));
                    acc[t] = vfmaq_f32(acc[t], dx, f);
                } else {
                    acc[t] = vfmaq_f32(acc[t], vmulq_n_f32(dx, d), vcvtq_f32_s32(is));
                }
            }
        }
    }
    for (int t = 0; t < NT; t++) out[t] = vaddvq_f32(acc[t]);
}

/* IQ4_XS: d f16, scales_h u16, scales_l[4], qs[128] (136 bytes); 8 groups
 * of 32 as IQ4_NL blocks sharing d, each with a signed 6-bit scale ls
 * (nibble g of scales_l | bits 2g, 2g+1 of scales_h << 4, minus 32). Per
 * 32-block: dx * d * (ls * sum kv*xq); |ls * sum| <= 32 * 32 * 127 * 127
 * < 2^24, exact in f32 too. */
Q8_INLINE void q8_iq4xs(const uint8_t *w, const neon_q8act *a, int NT, int nb, float *out) {
    float32x4_t acc[NEON_Q8_TILE];
    for (int t = 0; t < NT; t++) acc[t] = vdupq_n_f32(0.0f);
    const int8x16_t kv = vld1q_s8(dsv3_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    for (int sb = 0; sb < nb / 8; sb++, w += 136) {
        const float d = vgetq_lane_f32(q8_f16x4(w, 2, 1), 0);
        const unsigned sh = (unsigned)w[2] | ((unsigned)w[3] << 8);
        int32_t ls[8];
        for (int g = 0; g < 8; g++)
            ls[g] = (int32_t)(((w[4 + g / 2] >> (4 * (g % 2))) & 0x0F) | (((sh >> (2 * g)) & 3) << 4)) - 32;
        for (int half = 0; half < 2; half++) {
            int8x16_t v[4][2];
            for (int k = 0; k < 4; k++) {
                const uint8x16_t u = vld1q_u8(w + 8 + 16 * (4 * half + k));
                v[k][0] = vqtbl1q_s8(kv, vandq_u8(u, m4));
                v[k][1] = vqtbl1q_s8(kv, vshrq_n_u8(u, 4));
            }
            const int32x4_t lsv = vld1q_s32(ls + 4 * half);
            const int b0 = 8 * sb + 4 * half;
            for (int t = 0; t < NT; t++) {
                int32x4_t p[4];
                for (int k = 0; k < 4; k++) {
                    const int8_t *xq = a->q[t] + 32 * (b0 + k);
                    p[k] = neon_qdot(neon_qdot(vdupq_n_s32(0), v[k][0], vld1q_s8(xq)), v[k][1], vld1q_s8(xq + 16));
                }
                const int32x4_t is = vmulq_s32(lsv, q8_hsum4(p[0], p[1], p[2], p[3]));
                acc[t] = vfmaq_f32(acc[t], vmulq_n_f32(vld1q_f32(a->d[t] + b0), d), vcvtq_f32_s32(is));
            }
        }
    }
    for (int t = 0; t < NT; t++) out[t] = vaddvq_f32(acc[t]);
}

/* Q6_K: ql[128], qh[64], int8 scales[16], d f16 (210 bytes); per 128-value
 * half, quarter k holds elements 32k..32k+31 (low/high nibbles of ql, 2-bit
 * fields of qh), each quarter two groups of 16 with their own scale. Per
 * 32-block: dx * d * (sc_a * sum_a + sc_b * sum_b), q - 32 in int8. */
Q8_INLINE void q8_q6k(const uint8_t *w, const neon_q8act *a, int NT, int nb, float *out) {
    float32x4_t acc[NEON_Q8_TILE];
    for (int t = 0; t < NT; t++) acc[t] = vdupq_n_f32(0.0f);
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(3);
    const int8x16_t o32 = vdupq_n_s8(32);
    for (int sb = 0; sb < nb / 8; sb++, w += 210) {
        const float d = vgetq_lane_f32(q8_f16x4(w + 208, 2, 1), 0);
        const int8_t *scb = (const int8_t *)(const void *)(w + 192);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = w + 64 * half, *qh = w + 128 + 32 * half;
            const int8_t *sc = scb + 8 * half;
            const uint8x16_t ql0 = vld1q_u8(ql), ql1 = vld1q_u8(ql + 16), ql2 = vld1q_u8(ql + 32),
                             ql3 = vld1q_u8(ql + 48), qh0 = vld1q_u8(qh), qh1 = vld1q_u8(qh + 16);
            int8x16_t v[4][2];
            v[0][0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql0, m4), vshlq_n_u8(vandq_u8(qh0, m3), 4)));
            v[0][1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql1, m4), vshlq_n_u8(vandq_u8(qh1, m3), 4)));
            v[1][0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql2, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh0, 2), m3), 4)));
            v[1][1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql3, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh1, 2), m3), 4)));
            v[2][0] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh0, 4), m3), 4)));
            v[2][1] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh1, 4), m3), 4)));
            v[3][0] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql2, 4), vshlq_n_u8(vshrq_n_u8(qh0, 6), 4)));
            v[3][1] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql3, 4), vshlq_n_u8(vshrq_n_u8(qh1, 6), 4)));
            for (int k = 0; k < 4; k++) {
                v[k][0] = vsubq_s8(v[k][0], o32);
                v[k][1] = vsubq_s8(v[k][1], o32);
            }
            const int b0 = 8 * sb + 4 * half;
            for (int t = 0; t < NT; t++) {
                int32x4_t c[4];
                for (int k = 0; k < 4; k++) {
                    const int8_t *xq = a->q[t] + 32 * (b0 + k);
                    const int32x4_t pa = neon_qdot(vdupq_n_s32(0), v[k][0], vld1q_s8(xq));
                    const int32x4_t pb = neon_qdot(vdupq_n_s32(0), v[k][1], vld1q_s8(xq + 16));
                    c[k] = vmlaq_n_s32(vmulq_n_s32(pa, sc[2 * k]), pb, sc[2 * k + 1]);
                }
                const int32x4_t is = q8_hsum4(c[0], c[1], c[2], c[3]);
                acc[t] = vfmaq_f32(acc[t], vmulq_n_f32(vld1q_f32(a->d[t] + b0), d), vcvtq_f32_s32(is));
            }
        }
    }
    for (int t = 0; t < NT; t++) out[t] = vaddvq_f32(acc[t]);
}

#define Q8_CAT2(a, b) a##b
#define Q8_CAT(a, b) Q8_CAT2(a, b)

Q8_INLINE void q8_kernel_nt(int type, const uint8_t *w, const neon_q8act *a, int NT, int nb32, float *out) {
    switch (type) {
    case DSV3_W_Q8_0: q8_b32(DSV3_W_Q8_0, w, a, NT, nb32, out); break;
    case DSV3_W_Q4_0: q8_b32(DSV3_W_Q4_0, w, a, NT, nb32, out); break;
    case DSV3_W_Q4_1: q8_b32(DSV3_W_Q4_1, w, a, NT, nb32, out); break;
    case DSV3_W_Q5_0: q8_b32(DSV3_W_Q5_0, w, a, NT, nb32, out); break;
    case DSV3_W_Q5_1: q8_b32(DSV3_W_Q5_1, w, a, NT, nb32, out); break;
    case DSV3_W_IQ4_NL: q8_b32(DSV3_W_IQ4_NL, w, a, NT, nb32, out); break;
    case DSV3_W_Q2_K: q8_q23k(DSV3_W_Q2_K, w, a, NT, nb32, out); break;
    case DSV3_W_Q3_K: q8_q23k(DSV3_W_Q3_K, w, a, NT, nb32, out); break;
    case DSV3_W_Q4_K: q8_q45k(DSV3_W_Q4_K, w, a, NT, nb32, out); break;
    case DSV3_W_Q5_K: q8_q45k(DSV3_W_Q5_K, w, a, NT, nb32, out); break;
    case DSV3_W_Q6_K: q8_q6k(w, a, NT, nb32, out); break;
    case DSV3_W_IQ4_XS: q8_iq4xs(w, a, NT, nb32, out); break;
    default:
        for (int t = 0; t < NT; t++) out[t] = 0.0f;
        break;
    }
}

void Q8_CAT(neon_q8_kernel_, NEON_Q8_SUFFIX)(int type, const uint8_t *w, const neon_q8act *a, int nt, int nb32,
                                             float *out) {
    switch (nt) {
    case 1: q8_kernel_nt(type, w, a, 1, nb32, out); break;
    case 2: q8_kernel_nt(type, w, a, 2, nb32, out); break;
    case 3: q8_kernel_nt(type, w, a, 3, nb32, out); break;
    default: q8_kernel_nt(type, w, a, 4, nb32, out); break;
    }
}

#endif /* NEON_Q8_SUFFIX */
