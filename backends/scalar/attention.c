/* attention.c -- multi-head latent attention in the absorbed form.
 *
 * The cache holds per position only the normalized kv latent c (kvl values)
 * and the roped shared key k_pe (dr values). With W_kb = kv_b_proj rows
 * [h*(dn+dv), h*(dn+dv)+dn) (key up-projection) and W_vb the next dv rows:
 *   score[t] = q_nope . (W_kb c_t) + q_pe . k_pe_t = (W_kb^T q_nope) . c_t + q_pe . k_pe_t
 *   out      = sum_t p_t W_vb c_t = W_vb (sum_t p_t c_t)
 * so per head we project the query into latent space once and never
 * decompress the cache. GGUF files may store W_kb already transposed
 * (attn_k_b), which turns the projection into plain row dots.
 *
 * A cache stored as F16 or Q8_0 (kv_type) is read one row at a time through
 * dsv3_dequantize_row into the thread's row buffer, then used exactly as an
 * f32 row: the result is, bit for bit, that of an f32 cache holding the
 * dequantized values. */
#include <math.h>
#include <string.h>

#include "quants/quants.h"
#include "scalar.h"

/* Latent row p as f32: the cache row itself, or decoded into buf. */
static const float *kv_row(const dsv3_mla_args *a, int p, float *buf) {
    if (a->kv_type == DSV3_W_F32) return a->kv + (size_t)p * a->kvl;
    dsv3_dequantize_row(a->kv_type, dsv3_mla_kv_row(a, p), buf, a->kvl);
    return buf;
}

typedef struct mla_job {
    const dsv3_mla_args *a;
} mla_job;

/* Heads are independent: each thread takes a contiguous range of
 * (token, head) pairs and its own slice of the scratch. */
static void mla_part(void *ctx, int ith, int nth) {
    const dsv3_mla_args *a = ((const mla_job *)ctx)->a;
    const int qd = a->dn + a->dr, hd = a->dn + a->dv;
    float *q_lat = a->scratch + (size_t)ith * dsv3_mla_scratch_floats(a->pos0 + a->n_tok, a->kvl);
    float *o_lat = q_lat + a->kvl;        /* [kvl] */
    float *c_buf = o_lat + a->kvl;        /* [kvl] a decoded cache row */
    float *score = c_buf + a->kvl;        /* [n_pos] */
    long i0, i1;
    dsv3_split((long)a->n_tok * a->n_heads, ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        const int t = (int)(it / a->n_heads), h = (int)(it % a->n_heads);
        const int n_pos = a->pos0 + t + 1; /* causal: positions 0..pos */
        const float *q = a->q + ((size_t)t * a->n_heads + h) * qd;
        if (a->wk_b) {
            for (int c = 0; c < a->kvl; c++) q_lat[c] = scalar_row_dot(a->wk_b, (int64_t)h * a->kvl + c, q);
        } else {
            memset(q_lat, 0, sizeof(float) * (size_t)a->kvl);
            for (int i = 0; i < a->dn; i++) scalar_row_axpy(a->wkv_b, (int64_t)h * hd + i, q[i], q_lat);
        }
        float mx = -INFINITY;
        for (int p = 0; p < n_pos; p++) {
            const float *c = kv_row(a, p, c_buf), *k = a->pe + (size_t)p * a->dr;
            float s = 0.0f, r = 0.0f;
            for (int i = 0; i < a->kvl; i++) s += q_lat[i] * c[i];
            for (int i = 0; i < a->dr; i++) r += q[a->dn + i] * k[i];
            score[p] = (s + r) * a->scale;
            if (score[p] > mx) mx = score[p];
        }
        float sum = 0.0f;
        for (int p = 0; p < n_pos; p++) { score[p] = expf(score[p] - mx); sum += score[p]; }
        memset(o_lat, 0, sizeof(float) * (size_t)a->kvl);
        for (int p = 0; p < n_pos; p++) {
            const float *c = kv_row(a, p, c_buf);
            float w = score[p] / sum;
            for (int i = 0; i < a->kvl; i++) o_lat[i] += w * c[i];
        }
        float *o = a->out + ((size_t)t * a->n_heads + h) * a->dv;
        for (int j = 0; j < a->dv; j++)
            o[j] = a->wk_b ? scalar_row_dot(a->wv_b, (int64_t)h * a->dv + j, o_lat)
                           : scalar_row_dot(a->wkv_b, (int64_t)h * hd + a->dn + j, o_lat);
    }
}
void scalar_mla_attention(dsv3_backend *be, const dsv3_mla_args *a) {
    mla_job j = {a};
    dsv3_pool_run(scalar_pool(be), mla_part, &j);
}
