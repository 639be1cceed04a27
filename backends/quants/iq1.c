/* iq1.c -- IQ1_S and IQ1_M: super-blocks of 256 in groups of 8 values from
 * the ternary grid dsv3_iq1s_grid (bytes are int8 -1/0/+1), shifted by
 * +-1/8: v = dl * (grid + delta).
 *
 *   IQ1_S  d:f16 qs[32] qh:u16[8]                                       (50)
 *          per 32: 11-bit index l = qs[4g+l] | bits 3l..3l+2 of qh << 8;
 *          bits 12..14: s, dl = d * (2s + 1); bit 15: delta = -1/8 (else +1/8)
 *   IQ1_M  qs[32] qh[16] scales:u16[4]                                   (56)
 *          per 8 values: 3 index bits and a delta bit in a nibble of qh;
 *          3-bit scales per 16; the f16 d is spread over the top nibbles of
 *          the four scale words. */
#include "quants_impl.h"

#define IQ1_DELTA 0.125f

static inline void put8(float *y, float dl, uint64_t g, float delta) {
    for (int j = 0; j < 8; j++) {
        int v = (int)((g >> (8 * j)) & 0xFF);
        if (v > 127) v -= 256;
        y[j] = dl * (v + delta);
    }
}

DSV3_DEQ(iq1_s) {
    for (int64_t b = 0; b < nb; b++, x += 50) {
        const float d = q_h(x);
        const uint8_t *qs = x + 2;
        for (int g = 0; g < 8; g++, qs += 4) {
            const unsigned qh = q_le16(x + 34 + 2 * g);
            const float dl = d * (2 * ((qh >> 12) & 7) + 1);
            const float delta = qh & 0x8000u ? -IQ1_DELTA : IQ1_DELTA;
            for (int l = 0; l < 4; l++, y += 8)
                put8(y, dl, dsv3_iq1s_grid[qs[l] | (((qh >> (3 * l)) & 7u) << 8)], delta);
        }
    }
}

DSV3_DEQ(iq1_m) {
    for (int64_t b = 0; b < nb; b++, x += 56) {
        const uint8_t *qs = x, *qh = x + 32;
        unsigned sc[4];
        for (int k = 0; k < 4; k++) sc[k] = q_le16(x + 48 + 2 * k);
        const uint16_t dh = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0u) | ((sc[2] >> 4) & 0x0F00u) |
                                       (sc[3] & 0xF000u));
        const float d = dsv3_f16_to_f32(dh);
        for (int g = 0; g < 8; g++, qs += 4, qh += 2) {
            const unsigned s = sc[g / 2] >> (6 * (g % 2));
            const float dl1 = d * (2 * (s & 7) + 1), dl2 = d * (2 * ((s >> 3) & 7) + 1);
            const unsigned idx[4] = {qs[0] | ((qh[0] << 8) & 0x700u), qs[1] | ((qh[0] << 4) & 0x700u),
                                     qs[2] | ((qh[1] << 8) & 0x700u), qs[3] | ((qh[1] << 4) & 0x700u)};
            const unsigned dbit[4] = {qh[0] & 0x08u, qh[0] & 0x80u, qh[1] & 0x08u, qh[1] & 0x80u};
            for (int l = 0; l < 4; l++, y += 8)
                put8(y, l < 2 ? dl1 : dl2, dsv3_iq1s_grid[idx[l]], dbit[l] ? -IQ1_DELTA : IQ1_DELTA);
        }
    }
}
