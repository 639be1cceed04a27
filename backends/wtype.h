/* wtype.h -- element decoders shared by the CPU backends (inline, no state). */
#ifndef DSV3_WTYPE_H
#define DSV3_WTYPE_H

#include <stdint.h>
#include <string.h>

static inline float dsv3_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float dsv3_bf16_to_f32(uint16_t h) { return dsv3_bits_to_f32((uint32_t)h << 16); }

/* IEEE binary16 -> f32, subnormals and inf/nan included. */
static inline float dsv3_f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023;
    if (e == 0) {
        float r = (float)m * (1.0f / 16777216.0f); /* m * 2^-24 */
        return s ? -r : r;
    }
    if (e == 31) return dsv3_bits_to_f32(s | 0x7f800000u | (m << 13));
    return dsv3_bits_to_f32(s | ((e + 112) << 23) | (m << 13));
}

/* OCP FP8 E4M3FN -> f32: bias 7, no infinities, S.1111.111 is NaN. */
static inline float dsv3_fp8e4m3_to_f32(uint8_t v) {
    uint32_t s = (uint32_t)(v >> 7) << 31, e = (v >> 3) & 15, m = v & 7;
    if (e == 0) {
        float r = (float)m * (1.0f / 512.0f); /* m/8 * 2^-6 */
        return s ? -r : r;
    }
    if (e == 15 && m == 7) return dsv3_bits_to_f32(s | 0x7fc00000u);
    return dsv3_bits_to_f32(s | ((e + 120) << 23) | (m << 20));
}

#endif
