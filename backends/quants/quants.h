/* quants.h -- ggml block formats: dequantization (bit-exact with libggml's
 * to_float) and quantization (the algorithms of ggml's reference quantizers,
 * the ones llama-quantize uses without an importance matrix).
 *
 * Rows are n elements of one stored type (enum dsv3_wtype), n a multiple of
 * dsv3_wtype_block(type); the bytes are exactly as in a GGUF file
 * (little-endian fields, read byte by byte: any alignment, any host byte
 * order). No allocation, no global state, thread-safe. */
#ifndef DSV3_QUANTS_H
#define DSV3_QUANTS_H

#include <stddef.h>
#include <stdint.h>

/* dst[0..n) = the values of the row at src. Every block type plus F32, F16
 * and BF16. An unsupported type (FP8, which needs its scale tensor) or an n
 * that is not a multiple of the block writes n zeros. */
void dsv3_dequantize_row(int type, const void *src, float *dst, int64_t n);

/* Quantize n floats into dst; returns the bytes written
 * (dsv3_wtype_row_bytes(type, n)), or 0 for an unsupported type or a bad n.
 * Types: Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K, F32 F16 BF16.
 * The block quantizers perform ggml's quantize_row_*_ref operations (so
 * ordinary input should give ggml's bytes; verified through the error
 * statistics of tests/test_quantize.c, not byte by byte). Output is deterministic and finite for any finite input:
 * scales that would overflow f16 saturate at 65504 (ggml: inf), F16/BF16
 * values saturate at their largest finite value; in block types NaN counts
 * as 0 and +-inf as +-FLT_MAX. */
size_t dsv3_quantize_row(int type, const float *src, void *dst, int64_t n);

/* 1 if dsv3_quantize_row supports the type. */
int dsv3_quantize_supported(int type);

#endif
