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
 * The row kernels of the integer path are in q8_kernels.h (shared with
 * the avx512 backend). */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <string.h>

#include "avx2.h"
#include "quants/quants.h"
#include "q8_kernels.h"
#include "quants/quants_impl.h"
#include "simd.h"

/* ---- little helpers --------------------------------------------------- */

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

/* Q4_K / Q5_K: the 6-bit scales (sc[0..8)) and mins (mn[0..8)). */
AVX2_AI void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    const uint32_t w0 = le32(s), w1 = le32(s + 4), w2 = le32(s + 8);
    const uint32_t a = w0 & 0x3f3f3f3fu, b = w1 & 0x3f3f3f3fu;
    const uint32_t c = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
    const uint32_t e = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
    memcpy(sc, &a, 4); memcpy(sc + 4, &c, 4);
    memcpy(mn, &b, 4); memcpy(mn + 4, &e, 4);
}

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
            switch (type) { /* see avx2.h */
            case DSV3_W_Q8_0: b[i].c = -128 * sum; break;
            case DSV3_W_Q4_0: b[i].c = -8 * sum; break;
            case DSV3_W_Q5_0: b[i].c = -16 * sum; break;
            default: b[i].s = b[i].d * (float)sum; break;
            }
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

void avx2_rows_q8(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                  size_t ldy) {
    q8_rows(w, r0, r1, xq, n, y, ldy);
}

#else
typedef int dsv3_avx2_matmul_quant_unused; /* ISO C: no empty translation unit */
#endif
