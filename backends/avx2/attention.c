/* attention.c -- multi-head latent attention in the absorbed form (see
 * backends/scalar/attention.c for the algebra), vectorized over the latent
 * and rope dimensions. (token, head) pairs are split over the threads in
 * contiguous ranges; each pair is computed by one thread, with an
 * arithmetic that depends only on its own inputs and position. */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <math.h>
#include <string.h>

#include "avx2.h"
#include "simd.h"

/* sum_i a[i] * b[i]: 8 lane sums, hsum8, then the tail in order. */
AVX2_AI float dot_f32(const float *a, const float *b, int len) {
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= len; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
    float r = hsum8(s);
    for (; i < len; i++) r += a[i] * b[i];
    return r;
}

/* The same dot for 4 rows at once (identical arithmetic per row). */
AVX2_AI void dot4_f32(const float *a, const float *b0, const float *b1, const float *b2, const float *b3, int len,
                      float out[4]) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 8 <= len; i += 8) {
        const __m256 av = _mm256_loadu_ps(a + i);
        s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b0 + i), s0);
        s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b1 + i), s1);
        s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b2 + i), s2);
        s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b3 + i), s3);
    }
    float r0 = hsum8(s0), r1 = hsum8(s1), r2 = hsum8(s2), r3 = hsum8(s3);
    for (int j = i; j < len; j++) r0 += a[j] * b0[j];
    for (int j = i; j < len; j++) r1 += a[j] * b1[j];
    for (int j = i; j < len; j++) r2 += a[j] * b2[j];
    for (int j = i; j < len; j++) r3 += a[j] * b3[j];
    out[0] = r0; out[1] = r1; out[2] = r2; out[3] = r3;
}

/* o[i] += sum_p w[p] * rows[p][i], p in increasing order for every i. */
static void axpy_rows(const float *rows, size_t ld, const float *w, int n_rows, float *o, int len) {
    int p = 0;
    for (; p + 4 <= n_rows; p += 4) {
        const float *c0 = rows + (size_t)p * ld, *c1 = c0 + ld, *c2 = c1 + ld, *c3 = c2 + ld;
        const __m256 w0 = _mm256_set1_ps(w[p]), w1 = _mm256_set1_ps(w[p + 1]), w2 = _mm256_set1_ps(w[p + 2]),
                     w3 = _mm256_set1_ps(w[p + 3]);
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            __m256 v = _mm256_loadu_ps(o + i);
            v = _mm256_fmadd_ps(_mm256_loadu_ps(c0 + i), w0, v);
            v = _mm256_fmadd_ps(_mm256_loadu_ps(c1 + i), w1, v);
            v = _mm256_fmadd_ps(_mm256_loadu_ps(c2 + i), w2, v);
            v = _mm256_fmadd_ps(_mm256_loadu_ps(c3 + i), w3, v);
            _mm256_storeu_ps(o + i, v);
        }
        for (; i < len; i++) o[i] = fmaf(c3[i], w[p + 3], fmaf(c2[i], w[p + 2], fmaf(c1[i], w[p + 1], fmaf(c0[i], w[p], o[i]))));
    }
    for (; p < n_rows; p++) {
        const float *c0 = rows + (size_t)p * ld;
        const __m256 w0 = _mm256_set1_ps(w[p]);
        int i = 0;
        for (; i + 8 <= len; i += 8) _mm256_storeu_ps(o + i, _mm256_fmadd_ps(_mm256_loadu_ps(c0 + i), w0, _mm256_loadu_ps(o + i)));
        for (; i < len; i++) o[i] = fmaf(c0[i], w[p], o[i]);
    }
}

typedef struct mla_job {
    const dsv3_mla_args *a;
} mla_job;

static void mla_part(void *ctx, int ith, int nth) {
    const dsv3_mla_args *a = ((const mla_job *)ctx)->a;
    const int qd = a->dn + a->dr, hd = a->dn + a->dv, kvl = a->kvl, dr = a->dr;
    float *q_lat = a->scratch + (size_t)ith * dsv3_mla_scratch_floats(a->pos0 + a->n_tok, kvl);
    float *o_lat = q_lat + kvl;  /* [kvl]   */
    float *score = o_lat + kvl;  /* [n_pos] */
    long i0, i1;
    dsv3_split((long)a->n_tok * a->n_heads, ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        const int t = (int)(it / a->n_heads), h = (int)(it % a->n_heads);
        const int n_pos = a->pos0 + t + 1;
        const float *q = a->q + ((size_t)t * a->n_heads + h) * qd, *q_pe = q + a->dn;

        /* the query in latent space */
        if (a->wk_b) {
            avx2_rows_f32(a->wk_b, (int64_t)h * kvl, (int64_t)(h + 1) * kvl, &q, 1, q_lat, 0);
        } else {
            memset(q_lat, 0, sizeof(float) * (size_t)kvl);
            avx2_rows_axpy(a->wkv_b, (int64_t)h * hd, a->dn, q, q_lat);
        }

        /* scores */
        int p = 0;
        for (; p + 4 <= n_pos; p += 4) {
            const float *c = a->kv + (size_t)p * kvl, *k = a->pe + (size_t)p * dr;
            float s[4], r[4];
            dot4_f32(q_lat, c, c + kvl, c + 2 * kvl, c + 3 * kvl, kvl, s);
            dot4_f32(q_pe, k, k + dr, k + 2 * dr, k + 3 * dr, dr, r);
            for (int j = 0; j < 4; j++) score[p + j] = (s[j] + r[j]) * a->scale;
        }
        for (; p < n_pos; p++)
            score[p] = (dot_f32(q_lat, a->kv + (size_t)p * kvl, kvl) + dot_f32(q_pe, a->pe + (size_t)p * dr, dr)) * a->scale;

        /* softmax: max, exp, sum in 8 lanes, then the weights */
        float mx = -INFINITY;
        for (p = 0; p < n_pos; p++) mx = score[p] > mx ? score[p] : mx;
        const __m256 mv = _mm256_set1_ps(mx);
        __m256 sv = _mm256_setzero_ps();
        for (p = 0; p + 8 <= n_pos; p += 8) {
            const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(score + p), mv));
            _mm256_storeu_ps(score + p, e);
            sv = _mm256_add_ps(sv, e);
        }
        if (p < n_pos) {
            _Alignas(32) float tail[8];
            for (int j = 0; j < 8; j++) tail[j] = p + j < n_pos ? score[p + j] : -INFINITY;
            const __m256 e = exp8(_mm256_sub_ps(_mm256_load_ps(tail), mv));
            _mm256_store_ps(tail, e);
            sv = _mm256_add_ps(sv, e);
            for (int j = 0; p + j < n_pos; j++) score[p + j] = tail[j];
        }
        const __m256 sum = _mm256_set1_ps(hsum8(sv));
        for (p = 0; p + 8 <= n_pos; p += 8) _mm256_storeu_ps(score + p, _mm256_div_ps(_mm256_loadu_ps(score + p), sum));
        for (; p < n_pos; p++) score[p] /= _mm256_cvtss_f32(sum);

        /* the attended latent, then the value up-projection */
        memset(o_lat, 0, sizeof(float) * (size_t)kvl);
        axpy_rows(a->kv, (size_t)kvl, score, n_pos, o_lat, kvl);
        float *o = a->out + ((size_t)t * a->n_heads + h) * a->dv;
        const float *ol = o_lat;
        if (a->wk_b) avx2_rows_f32(a->wv_b, (int64_t)h * a->dv, (int64_t)(h + 1) * a->dv, &ol, 1, o, 0);
        else avx2_rows_f32(a->wkv_b, (int64_t)h * hd + a->dn, (int64_t)h * hd + a->dn + a->dv, &ol, 1, o, 0);
    }
}

void avx2_mla_attention(dsv3_backend *be, const dsv3_mla_args *a) {
    mla_job j = {a};
    dsv3_pool_run(avx2_pool(be), mla_part, &j);
}

#else
typedef int dsv3_avx2_attention_unused; /* ISO C: no empty translation unit */
#endif
