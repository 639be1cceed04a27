/* dequant_k.glsl -- the k-quants Q2_K..Q6_K: 256-element super-blocks
 * (layouts in backends/quants/q_k.c); unit u = elements 32s..32s+31 of
 * block u / 8, s = u % 8.
 *   Q2_K  scales[16] qs[64] d dmin          (84)
 *   Q3_K  hmask[32] qs[64] scales[12] d     (110)
 *   Q4_K  d dmin scales[12] qs[128]         (144)
 *   Q5_K  d dmin scales[12] qh[32] qs[128]  (176)
 *   Q6_K  ql[128] qh[64] scales[16] d       (210)
 * Q2_K/Q3_K: 32 elements = shift field (s%4) of the 32 qs bytes of half
 * s/4, two groups of 16 with their own scale. */
#include "dq_io.glsl"

uint k_bytes(uint type) {
    return type == T_Q2_K ? 84u : type == T_Q3_K ? 110u : type == T_Q4_K ? 144u : type == T_Q5_K ? 176u : 210u;
}

/* a*b - c, never fused (the CPU decoders round the product first). */
float dq_msub(float a, float b, float c) {
    precise float t = a * b;
    precise float r = t - c;
    return r;
}

/* The signed 6-bit scale of group j (0..15) of Q3_K (scales at 96). */
int k3_scale(BufU16 p, uint j) {
    uint lo = j < 8u ? dq_b8(p, 96u + j) & 15u : dq_b8(p, 96u + j - 8u) >> 4;
    uint hi = (dq_b8(p, 104u + j % 4u) >> (2u * (j / 4u))) & 3u;
    return int(lo | (hi << 4)) - 32;
}

/* The 6-bit scale and min of group j (0..7) of Q4_K/Q5_K (scales at 4). */
void k4_scale_min(BufU16 p, uint j, out uint sc, out uint mn) {
    if (j < 4u) {
        sc = dq_b8(p, 4u + j) & 63u;
        mn = dq_b8(p, 8u + j) & 63u;
    } else {
        sc = (dq_b8(p, 8u + j) & 15u) | ((dq_b8(p, j) >> 6) << 4);
        mn = (dq_b8(p, 8u + j) >> 4) | ((dq_b8(p, 4u + j) >> 6) << 4);
    }
}

void dq_unit_k(uint type, uint64_t row, uint u, out float v[32]) {
    BufU16 p = BufU16(row + uint64_t(u / 8u) * uint64_t(k_bytes(type)));
    uint s = u % 8u;
    if (type == T_Q2_K) {
        float d = dq_f16(dq_b16(p, 80u)), dmin = dq_f16(dq_b16(p, 82u));
        uint half_ = s / 4u, sh = (s % 4u) * 2u;
        for (uint part = 0u; part < 2u; part++) {
            uint sc = dq_b8(p, s * 2u + part);
            float dl = d * float(sc & 15u), ml = dmin * float(sc >> 4);
            for (uint l = 0u; l < 16u; l++) {
                uint q = (dq_b8(p, 16u + half_ * 32u + part * 16u + l) >> sh) & 3u;
                v[part * 16u + l] = dq_msub(dl, float(q), ml);
            }
        }
    } else if (type == T_Q3_K) {
        float d = dq_f16(dq_b16(p, 108u));
        uint half_ = s / 4u, sh = (s % 4u) * 2u;
        for (uint part = 0u; part < 2u; part++) {
            float dl = d * float(k3_scale(p, s * 2u + part));
            for (uint l = 0u; l < 16u; l++) {
                uint i = part * 16u + l;
                uint q = (dq_b8(p, 32u + half_ * 32u + i) >> sh) & 3u;
                uint h = (dq_b8(p, i) >> s) & 1u;
                v[i] = dl * float(int(q) - (h != 0u ? 0 : 4));
            }
        }
    } else if (type == T_Q4_K || type == T_Q5_K) {
        float d = dq_f16(dq_b16(p, 0u)), dmin = dq_f16(dq_b16(p, 2u));
        uint sc, mn;
        k4_scale_min(p, s, sc, mn);
        float d1 = d * float(sc), m1 = dmin * float(mn);
        uint qs = type == T_Q4_K ? 16u : 48u, sh = (s % 2u) * 4u;
        for (uint l = 0u; l < 32u; l++) {
            uint q = (dq_b8(p, qs + (s / 2u) * 32u + l) >> sh) & 15u;
            if (type == T_Q5_K) q |= ((dq_b8(p, 16u + l) >> s) & 1u) << 4;
            v[l] = dq_msub(d1, float(q), m1);
        }
    } else { /* Q6_K */
        float d = dq_f16(dq_b16(p, 208u));
        uint half_ = s / 4u, qt = s % 4u;
        for (uint l = 0u; l < 32u; l++) {
            uint ql = dq_b8(p, half_ * 64u + (qt & 1u) * 32u + l);
            uint nib = qt >= 2u ? ql >> 4 : ql & 15u;
            uint h = (dq_b8(p, 128u + half_ * 32u + l) >> (2u * qt)) & 3u;
            int sc = dq_sext8(dq_b8(p, 192u + half_ * 8u + l / 16u + 2u * qt));
            v[l] = d * float(sc) * float(int(nib | (h << 4)) - 32);
        }
    }
}

/* Element col of the stored row at row (for shaders that read single
 * weights); decodes its 32-value unit. */
float dq_elem_k(uint type, uint64_t row, uint col) {
    float v[32];
    dq_unit_k(type, row, col / 32u, v);
    return v[col % 32u];
}
