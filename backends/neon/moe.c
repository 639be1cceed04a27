/* moe.c -- the routed-expert batch. As in the scalar backend, tokens are
 * grouped by expert (each chosen expert's weights are read once per batch)
 * and experts are visited in increasing id, so every token's sum has the
 * same order for any batch. Per expert, two pool runs:
 *   1. rows r of gate and up (split over the threads): g[t][r], u[t][r],
 *      then h[t][r] = silu(g) * u for the thread's rows;
 *   2. rows c of down: y[t][c], then out[token t][c] += weight * y[t][c]
 *      for the thread's columns c of the output. */
#include <string.h>

#include "neon.h"

typedef struct moe_job {
    const dsv3_moe_args *a;
    const dsv3_weight *gate, *up, *down;
    const float *xg, *wt;
    float *g, *u, *y;
    const int *tok;
    int m, dotprod;
} moe_job;

static void gate_up_part(void *ctx, int ith, int nth) {
    const moe_job *j = ctx;
    const size_t I = (size_t)j->a->inter, H = (size_t)j->a->hidden;
    long r0, r1;
    dsv3_split((long)I, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    neon_rows(j->gate, j->xg, H, j->g + r0, I, j->m, r0, r1, j->dotprod);
    neon_rows(j->up, j->xg, H, j->u + r0, I, j->m, r0, r1, j->dotprod);
    for (int t = 0; t < j->m; t++)
        neon_silu_mul(j->g + t * I + r0, j->u + t * I + r0, j->g + t * I + r0, (size_t)(r1 - r0));
}

static void down_part(void *ctx, int ith, int nth) {
    const moe_job *j = ctx;
    const size_t I = (size_t)j->a->inter, H = (size_t)j->a->hidden;
    long c0, c1;
    dsv3_split((long)H, ith, nth, &c0, &c1);
    if (c0 >= c1) return;
    neon_rows(j->down, j->g, I, j->y + c0, H, j->m, c0, c1, j->dotprod);
    for (int i = 0; i < j->m; i++)
        neon_axpy_f32(j->wt[i], j->y + i * H + c0, j->a->out + (size_t)j->tok[i] * H + c0, c1 - c0);
}

void neon_moe_experts(dsv3_backend *be, const dsv3_moe_args *a) {
    const size_t H = (size_t)a->hidden, I = (size_t)a->inter, n = (size_t)a->n_tok;
    float *xg = a->scratch;        /* [n][H] gathered inputs   */
    float *g = xg + n * H;         /* [n][I]                   */
    float *u = g + n * I;          /* [n][I]                   */
    float *y = u + n * I;          /* [n][H]                   */
    float *wt = y + n * H;         /* [n] gate weight per row  */
    memset(a->out, 0, n * H * sizeof(float));
    int tok[DSV3_MAX_UBATCH];      /* token of each gathered row; a token picks an expert at most once
                                      (the bounds below only guard the buffers against bad ids) */
    for (int e = 0; e < a->n_experts; e++) {
        int m = 0;
        for (int t = 0; t < a->n_tok; t++)
            for (int jj = 0; jj < a->k; jj++)
                if (a->ids[t * a->k + jj] == e && m < a->n_tok && m < DSV3_MAX_UBATCH) {
                    memcpy(xg + (size_t)m * H, a->x + (size_t)t * H, H * sizeof(float));
                    wt[m] = a->weights[t * a->k + jj];
                    tok[m++] = t;
                }
        if (!m) continue;
        moe_job j = {a,  dsv3_moe_expert(a->gate, a->expert_stride, e), dsv3_moe_expert(a->up, a->expert_stride, e),
                     dsv3_moe_expert(a->down, a->expert_stride, e), xg, wt, g, u, y, tok, m, neon_dotprod(be)};
        dsv3_pool_run(neon_pool(be), gate_up_part, &j);
        dsv3_pool_run(neon_pool(be), down_part, &j);
    }
}
