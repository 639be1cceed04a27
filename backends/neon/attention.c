/* attention.c -- multi-head latent attention in the absorbed form (see
 * backends/scalar/attention.c for the algebra). Per (token, head) pair:
 *   q_lat = W_kb^T q_nope               (rows of wk_b, or axpys of wkv_b rows)
 *   score = (q_lat . c_p + q_pe . k_p) * scale, causal positions p
 *   o_lat = sum_p exp(score_p - max) c_p / sum_p exp(...)
 *   out   = W_vb o_lat
 * Pairs are split over the threads in contiguous ranges; each thread uses
 * its own slice of the scratch. Weight rows use the f32-activation path. */
#include <math.h>
#include <string.h>

#include "neon_f32.h"

typedef struct mla_job {
    const dsv3_mla_args *a;
} mla_job;

/* o[i] += sum_k s[k] * c_k[i] for k < 4 positions (ld floats apart), the
 * FMAs of each element in position order. */
static void axpy4(const float *s, const float *c, size_t ld, float *o, int64_t n) {
    const float *c0 = c, *c1 = c + ld, *c2 = c + 2 * ld, *c3 = c + 3 * ld;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(o + i);
        v = vfmaq_n_f32(v, vld1q_f32(c0 + i), s[0]);
        v = vfmaq_n_f32(v, vld1q_f32(c1 + i), s[1]);
        v = vfmaq_n_f32(v, vld1q_f32(c2 + i), s[2]);
        v = vfmaq_n_f32(v, vld1q_f32(c3 + i), s[3]);
        vst1q_f32(o + i, v);
    }
    for (; i < n; i++) o[i] = fmaf(c3[i], s[3], fmaf(c2[i], s[2], fmaf(c1[i], s[1], fmaf(c0[i], s[0], o[i]))));
}

static void mla_part(void *ctx, int ith, int nth) {
    const dsv3_mla_args *a = ((const mla_job *)ctx)->a;
    const int qd = a->dn + a->dr, hd = a->dn + a->dv;
    float *q_lat = a->scratch + (size_t)ith * dsv3_mla_scratch_floats(a->pos0 + a->n_tok, a->kvl);
    float *o_lat = q_lat + a->kvl;        /* [kvl] */
    float *score = o_lat + a->kvl;        /* [n_pos] */
    long i0, i1;
    dsv3_split((long)a->n_tok * a->n_heads, ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        const int t = (int)(it / a->n_heads), h = (int)(it % a->n_heads);
        const int n_pos = a->pos0 + t + 1; /* causal: positions 0..pos */
        const float *q = a->q + ((size_t)t * a->n_heads + h) * qd;
        if (a->wk_b) {
            neon_rows_f32act(a->wk_b, q, 0, q_lat, 0, 1, (int64_t)h * a->kvl, (int64_t)(h + 1) * a->kvl);
        } else {
            memset(q_lat, 0, sizeof(float) * (size_t)a->kvl);
            for (int i = 0; i < a->dn; i++) neon_row_axpy(a->wkv_b, (int64_t)h * hd + i, q[i], q_lat);
        }
        float mx = -INFINITY;
        for (int p = 0; p < n_pos; p++) {
            const float s = neon_dot_f32(q_lat, a->kv + (size_t)p * a->kvl, a->kvl);
            const float r = neon_dot_f32(q + a->dn, a->pe + (size_t)p * a->dr, a->dr);
            score[p] = (s + r) * a->scale;
            if (score[p] > mx) mx = score[p];
        }
        const float sum = neon_exp_sum(score, n_pos, mx);
        memset(o_lat, 0, sizeof(float) * (size_t)a->kvl);
        int p = 0;
        for (; p + 4 <= n_pos; p += 4) axpy4(score + p, a->kv + (size_t)p * a->kvl, (size_t)a->kvl, o_lat, a->kvl);
        for (; p < n_pos; p++) neon_axpy_f32(score[p], a->kv + (size_t)p * a->kvl, o_lat, a->kvl);
        const float inv = 1.0f / sum;
        int i = 0;
        for (; i + 4 <= a->kvl; i += 4) vst1q_f32(o_lat + i, vmulq_n_f32(vld1q_f32(o_lat + i), inv));
        for (; i < a->kvl; i++) o_lat[i] *= inv;
        float *o = a->out + ((size_t)t * a->n_heads + h) * a->dv;
        if (a->wk_b) neon_rows_f32act(a->wv_b, o_lat, 0, o, 0, 1, (int64_t)h * a->dv, (int64_t)(h + 1) * a->dv);
        else neon_rows_f32act(a->wkv_b, o_lat, 0, o, 0, 1, (int64_t)h * hd + a->dn, (int64_t)h * hd + a->dn + a->dv);
    }
}

void neon_mla_attention(dsv3_backend *be, const dsv3_mla_args *a) {
    mla_job j = {a};
    dsv3_pool_run(neon_pool(be), mla_part, &j);
}
