/* q_k.c -- the ggml k-quants Q2_K..Q6_K: super-blocks of 256 elements.
 *
 * Layouts (bytes, little-endian f16 fields):
 *   Q2_K  scales[16] qs[64] d dmin          (84)   16 groups of 16, 2-bit q,
 *         scale byte = (min<<4)|sc; v = d*sc*q - dmin*min
 *   Q3_K  hmask[32] qs[64] scales[12] d     (110)  16 groups of 16, 3-bit q
 *         (2 bits in qs, the third in hmask), 6-bit signed scales (+32)
 *   Q4_K  d dmin scales[12] qs[128]         (144)  8 groups of 32, 4-bit q,
 *         6-bit scales and mins
 *   Q5_K  d dmin scales[12] qh[32] qs[128]  (176)  as Q4_K with a fifth bit
 *   Q6_K  ql[128] qh[64] scales[16] d       (210)  16 groups of 16, 6-bit q,
 *         int8 scales
 * 2-bit fields: each 128-element half uses 32 bytes of qs; element
 * 32*k + l of the half sits in bits 2k..2k+1 of byte l.
 *
 * Quantizers follow ggml's reference (no importance matrix) algorithms:
 *   Q2_K: per group, a weighted (|x|) least-absolute-deviation fit of scale
 *         and min over 16 candidate inverse scales; 4-bit scales/mins.
 *   Q3_K: per group, a symmetric fit refined by coordinate descent on the
 *         quants (weights x^2); 6-bit scales.
 *   Q4_K/Q5_K: per group, a weighted (sqrt(mean x^2) + |x|) least-squares fit
 *         of scale and min over 21 (Q4_K) / 16 (Q5_K) candidate inverse scales;
 *         6-bit scales/mins against f16 super-scales.
 *   Q6_K: per group, a symmetric weighted (x^2) fit over 19 candidate
 *         inverse scales; int8 scales.
 * All then re-quantize every element against the scales as stored. */
#include "quants_impl.h"

#define GROUP_EPS 1e-15f

/* ---- dequantization --------------------------------------------------- */

/* The 6-bit scale and min of group j (0..7) of Q4_K/Q5_K. */
static inline void k4_scale_min(int j, const uint8_t *s, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* The signed 6-bit scale of group j (0..15) of Q3_K. */
static inline int k3_scale(int j, const uint8_t *s) {
    int lo = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4;
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

DSV3_DEQ(q2_k) {
    for (int64_t b = 0; b < nb; b++, x += 84) {
        const uint8_t *sc = x, *q = x + 16;
        const float d = q_h(x + 80), dmin = q_h(x + 82);
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int part = 0; part < 2; part++, is++) {
                    const float dl = d * (sc[is] & 0x0F), ml = dmin * (sc[is] >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[16 * part + l] >> shift) & 3) - ml;
                }
    }
}

DSV3_DEQ(q3_k) {
    for (int64_t b = 0; b < nb; b++, x += 110) {
        const uint8_t *hm = x, *q = x + 32, *s = x + 96;
        const float d_all = q_h(x + 108);
        int is = 0, bit = 0;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2, bit++)
                for (int part = 0; part < 2; part++, is++) {
                    const float dl = d_all * k3_scale(is, s);
                    for (int l = 0; l < 16; l++) {
                        const int i = 16 * part + l;
                        const int v = ((q[i] >> shift) & 3) - ((hm[i] >> bit) & 1 ? 0 : 4);
                        *y++ = dl * v;
                    }
                }
    }
}

DSV3_DEQ(q4_k) {
    for (int64_t b = 0; b < nb; b++, x += 144) {
        const float d = q_h(x), dmin = q_h(x + 2);
        const uint8_t *s = x + 4, *q = x + 16;
        for (int g = 0; g < 8; g += 2, q += 32) {
            int sc, mn;
            k4_scale_min(g, s, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            k4_scale_min(g + 1, s, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

DSV3_DEQ(q5_k) {
    for (int64_t b = 0; b < nb; b++, x += 176) {
        const float d = q_h(x), dmin = q_h(x + 2);
        const uint8_t *s = x + 4, *qh = x + 16, *q = x + 48;
        for (int g = 0; g < 8; g += 2, q += 32) {
            int sc, mn;
            k4_scale_min(g, s, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            k4_scale_min(g + 1, s, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((q[l] & 0x0F) + (((qh[l] >> g) & 1) << 4)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((q[l] >> 4) + (((qh[l] >> (g + 1)) & 1) << 4)) - m2;
        }
    }
}

DSV3_DEQ(q6_k) {
    for (int64_t b = 0; b < nb; b++, x += 210) {
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(const void *)(x + 192);
        const float d = q_h(x + 208);
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128)
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
    }
}

/* ---- scale searches ----------------------------------------------------- */

/* Asymmetric fit x ~ scale*L - m with L in [0, nmax], m >= 0, minimizing the
 * w-weighted squared (or, with use_mad, absolute) error. Starts from the
 * range and tries inverse scales (nmax + rmin + rdelta*k)/(max - min),
 * k = 0..nstep, solving scale and min by weighted least squares for each
 * candidate assignment. Returns the scale, *m_out = m. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *m_out,
                           float rmin, float rdelta, int nstep, int use_mad) {
    uint8_t Lc[32];
    float lo = x[0], hi = x[0], sw = w[0], sx = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sw += w[i];
        sx += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(L, 0, (size_t)n);
        *m_out = -lo;
        return 0.0f;
    }
    float iscale = nmax / (hi - lo), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)q_clamp(q_round(iscale * (x[i] - lo)), 0, nmax);
        float diff = scale * L[i] + lo - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best += w[i] * diff;
    }
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * k + nmax) / (hi - lo);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = q_clamp(q_round(iscale * (x[i] - lo)), 0, nmax);
            Lc[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        float D = sw * sl2 - sl * sl;
        if (!(D > 0)) continue;
        float s = (sw * sxl - sx * sl) / D;
        float m = (sl2 * sx - sl * sxl) / D;
        if (m > 0) {
            m = 0;
            s = sxl / sl2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = s * Lc[i] + m - x[i];
            diff = use_mad ? fabsf(diff) : diff * diff;
            err += w[i] * diff;
        }
        if (err < best) {
            memcpy(L, Lc, (size_t)n);
            best = err;
            scale = s;
            lo = m;
        }
    }
    *m_out = -lo;
    return scale;
}

/* The element of largest magnitude, signed; its magnitude in *amax. */
static float signed_absmax(const float *x, int n, float *amax) {
    float a = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > a) {
            a = fabsf(x[i]);
            max = x[i];
        }
    *amax = a;
    return max;
}

/* Levels l = round(iscale * x) clamped to [-nmax, nmax-1] and the weighted
 * (w = x^2) sums sum w x l and sum w l^2 of that assignment; L (may be
 * NULL) receives l + offset. Shared by both symmetric fits below. */
static void sym_levels(int n, int nmax, const float *x, float iscale, int8_t *L, int offset, float *sumlx,
                       float *suml2) {
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; i++) {
        int l = q_clamp(q_round(iscale * x[i]), -nmax, nmax - 1);
        if (L) L[i] = (int8_t)(l + offset);
        float w = x[i] * x[i];
        slx += w * x[i] * l;
        sl2 += w * l * l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

/* Symmetric fit for Q6_K: L in [-nmax, nmax-1] stored as L + nmax, weights
 * x^2; tries inverse scales -(nmax + 0.1k)/max, k = -9..9, and keeps the
 * assignment maximizing (sum w x L)^2 / sum w L^2. Returns the scale. */
static float fit_sym_search(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    sym_levels(n, nmax, x, -nmax / max, L, nmax, &sumlx, &suml2);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        float iscale = -(nmax + 0.1f * k) / max;
        sym_levels(n, nmax, x, iscale, NULL, 0, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            sym_levels(n, nmax, x, iscale, L, nmax, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric fit for Q3_K: L in [-nmax, nmax-1] (returned as L + nmax),
 * weights x^2, starting at -nmax/max and improved by up to 5 rounds of
 * per-element moves that raise (sum w x L)^2 / sum w L^2. */
static float fit_sym_descent(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    sym_levels(n, nmax, x, -nmax / max, L, 0, &sumlx, &suml2);
    for (int round = 0; round < 5; round++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int nl = q_clamp(q_round(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0 ? sumlx / suml2 : 0.0f;
}

/* 2-bit fields of a 256-element block, as Q2_K/Q3_K store them. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < QK_K; h += 128)
        for (int l = 0; l < 32; l++)
            qs[h / 4 + l] =
                (uint8_t)(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) | (L[h + l + 96] << 6));
}

/* ---- Q2_K ---------------------------------------------------------------- */

DSV3_QNT(q2_k) {
    float xs[QK_K], w[16], scales[16], mins[16];
    uint8_t L[QK_K];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK_K, y += 84) {
        memset(y, 0, 84);
        if (!q_prescale(x, QK_K, xs, &e)) continue;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(xs[16 * j + l]);
            scales[j] = fit_scale_min(16, 3, xs + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float dq = 0, mq = 0;
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++) y[j] = (uint8_t)q_clamp(q_round(iscale * scales[j]), 0, 15);
            q_put16(y + 80, q_store_scale(max_scale / 15.f, e, &dq));
        }
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++) y[j] |= (uint8_t)(q_clamp(q_round(iscale * mins[j]), 0, 15) << 4);
            q_put16(y + 82, q_store_scale(max_min / 15.f, e, &mq));
        }
        for (int j = 0; j < 16; j++) {
            const float d = dq * (y[j] & 0x0F);
            if (!(d != 0)) continue;
            const float dm = mq * (y[j] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)q_clamp(q_round((xs[16 * j + l] + dm) / d), 0, 3);
        }
        pack_2bit(L, y + 16);
    }
}

/* ---- Q3_K ---------------------------------------------------------------- */

DSV3_QNT(q3_k) {
    float xs[QK_K], scales[16];
    int8_t L[QK_K];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK_K, y += 110) {
        memset(y, 0, 110);
        uint8_t *hmask = y, *qs = y + 32, *sc = y + 96;
        if (!q_prescale(x, QK_K, xs, &e)) continue; /* all zero (d = 0) */
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_sym_descent(16, 4, xs + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        float dq = 0;
        if (max_scale != 0) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = q_clamp(q_round(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) sc[j] = (uint8_t)(l & 0x0F);
                else sc[j - 8] |= (uint8_t)((l & 0x0F) << 4);
                sc[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            q_put16(y + 108, q_store_scale(1 / iscale, e, &dq));
        }
        uint8_t Lu[QK_K];
        for (int j = 0; j < 16; j++) {
            const float d = dq * k3_scale(j, sc);
            for (int l = 0; l < 16; l++) {
                int v = L[16 * j + l];
                if (d != 0) v = q_clamp(q_round(xs[16 * j + l] / d), -4, 3) + 4;
                Lu[16 * j + l] = (uint8_t)v;
            }
        }
        for (int j = 0; j < QK_K; j++)
            if (Lu[j] > 3) {
                hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                Lu[j] = (uint8_t)(Lu[j] - 4);
            }
        pack_2bit(Lu, qs);
    }
}

/* ---- Q4_K / Q5_K --------------------------------------------------------- */

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fills L[256], the 12 scale
 * bytes at sc, and the f16 d/dmin at dd. */
static void quant_k45(const float *xs, int e, int nmax, float rmin, int nstep, uint8_t *L, uint8_t *dd,
                      uint8_t *sc) {
    float w[32], scales[8], mins[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *g = xs + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += g[l] * g[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(g[l]);
        scales[j] = fit_scale_min(32, nmax, g, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(sc, 0, 12);
    for (int j = 0; j < 8; j++) {
        int ls = q_clamp(q_round(inv_scale * scales[j]), 0, 63);
        int lm = q_clamp(q_round(inv_min * mins[j]), 0, 63);
        if (j < 4) {
            sc[j] = (uint8_t)ls;
            sc[j + 4] = (uint8_t)lm;
        } else {
            sc[j + 4] = (uint8_t)((ls & 0x0F) | ((lm & 0x0F) << 4));
            sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    float dq, mq;
    q_put16(dd, q_store_scale(max_scale / 63.f, e, &dq));
    q_put16(dd + 2, q_store_scale(max_min / 63.f, e, &mq));
    for (int j = 0; j < 8; j++) {
        int s, m;
        k4_scale_min(j, sc, &s, &m);
        const float d = dq * s;
        if (!(d != 0)) continue;
        const float dm = mq * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)q_clamp(q_round((xs[32 * j + l] + dm) / d), 0, nmax);
    }
}

DSV3_QNT(q4_k) {
    float xs[QK_K];
    uint8_t L[QK_K];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK_K, y += 144) {
        memset(y, 0, 144);
        if (!q_prescale(x, QK_K, xs, &e)) continue;
        quant_k45(xs, e, 15, -1.f, 20, L, y, y + 4);
        uint8_t *q = y + 16;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

DSV3_QNT(q5_k) {
    float xs[QK_K];
    uint8_t L[QK_K];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK_K, y += 176) {
        memset(y, 0, 176);
        if (!q_prescale(x, QK_K, xs, &e)) continue;
        quant_k45(xs, e, 31, -0.5f, 15, L, y, y + 4);
        uint8_t *qh = y + 16, *ql = y + 48;
        for (int j = 0, bit = 0; j < QK_K; j += 64, bit += 2, ql += 32)
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[l] |= (uint8_t)(1u << bit);
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[l] |= (uint8_t)(2u << bit);
                }
                ql[l] = (uint8_t)(l1 | (l2 << 4));
            }
    }
}

/* ---- Q6_K ---------------------------------------------------------------- */

DSV3_QNT(q6_k) {
    float xs[QK_K], scales[16];
    int8_t L[QK_K];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK_K, y += 210) {
        memset(y, 0, 210);
        if (!q_prescale(x, QK_K, xs, &e)) continue;
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_sym_search(16, 32, xs + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs < GROUP_EPS) continue;
        float iscale = -128.f / max_scale, dq;
        q_put16(y + 208, q_store_scale(1 / iscale, e, &dq));
        int8_t *sc = (int8_t *)(void *)(y + 192);
        for (int j = 0; j < 16; j++) sc[j] = (int8_t)q_clamp(q_round(iscale * scales[j]), -128, 127);
        for (int j = 0; j < 16; j++) {
            const float d = dq * sc[j];
            if (!(d != 0)) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(q_clamp(q_round(xs[16 * j + l] / d), -32, 31) + 32);
        }
        uint8_t *ql = y, *qh = y + 128;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                const int a = L[j + l], c = L[j + l + 32], e2 = L[j + l + 64], f = L[j + l + 96];
                ql[l] = (uint8_t)((a & 0x0F) | ((e2 & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((c & 0x0F) | ((f & 0x0F) << 4));
                qh[l] = (uint8_t)((a >> 4) | ((c >> 4) << 2) | ((e2 >> 4) << 4) | ((f >> 4) << 6));
            }
    }
}
