/* dequant_iq4.glsl -- IQ4_NL (blocks of 32) and IQ4_XS (super-blocks of
 * 256), 4-bit indices into the 16 levels KVALUES_IQ4NL (layouts in
 * backends/quants/iq4.c).
 *   IQ4_NL  d qs[16]                          v = d * kv[nib]
 *   IQ4_XS  d scales_h:u16 scales_l[4] qs[128] v = d*(ls-32) * kv[nib]
 * Unit u: IQ4_NL block u; IQ4_XS group u % 8 of block u / 8. */
#include "dq_io.glsl"


/* The 16 levels; a small constant array (the grids of the other i-quants
 * are too large for that: see dq_io.glsl). */
const int KVALUES_IQ4NL[16] = int[](-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

void dq_unit_iq4(uint type, uint64_t row, uint u, out float v[32]) {
    if (type == T_IQ4_NL) {
        BufU16 p = BufU16(row + uint64_t(u) * 18ul);
        float d = dq_f16(dq_b16(p, 0u));
        for (uint j = 0u; j < 16u; j++) {
            uint q = dq_b8(p, 2u + j);
            v[j] = d * float(KVALUES_IQ4NL[q & 15u]);
            v[j + 16u] = d * float(KVALUES_IQ4NL[q >> 4]);
        }
    } else {
        BufU16 p = BufU16(row + uint64_t(u / 8u) * 136ul);
        uint g = u % 8u;
        float d = dq_f16(dq_b16(p, 0u));
        uint ls = ((dq_b8(p, 4u + g / 2u) >> (4u * (g % 2u))) & 15u) | (((dq_b16(p, 2u) >> (2u * g)) & 3u) << 4);
        float dl = d * float(int(ls) - 32);
        for (uint j = 0u; j < 16u; j++) {
            uint q = dq_b8(p, 8u + 16u * g + j);
            v[j] = dl * float(KVALUES_IQ4NL[q & 15u]);
            v[j + 16u] = dl * float(KVALUES_IQ4NL[q >> 4]);
        }
    }
}

/* Element col of the stored row at row (for shaders that read single
 * weights); decodes its 32-value unit. */
float dq_elem_iq4(uint type, uint64_t row, uint col) {
    float v[32];
    dq_unit_iq4(type, row, col / 32u, v);
    return v[col % 32u];
}
