/* vk_op_kv.c -- store_kv: latent rows into an F16 or Q8_0 cache on the
 * device, byte for byte what dsv3_quantize_row writes on the CPU (see
 * shaders/store_kv.comp), so a cache means the same on every backend. */
#include "dsv3.h"
#include "vk.h"
#include "vk_spirv/store_kv.h"

#define KV_F16_WG 256u /* one element per invocation */
#define KV_Q8_WG 64u   /* one 32-value block per invocation */

void dsv3_vk_store_kv(dsv3_backend *be, int kv_type, const float *x, int ldx, void *dst, size_t row_bytes, int n,
                      int kvl) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (n <= 0 || kvl <= 0 || dsv3_vk_failed(vk)) return;
    if (row_bytes != dsv3_kv_row_bytes(kv_type, kvl)) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "vulkan store_kv: rows of %zu bytes do not hold %d values of %s",
                     row_bytes, kvl, dsv3_wtype_name(kv_type));
        return;
    }
    if (kv_type == DSV3_W_F32) { /* lib/ writes f32 caches itself; a copy per row if asked */
        for (int t = 0; t < n; t++)
            dsv3_vk_copy(vk, (char *)dst + (size_t)t * row_bytes, x + (size_t)t * (size_t)ldx, row_bytes);
        return;
    }
    if (kv_type != DSV3_W_F16 && kv_type != DSV3_W_Q8_0) {
        dsv3_vk_fail(vk, DSV3_ERR_UNSUPPORTED, "vulkan store_kv: no %s cache", dsv3_wtype_name(kv_type));
        return;
    }
    struct {
        uint64_t x, dst, row_bytes;
        uint32_t ldx, n, kvl, pad;
    } pc = {dsv3_vk_addr(vk, x), dsv3_vk_addr(vk, dst), row_bytes, (uint32_t)ldx, (uint32_t)n, (uint32_t)kvl, 0};
    if (!pc.x || !pc.dst) return;
    const int q8 = kv_type == DSV3_W_Q8_0;
    const uint32_t wg = q8 ? KV_Q8_WG : KV_F16_WG;
    const uint64_t items = (uint64_t)n * (uint64_t)(q8 ? kvl / 32 : kvl);
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, dsv3_spv_store_kv, sizeof dsv3_spv_store_kv, wg, (uint32_t)kv_type);
    if (p) dsv3_vk_dispatch(vk, p, &pc, sizeof pc, (uint32_t)((items + wg - 1) / wg), 1, 1);
}
