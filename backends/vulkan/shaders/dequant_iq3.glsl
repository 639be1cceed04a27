/* dequant_iq3.glsl -- IQ3_XXS and IQ3_S (layouts in backends/quants/iq3.c):
 * groups of 4 magnitudes from a grid at `grid` (one byte each), signs per 8
 * values.
 * Unit u = the 32 values of group u % 8 of block u / 8.
 *   IQ3_XXS  d qs[64] aux:u32[8]                    (98)
 *            db = d * (0.5 + s) / 2, sign indices in aux
 *   IQ3_S    d qs[64] qh[8] signs[32] scales[4]     (110)
 *            db = d * (1 + 2s), 9-bit indices, sign bytes stored whole */
#include "dq_io.glsl"

/* Value j (0..7) of the pair of grid entries e1, e2 (4 bytes each),
 * negated by bit j of signs. Written in the caller's loops (array
 * arguments are copied in and out, which makes shader compilers slow). */
float iq3_val(float db, uint e1, uint e2, uint signs, uint j) {
    uint e = j < 4u ? e1 : e2;
    float a = db * float((e >> (8u * (j % 4u))) & 0xFFu);
    return ((signs >> j) & 1u) != 0u ? -a : a;
}

void dq_unit_iq3(uint type, uint64_t grid, uint64_t row, uint u, out float v[32]) {
    uint g = u % 8u;
    BufU32 tab = BufU32(grid);
    if (type == T_IQ3_XXS) {
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 98ul);
        float d = dq_f16(dq_b16(p, 0u));
        uint qs = 2u + 8u * g, aux = dq_b32(p, 66u + 4u * g);
        float db = d * (0.5 + float(aux >> 28)) * 0.5;
        for (uint l = 0u; l < 4u; l++) {
            uint e1 = tab.v[dq_b8(p, qs + 2u * l)], e2 = tab.v[dq_b8(p, qs + 2u * l + 1u)];
            uint sg = dq_ksigns((aux >> (7u * l)) & 127u);
            for (uint j = 0u; j < 8u; j++) v[8u * l + j] = iq3_val(db, e1, e2, sg, j);
        }
    } else { /* IQ3_S */
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 110ul);
        float d = dq_f16(dq_b16(p, 0u));
        uint s = (dq_b8(p, 106u + g / 2u) >> (4u * (g % 2u))) & 15u;
        float db = d * float(1u + 2u * s);
        uint h = dq_b8(p, 66u + g), qs = 2u + 8u * g;
        for (uint l = 0u; l < 4u; l++) {
            uint e1 = tab.v[dq_b8(p, qs + 2u * l) | ((h << (8u - 2u * l)) & 256u)];
            uint e2 = tab.v[dq_b8(p, qs + 2u * l + 1u) | ((h << (7u - 2u * l)) & 256u)];
            uint sg = dq_b8(p, 74u + 4u * g + l);
            for (uint j = 0u; j < 8u; j++) v[8u * l + j] = iq3_val(db, e1, e2, sg, j);
        }
    }
}

/* Element col of the stored row at row (for shaders that read single
 * weights); decodes its 32-value unit. */
float dq_elem_iq3(uint type, uint64_t grid, uint64_t row, uint col) {
    float v[32];
    dq_unit_iq3(type, grid, row, col / 32u, v);
    return v[col % 32u];
}
