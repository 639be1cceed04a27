/* attention.c -- multi-head latent attention in the absorbed form (see
 * backends/scalar/attention.c for the algebra), vectorized over the latent
 * and rope dimensions. (token, head) pairs are split over the threads in
 * contiguous ranges; each pair is computed by one thread, with an
 * arithmetic that depends only on its own inputs and position. A thread
 * attends its pairs in groups that read the cache together (mla_range).
 * The latent cache may be F32, F16 or Q8_0 (kv_type), decoded in
 * registers. */
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
    _Alignas(16) float r[4];
    _mm_store_ps(r, hsum8x4(s0, s1, s2, s3));
    float r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
    for (int j = i; j < len; j++) r0 += a[j] * b0[j];
    for (int j = i; j < len; j++) r1 += a[j] * b1[j];
    for (int j = i; j < len; j++) r2 += a[j] * b2[j];
    for (int j = i; j < len; j++) r3 += a[j] * b3[j];
    out[0] = r0; out[1] = r1; out[2] = r2; out[3] = r3;
}

/* ---- reading the latent cache (kv_type F32, F16 or Q8_0) ----------------
 * A cache row is decoded in registers, 8 values at a time (Q8_0: a whole
 * block of 32 per scale load): F16 through vcvtph2ps, Q8_0 as int8 -> int32
 * -> f32 times the block's f16 scale (one multiply, as dsv3_dequantize_row). The decoded values are exactly
 * the dequantized ones and every dot/axpy below keeps the f32 cache's
 * order of operations, so a quantized cache gives, bit for bit, the result
 * of an f32 cache holding its dequantized values. Each function is inlined
 * with a constant type (mla_part dispatches once per call). */

/* The f16 scale of the Q8_0 block at b (34 bytes: d, 32 int8). */
AVX2_AI float q8_scale(const uint8_t *b) {
    uint16_t h;
    memcpy(&h, b, 2);
    return _cvtsh_ss(h);
}

/* Values i .. i+7 of a cache row (i % 8 == 0). */
AVX2_AI __m256 kv_load8(int type, const uint8_t *row, int i) {
    if (type == DSV3_W_F16) return load_f16x8(row + 2 * (size_t)i);
    if (type == DSV3_W_Q8_0) {
        const uint8_t *b = row + (size_t)(i / 32) * 34;
        const __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + i % 32));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(q8_scale(b)));
    }
    return load_f32x8(row + 4 * (size_t)i);
}

/* The 32 values of the Q8_0 block at b, one scale load per block (the Q8_0
 * paths below step by whole blocks: kvl % 32 == 0). */
AVX2_AI void q8_block(const uint8_t *b, __m256 v[4]) {
    const __m256 d = _mm256_set1_ps(q8_scale(b));
    const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(b + 2)),
                  hi = _mm_loadu_si128((const __m128i *)(const void *)(b + 18));
    v[0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d);
    v[1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d);
    v[2] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d);
    v[3] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d);
}

/* Value i of a cache row. */
AVX2_AI float kv_load1(int type, const uint8_t *row, int i) {
    if (type == DSV3_W_F16) {
        uint16_t h;
        memcpy(&h, row + 2 * (size_t)i, 2);
        return _cvtsh_ss(h);
    }
    if (type == DSV3_W_Q8_0) {
        const uint8_t *b = row + (size_t)(i / 32) * 34;
        return (float)(int8_t)b[2 + i % 32] * q8_scale(b);
    }
    float f;
    memcpy(&f, row + 4 * (size_t)i, 4);
    return f;
}

/* dot_f32 of a with a cache row. */
AVX2_AI float dot_kv(int type, const float *a, const uint8_t *b, int len) {
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    if (type == DSV3_W_Q8_0)
        for (; i + 32 <= len; i += 32) {
            __m256 v[4];
            q8_block(b + (size_t)(i / 32) * 34, v);
            for (int j = 0; j < 4; j++) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * j), v[j], s);
        }
    for (; i + 8 <= len; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(type, b, i), s);
    float r = hsum8(s);
    for (; i < len; i++) r += a[i] * kv_load1(type, b, i);
    return r;
}

/* dot4_f32 of a with 4 cache rows. */
AVX2_AI void dot4_kv(int type, const float *a, const uint8_t *b0, const uint8_t *b1, const uint8_t *b2,
                     const uint8_t *b3, int len, float out[4]) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    if (type == DSV3_W_Q8_0)
        for (; i + 32 <= len; i += 32) {
            const size_t o = (size_t)(i / 32) * 34;
            __m256 v0[4], v1[4], v2[4], v3[4];
            q8_block(b0 + o, v0);
            q8_block(b1 + o, v1);
            q8_block(b2 + o, v2);
            q8_block(b3 + o, v3);
            for (int j = 0; j < 4; j++) {
                const __m256 av = _mm256_loadu_ps(a + i + 8 * j);
                s0 = _mm256_fmadd_ps(av, v0[j], s0);
                s1 = _mm256_fmadd_ps(av, v1[j], s1);
                s2 = _mm256_fmadd_ps(av, v2[j], s2);
                s3 = _mm256_fmadd_ps(av, v3[j], s3);
            }
        }
    for (; i + 8 <= len; i += 8) {
        const __m256 av = _mm256_loadu_ps(a + i);
        s0 = _mm256_fmadd_ps(av, kv_load8(type, b0, i), s0);
        s1 = _mm256_fmadd_ps(av, kv_load8(type, b1, i), s1);
        s2 = _mm256_fmadd_ps(av, kv_load8(type, b2, i), s2);
        s3 = _mm256_fmadd_ps(av, kv_load8(type, b3, i), s3);
    }
    _Alignas(16) float r[4];
    _mm_store_ps(r, hsum8x4(s0, s1, s2, s3));
    float r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
    for (int j = i; j < len; j++) r0 += a[j] * kv_load1(type, b0, j);
    for (int j = i; j < len; j++) r1 += a[j] * kv_load1(type, b1, j);
    for (int j = i; j < len; j++) r2 += a[j] * kv_load1(type, b2, j);
    for (int j = i; j < len; j++) r3 += a[j] * kv_load1(type, b3, j);
    out[0] = r0; out[1] = r1; out[2] = r2; out[3] = r3;
}

/* o[i] += sum_p w[p] * rows[p][i], p in increasing order for every i; rows
 * are cache rows ld bytes apart. */
AVX2_AI void axpy_rows(int type, const uint8_t *rows, size_t ld, const float *w, int n_rows, float *o, int len) {
    int p = 0;
    for (; p + 4 <= n_rows; p += 4) {
        const uint8_t *c0 = rows + (size_t)p * ld, *c1 = c0 + ld, *c2 = c1 + ld, *c3 = c2 + ld;
        const __m256 w0 = _mm256_set1_ps(w[p]), w1 = _mm256_set1_ps(w[p + 1]), w2 = _mm256_set1_ps(w[p + 2]),
                     w3 = _mm256_set1_ps(w[p + 3]);
        int i = 0;
        if (type == DSV3_W_Q8_0)
            for (; i + 32 <= len; i += 32) {
                const size_t ob = (size_t)(i / 32) * 34;
                __m256 v0[4], v1[4], v2[4], v3[4];
                q8_block(c0 + ob, v0);
                q8_block(c1 + ob, v1);
                q8_block(c2 + ob, v2);
                q8_block(c3 + ob, v3);
                for (int j = 0; j < 4; j++) {
                    __m256 v = _mm256_loadu_ps(o + i + 8 * j);
                    v = _mm256_fmadd_ps(v0[j], w0, v);
                    v = _mm256_fmadd_ps(v1[j], w1, v);
                    v = _mm256_fmadd_ps(v2[j], w2, v);
                    v = _mm256_fmadd_ps(v3[j], w3, v);
                    _mm256_storeu_ps(o + i + 8 * j, v);
                }
            }
        for (; i + 8 <= len; i += 8) {
            __m256 v = _mm256_loadu_ps(o + i);
            v = _mm256_fmadd_ps(kv_load8(type, c0, i), w0, v);
            v = _mm256_fmadd_ps(kv_load8(type, c1, i), w1, v);
            v = _mm256_fmadd_ps(kv_load8(type, c2, i), w2, v);
            v = _mm256_fmadd_ps(kv_load8(type, c3, i), w3, v);
            _mm256_storeu_ps(o + i, v);
        }
        for (; i < len; i++)
            o[i] = fmaf(kv_load1(type, c3, i), w[p + 3],
                        fmaf(kv_load1(type, c2, i), w[p + 2],
                             fmaf(kv_load1(type, c1, i), w[p + 1], fmaf(kv_load1(type, c0, i), w[p], o[i]))));
    }
    for (; p < n_rows; p++) {
        const uint8_t *c0 = rows + (size_t)p * ld;
        const __m256 w0 = _mm256_set1_ps(w[p]);
        int i = 0;
        if (type == DSV3_W_Q8_0)
            for (; i + 32 <= len; i += 32) {
                __m256 v0[4];
                q8_block(c0 + (size_t)(i / 32) * 34, v0);
                for (int j = 0; j < 4; j++)
                    _mm256_storeu_ps(o + i + 8 * j, _mm256_fmadd_ps(v0[j], w0, _mm256_loadu_ps(o + i + 8 * j)));
            }
        for (; i + 8 <= len; i += 8) _mm256_storeu_ps(o + i, _mm256_fmadd_ps(kv_load8(type, c0, i), w0, _mm256_loadu_ps(o + i)));
        for (; i < len; i++) o[i] = fmaf(kv_load1(type, c0, i), w[p], o[i]);
    }
}

/* Rows per pass of the register-held axpys below: each pass over the
 * columns of these rows finds them in L1 (16 rows of a 512-wide f32 latent
 * are 33 KiB), however long the cache. */
#define AXPY_ROWS 16

/* axpy_rows with the output held in registers, 64 columns at a time
 * (len % 64 == 0): the same FMA for every element and row, p increasing.
 * axpy_rows stores and reloads o after every 4 rows, which ties each 8
 * columns to a chain of FMAs and store forwarding; here each register
 * takes one FMA per row. */
AVX2_AI void axpy_rows_reg(int type, const uint8_t *rows, size_t ld, const float *w, int n_rows, float *o, int len) {
    const int step = len > 64 ? AXPY_ROWS : n_rows;
    for (int p0 = 0; p0 < n_rows; p0 += step) {
        const int p1 = n_rows - p0 < step ? n_rows : p0 + step;
        for (int c0 = 0; c0 < len; c0 += 64) {
            __m256 acc[8];
            for (int j = 0; j < 8; j++) acc[j] = _mm256_loadu_ps(o + c0 + 8 * j);
            const uint8_t *r = rows + (size_t)p0 * ld;
            for (int p = p0; p < p1; p++, r += ld) {
                const __m256 wv = _mm256_set1_ps(w[p]);
                if (type == DSV3_W_Q8_0) {
                    __m256 v[4];
                    q8_block(r + (size_t)(c0 / 32) * 34, v);
                    for (int j = 0; j < 4; j++) acc[j] = _mm256_fmadd_ps(v[j], wv, acc[j]);
                    q8_block(r + (size_t)(c0 / 32 + 1) * 34, v);
                    for (int j = 0; j < 4; j++) acc[4 + j] = _mm256_fmadd_ps(v[j], wv, acc[4 + j]);
                } else {
                    for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(kv_load8(type, r, c0 + 8 * j), wv, acc[j]);
                }
            }
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(o + c0 + 8 * j, acc[j]);
        }
    }
}

/* Rows [r0, r1) of a k_b / v_b up-projection against one f32 vector. With
 * an integer path for the type: x rounded to 8-bit blocks, then the
 * rounding error rounded the same way, and both rows run as two tokens of
 * one matmul (each weight block decoded once): about 16-bit precision at
 * little more than the cost of one. Else (or for unusually long rows) f32. */
#define ATTN_MAX 1024 /* longest row and most rows (kv_lora_rank, heads' dims) */
static void attn_rows(avx2_rows_q8_fn q8, const dsv3_weight *w, int64_t r0, int64_t r1, const float *x, float *y) {
    const size_t qb = avx2_q8_row_bytes(w->type, w->cols);
    if (qb && w->cols <= ATTN_MAX && r1 - r0 <= ATTN_MAX) {
        _Alignas(64) uint8_t buf[2 * (ATTN_MAX / 32) * 40];
        _Alignas(32) float res[ATTN_MAX], yy[2 * ATTN_MAX];
        const size_t nr = (size_t)(r1 - r0);
        avx2_q8_quantize(w->type, x, w->cols, buf);
        avx2_q8_residual(w->type, x, w->cols, buf, res);
        avx2_q8_quantize(w->type, res, w->cols, buf + qb);
        const void *xq[2] = {buf, buf + qb};
        q8(w, r0, r1, xq, 2, yy, nr);
        for (size_t i = 0; i < nr; i++) y[i] = yy[i] + yy[nr + i];
        return;
    }
    avx2_rows_f32(w, r0, r1, &x, 1, y, 0);
}

/* dot4_kv for two queries a and b against the same 4 cache rows: each row
 * vector is decoded once and serves both (8 independent sums), and each
 * output gets dot4_kv's arithmetic exactly. */
AVX2_AI void dot2x4_kv(int type, const float *a, const float *b, const uint8_t *const c[4], int len, float oa[4],
                       float ob[4]) {
    __m256 sa[4], sb[4];
    for (int j = 0; j < 4; j++) sa[j] = sb[j] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= len; i += 8) {
        const __m256 av = _mm256_loadu_ps(a + i), bv = _mm256_loadu_ps(b + i);
        for (int j = 0; j < 4; j++) {
            __m256 r = kv_load8(type, c[j], i);
            IN_REG(r);
            sa[j] = _mm256_fmadd_ps(av, r, sa[j]);
            sb[j] = _mm256_fmadd_ps(bv, r, sb[j]);
        }
    }
    _Alignas(16) float ha[4], hb[4];
    _mm_store_ps(ha, hsum8x4(sa[0], sa[1], sa[2], sa[3]));
    _mm_store_ps(hb, hsum8x4(sb[0], sb[1], sb[2], sb[3]));
    for (int j = 0; j < 4; j++) {
        float ra = ha[j], rb = hb[j];
        for (int k = i; k < len; k++) ra += a[k] * kv_load1(type, c[j], k);
        for (int k = i; k < len; k++) rb += b[k] * kv_load1(type, c[j], k);
        oa[j] = ra;
        ob[j] = rb;
    }
}

/* axpy_rows for two weight vectors over the same rows: oa += wa . rows and
 * ob += wb . rows, each in axpy_rows' order (p increasing per element),
 * every row vector decoded once for both. */
AVX2_AI void axpy2_rows(int type, const uint8_t *rows, size_t ld, const float *wa, const float *wb, int n_rows, float *oa,
                        float *ob, int len) {
    int p = 0;
    for (; p + 4 <= n_rows; p += 4) {
        const uint8_t *c[4] = {rows + (size_t)p * ld, rows + (size_t)(p + 1) * ld, rows + (size_t)(p + 2) * ld,
                               rows + (size_t)(p + 3) * ld};
        __m256 va[4], vb[4];
        for (int j = 0; j < 4; j++) {
            va[j] = _mm256_set1_ps(wa[p + j]);
            vb[j] = _mm256_set1_ps(wb[p + j]);
        }
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            __m256 xa = _mm256_loadu_ps(oa + i), xb = _mm256_loadu_ps(ob + i);
            for (int j = 0; j < 4; j++) {
                __m256 r = kv_load8(type, c[j], i);
                IN_REG(r);
                xa = _mm256_fmadd_ps(r, va[j], xa);
                xb = _mm256_fmadd_ps(r, vb[j], xb);
            }
            _mm256_storeu_ps(oa + i, xa);
            _mm256_storeu_ps(ob + i, xb);
        }
        for (; i < len; i++) {
            float xa = oa[i], xb = ob[i];
            for (int j = 0; j < 4; j++) {
                const float r = kv_load1(type, c[j], i);
                xa = fmaf(r, wa[p + j], xa);
                xb = fmaf(r, wb[p + j], xb);
            }
            oa[i] = xa;
            ob[i] = xb;
        }
    }
    if (p < n_rows) { /* the last rows one at a time, as axpy_rows does */
        axpy_rows(type, rows + (size_t)p * ld, ld, wa + p, n_rows - p, oa, len);
        axpy_rows(type, rows + (size_t)p * ld, ld, wb + p, n_rows - p, ob, len);
    }
}

/* The lane sums of dot_kv of a with 8 rows c[j] = b + j * ld (cache rows,
 * or f32 rows with type DSV3_W_F32), len % 8 == 0: each row gets dot_kv's
 * FMAs in its order, and 8 independent chains keep both FMA units busy (4
 * chains leave half of them waiting on the FMA latency). */
AVX2_AI void dot8_lanes(int type, const float *a, const uint8_t *b, size_t ld, int len, __m256 s[8]) {
    for (int j = 0; j < 8; j++) s[j] = _mm256_setzero_ps();
    for (int i = 0; i < len; i += 8) {
        const __m256 av = _mm256_loadu_ps(a + i);
        for (int j = 0; j < 8; j++)
            s[j] = _mm256_fmadd_ps(av, kv_load8(type, b + (size_t)j * ld, i), s[j]);
    }
}

/* axpy2_rows with both outputs in registers, 32 columns at a time (len %
 * 32 == 0), as axpy_rows_reg does for one. */
AVX2_AI void axpy2_rows_reg(int type, const uint8_t *rows, size_t ld, const float *wa, const float *wb, int n_rows,
                            float *oa, float *ob, int len) {
    const int step = len > 32 ? AXPY_ROWS : n_rows;
    for (int p0 = 0; p0 < n_rows; p0 += step) {
        const int p1 = n_rows - p0 < step ? n_rows : p0 + step;
        for (int c0 = 0; c0 < len; c0 += 32) {
            __m256 xa[4], xb[4];
            for (int j = 0; j < 4; j++) {
                xa[j] = _mm256_loadu_ps(oa + c0 + 8 * j);
                xb[j] = _mm256_loadu_ps(ob + c0 + 8 * j);
            }
            const uint8_t *r = rows + (size_t)p0 * ld;
            for (int p = p0; p < p1; p++, r += ld) {
                const __m256 va = _mm256_set1_ps(wa[p]), vb = _mm256_set1_ps(wb[p]);
                __m256 v[4];
                if (type == DSV3_W_Q8_0) {
                    q8_block(r + (size_t)(c0 / 32) * 34, v);
                } else {
                    for (int j = 0; j < 4; j++) {
                        v[j] = kv_load8(type, r, c0 + 8 * j);
                        IN_REG(v[j]);
                    }
                }
                for (int j = 0; j < 4; j++) {
                    xa[j] = _mm256_fmadd_ps(v[j], va, xa[j]);
                    xb[j] = _mm256_fmadd_ps(v[j], vb, xb[j]);
                }
            }
            for (int j = 0; j < 4; j++) {
                _mm256_storeu_ps(oa + c0 + 8 * j, xa[j]);
                _mm256_storeu_ps(ob + c0 + 8 * j, xb[j]);
            }
        }
    }
}

/* The scores of one query for positions [p0, n_pos): latent dot plus rope
 * dot, times the softmax scale. Eight positions at a time where the
 * lengths allow (the sums are those of the 4-at-a-time path). */
AVX2_AI void scores_one(const dsv3_mla_args *a, int type, size_t ld, const float *q_lat, const float *q_pe, int p0,
                        int n_pos, float *score) {
    const uint8_t *kv = (const uint8_t *)(const void *)a->kv;
    const int kvl = a->kvl, dr = a->dr;
    int p = p0;
    if (!(kvl & 7) && !(dr & 7)) {
        const __m256 sc = _mm256_set1_ps(a->scale);
        for (; p + 8 <= n_pos; p += 8) {
            __m256 s[8], r[8];
            dot8_lanes(type, q_lat, kv + (size_t)p * ld, ld, kvl, s);
            dot8_lanes(DSV3_W_F32, q_pe, (const uint8_t *)(const void *)(a->pe + (size_t)p * dr), sizeof(float) * (size_t)dr, dr, r);
            const __m256 sv = _mm256_set_m128(hsum8x4(s[4], s[5], s[6], s[7]), hsum8x4(s[0], s[1], s[2], s[3]));
            const __m256 rv = _mm256_set_m128(hsum8x4(r[4], r[5], r[6], r[7]), hsum8x4(r[0], r[1], r[2], r[3]));
            _mm256_storeu_ps(score + p, _mm256_mul_ps(_mm256_add_ps(sv, rv), sc));
        }
    }
    for (; p + 4 <= n_pos; p += 4) {
        const uint8_t *c = kv + (size_t)p * ld;
        const float *k = a->pe + (size_t)p * dr;
        float s[4], r[4];
        dot4_kv(type, q_lat, c, c + ld, c + 2 * ld, c + 3 * ld, kvl, s);
        dot4_f32(q_pe, k, k + dr, k + 2 * dr, k + 3 * dr, dr, r);
        for (int j = 0; j < 4; j++) score[p + j] = (s[j] + r[j]) * a->scale;
    }
    for (; p < n_pos; p++)
        score[p] = (dot_kv(type, q_lat, kv + (size_t)p * ld, kvl) + dot_f32(q_pe, a->pe + (size_t)p * dr, dr)) * a->scale;
}

/* The scores of two queries for positions [p0, n_pos) in groups of 4 (the
 * rest, fewer than 4, are left to scores_one). Returns where it stopped. */
AVX2_AI int scores_two(const dsv3_mla_args *a, int type, size_t ld, const float *qa, const float *pa, const float *qb,
                       const float *pb, int p0, int n_pos, float *sa, float *sb) {
    const uint8_t *kv = (const uint8_t *)(const void *)a->kv;
    const int kvl = a->kvl, dr = a->dr;
    int p = p0;
    for (; p + 4 <= n_pos; p += 4) {
        const uint8_t *c[4] = {kv + (size_t)p * ld, kv + (size_t)(p + 1) * ld, kv + (size_t)(p + 2) * ld,
                               kv + (size_t)(p + 3) * ld};
        const float *k = a->pe + (size_t)p * dr;
        float s0[4], s1[4], r0[4], r1[4];
        dot2x4_kv(type, qa, qb, c, kvl, s0, s1);
        dot4_f32(pa, k, k + dr, k + 2 * dr, k + 3 * dr, dr, r0);
        dot4_f32(pb, k, k + dr, k + 2 * dr, k + 3 * dr, dr, r1);
        for (int j = 0; j < 4; j++) {
            sa[p + j] = (s0[j] + r0[j]) * a->scale;
            sb[p + j] = (s1[j] + r1[j]) * a->scale;
        }
    }
    return p;
}

/* score[0, n_pos) <- softmax: max, exp, sum in 8 lanes, then the weights. */
AVX2_AI void softmax_scores(float *score, int n_pos) {
    /* the largest score, NaNs skipped (maxps keeps its second operand
     * when one is NaN); a max is exact in any order (a +0/-0 tie gives the
     * same exponentials) */
    __m256 m8 = _mm256_set1_ps(-INFINITY);
    int p;
    for (p = 0; p + 8 <= n_pos; p += 8) m8 = _mm256_max_ps(_mm256_loadu_ps(score + p), m8);
    _Alignas(32) float ml[8];
    _mm256_store_ps(ml, m8);
    float mx = -INFINITY;
    for (int j = 0; j < 8; j++) mx = ml[j] > mx ? ml[j] : mx;
    for (; p < n_pos; p++) mx = score[p] > mx ? score[p] : mx;
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
}

/* Queries attended together. In MLA every head of a token reads the same
 * latent cache, so a group (consecutive (head, token) pairs: a decode
 * step's heads, or a prompt's tokens of one head) passes over the cache
 * together, MLA_CHUNK positions at a time, and two queries share each
 * decoded row vector: the cache is read about twice per group instead of
 * twice per query (a 4096-position V2-Lite-shaped cache is 9 MiB a layer,
 * read 16 times over by one-query-at-a-time attention). */
#define MLA_GROUP 8
#define MLA_CHUNK 128 /* positions whose rows stay in L2 while the group reads them */

/* Where one query of a group keeps its vectors: the latent query and
 * attended value (kvl each), then n_ctx scores. */
typedef struct mla_slot {
    float *q_lat, *o_lat, *score;
} mla_slot;

typedef struct mla_job {
    const dsv3_mla_args *a;
    avx2_rows_q8_fn q8;
    float *group;      /* MLA_GROUP slots per thread, or NULL: one at a time */
    size_t slot_floats; /* floats of one slot                                */
} mla_job;

static inline int imin(int x, int y) { return x < y ? x : y; }

/* The attended latents of two queries over positions [p0, p1), both in
 * registers where the width allows; returns p1. */
AVX2_AI int values_two(const dsv3_mla_args *a, int type, size_t ld, const mla_slot *sa, const mla_slot *sb, int p0, int p1) {
    const uint8_t *rows = (const uint8_t *)(const void *)a->kv + (size_t)p0 * ld;
    if (a->kvl % 32) axpy2_rows(type, rows, ld, sa->score + p0, sb->score + p0, p1 - p0, sa->o_lat, sb->o_lat, a->kvl);
    else axpy2_rows_reg(type, rows, ld, sa->score + p0, sb->score + p0, p1 - p0, sa->o_lat, sb->o_lat, a->kvl);
    return p1;
}

/* The attended latent of one query over positions [p0, p1). */
AVX2_AI void values_one(const dsv3_mla_args *a, int type, size_t ld, const mla_slot *s, int p0, int p1) {
    const uint8_t *rows = (const uint8_t *)(const void *)a->kv + (size_t)p0 * ld;
    if (a->kvl % 64) axpy_rows(type, rows, ld, s->score + p0, p1 - p0, s->o_lat, a->kvl);
    else axpy_rows_reg(type, rows, ld, s->score + p0, p1 - p0, s->o_lat, a->kvl);
}

/* One pass of a group of ng queries over the cache, MLA_CHUNK positions at
 * a time: each pair of queries (j even, j + 1) over the positions both
 * see, then each query's own rest. values = 0: the scores; 1: the
 * attended latents (after the softmax). Every position of a query is
 * visited once, in increasing order. */
AVX2_AI void group_pass(const dsv3_mla_args *a, int type, size_t ld, const mla_slot *slots, const float *const *qpe,
                        const int *npos, int ng, int maxpos, int values) {
    for (int c0 = 0; c0 < maxpos; c0 += MLA_CHUNK) {
        const int c1 = c0 + MLA_CHUNK;
        for (int j = 0; j < ng; j += 2) {
            int two = c0; /* where the pair stopped */
            if (j + 1 < ng) {
                const int sh = imin(imin(npos[j], npos[j + 1]), c1);
                if (sh > c0)
                    two = values ? values_two(a, type, ld, &slots[j], &slots[j + 1], c0, sh)
                                 : scores_two(a, type, ld, slots[j].q_lat, qpe[j], slots[j + 1].q_lat, qpe[j + 1], c0,
                                              sh, slots[j].score, slots[j + 1].score);
            }
            for (int k = j; k < j + 2 && k < ng; k++) {
                const int e = imin(npos[k], c1);
                if (e <= two) continue;
                if (values) values_one(a, type, ld, &slots[k], two, e);
                else scores_one(a, type, ld, slots[k].q_lat, qpe[k], two, e, slots[k].score);
            }
        }
    }
}

/* Pairs [i0, i1) of the head-major order (pair i: head i / n_tok, token
 * i % n_tok), attended as groups of up to g (g = 1: one at a time in the
 * scratch a->scratch gives this thread). Every pair's output is computed
 * with the same arithmetic whatever the grouping, the chunking, the split
 * over threads or the batch: each score is one function of its query and
 * cache row, and each attended value sums its rows in increasing position
 * order. The cache is read as `type` (a constant after inlining). */
AVX2_AI void mla_range(const dsv3_mla_args *a, avx2_rows_q8_fn q8, int type, const mla_slot *slots, int g, long i0,
                       long i1) {
    const int qd = a->dn + a->dr, hd = a->dn + a->dv, kvl = a->kvl;
    const size_t ld = type == DSV3_W_F32 ? sizeof(float) * (size_t)kvl : a->kv_row_bytes;
    for (long it = i0; it < i1;) {
        const int ng = (int)(i1 - it < g ? i1 - it : g);
        const float *qpe[MLA_GROUP];
        int npos[MLA_GROUP], tok[MLA_GROUP], head[MLA_GROUP], maxpos = 0;
        /* the queries in latent space */
        for (int j = 0; j < ng; j++) {
            const int h = (int)((it + j) / a->n_tok), t = (int)((it + j) % a->n_tok);
            const float *q = a->q + ((size_t)t * a->n_heads + h) * qd;
            head[j] = h;
            tok[j] = t;
            qpe[j] = q + a->dn;
            npos[j] = a->pos0 + t + 1;
            if (npos[j] > maxpos) maxpos = npos[j];
            if (a->wk_b) {
                attn_rows(q8, a->wk_b, (int64_t)h * kvl, (int64_t)(h + 1) * kvl, q, slots[j].q_lat);
            } else {
                memset(slots[j].q_lat, 0, sizeof(float) * (size_t)kvl);
                avx2_rows_axpy(a->wkv_b, (int64_t)h * hd, a->dn, q, slots[j].q_lat);
            }
        }
        group_pass(a, type, ld, slots, qpe, npos, ng, maxpos, 0);
        for (int j = 0; j < ng; j++) {
            softmax_scores(slots[j].score, npos[j]);
            memset(slots[j].o_lat, 0, sizeof(float) * (size_t)kvl);
        }
        group_pass(a, type, ld, slots, qpe, npos, ng, maxpos, 1);
        /* the value up-projections */
        for (int j = 0; j < ng; j++) {
            float *o = a->out + ((size_t)tok[j] * a->n_heads + head[j]) * a->dv;
            const float *ol = slots[j].o_lat;
            const int h = head[j];
            if (a->wk_b) attn_rows(q8, a->wv_b, (int64_t)h * a->dv, (int64_t)(h + 1) * a->dv, ol, o);
            else avx2_rows_f32(a->wkv_b, (int64_t)h * hd + a->dn, (int64_t)h * hd + a->dn + a->dv, &ol, 1, o, 0);
        }
        it += ng;
    }
}

static void mla_part(void *ctx, int ith, int nth) {
    const mla_job *j = ctx;
    const dsv3_mla_args *a = j->a;
    mla_slot slots[MLA_GROUP];
    int g = 1;
    if (j->group) {
        float *base = j->group + (size_t)ith * MLA_GROUP * j->slot_floats;
        for (int k = 0; k < MLA_GROUP; k++) {
            float *b = base + (size_t)k * j->slot_floats;
            slots[k] = (mla_slot){b, b + a->kvl, b + 2 * (size_t)a->kvl};
        }
        g = MLA_GROUP;
    } else { /* the layout dsv3_mla_scratch_floats describes */
        float *q_lat = a->scratch + (size_t)ith * dsv3_mla_scratch_floats(a->pos0 + a->n_tok, a->kvl);
        slots[0] = (mla_slot){q_lat, q_lat + a->kvl, q_lat + 3 * (size_t)a->kvl};
    }
    long i0, i1;
    dsv3_split((long)a->n_tok * a->n_heads, ith, nth, &i0, &i1);
    switch (a->kv_type) {
    case DSV3_W_F16: mla_range(a, j->q8, DSV3_W_F16, slots, g, i0, i1); break;
    case DSV3_W_Q8_0: mla_range(a, j->q8, DSV3_W_Q8_0, slots, g, i0, i1); break;
    default: mla_range(a, j->q8, DSV3_W_F32, slots, g, i0, i1); break;
    }
}

void avx2_mla_attention(dsv3_backend *be, const dsv3_mla_args *a) {
    mla_job j = {a, avx2_q8_kernel(be), NULL, 0};
    dsv3_pool *pool = avx2_pool(be);
    /* Group slots from the backend's reusable scratch; without them
     * (out of memory), one pair at a time in a->scratch. */
    const size_t n_pos = (size_t)a->pos0 + (size_t)a->n_tok;
    j.slot_floats = (2 * (size_t)a->kvl + n_pos + 15) & ~(size_t)15; /* 64-byte slots */
    j.group = avx2_scratch_get(be, sizeof(float) * j.slot_floats * MLA_GROUP * (size_t)dsv3_pool_size(pool));
    dsv3_pool_run(pool, mla_part, &j);
    avx2_scratch_put(be, j.group);
}

#else
typedef int dsv3_avx2_attention_unused; /* ISO C: no empty translation unit */
#endif
