/* dequant_iq2.glsl -- IQ2_XXS, IQ2_XS, IQ2_S (layouts in
 * backends/quants/iq2.c): groups of 8 magnitudes from a packed grid at `grid` (levels 8, 25,
 * 43) with explicit signs, db = d * (0.5 + s) / 4. Unit u = the 32 values
 * of group u % 8 of block u / 8.
 *   IQ2_XXS  d, 8 x {idx[4], aux:u32}          (66)
 *   IQ2_XS   d qs:u16[32] scales[8]             (74)
 *   IQ2_S    d qs[32] signs[32] qh[8] scales[8] (82) */
#include "dq_io.glsl"

/* Value j of packed grid entry e (level index k -> 8 + 17k + k/2), negated
 * by bit j of signs. Written in the caller's loops (array arguments are
 * copied in and out, which makes shader compilers slow). */
float iq2_val(float db, uint e, uint signs, uint j) {
    uint k = (e >> (2u * j)) & 3u;
    float a = db * float(8u + 17u * k + (k >> 1));
    return ((signs >> j) & 1u) != 0u ? -a : a;
}

void dq_unit_iq2(uint type, uint64_t grid, uint64_t row, uint u, out float v[32]) {
    uint g = u % 8u;
    BufU32 tab = BufU32(grid);
    if (type == T_IQ2_XXS) {
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 66ul);
        float d = dq_f16(dq_b16(p, 0u));
        uint o = 2u + 8u * g, aux = dq_b32(p, o + 4u);
        float db = d * (0.5 + float(aux >> 28)) * 0.25;
        for (uint l = 0u; l < 4u; l++) {
            uint e = tab.v[dq_b8(p, o + l)], sg = dq_ksigns((aux >> (7u * l)) & 127u);
            for (uint j = 0u; j < 8u; j++) v[8u * l + j] = iq2_val(db, e, sg, j);
        }
    } else if (type == T_IQ2_XS) {
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 74ul);
        float d = dq_f16(dq_b16(p, 0u));
        uint sc = dq_b8(p, 66u + g);
        float db0 = d * (0.5 + float(sc & 15u)) * 0.25, db1 = d * (0.5 + float(sc >> 4)) * 0.25;
        for (uint l = 0u; l < 4u; l++) {
            uint q = dq_b16(p, 2u + 2u * (4u * g + l));
            uint e = tab.v[q & 511u], sg = dq_ksigns(q >> 9);
            for (uint j = 0u; j < 8u; j++) v[8u * l + j] = iq2_val(l < 2u ? db0 : db1, e, sg, j);
        }
    } else { /* IQ2_S */
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 82ul);
        float d = dq_f16(dq_b16(p, 0u));
        uint sc = dq_b8(p, 74u + g), qh = dq_b8(p, 66u + g);
        float db0 = d * (0.5 + float(sc & 15u)) * 0.25, db1 = d * (0.5 + float(sc >> 4)) * 0.25;
        for (uint l = 0u; l < 4u; l++) {
            uint e = tab.v[dq_b8(p, 2u + 4u * g + l) | ((qh << (8u - 2u * l)) & 0x300u)];
            uint sg = dq_b8(p, 34u + 4u * g + l);
            for (uint j = 0u; j < 8u; j++) v[8u * l + j] = iq2_val(l < 2u ? db0 : db1, e, sg, j);
        }
    }
}

/* Element col of the stored row at row (for shaders that read single
 * weights); decodes its 32-value unit. */
float dq_elem_iq2(uint type, uint64_t grid, uint64_t row, uint col) {
    float v[32];
    dq_unit_iq2(type, grid, row, col / 32u, v);
    return v[col % 32u];
}
