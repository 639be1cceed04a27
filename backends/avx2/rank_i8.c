/* rank_i8.c -- the rank_i8 op (the MTP draft head's ranking, see
 * backends/backend.h) with AVX2 integer dot products, four rows at a time.
 * The sums are the exact integers of lib/mtp_draft.c's reference loop and
 * the rows are scanned in the same order, so the row is the reference's. */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <math.h>

#include "avx2.h"
#include "simd.h"

static int32_t dot_i8(const int8_t *a, const int8_t *b, int32_t n) {
    int32_t s = 0;
    for (int32_t i = 0; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

/* sums[j] = q[j] . x for rows q[0..4) (cols apart), 32 columns per step:
 * |x| times w with x's sign (maddubs, whose pair sums stay below
 * 2 * 127^2 < 2^15), widened to int32 (madd with ones). */
static void dots4(const int8_t *q, int32_t cols, const int8_t *x, int32_t sums[4]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4];
    for (int j = 0; j < 4; j++) acc[j] = _mm256_setzero_si256();
    int32_t c = 0;
    for (; c + 32 <= cols; c += 32) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x + c));
        const __m256i ax = _mm256_sign_epi8(xv, xv);
        for (int j = 0; j < 4; j++) {
            const __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)(q + (size_t)j * (size_t)cols + c));
            const __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv, xv));
            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(p, ones));
        }
    }
    for (int j = 0; j < 4; j++)
        sums[j] = hsum8_i32(acc[j]) + dot_i8(q + (size_t)j * (size_t)cols + c, x + c, cols - c);
}

int32_t avx2_rank_i8(dsv3_backend *be, const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                     const int8_t *x) {
    (void)be;
    int32_t best = 0, r = 0;
    float best_v = -INFINITY;
    const size_t C = (size_t)cols;
    for (; r + 4 <= rows; r += 4) {
        int32_t sums[4];
        dots4(q + (size_t)r * C, cols, x, sums);
        for (int j = 0; j < 4; j++) {
            const float v = (float)sums[j] * scale[r + j];
            if (v > best_v) {
                best_v = v;
                best = r + j;
            }
        }
    }
    for (; r < rows; r++) {
        const float v = (float)dot_i8(q + (size_t)r * C, x, cols) * scale[r];
        if (v > best_v) {
            best_v = v;
            best = r;
        }
    }
    return best;
}

#else
typedef int dsv3_avx2_rank_i8_unused; /* ISO C: no empty translation unit */
#endif
