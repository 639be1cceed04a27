/* q_legacy.c -- the 32-element ggml formats Q8_0, Q4_0, Q4_1, Q5_0, Q5_1.
 *
 * Layouts (bytes, little-endian):
 *   Q8_0  d:f16  q[32]:int8                        v = q*d
 *   Q4_0  d:f16  qs[16]                            v = (nib-8)*d
 *   Q4_1  d:f16  m:f16  qs[16]                     v = nib*d + m
 *   Q5_0  d:f16  qh:u32  qs[16]                    v = ((nib|hi<<4)-16)*d
 *   Q5_1  d:f16  m:f16  qh:u32  qs[16]             v = (nib|hi<<4)*d + m
 * Element j < 16 is the low nibble of qs[j], element j + 16 its high nibble;
 * bit j of qh is the fifth bit of element j.
 *
 * Quantizers: ggml's reference algorithms. Symmetric types take d from the
 * signed value of largest magnitude (max/-8, max/-16, amax/127), asymmetric
 * ones from the range ((max-min)/15, /31). */
#include "quants_impl.h"

#define QK 32

/* ---- dequantization --------------------------------------------------- */

DSV3_DEQ(q8_0) {
    for (int64_t b = 0; b < nb; b++, x += 34, y += QK) {
        const float d = q_h(x);
        for (int j = 0; j < QK; j++) y[j] = (int8_t)x[2 + j] * d;
    }
}

DSV3_DEQ(q4_0) {
    for (int64_t b = 0; b < nb; b++, x += 18, y += QK) {
        const float d = q_h(x);
        const uint8_t *qs = x + 2;
        for (int j = 0; j < QK / 2; j++) {
            const int v0 = (qs[j] & 0x0F) - 8, v1 = (qs[j] >> 4) - 8;
            y[j] = v0 * d;
            y[j + QK / 2] = v1 * d;
        }
    }
}

DSV3_DEQ(q4_1) {
    for (int64_t b = 0; b < nb; b++, x += 20, y += QK) {
        const float d = q_h(x), m = q_h(x + 2);
        const uint8_t *qs = x + 4;
        for (int j = 0; j < QK / 2; j++) {
            const int v0 = qs[j] & 0x0F, v1 = qs[j] >> 4;
            y[j] = v0 * d + m;
            y[j + QK / 2] = v1 * d + m;
        }
    }
}

DSV3_DEQ(q5_0) {
    for (int64_t b = 0; b < nb; b++, x += 22, y += QK) {
        const float d = q_h(x);
        const uint32_t qh = q_le32(x + 2);
        const uint8_t *qs = x + 6;
        for (int j = 0; j < QK / 2; j++) {
            const int v0 = (int)((qs[j] & 0x0F) | (((qh >> j) & 1u) << 4)) - 16;
            const int v1 = (int)((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
            y[j] = v0 * d;
            y[j + QK / 2] = v1 * d;
        }
    }
}

DSV3_DEQ(q5_1) {
    for (int64_t b = 0; b < nb; b++, x += 24, y += QK) {
        const float d = q_h(x), m = q_h(x + 2);
        const uint32_t qh = q_le32(x + 4);
        const uint8_t *qs = x + 8;
        for (int j = 0; j < QK / 2; j++) {
            const int v0 = (int)((qs[j] & 0x0F) | (((qh >> j) & 1u) << 4));
            const int v1 = (int)((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
            y[j] = v0 * d + m;
            y[j + QK / 2] = v1 * d + m;
        }
    }
}

/* ---- quantization ----------------------------------------------------- */

/* The element of largest magnitude (the first one on ties), with its sign. */
static float signed_absmax(const float *v, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(v[i]) > amax) {
            amax = fabsf(v[i]);
            max = v[i];
        }
    return max;
}

static void range_of(const float *v, int n, float *lo, float *hi) {
    float mn = FLT_MAX, mx = -FLT_MAX;
    for (int i = 0; i < n; i++) {
        if (v[i] < mn) mn = v[i];
        if (v[i] > mx) mx = v[i];
    }
    *lo = mn;
    *hi = mx;
}

DSV3_QNT(q8_0) {
    float xs[QK];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK, y += 34) {
        if (!q_prescale(x, QK, xs, &e)) {
            memset(y, 0, 34);
            continue;
        }
        const float d = fabsf(signed_absmax(xs, QK)) / 127.0f;
        const float id = 1.0f / d;
        q_put16(y, q_store_scale(d, e, NULL));
        for (int j = 0; j < QK; j++) y[2 + j] = (uint8_t)(int8_t)q_clamp((int)roundf(xs[j] * id), -127, 127);
    }
}

DSV3_QNT(q4_0) {
    float xs[QK];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK, y += 18) {
        memset(y, 0, 18);
        if (!q_prescale(x, QK, xs, &e)) {
            q_put16(y, 0x8000); /* d = 0/-8 = -0, as ggml writes it */
            memset(y + 2, 0x88, 16);
            continue;
        }
        const float d = signed_absmax(xs, QK) / -8.0f;
        const float id = 1.0f / d;
        q_put16(y, q_store_scale(d, e, NULL));
        for (int j = 0; j < QK / 2; j++) {
            const int v0 = q_clamp((int)(xs[j] * id + 8.5f), 0, 15);
            const int v1 = q_clamp((int)(xs[j + QK / 2] * id + 8.5f), 0, 15);
            y[2 + j] = (uint8_t)(v0 | (v1 << 4));
        }
    }
}

DSV3_QNT(q4_1) {
    float xs[QK];
    int e;
    for (int64_t b = 0; b < nb; b++, x += QK, y += 20) {
        memset(y, 0, 20);
        if (!q_prescale(x, QK, xs, &e)) continue;
        float mn, mx;
        range_of(xs, QK, &mn, &mx);
        const float d = (mx - mn) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        q_put16(y, q_store_scale(d, e, NULL));
        q_put16(y + 2, q_store_scale(mn, e, NULL));
        for (int j = 0; j < QK / 2; j++) {
            const int v0 = q_clamp((int)((xs[j] - mn) * id + 0.5f), 0, 15);
            const int v1 = q_clamp((int)((xs[j + QK / 2] - mn) * id + 0.5f), 0, 15);
            y[4 + j] = (uint8_t)(v0 | (v1 << 4));
        }
    }
}

/* Q5 packing: low nibbles into qs, fifth bits into qh. */
static void pack_q5(const int *v, uint8_t *qh_at, uint8_t *qs) {
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((v[j] & 0x0F) | ((v[j + QK / 2] & 0x0F) << 4));
        qh |= (uint32_t)((v[j] >> 4) & 1) << j;
        qh |= (uint32_t)((v[j + QK / 2] >> 4) & 1) << (j + QK / 2);
    }
    q_put32(qh_at, qh);
}

DSV3_QNT(q5_0) {
    float xs[QK];
    int v[QK], e;
    for (int64_t b = 0; b < nb; b++, x += QK, y += 22) {
        memset(y, 0, 22);
        if (!q_prescale(x, QK, xs, &e)) {
            q_put16(y, 0x8000);
            for (int j = 0; j < QK; j++) v[j] = 16;
            pack_q5(v, y + 2, y + 6);
            continue;
        }
        const float d = signed_absmax(xs, QK) / -16.0f;
        const float id = 1.0f / d;
        q_put16(y, q_store_scale(d, e, NULL));
        for (int j = 0; j < QK; j++) v[j] = q_clamp((int)(xs[j] * id + 16.5f), 0, 31);
        pack_q5(v, y + 2, y + 6);
    }
}

DSV3_QNT(q5_1) {
    float xs[QK];
    int v[QK], e;
    for (int64_t b = 0; b < nb; b++, x += QK, y += 24) {
        memset(y, 0, 24);
        if (!q_prescale(x, QK, xs, &e)) continue;
        float mn, mx;
        range_of(xs, QK, &mn, &mx);
        const float d = (mx - mn) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        q_put16(y, q_store_scale(d, e, NULL));
        q_put16(y + 2, q_store_scale(mn, e, NULL));
        for (int j = 0; j < QK; j++) v[j] = q_clamp((int)((xs[j] - mn) * id + 0.5f), 0, 31);
        pack_q5(v, y + 4, y + 8);
    }
}
