/* iq4.c -- IQ4_NL (blocks of 32) and IQ4_XS (super-blocks of 256): 4-bit
 * indices into the 16 non-linear levels dsv3_kvalues_iq4nl.
 *
 *   IQ4_NL  d:f16 qs[16]                                 v = d * kv[nib]
 *   IQ4_XS  d:f16 scales_h:u16 scales_l[4] qs[128]       v = d*(ls-32) * kv[nib]
 * Within 32 elements, j < 16 is the low nibble of qs[j], j + 16 the high one.
 * IQ4_XS group g (of 32) has the 6-bit scale ls = nibble g of scales_l (low
 * nibble first) | bits 2g..2g+1 of scales_h << 4. */
#include "quants_impl.h"

DSV3_DEQ(iq4_nl) {
    for (int64_t b = 0; b < nb; b++, x += 18, y += 32) {
        const float d = q_h(x);
        const uint8_t *qs = x + 2;
        for (int j = 0; j < 16; j++) {
            y[j] = d * dsv3_kvalues_iq4nl[qs[j] & 0x0F];
            y[j + 16] = d * dsv3_kvalues_iq4nl[qs[j] >> 4];
        }
    }
}

DSV3_DEQ(iq4_xs) {
    for (int64_t b = 0; b < nb; b++, x += 136) {
        const float d = q_h(x);
        const uint16_t sh = q_le16(x + 2);
        const uint8_t *sl = x + 4, *qs = x + 8;
        for (int g = 0; g < 8; g++, qs += 16, y += 32) {
            const int ls = ((sl[g / 2] >> (4 * (g % 2))) & 0x0F) | (((sh >> (2 * g)) & 3) << 4);
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * dsv3_kvalues_iq4nl[qs[j] & 0x0F];
                y[j + 16] = dl * dsv3_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}
