/* simd.h -- small AVX2 helpers shared by the kernel files of the avx2
 * backend (only included by files compiled with -mavx2 -mfma -mf16c). */
#ifndef DSV3_AVX2_SIMD_H
#define DSV3_AVX2_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AVX2_AI static inline __attribute__((always_inline))

/* The f16 at p (little-endian) as f32. */
AVX2_AI float f16_at(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8))); }

AVX2_AI uint32_t le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Sum of the 8 lanes, always in the same order. */
AVX2_AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Keep v in a register: a vector that feeds two FMAs is otherwise loaded
 * twice (the compiler folds the load into each FMA), which makes a loop of
 * 8 FMAs need 10 loads and wait on the load ports. */
#define IN_REG(v) __asm__("" : "+x"(v))

/* [hsum8(v0), hsum8(v1), hsum8(v2), hsum8(v3)]: each sum with hsum8's
 * additions in hsum8's order (lane i + lane i+4, then (0+2) + (1+3)), on
 * the four vectors transposed, so the bits are hsum8's: 13 instructions
 * for four sums instead of 24. */
AVX2_AI __m128 hsum8x4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    /* [v0's 4 pair sums | v2's], [v1's | v3's] */
    const __m256 t0 = _mm256_add_ps(_mm256_permute2f128_ps(v0, v2, 0x20), _mm256_permute2f128_ps(v0, v2, 0x31));
    const __m256 t1 = _mm256_add_ps(_mm256_permute2f128_ps(v1, v3, 0x20), _mm256_permute2f128_ps(v1, v3, 0x31));
    /* (0+2), (1+3) of v0, v1 in the low half; of v2, v3 in the high half */
    const __m256 c = _mm256_add_ps(_mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m128 lo = _mm256_castps256_ps128(c), hi = _mm256_extractf128_ps(c, 1);
    return _mm_add_ps(_mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
}

AVX2_AI int32_t hsum8_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

AVX2_AI __m256 load_bf16x8(const uint8_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2_AI __m256 load_f16x8(const uint8_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

AVX2_AI __m256 load_f32x8(const uint8_t *p) { return _mm256_loadu_ps((const float *)(const void *)p); }

/* FP8 e4m3fn -> f32 through binary16: the byte s.eeee.mmm becomes the half
 * s.0eeee.mmm0000000, whose value is the fp8 value / 256 exactly, normals
 * and subnormals alike (callers fold the factor 256 into the block scale).
 * With the byte sign-extended to 16 bits, (v << 7) has s in bits 15 and 14
 * and eeeemmm in bits 13..7; clearing bit 14 leaves the half: 3 operations
 * per 8 weights before vcvtph2ps. The NaN codes S.1111.111, which e4m3fn
 * quantizers never produce (they saturate at +-448), read as +-480 (see
 * fp8_value for the scalar twin). */
AVX2_AI __m128i fp8_to_half_128(__m128i sext) {
    return _mm_and_si128(_mm_slli_epi16(sext, 7), _mm_set1_epi16((short)0xBFFF));
}

/* 8 fp8 bytes -> 8 floats (value / 256). */
AVX2_AI __m256 load_fp8x8(const uint8_t *p) {
    __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)p);
    return _mm256_cvtph_ps(fp8_to_half_128(_mm_cvtepi8_epi16(b)));
}

/* FP8 e4m3fn -> f32 bits directly: with the byte sign-extended to 32 bits,
 * (v << 20) puts s in bit 27 (and its copies above) and eeeemmm in bits
 * 26..20; keeping bits 31 and 26..20 gives the f32 s.0000eeee.mmm0..0,
 * whose value is the fp8 value * 2^-120 exactly (f32 and e4m3 subnormals
 * line up as the halves above do). That is tiny, often subnormal, so it
 * only meets activations pre-multiplied by 2^112 (avx2_fp8_prescale): the
 * product is the one the binary16 route gives, bit for bit, for 3
 * integer operations per 8 weights and no conversion instruction, which
 * shared the FMA ports with decode's dot products. Needs MXCSR.DAZ clear
 * (the kernels that use it clear it for their duration). NaN codes read
 * as +-480 * 2^-120, as above. */
AVX2_AI __m256 load_fp8x8_f32bits(const uint8_t *p) {
    const __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(v, 20), _mm256_set1_epi32((int)0x87F00000)));
}

/* The scalar twin of load_fp8x8_f32bits, built from bits (FTZ-proof). */
static inline float fp8_f32bits(uint8_t v) {
    const uint32_t u = ((uint32_t)(int32_t)(int8_t)v << 20) & 0x87F00000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The scalar twin of the vector decode: fp8 value / 256 (NaN codes: +-480/256). */
static inline float fp8_value(uint8_t v) {
    const int e = (v >> 3) & 15, m = v & 7;
    const float mag = e ? (float)(8 + m) * (float)(1 << e) * (1.0f / 262144.0f) : (float)m * (1.0f / 131072.0f);
    return v & 0x80 ? -mag : mag;
}

/* exp(x) for 8 lanes: Cody-Waite reduction by ln 2 and a degree-7
 * polynomial (Cephes' expf), within 2 ulp of expf over the normal range.
 * x > 88.72 gives +inf, x < -87.3 gives 0 (expf: denormals), NaN stays NaN. */
AVX2_AI __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.72283935546875f), lo = _mm256_set1_ps(-87.3365478515625f);
    __m256 big = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    __m256 tiny = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    /* n = round(x / ln2); r = x - n ln2 in two steps (C1 exact in 9 bits) */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n as two factors so that n = 128 (x near 88.7) does not overflow */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), big);
    y = _mm256_andnot_ps(tiny, y);
    /* NaN: the comparisons above were false and min/max returned lo/hi */
    __m256 isnan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return _mm256_blendv_ps(y, x, isnan);
}

#endif
