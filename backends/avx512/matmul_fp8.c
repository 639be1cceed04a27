/* matmul_fp8.c -- the avx512 backend's FP8 decode rows: avx2_rows_fp8s
 * (FP8 weights as f32 bits against tokens times 2^112, up to 6 tokens)
 * with 16-lane registers.
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
#include <string.h>

#include "avx2/simd.h"
#include "avx512.h"

#define RMAX 4     /* rows at a time, from 4 far-apart parts of the range (as avx2) */
#define TMAX 3     /* tokens per pass over the rows                                 */
#define PF 3072    /* software prefetch distance, bytes: FP8 decode on one thread
                      * 1.2-1.25x as fast as at 1 KiB, 1.04-1.07x as at 2 KiB */

/* 16 FP8 codes -> the f32 bits of value * 2^-120 (load_fp8x8_f32bits x 2). */
AVX2_AI __m512 fp8x16_bits(__m128i b) {
    const __m512i v = _mm512_cvtepi8_epi32(b);
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_slli_epi32(v, 20), _mm512_set1_epi32((int)0x87F00000)));
}

/* y[r][t] for R rows w[r] (with their scale rows sc[r]) and T tokens x[t]. */
AVX2_AI void rows_rt(int R, int T, const uint8_t *const *w, const float *const *sc, const float *const *x, long cols,
                     long bc, float y[RMAX][TMAX]) {
    __m256 acc[RMAX][TMAX];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    long si = 0;
    for (long s0 = 0; s0 < cols; s0 += bc, si++) {
        const long s1 = cols - s0 < bc ? cols : s0 + bc;
        __m512 a[RMAX][TMAX];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++) a[r][t] = _mm512_setzero_ps();
        long c = s0;
        for (; c + 16 <= s1; c += 16) {
            __m512 xv[TMAX];
            for (int t = 0; t < T; t++) xv[t] = _mm512_loadu_ps(x[t] + c);
            for (int r = 0; r < R; r++) {
                _mm_prefetch((const char *)w[r] + c + PF, _MM_HINT_T0);
                const __m512 wv = fp8x16_bits(_mm_loadu_si128((const __m128i *)(const void *)(w[r] + c)));
                for (int t = 0; t < T; t++) a[r][t] = _mm512_fmadd_ps(wv, xv[t], a[r][t]);
            }
        }
        if (c < s1) { /* 1..15 columns: the even group, maybe an odd one */
            const long m = s1 - c;
            const __mmask16 lm = (__mmask16)((1u << m) - 1), gm = m > 8 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
            __m512 xv[TMAX];
            for (int t = 0; t < T; t++) xv[t] = _mm512_maskz_loadu_ps(lm, x[t] + c);
            for (int r = 0; r < R; r++) {
                const __m512 wv = fp8x16_bits(_mm_maskz_loadu_epi8(lm, w[r] + c));
                for (int t = 0; t < T; t++) a[r][t] = _mm512_mask3_fmadd_ps(wv, xv[t], a[r][t], gm);
            }
        }
        for (int r = 0; r < R; r++) {
            const __m256 s = _mm256_set1_ps(sc[r][si] * 256.0f);
            for (int t = 0; t < T; t++) {
                const __m256 even = _mm512_castps512_ps256(a[r][t]);
                const __m256 odd = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[r][t]), 1));
                acc[r][t] = _mm256_fmadd_ps(_mm256_add_ps(even, odd), s, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[r][t] = hsum8(acc[r][t]);
}

typedef void (*rt_fn)(const uint8_t *const *w, const float *const *sc, const float *const *x, long cols, long bc,
                      float y[RMAX][TMAX]);
#define RT(R, T)                                                                                                    \
    static void rt_##R##_##T(const uint8_t *const *w, const float *const *sc, const float *const *x, long cols,     \
                             long bc, float y[RMAX][TMAX]) {                                                        \
        rows_rt(R, T, w, sc, x, cols, bc, y);                                                                       \
    }
#define RT_R(R) RT(R, 1) RT(R, 2) RT(R, 3)
RT_R(1) RT_R(2) RT_R(3) RT_R(4)
static const rt_fn rt_tab[RMAX][TMAX] = {{rt_1_1, rt_1_2, rt_1_3}, {rt_2_1, rt_2_2, rt_2_3},
                                         {rt_3_1, rt_3_2, rt_3_3}, {rt_4_1, rt_4_2, rt_4_3}};

void avx512_rows_fp8s(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *xs, int n, float *y,
                      size_t ldy) {
    const unsigned csr = _mm_getcsr(); /* DAZ off while the subnormal bits are read (as avx2) */
    if (csr & 0x40u) _mm_setcsr(csr & ~0x40u);
    const long cols = (long)w->cols, bc = w->block_c > 0 ? (long)w->block_c : cols;
    const int64_t part = (r1 - r0 + RMAX - 1) / RMAX;
    for (int64_t i = 0; i < part; i++) {
        int64_t rr[RMAX];
        const uint8_t *wr[RMAX];
        const float *sr[RMAX];
        int nr = 0;
        for (int j = 0; j < RMAX; j++)
            if (r0 + j * part + i < r1) rr[nr++] = r0 + j * part + i;
        for (int j = 0; j < nr; j++) {
            wr[j] = (const uint8_t *)w->data + (size_t)rr[j] * w->row_stride;
            sr[j] = w->scale + (rr[j] / w->block_r) * w->scale_cols;
        }
        for (int t0 = 0; t0 < n; t0 += TMAX) {
            const int nt = n - t0 < TMAX ? n - t0 : TMAX;
            float o[RMAX][TMAX];
            rt_tab[nr - 1][nt - 1](wr, sr, xs + t0, cols, bc, o);
            for (int j = 0; j < nr; j++)
                for (int t = 0; t < nt; t++) y[(size_t)(t0 + t) * ldy + (size_t)(rr[j] - r0)] = o[j][t];
        }
    }
    if (csr & 0x40u) _mm_setcsr(csr);
}

#else
typedef int dsv3_avx512_matmul_fp8_unused; /* ISO C: no empty translation unit */
#endif
