/* pack.c -- the packed copy of a weight (opt-in, dsv3_model_params.repack):
 * the same blocks, bytes unchanged, in another order.
 *
 * The integer path takes Q8_0, Q4_0, Q5_0 and Q4_K by groups of 8 rows
 * (q8_kernels.h). Read from the stored layout, a group is 8 streams a row
 * apart, or, as the kernels walk it, 8 slices of the thread's rows; either
 * way a core keeps 8 streams in flight, and on the 2-core AMD EPYC that
 * costs about 15 % of the read bandwidth (decode reads every weight once
 * per token, so decode is that much slower). The packed copy puts rows
 * 8k..8k+7 side by side block by block: block 0 of row 8k, of row 8k+1,
 * ..., of row 8k+7, then block 1 of each, ...; a group is then one
 * sequential stream. The kernels are the same, so are the bits.
 * Measured (AVX-512 kernels, one core, 131,072 x 2,048 from DRAM, one
 * token): Q8_0 29.1 -> 37.3 GB/s, Q4_0 23.7 -> 24.9, Q5_0 23.6 -> 25.8
 * (those two are compute-bound on one core); 8 tokens: Q8_0 1.41x. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <string.h>

#include "avx2.h"

int avx2_pack_rows8_ok(const dsv3_weight *w) {
    switch (w->type) {
    case DSV3_W_Q8_0:
    case DSV3_W_Q4_0:
    case DSV3_W_Q5_0: break;
    /* Q4_K: its groups read 8 x 144 bytes a block, and the 8 streams ran
     * as fast as the packed one or faster (AVX-512 decode from DRAM, one
     * core: 33.7 against 30.5-33.4 GB/s over prefetch distances of 8 to
     * 48 KiB), so it stays in place. The kernels would take it. */
    default: return 0;
    }
    return w->rows >= 8 && w->rows % 8 == 0 && w->cols > 0 && w->cols % dsv3_wtype_block(w->type) == 0 && w->data;
}

size_t avx2_pack_rows8_bytes(const dsv3_weight *w) {
    return avx2_pack_rows8_ok(w) ? (size_t)w->rows * dsv3_wtype_row_bytes(w->type, w->cols) : 0;
}

void avx2_pack_rows8(const dsv3_weight *w, void *dst, int64_t r0, int64_t r1) {
    const size_t bb = dsv3_wtype_block_bytes(w->type);
    const int64_t nb = w->cols / dsv3_wtype_block(w->type);
    uint8_t *out = (uint8_t *)dst + (size_t)r0 * (size_t)nb * bb;
    for (int64_t r = r0; r < r1; r += 8) {
        const uint8_t *src[8];
        for (int i = 0; i < 8; i++) src[i] = (const uint8_t *)w->data + (size_t)(r + i) * w->row_stride;
        for (int64_t b = 0; b < nb; b++)
            for (int i = 0; i < 8; i++, out += bb) memcpy(out, src[i] + (size_t)b * bb, bb);
    }
}

#else
typedef int dsv3_avx2_pack_unused; /* ISO C: no empty translation unit */
#endif
