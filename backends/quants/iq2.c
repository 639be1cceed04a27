/* iq2.c -- IQ2_XXS, IQ2_XS, IQ2_S: super-blocks of 256 in groups of 8 values
 * taken from a grid of magnitudes (dsv3_iq2*_grid, bytes 8/25/43) with
 * explicit signs; scales db = d * (0.5 + s) / 4 per 32 (XXS) or per 16.
 *
 *   IQ2_XXS  d:f16, 8 x {idx[4] bytes, aux:u32}                       (66)
 *            aux bits 7l..7l+6: sign index of group l (dsv3_ksigns_iq2xs),
 *            bits 28..31: the 4-bit scale s of these 32
 *   IQ2_XS   d:f16 qs:u16[32] scales[8]                                 (74)
 *            qs: 9-bit grid index | 7-bit sign index << 9; scales: two
 *            4-bit s per 32 (low nibble: first 16)
 *   IQ2_S    d:f16 qs[32] signs[32] qh[8] scales[8]                     (82)
 *            10-bit index = qs | bits 2l..2l+1 of qh[g] << 8; sign bytes
 *            are stored whole
 * Sign bit j of a group's sign byte negates its value j. */
#include "quants_impl.h"

static inline float grid8(uint64_t g, int j) { return (float)((g >> (8 * j)) & 0xFF); }

static inline void put8(float *y, float db, uint64_t g, unsigned signs) {
    for (int j = 0; j < 8; j++) {
        const float v = db * grid8(g, j);
        y[j] = (signs >> j) & 1 ? -v : v;
    }
}

DSV3_DEQ(iq2_xxs) {
    for (int64_t b = 0; b < nb; b++, x += 66) {
        const float d = q_h(x);
        for (int g = 0; g < 8; g++) {
            const uint8_t *p = x + 2 + 8 * g;
            const uint32_t aux = q_le32(p + 4);
            const float db = d * (0.5f + (aux >> 28)) * 0.25f;
            for (int l = 0; l < 4; l++, y += 8)
                put8(y, db, dsv3_iq2xxs_grid[p[l]], dsv3_ksigns_iq2xs[(aux >> (7 * l)) & 127]);
        }
    }
}

DSV3_DEQ(iq2_xs) {
    for (int64_t b = 0; b < nb; b++, x += 74) {
        const float d = q_h(x);
        const uint8_t *sc = x + 66;
        for (int g = 0; g < 8; g++) {
            const float db[2] = {d * (0.5f + (sc[g] & 0x0F)) * 0.25f, d * (0.5f + (sc[g] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++, y += 8) {
                const uint16_t q = q_le16(x + 2 + 2 * (4 * g + l));
                put8(y, db[l / 2], dsv3_iq2xs_grid[q & 511], dsv3_ksigns_iq2xs[q >> 9]);
            }
        }
    }
}

DSV3_DEQ(iq2_s) {
    for (int64_t b = 0; b < nb; b++, x += 82) {
        const float d = q_h(x);
        const uint8_t *qs = x + 2, *signs = x + 34, *qh = x + 66, *sc = x + 74;
        for (int g = 0; g < 8; g++, qs += 4, signs += 4) {
            const float db[2] = {d * (0.5f + (sc[g] & 0x0F)) * 0.25f, d * (0.5f + (sc[g] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++, y += 8) {
                const unsigned idx = qs[l] | (((unsigned)qh[g] << (8 - 2 * l)) & 0x300u);
                put8(y, db[l / 2], dsv3_iq2s_grid[idx], signs[l]);
            }
        }
    }
}
