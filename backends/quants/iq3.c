/* iq3.c -- IQ3_XXS and IQ3_S: super-blocks of 256 in groups of 4 values from
 * a grid of magnitudes (dsv3_iq3xxs_grid: 4..62, dsv3_iq3s_grid: odd 1..15),
 * with signs per 8 values.
 *
 *   IQ3_XXS  d:f16 qs[64] aux:u32[8]                                   (98)
 *            per 32: 8 index bytes; aux bits 7l..7l+6 = sign index of the
 *            8 values l (dsv3_ksigns_iq2xs), bits 28..31 = s;
 *            db = d * (0.5 + s) / 2
 *   IQ3_S    d:f16 qs[64] qh[8] signs[32] scales[4]                     (110)
 *            9-bit index = qs | bit of qh << 8; sign bytes stored whole;
 *            db = d * (1 + 2s), s a nibble of scales per 32 */
#include "quants_impl.h"

static inline float grid4(uint32_t g, int j) { return (float)((g >> (8 * j)) & 0xFF); }

/* Eight values from two grid entries; bit j of signs negates value j. */
static inline void put8(float *y, float db, uint32_t g1, uint32_t g2, unsigned signs) {
    for (int j = 0; j < 4; j++) {
        const float v1 = db * grid4(g1, j), v2 = db * grid4(g2, j);
        y[j] = (signs >> j) & 1 ? -v1 : v1;
        y[j + 4] = (signs >> (j + 4)) & 1 ? -v2 : v2;
    }
}

DSV3_DEQ(iq3_xxs) {
    for (int64_t b = 0; b < nb; b++, x += 98) {
        const float d = q_h(x);
        const uint8_t *qs = x + 2;
        for (int g = 0; g < 8; g++, qs += 8) {
            const uint32_t aux = q_le32(x + 66 + 4 * g);
            const float db = d * (0.5f + (aux >> 28)) * 0.5f;
            for (int l = 0; l < 4; l++, y += 8)
                put8(y, db, dsv3_iq3xxs_grid[qs[2 * l]], dsv3_iq3xxs_grid[qs[2 * l + 1]],
                     dsv3_ksigns_iq2xs[(aux >> (7 * l)) & 127]);
        }
    }
}

DSV3_DEQ(iq3_s) {
    for (int64_t b = 0; b < nb; b++, x += 110) {
        const float d = q_h(x);
        const uint8_t *qs = x + 2, *qh = x + 66, *signs = x + 74, *sc = x + 106;
        for (int g = 0; g < 8; g++, qs += 8, signs += 4) {
            const int s = (sc[g / 2] >> (4 * (g % 2))) & 0x0F;
            const float db = d * (1 + 2 * s);
            const unsigned h = qh[g];
            for (int l = 0; l < 4; l++, y += 8) {
                const unsigned i1 = qs[2 * l] | ((h << (8 - 2 * l)) & 256u);
                const unsigned i2 = qs[2 * l + 1] | ((h << (7 - 2 * l)) & 256u);
                put8(y, db, dsv3_iq3s_grid[i1], dsv3_iq3s_grid[i2], signs[l]);
            }
        }
    }
}
