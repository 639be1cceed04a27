/* vk_place.c -- the placement policies of the Vulkan backend (vk_place.h).
 *
 * Decode reads every weight it uses once per token, so what matters is
 * that the weights read for EVERY token sit in fast device memory: the
 * attention, the routers, the shared experts, the dense layers and the
 * head. Routed experts are read only when picked (k of n per token), so
 * they come last, a whole layer at a time: a layer is then either on the
 * device or on the host, and its MoE op runs in one place with one
 * summation order. The embedding table is read one row per token and
 * never goes to the device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"
#include "vk_place.h"

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

int dsv3_vk_place_policy(const char *name, int *policy, dsv3_err *e) {
    if (!name || !strcmp(name, "auto")) *policy = DSV3_VK_PLACE_AUTO;
    else if (!strcmp(name, "gpu")) *policy = DSV3_VK_PLACE_GPU;
    else if (!strcmp(name, "experts-on-cpu")) *policy = DSV3_VK_PLACE_EXPERTS_ON_CPU;
    else
        return err_set(e, DSV3_ERR_INVALID_ARG, "placement '%s' is not one of auto, gpu, experts-on-cpu", name);
    return DSV3_OK;
}

uint64_t dsv3_vk_weight_bytes(const dsv3_weight *w) {
    uint64_t b = (uint64_t)w->rows * (uint64_t)w->row_stride;
    if (w->type == DSV3_W_F8_E4M3 && w->block_r > 0)
        b += (uint64_t)((w->rows + w->block_r - 1) / w->block_r) * (uint64_t)w->scale_cols * sizeof(float);
    return b;
}

/* Headroom kept free of weights when no budget is given: activations,
 * scratch, staging and what the driver itself takes. A sixteenth of the
 * heap, between 64 MiB and 1 GiB. */
static uint64_t headroom(uint64_t heap) {
    uint64_t h = heap / 16;
    return h < 64 * MIB ? 64 * MIB : h > GIB ? GIB : h;
}

/* Device bytes for weights and KV together. */
static uint64_t total_budget(uint64_t heap_bytes, const dsv3_backend_params *p) {
    if (p && p->budget) return p->budget < heap_bytes ? p->budget : heap_bytes;
    return heap_bytes > headroom(heap_bytes) ? heap_bytes - headroom(heap_bytes) : 0;
}

uint64_t dsv3_vk_place_budget(uint64_t heap_bytes, const dsv3_backend_params *p) {
    uint64_t b = total_budget(heap_bytes, p), kv = p ? p->kv_reserve : 0;
    return b > kv ? b - kv : 0;
}

/* Fill order of "auto"; -1: never on the device. */
static int tier(int role) {
    switch (role) {
    case DSV3_ROLE_EMBED: return -1;
    case DSV3_ROLE_SHARED: return 1;
    case DSV3_ROLE_DENSE: return 2;
    case DSV3_ROLE_HEAD: return 3;
    case DSV3_ROLE_EXPERT: return 4;
    default: return 0; /* norms, attention, router, untagged */
    }
}

/* A size for a message: MiB below a GiB, else GiB. */
static void human(char *buf, size_t size, uint64_t b) {
    if (b < GIB) snprintf(buf, size, "%.1f MiB", (double)b / (double)MIB);
    else snprintf(buf, size, "%.2f GiB", (double)b / (double)GIB);
}

static int refuse(dsv3_err *e, const char *policy, uint64_t need, uint64_t heap_bytes, const dsv3_backend_params *p) {
    uint64_t avail = dsv3_vk_place_budget(heap_bytes, p), total = total_budget(heap_bytes, p);
    char hn[32], ha[32];
    human(hn, sizeof hn, need);
    human(ha, sizeof ha, avail);
    return err_set(e, DSV3_ERR_NO_MEMORY,
                   "placement '%s' needs %llu bytes (%s) of weights on the device, but %llu bytes (%s) are "
                   "available: a budget of %llu bytes less %llu kept for the KV cache; use placement 'auto' "
                   "or a larger budget",
                   policy, (unsigned long long)need, hn, (unsigned long long)avail, ha, (unsigned long long)total,
                   (unsigned long long)(p ? p->kv_reserve : 0));
}

/* "gpu" and "experts-on-cpu": a fixed set that fits or is refused. */
static int place_fixed(dsv3_weight *const *ws, int n, int experts_too, uint64_t heap_bytes,
                       const dsv3_backend_params *p, char *on_device, dsv3_err *e) {
    uint64_t need = 0, avail = dsv3_vk_place_budget(heap_bytes, p);
    for (int i = 0; i < n; i++) {
        int t = ws[i] ? tier(ws[i]->role) : -1;
        on_device[i] = (char)(t >= 0 && (t < 4 || experts_too));
        if (on_device[i]) need += dsv3_vk_weight_bytes(ws[i]);
    }
    if (need <= avail) return DSV3_OK;
    memset(on_device, 0, (size_t)n);
    return refuse(e, experts_too ? "gpu" : "experts-on-cpu", need, heap_bytes, p);
}

typedef struct order_key {
    int tier, layer, index;
} order_key;

static int cmp_key(const void *pa, const void *pb) {
    const order_key *a = pa, *b = pb;
    if (a->tier != b->tier) return a->tier < b->tier ? -1 : 1;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* "auto". Tiers 0-3 weight by weight (in layer order: whatever fits);
 * routed experts a whole layer at a time. Layers go in increasing index
 * (layer 0 first, the MTP layer last): every layer is read once per
 * token, so no layer is worth more than another, and the MTP layer is the
 * one a plain decode does not use. A layer that does not fit is skipped
 * and later (smaller) ones are still tried, so the budget is used. */
static int place_auto(dsv3_weight *const *ws, int n, uint64_t avail, char *on_device, dsv3_err *e) {
    order_key *k = malloc(sizeof *k * (size_t)(n ? n : 1));
    if (!k) return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory placing %d weights", n);
    int m = 0;
    for (int i = 0; i < n; i++) {
        on_device[i] = 0;
        if (ws[i] && tier(ws[i]->role) >= 0) k[m++] = (order_key){tier(ws[i]->role), ws[i]->layer, i};
    }
    qsort(k, (size_t)m, sizeof *k, cmp_key);
    uint64_t used = 0;
    for (int j = 0; j < m;) {
        if (k[j].tier < 4) {
            uint64_t b = dsv3_vk_weight_bytes(ws[k[j].index]);
            if (b <= avail - used) {
                on_device[k[j].index] = 1;
                used += b;
            }
            j++;
            continue;
        }
        int end = j; /* [j, end): one layer's routed experts */
        uint64_t b = 0;
        while (end < m && k[end].layer == k[j].layer) b += dsv3_vk_weight_bytes(ws[k[end++].index]);
        if (b <= avail - used) {
            for (int i = j; i < end; i++) on_device[k[i].index] = 1;
            used += b;
        }
        j = end;
    }
    free(k);
    return DSV3_OK;
}

int dsv3_vk_place(dsv3_weight *const *ws, int n, uint64_t heap_bytes, const dsv3_backend_params *p, char *on_device,
                  dsv3_err *e) {
    int policy;
    if (n < 0 || (n > 0 && (!ws || !on_device)))
        return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_vk_place: bad arguments (n = %d)", n);
    int rc = dsv3_vk_place_policy(p ? p->placement : NULL, &policy, e);
    if (rc) return rc;
    if (policy == DSV3_VK_PLACE_AUTO) return place_auto(ws, n, dsv3_vk_place_budget(heap_bytes, p), on_device, e);
    return place_fixed(ws, n, policy == DSV3_VK_PLACE_GPU, heap_bytes, p, on_device, e);
}
