/* vk_op_moe_dev.c -- the routed experts of one token (a decode step)
 * straight from the route op's picks in device memory: nothing is read
 * back, so a decode step whose layers are all on the device syncs only
 * for its logits.
 *
 * shaders/moe_slots.comp sorts the k picks by increasing expert id, the
 * order in which the gathered path (vk_op_moe.c) sums a token's experts,
 * and writes for each the {weight, scales} addresses of its gate, up and
 * down (from the layer's expert table, uploaded with the step) and its
 * gate weight. Then, per slot, the dispatches of the gathered path for a
 * one-token expert: gate and up (the matmul shader reads its weight's
 * address from the slot: MM_WSLOT), swiglu, down scaled by the gate weight
 * and accumulated into out. The same shaders on the same shapes in the
 * same order: the gathered path's bits.
 *
 * It applies when every expert of the layer is on the device in one type
 * and shape, as the loaders store them: the shader and its push constants
 * are chosen on the host, from expert 0. */
#include <string.h>

#include "dsv3.h"
#include "vk.h"
#include "vk_matmul.h"
#include "vk_spirv/moe_slots.h"

#define MAX_K 64 /* moe_slots.comp's arrays */

static int same_form(const dsv3_weight *a, const dsv3_weight *b) {
    return b->device && a->type == b->type && a->rows == b->rows && a->cols == b->cols &&
           a->row_stride == b->row_stride && a->block_r == b->block_r && a->block_c == b->block_c &&
           a->scale_cols == b->scale_cols;
}

int dsv3_vk_moe_dev_ok(const dsv3_moe_args *a) {
    if (a->n_tok != 1 || !a->dev_ids || !a->dev_weights || a->k <= 0 || a->k > MAX_K || a->k > a->n_experts)
        return 0;
    for (int e = 0; e < a->n_experts; e++)
        if (!same_form(a->gate, dsv3_moe_expert(a->gate, a->expert_stride, e)) ||
            !same_form(a->up, dsv3_moe_expert(a->up, a->expert_stride, e)) ||
            !same_form(a->down, dsv3_moe_expert(a->down, a->expert_stride, e)))
            return 0;
    return 1;
}

/* One expert matmul of the gathered path for one token, its weight read
 * from the slot at `slot` (w: expert 0's, for the type and shape). */
static void slot_matmul(dsv3_vk *vk, const dsv3_weight *w, uint64_t slot, uint64_t x, int ldx, uint64_t y, int ldy,
                        uint64_t scale, int accumulate) {
    dsv3_vk_mm_pc pc;
    if (dsv3_vk_mm_weight(vk, w, "moe_experts", &pc)) return;
    pc.w = slot;
    pc.x = x;
    pc.y = y;
    pc.tscale = scale;
    pc.ldx = (uint32_t)ldx;
    pc.ldy = (uint32_t)ldy;
    pc.n = 1;
    pc.flags = DSV3_VK_MM_WSLOT | (accumulate ? DSV3_VK_MM_ACCUMULATE : 0u);
    dsv3_vk_mm_dispatch(vk, w->type, &pc, (pc.rows + DSV3_VK_MM_ROWS - 1) / DSV3_VK_MM_ROWS);
}

void dsv3_vk_moe_dev(dsv3_vk *vk, const dsv3_moe_args *a) {
    const int E = a->n_experts, k = a->k, H = a->hidden, I = a->inter;
    if (!a->scratch) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "vulkan moe_experts: no scratch given");
        return;
    }
    /* The layer's expert table: {w, scales} of gate, up and down. */
    uint64_t *tab = dsv3_vk_host_scratch(vk, 0, sizeof(uint64_t) * 6 * (size_t)E);
    if (!tab) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "vulkan moe_experts: no host memory for %d experts", E);
        return;
    }
    for (int e = 0; e < E; e++) {
        const dsv3_weight *w[3] = {dsv3_moe_expert(a->gate, a->expert_stride, e),
                                   dsv3_moe_expert(a->up, a->expert_stride, e),
                                   dsv3_moe_expert(a->down, a->expert_stride, e)};
        for (int q = 0; q < 3; q++) {
            const dsv3_vk_weight *d = w[q]->device;
            tab[6 * e + 2 * q] = d->addr;
            tab[6 * e + 2 * q + 1] = d->scale_addr;
        }
    }
    /* Scratch (>= k * (2H + 2I + 1) floats): g [I], u [I], then 8-byte
     * aligned the slots [k][6] and the sorted gate weights [k]. */
    float *g = a->scratch, *u = a->scratch + I;
    char *sl = (char *)(void *)a->scratch + (((size_t)2 * (size_t)I * sizeof(float) + 7) & ~(size_t)7);
    float *ws = (float *)(void *)(sl + 48 * (size_t)k);
    struct {
        uint64_t ids, weights, table, slots, wsorted;
        uint32_t k, E;
    } pc = {dsv3_vk_addr(vk, a->dev_ids), dsv3_vk_addr(vk, a->dev_weights),
            dsv3_vk_upload(vk, tab, sizeof(uint64_t) * 6 * (size_t)E), dsv3_vk_addr(vk, sl), dsv3_vk_addr(vk, ws),
            (uint32_t)k, (uint32_t)E};
    const uint64_t x = dsv3_vk_addr(vk, a->x), out = dsv3_vk_addr(vk, a->out);
    const uint64_t ga = dsv3_vk_addr(vk, g), ua = dsv3_vk_addr(vk, u);
    if (!pc.ids || !pc.weights || !pc.table || !pc.slots || !pc.wsorted || !x || !out || !ga || !ua)
        return; /* the sticky error says why */
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, dsv3_spv_moe_slots, sizeof dsv3_spv_moe_slots, 1, 0);
    if (!p) return;
    dsv3_vk_dispatch(vk, p, &pc, sizeof pc, 1, 1, 1);
    dsv3_vk_fill(vk, a->out, sizeof(float) * (size_t)H, 0);
    for (int j = 0; j < k && !dsv3_vk_failed(vk); j++) {
        const uint64_t slot = pc.slots + 48 * (uint64_t)j;
        slot_matmul(vk, a->gate, slot, x, H, ga, I, 0, 0);
        slot_matmul(vk, a->up, slot + 16, x, H, ua, I, 0, 0);
        dsv3_vk_swiglu((dsv3_backend *)(void *)vk, g, u, g, (size_t)I);
        slot_matmul(vk, a->down, slot + 32, ga, I, out, H, pc.wsorted + 4 * (uint64_t)j, 1);
    }
}
