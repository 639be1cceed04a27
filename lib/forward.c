/* forward.c -- the DeepSeek-V3 forward pass, written once, as calls to the
 * backend. One micro-batch of n tokens at positions pos0 .. pos0+n-1:
 *
 *   x = embed(tokens)
 *   for each layer:
 *     h = RMSNorm(x)
 *     q = q_b(RMSNorm(q_a(h))) or q_proj(h)           [n][heads][nope+rope]
 *     c, k_pe = split(kv_a(h)); c = RMSNorm(c)        latent + shared rope key
 *     rope(q_pe), rope(k_pe); cache c and k_pe        the cache holds only these
 *     x += o_proj(MLA(q, cache))                      absorbed form, see backend
 *     h = RMSNorm(x)
 *     x += dense SwiGLU(h)  or  routed experts(h) + shared experts(h)
 *   logits = lm_head(RMSNorm(x))
 */
#include <math.h>
#include <string.h>

#include "route.h"
#include "session.h"

/* cos/sin of every rotation angle for the micro-batch, computed in double
 * (positions reach 10^5) and scaled by the YaRN mscale ratio. */
static void rope_tables(dsv3_session *s, int pos0, int n) {
    const int half = s->m->cfg.qk_rope_head_dim / 2;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < half; i++) {
            double a = (double)(pos0 + t) * s->inv_freq[i];
            s->cos_t[t * half + i] = (float)(cos(a) * s->mscale);
            s->sin_t[t * half + i] = (float)(sin(a) * s->mscale);
        }
}

static void swiglu_ffn(dsv3_session *s, const ffn_weights *f, const float *in, float *out, int n) {
    const dsv3_backend_ops *o = s->m->ops;
    dsv3_backend *be = s->m->be;
    o->matmul(be, &f->gate, in, s->b.g, n);
    o->matmul(be, &f->up, in, s->b.u, n);
    o->swiglu(be, s->b.g, s->b.u, s->b.g, (size_t)n * (size_t)f->gate.rows);
    o->matmul(be, &f->down, s->b.g, out, n);
}

/* The cache rows for positions pos0 .. pos0+n-1 from the attention input
 * in b.xn: normalized latent, roped key. An f32 latent is normalized
 * straight into the cache; another type is normalized in place and
 * converted row by row by the backend (V2). Each row depends on its own
 * input only. */
static void cache_rows(dsv3_session *s, const layer_weights *L, int il, int pos0, int n) {
    const dsv3_config *c = &s->m->cfg;
    const dsv3_backend_ops *o = s->m->ops;
    dsv3_backend *be = s->m->be;
    fwd_bufs *b = &s->b;
    const int dr = c->qk_rope_head_dim, kvl = c->kv_lora_rank;
    unsigned char *kv = s->kv[il] + (size_t)pos0 * s->kv_row_bytes;
    float *pe = s->pe[il] + (size_t)pos0 * dr;
    o->matmul(be, &L->kv_a, b->xn, b->kva, n);
    if (s->kv_type == DSV3_W_F32) {
        o->rmsnorm(be, b->kva, kvl + dr, &L->kv_a_norm, (float *)(void *)kv, kvl, n, kvl, c->rms_norm_eps);
    } else {
        o->rmsnorm(be, b->kva, kvl + dr, &L->kv_a_norm, b->kva, kvl + dr, n, kvl, c->rms_norm_eps);
        o->store_kv(be, s->kv_type, b->kva, kvl + dr, kv, s->kv_row_bytes, n, kvl);
    }
    for (int t = 0; t < n; t++) o->copy(be, pe + (size_t)t * dr, b->kva + (size_t)t * (kvl + dr) + kvl, sizeof(float) * (size_t)dr);
    o->rope(be, pe, n, dr, 1, 0, 0, dr, s->cos_t, s->sin_t);
}

static void attention(dsv3_session *s, const layer_weights *L, int il, int pos0, int n) {
    const dsv3_config *c = &s->m->cfg;
    const dsv3_backend_ops *o = s->m->ops;
    dsv3_backend *be = s->m->be;
    fwd_bufs *b = &s->b;
    const int H = c->hidden_size, nh = c->n_heads, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim,
              dv = c->v_head_dim, kvl = c->kv_lora_rank, qd = dn + dr;

    o->rmsnorm(be, b->x, H, &L->attn_norm, b->xn, H, n, H, c->rms_norm_eps);
    if (c->q_lora_rank > 0) {
        o->matmul(be, &L->q_a, b->xn, b->qa, n);
        o->rmsnorm(be, b->qa, c->q_lora_rank, &L->q_a_norm, b->qa, c->q_lora_rank, n, c->q_lora_rank, c->rms_norm_eps);
        o->matmul(be, &L->q_b, b->qa, b->q, n);
    } else {
        o->matmul(be, &L->q, b->xn, b->q, n);
    }
    o->rope(be, b->q, n, nh * qd, nh, qd, dn, dr, s->cos_t, s->sin_t);
    cache_rows(s, L, il, pos0, n);

    dsv3_mla_args a = {
        .n_tok = n, .pos0 = pos0, .n_heads = nh, .dn = dn, .dr = dr, .dv = dv, .kvl = kvl,
        .q = b->q, .kv = (const float *)(const void *)s->kv[il], .pe = s->pe[il], .scale = s->attn_scale,
        .wkv_b = L->kv_split ? NULL : &L->kv_b, .wk_b = L->kv_split ? &L->k_b : NULL,
        .wv_b = L->kv_split ? &L->v_b : NULL,
        .out = b->attn, .scratch = b->mla_scratch,
        .kv_type = s->kv_type, .kv_row_bytes = s->kv_row_bytes,
    };
    o->mla_attention(be, &a);
    o->matmul(be, &L->o, b->attn, b->tmp, n);
    o->add(be, b->x, b->tmp, (size_t)n * H);
}

/* The experts each of n tokens picks. A backend with the route op selects
 * where the router's logits are, into b.picks (n*k ids, then n*k gate
 * weights), and the picks come to host memory only when `to_host` asks
 * (one read of n*k*8 bytes; else *ids = *wts = NULL). Without the op the
 * logits come back and the host selects. *ids, *wts: [n][k] host. */
static void route(dsv3_session *s, const layer_weights *L, int n, int to_host, const int32_t **ids,
                  const float **wts) {
    const dsv3_config *c = &s->m->cfg;
    const dsv3_backend_ops *o = s->m->ops;
    dsv3_backend *be = s->m->be;
    const int E = c->n_routed_experts, k = c->n_experts_per_tok;
    const size_t nk = (size_t)n * k;
    const int has_bias = L->router_bias.type == DSV3_W_F32;

    o->matmul(be, &L->router, s->b.xn, s->b.router, n);
    if (o->version >= DSV3_BACKEND_V4 && o->route) {
        /* picks: n*k ids then n*k weights, so that one read brings both */
        dsv3_route_args a = {
            .n_tok = n, .n_experts = E, .k = k, .scoring = c->scoring, .topk_method = c->topk_method,
            .n_group = c->n_group, .topk_group = c->topk_group, .norm_topk_prob = c->norm_topk_prob,
            .routed_scaling_factor = c->routed_scaling_factor, .logits = s->b.router,
            .bias = has_bias ? &L->router_bias : NULL, .ids = (int32_t *)(void *)s->b.picks,
            .weights = s->b.picks + nk, .work = s->route_work,
        };
        o->route(be, &a);
        *ids = NULL;
        *wts = NULL;
        if (!to_host) return;
        o->to_host(be, s->picks, s->b.picks, 2 * sizeof(float) * nk);
        *ids = s->picks;
        *wts = (const float *)(const void *)(s->picks + nk);
        return;
    }
    o->to_host(be, s->router_host, s->b.router, sizeof(float) * (size_t)n * E);
    const float *bias = has_bias ? (const float *)L->router_bias.data : NULL;
    for (int t = 0; t < n; t++)
        route_token(c, s->router_host + (size_t)t * E, bias, s->ids + t * k, s->wts + t * k, s->route_work);
    *ids = s->ids;
    *wts = s->wts;
}

/* Rows pos0 .. pos0+n-1 of the routing record of main-model layer il. */
static void record_picks(dsv3_session *s, int il, int pos0, int n, const int32_t *ids, const float *wts) {
    const int k = s->m->cfg.n_experts_per_tok;
    for (int t = 0; t < n; t++) {
        size_t at = ((size_t)(pos0 + t) * s->n_moe + s->moe_row[il]) * k;
        memcpy(s->rec_ids + at, ids + t * k, sizeof(int32_t) * k);
        memcpy(s->rec_w + at, wts + t * k, sizeof(float) * k);
    }
}

/* Layer il's picks kept for the routing record until the step's end
 * (b.rec_stage, [n_moe][2][ub][k]), when the backend routes itself. */
static float *staged_picks(dsv3_session *s, int il) {
    const int k = s->m->cfg.n_experts_per_tok;
    const dsv3_backend_ops *o = s->m->ops;
    if (!s->b.rec_stage || il >= s->m->cfg.n_layers || o->version < DSV3_BACKEND_V4 || !o->route) return NULL;
    return s->b.rec_stage + (size_t)s->moe_row[il] * 2 * DSV3_MAX_UBATCH * k;
}

static void moe(dsv3_session *s, const layer_weights *L, int il, int pos0, int n) {
    const dsv3_config *c = &s->m->cfg;
    const dsv3_backend_ops *o = s->m->ops;
    dsv3_backend *be = s->m->be;
    fwd_bufs *b = &s->b;
    const int E = c->n_routed_experts, k = c->n_experts_per_tok, H = c->hidden_size;
    const int32_t *ids;
    const float *wts;
    const int dev_picks = o->version >= DSV3_BACKEND_V4 && o->route; /* route() fills b.picks */
    dsv3_moe_args a = {
        .n_tok = n, .k = k, .hidden = H, .inter = c->moe_intermediate_size, .x = b->xn,
        .n_experts = E, .out = b->moe, .scratch = b->moe_scratch,
        /* the experts' views are an array of {gate, up, down} */
        .gate = &L->experts[0].gate, .up = &L->experts[0].up, .down = &L->experts[0].down,
        .expert_stride = sizeof(ffn_weights),
        .dev_ids = dev_picks ? (const int32_t *)(const void *)b->picks : NULL,
        .dev_weights = dev_picks ? b->picks + (size_t)n * k : NULL,
    };
    /* Before the routing read-back, so that a backend running these
     * experts on its CPU can bring xn back at that same sync; it also says
     * whether its experts need the picks on the host at all. */
    int need_host = 1;
    if (o->version >= DSV3_BACKEND_V4 && o->moe_prepare) need_host = o->moe_prepare(be, &a);

    route(s, L, n, need_host, &ids, &wts);
    float *stage = staged_picks(s, il);
    if (stage) /* read with the step's last sync, in forward_main */
        o->copy(be, stage, b->picks, 2 * sizeof(float) * (size_t)n * k);
    else if (s->rec_ids && il < c->n_layers)
        record_picks(s, il, pos0, n, ids, wts);
    a.ids = ids;
    a.weights = wts;
    /* The shared expert is recorded first: a device backend whose routed
     * experts run on its CPU runs the shared one meanwhile. The sum below
     * is one IEEE add, commutative, so the order changes no bit. */
    if (L->has_shared) swiglu_ffn(s, &L->shared, b->xn, b->tmp, n);
    o->moe_experts(be, &a);
    if (L->has_shared) o->add(be, b->moe, b->tmp, (size_t)n * H);
    o->add(be, b->x, b->moe, (size_t)n * H);
}

static void layer(dsv3_session *s, int il, int pos0, int n) {
    const dsv3_config *c = &s->m->cfg;
    const layer_weights *L = &s->m->layers[il];
    const int H = c->hidden_size;
    attention(s, L, il, pos0, n);
    s->m->ops->rmsnorm(s->m->be, s->b.x, H, &L->ffn_norm, s->b.xn, H, n, H, c->rms_norm_eps);
    if (L->is_moe) {
        moe(s, L, il, pos0, n);
    } else {
        swiglu_ffn(s, &L->dense, s->b.xn, s->b.tmp, n);
        s->m->ops->add(s->m->be, s->b.x, s->b.tmp, (size_t)n * H);
    }
}

/* Output head on rows [first, n) of h (already normalized). */
static void head(dsv3_session *s, const dsv3_weight *w, const float *h, int n, int first, float *logits) {
    const int H = s->m->cfg.hidden_size, V = s->m->cfg.vocab_size;
    if (!logits || first >= n) return;
    s->m->ops->matmul(s->m->be, w, h + (size_t)first * H, s->b.logits, n - first);
    s->m->ops->to_host(s->m->be, logits, s->b.logits, sizeof(float) * (size_t)(n - first) * V);
}

void forward_main(dsv3_session *s, const int32_t *ids, int n, float *logits, int first_logit) {
    const dsv3_model *m = s->m;
    const dsv3_config *c = &m->cfg;
    const int H = c->hidden_size, pos0 = s->pos;
    rope_tables(s, pos0, n);
    m->ops->embed(m->be, &m->embed, ids, n, s->b.x);
    for (int il = 0; il < c->n_layers; il++) layer(s, il, pos0, n);
    m->ops->rmsnorm(m->be, s->b.x, H, &m->out_norm, s->b.xn, H, n, H, c->rms_norm_eps);
    if (s->hidden) m->ops->copy(m->be, s->hidden + (size_t)pos0 * H, s->b.xn, sizeof(float) * (size_t)n * H);
    head(s, &m->lm_head, s->b.xn, n, first_logit, logits);
    /* The routing record kept on the backend: read after the logits, so a
     * device that routes itself syncs once for both. */
    for (int il = 0; il < c->n_layers; il++) {
        const float *stage = s->moe_row[il] >= 0 ? staged_picks(s, il) : NULL;
        if (!stage) continue;
        const size_t nk = (size_t)n * c->n_experts_per_tok;
        m->ops->to_host(m->be, s->picks, stage, 2 * sizeof(float) * nk);
        record_picks(s, il, pos0, n, s->picks, (const float *)(const void *)(s->picks + nk));
    }
}

/* The MTP layer's input for n rows at pos0:
 * x = eh_proj [RMSNorm(embed(next)) ; RMSNorm(h_main)]. */
static void mtp_input(dsv3_session *s, const layer_weights *L, const int32_t *next_ids, int pos0, int n) {
    const dsv3_model *m = s->m;
    const dsv3_config *c = &m->cfg;
    const dsv3_backend_ops *o = m->ops;
    const int H = c->hidden_size;
    rope_tables(s, pos0, n);
    o->embed(m->be, &L->embed, next_ids, n, s->b.tmp);
    o->rmsnorm(m->be, s->b.tmp, H, &L->enorm, s->b.cat, 2 * H, n, H, c->rms_norm_eps);
    o->rmsnorm(m->be, s->hidden + (size_t)pos0 * H, H, &L->hnorm, s->b.cat + H, 2 * H, n, H, c->rms_norm_eps);
    o->matmul(m->be, &L->eh_proj, s->b.cat, s->b.x, n);
}

/* MTP: the input above, one decoder layer with its own cache, then its own
 * head. The MTP is one layer, so a row whose logits are not wanted (all
 * rows before first_logit) is needed only for its cache entry, and that
 * depends on nothing but the row's own input: such rows stop there,
 * skipping the attention, experts and head whose output would be thrown
 * away (the cache gets the same bits). Speculative decoding runs most MTP
 * rows this way: every accepted draft, and the prompt. */
void forward_mtp(dsv3_session *s, const int32_t *next_ids, int n, float *logits, int first_logit) {
    const dsv3_model *m = s->m;
    const dsv3_config *c = &m->cfg;
    const int il = c->n_layers, H = c->hidden_size, pos0 = s->mtp_pos;
    const layer_weights *L = &m->layers[il];
    const dsv3_backend_ops *o = m->ops;
    const int k = !logits || first_logit > n ? n : first_logit; /* cache-only rows */
    if (k > 0) {
        mtp_input(s, L, next_ids, pos0, k);
        o->rmsnorm(m->be, s->b.x, H, &L->attn_norm, s->b.xn, H, k, H, c->rms_norm_eps);
        cache_rows(s, L, il, pos0, k);
    }
    if (k == n) return;
    mtp_input(s, L, next_ids + k, pos0 + k, n - k);
    layer(s, il, pos0 + k, n - k);
    o->rmsnorm(m->be, s->b.x, H, &L->head_norm, s->b.xn, H, n - k, H, c->rms_norm_eps);
    head(s, &L->head, s->b.xn, n - k, 0, logits);
}

/* A draft row: as forward_mtp's last row, with the int8 draft head in place
 * of the exact head (a draft needs only the most likely token; the verify
 * step keeps the output exact). The normalized output stays in b.xn row 0
 * for a chained draft. */
int32_t dsv3_forward_mtp_draft(dsv3_session *s, int32_t next_id) {
    const dsv3_model *m = s->m;
    const dsv3_config *c = &m->cfg;
    const int il = c->n_layers, H = c->hidden_size, pos0 = s->mtp_pos;
    const layer_weights *L = &m->layers[il];
    mtp_input(s, L, &next_id, pos0, 1);
    layer(s, il, pos0, 1);
    m->ops->rmsnorm(m->be, s->b.x, H, &L->head_norm, s->b.xn, H, 1, H, c->rms_norm_eps);
    m->ops->to_host(m->be, s->draft.x, s->b.xn, sizeof(float) * (size_t)H);
    return dsv3_draft_head_argmax(&s->draft, m->ops, m->be);
}
