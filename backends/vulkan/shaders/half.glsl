// half.glsl -- IEEE binary16 <-> f32 by integer operations only, so the
// results do not depend on a device's denormal or rounding modes: the same
// bits as dsv3_f16_to_f32 (backends/wtype.h) and q_f32_to_f16
// (backends/quants/quants_impl.h: round to nearest even, finite values
// beyond the f16 range saturate at +-65504, NaN stays NaN).

float half_bits_to_float(uint h) {
    uint s = (h >> 15) << 31, e = (h >> 10) & 31u, m = h & 1023u;
    if (e == 0u) {
        float r = float(m) * (1.0 / 16777216.0); // m * 2^-24: exact, normal
        return s != 0u ? -r : r;
    }
    if (e == 31u) return uintBitsToFloat(s | 0x7f800000u | (m << 13));
    return uintBitsToFloat(s | ((e + 112u) << 23) | (m << 13));
}

uint float_bits_to_half(uint u) {
    uint sign = (u >> 16) & 0x8000u;
    uint a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;
    if (a == 0x7f800000u) return sign | 0x7c00u;
    if (a >= 0x477ff000u) return sign | 0x7bffu; // would round to inf
    if (a >= 0x38800000u) {                      // normal f16
        uint r = a - (112u << 23);
        r += 0xfffu + ((r >> 13) & 1u);
        return sign | (r >> 13);
    }
    // Subnormal f16: |v| * 2^24 rounded to an integer, ties to even. An
    // f32 subnormal (or zero) gives 0; so does anything below 2^-25.
    if (a < 0x00800000u) return sign;
    uint e = a >> 23;                            // 1 .. 112
    uint m = (a & 0x7fffffu) | 0x800000u;        // |v| * 2^24 = m * 2^(e - 126)
    uint sh = 126u - e;                          // >= 14
    if (sh > 24u) return sign;
    uint k = m >> sh, rem = m & ((1u << sh) - 1u), halfway = 1u << (sh - 1u);
    if (rem > halfway || (rem == halfway && (k & 1u) != 0u)) k++;
    return sign | k;
}
