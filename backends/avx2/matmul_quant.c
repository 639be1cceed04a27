/* matmul_quant.c -- the ggml block types on AVX2.
 *
 * 1. Dequantization (avx2_dequant), bit for bit as backends/quants: the
 *    same float operations in the same order (d*sc rounded first, then
 *    q*dl - ml without fusing), vectorized for the common types; the rare
 *    i-quants call dsv3_dequantize_row.
 *
 * 2. The integer path. Each activation row is rounded once per matmul to
 *    8-bit blocks with an f32 scale (d = max|x| / 127, q = round(x / d)):
 *    32 values (and d * sum q) for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL
 *    weights, 256 (with the sums of every 16 q)
 *    for Q2_K..Q6_K and IQ4_XS. Weight quants meet them with
 *    _mm256_maddubs_epi16 (unsigned x signed bytes; signed weights go
 *    through the |w|, sign(x, w) identity), sub-block scales with
 *    _mm256_madd_epi16, and the block sums stay exact in int32 (no
 *    saturation: |q_w| <= 63 unsigned or <= 128 magnitude, |q_x| <= 127).
 *    Offsets (Q3_K's -4, Q6_K's -32) and mins (Q2_K, Q4_K, Q5_K) are
 *    applied through the activation's 16-value sums. Only the rounding of
 *    the activations differs from exact arithmetic: relative error of a dot
 *    product about 1e-3 of sum |w*x| (tests bound it by 5e-3).
 *
 * Per output: the blocks in increasing order, one FMA per block (and one
 * for its mins) into 8 float lanes (32-value blocks: two sets of lanes, even
 * and odd blocks), then hsum8: independent of the thread count and of the
 * number of tokens. Weights are decoded in registers, 32 values at a time,
 * and each decoded chunk serves a block of up to 4 tokens; rows are read
 * one at a time (one sequential stream per thread). */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <string.h>

#include "avx2.h"
#include "quants/quants.h"
#include "quants/quants_impl.h"
#include "simd.h"

/* ---- little helpers --------------------------------------------------- */

AVX2_AI float f16_at(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8))); }
AVX2_AI __m128i load128(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }
AVX2_AI __m256i load256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
AVX2_AI uint32_t le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

enum { M_MUL, M_SUB, M_ADD }; /* q*dl, q*dl - ml, q*dl + ml */

/* 16 signed bytes -> dst[0..16) = q * dl (- ml / + ml), unfused. */
AVX2_AI void emit16(__m128i q, float dl, float ml, int mode, float *dst) {
    const __m256 d = _mm256_set1_ps(dl), m = _mm256_set1_ps(ml);
    __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
    __m256 b = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))), d);
    if (mode == M_SUB) { a = _mm256_sub_ps(a, m); b = _mm256_sub_ps(b, m); }
    if (mode == M_ADD) { a = _mm256_add_ps(a, m); b = _mm256_add_ps(b, m); }
    _mm256_storeu_ps(dst, a);
    _mm256_storeu_ps(dst + 8, b);
}

AVX2_AI void emit32(__m256i q, float dl, float ml, int mode, float *dst) {
    emit16(_mm256_castsi256_si128(q), dl, ml, mode, dst);
    emit16(_mm256_extracti128_si256(q, 1), dl, ml, mode, dst + 16);
}

/* 16 bytes of nibbles -> 32 bytes: the low nibbles, then the high ones. */
AVX2_AI __m256i nibbles32(const uint8_t *p) {
    __m128i v = load128(p), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

/* Bytes whose bit `bit` is set in h -> `val`, else 0. */
AVX2_AI __m256i bit_to(__m256i h, int bit, int val) {
    const __m256i m = _mm256_set1_epi8((char)(1 << bit));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, m), m), _mm256_set1_epi8((char)val));
}

/* Q4_K / Q5_K: the 6-bit scales (sc[0..8)) and mins (mn[0..8)). */
AVX2_AI void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    const uint32_t w0 = le32(s), w1 = le32(s + 4), w2 = le32(s + 8);
    const uint32_t a = w0 & 0x3f3f3f3fu, b = w1 & 0x3f3f3f3fu;
    const uint32_t c = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
    const uint32_t e = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
    memcpy(sc, &a, 4); memcpy(sc + 4, &c, 4);
    memcpy(mn, &b, 4); memcpy(mn + 4, &e, 4);
}

/* Q3_K: the 16 signed 6-bit scales. */
AVX2_AI void k3_scales(const uint8_t *s, int8_t out[16]) {
    const uint32_t a0 = le32(s), a1 = le32(s + 4), a2 = le32(s + 8);
    uint32_t v[4] = {(a0 & 0x0f0f0f0fu) | ((a2 & 0x03030303u) << 4),
                     (a1 & 0x0f0f0f0fu) | (((a2 >> 2) & 0x03030303u) << 4),
                     ((a0 >> 4) & 0x0f0f0f0fu) | (((a2 >> 4) & 0x03030303u) << 4),
                     ((a1 >> 4) & 0x0f0f0f0fu) | (((a2 >> 6) & 0x03030303u) << 4)};
    uint8_t u[16];
    memcpy(u, v, 16);
    for (int i = 0; i < 16; i++) out[i] = (int8_t)(u[i] - 32);
}

AVX2_AI int iq4xs_ls(const uint8_t *x, int g) {
    const unsigned sh = (unsigned)(x[2] | (x[3] << 8));
    return (int)(((x[4 + g / 2] >> (4 * (g % 2))) & 0x0F) | (((sh >> (2 * g)) & 3) << 4)) - 32;
}

AVX2_AI __m128i kvalues128(void) { return _mm_loadu_si128((const __m128i *)(const void *)dsv3_kvalues_iq4nl); }

/* ---- 1. dequantization ------------------------------------------------- */

static void deq_q8_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 34, y += 32) emit32(load256(x + 2), f16_at(x), 0, M_MUL, y);
}

static void deq_q4_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 18, y += 32)
        emit32(_mm256_sub_epi8(nibbles32(x + 2), _mm256_set1_epi8(8)), f16_at(x), 0, M_MUL, y);
}

static void deq_q4_1(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 20, y += 32) emit32(nibbles32(x + 4), f16_at(x), f16_at(x + 2), M_ADD, y);
}

/* Q5_0 / Q5_1: bit j of qh is the fifth bit of element j. */
AVX2_AI __m256i q5_hbits(const uint8_t *qh) {
    const uint32_t h = le32(qh);
    /* byte j of the vector gets byte j/8 of h, then bit j%8 is tested */
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits), _mm256_set1_epi8(16));
}

static void deq_q5_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 22, y += 32) {
        __m256i q = _mm256_or_si256(nibbles32(x + 6), q5_hbits(x + 2));
        emit32(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), f16_at(x), 0, M_MUL, y);
    }
}

static void deq_q5_1(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 24, y += 32)
        emit32(_mm256_or_si256(nibbles32(x + 8), q5_hbits(x + 4)), f16_at(x), f16_at(x + 2), M_ADD, y);
}

static void deq_iq4_nl(const uint8_t *x, float *y, int64_t nb) {
    const __m256i kv = _mm256_broadcastsi128_si256(kvalues128());
    for (int64_t b = 0; b < nb; b++, x += 18, y += 32)
        emit32(_mm256_shuffle_epi8(kv, nibbles32(x + 2)), f16_at(x), 0, M_MUL, y);
}

static void deq_iq4_xs(const uint8_t *x, float *y, int64_t nb) {
    const __m256i kv = _mm256_broadcastsi128_si256(kvalues128());
    for (int64_t b = 0; b < nb; b++, x += 136) {
        const float d = f16_at(x);
        for (int g = 0; g < 8; g++, y += 32)
            emit32(_mm256_shuffle_epi8(kv, nibbles32(x + 8 + 16 * g)), d * (float)iq4xs_ls(x, g), 0, M_MUL, y);
    }
}

static void deq_q2_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 84) {
        const float d = f16_at(x + 80), dmin = f16_at(x + 82);
        for (int h = 0; h < 2; h++) {
            const __m256i q = load256(x + 16 + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), _mm256_set1_epi8(3));
                for (int p = 0; p < 2; p++, y += 16) {
                    const int sc = x[8 * h + 2 * j + p];
                    emit16(p ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v), d * (float)(sc & 0x0F),
                           dmin * (float)(sc >> 4), M_SUB, y);
                }
            }
        }
    }
}

static void deq_q3_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 110) {
        const float d = f16_at(x + 108);
        int8_t sc[16];
        k3_scales(x + 96, sc);
        const __m256i hm = load256(x);
        for (int h = 0; h < 2; h++) {
            const __m256i q = load256(x + 32 + 32 * h);
            for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), _mm256_set1_epi8(3));
                v = _mm256_sub_epi8(_mm256_or_si256(v, bit_to(hm, 4 * h + j, 4)), _mm256_set1_epi8(4));
                for (int p = 0; p < 2; p++, y += 16)
                    emit16(p ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v),
                           d * (float)sc[8 * h + 2 * j + p], 0, M_MUL, y);
            }
        }
    }
}

static void deq_q4_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 144) {
        const float d = f16_at(x), dmin = f16_at(x + 2);
        uint8_t sc[8], mn[8];
        k4_scales(x + 4, sc, mn);
        for (int j = 0; j < 4; j++, y += 64) {
            const __m256i q = load256(x + 16 + 32 * j), m = _mm256_set1_epi8(0x0F);
            emit32(_mm256_and_si256(q, m), d * (float)sc[2 * j], dmin * (float)mn[2 * j], M_SUB, y);
            emit32(_mm256_and_si256(_mm256_srli_epi16(q, 4), m), d * (float)sc[2 * j + 1], dmin * (float)mn[2 * j + 1],
                   M_SUB, y + 32);
        }
    }
}

static void deq_q5_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 176) {
        const float d = f16_at(x), dmin = f16_at(x + 2);
        uint8_t sc[8], mn[8];
        k4_scales(x + 4, sc, mn);
        const __m256i qh = load256(x + 16);
        for (int j = 0; j < 4; j++, y += 64) {
            const __m256i q = load256(x + 48 + 32 * j), m = _mm256_set1_epi8(0x0F);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m), bit_to(qh, 2 * j, 16));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m), bit_to(qh, 2 * j + 1, 16));
            emit32(lo, d * (float)sc[2 * j], dmin * (float)mn[2 * j], M_SUB, y);
            emit32(hi, d * (float)sc[2 * j + 1], dmin * (float)mn[2 * j + 1], M_SUB, y + 32);
        }
    }
}

/* Q6_K: the four 32-value chunks of each 128-value half, unsigned 0..63. */
AVX2_AI void q6_chunks(const uint8_t *ql, const uint8_t *qh, __m256i c[4]) {
    const __m256i a = load256(ql), b = load256(ql + 32), h = load256(qh);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    c[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
    c[1] = _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
    c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(h, m2));
    c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
}

static void deq_q6_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 210) {
        const float d = f16_at(x + 208);
        const int8_t *sc = (const int8_t *)(const void *)(x + 192);
        for (int h = 0; h < 2; h++) {
            __m256i c[4];
            q6_chunks(x + 64 * h, x + 128 + 32 * h, c);
            for (int k = 0; k < 4; k++) {
                const __m256i v = _mm256_sub_epi8(c[k], _mm256_set1_epi8(32));
                for (int p = 0; p < 2; p++, y += 16)
                    emit16(p ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v),
                           d * (float)sc[8 * h + 2 * k + p], 0, M_MUL, y);
            }
        }
    }
}

void avx2_dequant(int type, const uint8_t *src, float *dst, int64_t nb) {
    switch (type) {
    case DSV3_W_Q8_0: deq_q8_0(src, dst, nb); return;
    case DSV3_W_Q4_0: deq_q4_0(src, dst, nb); return;
    case DSV3_W_Q4_1: deq_q4_1(src, dst, nb); return;
    case DSV3_W_Q5_0: deq_q5_0(src, dst, nb); return;
    case DSV3_W_Q5_1: deq_q5_1(src, dst, nb); return;
    case DSV3_W_Q2_K: deq_q2_k(src, dst, nb); return;
    case DSV3_W_Q3_K: deq_q3_k(src, dst, nb); return;
    case DSV3_W_Q4_K: deq_q4_k(src, dst, nb); return;
    case DSV3_W_Q5_K: deq_q5_k(src, dst, nb); return;
    case DSV3_W_Q6_K: deq_q6_k(src, dst, nb); return;
    case DSV3_W_IQ4_NL: deq_iq4_nl(src, dst, nb); return;
    case DSV3_W_IQ4_XS: deq_iq4_xs(src, dst, nb); return;
    default: dsv3_dequantize_row(type, src, dst, nb * dsv3_wtype_block(type)); return;
    }
}

/* ---- 2. activations ----------------------------------------------------- */

typedef struct q8_32 {
    float d;
    float s; /* d * sum q: the activation sum that meets Q4_1 / Q5_1 mins */
    int8_t q[32];
} q8_32;

typedef struct q8_256 {
    float d;
    int16_t bsum[16]; /* sum of q over each 16 values */
    int8_t q[256];
} q8_256;

static int act_block(int type) {
    switch (type) {
    case DSV3_W_Q8_0:
    case DSV3_W_Q4_0:
    case DSV3_W_Q4_1:
    case DSV3_W_Q5_0:
    case DSV3_W_Q5_1:
    case DSV3_W_IQ4_NL: return 32;
    case DSV3_W_Q2_K:
    case DSV3_W_Q3_K:
    case DSV3_W_Q4_K:
    case DSV3_W_Q5_K:
    case DSV3_W_Q6_K:
    case DSV3_W_IQ4_XS: return 256;
    default: return 0;
    }
}

size_t avx2_q8_row_bytes(int type, int64_t cols) {
    const int bs = act_block(type);
    if (!bs || cols <= 0 || cols % bs) return 0;
    return (size_t)(cols / bs) * (bs == 32 ? sizeof(q8_32) : sizeof(q8_256));
}

/* 32 values -> q (32 bytes), returns d; *sum = sum of q. */
AVX2_AI float quant32(const float *x, int8_t *q, int *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    const float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], idv)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], idv));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], idv)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], idv));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    p = _mm256_max_epi8(p, _mm256_set1_epi8(-127)); /* NaN inputs give -128 */
    _mm256_storeu_si256((__m256i *)(void *)q, p);
    *sum = hsum8_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1)));
    return d;
}

void avx2_q8_quantize(int type, const float *x, int64_t cols, void *dst) {
    const int bs = act_block(type);
    if (bs == 32) {
        q8_32 *b = dst;
        for (int64_t i = 0; i < cols / 32; i++) {
            int sum;
            b[i].d = quant32(x + 32 * i, b[i].q, &sum);
            b[i].s = b[i].d * (float)sum;
        }
        return;
    }
    q8_256 *b = dst;
    for (int64_t i = 0; i < cols / 256; i++) {
        const float *xb = x + 256 * i;
        float amax = 0.0f;
        _Alignas(32) float t[8];
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_loadu_ps(xb + j)));
        _mm256_store_ps(t, m);
        for (int j = 0; j < 8; j++) amax = t[j] > amax ? t[j] : amax;
        const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        const __m256 idv = _mm256_set1_ps(id);
        for (int j = 0; j < 256; j += 32) {
            __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j), idv));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8), idv));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 16), idv));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 24), idv));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            p = _mm256_max_epi8(p, _mm256_set1_epi8(-127));
            _mm256_storeu_si256((__m256i *)(void *)(b[i].q + j), p);
        }
        b[i].d = amax / 127.0f;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += b[i].q[16 * g + j];
            b[i].bsum[g] = (int16_t)s;
        }
    }
}

void avx2_q8_residual(int type, const float *x, int64_t cols, const void *xq, float *r) {
    const int bs = act_block(type);
    for (int64_t i = 0; i < cols / bs; i++) {
        const float d = bs == 32 ? ((const q8_32 *)xq)[i].d : ((const q8_256 *)xq)[i].d;
        const int8_t *q = bs == 32 ? ((const q8_32 *)xq)[i].q : ((const q8_256 *)xq)[i].q;
        for (int j = 0; j < bs; j++) r[i * bs + j] = x[i * bs + j] - d * (float)q[j];
    }
}

/* ---- 3. integer dots: 32-value blocks ---------------------------------- */

#define TB 4 /* tokens per register block */

/* maddubs(|w|, sign(x, w)) summed to 8 int32 lanes: sum w*x exactly. */
AVX2_AI __m256i dot_i8(__m256i w, __m256i x) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Q4_1 / Q5_1: unsigned quants and a min, value = d * q + m. */
AVX2_AI int b32_has_min(int type) { return type == DSV3_W_Q4_1 || type == DSV3_W_Q5_1; }

AVX2_AI size_t b32_bytes(int type) {
    switch (type) {
    case DSV3_W_Q8_0: return 34;
    case DSV3_W_Q4_1: return 20;
    case DSV3_W_Q5_0: return 22;
    case DSV3_W_Q5_1: return 24;
    default: return 18; /* Q4_0, IQ4_NL */
    }
}

/* The 32 quants of a block: signed, or unsigned 0..31 for the min types. */
AVX2_AI __m256i b32_weights(int type, const uint8_t *blk) {
    switch (type) {
    case DSV3_W_Q8_0: return load256(blk + 2);
    case DSV3_W_Q4_1: return nibbles32(blk + 4);
    case DSV3_W_Q5_0: return _mm256_sub_epi8(_mm256_or_si256(nibbles32(blk + 6), q5_hbits(blk + 2)), _mm256_set1_epi8(16));
    case DSV3_W_Q5_1: return _mm256_or_si256(nibbles32(blk + 8), q5_hbits(blk + 4));
    case DSV3_W_IQ4_NL: return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(kvalues128()), nibbles32(blk + 2));
    default: return _mm256_sub_epi8(nibbles32(blk + 2), _mm256_set1_epi8(8)); /* Q4_0 */
    }
}

/* sum w*x of one block in 8 int32 lanes. */
AVX2_AI __m256i b32_dot(int type, __m256i w, const q8_32 *x) {
    const __m256i xv = load256((const uint8_t *)x->q);
    if (b32_has_min(type)) return _mm256_madd_epi16(_mm256_maddubs_epi16(w, xv), _mm256_set1_epi16(1));
    return dot_i8(w, xv);
}

/* Per output: blocks alternate between two lane accumulators (even and odd
 * block index: two FMA chains), then hsum8(even + odd); the min types add
 * m * (d_x * sum q_x) of every block, in order, into one float. One row
 * against tokens [0, nt), nt a constant in each instance. */
AVX2_AI void row_b32(int type, const uint8_t *row, int64_t nb, const void *const *xq, int nt, float *y, size_t ldy) {
    const size_t bb = b32_bytes(type);
    const int has_min = b32_has_min(type);
    __m256 ae[TB], ao[TB];
    float mins[TB];
    for (int t = 0; t < TB; t++) {
        ae[t] = ao[t] = _mm256_setzero_ps();
        mins[t] = 0.0f;
    }
    const uint8_t *blk = row;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, blk += 2 * bb) {
        const __m256i w0 = b32_weights(type, blk), w1 = b32_weights(type, blk + bb);
        const float d0 = f16_at(blk), d1 = f16_at(blk + bb);
        const float m0 = has_min ? f16_at(blk + 2) : 0.0f, m1 = has_min ? f16_at(blk + bb + 2) : 0.0f;
        for (int t = 0; t < nt; t++) {
            const q8_32 *x = (const q8_32 *)xq[t] + b;
            ae[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(b32_dot(type, w0, x)), _mm256_set1_ps(d0 * x[0].d), ae[t]);
            ao[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(b32_dot(type, w1, x + 1)), _mm256_set1_ps(d1 * x[1].d), ao[t]);
            if (has_min) mins[t] += m0 * x[0].s + m1 * x[1].s;
        }
    }
    if (b < nb) {
        const __m256i w0 = b32_weights(type, blk);
        const float d0 = f16_at(blk), m0 = has_min ? f16_at(blk + 2) : 0.0f;
        for (int t = 0; t < nt; t++) {
            const q8_32 *x = (const q8_32 *)xq[t] + b;
            ae[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(b32_dot(type, w0, x)), _mm256_set1_ps(d0 * x->d), ae[t]);
            if (has_min) mins[t] += m0 * x->s;
        }
    }
    for (int t = 0; t < nt; t++) y[(size_t)t * ldy] = hsum8(_mm256_add_ps(ae[t], ao[t])) + mins[t];
}

AVX2_AI void rows_b32(int type, const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                      size_t ldy) {
    const int64_t nb = w->cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
        float *yr = y + (size_t)(r - r0);
        for (int t0 = 0; t0 < n; t0 += TB) {
            const void *const *x = xq + t0;
            float *yt = yr + (size_t)t0 * ldy;
            switch (n - t0 < TB ? n - t0 : TB) {
            case 1: row_b32(type, row, nb, x, 1, yt, ldy); break;
            case 2: row_b32(type, row, nb, x, 2, yt, ldy); break;
            case 3: row_b32(type, row, nb, x, 3, yt, ldy); break;
            default: row_b32(type, row, nb, x, 4, yt, ldy); break;
            }
        }
    }
}

/* ---- 4. integer dots: 256-value super-blocks ----------------------------- */

/* A super-block is value i = d * s16[i/16] * q[i] - dm * m16[i/16] per unit
 * of activation, q unsigned (IQ4_XS: signed). Chunk k (values 32k..32k+31)
 * is decoded in registers when it is used, for a block of up to TB tokens;
 * the sums of q*x per 16 values, times s16, stay exact in int32. */
/* Per-32 scales (8 bytes) -> the 16 per-16 int16 scales. */
AVX2_AI __m256i dup8_u8(const uint8_t v[8]) {
    __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)v);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(b, b));
}

typedef struct sb_scales {
    __m256i s16, m16; /* per-16 scales and min multipliers */
    float d, dm;
} sb_scales;

AVX2_AI sb_scales sb_header(int type, const uint8_t *x) {
    sb_scales h;
    switch (type) {
    case DSV3_W_Q2_K: {
        const __m128i sv = load128(x);
        h.s16 = _mm256_cvtepu8_epi16(_mm_and_si128(sv, _mm_set1_epi8(0x0F)));
        h.m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sv, 4), _mm_set1_epi8(0x0F)));
        h.d = f16_at(x + 80);
        h.dm = f16_at(x + 82);
        break;
    }
    case DSV3_W_Q3_K: {
        int8_t sc[16];
        k3_scales(x + 96, sc);
        h.s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)sc));
        h.m16 = _mm256_slli_epi16(h.s16, 2); /* offset 4 */
        h.d = h.dm = f16_at(x + 108);
        break;
    }
    case DSV3_W_Q4_K:
    case DSV3_W_Q5_K: {
        uint8_t sc[8], mn[8];
        k4_scales(x + 4, sc, mn);
        h.s16 = dup8_u8(sc);
        h.m16 = dup8_u8(mn);
        h.d = f16_at(x);
        h.dm = f16_at(x + 2);
        break;
    }
    case DSV3_W_Q6_K:
        h.s16 = _mm256_cvtepi8_epi16(load128(x + 192));
        h.m16 = _mm256_slli_epi16(h.s16, 5); /* offset 32 */
        h.d = h.dm = f16_at(x + 208);
        break;
    default: { /* IQ4_XS */
        _Alignas(16) int16_t s8[8];
        for (int g = 0; g < 8; g++) s8[g] = (int16_t)iq4xs_ls(x, g);
        const __m128i s = _mm_load_si128((const __m128i *)(void *)s8);
        h.s16 = _mm256_set_m128i(_mm_unpackhi_epi16(s, s), _mm_unpacklo_epi16(s, s));
        h.m16 = _mm256_setzero_si256();
        h.d = f16_at(x);
        h.dm = 0.0f;
        break;
    }
    }
    return h;
}

/* The quants of chunk k (0..7) of super-block x. */
AVX2_AI __m256i sb_chunk(int type, const uint8_t *x, int k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const int h = k / 4, j = k % 4;
    switch (type) {
    case DSV3_W_Q2_K: return _mm256_and_si256(_mm256_srli_epi16(load256(x + 16 + 32 * h), 2 * j), m2);
    case DSV3_W_Q3_K:
        return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(load256(x + 32 + 32 * h), 2 * j), m2),
                               bit_to(load256(x), 4 * h + j, 4));
    case DSV3_W_Q4_K: {
        const __m256i q = load256(x + 16 + 32 * (k / 2));
        return _mm256_and_si256(k & 1 ? _mm256_srli_epi16(q, 4) : q, m4);
    }
    case DSV3_W_Q5_K: {
        const __m256i q = load256(x + 48 + 32 * (k / 2));
        return _mm256_or_si256(_mm256_and_si256(k & 1 ? _mm256_srli_epi16(q, 4) : q, m4), bit_to(load256(x + 16), k, 16));
    }
    case DSV3_W_Q6_K: {
        const __m256i a = load256(x + 64 * h), b = load256(x + 64 * h + 32), hb = load256(x + 128 + 32 * h);
        const __m256i m3 = _mm256_set1_epi8(0x30);
        switch (j) {
        case 0: return _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m3));
        case 1: return _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m3));
        case 2: return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(hb, m3));
        default: return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m3));
        }
    }
    default: /* IQ4_XS */
        return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(kvalues128()), nibbles32(x + 8 + 16 * k));
    }
}

/* Chunk k's scale vector: s16[2k] in the low 8 int16 lanes, s16[2k+1] high. */
AVX2_AI __m256i sb_scale_vec(__m256i s16, int k) {
    const __m256i half = _mm256_broadcastsi128_si256(k < 4 ? _mm256_castsi256_si128(s16) : _mm256_extracti128_si256(s16, 1));
    const int b = 4 * (k % 4);
    const __m256i m = _mm256_setr_epi8((char)b, (char)(b + 1), (char)b, (char)(b + 1), (char)b, (char)(b + 1), (char)b,
                                       (char)(b + 1), (char)b, (char)(b + 1), (char)b, (char)(b + 1), (char)b, (char)(b + 1),
                                       (char)b, (char)(b + 1), (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3),
                                       (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3),
                                       (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3));
    return _mm256_shuffle_epi8(half, m);
}

/* Chunk k of super-block b against up to TB tokens: s[t] += sum s16 * q * x. */
AVX2_AI void sb_step(int type, const uint8_t *blk, const sb_scales *h, int k, const void *const *xq, int64_t b, int nt,
                     __m256i *s) {
    const int is_signed = type == DSV3_W_IQ4_XS;
    const __m256i wq = sb_chunk(type, blk, k), sc = sb_scale_vec(h->s16, k);
    const __m256i aw = is_signed ? _mm256_abs_epi8(wq) : wq;
    for (int t = 0; t < nt; t++) {
        const __m256i xv = load256((const uint8_t *)((const q8_256 *)xq[t] + b)->q + 32 * k);
        const __m256i p = _mm256_maddubs_epi16(aw, is_signed ? _mm256_sign_epi8(xv, wq) : xv);
        s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(p, sc));
    }
}

/* One row against tokens [0, nt) (nt a constant in each instance). */
AVX2_AI void row_b256(int type, const uint8_t *row, int64_t nb, const void *const *xq, int nt, float *y, size_t ldy) {
    const size_t bb = dsv3_wtype_block_bytes(type);
    const int has_min = type != DSV3_W_IQ4_XS;
    __m256 acc[TB];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    const uint8_t *blk = row;
    for (int64_t b = 0; b < nb; b++, blk += bb) {
        const sb_scales h = sb_header(type, blk);
        __m256i s[TB];
        for (int t = 0; t < TB; t++) s[t] = _mm256_setzero_si256();
        /* the 8 chunks written out: k must be a constant in each */
        sb_step(type, blk, &h, 0, xq, b, nt, s);
        sb_step(type, blk, &h, 1, xq, b, nt, s);
        sb_step(type, blk, &h, 2, xq, b, nt, s);
        sb_step(type, blk, &h, 3, xq, b, nt, s);
        sb_step(type, blk, &h, 4, xq, b, nt, s);
        sb_step(type, blk, &h, 5, xq, b, nt, s);
        sb_step(type, blk, &h, 6, xq, b, nt, s);
        sb_step(type, blk, &h, 7, xq, b, nt, s);
        for (int t = 0; t < nt; t++) {
            const q8_256 *xb = (const q8_256 *)xq[t] + b;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_set1_ps(h.d * xb->d), acc[t]);
            if (has_min) {
                const __m256i m = _mm256_madd_epi16(h.m16, load256((const uint8_t *)xb->bsum));
                acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(h.dm * xb->d), acc[t]);
            }
        }
    }
    for (int t = 0; t < nt; t++) y[(size_t)t * ldy] = hsum8(acc[t]);
}

AVX2_AI void rows_b256(int type, const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                       size_t ldy) {
    const int64_t nb = w->cols / 256;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
        float *yr = y + (size_t)(r - r0);
        for (int t0 = 0; t0 < n; t0 += TB) {
            const void *const *x = xq + t0;
            float *yt = yr + (size_t)t0 * ldy;
            switch (n - t0 < TB ? n - t0 : TB) {
            case 1: row_b256(type, row, nb, x, 1, yt, ldy); break;
            case 2: row_b256(type, row, nb, x, 2, yt, ldy); break;
            case 3: row_b256(type, row, nb, x, 3, yt, ldy); break;
            default: row_b256(type, row, nb, x, 4, yt, ldy); break;
            }
        }
    }
}

#define ROWS_FN(NAME, FN, TYPE)                                                                                       \
    static void NAME(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,           \
                     size_t ldy) {                                                                                    \
        FN(TYPE, w, r0, r1, xq, n, y, ldy);                                                                           \
    }
ROWS_FN(rows_q8_0, rows_b32, DSV3_W_Q8_0)
ROWS_FN(rows_q4_0, rows_b32, DSV3_W_Q4_0)
ROWS_FN(rows_q4_1, rows_b32, DSV3_W_Q4_1)
ROWS_FN(rows_q5_0, rows_b32, DSV3_W_Q5_0)
ROWS_FN(rows_q5_1, rows_b32, DSV3_W_Q5_1)
ROWS_FN(rows_iq4_nl, rows_b32, DSV3_W_IQ4_NL)
ROWS_FN(rows_q2_k, rows_b256, DSV3_W_Q2_K)
ROWS_FN(rows_q3_k, rows_b256, DSV3_W_Q3_K)
ROWS_FN(rows_q4_k, rows_b256, DSV3_W_Q4_K)
ROWS_FN(rows_q5_k, rows_b256, DSV3_W_Q5_K)
ROWS_FN(rows_q6_k, rows_b256, DSV3_W_Q6_K)
ROWS_FN(rows_iq4_xs, rows_b256, DSV3_W_IQ4_XS)

void avx2_rows_q8(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                  size_t ldy) {
    for (int t0 = 0; t0 < n; t0 += DSV3_MAX_UBATCH) {
        const int nt = n - t0 < DSV3_MAX_UBATCH ? n - t0 : DSV3_MAX_UBATCH;
        const void *const *x = xq + t0;
        float *yt = y + (size_t)t0 * ldy;
        switch (w->type) {
        case DSV3_W_Q8_0: rows_q8_0(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q4_0: rows_q4_0(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q4_1: rows_q4_1(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q5_0: rows_q5_0(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q5_1: rows_q5_1(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_IQ4_NL: rows_iq4_nl(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q2_K: rows_q2_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q3_K: rows_q3_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q4_K: rows_q4_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q5_K: rows_q5_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q6_K: rows_q6_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_IQ4_XS: rows_iq4_xs(w, r0, r1, x, nt, yt, ldy); break;
        default: break;
        }
    }
}

#else
typedef int dsv3_avx2_matmul_quant_unused; /* ISO C: no empty translation unit */
#endif
