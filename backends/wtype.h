/* wtype.h -- element decoders shared by the CPU backends (inline, no state). */
#ifndef DSV3_WTYPE_H
#define DSV3_WTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"

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

/* Bytes of one 32-value block of the legacy ggml types (Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, IQ4_NL): dsv3_wtype_block_bytes, as a constant that the
 * SIMD kernels' compilers can fold. */
static inline size_t dsv3_b32_bytes(int type) {
    switch (type) {
    case DSV3_W_Q8_0: return 34;
    case DSV3_W_Q4_1: return 20;
    case DSV3_W_Q5_0: return 22;
    case DSV3_W_Q5_1: return 24;
    default: return 18; /* Q4_0, IQ4_NL */
    }
}

#endif
