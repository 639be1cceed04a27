/* elementwise.c -- RMSNorm, embedding lookup, RoPE, SwiGLU, add, and the
 * f32 vector helpers of attention (dot, axpy, exp).
 *
 * RoPE and add perform the scalar backend's operations (no fused
 * multiply-add), so their results are the same bit for bit; RMSNorm sums
 * squares in 4 lanes, exp is a polynomial (relative error ~2 ulp). */
#include <math.h>

#include "neon_f32.h"
#include "quants/quants.h"

/* ---- exp ------------------------------------------------------------- */

/* exp(x) = 2^n * p(r), n = round(x / ln 2), r = x - n ln 2 (in two parts),
 * p a degree-7 polynomial (Cephes expf coefficients). Above 88.72: inf;
 * below -87.33: 0 (instead of a subnormal); NaN stays NaN. */
static inline float32x4_t exp4(float32x4_t x) {
    const float32x4_t hi = vdupq_n_f32(88.72283935546875f), lo = vdupq_n_f32(-87.33654022216797f);
    const uint32x4_t over = vcgtq_f32(x, hi), under = vcltq_f32(x, lo);
    x = vminq_f32(vmaxq_f32(x, lo), hi);
    const float32x4_t fn = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, fn, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, fn, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    /* 2^n as 2^(n-1) * 2: n - 1 + 127 stays in [0, 254] for n in [-126, 128] */
    const int32x4_t n = vcvtq_s32_f32(fn);
    const float32x4_t scale = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n, vdupq_n_s32(126)), 23));
    float32x4_t e = vmulq_f32(vmulq_f32(p, scale), vdupq_n_f32(2.0f));
    e = vbslq_f32(over, vdupq_n_f32(INFINITY), e);
    return vbslq_f32(under, vdupq_n_f32(0.0f), e);
}

float neon_exp_sum(float *x, int64_t n, float sub) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    const float32x4_t m = vdupq_n_f32(sub);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), m));
        vst1q_f32(x + i, e);
        acc = vaddq_f32(acc, e);
    }
    if (i < n) {
        float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t k = i; k < n; k++) t[k - i] = x[k] - sub;
        float32x4_t e = exp4(vld1q_f32(t));
        /* lanes past the end contribute 0 */
        static const uint32_t lanes[4][4] = {{0, 0, 0, 0}, {~0u, 0, 0, 0}, {~0u, ~0u, 0, 0}, {~0u, ~0u, ~0u, 0}};
        e = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(e), vld1q_u32(lanes[n - i])));
        vst1q_f32(t, e);
        for (int64_t k = i; k < n; k++) x[k] = t[k - i];
        acc = vaddq_f32(acc, e);
    }
    return vaddvq_f32(acc);
}

/* ---- f32 helpers --------------------------------------------------------- */

float neon_dot_f32(const float *a, const float *b, int64_t n) {
    float out;
    const float *xs[1] = {b};
    neon_span_dot(DSV3_W_F32, (const uint8_t *)(const void *)a, n, xs, 0, 1, &out);
    return out;
}

void neon_axpy_f32(float a, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4), a));
    }
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    /* the tail with the same fused operation: an element's result must not
     * depend on whether a thread's range puts it in a vector */
    for (; i < n; i++) y[i] = fmaf(x[i], a, y[i]);
}

/* out = g / (1 + exp(-g)) * u */
void neon_silu_mul(const float *g, const float *u, float *out, size_t count) {
    size_t i = 0;
    const float32x4_t one = vdupq_n_f32(1.0f);
    for (; i + 4 <= count; i += 4) {
        const float32x4_t gv = vld1q_f32(g + i);
        const float32x4_t s = vdivq_f32(gv, vaddq_f32(one, exp4(vnegq_f32(gv))));
        vst1q_f32(out + i, vmulq_f32(s, vld1q_f32(u + i)));
    }
    if (i < count) {
        float gt[4] = {0.0f, 0.0f, 0.0f, 0.0f}, ut[4] = {0.0f, 0.0f, 0.0f, 0.0f}, ot[4];
        for (size_t k = i; k < count; k++) gt[k - i] = g[k], ut[k - i] = u[k];
        neon_silu_mul(gt, ut, ot, 4);
        for (size_t k = i; k < count; k++) out[k] = ot[k - i];
    }
}

/* ---- ops ----------------------------------------------------------------- */

void neon_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count) {
    (void)be;
    neon_silu_mul(g, u, out, count);
}

void neon_add(dsv3_backend *be, float *y, const float *x, size_t count) {
    (void)be;
    size_t i = 0;
    for (; i + 4 <= count; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    for (; i < count; i++) y[i] += x[i];
}

/* yr[i] = xr[i] * inv * g[i] for i in [c0, c0 + len), g a plain type */
NEON_INLINE void norm_span(int type, const uint8_t *g, const float *xr, float inv, float *yr, int64_t c0, int64_t len) {
    int64_t i = 0;
    for (; i + 4 <= len; i += 4)
        vst1q_f32(yr + c0 + i, vmulq_f32(vmulq_n_f32(vld1q_f32(xr + c0 + i), inv), neon_ld4(type, g, i)));
    for (; i < len; i++) yr[c0 + i] = xr[c0 + i] * inv * neon_ld1(type, g, i);
}

void neon_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n, int dim,
                  float eps) {
    (void)be;
    const int bs = dsv3_wtype_block(g->type);
    const size_t bb = dsv3_wtype_block_bytes(g->type);
    const uint8_t *gd = (const uint8_t *)g->data;
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * ldx;
        float *yr = y + (size_t)t * ldy;
        const float ss = neon_dot_f32(xr, xr, dim);
        const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
        switch (g->type) {
        case DSV3_W_F32: norm_span(DSV3_W_F32, gd, xr, inv, yr, 0, dim); break;
        case DSV3_W_F16: norm_span(DSV3_W_F16, gd, xr, inv, yr, 0, dim); break;
        case DSV3_W_BF16: norm_span(DSV3_W_BF16, gd, xr, inv, yr, 0, dim); break;
        default:
            if (g->type >= DSV3_W_Q8_0 && g->type < DSV3_W_COUNT && dim % bs == 0) {
                float buf[256];
                for (int64_t c0 = 0; c0 < dim; c0 += 256) {
                    const int64_t len = c0 + 256 < dim ? 256 : dim - c0;
                    dsv3_dequantize_row(g->type, gd + (size_t)(c0 / bs) * bb, buf, len);
                    norm_span(DSV3_W_F32, (const uint8_t *)buf, xr, inv, yr, c0, len);
                }
            } else {
                /* as the scalar reference: no gain values for this type */
                for (int i = 0; i < dim; i++) yr[i] = xr[i] * inv * 0.0f;
            }
            break;
        }
    }
}

void neon_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y) {
    (void)be;
    for (int t = 0; t < n; t++) neon_row_get(table, ids[t], y + (size_t)t * table->cols);
}

void neon_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
               const float *cos_t, const float *sin_t) {
    (void)be;
    const int half = dr / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * ld + (size_t)h * head_stride + offset;
            int i = 0;
            for (; i + 4 <= half; i += 4) {
                const float32x4x2_t ab = vld2q_f32(v + 2 * i);
                const float32x4_t cv = vld1q_f32(c + i), sv = vld1q_f32(s + i);
                float32x4x2_t r;
                r.val[0] = vsubq_f32(vmulq_f32(ab.val[0], cv), vmulq_f32(ab.val[1], sv));
                r.val[1] = vaddq_f32(vmulq_f32(ab.val[0], sv), vmulq_f32(ab.val[1], cv));
                vst2q_f32(v + 2 * i, r);
            }
            for (; i < half; i++) {
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c[i] - b * s[i];
                v[2 * i + 1] = a * s[i] + b * c[i];
            }
        }
    }
}
