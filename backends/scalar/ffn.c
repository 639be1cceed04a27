/* ffn.c -- SwiGLU pieces and the routed-expert batch. */
#include <math.h>
#include <string.h>

#include "scalar.h"

void scalar_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count) {
    (void)be;
    for (size_t i = 0; i < count; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void scalar_add(dsv3_backend *be, float *y, const float *x, size_t count) {
    (void)be;
    for (size_t i = 0; i < count; i++) y[i] += x[i];
}

/* Tokens are grouped by expert so each chosen expert's weights are read
 * once per batch; experts in increasing id keep every token's sum in the
 * same order for any batch size (prefill == token by token, bit for bit). */
void scalar_moe_experts(dsv3_backend *be, const dsv3_moe_args *a) {
    const size_t H = (size_t)a->hidden, I = (size_t)a->inter, n = (size_t)a->n_tok;
    float *xg = a->scratch;        /* [n][H] gathered inputs   */
    float *g = xg + n * H;         /* [n][I]                   */
    float *u = g + n * I;          /* [n][I]                   */
    float *y = u + n * I;          /* [n][H]                   */
    float *wt = y + n * H;         /* [n] gate weight per row  */
    memset(a->out, 0, n * H * sizeof(float));
    int tok[DSV3_MAX_UBATCH];      /* token of each gathered row; a token picks an expert at most once */
    for (int e = 0; e < a->n_experts; e++) {
        int m = 0;
        for (int t = 0; t < a->n_tok; t++)
            for (int j = 0; j < a->k; j++)
                if (a->ids[t * a->k + j] == e) {
                    memcpy(xg + (size_t)m * H, a->x + (size_t)t * H, H * sizeof(float));
                    wt[m] = a->weights[t * a->k + j];
                    tok[m++] = t;
                }
        if (!m) continue;
        scalar_matmul(be, dsv3_moe_expert(a->gate, a->expert_stride, e), xg, g, m);
        scalar_matmul(be, dsv3_moe_expert(a->up, a->expert_stride, e), xg, u, m);
        scalar_swiglu(be, g, u, g, (size_t)m * I);
        scalar_matmul(be, dsv3_moe_expert(a->down, a->expert_stride, e), g, y, m);
        for (int i = 0; i < m; i++)
            for (size_t c = 0; c < H; c++) a->out[(size_t)tok[i] * H + c] += wt[i] * y[i * H + c];
    }
}
