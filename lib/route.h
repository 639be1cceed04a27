/* route.h -- DeepSeekMoE expert selection for one token, on the host. The
 * backends' route op (backend.h, V4) is this routine on the CPU backends
 * (backends/cpu/route.c) and follows its rules on a device. */
#ifndef DSV3_ROUTE_H
#define DSV3_ROUTE_H

#include <stdint.h>

#include "config.h"

/* logits: [n_experts] router outputs. bias: e_score_correction_bias or NULL.
 * ids/weights: [k] chosen experts in descending selection score and their
 * final gate weights (normalized if norm_topk_prob, times
 * routed_scaling_factor). work: >= 5 * n_experts floats. */
void route_token(const dsv3_config *c, const float *logits, const float *bias, int32_t *ids, float *weights,
                 float *work);

#endif
