/* quants.c -- dispatch of dsv3_dequantize_row / dsv3_quantize_row, and the
 * plain types (F32, F16, BF16). */
#include "quants.h"

#include "../backend.h"
#include "quants_impl.h"

typedef void (*deq_fn)(const uint8_t *x, float *y, int64_t nb);
typedef void (*qnt_fn)(const float *x, uint8_t *y, int64_t nb);

static deq_fn deq_for(int type) {
    switch (type) {
    case DSV3_W_Q8_0: return dsv3_deq_q8_0;
    case DSV3_W_Q4_0: return dsv3_deq_q4_0;
    case DSV3_W_Q4_1: return dsv3_deq_q4_1;
    case DSV3_W_Q5_0: return dsv3_deq_q5_0;
    case DSV3_W_Q5_1: return dsv3_deq_q5_1;
    case DSV3_W_Q2_K: return dsv3_deq_q2_k;
    case DSV3_W_Q3_K: return dsv3_deq_q3_k;
    case DSV3_W_Q4_K: return dsv3_deq_q4_k;
    case DSV3_W_Q5_K: return dsv3_deq_q5_k;
    case DSV3_W_Q6_K: return dsv3_deq_q6_k;
    case DSV3_W_IQ4_NL: return dsv3_deq_iq4_nl;
    case DSV3_W_IQ4_XS: return dsv3_deq_iq4_xs;
    case DSV3_W_IQ1_S: return dsv3_deq_iq1_s;
    case DSV3_W_IQ1_M: return dsv3_deq_iq1_m;
    case DSV3_W_IQ2_XXS: return dsv3_deq_iq2_xxs;
    case DSV3_W_IQ2_XS: return dsv3_deq_iq2_xs;
    case DSV3_W_IQ2_S: return dsv3_deq_iq2_s;
    case DSV3_W_IQ3_XXS: return dsv3_deq_iq3_xxs;
    case DSV3_W_IQ3_S: return dsv3_deq_iq3_s;
    default: return NULL;
    }
}

static qnt_fn qnt_for(int type) {
    switch (type) {
    case DSV3_W_Q8_0: return dsv3_qnt_q8_0;
    case DSV3_W_Q4_0: return dsv3_qnt_q4_0;
    case DSV3_W_Q4_1: return dsv3_qnt_q4_1;
    case DSV3_W_Q5_0: return dsv3_qnt_q5_0;
    case DSV3_W_Q5_1: return dsv3_qnt_q5_1;
    case DSV3_W_Q2_K: return dsv3_qnt_q2_k;
    case DSV3_W_Q3_K: return dsv3_qnt_q3_k;
    case DSV3_W_Q4_K: return dsv3_qnt_q4_k;
    case DSV3_W_Q5_K: return dsv3_qnt_q5_k;
    case DSV3_W_Q6_K: return dsv3_qnt_q6_k;
    default: return NULL;
    }
}

void dsv3_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)src;
    if (n <= 0) return;
    switch (type) {
    case DSV3_W_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case DSV3_W_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = dsv3_f16_to_f32(q_le16(p + 2 * i));
        return;
    case DSV3_W_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = dsv3_bf16_to_f32(q_le16(p + 2 * i));
        return;
    default: break;
    }
    deq_fn f = deq_for(type);
    int bs = dsv3_wtype_block(type);
    if (!f || bs <= 0 || n % bs) {
        memset(dst, 0, (size_t)n * sizeof(float));
        return;
    }
    f(p, dst, n / bs);
}

int dsv3_quantize_supported(int type) {
    return type == DSV3_W_F32 || type == DSV3_W_F16 || type == DSV3_W_BF16 || qnt_for(type) != NULL;
}

size_t dsv3_quantize_row(int type, const float *src, void *dst, int64_t n) {
    uint8_t *p = (uint8_t *)dst;
    if (n < 0 || !dsv3_quantize_supported(type)) return 0;
    size_t bytes = dsv3_wtype_row_bytes(type, n);
    if (n > 0 && bytes == 0) return 0;
    switch (type) {
    case DSV3_W_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return bytes;
    case DSV3_W_F16:
        for (int64_t i = 0; i < n; i++) q_put16(p + 2 * i, q_f32_to_f16(src[i]));
        return bytes;
    case DSV3_W_BF16:
        for (int64_t i = 0; i < n; i++) q_put16(p + 2 * i, q_f32_to_bf16(src[i]));
        return bytes;
    default: break;
    }
    qnt_for(type)(src, p, n / dsv3_wtype_block(type));
    return bytes;
}
