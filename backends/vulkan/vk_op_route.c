/* vk_op_route.c -- expert selection (the route op) on the device: the
 * router's logits stay in device memory and only the picks are written
 * (ids and gate weights, backend memory), so routing costs lib/ no host
 * round trip. One workgroup per token (shaders/route.comp), the rules and
 * tie-breaking of lib/route.c.
 *
 * A model past the shader's fixed shared arrays (more than 1024 experts,
 * 64 groups or 64 picks) is routed on the host instead: logits back,
 * the CPU route (backends/cpu/route.c), picks up. */
#include "config.h"
#include "dsv3.h"
#include "vk.h"
#include "vk_spirv/route.h"

#define ROUTE_WG 128u /* a power of two: the argmax tree halves it */
#define ROUTE_MAXE 1024
#define ROUTE_MAXG 64
#define ROUTE_MAXK 64

static void route_host(dsv3_vk *vk, const dsv3_route_args *a) {
    const size_t nE = (size_t)a->n_tok * (size_t)a->n_experts, nk = (size_t)a->n_tok * (size_t)a->k;
    float *lg = dsv3_vk_host_scratch(vk, 0, sizeof(float) * nE);
    int32_t *ids = dsv3_vk_host_scratch(vk, 1, sizeof(int32_t) * nk);
    float *w = dsv3_vk_host_scratch(vk, 2, sizeof(float) * nk);
    float *work = a->work ? a->work : dsv3_vk_host_scratch(vk, 3, sizeof(float) * 5 * (size_t)a->n_experts);
    if (!lg || !ids || !w || !work) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "vulkan route: no host memory for %d experts", a->n_experts);
        return;
    }
    dsv3_vk_to_host(vk, lg, a->logits, sizeof(float) * nE);
    if (dsv3_vk_failed(vk)) return;
    dsv3_route_args c = *a;
    c.logits = lg;
    c.ids = ids;
    c.weights = w;
    c.work = work;
    dsv3_cpu_route(NULL, &c);
    dsv3_vk_from_host(vk, a->ids, ids, sizeof(int32_t) * nk);
    dsv3_vk_from_host(vk, a->weights, w, sizeof(float) * nk);
}

void dsv3_vk_route(dsv3_backend *be, const dsv3_route_args *a) {
    dsv3_vk *vk = (dsv3_vk *)(void *)be;
    if (dsv3_vk_failed(vk) || a->n_tok <= 0) return;
    const int E = a->n_experts, k = a->k;
    const int grouped = a->topk_method != DSV3_TOPK_GREEDY && a->n_group > 1;
    const int G = grouped ? a->n_group : 1, kept = grouped ? a->topk_group : 1;
    if (a->n_tok > DSV3_MAX_UBATCH || E <= 0 || k <= 0 || k > E || (grouped && (E % G != 0 || kept < 1 || kept > G)) ||
        (grouped && k > kept * (E / G))) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG,
                     "vulkan route: bad shape (n_tok %d, k %d of %d experts, top %d of %d groups)", a->n_tok, k, E,
                     a->topk_group, a->n_group);
        return;
    }
    if (a->bias && a->bias->type != DSV3_W_F32) {
        dsv3_vk_fail(vk, DSV3_ERR_UNSUPPORTED, "vulkan route: a correction bias of type %s (f32 only)",
                     dsv3_wtype_name(a->bias->type));
        return;
    }
    if (E > ROUTE_MAXE || G > ROUTE_MAXG || k > ROUTE_MAXK) {
        route_host(vk, a);
        return;
    }
    struct {
        uint64_t logits, bias, ids, weights;
        uint32_t n, E, k, sigmoid, grouped, n_group, topk_group, noaux, norm;
        float scale;
    } pc = {
        .logits = dsv3_vk_addr(vk, a->logits),
        .ids = dsv3_vk_addr(vk, a->ids),
        .weights = dsv3_vk_addr(vk, a->weights),
        .n = (uint32_t)a->n_tok,
        .E = (uint32_t)E,
        .k = (uint32_t)k,
        .sigmoid = a->scoring == DSV3_SCORE_SIGMOID,
        .grouped = (uint32_t)grouped,
        .n_group = (uint32_t)G,
        .topk_group = (uint32_t)kept,
        .noaux = a->topk_method == DSV3_TOPK_NOAUX_TC,
        .norm = a->norm_topk_prob != 0,
        .scale = a->routed_scaling_factor,
    };
    if (a->bias) /* a bias left on the host goes up with the step: E floats */
        pc.bias = a->bias->device ? ((const dsv3_vk_weight *)a->bias->device)->addr
                                  : dsv3_vk_upload(vk, a->bias->data, sizeof(float) * (size_t)E);
    if (!pc.logits || !pc.ids || !pc.weights || (a->bias && !pc.bias)) return; /* the runtime set the error */
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, dsv3_spv_route, sizeof dsv3_spv_route, ROUTE_WG, 0);
    if (p) dsv3_vk_dispatch(vk, p, &pc, sizeof pc, (uint32_t)a->n_tok, 1, 1);
}
