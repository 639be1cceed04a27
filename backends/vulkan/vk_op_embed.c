/* vk_op_embed.c -- y[t] = row ids[t] of the embedding table.
 *
 * The table normally stays on the host (DSV3_ROLE_EMBED: a row is read per
 * token, not worth device memory): the CPU helper backend decodes the n
 * rows into host scratch, and one from_host writes them. A table on the
 * device is gathered and decoded by the matmul shaders in embed mode (the
 * same decoders, so the values are the same). */
#include <stdint.h>

#include "dsv3.h"
#include "vk.h"
#include "vk_matmul.h"

void dsv3_vk_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y) {
    dsv3_vk *vk = (dsv3_vk *)(void *)be;
    if (dsv3_vk_failed(vk) || n <= 0) return;
    if (!table || !ids || table->rows <= 0 || table->cols <= 0 || table->cols > INT32_MAX) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "embed: bad table or ids");
        return;
    }
    for (int t = 0; t < n; t++)
        if (ids[t] < 0 || ids[t] >= table->rows) {
            dsv3_vk_fail(vk, DSV3_ERR_BAD_TOKEN, "embed: token id %d outside [0, %lld)", (int)ids[t],
                         (long long)table->rows);
            return;
        }
    size_t yb = (size_t)n * (size_t)table->cols * sizeof(float);
    if (!table->device) {
        float *ys = dsv3_vk_host_scratch(vk, 0, yb);
        if (!ys) {
            dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "embed: out of host memory");
            return;
        }
        dsv3_vk_cpu_ops(vk)->embed(dsv3_vk_cpu(vk), table, ids, n, ys);
        dsv3_vk_from_host(vk, y, ys, yb);
        return;
    }
    dsv3_vk_mm_pc pc;
    if (dsv3_vk_mm_weight(vk, table, "embed", &pc)) return;
    uint64_t ya = dsv3_vk_addr(vk, y);
    uint64_t ia = dsv3_vk_upload(vk, ids, (size_t)n * sizeof(int32_t));
    if (!ya || !ia) return; /* the runtime set the error */
    pc.x = ia;
    pc.y = ya;
    pc.ldy = pc.cols;
    pc.n = (uint32_t)n;
    pc.flags = DSV3_VK_MM_EMBED;
    uint64_t units = ((uint64_t)pc.cols + DSV3_VK_MM_UNIT - 1) / DSV3_VK_MM_UNIT;
    dsv3_vk_mm_dispatch(vk, table->type, &pc, (units * (uint64_t)n + DSV3_VK_MM_WG - 1) / DSV3_VK_MM_WG);
}
