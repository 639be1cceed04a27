/* vk_op_moe.c -- routed experts (moe_experts) on the device, or on the
 * CPU helper backend when the layer's experts were left on the host.
 *
 * Device: tokens are grouped by expert in increasing expert id, as the CPU
 * backends do, so every token's output is summed over its experts in the
 * same order for any batch. The token lists and gate weights (host arrays)
 * go up once through the upload ring; then, per picked expert, gate and
 * up are matmuls that gather the expert's token rows of x, swiglu runs on
 * the gathered [m][inter] rows, and down scatters its rows back into out,
 * scaled by the gate weight and accumulated (out is zeroed first). Every
 * dispatch is followed by a barrier, so the experts run one after another
 * and the scratch rows (the args' device scratch: [n][inter] for gate and
 * for up) are reused by each.
 *
 * Host: a layer whose experts are on the host (placement
 * "experts-on-cpu", or "auto" past the budget) reads x back once, runs the
 * CPU helper's moe_experts on the host copy and writes out back once: the
 * CPU helper's bits. x comes back with the routing read-back: moe_prepare,
 * called before it, records a read-ahead of x. So when moe_experts starts,
 * the work recorded since that sync (lib/ records the shared expert there)
 * is only submitted, not waited for: the device runs it while the CPU
 * computes the routed experts, and writing out back waits for both. Without
 * the read-ahead (another caller, a session that came between) x is read
 * back here, after that work. The placement policies never split a layer's
 * experts between device and host; should a layer be split anyway, the
 * whole layer runs on the CPU helper from the host copies of its weights
 * (every weight keeps its host data), so that it still has one summation
 * order, the same for any batch. */
#include <string.h>

#include "dsv3.h"
#include "vk.h"

/* 1 if every routed expert of the layer is on the device. Decided per
 * layer (not per batch), so a token's result never depends on which other
 * tokens share its batch. */
static int layer_on_device(const dsv3_moe_args *a) {
    for (int e = 0; e < a->n_experts; e++)
        if (!dsv3_moe_expert(a->gate, a->expert_stride, e)->device ||
            !dsv3_moe_expert(a->up, a->expert_stride, e)->device ||
            !dsv3_moe_expert(a->down, a->expert_stride, e)->device)
            return 0;
    return 1;
}

static void moe_host(dsv3_vk *vk, const dsv3_moe_args *a) {
    const size_t H = (size_t)a->hidden, n = (size_t)a->n_tok, xb = sizeof(float) * n * H;
    const size_t sb = sizeof(float) * dsv3_moe_scratch_floats(a->n_tok > a->k ? a->n_tok : a->k, H, (size_t)a->inter);
    float *hx = dsv3_vk_host_scratch(vk, 0, xb), *ho = dsv3_vk_host_scratch(vk, 1, xb);
    float *hs = dsv3_vk_host_scratch(vk, 2, sb);
    if (!hx || !ho || !hs) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "vulkan moe_experts: no host memory for %zu tokens", n);
        return;
    }
    const void *ahead = dsv3_vk_ahead(vk, a->x, xb);
    if (ahead) {
        /* One pass out of the read-ahead buffer (host-visible memory may
         * be uncached), then the device starts on what was recorded since
         * the routing read-back. */
        memcpy(hx, ahead, xb);
        if (dsv3_vk_submit_nowait(vk)) return;
    } else {
        dsv3_vk_to_host(vk, hx, a->x, xb);
        if (dsv3_vk_failed(vk)) return;
    }
    dsv3_moe_args c = *a;
    c.x = hx;
    c.out = ho;
    c.scratch = hs;
    dsv3_vk_cpu_ops(vk)->moe_experts(dsv3_vk_cpu(vk), &c);
    if (ahead && dsv3_vk_overlap_test_mode() == 2)
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "moe_experts: device failure while the CPU computed (test)");
    dsv3_vk_from_host(vk, a->out, ho, xb); /* waits for the device first */
}

static void moe_device(dsv3_vk *vk, const dsv3_moe_args *a) {
    const int n = a->n_tok, k = a->k, E = a->n_experts, H = a->hidden, I = a->inter;
    /* Counting sort of the (token, slot) pairs by expert: rows[] holds
     * each expert's tokens in increasing order from off[e]. */
    const size_t nk = (size_t)n * (size_t)k;
    int32_t *off = dsv3_vk_host_scratch(vk, 0, sizeof(int32_t) * (2 * (size_t)E + 1 + nk) + sizeof(float) * nk);
    if (!off) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "vulkan moe_experts: no host memory for %d experts", E);
        return;
    }
    int32_t *cnt = off + E + 1, *rows = cnt + E;
    float *wts = (float *)(void *)(rows + nk);
    memset(cnt, 0, sizeof(int32_t) * (size_t)E);
    for (size_t i = 0; i < nk; i++) cnt[a->ids[i]]++;
    off[0] = 0;
    for (int e = 0; e < E; e++) off[e + 1] = off[e] + cnt[e];
    for (int t = 0; t < n; t++)
        for (int j = 0; j < k; j++) {
            const int e = a->ids[t * k + j];
            const int at = off[e + 1] - cnt[e]--; /* next free row of expert e */
            rows[at] = t;
            wts[at] = a->weights[t * k + j];
        }
    for (int e = 0; e < E; e++)
        for (int i = off[e] + 1; i < off[e + 1]; i++)
            if (rows[i] == rows[i - 1]) {
                /* the scatter of down would write one row twice at once */
                dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "vulkan moe_experts: token %d picks expert %d twice", rows[i], e);
                return;
            }

    float *g = a->scratch, *u = a->scratch + (size_t)n * (size_t)I;
    const uint64_t x = dsv3_vk_addr(vk, a->x), out = dsv3_vk_addr(vk, a->out);
    const uint64_t ga = dsv3_vk_addr(vk, g), ua = dsv3_vk_addr(vk, u);
    const uint64_t ra = dsv3_vk_upload(vk, rows, sizeof(int32_t) * nk), wa = dsv3_vk_upload(vk, wts, sizeof(float) * nk);
    if (!x || !out || !ga || !ua || !ra || !wa) return; /* the sticky error says why */
    dsv3_vk_fill(vk, a->out, sizeof(float) * (size_t)n * (size_t)H, 0);
    for (int e = 0; e < E && !dsv3_vk_failed(vk); e++) {
        const int m = off[e + 1] - off[e];
        if (!m) continue;
        const uint64_t er = ra + sizeof(int32_t) * (uint64_t)off[e], ew = wa + sizeof(float) * (uint64_t)off[e];
        dsv3_vk_matmul_ex(vk, dsv3_moe_expert(a->gate, a->expert_stride, e), x, H, er, ga, I, 0, 0, 0, m);
        dsv3_vk_matmul_ex(vk, dsv3_moe_expert(a->up, a->expert_stride, e), x, H, er, ua, I, 0, 0, 0, m);
        dsv3_vk_swiglu((dsv3_backend *)vk, g, u, g, (size_t)m * (size_t)I);
        dsv3_vk_matmul_ex(vk, dsv3_moe_expert(a->down, a->expert_stride, e), ga, I, 0, out, H, er, ew, 1, m);
    }
}

/* Before the routing read-back: a layer whose experts run on the host
 * has x copied back at that sync (see moe_host). Decided per layer as in
 * moe_experts; ids and weights are not set yet. Both paths take ids and
 * weights from host memory (1), but for one token whose experts are all
 * on the device the picks stay there (0: vk_op_moe_dev.c). */
int dsv3_vk_moe_prepare(dsv3_backend *be, const dsv3_moe_args *a) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (!dsv3_vk_failed(vk) && dsv3_vk_moe_dev_ok(a)) return 0;
    if (dsv3_vk_failed(vk) || a->n_tok <= 0 || a->n_tok > DSV3_MAX_UBATCH || a->hidden <= 0 || !a->x ||
        a->n_experts <= 0 || dsv3_vk_overlap_test_mode() == 1 || layer_on_device(a))
        return 1;
    dsv3_vk_read_ahead(vk, a->x, sizeof(float) * (size_t)a->n_tok * (size_t)a->hidden);
    return 1;
}

void dsv3_vk_moe_experts(dsv3_backend *be, const dsv3_moe_args *a) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (dsv3_vk_failed(vk) || a->n_tok <= 0) return;
    if (a->n_tok > DSV3_MAX_UBATCH || a->k <= 0 || a->k > a->n_experts || a->hidden <= 0 || a->inter <= 0) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "vulkan moe_experts: bad shape (n_tok %d, k %d of %d experts)",
                     a->n_tok, a->k, a->n_experts);
        return;
    }
    if (!a->ids) { /* moe_prepare let the picks stay on the device */
        if (dsv3_vk_moe_dev_ok(a)) dsv3_vk_moe_dev(vk, a);
        else dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "vulkan moe_experts: no host ids for this layer");
        return;
    }
    for (int i = 0; i < a->n_tok * a->k; i++)
        if (a->ids[i] < 0 || a->ids[i] >= a->n_experts) {
            dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "vulkan moe_experts: expert id %d is outside [0, %d)", a->ids[i],
                         a->n_experts);
            return;
        }
    if (layer_on_device(a)) {
        if (!a->scratch) {
            dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "vulkan moe_experts: no scratch given");
            return;
        }
        moe_device(vk, a);
    } else {
        moe_host(vk, a);
    }
}
