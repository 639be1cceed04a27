/* wtypes.c -- the table of stored weight types: names and block geometry. */
#include "backend.h"

static const struct {
    const char *name;
    int block;           /* elements per block */
    unsigned bytes;      /* bytes per block    */
} types[DSV3_W_COUNT] = {
    [DSV3_W_F32] = {"f32", 1, 4},
    [DSV3_W_F16] = {"f16", 1, 2},
    [DSV3_W_BF16] = {"bf16", 1, 2},
    [DSV3_W_F8_E4M3] = {"fp8_e4m3", 1, 1},
    [DSV3_W_Q8_0] = {"q8_0", 32, 34},
    [DSV3_W_Q4_0] = {"q4_0", 32, 18},
    [DSV3_W_Q4_1] = {"q4_1", 32, 20},
    [DSV3_W_Q5_0] = {"q5_0", 32, 22},
    [DSV3_W_Q5_1] = {"q5_1", 32, 24},
    [DSV3_W_Q2_K] = {"q2_k", 256, 84},
    [DSV3_W_Q3_K] = {"q3_k", 256, 110},
    [DSV3_W_Q4_K] = {"q4_k", 256, 144},
    [DSV3_W_Q5_K] = {"q5_k", 256, 176},
    [DSV3_W_Q6_K] = {"q6_k", 256, 210},
    [DSV3_W_IQ4_NL] = {"iq4_nl", 32, 18},
    [DSV3_W_IQ4_XS] = {"iq4_xs", 256, 136},
    [DSV3_W_IQ1_S] = {"iq1_s", 256, 50},
    [DSV3_W_IQ1_M] = {"iq1_m", 256, 56},
    [DSV3_W_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [DSV3_W_IQ2_XS] = {"iq2_xs", 256, 74},
    [DSV3_W_IQ2_S] = {"iq2_s", 256, 82},
    [DSV3_W_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [DSV3_W_IQ3_S] = {"iq3_s", 256, 110},
};

static int valid(int t) { return t >= 0 && t < DSV3_W_COUNT; }

const char *dsv3_wtype_name(int t) { return valid(t) ? types[t].name : "unknown"; }
int dsv3_wtype_block(int t) { return valid(t) ? types[t].block : 0; }
size_t dsv3_wtype_block_bytes(int t) { return valid(t) ? types[t].bytes : 0; }
size_t dsv3_wtype_size(int t) { return valid(t) && types[t].block == 1 ? types[t].bytes : 0; }

size_t dsv3_wtype_row_bytes(int t, int64_t n) {
    if (!valid(t) || n < 0 || n % types[t].block) return 0;
    return (size_t)(n / types[t].block) * types[t].bytes;
}
