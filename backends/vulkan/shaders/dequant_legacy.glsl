/* dequant_legacy.glsl -- the 32-element ggml blocks Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1 (layouts in backends/quants/q_legacy.c); unit u = block u.
 *   Q8_0  d q[32]:int8            v = q*d
 *   Q4_0  d qs[16]                v = (nib-8)*d
 *   Q4_1  d m qs[16]              v = nib*d + m
 *   Q5_0  d qh:u32 qs[16]         v = ((nib|hi<<4)-16)*d
 *   Q5_1  d m qh:u32 qs[16]       v = (nib|hi<<4)*d + m
 * Element j < 16 is the low nibble of qs[j], j + 16 the high one; bit j of
 * qh is element j's fifth bit. */
#include "dq_io.glsl"

uint legacy_bytes(uint type) {
    return type == T_Q8_0 ? 34u : type == T_Q4_1 ? 20u : type == T_Q5_0 ? 22u : type == T_Q5_1 ? 24u : 18u;
}

/* d*q + m, never fused (the CPU decoders round the product first). */
float dq_madd(float a, float b, float c) {
    precise float t = a * b;
    precise float r = t + c;
    return r;
}

void dq_unit_legacy(uint type, uint64_t row, uint u, out float v[32]) {
    BufU16 p = BufU16(row + uint64_t(u) * uint64_t(legacy_bytes(type)));
    float d = dq_f16(dq_b16(p, 0u));
    if (type == T_Q8_0) {
        for (uint j = 0u; j < 32u; j++) v[j] = float(dq_sext8(dq_b8(p, 2u + j))) * d;
    } else if (type == T_Q4_0) {
        for (uint j = 0u; j < 16u; j++) {
            uint q = dq_b8(p, 2u + j);
            v[j] = float(int(q & 15u) - 8) * d;
            v[j + 16u] = float(int(q >> 4) - 8) * d;
        }
    } else if (type == T_Q4_1) {
        float m = dq_f16(dq_b16(p, 2u));
        for (uint j = 0u; j < 16u; j++) {
            uint q = dq_b8(p, 4u + j);
            v[j] = dq_madd(float(q & 15u), d, m);
            v[j + 16u] = dq_madd(float(q >> 4), d, m);
        }
    } else if (type == T_Q5_0) {
        uint qh = dq_b32(p, 2u);
        for (uint j = 0u; j < 16u; j++) {
            uint q = dq_b8(p, 6u + j);
            v[j] = float(int((q & 15u) | (((qh >> j) & 1u) << 4)) - 16) * d;
            v[j + 16u] = float(int((q >> 4) | (((qh >> (j + 16u)) & 1u) << 4)) - 16) * d;
        }
    } else { /* Q5_1 */
        float m = dq_f16(dq_b16(p, 2u));
        uint qh = dq_b32(p, 4u);
        for (uint j = 0u; j < 16u; j++) {
            uint q = dq_b8(p, 8u + j);
            v[j] = dq_madd(float((q & 15u) | (((qh >> j) & 1u) << 4)), d, m);
            v[j + 16u] = dq_madd(float((q >> 4) | (((qh >> (j + 16u)) & 1u) << 4)), d, m);
        }
    }
}

/* Element col of the stored row at row (for shaders that read single
 * weights); decodes its 32-value unit. */
float dq_elem_legacy(uint type, uint64_t row, uint col) {
    float v[32];
    dq_unit_legacy(type, row, col / 32u, v);
    return v[col % 32u];
}
