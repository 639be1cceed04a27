/* route.c -- expert selection: softmax or sigmoid scores; greedy,
 * group_limited_greedy (V2: a group scores its best expert) or noaux_tc
 * (V3: a group scores the sum of its two best biased experts; the bias
 * steers selection only and never enters the gate weights). */
#include <math.h>

#include "route.h"

/* Index of the largest value not yet taken; ties go to the lower index. */
static int argmax_free(const float *v, const float *taken, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

void route_token(const dsv3_config *c, const float *logits, const float *bias, int32_t *ids, float *weights,
                 float *work) {
    const int E = c->n_routed_experts, k = c->n_experts_per_tok;
    /* work: scores, selection scores, group scores, and two flag arrays
     * (1.0 = taken/masked) for experts and groups. */
    float *score = work, *sel = work + E, *gscore = work + 2 * E, *tk = work + 3 * E, *gtk = work + 4 * E;

    if (c->scoring == DSV3_SCORE_SIGMOID) {
        for (int i = 0; i < E; i++) score[i] = 1.0f / (1.0f + expf(-logits[i]));
    } else {
        float mx = logits[0], sum = 0.0f;
        for (int i = 1; i < E; i++) if (logits[i] > mx) mx = logits[i];
        for (int i = 0; i < E; i++) { score[i] = expf(logits[i] - mx); sum += score[i]; }
        for (int i = 0; i < E; i++) score[i] /= sum;
    }
    for (int i = 0; i < E; i++) sel[i] = bias ? score[i] + bias[i] : score[i];

    if (c->topk_method != DSV3_TOPK_GREEDY && c->n_group > 1) {
        const int G = c->n_group, per = E / G;
        for (int g = 0; g < G; g++) {
            const float *s = sel + g * per;
            if (c->topk_method == DSV3_TOPK_NOAUX_TC) {
                float a = -INFINITY, b = -INFINITY; /* two best */
                for (int i = 0; i < per; i++) {
                    if (s[i] > a) { b = a; a = s[i]; }
                    else if (s[i] > b) b = s[i];
                }
                gscore[g] = a + b;
            } else {
                float a = -INFINITY;
                for (int i = 0; i < per; i++) if (s[i] > a) a = s[i];
                gscore[g] = a;
            }
            gtk[g] = 0;
        }
        for (int j = 0; j < c->topk_group; j++) gtk[argmax_free(gscore, gtk, G)] = 1;
        /* Experts of groups not kept cannot be chosen. */
        for (int i = 0; i < E; i++) tk[i] = !gtk[i / per];
    } else {
        for (int i = 0; i < E; i++) tk[i] = 0;
    }
    float sum = 0.0f;
    for (int j = 0; j < k; j++) {
        int b = argmax_free(sel, tk, E);
        tk[b] = 1;
        ids[j] = b;
        weights[j] = score[b];
        sum += score[b];
    }
    if (c->norm_topk_prob && k > 1)
        for (int j = 0; j < k; j++) weights[j] /= sum + 1e-20f;
    for (int j = 0; j < k; j++) weights[j] *= c->routed_scaling_factor;
}
