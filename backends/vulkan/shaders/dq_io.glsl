/* dq_io.glsl -- what the weight decoders (dequant_*.glsl) share: device
 * address views, little-endian block field readers, element decoders.
 * No push constants or specialization constants here, so any shader may
 * include a dequant_<family>.glsl and decode stored rows.
 *
 * Weights are the file's bytes unchanged. Every block type has an even
 * block size and rows start at even offsets, so block fields are read as
 * 16-bit words (storageBuffer16BitAccess; no 16-bit arithmetic is needed);
 * FP8 rows may have any length and are read as bytes.
 *
 * Decoded values are bit-exact with dsv3_dequantize_row: products and sums
 * are `precise` where a fused multiply-add could otherwise change them. */
#ifndef DSV3_DQ_IO_GLSL
#define DSV3_DQ_IO_GLSL

#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require

/* Stored weight types: the values of enum dsv3_wtype (backends/backend.h;
 * vk_op_matmul.c asserts that these numbers still match). */
#define T_F32 0u
#define T_F16 1u
#define T_BF16 2u
#define T_F8_E4M3 3u
#define T_Q8_0 4u
#define T_Q4_0 5u
#define T_Q4_1 6u
#define T_Q5_0 7u
#define T_Q5_1 8u
#define T_Q2_K 9u
#define T_Q3_K 10u
#define T_Q4_K 11u
#define T_Q5_K 12u
#define T_Q6_K 13u
#define T_IQ4_NL 14u
#define T_IQ4_XS 15u
#define T_IQ1_S 16u
#define T_IQ1_M 17u
#define T_IQ2_XXS 18u
#define T_IQ2_XS 19u
#define T_IQ2_S 20u
#define T_IQ3_XXS 21u
#define T_IQ3_S 22u

layout(buffer_reference, std430, buffer_reference_align = 2) readonly buffer BufU16 { uint16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 1) readonly buffer BufU8 { uint8_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufF32 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer BufI32 { int v[]; };
/* The i-quant grids are read from device memory (dsv3_vk_iq_grid() in
 * vk_iq_grid.c uploads the one of a type): a large constant array in a
 * shader becomes a per-invocation copy on many compilers. Packed entries:
 * IQ1_S/IQ1_M and IQ2_*: 2 bits per coordinate, coordinate j at bits
 * 2j..2j+1 (the index of its level); IQ3_*: the four bytes as stored. */
layout(buffer_reference, std430, buffer_reference_align = 4) readonly buffer BufU32 { uint v[]; };

/* Byte o, and the little-endian u16 / u32 at even offset o, of a block. */
uint dq_b8(BufU16 p, uint o) { return (uint(p.v[o >> 1]) >> ((o & 1u) * 8u)) & 0xFFu; }
uint dq_b16(BufU16 p, uint o) { return uint(p.v[o >> 1]); }
uint dq_b32(BufU16 p, uint o) { return uint(p.v[o >> 1]) | (uint(p.v[(o >> 1) + 1u]) << 16); }
int dq_sext8(uint b) { return int(b << 24) >> 24; }

/* IEEE binary16 -> f32, subnormals exact (as dsv3_f16_to_f32). */
float dq_f16(uint h) {
    uint s = (h >> 15) << 31, e = (h >> 10) & 31u, m = h & 1023u;
    if (e == 0u) {
        float r = float(m) * (1.0 / 16777216.0);
        return s != 0u ? -r : r;
    }
    if (e == 31u) return uintBitsToFloat(s | 0x7f800000u | (m << 13));
    return uintBitsToFloat(s | ((e + 112u) << 23) | (m << 13));
}

/* OCP FP8 E4M3FN -> f32 (as dsv3_fp8e4m3_to_f32). */
float dq_fp8(uint v) {
    uint s = (v >> 7) << 31, e = (v >> 3) & 15u, m = v & 7u;
    if (e == 0u) {
        float r = float(m) * (1.0 / 512.0);
        return s != 0u ? -r : r;
    }
    if (e == 15u && m == 7u) return uintBitsToFloat(s | 0x7fc00000u);
    return uintBitsToFloat(s | ((e + 120u) << 23) | (m << 20));
}

/* The sign byte of index i (ggml's ksigns_iq2xs): bit 7 makes the number
 * of set bits even. */
uint dq_ksigns(uint i) { return i | ((uint(bitCount(i)) & 1u) << 7); }

#endif
