/* elementwise.c -- RMSNorm, RoPE, SwiGLU, add and embedding rows on AVX2.
 * These ops are small next to the matmuls; they run on the calling thread. */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <math.h>
#include <string.h>

#include "avx2.h"
#include "simd.h"
#include "wtype.h"

/* Gains of a norm weight as f32, for columns [c0, c0 + len): c0 a multiple
 * of 256, len <= 256. */
static void gains(const dsv3_weight *g, int c0, int len, float *dst) {
    const uint8_t *p = (const uint8_t *)g->data;
    int c = 0;
    switch (g->type) {
    case DSV3_W_F32: memcpy(dst, p + 4 * (size_t)c0, sizeof(float) * (size_t)len); return;
    case DSV3_W_BF16:
        for (; c + 8 <= len; c += 8) _mm256_storeu_ps(dst + c, load_bf16x8(p + 2 * (size_t)(c0 + c)));
        for (; c < len; c++) dst[c] = dsv3_bf16_to_f32((uint16_t)(p[2 * (c0 + c)] | (p[2 * (c0 + c) + 1] << 8)));
        return;
    case DSV3_W_F16:
        for (; c + 8 <= len; c += 8) _mm256_storeu_ps(dst + c, load_f16x8(p + 2 * (size_t)(c0 + c)));
        for (; c < len; c++) dst[c] = dsv3_f16_to_f32((uint16_t)(p[2 * (c0 + c)] | (p[2 * (c0 + c) + 1] << 8)));
        return;
    default: break;
    }
    /* A block-type vector (never seen in real checkpoints): its blocks, bit
     * for bit; like the scalar backend, other types give 0. */
    memset(dst, 0, sizeof(float) * (size_t)len);
    const int bs = dsv3_wtype_block(g->type);
    if (g->type < DSV3_W_Q8_0 || bs <= 0 || c0 % bs) return;
    int64_t nb = (len + bs - 1) / bs, have = (g->cols - c0) / bs;
    if (nb > have) nb = have;
    if (nb > 0) avx2_dequant(g->type, p + (size_t)(c0 / bs) * dsv3_wtype_block_bytes(g->type), dst, nb);
}

void avx2_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n, int dim,
                  float eps) {
    (void)be;
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * ldx;
        float *yr = y + (size_t)t * ldy;
        __m256 ss = _mm256_setzero_ps();
        int i = 0;
        for (; i + 8 <= dim; i += 8) {
            const __m256 v = _mm256_loadu_ps(xr + i);
            ss = _mm256_fmadd_ps(v, v, ss);
        }
        float s = hsum8(ss);
        for (; i < dim; i++) s += xr[i] * xr[i];
        const float inv = 1.0f / sqrtf(s / (float)dim + eps);
        const __m256 iv = _mm256_set1_ps(inv);
        for (int c0 = 0; c0 < dim; c0 += 256) {
            const int len = dim - c0 < 256 ? dim - c0 : 256;
            float gb[256];
            gains(g, c0, len, gb);
            int c = 0;
            for (; c + 8 <= len; c += 8)
                _mm256_storeu_ps(yr + c0 + c,
                                 _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + c0 + c), iv), _mm256_loadu_ps(gb + c)));
            for (; c < len; c++) yr[c0 + c] = xr[c0 + c] * inv * gb[c];
        }
    }
}

void avx2_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y) {
    (void)be;
    for (int t = 0; t < n; t++) avx2_row_f32(table, ids[t], y + (size_t)t * (size_t)table->cols);
}

/* (a, b) -> (a c - b s, a s + b c) on adjacent pairs: fmaddsub(v, cc, swap(v) * ss). */
void avx2_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
               const float *cos_t, const float *sin_t) {
    (void)be;
    const int half = dr / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * ld + (size_t)h * head_stride + offset;
            int i = 0;
            for (; i + 4 <= half; i += 4) {
                const __m128 c4 = _mm_loadu_ps(c + i), s4 = _mm_loadu_ps(s + i);
                const __m256 cc = _mm256_set_m128(_mm_unpackhi_ps(c4, c4), _mm_unpacklo_ps(c4, c4));
                const __m256 sd = _mm256_set_m128(_mm_unpackhi_ps(s4, s4), _mm_unpacklo_ps(s4, s4));
                const __m256 a = _mm256_loadu_ps(v + 2 * i);
                const __m256 sw = _mm256_permute_ps(a, 0xB1); /* b0 a0 b1 a1 ... */
                _mm256_storeu_ps(v + 2 * i, _mm256_fmaddsub_ps(a, cc, _mm256_mul_ps(sw, sd)));
            }
            for (; i < half; i++) {
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c[i] - b * s[i];
                v[2 * i + 1] = a * s[i] + b * c[i];
            }
        }
    }
}

void avx2_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count) {
    (void)be;
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 gv = _mm256_loadu_ps(g + i);
        const __m256 e = exp8(_mm256_xor_ps(gv, sign));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(gv, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    if (i < count) {
        _Alignas(32) float gp[8] = {0}, up[8] = {0}, op[8];
        memcpy(gp, g + i, sizeof(float) * (count - i));
        memcpy(up, u + i, sizeof(float) * (count - i));
        const __m256 gv = _mm256_load_ps(gp);
        const __m256 e = exp8(_mm256_xor_ps(gv, sign));
        _mm256_store_ps(op, _mm256_mul_ps(_mm256_div_ps(gv, _mm256_add_ps(one, e)), _mm256_load_ps(up)));
        memcpy(out + i, op, sizeof(float) * (count - i));
    }
}

void avx2_add(dsv3_backend *be, float *y, const float *x, size_t count) {
    (void)be;
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < count; i++) y[i] += x[i];
}

#else
typedef int dsv3_avx2_elementwise_unused; /* ISO C: no empty translation unit */
#endif
