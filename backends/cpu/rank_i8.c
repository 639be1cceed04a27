/* rank_i8.c -- the rank_i8 op for backends without a kernel of their own
 * (scalar, neon, and vulkan, whose draft head lives in host memory):
 * lib/mtp_draft.c's reference loop. */
#include "backend.h"
#include "mtp_draft.h"

int32_t dsv3_cpu_rank_i8(dsv3_backend *be, const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                         const int8_t *x) {
    (void)be;
    return dsv3_draft_rank_ref(q, scale, rows, cols, x);
}
