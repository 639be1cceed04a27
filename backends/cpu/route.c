/* route.c -- the route op for backends whose memory is the host's
 * (scalar, avx2, avx512, neon): lib/route.c's route_token for each token,
 * so every CPU backend selects exactly as the host path without an op
 * table of its own. A few hundred scores per token: not worth a kernel. */
#include <string.h>

#include "backend.h"
#include "config.h"
#include "route.h"

void dsv3_cpu_route(dsv3_backend *be, const dsv3_route_args *a) {
    (void)be;
    if (a->n_tok <= 0 || !a->work) return;
    dsv3_config c;
    memset(&c, 0, sizeof c);
    c.n_routed_experts = a->n_experts;
    c.n_experts_per_tok = a->k;
    c.scoring = a->scoring == DSV3_SCORE_SIGMOID ? DSV3_SCORE_SIGMOID : DSV3_SCORE_SOFTMAX;
    c.topk_method = (enum dsv3_topk_method)a->topk_method;
    c.n_group = a->n_group;
    c.topk_group = a->topk_group;
    c.norm_topk_prob = a->norm_topk_prob;
    c.routed_scaling_factor = a->routed_scaling_factor;
    const float *bias = a->bias && a->bias->type == DSV3_W_F32 ? (const float *)a->bias->data : NULL;
    for (int t = 0; t < a->n_tok; t++) {
        const size_t at = (size_t)t * (size_t)a->k;
        route_token(&c, a->logits + (size_t)t * (size_t)a->n_experts, bias, a->ids + at, a->weights + at, a->work);
    }
}
