/* kv.c -- see kv.h. A row's bytes depend on that row alone; the work is a
 * few hundred values per token and layer, so one thread does it. */
#include "cpu/kv.h"

#include "quants/quants.h"

void dsv3_cpu_store_kv(dsv3_backend *be, int kv_type, const float *x, int ldx, void *dst, size_t row_bytes, int n,
                       int kvl) {
    (void)be;
    for (int t = 0; t < n; t++)
        dsv3_quantize_row(kv_type, x + (size_t)t * (size_t)ldx, (char *)dst + (size_t)t * row_bytes, kvl);
}
