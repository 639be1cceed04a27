// mla_weight.glsl -- reading the attention's up-projections (wkv_b, or
// wk_b and wv_b) in any stored type. The shader is compiled once per
// weight family (WFAM): 0 plain (F32, F16, BF16, F8_E4M3 times its block
// scale), 1 legacy (Q8_0 .. Q5_1), 2 k-quants, 3 IQ4, 4 IQ1, 5 IQ2,
// 6 IQ3; the block families use the matmul's decoders (dequant_*.glsl),
// 32 values at a time. Every value is bit-exact with dsv3_dequantize_row /
// the CPU element decoders. Needs common.glsl and half.glsl first.
// WK_FAM: see wk_unit below.
#ifndef WFAM
#define WFAM 0
#endif

// A weight as the shader sees it: base address, bytes per row, type, and
// `aux`: for FP8 the scales (with blk = block_r | block_c << 16 and
// scols the scale columns), for IQ1-IQ3 the grid.
struct WeightRef {
    uint64_t addr, aux;
    uint stride, type, blk, scols;
};

#if WFAM == 0
uint w_byte(uint64_t a) { return uint(U8Buf(a).v[0]); }

#include "dq_io.glsl" // dq_fp8

float w_elem(WeightRef w, uint r, uint c) {
    uint64_t row = w.addr + uint64_t(r) * w.stride;
    if (w.type == 0u) return F32Buf(row + 4ul * c).v[0];
    if (w.type == 1u) return half_bits_to_float(w_byte(row + 2ul * c) | (w_byte(row + 2ul * c + 1ul) << 8));
    if (w.type == 2u) return uintBitsToFloat((w_byte(row + 2ul * c) | (w_byte(row + 2ul * c + 1ul) << 8)) << 16);
    uint br = w.blk & 0xffffu, bc = w.blk >> 16; // F8_E4M3
    float s = F32Buf(w.aux + 4ul * (uint64_t(r / br) * w.scols + c / bc)).v[0];
    precise float v = dq_fp8(w_byte(row + c)) * s;
    return v;
}
#else
#if WFAM == 1
#include "dequant_legacy.glsl"
#elif WFAM == 2
#include "dequant_k.glsl"
#elif WFAM == 3
#include "dequant_iq4.glsl"
#elif WFAM == 4
#include "dequant_iq1.glsl"
#elif WFAM == 5
#include "dequant_iq2.glsl"
#else
#include "dequant_iq3.glsl"
#endif

// Values 32u .. 32u+31 of row r.
void w_unit(WeightRef w, uint r, uint u, out float v[32]) {
    uint64_t row = w.addr + uint64_t(r) * w.stride;
#if WFAM == 1
    dq_unit_legacy(w.type, row, u, v);
#elif WFAM == 2
    dq_unit_k(w.type, row, u, v);
#elif WFAM == 3
    dq_unit_iq4(w.type, row, u, v);
#elif WFAM == 4
    dq_unit_iq1(w.type, w.aux, row, u, v);
#elif WFAM == 5
    dq_unit_iq2(w.type, w.aux, row, u, v);
#else
    dq_unit_iq3(w.type, w.aux, row, u, v);
#endif
}

// wk_b in another 32-value block family than wv_b (WK_FAM): GGUF stores
// attn_k_b in a 32-block type when its dn columns are no multiple of 256
// -- legacy (Q4_0 .. Q8_0, WK_FAM 1) or IQ4_NL (WK_FAM 3) -- and attn_v_b
// in a k-quant or IQ1-IQ4 type. The key rows are then read by WK_FAM's
// decoders (which need no aux), the value rows by WFAM's.
#if defined(WK_FAM) && WK_FAM != WFAM
#if WK_FAM == 1
#include "dequant_legacy.glsl"
void wk_unit(WeightRef w, uint r, uint u, out float v[32]) {
    dq_unit_legacy(w.type, w.addr + uint64_t(r) * w.stride, u, v);
}
#elif WK_FAM == 3
#include "dequant_iq4.glsl"
void wk_unit(WeightRef w, uint r, uint u, out float v[32]) {
    dq_unit_iq4(w.type, w.addr + uint64_t(r) * w.stride, u, v);
}
#else
#error "WK_FAM: a legacy (1) or IQ4 (3) key only"
#endif
#else
#define wk_unit w_unit
#endif
#endif
