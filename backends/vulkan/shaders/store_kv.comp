#version 450
// store_kv.comp -- write latent rows into an F16 or Q8_0 cache with exactly
// the bytes of dsv3_quantize_row (backends/quants): the CPU backends and
// this one fill a cache identically. Everything that decides a stored bit
// is integer arithmetic or a correctly rounded f32 multiply, so no device
// float mode (denormal flushing, division accuracy) can change it.
//
// F16: one element per invocation. Q8_0: one 32-value block per
// invocation, as q_legacy.c: values are prescaled by 2^-e so that the
// largest magnitude lies in [0.5, 1) (NaN as 0, +-inf as +-FLT_MAX),
// d = amax / 127 and id = 1 / d correctly rounded, q = round-half-away(
// x * id) clamped to +-127, and the f16 scale is d * 2^e.
#include "common.glsl"
#include "half.glsl"

layout(constant_id = 1) const uint KV_TYPE = 1u; // 1 F16, 4 Q8_0 (enum dsv3_wtype)

layout(push_constant) uniform PC {
    uint64_t x, dst, row_bytes;
    uint ldx, n, kvl;
} pc;

// m * 2^p for 0 < m < 2^25 when that is a normal f32, else 0 (the only
// values flushed here are below 2^-126: they quantize to 0 either way).
float make_float(uint m, int p) {
    int msb = findMSB(m);
    int be = p + msb + 127;
    if (be < 1) return 0.0;
    uint mant = msb <= 23 ? (m << uint(23 - msb)) : (m >> uint(msb - 23));
    return uintBitsToFloat((uint(be) << 23) | (mant & 0x7fffffu));
}

// a / b rounded to nearest even, for positive normal a, b with a normal
// quotient: 24 quotient bits by integer division, then the remainder
// decides the rounding.
float div_rn(float a, float b) {
    uint ua = floatBitsToUint(a), ub = floatBitsToUint(b);
    uint ma = (ua & 0x7fffffu) | 0x800000u, mb = (ub & 0x7fffffu) | 0x800000u;
    int ea = int(ua >> 23), eb = int(ub >> 23);
    int k = ma >= mb ? 23 : 24;
    uint64_t num = uint64_t(ma) << uint(k);
    uint q = uint(num / mb), r = uint(num - uint64_t(q) * mb);
    if (2u * r > mb || (2u * r == mb && (q & 1u) != 0u)) q++;
    return make_float(q, ea - eb - k);
}

void store_f16(uint64_t e) {
    uint per_row = pc.kvl;
    if (e >= uint64_t(per_row) * pc.n) return;
    uint t = uint(e / per_row), i = uint(e % per_row);
    uint u = U32Buf(pc.x + 4ul * (uint64_t(t) * pc.ldx + i)).v[0];
    U16Buf(pc.dst + uint64_t(t) * pc.row_bytes + 2ul * i).v[0] = uint16_t(float_bits_to_half(u));
}

void store_q8_0(uint64_t blk) {
    uint per_row = pc.kvl / 32u;
    if (blk >= uint64_t(per_row) * pc.n) return;
    uint t = uint(blk / per_row), b = uint(blk % per_row);
    uint64_t src = pc.x + 4ul * (uint64_t(t) * pc.ldx + 32u * b);
    U16Buf out_b = U16Buf(pc.dst + uint64_t(t) * pc.row_bytes + 34ul * b);
    // Magnitudes as (mantissa, exponent) integers: |x| = m * 2^p.
    uint ms[32];
    int ps[32];
    uint neg = 0u, amax_bits = 0u;
    for (uint j = 0u; j < 32u; j++) {
        uint u = U32Buf(src + 4ul * j).v[0];
        uint a = u & 0x7fffffffu;
        if (a > 0x7f800000u) a = 0u;                 // NaN counts as 0
        else if (a == 0x7f800000u) a = 0x7f7fffffu;  // +-inf as +-FLT_MAX
        if ((u >> 31) != 0u) neg |= 1u << j;
        uint e = a >> 23;
        ms[j] = e != 0u ? ((a & 0x7fffffu) | 0x800000u) : a;
        ps[j] = e != 0u ? int(e) - 150 : -149;
        amax_bits = max(amax_bits, a);               // ordered like |x| (no NaN left)
    }
    if (amax_bits == 0u) {
        for (uint w = 0u; w < 17u; w++) out_b.v[w] = uint16_t(0u);
        return;
    }
    // frexp exponent of amax: amax = f * 2^ex, f in [0.5, 1).
    uint am = amax_bits >> 23 != 0u ? ((amax_bits & 0x7fffffu) | 0x800000u) : amax_bits;
    int ap = amax_bits >> 23 != 0u ? int(amax_bits >> 23) - 150 : -149;
    int ex = ap + findMSB(am) + 1;
    float amax_s = make_float(am, ap - ex);          // in [0.5, 1)
    float d = div_rn(amax_s, 127.0);
    float id = div_rn(1.0, d);
    // Scale: f16 of d * 2^ex (a normal f32 unless below 2^-126, then 0).
    uint ud = floatBitsToUint(d);
    int be = int(ud >> 23) + ex;
    uint dbits = be >= 1 ? ((uint(be) << 23) | (ud & 0x7fffffu)) : 0u;
    out_b.v[0] = uint16_t(float_bits_to_half(dbits));
    uint pair = 0u;
    for (uint j = 0u; j < 32u; j++) {
        float xs = ms[j] != 0u ? make_float(ms[j], ps[j] - ex) : 0.0;
        precise float v = xs * id;
        float r = trunc(v);
        if (v - r >= 0.5) r += 1.0;                  // roundf: halves away from zero
        int q = clamp(int(r), -127, 127);
        if ((neg & (1u << j)) != 0u) q = -q;
        uint qb = uint(q) & 0xffu;
        if ((j & 1u) == 0u) pair = qb;
        else out_b.v[1u + j / 2u] = uint16_t(pair | (qb << 8));
    }
}

void main() {
    uint64_t k = uint64_t(dsv3_group_index()) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (KV_TYPE == 4u) store_q8_0(k);
    else store_f16(k);
}
