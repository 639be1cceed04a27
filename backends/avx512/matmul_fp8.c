/* matmul_fp8.c -- the avx512 backend's FP8 decode kernels: avx2_rows_fp8s
 * (FP8 weights as f32 bits against tokens times 2^112, up to 6 tokens)
 * with 16-lane registers. avx2's driver runs them (avx2_rows_fp8s_with:
 * the row split, token chunks, scale rows, final sums, MXCSR); this file
 * only supplies the avx2_kern_fn microkernels.
 *
 * Same bits as avx2: there, each output keeps two sets of 8 lane sums per
 * scale block, over the block's even and its odd groups of 8 columns, and
 * adds them lane by lane at the block's end (backends/avx2/matmul_float.c).
 * A 16-lane register holds that pair: columns c..c+15 of a block, c at an
 * even group, are one load, one conversion and one FMA per token, lanes
 * 0-7 the even group's and 8-15 the odd one's. A block's last 16 columns
 * may be cut short: the columns past its end are zero-padded and the FMA
 * leaves the lanes of a group that does not exist alone, as avx2 skips it.
 *
 * Why: the ymm loop does 4 vector operations per 8 weights (load with
 * sign extension, shift, mask, FMA) and on Zen 4 those filled the vector
 * pipes at about 28 GB/s per core from cache; with zmm registers the same
 * work is half the instructions, 47-51 GB/s from cache (2-core AMD EPYC,
 * rows of 7168 FP8 weights). */
/* Only with the flags that CMake gives this directory; without them the
 * file is empty. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX2__) && \
    defined(__FMA__) && defined(__F16C__)
#include "avx2/simd.h"
#include "avx512.h"

#define PF 3072    /* software prefetch distance, bytes: FP8 decode on one thread
                      * 1.2-1.25x as fast as at 1 KiB, 1.04-1.07x as at 2 KiB */

/* 16 FP8 codes -> the f32 bits of value * 2^-120 (load_fp8x8_f32bits x 2). */
AVX2_AI __m512 fp8x16_bits(__m128i b) {
    const __m512i v = _mm512_cvtepi8_epi32(b);
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_slli_epi32(v, 20), _mm512_set1_epi32((int)0x87F00000)));
}

/* An avx2_kern_fn for FP8 rows against pre-scaled tokens: R rows, T
 * tokens, the acc[] sums avx2's rows_direct has zeroed. */
AVX2_AI void kern16(int R, int T, const avx2_kern_args *ka) {
    const long len = ka->len, bc = ka->seg;
    long si = 0;
    for (long s0 = 0; s0 < len; s0 += bc, si++) {
        const long s1 = len - s0 < bc ? len : s0 + bc;
        __m512 a[AVX2_FK_ROWS][AVX2_FK_TOKENS];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++) a[r][t] = _mm512_setzero_ps();
        long c = s0;
        for (; c + 16 <= s1; c += 16) {
            __m512 xv[AVX2_FK_TOKENS];
            for (int t = 0; t < T; t++) xv[t] = _mm512_loadu_ps(ka->x[t] + c);
            for (int r = 0; r < R; r++) {
                _mm_prefetch((const char *)ka->w[r] + c + PF, _MM_HINT_T0);
                const __m512 wv = fp8x16_bits(_mm_loadu_si128((const __m128i *)(const void *)(ka->w[r] + c)));
                for (int t = 0; t < T; t++) a[r][t] = _mm512_fmadd_ps(wv, xv[t], a[r][t]);
            }
        }
        if (c < s1) { /* 1..15 columns: the even group, maybe an odd one */
            const long m = s1 - c;
            const __mmask16 lm = (__mmask16)((1u << m) - 1), gm = m > 8 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
            __m512 xv[AVX2_FK_TOKENS];
            for (int t = 0; t < T; t++) xv[t] = _mm512_maskz_loadu_ps(lm, ka->x[t] + c);
            for (int r = 0; r < R; r++) {
                const __m512 wv = fp8x16_bits(_mm_maskz_loadu_epi8(lm, ka->w[r] + c));
                for (int t = 0; t < T; t++) a[r][t] = _mm512_mask3_fmadd_ps(wv, xv[t], a[r][t], gm);
            }
        }
        for (int r = 0; r < R; r++) {
            const __m256 s = _mm256_set1_ps(ka->sc[r][si] * 256.0f);
            for (int t = 0; t < T; t++) {
                float *p = ka->acc[r] + AVX2_FK_LANES * t;
                const __m256 even = _mm512_castps512_ps256(a[r][t]);
                const __m256 odd = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[r][t]), 1));
                _mm256_storeu_ps(p, _mm256_fmadd_ps(_mm256_add_ps(even, odd), s, _mm256_loadu_ps(p)));
            }
        }
    }
}

#define K16(R, T) \
    static void k16_##R##_##T(const avx2_kern_args *ka) { kern16(R, T, ka); }
#define K16_R(R) K16(R, 1) K16(R, 2) K16(R, 3)
K16_R(1) K16_R(2) K16_R(3) K16_R(4)
static const avx2_kern_fn k16_tab[AVX2_FK_ROWS][AVX2_FK_TOKENS] = {
    {k16_1_1, k16_1_2, k16_1_3}, {k16_2_1, k16_2_2, k16_2_3}, {k16_3_1, k16_3_2, k16_3_3}, {k16_4_1, k16_4_2, k16_4_3}};

void avx512_rows_fp8s(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *xs, int n, float *y,
                      size_t ldy) {
    avx2_rows_fp8s_with(w, r0, r1, xs, n, y, ldy, k16_tab);
}

#else
typedef int dsv3_avx512_matmul_fp8_unused; /* ISO C: no empty translation unit */
#endif
