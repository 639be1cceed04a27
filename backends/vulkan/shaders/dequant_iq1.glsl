/* dequant_iq1.glsl -- IQ1_S and IQ1_M (layouts in backends/quants/iq1.c):
 * groups of 8 values from the ternary IQ1S grid (at `grid`, packed as
 * dq_io.glsl says) shifted by +-1/8,
 * v = dl * (grid + delta). Unit u = group u % 8 of block u / 8 (32 values).
 *   IQ1_S  d qs[32] qh:u16[8]      (50)
 *   IQ1_M  qs[32] qh[16] sc:u16[4]  (56), d spread over the sc top nibbles */
#include "dq_io.glsl"

#define IQ1_DELTA 0.125

/* Value j of packed grid entry e (2 bits per value: -1, 0, +1). Values
 * are written in the caller's loops, not by a helper taking the array:
 * array arguments are copied in and out, which makes shader compilers slow. */
float iq1_val(float dl, uint e, uint j, float delta) { return dl * (float(int((e >> (2u * j)) & 3u) - 1) + delta); }

void dq_unit_iq1(uint type, uint64_t grid, uint64_t row, uint u, out float v[32]) {
    uint g = u % 8u;
    BufU32 tab = BufU32(grid);
    if (type == T_IQ1_S) {
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 50ul);
        float d = dq_f16(dq_b16(p, 0u));
        uint qh = dq_b16(p, 34u + 2u * g);
        float dl = d * float(2u * ((qh >> 12) & 7u) + 1u);
        float delta = (qh & 0x8000u) != 0u ? -IQ1_DELTA : IQ1_DELTA;
        for (uint l = 0u; l < 4u; l++) {
            uint e = tab.v[dq_b8(p, 2u + 4u * g + l) | (((qh >> (3u * l)) & 7u) << 8)];
            for (uint j = 0u; j < 8u; j++) v[8u * l + j] = iq1_val(dl, e, j, delta);
        }
    } else { /* IQ1_M */
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 56ul);
        uint s0 = dq_b16(p, 48u), s1 = dq_b16(p, 50u), s2 = dq_b16(p, 52u), s3 = dq_b16(p, 54u);
        float d = dq_f16((s0 >> 12) | ((s1 >> 8) & 0x00F0u) | ((s2 >> 4) & 0x0F00u) | (s3 & 0xF000u));
        uint s = dq_b16(p, 48u + 2u * (g / 2u)) >> (6u * (g % 2u));
        float dl1 = d * float(2u * (s & 7u) + 1u), dl2 = d * float(2u * ((s >> 3) & 7u) + 1u);
        for (uint l = 0u; l < 4u; l++) {
            /* qh byte l/2: low nibble for the even l, high nibble for the odd */
            uint h = dq_b8(p, 32u + 2u * g + l / 2u) >> (4u * (l % 2u));
            uint e = tab.v[dq_b8(p, 4u * g + l) | ((h & 7u) << 8)];
            float delta = (h & 8u) != 0u ? -IQ1_DELTA : IQ1_DELTA;
            for (uint j = 0u; j < 8u; j++) v[8u * l + j] = iq1_val(l < 2u ? dl1 : dl2, e, j, delta);
        }
    }
}

/* Element col of the stored row at row (for shaders that read single
 * weights); decodes its 32-value unit. */
float dq_elem_iq1(uint type, uint64_t grid, uint64_t row, uint col) {
    float v[32];
    dq_unit_iq1(type, grid, row, col / 32u, v);
    return v[col % 32u];
}
